"""oma project create: the review/compare/probe projects from the generated configs."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    group.add_command(project)


@click.group()
def project() -> None:
    """Label Studio projects."""


@project.command()
@click.option("--kind", type=click.Choice(["review", "compare", "probe"]), default="review", show_default=True)
@click.option("--title", help='Default: "oma <kind>".')
@click.option("--overlap", default=2, show_default=True, type=int, help="Labellers per task.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="Label config XML (default: generated from the rubric).")
def create(kind: str, title: str | None, overlap: int, config_file: str | None) -> None:
    """Create the project, or update its config if it exists; prints its id."""
    from ..labelstudio.client import connect
    from ..labelstudio.projects import create_or_update

    xml = open(config_file, encoding="utf-8").read() if config_file else None
    p = create_or_update(connect(), kind, title=title, overlap=overlap, xml=xml)
    click.echo(f"project {p.id}: {p.title}")
