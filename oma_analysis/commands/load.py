"""oma load: read an export into the tidy frame and say what was used and dropped."""

from __future__ import annotations

import json

import click


def register(group: click.Group) -> None:
    group.add_command(load)


@click.command()
@click.argument("export", type=click.Path(dir_okay=False))
@click.option("--codemap", type=click.Path(dir_okay=False), help="Code->model map to join models in.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the frame (.parquet or .csv).")
@click.option("--dropped", "dropped_out", type=click.Path(dir_okay=False), help="Write the dropped table (CSV).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def load(export: str, codemap: str | None, out: str | None, dropped_out: str | None, as_json: bool) -> None:
    """Load EXPORT (LS JSON/JSON_MIN/CSV or long CSV/Parquet); print counts used/dropped."""
    from oma_analysis.ingest import load as load_input

    got = load_input(export, codemap, quiet=True)  # the summary below lists what was dropped
    if out:
        (got.frame.to_parquet if out.endswith(".parquet") else got.frame.to_csv)(out, index=False)
    if dropped_out:
        got.dropped.to_csv(dropped_out, index=False)
    s = got.summary()
    if as_json:
        click.echo(json.dumps(s))
        return
    click.echo(f"{s['source']} ({s['format']}): {s['tasks']} tasks, {s['annotations_read']} annotations read, "
               f"{s['used']} used, {s['dropped']} dropped; {s['rows']} rows")
    for reason, n in s["dropped_by_reason"].items():
        click.echo(f"  dropped {n}: {reason}")
