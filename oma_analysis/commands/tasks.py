"""oma tasks push: import tasks into Label Studio, blinded and resumable."""

from __future__ import annotations

from pathlib import Path

import click


def register(group: click.Group) -> None:
    group.add_command(tasks)


@click.group()
def tasks() -> None:
    """Labelling tasks."""


@tasks.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--project", "project_ref", help="Project id or title.")
@click.option("--study", "study_name", help="Push to a study instead: each task to --overlap labellers' workspaces.")
@click.option("--gold", is_flag=True, help="With --study: gold tasks (answers to the researcher's gold project only).")
@click.option("--codemap", type=click.Path(dir_okay=False),
              help="Code->model map, kept outside Label Studio (default: FILE.codemap.json).")
@click.option("--batch-size", default=250, show_default=True, type=int)
@click.option("--test-run", "test_run", envvar="OMA_TEST_RUN", metavar="RUN_ID",
              help="The run that uses the secret test prompts (env OMA_TEST_RUN); without it they are refused.")
def push(file: str, project_ref: str | None, codemap: str | None, batch_size: int, test_run: str | None,
         study_name: str | None = None, gold: bool = False) -> None:
    """Push FILE (JSONL): built tasks ({"data": ...}) or completion records
    ({prompt|messages, completion, model, ...}); models go to the code map, never to Label Studio.
    Tasks already in the project are skipped, so an interrupted push can simply be rerun.
    Secret test prompts (split "test" or carrying a canary) are refused unless --test-run names their run."""
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.projects import find_project
    from oma_analysis.labelstudio.push import prepare, read_jsonl
    from oma_analysis.labelstudio.push import push as do_push
    from oma_analysis.tasks.blinding import CodeMap

    if study_name:  # a study (commands/study.py)
        from oma_analysis.commands.study import push_to_study

        return push_to_study(study_name, file, codemap, gold, test_run)
    if not project_ref:
        raise click.UsageError("give --project (or --study)")
    client = connect()
    proj = find_project(client, project_ref)
    cm_path = Path(codemap or f"{file}.codemap.json")
    codes = CodeMap.load(cm_path) if cm_path.exists() else CodeMap()
    prepared = prepare(read_jsonl(file), proj.label_config, codes, file, allow_test_prompts=bool(test_run))
    if len(codes):
        codes.save(cm_path)
    res = do_push(client, proj.id, prepared, batch_size=batch_size, progress=True)
    click.echo(f"project {proj.id}: {res.created} tasks created, {res.skipped} already there"
               + (f"; code map: {cm_path}" if len(codes) else ""))
