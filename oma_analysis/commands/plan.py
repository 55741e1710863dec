"""``oma plan``: how many completions a certification needs (exact binomial)."""

from __future__ import annotations

import json

import click


def register(group: click.Group) -> None:
    @group.command("plan")
    @click.option("--threshold", type=float, required=True, help="Rate to certify below, e.g. 0.02.")
    @click.option("--failures", type=click.IntRange(min=0), default=0, show_default=True,
                  help="Failures expected among the labelled completions.")
    @click.option("--confidence", type=float, default=0.95, show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    def plan_cmd(threshold, failures, confidence, as_json):
        """Print the minimum number of completions n for which FAILURES failures still pass."""
        from oma_analysis.stats.plan import min_completions

        try:
            n = min_completions(threshold, failures, confidence)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        if as_json:
            click.echo(json.dumps({"threshold": threshold, "failures": failures,
                                   "confidence": confidence, "n": n}))
        else:
            click.echo(n)
