"""oma pull: an export snapshot from Label Studio."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    group.add_command(pull)


@click.command()
@click.option("--project", "project_ref", required=True, help="Project id or title.")
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["JSON", "JSON_MIN", "CSV"]), default="JSON", show_default=True)
def pull(project_ref: str, out: str, fmt: str) -> None:
    """Export all tasks with full annotations and predictions to OUT (written atomically)."""
    from ..labelstudio.client import connect
    from ..labelstudio.projects import find_project
    from ..labelstudio.pull import pull as do_pull

    client = connect()
    proj = find_project(client, project_ref)
    path = do_pull(client, proj.id, out, export_type=fmt)
    click.echo(f"project {proj.id}: export written to {path}")
