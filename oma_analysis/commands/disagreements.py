"""``oma disagreements``: the tasks and questions labellers disagree on most."""

from __future__ import annotations

import json

import click


def register(group: click.Group) -> None:
    @group.command("disagreements")
    @click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
    @click.option("--top", type=click.IntRange(min=1), default=20, show_default=True)
    @click.option("--question", "questions", multiple=True, help="Limit to these questions (repeatable).")
    @click.option("--gold", type=click.Path(exists=True, dir_okay=False),
                  help="Researcher labels CSV task,label[,question].")
    @click.option("--codemap", type=click.Path(exists=True, dir_okay=False))
    @click.option("--push", "push_title", metavar="PROJECT_TITLE",
                  help="Also push these tasks (from the LS export INPUT) as a review batch into this project, "
                       "for researchers to resolve.")
    @click.option("--json", "as_json", is_flag=True)
    def disagreements_cmd(input_path, top, questions, gold, codemap, push_title, as_json):
        """List the TOP task x question pairs with the most disagreement (ratings such as confidence
        are left out unless named with --question)."""
        from oma_analysis.ingest import load
        from oma_analysis.report.records import frame_records
        from oma_analysis.rubric import RUBRIC
        from oma_analysis.stats.disagreements import disagreements

        loaded = load(input_path, codemap)
        if not questions:
            ratings = {q.name for q in RUBRIC.questions.values() if q.kind == "rating"}
            questions = sorted(q for q in loaded.frame["question"].unique() if q not in ratings)
        t = disagreements(loaded.frame, top, list(questions), gold)
        recs = frame_records(t)
        if push_title:
            n_new, n_had, pid = _push_batch(input_path, sorted({str(r["task"]) for r in recs}), push_title)
            click.echo(f"review batch: {n_new} tasks pushed to project {pid} ({push_title!r}), "
                       f"{n_had} already there", err=as_json)
        if as_json:
            click.echo(json.dumps(recs))
            return
        for r in recs:
            gd = "" if r["gold_disagreement"] is None else f"\tvs gold {r['gold_disagreement']:.2f}"
            click.echo(f"{r['task']}\t{r['question']}\tH={r['entropy']:.3f}\tminority={r['minority_share']:.2f}"
                       f"\t{r['labels']}{gd}")


def _push_batch(export: str, task_ids: list[str], title: str) -> tuple[int, int, int]:
    """Push the listed tasks' data (review tasks only) from ``export`` into the project ``title``."""
    from oma_analysis import OmaError
    from oma_analysis.ingest.formats import iter_task_data
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.projects import create_or_update
    from oma_analysis.labelstudio.push import config_fields, prepare, push
    from oma_analysis.rubric.xml import render

    fields = config_fields(render("review")) | {"completion_code", "prompt_id"}
    wanted = set(task_ids)
    records = [{"data": {k: v for k, v in data.items() if k in fields}}
               for tid, data in iter_task_data(export) if str(tid) in wanted and "completion" in data]
    if not records:
        raise OmaError(f"{export}: none of the listed tasks is a review task with its data in the export")
    client = connect()
    proj = create_or_update(client, "review", title=title)
    from oma_analysis.tasks.blinding import CodeMap

    res = push(client, proj.id, prepare(records, proj.label_config, CodeMap(), export))
    return res.created, res.skipped, proj.id
