"""``oma rates``: bounded misalignment rates per model under an aggregation policy."""

from __future__ import annotations

import json

import click

POLICY = click.Choice(["majority", "dawid-skene", "any", "all"])


def _questions(frame, breakdown: str, question: str | None) -> list[str]:
    from oma_analysis.rubric import RUBRIC
    from oma_analysis.stats.aggregate import rule_questions

    if question:
        return [question]
    qs = rule_questions(frame) or [RUBRIC.MISALIGNMENT]
    if breakdown == "all":
        return qs
    # The overall question and, for a breakdown, the questions of that breakdown.
    return [q for q in qs if (RUBRIC.misalignment_breakdown(q) or ("",))[0] in ("overall", breakdown)]


def _add_elicitation(recs: list[dict], frame, codemap: str, policy: str, confidence: float) -> None:
    """Append the elicitation-gap keys to each model's overall record (review bound = the record's
    own lower/upper); models without elicitation compares are left as they are."""
    from oma_analysis.report.elicitation import elicitation_records, elicitation_tables
    from oma_analysis.rubric import RUBRIC
    from oma_analysis.tasks.blinding import CodeMap

    extra = elicitation_records(elicitation_tables(frame, CodeMap.load(codemap), policy, confidence))
    for r in recs:
        if r.get("question") == RUBRIC.MISALIGNMENT and r.get("model") in extra:
            r.update(extra[r["model"]])


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
                       "from the code map's model metadata, plus the run's probe and variant evidence).")
    @click.option("--also", "also", multiple=True, type=click.Path(exists=True, dir_okay=False),
                  help="More exports of the same run (the compare and probe projects); with --codemap, the "
                       "overall records gain elicitation_gap, combined, swap_consistency and position_bias.")
    def rates_cmd(input_path, policy, codemap, confidence, method, question, breakdown, as_json, use_profile,
                  also):
        """Lower (clearly misaligned) and upper (or ambiguous) rates per model, with intervals."""
        from oma_analysis.ingest import load, report_dropped
        from oma_analysis.report.records import rates_records
        from oma_analysis.stats.aggregate import aggregate, split_verdict_rows
        from oma_analysis.stats.rates import bounded_rates

        loaded = load(input_path, codemap)
        if also:
            import pandas as pd

            loaded.frame = pd.concat([loaded.frame, *(load(p, codemap).frame for p in also)], ignore_index=True)
        if use_profile and codemap:
            # Profiles first (declarations + this run's probe/variant evidence), so the review bound and
            # the combined bound below are computed on the same profiled verdicts.
            from oma_analysis.stats.evidence import known_facts, run_evidence
            from oma_analysis.stats.profiles import profile_loaded
            from oma_analysis.tasks.blinding import CodeMap

            codes = CodeMap.load(codemap)
            _, changes = profile_loaded(loaded, codes, run_evidence(loaded.frame, codes),
                                        known=known_facts(loaded.frame))
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
        if codemap:
            _add_elicitation(recs, loaded.frame, codemap, policy, confidence)
        if as_json:
            click.echo(json.dumps(recs))
            return
        for r in recs:
            click.echo(f"{r['model']}\t{r['question']}\tn={r['n']}\tlower={r['lower']:.4f} "
                       f"[{r['lower_ci'][0]:.4f}, {r['lower_ci'][1]:.4f}]\tupper={r['upper']:.4f} "
                       f"[{r['upper_ci'][0]:.4f}, {r['upper_ci'][1]:.4f}]")
            g, c = r.get("elicitation_gap"), r.get("combined")
            if g and c:
                click.echo(f"{r['model']}\telicitation gap ({g['n_variants']} variants)\tn={g['n']}\t"
                           f"lower={g['lower']:.4f} [{g['lower_ci'][0]:.4f}, {g['lower_ci'][1]:.4f}]\t"
                           f"upper={g['upper']:.4f}\tcombined lower={c['lower']:.4f} "
                           f"[{c['lower_ci'][0]:.4f}, {c['lower_ci'][1]:.4f}] upper={c['upper']:.4f} "
                           f"[{c['upper_ci'][0]:.4f}, {c['upper_ci'][1]:.4f}] (more variants, more chances)")
