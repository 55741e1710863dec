"""oma prompts brief|collect|drift: prompts written by contractors at evaluation time, and whether
two rounds' prompts are comparable. Added to the `oma prompts` group (commands/prompts.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from oma_analysis import OmaError


def register(group: click.Group) -> None:
    prompts = group.commands.get("prompts")
    if not isinstance(prompts, click.Group):  # pragma: no cover - commands/prompts.py registers it first
        raise RuntimeError("oma prompts group missing")
    prompts.add_command(drift)
    prompts.add_command(brief)
    prompts.add_command(collect)


@click.command()
@click.argument("round_a", type=click.Path(exists=True, dir_okay=False))
@click.argument("round_b", type=click.Path(exists=True, dir_okay=False))
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Family-wise level (Holm).")
@click.option("--permutations", type=int, default=999, show_default=True, help="For the text (MMD) test.")
@click.option("--json", "as_json", is_flag=True, help="The tests and the verdict as JSON.")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the Markdown report here.")
def drift(round_a: str, round_b: str, alpha: float, permutations: int, as_json: bool, out: str | None) -> None:
    """Is ROUND_B's prompt distribution comparable with ROUND_A's (two prompt JSONL files)? Task
    types, constraint counts, lengths and a MiniLM-embedding two-sample test, Holm-corrected."""
    from oma_analysis.prompts.drift import compare_rounds, render_markdown
    from oma_analysis.prompts.records import read_prompts

    shift = compare_rounds(read_prompts(round_a), read_prompts(round_b), alpha=alpha, permutations=permutations)
    md = render_markdown(shift, Path(round_a).name, Path(round_b).name)
    if out:
        Path(out).write_text(md)
    click.echo(json.dumps(shift.to_dict(), indent=1) if as_json else md)


@click.command()
@click.argument("study_name")
@click.option("--n", "n", type=int, required=True, help="Briefs per contractor.")
@click.option("--round", "round_", type=int, default=None, help="Round number (default: the next one).")
@click.option("--quotas", type=click.Path(exists=True, dir_okay=False),
              help="Run spec (YAML) or JSON {task_type: share}; default: the core suite's task-type mix.")
@click.option("--seed", type=int, default=0, show_default=True)
def brief(study_name: str, n: int, round_: int | None, quotas: str | None, seed: int) -> None:
    """Give each contractor of STUDY N prompt-writing briefs (a prompt-writing project in their own
    workspace): task type, constraints to include, a persona, drawn from the quotas."""
    from oma_analysis.labelstudio.study import Study
    from oma_analysis.prompts.briefs import push_briefs, read_quotas

    st = Study.load(study_name)
    res = push_briefs(st, n, quotas=read_quotas(quotas) if quotas else None, round_=round_, seed=seed)
    for email, k in res["pushed"].items():
        click.echo(f"{email}: {k} briefs in project {res['projects'][email]}")
    click.echo(f"round {res['round']}")


@click.command()
@click.argument("study_name")
@click.option("--round", "round_", type=int, default=None, help="Round to collect (default: the latest).")
@click.option("--test-fraction", type=float, default=0.3, show_default=True)
@click.option("--near", type=float, default=0.8, show_default=True,
              help="Character n-gram cosine at or above which a prompt is a near-duplicate.")
def collect(study_name: str, round_: int | None, test_fraction: float, near: float) -> None:
    """Turn the submitted prompts of a round into prompt records (canary and split applied; author
    kept apart; duplicates of earlier rounds or of the public suites refused with the reason)."""
    from oma_analysis.labelstudio.study import Study
    from oma_analysis.prompts.collect import collect_round

    st = Study.load(study_name)
    res = collect_round(st, round_=round_, test_fraction=test_fraction, near=near)
    click.echo(f"round {res.round}: {len(res.records)} prompt records -> {res.path}")
    for r in res.refused:
        click.echo(f"refused {r['brief']} by {r['author_ref']}: {r['reason']}")
    if not res.records and not res.refused:
        raise OmaError(f"study {study_name!r} round {res.round}: no submitted prompts yet")
