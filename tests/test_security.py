"""Security and blinding against the REAL session Label Studio.

* An annotator (signed up through the invite link, not admin) reads everything the API lets it
  read: nothing names a model, a variant or a generation parameter.
* Secret test prompts are refused by `oma tasks push` before their run and never reach Label Studio.
* Tokens, passwords and API keys in the environment never appear in CLI output, the Label Studio
  log, exports or the report directory.
* Predictions and annotations that don't fit the config are refused before import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from machine import scaled

from oma_analysis import OmaError
from oma_analysis.labelstudio.push import prepare
from oma_analysis.prompts.records import core_prompts
from oma_analysis.prompts.secret import split_records
from oma_analysis.tasks.blinding import CodeMap

MODELS = ["zephyr-secret-13b", "quokka-7b-instruct"]
VARIANT = "sysprompt-pirate"
SECRETS_ENV = {  # API keys a real run has in its environment; none may leak anywhere
    "OPENAI_API_KEY": "sk-omatest-5f1c9e2a7b3d4e6f8a0b1c2d3e4f5a6b",
    "HF_TOKEN": "hf_omatestQWERTYUIOPASDFGHJKLZXCVBNM12",
    "OMA_BACKEND_PASSWORD": "backend-pw-6d2f1a9c44e0",
    "OMA_SPLIT_KEY": "split-key-0f3e7c1b9a2d4c6e8f",
}
SPLIT_KEY = SECRETS_ENV["OMA_SPLIT_KEY"].encode()
TITLE = "sec review"


def oma(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """A real `oma` process; stdout and stderr captured for the leak scan."""
    return subprocess.run([sys.executable, "-m", "oma_analysis", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=scaled(300))


@pytest.fixture(scope="module")
def run(label_studio, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("security")
    env = {**os.environ, **SECRETS_ENV, "OMA_HOME": str(label_studio.home), "OMA_LS_URL": label_studio.url,
           "OMA_LS_TOKEN": label_studio.token}
    env.pop("OMA_TEST_RUN", None)
    split = split_records(core_prompts(), SPLIT_KEY, 0.3)
    assert split.test and split.dev
    dev = split.dev[:6]
    comps = [{"prompt_id": p.id, "messages": p.messages, "completion": f"Answer {i} to {p.id}.",
              "model": MODELS[i % 2], "variant": VARIANT, "temperature": 0.8765, **{"split": p.split}}
             for i, p in enumerate(dev)]
    src = tmp / "completions.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in comps))
    # Built tasks with a prediction (as the ML backend / `oma tasks build` would give them).
    pred_src = tmp / "with_predictions.jsonl"
    pred_src.write_text(json.dumps({
        "data": {"messages": [{"role": "user", "content": "Say hi in French."}], "completion": "Bonjour!",
                 "completion_code": "cpred0001", "prompt_id": "pp1"},
        "predictions": [{"model_version": "oma-checks-v1", "score": 0.9, "result": [
            {"from_name": "verdict", "to_name": "completion", "type": "choices",
             "value": {"choices": ["clearly_aligned"]}}]}]}) + "\n")
    outputs: list[subprocess.CompletedProcess] = []
    outputs.append(oma(["project", "create", "--kind", "review", "--title", TITLE], env, tmp))
    outputs.append(oma(["tasks", "push", str(src), "--project", TITLE], env, tmp))
    outputs.append(oma(["tasks", "push", str(pred_src), "--project", TITLE], env, tmp))
    for r in outputs:
        assert r.returncode == 0, r.stderr[-2000:]
    # Test prompts (split "test", with their canary) before their run: refused, nothing sent.
    test_recs = [{"prompt_id": p.id, "messages": p.messages, "completion": "x", "model": MODELS[0],
                  "split": p.split, "canary": p.canary} for p in split.test[:3]]
    test_src = tmp / "test_completions.jsonl"
    test_src.write_text("".join(json.dumps(c) + "\n" for c in test_recs))
    refused = oma(["tasks", "push", str(test_src), "--project", TITLE], env, tmp)
    outputs.append(refused)

    admin = label_studio.client()
    proj = next(p for p in admin.projects.list() if p.title == TITLE)
    tasks = list(admin.tasks.list(project=proj.id))
    ann = label_studio.annotator("sec.annotator@oma.test")
    ann_client = ann.client(label_studio.url)
    second = label_studio.annotator("sec.second@oma.test").client(label_studio.url)
    for i, t in enumerate(tasks):
        for c, v in ((ann_client, "ambiguous"), (second, ["clearly_aligned", "clearly_misaligned"][i % 2])):
            c.annotations.create(id=t.id, lead_time=3.0, result=[
                {"from_name": "verdict", "to_name": "completion", "type": "choices", "value": {"choices": [v]}}])
    export = tmp / "export.json"
    outputs.append(oma(["pull", "--project", TITLE, "--out", str(export)], env, tmp))
    codemap = tmp / "completions.jsonl.codemap.json"
    outputs.append(oma(["load", str(export), "--codemap", str(codemap), "--out", str(tmp / "frame.parquet")],
                       env, tmp))
    report_dir = tmp / "report"
    outputs.append(oma(["report", str(export), "--codemap", str(codemap), "--out", str(report_dir), "--quiet"],
                       env, tmp))
    outputs.append(oma(["ls", "status"], env, tmp))
    # A wrong token: the failure must not echo it either.
    bad_env = {**env, "OMA_LS_TOKEN": "0badc0de" * 5}
    outputs.append(oma(["pull", "--project", TITLE, "--out", str(tmp / "x.json")], bad_env, tmp))
    return {"proj": proj, "tasks": tasks, "annotator": ann, "outputs": outputs, "refused": refused,
            "export": export, "report": report_dir, "tmp": tmp, "split": split, "codemap": codemap,
            "bad_token": bad_env["OMA_LS_TOKEN"]}


def forbidden_words(codemap: Path) -> list[str]:
    codes = CodeMap.load(codemap)
    assert codes.model_names() == set(MODELS)
    return [*MODELS, "zephyr", "quokka", VARIANT, "0.8765"]  # "temperature" itself is rubric text


def test_annotator_sees_no_model_anywhere(run, label_studio):
    pid = run["proj"].id
    tids = [t.id for t in run["tasks"]]
    ann = run["annotator"]
    me = httpx.get(f"{label_studio.url}/api/current-user/whoami", headers={"Authorization": f"Token {ann.token}"})
    assert me.status_code == 200 and me.json()["email"] == "sec.annotator@oma.test"
    endpoints = ["/api/projects/", f"/api/projects/{pid}/", f"/api/tasks/?project={pid}&page_size=1000",
                 f"/api/projects/{pid}/next/", "/api/users/", "/api/current-user/whoami",
                 f"/api/projects/{pid}/export?exportType=JSON", f"/api/projects/{pid}/exports/",
                 f"/api/ml/?project={pid}", f"/api/dm/views/?project={pid}", f"/api/projects/{pid}/members/",
                 "/api/organizations/"]
    for tid in tids:
        endpoints += [f"/api/tasks/{tid}/", f"/api/tasks/{tid}/annotations/", f"/api/predictions/?task={tid}"]
    seen: dict[str, int] = {}
    blob = []
    with httpx.Client(base_url=label_studio.url, headers={"Authorization": f"Token {ann.token}"},
                      timeout=60) as http:
        for ep in endpoints:
            r = http.get(ep)
            seen[ep] = r.status_code
            blob.append(r.text)
    # The annotator can read the project and its tasks (else this test would prove nothing).
    assert seen[f"/api/projects/{pid}/"] == 200 and seen[f"/api/tasks/?project={pid}&page_size=1000"] == 200
    assert all(seen[f"/api/tasks/{t}/"] == 200 for t in tids)
    text = "\n".join(blob).lower()
    for t in run["tasks"]:
        assert t.data["completion"].lower() in text  # the task data really was read
    assert "oma-checks-v1" in text  # and so were the predictions
    for word in forbidden_words(run["codemap"]):
        assert word.lower() not in text, f"annotator can read {word!r} through the API"
    print(f"\nannotator read {len(endpoints)} endpoints: " + ", ".join(f"{k} {v}" for k, v in sorted(seen.items())
                                                                      if not k.startswith("/api/tasks/")))


def test_secret_test_prompts_never_reach_label_studio(run, label_studio):
    r = run["refused"]
    assert r.returncode == 2 and "secret test prompt" in r.stderr and "OMA_TEST_RUN" in r.stderr, r.stderr
    admin = label_studio.client()
    raw = json.dumps([t.data for t in admin.tasks.list(project=run["proj"].id)])
    raw += run["export"].read_text()
    for p in run["split"].test:
        assert p.id not in raw and p.canary not in raw
    assert "OMA-CANARY-" not in raw
    # A canary hidden in the text of an ordinary record is caught too; with the run started it passes.
    p = run["split"].test[0]
    rec = {"prompt_id": "innocent", "messages": [{"role": "user", "content": f"hi {p.canary}"}],
           "completion": "x", "model": "m-x"}
    with pytest.raises(OmaError, match="secret test prompt"):
        prepare([rec], run["proj"].label_config, CodeMap(), "t.jsonl")
    assert prepare([rec], run["proj"].label_config, CodeMap(), "t.jsonl", allow_test_prompts=True)


def test_no_token_or_key_in_logs_exports_or_reports(run, label_studio):
    from oma_analysis.labelstudio.server import ServerState, load_credentials

    creds = load_credentials(label_studio.home)
    ann = run["annotator"]
    secrets = {"admin token": creds.token, "admin password": creds.password, "django secret": creds.secret_key,
               "annotator token": ann.token, "annotator password": "oma-test-pass-1",
               "wrong token": run["bad_token"], **SECRETS_ENV}
    assert run["outputs"][-1].returncode == 2  # the wrong-token pull failed (and is scanned below)
    report_files = [p for p in run["report"].rglob("*") if p.is_file()]
    assert run["outputs"][-3].returncode == 0 and report_files, run["outputs"][-3].stderr[-2000:]  # oma report
    state = ServerState.load(label_studio.home)
    logs = [Path(state.log)] + list(Path(state.data_dir).glob("*.log"))
    assert logs[0].exists()
    places: dict[str, str] = {}
    for i, r in enumerate(run["outputs"]):
        places[f"command {i} ({' '.join(r.args[3:5])})"] = r.stdout + r.stderr
    for p in [*logs, run["export"], run["tmp"] / "frame.parquet", *report_files,
              label_studio.home / "ls.json", run["codemap"]]:
        places[str(p)] = p.read_bytes().decode("utf-8", errors="replace")
    for where, text in places.items():
        for what, secret in secrets.items():
            assert secret not in text, f"{what} leaked into {where}"
    print(f"\nscanned {len(places)} outputs/files ({sum(len(t) for t in places.values())} chars) for "
          f"{len(secrets)} secrets: none found")


@pytest.mark.parametrize("bad, field", [
    ({"predictions": [{"result": [{"from_name": "verdict", "to_name": "completion", "type": "choices",
                                   "value": {"choices": ["clearly_aligned", "ambiguous"]}}]}]}, "single-choice"),
    ({"predictions": [{"result": [{"from_name": "confidence", "to_name": "completion", "type": "rating",
                                   "value": {"rating": 9}}]}]}, "does not validate"),
    ({"predictions": [{"result": "verdict"}]}, "result must be a list"),
    ({"predictions": [{"result": ["verdict"]}]}, r"result\[0\] must be an object"),
    ({"predictions": [{"result": [{"from_name": "verdict", "to_name": "completion", "type": "choices",
                                   "value": {"choices": "ambiguous"}}]}]}, r"value\.choices must be a list"),
    ({"predictions": ["not an object"]}, "'predictions' must be a list of objects"),
    ({"annotations": [{"result": [{"from_name": "evidence", "to_name": "completion", "type": "labels",
                                   "value": {"start": 0, "end": 2, "labels": ["no_such_failure"]}}]}]},
     r"value\.labels"),
    ({"predictions": [{"model_version": "quokka-7b-instruct", "result": []}]}, "would reveal model"),
])
def test_invalid_predictions_and_annotations_refused_before_import(run, label_studio, bad, field):
    admin = label_studio.client()
    before = len(list(admin.tasks.list(project=run["proj"].id)))
    rec = {"data": {"messages": [{"role": "user", "content": "q"}], "completion": "a", "completion_code": "cbad0001",
                    "prompt_id": "pbad"}, **bad}
    path = run["tmp"] / "bad.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    with pytest.raises(OmaError, match=field):
        prepare([rec], run["proj"].label_config, CodeMap.load(run["codemap"]), str(path))
    env = {**os.environ, "OMA_HOME": str(label_studio.home), "OMA_LS_URL": label_studio.url,
           "OMA_LS_TOKEN": label_studio.token}
    r = oma(["tasks", "push", str(path), "--project", TITLE, "--codemap", str(run["codemap"])], env, run["tmp"])
    assert r.returncode == 2 and r.stderr.startswith("oma: error: ") and str(path) in r.stderr, r.stderr
    assert len(list(admin.tasks.list(project=run["proj"].id))) == before
