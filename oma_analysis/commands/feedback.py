"""oma feedback LABELLER: the labeller's page of disagreements with the manual section to reread."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    group.add_command(feedback)


@click.command()
@click.argument("labeller")
@click.argument("export", type=click.Path(exists=True, dir_okay=False))
@click.option("--codemap", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="Default: feedback-<labeller>.html.")
@click.option("--manual-url", help="Where the labeller reads the manual (`oma manual serve`).")
def feedback(labeller: str, export: str, codemap: str | None, out: str | None, manual_url: str | None) -> None:
    """Write LABELLER's feedback page from EXPORT (JSON: a study pull or a project export)."""
    from oma_analysis.ingest import load
    from oma_analysis.labelstudio.workspaces import slug
    from oma_analysis.report.feedback import write_page

    path, n = write_page(load(export, codemap=codemap).frame, export, labeller,
                         out or f"feedback-{slug(labeller)}.html", manual_url)
    click.echo(f"{labeller}: {n} disagreements; page written to {path}")
