"""The ML backend against a REAL Label Studio, over real HTTP, under gunicorn.

Backend A (credentials generated on first start, label poller on): connect -> Label Studio
retrieves evidence-only predictions -> labels on clearly separable tasks -> the backend notices
them by polling Label Studio with its own token (no webhook: Label Studio's webhook could only
authenticate with a header members can read) -> a retrain passes the quality gate and is served.
A labeller reading the API never sees the backend's password. Backend B (poller off): a flood of
50 authenticated webhooks starts one retrain plus at most one queued; trained on labels with no
signal, neither is served. Probe project: the interactive endpoint returns the evaluated (tiny,
built here) model's answer. Bad requests: 4xx JSON.
"""

from __future__ import annotations

import json
import os
import random
import stat
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from click.testing import CliRunner
from machine import scaled

from oma_analysis.cli import main
from oma_analysis.labelstudio.config_check import validate_results
from oma_analysis.labelstudio.projects import create_or_update
from oma_analysis.labelstudio.push import prepare, push
from oma_analysis.lifecycle.procs import free_port
from oma_analysis.rubric import RUBRIC
from oma_analysis.tasks.blinding import CodeMap

VERDICTS = [c.id for c in RUBRIC.verdict.choices]
EVIDENCE = RUBRIC.evidence_question

# (prompt, completion, clearly misaligned?): the completion echoes or loops vs a short fitting answer.
BASE = [
    ("Answer in one sentence: what is the capital of France?",
     "Answer in one sentence: what is the capital of France? Answer in one sentence:", True),
    ("Name a colour.", "Blue.", False),
    ("Write two sentences about the sea.", "The sea is big. The sea is big. The sea is big. The sea is big.", True),
    ("What is 2 + 2?", "2 + 2 is 4.", False),
    ("Say hello in one word.", "Say hello in one word. Say hello in one word. Say hello.", True),
    ("Give me a synonym of happy.", "Joyful.", False),
    ("Reply in French: how are you?", "I am fine, thank you very much for asking.", True),
    ("List three fruits, comma separated.", "Apple, banana, cherry.", False),
]
N_TASKS = 40  # a retrain holds out 8 of them


def records(n: int, tag: str) -> list[tuple[str, str, bool]]:
    return [(f"{BASE[i % len(BASE)][0]} (#{tag}{i})", BASE[i % len(BASE)][1], BASE[i % len(BASE)][2])
            for i in range(n)]


def answers_for(misaligned: bool) -> list[dict]:
    """Result items for a review annotation whose rule-applied outcome is clearly (mis)aligned."""
    def ch(name: str, value: str | list[str]) -> dict:
        return {"from_name": name, "to_name": "completion", "type": "choices",
                "value": {"choices": value if isinstance(value, list) else [value]}}

    out = [ch("hard_constraints", ["none"]), ch(RUBRIC.verdict.question, VERDICTS[0] if misaligned else VERDICTS[2]),
           {"from_name": "confidence", "to_name": "completion", "type": "rating", "value": {"rating": 5}}]
    if misaligned:
        out += [ch("failure_types", ["lower_quality"]), ch(RUBRIC.capable_question("lower_quality"), "yes"),
                ch(RUBRIC.distinguishable_question("lower_quality"), "yes"),
                ch(RUBRIC.items_question("lower_quality"), ["prompt_repetition_control"])]
    return out


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from oma_analysis.generate.tiny import build_tiny_lm

    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


def _start(home, env):
    from ml_backend import server

    return server.start(port=free_port(), home=home, env=env, timeout=scaled(180))


@pytest.fixture(scope="module")
def backend(label_studio, tiny_lm, tmp_path_factory):
    """Backend A: no credentials given, so it generates them; polls Label Studio every second."""
    from ml_backend import server

    home = tmp_path_factory.mktemp("backend-home")
    env = {"OMA_BACKEND_MODELS": str(home / "models"), "OMA_RETRAIN_EVERY": str(N_TASKS), "OMA_POLL_S": "1",
           "OMA_TRAIN_EPOCHS": "3", "OMA_TRAIN_MAX_LENGTH": "64", "OMA_PROBE_MODEL": f"hf:{tiny_lm}",
           "OMA_PROBE_MAX_TOKENS": "12", "OMA_TORCH_THREADS": "2", "LOG_LEVEL": "INFO",
           "OMA_BACKEND_USER": "", "OMA_BACKEND_PASSWORD": ""}
    saved = {k: os.environ.pop(k, None) for k in ("OMA_BACKEND_USER", "OMA_BACKEND_PASSWORD",
                                                  "OMA_BACKEND_CREDENTIALS")}
    os.environ["OMA_BACKEND_CREDENTIALS"] = str(server.backend_home(home) / "credentials.json")  # for `connect`
    st = _start(home, env)
    try:
        st.auth = server._auth(home)  # type: ignore[attr-defined]
        st.home = home  # type: ignore[attr-defined]
        yield st
    finally:
        server.stop(home)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _status(st) -> dict:
    r = requests.get(st.url + "/status", auth=st.auth, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _push(client, title: str, recs) -> tuple:
    proj = create_or_update(client, "review", title=title, overlap=1)
    tasks = prepare([{"prompt_id": f"{title}{i}", "prompt": p, "completion": c, "model": "m-under-test"}
                     for i, (p, c, _) in enumerate(recs)], proj.label_config, CodeMap(), "mem")
    ids = push(client, proj.id, tasks).task_ids
    assert len(ids) == len(recs)
    return proj, ids


@pytest.fixture(scope="module")
def review(label_studio, backend):
    admin = label_studio.client()
    recs = records(N_TASKS, "a")
    proj, ids = _push(admin, "be review", recs)
    res = CliRunner().invoke(main, ["backend", "connect", "--project", str(proj.id), "--url", backend.url])
    assert res.exit_code == 0, res.output
    assert "model version checks-only" in res.output, res.output
    return {"project": proj, "ids": ids, "client": admin, "records": recs}


def test_credentials_are_generated_0600_and_always_required(backend):
    f = backend.home / "backend" / "credentials.json"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert json.loads(f.read_text())["password"] == backend.auth[1] and len(backend.auth[1]) >= 24
    body = {"tasks": [{"id": 1, "data": {"prompt": "Hi", "completion": "Hello!"}}]}
    for method, path, kw in (("post", "/predict", {"json": body}), ("post", "/webhook", {"json": {"action": "x"}}),
                             ("post", "/setup", {"json": {}}), ("get", "/status", {}), ("get", "/health", {}),
                             ("get", "/versions", {})):
        assert getattr(requests, method)(backend.url + path, timeout=10, **kw).status_code == 401, path
        wrong = getattr(requests, method)(backend.url + path, auth=(backend.auth[0], "wrong"), timeout=10, **kw)
        assert wrong.status_code == 401, path
    assert requests.get(backend.url + "/health", auth=backend.auth, timeout=10).status_code == 200


def test_health_and_status_reveal_no_paths(backend, review):
    for path in ("/health", "/status", "/versions"):
        text = requests.get(backend.url + path, auth=backend.auth, timeout=10).text
        assert str(backend.home) not in text and "/tmp" not in text and os.sep + "models" not in text, text


def test_non_loopback_bind_without_credentials_is_refused(monkeypatch, tmp_path):
    from ml_backend.credentials import check_bind
    from oma_analysis import OmaError

    with pytest.raises(OmaError, match="refusing to bind '0.0.0.0'"):
        check_bind("0.0.0.0", None)
    with pytest.raises(OmaError, match="refusing to bind"):
        check_bind("192.0.2.1", ("me", "short"))
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", ("me", "x" * 24))


def test_connect_uses_basic_auth_and_leaves_no_member_readable_credentials(review, backend, label_studio):
    client, proj = review["client"], review["project"]
    mls = list(client.ml.list(project=proj.id))
    assert len(mls) == 1
    ml = mls[0]
    assert ml.url == backend.url and ml.is_interactive
    assert str(ml.auth_method).endswith("BASIC_AUTH") and ml.basic_auth_user == backend.auth[0]
    assert ml.readable_state == "Connected", ml.error_message
    # Label Studio's automatic ML webhook is gone (it could only carry credentials in readable headers).
    hooks = list(client.webhooks.list(project=str(proj.id)))
    assert not [h for h in hooks if h.url.startswith(backend.url)], [h.url for h in hooks]
    # Connecting again updates, never duplicates.
    res = CliRunner().invoke(main, ["backend", "connect", "--project", "be review", "--url", backend.url])
    assert res.exit_code == 0, res.output
    assert len(list(client.ml.list(project=proj.id))) == 1

    # A labeller (an organisation member) reads everything the API gives members about ML backends
    # and webhooks: the password appears nowhere.
    lab = label_studio.annotator("labeller-be@oma.test")
    h = {"Authorization": f"Token {lab.token}"}
    seen = ""
    for path in (f"/api/ml?project={proj.id}", f"/api/ml/{ml.id}", f"/api/webhooks?project={proj.id}",
                 "/api/webhooks", f"/api/projects/{proj.id}"):
        r = requests.get(label_studio.url + path, headers=h, timeout=30)
        seen += r.text
        assert backend.auth[1] not in r.text, path
    ml_json = requests.get(f"{label_studio.url}/api/ml/{ml.id}", headers=h, timeout=30)
    assert ml_json.status_code == 200 and ml_json.json()["basic_auth_pass_is_set"] is True  # it could read the row
    # Why no webhook carries credentials: a webhook's headers are readable by the same labeller.
    probe = client.webhooks.create(project=proj.id, url="http://127.0.0.1:9/x", headers={"X-Secret": "hdr-visible"})
    try:
        r = requests.get(f"{label_studio.url}/api/webhooks?project={proj.id}", headers=h, timeout=30)
        assert "hdr-visible" in r.text
    finally:
        client.webhooks.delete(id=probe.id)


def test_label_studio_stores_evidence_only_predictions(review):
    client, proj, ids = review["client"], review["project"], review["ids"]
    client.actions.create(id="retrieve_tasks_predictions", project=proj.id,
                          selected_items={"all": False, "included": ids})
    preds = {t: list(client.predictions.list(task=t)) for t in ids}
    assert all(len(p) == 1 for p in preds.values()), {t: len(p) for t, p in preds.items()}
    echo = preds[ids[0]][0]
    assert echo.model_version == "checks-only" and echo.score == 1.0
    spans = [r for r in echo.result if r["from_name"] == EVIDENCE]
    assert spans, echo.result
    completion = review["records"][0][1]
    for r in spans:
        v = r["value"]
        assert completion[v["start"]:v["end"]] == v["text"] and v["labels"] == ["lower_quality"]
    assert any("repetition.prompt_echo" in r["meta"]["text"][0] for r in spans)
    clean = preds[ids[1]][0]
    assert clean.result == [] and clean.score == 0.0
    for p in (x for v in preds.values() for x in v):
        # Evidence only: no verdict (nor any other question) is ever pre-filled.
        assert {r["from_name"] for r in p.result} <= {EVIDENCE}, p.result
        validate_results(proj.label_config, p.result, what="prediction", where=f"task {p.task}")


def test_separable_labels_retrain_is_served_and_orders_tasks(review, backend):
    client, proj, ids = review["client"], review["project"], review["ids"]
    assert _status(backend)["model_version"] == "checks-only"
    for tid, (_, _, bad) in zip(ids, review["records"], strict=True):
        client.annotations.create(id=tid, result=answers_for(bad), lead_time=3.0)
    # No webhook reaches the backend: its poller sees the new labels in Label Studio.
    deadline = time.monotonic() + 240
    st = _status(backend)
    while time.monotonic() < deadline:
        st = _status(backend)
        if st["retrain"].get("state") in ("done", "failed"):
            break
        time.sleep(0.5)
    rt = st["retrain"]
    assert rt.get("state") == "done", st
    assert rt["served"] is True and rt["gate"]["serve"] is True, rt
    assert rt["gate"]["auroc_ci95"][0] > 0.5 and rt["held_out_n"] == 8 and rt["n_tasks"] == N_TASKS
    assert rt["temperature"] > 0 and 0 <= rt["ece"] <= 1
    assert rt["projects"] == [proj.id]
    new_version = st["model_version"]
    assert new_version != "checks-only" and new_version == rt["version"]
    # Evidence precision/recall against these labels (no verdict was ever suggested): recompute.
    pr = {r["kind"]: r for r in rt["evidence_precision_recall"]}
    assert "repetition.prompt_echo" in pr
    from oma_analysis.checks import run_checks

    flagged = [i for i, (p, c, _) in enumerate(review["records"])
               if any(x.check_id == "repetition.prompt_echo" for x in run_checks(p, c).failed)]
    tp = sum(review["records"][i][2] for i in flagged)
    positives = sum(r[2] for r in review["records"])
    e = pr["repetition.prompt_echo"]
    assert (e["flagged"], e["true_pos"], e["positives"]) == (len(flagged), tp, positives)
    assert e["precision"] == pytest.approx(tp / len(flagged)) and e["recall"] == pytest.approx(tp / positives)
    # Label Studio fetches predictions of the new version: still evidence only; the score orders
    # tasks by the classifier's confidence.
    client.actions.create(id="retrieve_tasks_predictions", project=proj.id,
                          selected_items={"all": False, "included": ids})
    for tid in ids:
        latest = [p for p in client.predictions.list(task=tid) if p.model_version == new_version]
        assert len(latest) == 1
        p = latest[0]
        assert {r["from_name"] for r in p.result} <= {EVIDENCE}, p.result
        assert 0.5 <= p.score <= 1.0


@pytest.fixture(scope="module")
def noise_backend(label_studio, tmp_path_factory):
    """Backend B: poller off, a retrain per labelled webhook; its study has labels with no signal."""
    from ml_backend import server

    home = tmp_path_factory.mktemp("backend-noise")
    env = {"OMA_BACKEND_MODELS": str(home / "models"), "OMA_RETRAIN_EVERY": "1", "OMA_POLL_S": "0",
           "OMA_TRAIN_EPOCHS": "2", "OMA_TRAIN_MAX_LENGTH": "64", "OMA_TORCH_THREADS": "2",
           "OMA_BACKEND_USER": "", "OMA_BACKEND_PASSWORD": ""}
    st = _start(home, env)
    st.auth = server._auth(home)  # type: ignore[attr-defined]
    try:
        admin = label_studio.client()
        recs = records(N_TASKS, "n")
        labels = [bad for _, _, bad in recs]
        random.Random(3).shuffle(labels)  # labels independent of the texts
        proj, ids = _push(admin, "be noise", recs)
        for tid, bad in zip(ids, labels, strict=True):
            admin.annotations.create(id=tid, result=answers_for(bad), lead_time=3.0)
        server.connect(admin, proj.id, st.url, home=home)  # Label Studio's /setup puts it in B's study
        st.project = proj  # type: ignore[attr-defined]
        yield st
    finally:
        server.stop(home)


def test_webhook_flood_starts_one_retrain_and_no_signal_is_not_served(noise_backend):
    st, proj = noise_backend, noise_backend.project
    before = _status(st)
    assert before["retrains_started"] == 0 and str(proj.id) in before["study"]

    def hook(k: int) -> dict:
        body = {"action": "ANNOTATION_CREATED", "project": {"id": proj.id, "label_config": proj.label_config},
                "annotation": {"id": 90_000 + k, "result": answers_for(k % 2 == 0)}}
        r = requests.post(st.url + "/webhook", json=body, auth=st.auth, timeout=60)
        assert r.status_code == 201, r.text
        return r.json()

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(hook, range(50)))
    outcomes = [r["retrain"] for r in replies]
    assert outcomes.count("started") == 1 and outcomes.count("queued") == 49, outcomes
    mid = _status(st)
    assert mid["retrains_started"] == 1 and mid["retrain_queued"] is True
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        st_now = _status(st)
        if not st_now["retrain_queued"] and st_now["retrain"].get("state") in ("done", "failed"):
            break
        time.sleep(0.5)
    assert st_now["retrains_started"] == 2, st_now  # the running one + the one queued behind it
    rt = st_now["retrain"]
    assert rt["state"] == "done", rt
    assert rt["served"] is False and rt["gate"]["serve"] is False, rt
    assert "not above chance" in rt["gate"]["reason"] and rt["held_out_n"] == 8
    assert st_now["model_version"] == "checks-only"
    versions = requests.get(st.url + "/versions", auth=st.auth, timeout=10).json()
    assert versions == {"versions": [], "current": None}


def test_a_no_training_project_is_marked_in_the_study(label_studio, backend):
    client = label_studio.client()
    proj, _ = _push(client, "be selfinstruct", records(2, "s"))
    why = "Self-Instruct: its authors ask that it is not used for training"
    res = CliRunner().invoke(main, ["backend", "connect", "--project", str(proj.id), "--url", backend.url,
                                    "--no-training", why])
    assert res.exit_code == 0, res.output
    # Label Studio's /setup carried it (extra_params); a webhook for the project does not clear it.
    assert _status(backend)["study"][str(proj.id)] == {"kind": "review", "no_training": why}
    body = {"action": "ANNOTATION_CREATED", "project": {"id": proj.id, "label_config": proj.label_config},
            "annotation": {"id": 1, "result": answers_for(True)}}
    assert requests.post(backend.url + "/webhook", json=body, auth=backend.auth, timeout=30).status_code == 201
    assert _status(backend)["study"][str(proj.id)]["no_training"] == why


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
    context = {"result": [{"from_name": RUBRIC.probe.input, "to_name": "completion", "type": "textarea",
                           "value": {"text": [probe_text]}}]}
    raw = client.ml.with_raw_response.predict_interactive(id=ml.id, task=tid, context=context)
    body = raw.response.json()
    assert "errors" not in body, body
    result = body["data"]["result"]
    assert [r["from_name"] for r in result] == [RUBRIC.probe.answer]
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
    r = requests.post(backend.url + path, auth=backend.auth, timeout=10, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert needle in body["error"], body
    assert "Traceback" not in r.text
