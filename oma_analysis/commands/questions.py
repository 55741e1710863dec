"""oma questions STUDY | answer | effect: labellers' questions to the researchers, answered in the FAQ."""

from __future__ import annotations

import json
from pathlib import Path

import click


def register(group: click.Group) -> None:
    group.add_command(questions)


class _DefaultGroup(click.Group):
    """`oma questions STUDY` is `oma questions gather STUDY`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["gather", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultGroup)
def questions() -> None:
    """Labellers' questions (the form's optional question field): queue, answer, effect."""


@questions.command()
@click.argument("study_name")
@click.option("--export", type=click.Path(exists=True, dir_okay=False),
              help="A study pull to read (default: pull the whole study now).")
@click.option("--manual", "manual", type=click.Path(file_okay=False), help="Manual folder (default: manual/).")
def gather(study_name: str, export: str | None, manual: str | None) -> None:
    """Gather the questions of every workspace of STUDY into the researcher's queue
    (questions/queue.md in the study folder), grouped by rubric question and manual section."""
    from oma_analysis.labelstudio.questions import gather as run
    from oma_analysis.labelstudio.questions import manual_dir, queue_dir
    from oma_analysis.labelstudio.study import Study, pull_study

    st = Study.load(study_name)
    if export is None:
        export = str(queue_dir(st) / "export.json")
        queue_dir(st).mkdir(parents=True, exist_ok=True)
        pull_study(st, export)
    rows = run(st, export, docs=Path(manual or manual_dir()) / "docs")
    for r in rows:
        click.echo(f"{r['qid']} [{r['status']}] {r['rubric_question']} | {r['manual_section']}: {r['question']}")
    click.echo(f"queue: {queue_dir(st) / 'queue.md'}")


@questions.command()
@click.argument("study_name")
@click.argument("qid")
@click.option("--answer", required=True, help="The answer, in Markdown.")
@click.option("--about", help="The rubric question it is about (default: as grouped).")
@click.option("--manual", "manual", type=click.Path(file_okay=False), help="Manual folder (default: manual/).")
def answer(study_name: str, qid: str, answer: str, about: str | None, manual: str | None) -> None:
    """Answer question QID: a new FAQ entry (manual version changes), in-tool instructions updated."""
    from oma_analysis.labelstudio.questions import answer_question, manual_dir
    from oma_analysis.labelstudio.study import Study

    res = answer_question(Study.load(study_name), qid, answer, docs=Path(manual or manual_dir()) / "docs",
                          rubric_question=about)
    click.echo(f"{qid}: FAQ entry in {res.faq_page}; manual {res.old_version} -> {res.new_version}; "
               f"instructions updated in {res.workspaces} workspaces")


@questions.command()
@click.argument("export", type=click.Path(exists=True, dir_okay=False))
@click.option("--manual", "manual", type=click.Path(file_okay=False), help="Manual folder (default: manual/).")
@click.option("--json", "as_json", is_flag=True)
def effect(export: str, manual: str | None, as_json: bool) -> None:
    """Per answered FAQ question: agreement on its rubric question before and after the answer
    (EXPORT: a study pull spanning both manual versions)."""
    from oma_analysis.ingest import load
    from oma_analysis.labelstudio.questions import answer_effect, effect_markdown, faq_entries, manual_dir
    from oma_analysis.stats.versions import task_versions

    docs = Path(manual or manual_dir()) / "docs"
    table = answer_effect(load(export).frame, task_versions(export), faq_entries(docs))
    click.echo(json.dumps(table.to_dict("records"), indent=1, default=str) if as_json else effect_markdown(table))
