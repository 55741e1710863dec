"""Backend pieces that need no server: training data from an export (``oma train --export``'s
function), the self-classification probe on a tiny GPT-2 built here, and config parsing."""

from __future__ import annotations

import json
import os
import time

import pytest
from click.testing import CliRunner
from machine import scaled

from ml_backend.spec import BadPayload, parse_spec
from oma_analysis import OmaError
from oma_analysis.classifier.export import task_texts, train_from_export, training_frame
from oma_analysis.cli import main
from oma_analysis.locations import backend_python
from oma_analysis.rubric import RUBRIC
from oma_analysis.rubric.xml import render

WORST, MIDDLE, BEST = (c.id for c in RUBRIC.verdict.choices)


def _ch(name: str, value) -> dict:
    return {"from_name": name, "to_name": "completion", "type": "choices",
            "value": {"choices": value if isinstance(value, list) else [value]}}


def annotation(verdict: str, capable: str = "yes") -> list[dict]:
    out = [_ch("hard_constraints", ["none"]), _ch(RUBRIC.verdict.question, verdict)]
    if verdict != BEST:
        out += [_ch("failure_types", ["lower_quality"]), _ch(RUBRIC.capable_question("lower_quality"), capable),
                _ch(RUBRIC.distinguishable_question("lower_quality"), "yes"),
                _ch(RUBRIC.items_question("lower_quality"), ["prompt_repetition_control"])]
    return out


# task id -> (prompt, completion, [rule outcome per annotator]); the expected aggregate below.
TASKS = {
    1: ("Name a colour.", "Name a colour. Name a colour.", [WORST, WORST, BEST]),  # majority not met
    2: ("What is 2 + 2?", "4.", [BEST, BEST]),  # met
    3: ("Say hi.", "hi hi hi", [MIDDLE]),  # only ambiguous: left out
    4: ("Say bye.", "bye", [WORST, BEST]),  # tie: left out
    5: ("Name a fish.", "A trout.", [BEST]),
    6: ("Name a bird.", "Name a bird. Name a bird.", [WORST]),
}
EXPECTED = {"1": 1, "2": 0, "5": 0, "6": 1}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    tasks, ann_id = [], 0
    for tid, (prompt, comp, outcomes) in TASKS.items():
        anns = []
        for k, outcome in enumerate(outcomes):
            ann_id += 1
            res = annotation(WORST if outcome == MIDDLE else outcome, capable="unsure" if outcome == MIDDLE else "yes")
            anns.append({"id": ann_id, "completed_by": {"id": 10 + k, "email": f"a{k}@oma.test"}, "result": res,
                         "was_cancelled": False, "ground_truth": False, "lead_time": 2.0,
                         "created_at": "2026-01-01T00:00:00Z"})
        tasks.append({"id": tid, "data": {"messages": [{"role": "system", "content": "Be brief."},
                                                       {"role": "user", "content": prompt}],
                                          "completion": comp, "completion_code": f"c{tid}", "prompt_id": f"p{tid}"},
                      "annotations": anns, "predictions": []})
    path = tmp_path_factory.mktemp("export") / "export.json"
    path.write_text(json.dumps(tasks))
    return path


def test_training_frame_aggregates_rule_outcomes_per_task(export):
    df = training_frame(export)
    assert dict(zip(df["task"], df["label"], strict=True)) == EXPECTED
    row = df.set_index("task").loc["1"]
    assert row["text_a"] == "Name a colour." and row["text_b"] == TASKS[1][1]  # last user turn, not system
    assert int(row["n_votes"]) == 3
    texts = task_texts(export)
    assert len(texts) == len(TASKS)


def test_train_from_export_publishes_a_version(export, tmp_path):
    from oma_analysis.classifier import IntentClassifier

    res = train_from_export(export, tmp_path / "models", epochs=1, max_length=64, gate=False)
    assert (tmp_path / "models" / "current").read_text().strip() == res.path.name
    assert res.card["label_counts"]["all"] == {"met": 2, "not_met": 2}
    clf = IntentClassifier.load(tmp_path / "models", quantize=True)
    p = clf.predict([("Name a colour.", "Blue."), ("Say hi.", "hi")])
    assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all()


def test_training_frame_refuses_export_without_clear_labels(tmp_path):
    path = tmp_path / "e.json"
    path.write_text(json.dumps([{"id": 1, "data": {"messages": [{"role": "user", "content": "x"}],
                                                   "completion": "y"}, "annotations": []}]))
    with pytest.raises(OmaError, match="no task with a clear majority"):
        training_frame(path)


def test_selfprobe_on_tiny_gpt2(tmp_path):
    from oma_analysis.generate.records import Completion, write_completions
    from oma_analysis.generate.tiny import build_tiny_lm

    lm = build_tiny_lm(tmp_path / "lm")
    good = [("Name a colour.", "Blue."), ("What is the capital of France?", "Paris."),
            ("Say yes.", "The answer is yes."), ("Name a sea animal.", "A fish.")] * 3
    rows = [{"prompt": p, "completion": c, "label": "met"} for p, c in good]
    rows += [{"prompt": p, "completion": "the the the the the the the the", "label": "not_met"} for p, _ in good]
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    own = [Completion.make(prompt_id=f"o{i}", messages=[{"role": "user", "content": q}], model="tiny",
                           variant="chat", text=t)
           for i, (q, t) in enumerate([("Name a colour.", "the the the the the the the"), ("Say yes.", "Yes."),
                                       ("Name a fruit.", "the the the the the the")])]
    comps = tmp_path / "own.jsonl"
    write_completions(own, comps)
    res = CliRunner().invoke(main, ["selfprobe", "--model", f"hf:{lm}", "--data", str(data), "--completions",
                                    str(comps), "--epochs", "10", "--learning-rate", "1e-3", "--max-length", "64",
                                    "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads([ln for ln in res.output.splitlines() if ln.startswith("{")][-1])
    assert rep["n_train"] + rep["n_held_out"] == len(rows) and rep["n_held_out"] > 0
    assert rep["n_classified"] == 3 and rep["source"] == "own completions"
    assert rep["not_met_rate"] == pytest.approx(rep["not_met"] / 3, abs=1e-4)
    # The cue is trivial: the tuned model must learn it (held-out rows and its own looping outputs).
    assert rep["held_out_accuracy"] == 1.0 and rep["not_met"] == 2
    lo, hi = rep["not_met_ci95"]
    assert lo <= rep["not_met_rate"] <= hi


def test_selfprobe_needs_weights_and_both_labels(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "b", "label": "met"}) + "\n")
    res = CliRunner().invoke(main, ["selfprobe", "--model", "openai:http://x/v1#m", "--data", str(data)])
    assert res.exit_code == 2 and "hf:PATH" in res.output
    res = CliRunner().invoke(main, ["selfprobe", "--model", "hf:/nonexistent", "--data", str(data)])
    assert res.exit_code == 2 and "both labels" in res.output


def test_spec_is_parsed_from_the_config_not_hard_coded():
    review = render("review")
    s = parse_spec(review)
    assert s.evidence_labels == {c.id for c in RUBRIC.question(RUBRIC.evidence_question).offered_choices}
    assert s.verdict_choices == (WORST, MIDDLE, BEST)
    # Renaming the Text object and its data field is followed, not assumed.
    renamed = review.replace('name="completion"', 'name="answer_text"').replace('toName="completion"',
                                                                               'toName="answer_text"')
    renamed = renamed.replace('value="$completion"', 'value="$output"')
    s2 = parse_spec(renamed)
    assert (s2.text_to_name, s2.text_key, s2.verdict_to_name) == ("answer_text", "output", "answer_text")
    assert parse_spec(render("compare")).kind == "other"
    with pytest.raises(BadPayload, match="well-formed"):
        parse_spec("<View><Text")


def test_train_cli_from_export(export, tmp_path):
    from click.testing import CliRunner

    from oma_analysis.cli import main

    out = tmp_path / "models"
    # The gate is on by default: one held-out row cannot show anything, so nothing is served.
    res = CliRunner().invoke(main, ["train", "--export", str(export), "--out", str(out), "--epochs", "1",
                                    "--max-length", "64"])
    assert res.exit_code == 0, res.output
    assert not (out / "current").exists() and "not served (held-out rows (1) have one class only" in res.output
    res = CliRunner().invoke(main, ["train", "--export", str(export), "--out", str(out), "--epochs", "1",
                                    "--max-length", "64", "--no-gate"])
    assert res.exit_code == 0, res.output
    assert (out / "current").exists() and "auroc=" in res.output
    both = CliRunner().invoke(main, ["train", "--export", str(export), "--data", str(export), "--out", str(out)])
    assert both.exit_code == 2 and "exactly one of" in both.output


def test_no_training_data_is_refused(tmp_path, monkeypatch):
    data = tmp_path / "si.jsonl"
    rows = [{"prompt": f"p{i}", "completion": "c", "label": i % 2, "source": "self-instruct"} for i in range(8)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(main, ["train", "--data", str(data), "--out", str(tmp_path / "m"), "--no-gate"])
    assert res.exit_code == 2 and "must not be trained on" in res.output and "Self-Instruct" in res.output
    assert not (tmp_path / "m").exists()
    # The backend: a study whose only project is marked no-training refuses, naming why.
    from ml_backend import training

    monkeypatch.setenv("OMA_BACKEND_MODELS", str(tmp_path / "models"))
    training.join_study(7, "review", {training.NO_TRAINING_KEY: "Self-Instruct: do not train"})
    with pytest.raises(OmaError, match=r"nothing in the study may be trained on \(project 7: Self-Instruct"):
        training.retrain()


def test_one_retrain_runs_and_at_most_one_is_queued(tmp_path, monkeypatch):
    """Real threads and file locks; the retrain itself is replaced by one that waits on an event."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from ml_backend import training

    monkeypatch.setenv("OMA_BACKEND_MODELS", str(tmp_path / "models"))
    release, running, runs = threading.Event(), threading.Semaphore(0), []

    def fake_retrain() -> dict:
        runs.append(threading.get_ident())
        running.release()
        assert release.wait(60)
        return {"served": False}

    monkeypatch.setattr(training, "retrain", fake_retrain)
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda _: training.request_retrain(), range(50)))
    assert got.count("started") == 1 and got.count("queued") == 49
    assert running.acquire(timeout=30)
    st = training.public_status()
    assert st["retrains_started"] == 1 and st["retrain_queued"] and st["retrain"]["state"] == "running"
    release.set()
    assert running.acquire(timeout=30)  # the queued one
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and training.status().get("state") != "done":
        time.sleep(0.05)
    st = training.public_status()
    assert len(runs) == 2 and st["retrains_started"] == 2 and not st["retrain_queued"]
    assert st["retrain"]["state"] == "done" and "pid" not in st["retrain"]
    for t in threading.enumerate():  # the retrain thread releases the lock as it ends
        if t.name == "oma-retrain":
            t.join(30)
    assert training.request_retrain() == "started"  # the lock was released
    assert running.acquire(timeout=30)


def test_credentials_generated_once_0600(tmp_path, monkeypatch):
    import stat
    from concurrent.futures import ThreadPoolExecutor

    from ml_backend.credentials import load_or_create

    monkeypatch.delenv("OMA_BACKEND_USER", raising=False)
    monkeypatch.delenv("OMA_BACKEND_PASSWORD", raising=False)
    path = tmp_path / "backend" / "credentials.json"
    with ThreadPoolExecutor(8) as pool:
        pairs = set(pool.map(lambda _: load_or_create(path), range(16)))
    assert len(pairs) == 1 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(next(iter(pairs))[1]) >= 24


def test_chat_framing_renders_through_transformers_apply_chat_template(tmp_path):
    """A template using a global only transformers' renderer provides (strftime_now)."""
    import datetime

    from transformers import AutoTokenizer

    from oma_analysis.generate.framing import chat_text
    from oma_analysis.generate.tiny import build_tiny_lm

    tok = AutoTokenizer.from_pretrained(build_tiny_lm(tmp_path / "lm", chat_template=True))
    tok.chat_template = ("[{{ strftime_now('%Y') }}]{% for m in messages %}<|{{ m.role }}|>{{ m.content }}"
                         "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
    msgs = [{"role": "user", "content": "Hi"}]
    text, stops = chat_text(msgs, tok)
    assert text == tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    year = datetime.datetime.now().year
    assert text in (f"[{year}]<|user|>Hi<|assistant|>", f"[{year + 1}]<|user|>Hi<|assistant|>") and stops == ()


def test_gunicorn_refuses_non_loopback_bind_with_weak_credentials(tmp_path):
    import subprocess

    env = {**os.environ, "OMA_HOME": str(tmp_path), "OMA_BACKEND_USER": "me", "OMA_BACKEND_PASSWORD": "short",
           "OMA_BACKEND_MODELS": str(tmp_path / "models"), "OMA_POLL_S": "0"}
    r = subprocess.run([str(backend_python()), "-m", "gunicorn", "-c", "python:ml_backend.gunicorn_conf", "--bind",
                        "0.0.0.0:0", "ml_backend._wsgi:app"], env=env, capture_output=True, text=True,
                       timeout=scaled(120))
    assert r.returncode != 0 and "refusing to bind '0.0.0.0'" in r.stderr, r.stderr[-2000:]
