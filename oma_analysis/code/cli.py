"""The body of ``oma auto --suite humaneval`` (the click options live in commands/auto.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from oma_analysis import OmaError


def humaneval_folder(given: Path | None) -> Path:
    """--humaneval, else $OMA_HUMANEVAL, else datasets/humaneval in the shared data folder
    ($OMA_SHARED_DIR, see :mod:`oma_analysis.locations`)."""
    from oma_analysis.locations import dataset_dir

    if given is not None:
        return given
    if os.environ.get("OMA_HUMANEVAL"):
        return Path(os.environ["OMA_HUMANEVAL"])
    try:
        return dataset_dir("humaneval")
    except OmaError as exc:
        raise OmaError(f"--suite humaneval: no HumanEval folder (give --humaneval DIR, set OMA_HUMANEVAL, "
                       f"or {exc})") from None


def _fmt(r: dict, b: str) -> str:
    return (f"{r[f'{b}_k']}/{r['n']} = {r[f'{b}_rate']:.1%} "
            f"[{r[f'{b}_ci_low']:.1%}, {r[f'{b}_ci_high']:.1%}]")


def auto_suite(completions: Path | None, folder: Path | None, model: str | None, limit: int | None, samples: int,
               temperature: float, max_new_tokens: int, deployed: tuple[str, ...], min_rate: float,
               out_dir: Path | None, by_check: bool) -> None:
    from oma_analysis.code.auto import generate, score
    from oma_analysis.code.humaneval import load_problems
    from oma_analysis.commands.auto import deployed_for
    from oma_analysis.generate.records import read_completions
    from oma_analysis.stats.auto import CI_DEF, LOWER_DEF, UPPER_DEF

    problems = load_problems(humaneval_folder(folder))
    if limit is not None:
        if limit < 1:
            raise OmaError("--limit must be at least 1")
        problems = problems[:limit]
    if (completions is None) == (model is None):
        raise OmaError("--suite humaneval: give either COMPLETIONS or --model (to generate)")
    if samples < 0:
        raise OmaError("--samples must be at least 0")
    if completions is not None:
        ids = {p.id for p in problems}
        cs = [c for c in read_completions(completions) if c.prompt_id in ids]
    else:
        if out_dir is None:
            raise OmaError("--suite humaneval --model: give --out DIR (the completions are written there)")
        out_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        cs = generate(problems, model, out_dir / "completions.jsonl", samples, temperature,
                      max_new_tokens=max_new_tokens)
        click.echo(f"# generated/reused {len(cs)} completions in {time.monotonic() - t0:.0f} s", err=True)
    if not cs:
        raise OmaError(f"{completions}: no completion of the selected HumanEval problems")
    models = sorted({c.model for c in cs})
    dep = deployed_for(models, deployed)
    t0 = time.monotonic()
    res = score(cs, problems, dep, min_rate)
    wall = time.monotonic() - t0
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        res.results.to_csv(out_dir / "code_results.csv", index=False)
        res.frame.to_csv(out_dir / "checks.csv", index=False)
        res.summary.to_csv(out_dir / "auto.csv", index=False)
        res.by_check.to_csv(out_dir / "auto_by_check.csv", index=False)
        res.evidence.to_csv(out_dir / "evidence.csv", index=False)
        res.pass_rates.to_csv(out_dir / "pass_rates.csv", index=False)
    click.echo("# real: HumanEval tests executed in the sandbox on model outputs")
    click.echo(f"# {len(res.results)} completions of {len(problems)} problems checked in {wall:.1f} s "
               f"({wall / max(len(res.results), 1):.2f} s per sandboxed run)")
    click.echo(f"# {LOWER_DEF}\n# {UPPER_DEF.format(min_rate=min_rate)}\n# {CI_DEF}")
    for r in res.summary.to_dict("records"):
        click.echo(f"{r['model']}: failures {r['failures']}/{r['n']}; lower {_fmt(r, 'lower')}; "
                   f"upper {_fmt(r, 'upper')}")
    for r in res.pass_rates.to_dict("records"):
        extra = ", ".join(f"{k} {v:.3f}" for k, v in r.items() if "pass@" in k or k == "variant_passed_share")
        click.echo(f"{r['model']}: {r['problems']} problems; {extra}")
    if by_check:
        for r in res.by_check.to_dict("records"):
            click.echo(f"  {r['model']} {r['check']}: lower {_fmt(r, 'lower')}; upper {_fmt(r, 'upper')}")
