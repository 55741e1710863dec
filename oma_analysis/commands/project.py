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
@click.option("--per-labeller", "study_name", metavar="STUDY",
              help="Instead: one project per labeller of study STUDY, each in its own Label Studio (oma study).")
def create(kind: str, title: str | None, overlap: int, config_file: str | None, study_name: str | None = None) -> None:
    """Create the project, or update its config if it exists; prints its id."""
    if study_name:  # commands/study.py
        from oma_analysis.labelstudio.study import create_study, up

        st = create_study(study_name, kind=kind, overlap=overlap)
        for w in up(st):
            click.echo(f"{w.email}: project {w.project_id} at {w.url}")
        return
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.projects import create_or_update

    xml = open(config_file, encoding="utf-8").read() if config_file else None
    p = create_or_update(connect(), kind, title=title, overlap=overlap, xml=xml)
    click.echo(f"project {p.id}: {p.title}")
