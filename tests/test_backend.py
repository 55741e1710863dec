"""The ML backend against a REAL Label Studio, over real HTTP, under gunicorn.

Connect -> Label Studio retrieves predictions for imported tasks (checks-only) -> annotations
reach /webhook (Label Studio's own webhook for the connected backend) -> a background retrain
changes model_version -> new predictions carry the classifier's verdict. Probe project: the
interactive endpoint returns the evaluated (tiny, built here) model's answer. Bad requests: 4xx JSON.
"""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
import requests
from click.testing import CliRunner

from oma_analysis.blinding import CodeMap
from oma_analysis.cli import main
from oma_analysis.labelstudio.config_check import validate_results
from oma_analysis.labelstudio.projects import create_or_update
from oma_analysis.labelstudio.push import prepare, push
from oma_analysis.rubric import RUBRIC

AUTH = ("oma-be", "be-secret-123")
VERDICTS = [c.id for c in RUBRIC.verdict.choices]
ECHO_PROMPT = "Answer in one sentence: what is the capital of France?"

# (prompt, completion, verdict a labeller gives): clear cases both ways.
RECORDS = [
    (ECHO_PROMPT, "Answer in one sentence: what is the capital of France? Answer in one sentence:", VERDICTS[0]),
    ("Name a colour.", "Blue.", VERDICTS[2]),
    ("Write two sentences about the sea.", "The sea is big. The sea is big. The sea is big. The sea is big.",
     VERDICTS[0]),
    ("What is 2 + 2?", "2 + 2 is 4.", VERDICTS[2]),
    ("Say hello in one word.", "Say hello in one word. Say hello in one word. Say hello.", VERDICTS[0]),
    ("Give me a synonym of happy.", "Joyful.", VERDICTS[2]),
]
RETRAIN_EVERY = len(RECORDS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_for(verdict: str) -> list[dict]:
    """Result items for a review annotation whose rule-applied outcome equals ``verdict``."""
    def ch(name: str, value: str | list[str]) -> dict:
        return {"from_name": name, "to_name": "completion", "type": "choices",
                "value": {"choices": value if isinstance(value, list) else [value]}}

    out = [ch("hard_constraints", ["none"]), ch(RUBRIC.verdict.question, verdict),
           {"from_name": "confidence", "to_name": "completion", "type": "rating", "value": {"rating": 5}}]
    if verdict == VERDICTS[0]:
        out += [ch("failure_types", ["lower_quality"]), ch(RUBRIC.capable_question("lower_quality"), "yes"),
                ch(RUBRIC.distinguishable_question("lower_quality"), "yes"),
                ch(RUBRIC.items_question("lower_quality"), ["prompt_repetition_control"])]
    return out


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from oma_analysis.generate.tiny import build_tiny_lm

    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="module")
def backend(label_studio, tiny_lm, tmp_path_factory):
    """The real backend under gunicorn on a free port, with basic auth, pointed at the test LS."""
    from ml_backend import server

    home = tmp_path_factory.mktemp("backend-home")
    env = {"OMA_BACKEND_MODELS": str(home / "models"), "OMA_RETRAIN_EVERY": str(RETRAIN_EVERY),
           "OMA_TRAIN_EPOCHS": "1", "OMA_TRAIN_MAX_LENGTH": "64", "OMA_PROBE_MODEL": f"hf:{tiny_lm}",
           "OMA_PROBE_MAX_TOKENS": "12", "OMA_TORCH_THREADS": "2", "LOG_LEVEL": "INFO",
           "OMA_BACKEND_USER": AUTH[0], "OMA_BACKEND_PASSWORD": AUTH[1]}
    saved = {k: os.environ.get(k) for k in ("OMA_BACKEND_USER", "OMA_BACKEND_PASSWORD")}
    os.environ.update({k: env[k] for k in saved})  # `oma backend connect` reads them here
    st = server.start(port=free_port(), home=home, env=env, timeout=120)
    try:
        yield st
    finally:
        server.stop(home)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _status(url: str) -> dict:
    return requests.get(url + "/status", auth=AUTH, timeout=10).json()


def _predictions(client, task_ids: list[int]) -> dict[int, list]:
    return {t: list(client.predictions.list(task=t)) for t in task_ids}


@pytest.fixture(scope="module")
def review(label_studio, backend):
    admin = label_studio.client()
    proj = create_or_update(admin, "review", title="be review", overlap=1)
    recs = [{"prompt_id": f"b{i}", "prompt": p, "completion": c, "model": "m-under-test"}
            for i, (p, c, _) in enumerate(RECORDS)]
    tasks = prepare(recs, proj.label_config, CodeMap(), "mem")
    ids = push(admin, proj.id, tasks).task_ids
    assert len(ids) == len(RECORDS)
    res = CliRunner().invoke(main, ["backend", "connect", "--project", str(proj.id), "--url", backend.url])
    assert res.exit_code == 0, res.output
    assert "model version checks-only" in res.output, res.output
    return {"project": proj, "ids": ids, "client": admin}


def test_connect_registers_interactive_backend_with_basic_auth(review, backend):
    mls = list(review["client"].ml.list(project=review["project"].id))
    assert len(mls) == 1
    ml = mls[0]
    assert ml.url == backend.url and ml.is_interactive
    assert str(ml.auth_method).endswith("BASIC_AUTH") and ml.basic_auth_user == AUTH[0]
    assert ml.readable_state == "Connected", ml.error_message
    # Connecting again updates, never duplicates.
    res = CliRunner().invoke(main, ["backend", "connect", "--project", "be review", "--url", backend.url])
    assert res.exit_code == 0, res.output
    assert len(list(review["client"].ml.list(project=review["project"].id))) == 1


def test_label_studio_stores_checks_predictions(review):
    client, proj, ids = review["client"], review["project"], review["ids"]
    client.actions.create(id="retrieve_tasks_predictions", project=proj.id,
                          selected_items={"all": False, "included": ids})
    preds = _predictions(client, ids)
    assert all(len(p) == 1 for p in preds.values()), preds
    echo = preds[ids[0]][0]
    assert echo.model_version == "checks-only" and echo.score == 1.0
    spans = [r for r in echo.result if r["from_name"] == RUBRIC.raw["evidence"]["question"]]
    assert spans, echo.result
    completion = RECORDS[0][1]
    for r in spans:
        v = r["value"]
        assert completion[v["start"]:v["end"]] == v["text"] and v["labels"] == ["lower_quality"]
    assert any("repetition.prompt_echo" in r["meta"]["text"][0] for r in spans)
    # A clean answer gets no evidence and the lowest score (nothing known: most uncertain first).
    clean = preds[ids[1]][0]
    assert clean.result == [] and clean.score == 0.0
    for p in (x for v in preds.values() for x in v):
        validate_results(proj.label_config, p.result, what="prediction", where=f"task {p.task}")


def test_annotations_trigger_background_retrain_that_changes_model_version(review, backend, label_studio):
    client, proj, ids = review["client"], review["project"], review["ids"]
    assert _status(backend.url)["model_version"] == "checks-only"
    t0 = time.monotonic()
    for tid, (_, _, verdict) in zip(ids, RECORDS, strict=True):
        client.annotations.create(id=tid, result=answers_for(verdict), lead_time=3.0)
    # Label Studio posted ANNOTATION_CREATED to /webhook for each; the last one started a retrain
    # in the background, and the backend still answers predictions meanwhile.
    during = requests.post(backend.url + "/predict", auth=AUTH, timeout=30, json={
        "tasks": [{"id": 1, "data": {"messages": [{"role": "user", "content": "Hi"}], "completion": "Hello!"}}],
        "label_config": proj.label_config})
    assert during.status_code == 200, during.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = _status(backend.url)
        if st["retrain"].get("state") in ("done", "failed"):
            break
        time.sleep(0.5)
    assert st["retrain"].get("state") == "done", st
    assert st["retrain"]["project"] == proj.id and st["retrain"]["n_tasks"] >= 4
    new_version = st["model_version"]
    assert new_version != "checks-only" and new_version == st["retrain"]["version"]
    assert time.monotonic() - t0 < 110
    # Label Studio picks the new version up on its next /setup and fetches new predictions.
    client.actions.create(id="retrieve_tasks_predictions", project=proj.id,
                          selected_items={"all": False, "included": ids})
    preds = _predictions(client, ids)
    for tid in ids:
        latest = [p for p in preds[tid] if p.model_version == new_version]
        assert len(latest) == 1, [p.model_version for p in preds[tid]]
        p = latest[0]
        verdict = [r for r in p.result if r["from_name"] == RUBRIC.verdict.question]
        assert len(verdict) == 1 and verdict[0]["value"]["choices"][0] in VERDICTS
        assert 0.5 <= p.score <= 1.0
        validate_results(proj.label_config, p.result, what="prediction", where=f"task {tid}")
    assert client.ml.get(id=next(iter(client.ml.list(project=proj.id))).id).model_version == new_version


def test_interactive_probe_returns_the_evaluated_models_answer(label_studio, backend, tiny_lm):
    from ml_backend.probe import ask

    client = label_studio.client()
    proj = create_or_update(client, "probe", title="be probe", overlap=1)
    msgs = [{"role": "user", "content": "Summarise: the cat sat on the mat."}]
    tasks = prepare([{"data": {"messages": msgs, "completion": "cat mat", "completion_code": "cp1",
                               "prompt_id": "s1"}}], proj.label_config, CodeMap(), "mem")
    tid = push(client, proj.id, tasks).task_ids[0]
    res = CliRunner().invoke(main, ["backend", "connect", "--project", str(proj.id), "--url", backend.url])
    assert res.exit_code == 0, res.output
    ml = next(iter(client.ml.list(project=proj.id)))
    probe_text = "Write exactly two sentences about cats."
    context = {"result": [{"from_name": RUBRIC.raw["probe"]["input"], "to_name": "completion", "type": "textarea",
                           "value": {"text": [probe_text]}}]}
    raw = client.ml.with_raw_response.predict_interactive(id=ml.id, task=tid, context=context)
    body = raw.response.json()
    assert "errors" not in body, body
    result = body["data"]["result"]
    assert [r["from_name"] for r in result] == [RUBRIC.raw["probe"]["answer"]]
    got = result[0]["value"]["text"][0]
    os.environ["OMA_PROBE_MAX_TOKENS"] = "12"
    try:
        want = ask(probe_text, model=f"hf:{tiny_lm}")  # the same model, greedy, in this process
    finally:
        os.environ.pop("OMA_PROBE_MAX_TOKENS", None)
    assert got == want and got.strip()
    validate_results(proj.label_config, result, what="prediction", where="probe")
    # What a labeller can read of the interactive prediction never names the evaluated model.
    assert str(tiny_lm) not in json.dumps(body) and tiny_lm.name not in json.dumps(body)


@pytest.mark.parametrize("path, kwargs, status, needle", [
    ("/predict", {"data": "not json", "headers": {"Content-Type": "application/json"}}, 400, "JSON object"),
    ("/predict", {"json": {"tasks": "x"}}, 400, "'tasks'"),
    ("/predict", {"json": {"tasks": [{"id": 1}], "label_config": "<View/>"}}, 400, "'data'"),
    ("/predict", {"json": {"tasks": [{"data": {}}], "label_config": "<View"}}, 400, "label_config"),
    ("/webhook", {"json": {"project": {"id": 1}}}, 400, "'action'"),
    ("/webhook", {"json": {"action": "ANNOTATION_CREATED", "annotation": {"result": []}}}, 400, "project"),
    ("/setup", {"json": {"project": "1.2"}}, 400, "'schema'"),
    ("/nowhere", {"json": {}}, 404, "no such endpoint"),
])
def test_bad_requests_get_4xx_json_not_a_traceback(backend, path, kwargs, status, needle):
    r = requests.post(backend.url + path, auth=AUTH, timeout=10, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert needle in body["error"], body
    assert "Traceback" not in r.text


def test_basic_auth_is_enforced(backend):
    assert requests.get(backend.url + "/health", timeout=10).status_code == 401
    assert requests.get(backend.url + "/health", auth=(AUTH[0], "wrong"), timeout=10).status_code == 401
    assert requests.get(backend.url + "/health", auth=AUTH, timeout=10).status_code == 200
