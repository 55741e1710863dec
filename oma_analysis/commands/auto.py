"""oma auto: the automatic capability-conditioned metric (no humans) on generated completions."""

from __future__ import annotations

from pathlib import Path

import click


def register(group: click.Group) -> None:
    group.add_command(auto)


def _fmt(r: dict, b: str) -> str:
    return f"{r[f'{b}_k']}/{r['n']} = {r[f'{b}_rate']:.1%} [{r[f'{b}_ci_low']:.1%}, {r[f'{b}_ci_high']:.1%}]"


@click.command()
@click.argument("completions", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--prompts", "prompts_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Prompt JSONL with the stated constraints (default: constraints parsed from the text).")
@click.option("--ifeval", "ifeval_dir", type=click.Path(exists=True, path_type=Path),
              help="IFEval folder: its prompts' stated constraints.")
@click.option("--deployed", multiple=True, metavar="MODEL=VARIANT",
              help="Deployed setting of a model (default: from `oma models` metadata).")
@click.option("--min-rate", type=float, default=0.5, show_default=True,
              help="Upper bound: the model passes the check on other prompts with Wilson lower bound >= this.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write checks.csv (per-check results), auto.csv and auto_by_check.csv here.")
@click.option("--by-check", is_flag=True, help="Also print the per-check table.")
@click.option("--suite", type=click.Choice(["humaneval"]), default=None,
              help="Code suite: run COMPLETIONS (or --model's, generated) against HumanEval's tests in the sandbox.")
@click.option("--humaneval", "humaneval_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="HumanEval folder (default: $OMA_HUMANEVAL or ../shared/datasets/humaneval).")
@click.option("--model", "model_spec", default=None,
              help="--suite: generate with this model (e.g. local:smollm2-135m-instruct).")
@click.option("--limit", type=int, default=None, help="--suite: only the first N problems.")
@click.option("--samples", type=int, default=4, show_default=True, help="--suite: sampled completions per problem.")
@click.option("--temperature", type=float, default=0.8, show_default=True, help="--suite: temperature of the samples.")
@click.option("--max-new-tokens", type=int, default=384, show_default=True, help="--suite: generation limit.")
def auto(completions: Path | None, prompts_file: Path | None, ifeval_dir: Path | None, deployed: tuple[str, ...],
         min_rate: float, out_dir: Path | None, by_check: bool, suite: str | None = None,
         humaneval_dir: Path | None = None, model_spec: str | None = None, limit: int | None = None,
         samples: int = 4, temperature: float = 0.8, max_new_tokens: int = 384) -> None:
    """Obviously misaligned by the automatic checks: failures on the deployed setting that the same
    model avoids on the same prompt under an uninformative variant (lower bound), plus failures of
    checks it passes elsewhere (upper bound). Per model, exact 95% CIs."""
    from oma_analysis import OmaError
    from oma_analysis.generate.records import read_completions
    from oma_analysis.stats.auto import CI_DEF, LOWER_DEF, SOURCE, UPPER_DEF, check_frame, summarise

    if suite is not None:
        from oma_analysis.code.cli import auto_suite

        return auto_suite(completions, humaneval_dir, model_spec, limit, samples, temperature, max_new_tokens,
                          deployed, min_rate, out_dir, by_check)
    if completions is None:
        raise OmaError("oma auto: give COMPLETIONS (or --suite humaneval with --model)")
    cs = read_completions(completions)
    prompts = {}
    if prompts_file is not None:
        from oma_analysis.prompts.records import read_prompts

        prompts.update({p.id: p for p in read_prompts(prompts_file)})
    if ifeval_dir is not None:
        from oma_analysis.prompts.importers import import_ifeval

        prompts.update({p.id: p for p in import_ifeval(ifeval_dir, responses=False).prompts})
    models = sorted({c.model for c in cs})
    dep = deployed_for(models, deployed)
    frame = check_frame(cs, prompts)
    summ = summarise(frame, dep, min_rate)
    per = summarise(frame, dep, min_rate, by_check=True)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out_dir / "checks.csv", index=False)
        summ.to_csv(out_dir / "auto.csv", index=False)
        per.to_csv(out_dir / "auto_by_check.csv", index=False)
    click.echo(f"# {SOURCE}\n# {LOWER_DEF}\n# {UPPER_DEF.format(min_rate=min_rate)}\n# {CI_DEF}")
    for r in summ.to_dict("records"):
        click.echo(f"{r['model']}: failures {r['failures']}/{r['n']}; lower {_fmt(r, 'lower')}; "
                   f"upper {_fmt(r, 'upper')}")
    if by_check:
        for r in per.to_dict("records"):
            click.echo(f"  {r['model']} {r['check']}: lower {_fmt(r, 'lower')}; upper {_fmt(r, 'upper')}")


def deployed_for(models: list[str], deployed: tuple[str, ...]) -> dict:
    """``--deployed MODEL=VARIANT`` options over the models' metadata (``stats.auto.deployed_settings``);
    models with neither are named on stderr and left out. Shared by the check and HumanEval suites."""
    from oma_analysis import OmaError
    from oma_analysis.stats.auto import deployed_settings

    over = {}
    for d in deployed:
        m, sep, v = d.rpartition("=")
        if not sep or not m:
            raise OmaError(f"--deployed {d!r}: expected MODEL=VARIANT")
        over[m] = v
    dep = deployed_settings(models, over)
    for m in models:
        if m not in dep:
            click.echo(f"oma auto: {m}: no deployed setting known (give --deployed {m}=VARIANT); left out", err=True)
    return dep
