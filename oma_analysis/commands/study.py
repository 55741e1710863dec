"""oma study create|up|down|status|push|pull: a study with one isolated workspace per labeller."""

from __future__ import annotations

from pathlib import Path

import click


def register(group: click.Group) -> None:
    group.add_command(study)


@click.group()
def study() -> None:
    """Studies: one Label Studio per labeller (the isolation Community can give), merged by oma."""


@study.command()
@click.argument("name")
@click.option("--kind", type=click.Choice(["review", "compare", "probe"]), default="review", show_default=True)
@click.option("--overlap", default=2, show_default=True, type=int, help="Labellers per task.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the task distribution.")
@click.option("--manual-url",
              help="Where labellers read the manual (`oma manual serve`), linked from the instructions.")
def create(name: str, kind: str, overlap: int, seed: int, manual_url: str | None) -> None:
    """Create study NAME and its gold project on the researcher's Label Studio (`oma ls up`)."""
    from oma_analysis.labelstudio.study import create_study

    st = create_study(name, kind=kind, overlap=overlap, seed=seed, manual_url=manual_url)
    click.echo(f"study {st.name}: {st.kind}, overlap {st.overlap}, rubric {st.rubric_version}, "
               f"manual {st.manual_version}; gold project {st.gold_project_id} on the researcher's server")


@study.command()
@click.argument("name")
def up(name: str) -> None:
    """Start every labeller's workspace (concurrently) and set up their project."""
    from oma_analysis.labelstudio.study import Study
    from oma_analysis.labelstudio.study import up as do_up

    for w in do_up(Study.load(name)):
        click.echo(f"{w.email}: {w.url} (project {w.project_id})")


@study.command()
@click.argument("name")
def down(name: str) -> None:
    """Stop every labeller's workspace."""
    from oma_analysis.labelstudio.study import Study
    from oma_analysis.labelstudio.workspaces import stop_all

    click.echo(f"stopped {stop_all(Study.load(name).team)} workspace(s)")


@study.command()
@click.argument("name")
def status(name: str) -> None:
    """The study's team, workspaces and batches."""
    from oma_analysis.labelstudio.study import Study

    st = Study.load(name)
    click.echo(f"study {st.name}: {st.kind}, overlap {st.overlap}, rubric {st.rubric_version}, manual "
               f"{st.manual_version}, {len(st.assignments)} tasks ({len(st.gold_keys)} gold), "
               f"{len(st.batches)} batches")
    for w in st.team:
        n = sum(w.email in labs for labs in st.assignments.values())
        click.echo(f"  {w.email}: {w.url or '-'} project {w.project_id} {n} tasks "
                   f"{'running' if w.running() else 'stopped'}")


def push_to_study(name: str, file: str, codemap: str | None, gold: bool, test_run: str | None) -> None:
    """`oma tasks push FILE --study NAME [--gold]` (called from commands/tasks.py)."""
    from oma_analysis.labelstudio.push import prepare, read_jsonl
    from oma_analysis.labelstudio.study import Study, push_study
    from oma_analysis.rubric.xml import render
    from oma_analysis.tasks.blinding import CodeMap

    st = Study.load(name)
    cm_path = Path(codemap or f"{file}.codemap.json")
    codes = CodeMap.load(cm_path) if cm_path.exists() else CodeMap()
    tasks = prepare(read_jsonl(file), render(st.kind), codes, file, allow_test_prompts=bool(test_run))
    if len(codes):
        codes.save(cm_path)
    res = push_study(st, tasks, gold=gold, source=file)
    for email in res.created:
        click.echo(f"{email}: {res.created[email]} tasks created, {res.skipped[email]} already there")
    if gold:
        click.echo(f"researcher's gold project: {res.gold_created} tasks created")


@study.command()
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--no-resume", is_flag=True,
              help="Export every workspace again even if a part is left from an interrupted pull.")
def pull(name: str, out: str, no_resume: bool) -> None:
    """Export every workspace and the gold project into ONE export the loader reads (`oma pull --study`)."""
    pull_study_cmd(name, out, not no_resume)


def pull_study_cmd(name: str, out: str, resume: bool = True) -> None:
    from oma_analysis.labelstudio.study import Study, pull_study

    res = pull_study(Study.load(name), out, resume=resume)
    click.echo(f"study {name}: {res.tasks} tasks, {sum(res.annotations.values())} labeller annotations, "
               f"{res.gold_annotations} gold; export written to {res.out}"
               + (f" (reused parts: {', '.join(res.resumed)})" if res.resumed else ""))
    if res.foreign:
        click.echo(f"warning: {len(res.foreign)} annotation(s) by someone other than the workspace's labeller "
                   f"left out: {res.foreign[:5]}", err=True)


@study.command()
@click.argument("export", type=click.Path(exists=True, dir_okay=False))
@click.option("--codemap", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Also write each table as CSV here.")
def versions(export: str, codemap: str | None, out: str | None) -> None:
    """Per rubric/manual version and batch of a study pull: agreement on every question, ambiguous
    share, gold accuracy per labeller, and the questions of lowest agreement."""
    from oma_analysis.ingest import load
    from oma_analysis.stats.versions import per_version, task_versions

    tables = per_version(load(export, codemap=codemap).frame, task_versions(export))
    for name, t in tables.items():
        click.echo(f"\n{name}\n{t.to_string(index=False) if len(t) else '(none)'}")
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            t.to_csv(Path(out) / f"{name}.csv", index=False)
