"""The backend's retrain reads the whole study: a real three-labeller study (one Label Studio per
labeller, tests/study_support.py, shared with test_isolated_study.py) and the real backend under
gunicorn with ``OMA_STUDY``. Its poller sums the annotation counts of every workspace, the retrain
pulls every workspace and trains on each task's labels from all its labellers together.

The expected training set is recomputed here from what each labeller answered (study_support's
deterministic answers and the queues they annotated), independently of the export, merge and
loader code the backend uses. Only reads the study: test_isolation.py labels the tasks left open.
"""

from __future__ import annotations

import time
from collections import defaultdict

import requests
from machine import scaled
from study_support import EMAILS, answer_for

from conftest import free_port
from oma_analysis.classifier.data import verdict_label
from oma_analysis.labelstudio.push import TASK_KEY
from oma_analysis.rubric import RUBRIC


def expected_training_tasks(study_run) -> dict[str, int]:
    """task_key -> label (1 = not met): majority of the labellers' non-ambiguous verdicts, ties out."""
    code = {t["data"][TASK_KEY]: t["data"]["completion_code"] for t in study_run.tasks}
    votes: dict[str, list[int]] = defaultdict(list)
    for email in EMAILS:
        for key in study_run.annotated[email]:
            y = verdict_label(answer_for(email, code[key])[RUBRIC.verdict.question])
            if y is not None:
                votes[key].append(y)
    return {k: int(2 * sum(v) > len(v)) for k, v in votes.items() if 2 * sum(v) != len(v)}


def test_retrain_reads_every_workspace_of_the_study(study_run, label_studio, tmp_path):
    from ml_backend import server

    home = tmp_path / "backend-home"
    env = {"OMA_BACKEND_MODELS": str(home / "models"), "OMA_STUDY": str(study_run.study.dir),
           "OMA_LS_URL": label_studio.url, "OMA_LS_TOKEN": label_studio.token,
           "OMA_RETRAIN_EVERY": "5", "OMA_POLL_S": "1", "OMA_TRAIN_EPOCHS": "1", "OMA_TRAIN_MAX_LENGTH": "64",
           "OMA_TORCH_THREADS": "1", "OMA_BACKEND_USER": "study", "OMA_BACKEND_PASSWORD": "study-pass-0",
           "LOG_LEVEL": "INFO", "TOKENIZERS_PARALLELISM": "false"}
    auth = ("study", "study-pass-0")
    st = server.start(port=free_port(), home=home, env=env, timeout=scaled(300))
    try:
        # An event (the retrain the poller starts is done or failed), capped generously for a busy machine.
        deadline = time.monotonic() + 600
        status: dict = {}
        while time.monotonic() < deadline:
            status = requests.get(st.url + "/status", auth=auth, timeout=60).json()
            if (status.get("retrain") or {}).get("state") in ("done", "failed"):
                break
            time.sleep(0.5)
    finally:
        server.stop(home)
    rt = status["retrain"]
    expected = expected_training_tasks(study_run)
    per_labeller = [len(study_run.annotated[e]) for e in EMAILS]
    # Every labeller's workspace was read: all their labels, not one workspace's.
    assert status["oma_study"] == {"name": "t12", "workspaces": 3}, status
    assert rt["study"] == "t12" and rt["workspaces_read"] == 3, rt
    assert rt["labels_read"] == sum(per_labeller) > max(per_labeller), (rt, per_labeller)
    assert rt["gold_left_out"] == len(study_run.gold_keys), rt  # the researcher's answers are not training labels
    assert rt["foreign_left_out"] == 0
    # The training set: each task's labels from all its labellers, aggregated together.
    assert rt["n_tasks"] == len(expected), (rt, expected)
    if len(expected) >= 4 and len(set(expected.values())) == 2:
        assert rt["state"] == "done", rt
        assert rt["gate"] is not None and isinstance(rt["served"], bool)
    else:
        assert rt["state"] == "failed" and "need at least 4 and both labels" in rt["error"], rt
    # /status names no path, no workspace URL and no labeller.
    text = str(status)
    assert str(study_run.study.dir) not in text and "http" not in text and not any(e in text for e in EMAILS)
    assert not list((home / "models").glob(".export-*"))  # the pulled exports were removed
