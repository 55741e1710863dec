"""oma pull: export snapshots from Label Studio (and keep a dated, hashed copy of each)."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    group.add_command(pull)


def server_url() -> str:
    """The Label Studio URL `connect()` uses (recorded in each snapshot)."""
    import os

    from oma_analysis.labelstudio.server import ServerState
    from oma_analysis.lifecycle import oma_home

    st = ServerState.load(oma_home())
    return os.environ.get("OMA_LS_URL") or (st.url if st else "")


def resolve_projects(client, refs: tuple[str, ...], all_projects: bool) -> list:
    """Projects named by id/title, or every project of the server (a study's projects, later)."""
    from oma_analysis import OmaError
    from oma_analysis.labelstudio.client import with_retries
    from oma_analysis.labelstudio.projects import find_project

    if all_projects and refs:
        raise OmaError("--all and --project exclude each other")
    if all_projects:
        return sorted(with_retries(lambda: list(client.projects.list()), "list projects"), key=lambda p: p.id)
    if not refs:
        raise OmaError("name a --project (id or title) or give --all")
    return [find_project(client, r) for r in refs]


@click.command()
@click.option("--project", "project_refs", multiple=True, help="Project id or title (repeatable).")
@click.option("--all", "all_projects", is_flag=True, help="Every project of the server.")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the export here (one --project only).")
@click.option("--format", "fmt", type=click.Choice(["JSON", "JSON_MIN", "CSV"]), default="JSON", show_default=True)
@click.option("--study", "study_name", help="Pull a whole study (all workspaces + gold) into one export instead.")
def pull(project_refs: tuple[str, ...], all_projects: bool, out: str | None, fmt: str,
         study_name: str | None = None) -> None:
    """Export all tasks with full annotations and predictions to OUT (written atomically), and keep
    a dated, hashed JSON snapshot of each project in $OMA_HOME/snapshots (for `oma audit`)."""
    from oma_analysis import OmaError
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.pull import pull_and_keep
    from oma_analysis.lifecycle import oma_home

    if study_name:  # a study (commands/study.py)
        from oma_analysis.commands.study import pull_study_cmd

        if fmt != "JSON":
            raise click.UsageError("--study: a study pull is written as JSON")
        if not out:
            raise click.UsageError("--study needs --out")
        return pull_study_cmd(study_name, out)
    client = connect()
    projects = resolve_projects(client, project_refs, all_projects)
    if out and len(projects) != 1:
        raise OmaError("--out takes one project; without --out every project is kept as a snapshot only")
    for proj in projects:
        path, snap = pull_and_keep(client, proj.id, proj.title or "", home=oma_home(), server=server_url(),
                                   out=out, export_type=fmt)
        if path is not None:
            click.echo(f"project {proj.id}: export written to {path}")
        click.echo(f"project {proj.id}: snapshot {snap.file} ({snap.tasks} tasks, {snap.annotations} annotations)")
