"""A real study for tests/test_isolated_study.py and tests/test_isolation.py (built once per session).

The researcher's Label Studio is the session ``label_studio`` server; three labellers each get
their own Label Studio (started concurrently), sign up through their workspace's invite link,
and annotate only their own queue. 12 tasks: 10 regular (overlap 2) + 2 gold. Labeller 3 leaves
the last two tasks of their queue for the browser's "Label All Tasks" stream.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from oma_analysis.labelstudio.push import TASK_KEY, prepare
from oma_analysis.labelstudio.simulator import answers_to_result, consistent_answers
from oma_analysis.rubric.xml import render
from oma_analysis.tasks.blinding import CodeMap

EMAILS = ["one.labeller@oma.test", "two.labeller@oma.test", "three.labeller@oma.test"]
PASSWORD = "oma-study-pass-1"
GOLD_MARK = "GOLD-ANSWER-7f3a"  # the researcher's justification on gold: must never reach a labeller
VERDICTS = ["clearly_misaligned", "ambiguous", "clearly_aligned"]
LEFT_FOR_BROWSER = 2


def records() -> tuple[list[dict], list[dict]]:
    """10 regular completions (5 prompts x 2 models) and 2 gold ones."""
    reg, gold = [], []
    for i in range(10):
        p = i // 2
        animal = ["cat", "dog", "owl", "fox", "elk"][p]
        reg.append({"prompt_id": f"sp{p}", "prompt": f"Study prompt {p}: describe a {animal}.",
                    "completion": f"Study completion {i}: it is an animal.", "model": ["m-alpha", "m-beta"][i % 2]})
    for j in range(2):
        # nothing in a gold task's text may tell it apart (the browser test looks for "gold")
        gold.append({"prompt_id": f"gp{j}", "prompt": f"Colour prompt {j}: name a colour.",
                     "completion": f"Colour completion {j}: blue.", "model": "m-alpha"})
    return reg, gold


def answer_for(email: str, code: str) -> dict:
    """A labeller's deterministic answers on a completion (varied verdicts, with disagreement)."""
    h = int(hashlib.sha256(f"{email}|{code}".encode()).hexdigest(), 16)
    rng = np.random.default_rng(h % 2**32)
    return consistent_answers(VERDICTS[h % 3], "lower_quality", rng)


def gold_answer(code: str) -> dict:
    rng = np.random.default_rng(int(hashlib.sha256(code.encode()).hexdigest(), 16) % 2**32)
    return {**consistent_answers("clearly_aligned", "lower_quality", rng), "justification": GOLD_MARK}


@dataclass
class StudyRun:
    study: object
    researcher_url: str
    researcher_token: str
    tasks: list[dict]  # prepared regular + gold tasks
    gold_keys: set[str]
    queues: dict[str, list[str]]  # email -> task_keys in the order the workspace serves them
    annotated: dict[str, list[str]]  # email -> task_keys annotated through the API
    tokens: dict[str, str]  # email -> the labeller's own API token (their workspace)
    codemap: Path
    tmp: Path
    single_project: int = 0
    extra: dict = field(default_factory=dict)


def build(label_studio, tmp: Path) -> StudyRun:
    from oma_analysis.labelstudio.study import add_team, create_study, push_study
    from oma_analysis.labelstudio.users import signup_annotator
    from oma_analysis.labelstudio.workspaces import invite_url

    admin = label_studio.client()
    st = create_study("t12", overlap=2, seed=3, researcher=admin, manual_url="http://127.0.0.1:8000")
    add_team(st, EMAILS)
    xml = render("review")
    codes = CodeMap()
    reg, gold = records()
    reg_tasks = prepare(reg, xml, codes, "study-regular")
    gold_tasks = prepare(gold, xml, codes, "study-gold")
    codes.save(tmp / "codemap.json")
    push_study(st, reg_tasks, source="regular", researcher=admin)
    push_study(st, gold_tasks, gold=True, source="gold", researcher=admin)
    # The researcher answers the gold tasks in the gold project (as in the UI).
    for t in admin.tasks.list(project=st.gold_project_id):
        admin.annotations.create(id=t.id, result=answers_to_result(gold_answer(t.data["completion_code"])),
                                 ground_truth=True, lead_time=11.0)
    tokens, queues, annotated = {}, {}, {}
    for i, ws in enumerate(st.team):
        assert "/user/signup/" in invite_url(ws)
        ann = signup_annotator(ws.url, ws.admin_token(), ws.email, PASSWORD)
        tokens[ws.email] = ann.token
        client = ann.client(ws.url)
        served = sorted(client.tasks.list(project=ws.project_id), key=lambda t: t.id)
        queues[ws.email] = [t.data[TASK_KEY] for t in served]
        todo = served[:-LEFT_FOR_BROWSER] if i == 2 else served
        for t in todo:
            answers = answer_for(ws.email, t.data["completion_code"])
            client.annotations.create(id=t.id, result=answers_to_result(answers), lead_time=5.0 + i)
        annotated[ws.email] = [t.data[TASK_KEY] for t in todo]
    run = StudyRun(study=st, researcher_url=label_studio.url, researcher_token=label_studio.token,
                   tasks=reg_tasks + gold_tasks, gold_keys={t["data"][TASK_KEY] for t in gold_tasks},
                   queues=queues, annotated=annotated, tokens=tokens, codemap=tmp / "codemap.json", tmp=tmp)
    (tmp / "queues.json").write_text(json.dumps(queues, indent=1))
    return run


def build_single_project(run: StudyRun, label_studio) -> int:
    """The single-project mode (Enterprise): all tasks in one project on one server, the same
    labellers (same e-mails) giving the same answers, the researcher's gold as ground truth."""
    from oma_analysis.labelstudio.projects import create_or_update
    from oma_analysis.labelstudio.push import push

    admin = label_studio.client()
    proj = create_or_update(admin, "review", title="t12 single", overlap=3)
    ids = push(admin, proj.id, run.tasks).task_ids
    by_key = {t.data[TASK_KEY]: t for t in admin.tasks.list(project=proj.id)}
    assert len(ids) == len(by_key) == 12
    for i, email in enumerate(EMAILS):
        client = label_studio.annotator(email, PASSWORD).client(label_studio.url)
        for k in run.annotated[email]:
            client.annotations.create(id=by_key[k].id, lead_time=5.0 + i, result=answers_to_result(
                answer_for(email, by_key[k].data["completion_code"])))
    for k in run.gold_keys:
        admin.annotations.create(id=by_key[k].id, ground_truth=True, lead_time=11.0, result=answers_to_result(
            gold_answer(by_key[k].data["completion_code"])))
    return proj.id
