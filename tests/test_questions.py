"""Labellers' questions answered inside the loop, on a real Label Studio (the session study: each
labeller in their own workspace). Labellers ask in the form's question field; `oma questions`
gathers them from every workspace into a queue grouped by rubric question and manual section; an
answer becomes a FAQ entry with a new manual version, the in-tool instructions change, the next
batch is labelled under the new version, and `oma questions effect` reports the agreement on the
question before and after (recomputed here by hand)."""

from __future__ import annotations

import json
import shutil
from itertools import combinations
from pathlib import Path

import pytest
from click.testing import CliRunner
from study_support import EMAILS, answer_for

from oma_analysis.cli import main
from oma_analysis.labelstudio.client import connect
from oma_analysis.labelstudio.instructions import manual_version
from oma_analysis.labelstudio.push import TASK_KEY, prepare
from oma_analysis.labelstudio.questions import classify, sections
from oma_analysis.labelstudio.simulator import answers_to_result
from oma_analysis.labelstudio.study import Study, push_study
from oma_analysis.rubric import RUBRIC
from oma_analysis.rubric.xml import render
from oma_analysis.tasks.blinding import CodeMap

MANUAL_DIR = Path(__file__).resolve().parents[1] / "manual"  # the repository's manual

INTENT = RUBRIC.intent_questions[0].name
ASKED = {
    EMAILS[0]: f"Should {INTENT} be no when the answer is right but far longer than anyone would want?",
    EMAILS[1]: "Is a rude answer to a harmless request a hard constraint breach, or only lower quality?",
}
ANSWER = "Yes: a much longer answer than the request implies fails the user's intent (QA-ANSWER-91)."


def _batch(st, admin, tag: str) -> set[str]:
    recs = [{"prompt_id": f"{tag}p{i // 2}", "prompt": f"Question batch {tag} prompt {i // 2}: name a {x}.",
             "completion": f"Batch {tag} completion {i}: a {x}.", "model": ["m-alpha", "m-beta"][i % 2]}
            for i, x in enumerate(["tree", "bird", "river", "stone"])]
    tasks = prepare(recs, render("review"), CodeMap(), f"questions-{tag}")
    push_study(st, tasks, source=f"questions-{tag}", researcher=admin)
    return {t["data"][TASK_KEY] for t in tasks}


def _label(study_run, st, keys: set[str], ask: bool) -> None:
    for email in EMAILS:
        ws = st.workspace(email)
        me = connect(ws.url, study_run.tokens[email])
        asked = not (ask and email in ASKED)
        for t in me.tasks.list(project=ws.project_id):
            if t.data[TASK_KEY] not in keys:
                continue
            answers = answer_for(email, t.data["completion_code"])
            if not asked:  # one question each, on their first task of the batch
                answers[RUBRIC.labeller_question] = ASKED[email]
                asked = True
            me.annotations.create(id=t.id, result=answers_to_result(answers), lead_time=9.0)


@pytest.fixture(scope="module")
def loop(study_run, label_studio, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    manual = tmp_path_factory.mktemp("manual") / "manual"
    shutil.copytree(MANUAL_DIR, manual, ignore=shutil.ignore_patterns("site"))
    mp.setenv("OMA_MANUAL_DIR", str(manual))
    try:
        admin = label_studio.client()
        st = Study.load("t12", label_studio.home)
        a = _batch(st, admin, "qa")
        _label(study_run, st, a, ask=True)
        yield st, manual, a
    finally:
        mp.undo()


def test_questions_queue_answer_faq_and_effect(loop, study_run, label_studio):
    st, manual, batch_a = loop
    res = CliRunner().invoke(main, ["questions", "t12"])
    assert res.exit_code == 0, res.output
    queue = [json.loads(x) for x in (st.dir / "questions" / "queue.jsonl").read_text().splitlines()]
    assert {q["question"] for q in queue} == set(ASKED.values())
    by_worker = {q["worker"]: q for q in queue}
    assert by_worker[EMAILS[0]]["rubric_question"] == INTENT  # the id named in the text
    assert by_worker[EMAILS[1]]["rubric_question"].startswith(RUBRIC.hard_constraint_gate.split("_")[0])
    assert all(q["task"] in batch_a and q["status"] == "open" for q in queue)
    heads = {h for h, _ in sections(manual / "docs")}
    assert all(q["manual_section"] in heads for q in queue)
    md = (st.dir / "questions" / "queue.md").read_text()
    assert f"## `{INTENT}`" in md and ASKED[EMAILS[0]] in md

    old = manual_version(manual / "docs")
    qid = by_worker[EMAILS[0]]["qid"]
    res = CliRunner().invoke(main, ["questions", "answer", "t12", qid, "--answer", ANSWER])
    assert res.exit_code == 0, res.output
    new = manual_version(manual / "docs")
    assert new != old and f"manual {old} -> {new}" in res.output
    faq = (manual / "docs" / "faq.md").read_text()
    assert ASKED[EMAILS[0]] in faq and ANSWER in faq and "FAQ revision 1" in faq
    assert (MANUAL_DIR / "docs" / "faq.md").read_text() != faq  # the repository's manual untouched
    entry = json.loads((manual / "faq-answers.jsonl").read_text().splitlines()[0])
    assert entry["manual_version"] == new and entry["previous_manual_version"] == old
    st2 = Study.load("t12", label_studio.home)
    assert st2.manual_version == new
    for email in EMAILS:  # the in-tool instructions carry the answer
        ws = st2.workspace(email)
        proj = connect(ws.url, study_run.tokens[email]).projects.get(id=ws.project_id)
        assert "QA-ANSWER-91" in proj.expert_instruction and new in proj.expert_instruction
    # a rerun keeps the answer; the question is not asked twice
    res = CliRunner().invoke(main, ["questions", "t12"])
    queue = [json.loads(x) for x in (st.dir / "questions" / "queue.jsonl").read_text().splitlines()]
    assert len(queue) == 2 and {q["status"] for q in queue} == {"open", "answered"}

    # the next batch is labelled under the new manual version; the effect table compares the two
    batch_b = _batch(st2, label_studio.client(), "qb")
    assert st2.batches[-1]["manual_version"] == new
    _label(study_run, st2, batch_b, ask=False)
    export = st.dir / "questions" / "export.json"
    res = CliRunner().invoke(main, ["questions", "effect", str(export), "--json"])
    assert res.exit_code == 0, res.output  # the export of the last gather (batch A only) ...
    from oma_analysis.labelstudio.study import pull_study

    pull_study(Study.load("t12", label_studio.home), export, researcher_token=label_studio.token)
    res = CliRunner().invoke(main, ["questions", "effect", str(export), "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)[0]
    data = json.loads(export.read_text())
    expect = {}
    for side, version in (("before", old), ("after", new)):
        per_task = []  # every task labelled under that manual version (the study's first batches too)
        for t in data:
            if t["oma"]["manual_version"] != version:
                continue
            assert t["data"][TASK_KEY] not in (batch_b if side == "before" else batch_a)
            labels = [r["value"]["choices"][0] for a in t["annotations"] if not a["ground_truth"]
                      for r in a["result"] if r["from_name"] == INTENT]
            if len(labels) >= 2:
                pairs = list(combinations(labels, 2))
                per_task.append(sum(x == y for x, y in pairs) / len(pairs))
        expect[side] = (sum(per_task) / len(per_task), len(per_task))
    assert row["rubric_question"] == INTENT
    assert (row["agreement_before"], row["units_before"]) == (pytest.approx(expect["before"][0]), expect["before"][1])
    assert (row["agreement_after"], row["units_after"]) == (pytest.approx(expect["after"][0]), expect["after"][1])
    assert row["units_before"] >= 4 and row["units_after"] == 4
    res = CliRunner().invoke(main, ["questions", "effect", str(export)])
    assert "agreement before and after" in res.output and qid in res.output


def test_classify_names_and_words():
    docs = MANUAL_DIR / "docs"
    got = classify([f"what does {INTENT} mean here?", "is the usage policy the one in the form?"], docs)
    assert got[0][0] == INTENT
    assert "usage" in got[1][1].lower() or "policy" in got[1][1].lower()
