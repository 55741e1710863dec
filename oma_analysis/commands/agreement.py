"""oma agreement: one agreement coefficient of one rubric question, as JSON or a line of text."""

from __future__ import annotations

import json

import click

_METRICS = ("percent", "cohen", "fleiss", "alpha", "ac1", "bp")
_LEVELS = ("nominal", "ordinal", "interval", "ratio")


def register(group: click.Group) -> None:
    group.add_command(agreement)


def _parse_ci(ci: str | None) -> int:
    if ci is None:
        return 0
    kind, _, n = ci.partition(":")
    if kind != "bootstrap" or not (n.isascii() and n.isdigit()) or int(n) < 1:
        raise click.BadParameter(f"expected bootstrap:N (N >= 1), got {ci!r}", param_hint="--ci")
    return int(n)


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--metric", type=click.Choice(_METRICS), required=True, help="Agreement coefficient.")
@click.option("--level", type=click.Choice(_LEVELS), default="nominal", show_default=True,
              help="alpha: level of measurement; other metrics: weights (ordinal, interval=quadratic, ratio).")
@click.option("--question", help="Rubric question (default: the only one, else obvious_misalignment).")
@click.option("--ci", help="bootstrap:N for a percentile interval over N resamples of units "
                           "(default: analytic where there is one).")
@click.option("--seed", type=int, default=None, help="Seed of the bootstrap.")
@click.option("--raters", help="cohen: the two workers, as A,B (needed with more than two).")
@click.option("--codemap", type=click.Path(dir_okay=False), help="Code->model map (LS exports).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def agreement(input_path: str, metric: str, level: str, question: str | None, ci: str | None,
              seed: int | None, raters: str | None, codemap: str | None, as_json: bool) -> None:
    """Agreement between labellers on INPUT (LS export or long CSV/Parquet task,worker,label)."""
    from oma_analysis import OmaError
    from oma_analysis.ingest import load
    from oma_analysis.rubric import RUBRIC
    from oma_analysis.stats.agreement import agreement as compute
    from oma_analysis.stats.agreement import ratings_from_frame

    n_boot = _parse_ci(ci)
    frame = load(input_path, codemap).frame
    if question is None and "question" in frame.columns:
        qs = set(frame["question"].dropna().unique())
        if len(qs) > 1:
            if RUBRIC.MISALIGNMENT not in qs:
                raise OmaError(f"{input_path}: several questions ({', '.join(sorted(qs)[:6])}...); "
                               "pick one with --question")
            question = RUBRIC.MISALIGNMENT  # the product's headline question
    pair = None
    if raters:
        a, sep, b = raters.partition(",")
        if not sep or not a or not b:
            raise OmaError(f"--raters: expected two workers as A,B, got {raters!r}")
        pair = (a, b)
    try:
        r = ratings_from_frame(frame, question)
        res = compute(r, metric, level, n_boot=n_boot, seed=seed, raters=pair)
    except ValueError as exc:
        raise OmaError(f"{input_path}: question {question or '(the only one)'}: {exc}") from None
    out = res.to_dict()
    if r.n_duplicates:
        out["n_duplicates_dropped"] = r.n_duplicates
    if as_json:
        click.echo(json.dumps(out))
        return
    ci_txt = "" if out["ci_low"] is None else f" [{out['ci_low']:.3f}, {out['ci_high']:.3f}]"
    val = "nan" if out["value"] is None else f"{out['value']:.4f}"
    click.echo(f"{metric} ({level}) on {out['question']}: {val}{ci_txt}; {out['n_units']} units, "
               f"{out['n_pairable']} with >= 2 ratings")
    if out["kappa_paradox"]:
        comp = out["companions"]
        extra = (f"; AC1 {comp['ac1']:.4f}, positive agreement on {comp['positive_category']} "
                 f"{comp['positive_agreement']:.4f}") if comp.get("ac1") is not None else ""
        click.echo(f"  kappa paradox: the rarest category holds < 10 % of ratings{extra}")
