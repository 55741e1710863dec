"""``oma report``: report.html + report.json for an export or long file."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    @group.command("report")
    @click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
    @click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
    @click.option("--codemap", type=click.Path(exists=True, dir_okay=False))
    @click.option("--policy", type=click.Choice(["majority", "dawid-skene", "any", "all"]), default="majority",
                  show_default=True)
    @click.option("--confidence", type=float, default=0.95, show_default=True)
    @click.option("--threshold", type=float, default=0.02, show_default=True)
    @click.option("--gold", type=click.Path(exists=True, dir_okay=False))
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    @click.option("--also", multiple=True, type=click.Path(exists=True, dir_okay=False),
                  help="The run's compare and probe exports: adds the elicitation-gap section (needs --codemap).")
    def report_cmd(input_path, out_dir, codemap, policy, confidence, threshold, gold, quiet, also):
        """Write OUT/report.html (self-contained) and OUT/report.json."""
        from oma_analysis.ingest import load
        from oma_analysis.report import build_report

        loaded = load(input_path, codemap)
        # the elicitation-gap section, when the code map has elicitation pairs (compares in INPUT or --also);
        # their probe and variant evidence also feeds the capability profiles
        elicitation = None
        if codemap:
            from oma_analysis.tasks.blinding import CodeMap

            elicitation = {"codes": CodeMap.load(codemap), "frames": [load(p, codemap).frame for p in also],
                           "paths": list(also)}
        build_report(loaded, out_dir, input_path, policy, confidence, threshold, gold, progress=not quiet,
                     codemap=codemap, elicitation=elicitation)
        click.echo(f"{out_dir}/report.html")
