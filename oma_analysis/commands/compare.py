"""``oma compare``: are models' misalignment rates different? (McNemar/Cochran/Newcombe/GEE/Holm)."""

from __future__ import annotations

import json

import click


def register(group: click.Group) -> None:
    @group.command("compare")
    @click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
    @click.option("--policy", type=click.Choice(["majority", "dawid-skene", "any", "all"]), default="majority",
                  show_default=True)
    @click.option("--count", type=click.Choice(["upper", "lower"]), default="upper", show_default=True,
                  help="upper: clearly misaligned or ambiguous is a failure; lower: clearly misaligned only.")
    @click.option("--codemap", type=click.Path(exists=True, dir_okay=False))
    @click.option("--confidence", type=float, default=0.95, show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    def compare_cmd(input_path, policy, count, codemap, confidence, as_json):
        """Pairwise model comparisons (Holm-adjusted), Cochran's Q, GEE model effect, trends."""
        from oma_analysis.ingest import load
        from oma_analysis.report.records import jsonable
        from oma_analysis.rubric import RUBRIC
        from oma_analysis.stats.aggregate import aggregate
        from oma_analysis.stats.compare import compare_models

        loaded = load(input_path, codemap)
        out = compare_models(aggregate(loaded.frame, policy, [RUBRIC.MISALIGNMENT]), count, confidence)
        if as_json:
            click.echo(json.dumps(jsonable(out), default=float))
            return
        for p in out["pairs"]:
            click.echo(f"{p['model_a']} - {p['model_b']}\tdiff={p['diff']:+.4f} [{p['diff_ci'][0]:+.4f}, "
                       f"{p['diff_ci'][1]:+.4f}]\t{p['test']} p={p['pvalue']:.3g}\tHolm p={p['pvalue_holm']:.3g}")
        if out.get("cochran_q"):
            q = out["cochran_q"]
            click.echo(f"Cochran's Q={q['statistic']:.3f} df={q['df']} p={q['pvalue']:.3g}")
