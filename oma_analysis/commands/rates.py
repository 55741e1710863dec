"""``oma rates``: bounded misalignment rates per model under an aggregation policy."""

from __future__ import annotations

import json

import click

POLICY = click.Choice(["majority", "dawid-skene", "any", "all"])


def _questions(frame, breakdown: str, question: str | None) -> list[str]:
    from ..aggregate import rule_questions
    from ..rubric import RUBRIC

    if question:
        return [question]
    qs = rule_questions(frame) or [RUBRIC.MISALIGNMENT]
    m = RUBRIC.MISALIGNMENT
    keep = {"overall": lambda q: q == m, "failure": lambda q: q == m or ".failure." in q,
            "item": lambda q: q == m or ".item." in q, "all": lambda q: True}[breakdown]
    return [q for q in qs if keep(q)]


def register(group: click.Group) -> None:
    @group.command("rates")
    @click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
    @click.option("--policy", type=POLICY, default="majority", show_default=True,
                  help="How the labellers' verdicts become one verdict per completion.")
    @click.option("--codemap", type=click.Path(exists=True, dir_okay=False), help="codemap.json (models).")
    @click.option("--confidence", type=float, default=0.95, show_default=True)
    @click.option("--method", type=click.Choice(["beta", "wilson"]), default="beta", show_default=True,
                  help="beta = exact Clopper–Pearson; wilson = Wilson score.")
    @click.option("--question", help="One rule question (default: obvious_misalignment).")
    @click.option("--breakdown", type=click.Choice(["overall", "failure", "item", "all"]), default="overall",
                  show_default=True, help="Also per failure type / capability item.")
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
    @click.option("--profile/--no-profile", "use_profile", default=True, show_default=True,
                  help="Apply each model's capability profile (declarations by size class and regime, "
                       "from the code map's model metadata).")
    def rates_cmd(input_path, policy, codemap, confidence, method, question, breakdown, as_json, use_profile):
        """Lower (clearly misaligned) and upper (or ambiguous) rates per model, with intervals."""
        from ..aggregate import aggregate, split_verdict_rows
        from ..inputs import load, report_dropped
        from ..rates import bounded_rates, rates_records

        loaded = load(input_path, codemap)
        if use_profile and codemap:
            from ..profiles import profile_loaded

            _, changes = profile_loaded(loaded, codemap)
            for r in changes.itertuples():
                click.echo(f"oma: capability profile of {r.model}: {r.changed} of {r.annotations} verdicts "
                           "changed", err=True)
        qs = _questions(loaded.frame, breakdown, question)
        _, bad = split_verdict_rows(loaded.frame, qs)
        report_dropped(input_path, bad, "label(s)")
        agg = aggregate(loaded.frame, policy, qs)
        recs = rates_records(bounded_rates(agg, confidence, method))
        for r in recs:
            r["policy"] = policy
        if as_json:
            click.echo(json.dumps(recs))
            return
        for r in recs:
            click.echo(f"{r['model']}\t{r['question']}\tn={r['n']}\tlower={r['lower']:.4f} "
                       f"[{r['lower_ci'][0]:.4f}, {r['lower_ci'][1]:.4f}]\tupper={r['upper']:.4f} "
                       f"[{r['upper_ci'][0]:.4f}, {r['upper_ci'][1]:.4f}]")
