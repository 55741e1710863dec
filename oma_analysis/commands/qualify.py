"""oma qualify score|batch: labellers against the researchers' gold, pass / fail / more items."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    group.add_command(qualify)


@click.group()
def qualify() -> None:
    """Qualification (rule and thresholds: oma_analysis/stats/qualify.py)."""


@qualify.command()
@click.argument("export", type=click.Path(exists=True, dir_okay=False))
@click.option("--codemap", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the table as CSV.")
def score(export: str, codemap: str | None, out: str | None) -> None:
    """Score every labeller in EXPORT (a study pull or a project export) on the gold tasks."""
    from oma_analysis.ingest import load
    from oma_analysis.stats.qualify import GOOD, MINIMUM
    from oma_analysis.stats.qualify import qualify as do_qualify

    table = do_qualify(load(export, codemap=codemap).frame)
    if table.empty:
        raise click.ClickException(f"{export}: no labeller answered a gold task")
    click.echo(f"pass: exact 95% lower bound >= {MINIMUM}; fail: upper bound < {GOOD} (or no decision by 40 items)")
    for r in table.itertuples():
        click.echo(f"{r.worker}: {r.decision} after {r.items_used} items; "
                   f"accuracy {r.correct}/{r.n} = {r.accuracy:.2f} "
                   f"[{r.lower:.2f}, {r.upper:.2f}], agreement with researchers {r.agreement:.2f} "
                   f"[{r.agreement_lower:.2f}, {r.agreement_upper:.2f}]")
    if out:
        table.to_csv(out, index=False)


@qualify.command()
@click.argument("gold", type=click.Path(exists=True, dir_okay=False))
@click.option("--n", "n", default=20, show_default=True, type=int, help="Items in the batch.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--manual", "docs", default="manual/docs", show_default=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False))
def batch(gold: str, n: int, seed: int, docs: str, out: str) -> None:
    """A qualification batch from GOLD (researcher-answered records, JSONL): N items not shown in
    the manual, in random order; push it with `oma tasks push OUT --study NAME --gold`."""
    import json
    from pathlib import Path

    import numpy as np

    from oma_analysis.jsonl import read_objects
    from oma_analysis.stats.qualify import held_back

    recs = held_back(read_objects(gold), Path(docs))
    if len(recs) < n:
        click.echo(f"warning: only {len(recs)} gold items are not in the manual", err=True)
    idx = np.random.default_rng(seed).permutation(len(recs))[:n]
    Path(out).write_text("".join(json.dumps(recs[i], ensure_ascii=False) + "\n" for i in idx))
    click.echo(f"{len(idx)} items written to {out}")
