"""oma pull: an export snapshot from Label Studio."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    group.add_command(pull)


@click.command()
@click.option("--project", "project_ref", help="Project id or title.")
@click.option("--study", "study_name", help="Pull a whole study (all workspaces + gold) into one export instead.")
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["JSON", "JSON_MIN", "CSV"]), default="JSON", show_default=True)
def pull(project_ref: str | None, out: str, fmt: str, study_name: str | None = None) -> None:
    """Export all tasks with full annotations and predictions to OUT (written atomically)."""
    from ..labelstudio.client import connect
    from ..labelstudio.projects import find_project
    from ..labelstudio.pull import pull as do_pull

    if study_name:  # a study (commands/study.py)
        from .study import pull_study_cmd

        if fmt != "JSON":
            raise click.UsageError("--study: a study pull is written as JSON")
        return pull_study_cmd(study_name, out)
    if not project_ref:
        raise click.UsageError("give --project (or --study)")
    client = connect()
    proj = find_project(client, project_ref)
    path = do_pull(client, proj.id, out, export_type=fmt)
    click.echo(f"project {proj.id}: export written to {path}")
