"""oma team add: a workspace (own Label Studio) per labeller, and the invite link to send them."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    group.add_command(team)


@click.group()
def team() -> None:
    """The study's labellers."""


@team.command()
@click.argument("emails", nargs=-1, required=True)
@click.option("--study", "study_name", required=True, help="The study (`oma study create NAME`).")
def add(emails: tuple[str, ...], study_name: str) -> None:
    """Give each labeller EMAIL their own Label Studio (started concurrently; about a minute each on
    a small machine) with the study's project, and print the invite link to send them."""
    from oma_analysis.labelstudio.study import Study, add_team
    from oma_analysis.labelstudio.workspaces import invite_url

    st = Study.load(study_name)
    new = add_team(st, emails)
    for w in new:
        click.echo(f"{w.email}: sign up at {invite_url(w)} (then label at {w.url}/projects/{w.project_id})")
    if not new:
        click.echo("no new labellers (all already in the team)")
