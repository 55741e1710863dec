"""``oma labellers``: per-labeller accuracy, Dawid–Skene diagonal, screening; calibration by week."""

from __future__ import annotations

import json

import click


def register(group: click.Group) -> None:
    @group.command("labellers")
    @click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
    @click.option("--gold", type=click.Path(exists=True, dir_okay=False),
                  help="Researcher labels CSV task,label[,question] (default: LS ground-truth rows).")
    @click.option("--codemap", type=click.Path(exists=True, dir_okay=False))
    @click.option("--question", help="Rule question (default: obvious_misalignment).")
    @click.option("--threshold", type=float, default=0.75, show_default=True,
                  help="Flag labellers whose agreement is below this.")
    @click.option("--min-items", type=int, default=5, show_default=True)
    @click.option("--calibration", is_flag=True, help="Print agreement per labeller and ISO week instead.")
    @click.option("--json", "as_json", is_flag=True)
    def labellers_cmd(input_path, gold, codemap, question, threshold, min_items, calibration, as_json):
        """One line (or JSON object) per labeller."""
        from oma_analysis.ingest import load
        from oma_analysis.report.records import frame_records, labeller_records
        from oma_analysis.stats.labellers import calibration as calib
        from oma_analysis.stats.labellers import labeller_table

        loaded = load(input_path, codemap)
        if calibration:
            t = calib(loaded.frame, gold, question)
            recs = frame_records(t)
            if as_json:
                click.echo(json.dumps(recs))
            else:
                click.echo(t.to_string(index=False))
            return
        recs = labeller_records(labeller_table(loaded.frame, gold, question, threshold, min_items))
        if as_json:
            click.echo(json.dumps(recs))
            return
        for r in recs:
            acc = "NA" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
            ds = "NA" if r["ds_accuracy"] is None else f"{r['ds_accuracy']:.3f}"
            flag = f"FLAGGED ({r['reason']})" if r["flagged"] else ""
            click.echo(f"{r['worker']}\tn={r['n']}\taccuracy vs {r['reference']}={acc}\tDS={ds}\t{flag}")
