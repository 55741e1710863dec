"""Prompts -> tiny local LM under every variant -> review and compare tasks -> a REAL Label
Studio; nothing pushed names the model (issue 5's done-when, through the CLI as a user runs it)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from oma_analysis.cli import main
from oma_analysis.generate.tiny import build_tiny_lm
from oma_analysis.tasks.blinding import CodeMap

MODEL_NAME = "tiny-secret-lm"
VARIANTS = ["chat", "completion", "temp:0", "temp:0.7", "temp:1.0"]


def run(*args: str) -> str:
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def test_generate_build_push_is_blind(label_studio, tmp_path):
    model_dir = build_tiny_lm(tmp_path / "lm")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(run("prompts", "sample", "--seed", "7", "--n", "3"))
    comps = tmp_path / "completions.jsonl"
    run("generate", str(prompts), "--model", f"hf:{model_dir}", "--out", str(comps), "--variants", ",".join(VARIANTS),
        "--max-new-tokens", "12", "--model-name", MODEL_NAME, "--seed", "1")
    records = [json.loads(line) for line in comps.read_text().splitlines()]
    assert len(records) == 3 * len(VARIANTS)
    assert {r["variant"] for r in records} == set(VARIANTS)

    pushed = {}
    for kind in ("review", "compare"):
        out, cm = tmp_path / f"{kind}.jsonl", tmp_path / f"{kind}.codemap.json"
        run("tasks", "build", str(comps), "--kind", kind, "--out", str(out), "--codemap", str(cm), "--seed", "3")
        run("project", "create", "--kind", kind, "--title", f"pipeline {kind}")
        text = run("tasks", "push", str(out), "--project", f"pipeline {kind}", "--codemap", str(cm))
        n = sum(1 for _ in out.open())
        assert f"{n} tasks created" in text
        assert MODEL_NAME in json.dumps(dict(CodeMap.load(cm)))  # the map knows the model ...
        export = tmp_path / f"{kind}-export.json"
        run("pull", "--project", f"pipeline {kind}", "--out", str(export))
        pushed[kind] = json.loads(export.read_text())
        assert len(pushed[kind]) == n
    # ... and nothing Label Studio holds does: not the model, not its path, not a variant value.
    raw = json.dumps(pushed)
    assert MODEL_NAME not in raw and str(model_dir) not in raw and "temp:0.7" not in raw
    for task in pushed["review"]:
        assert set(task["data"]) <= {"messages", "completion", "completion_code", "prompt_id", "task_key", "gold"}
    for task in pushed["compare"]:
        assert {"left", "right", "left_code", "right_code"} <= set(task["data"])
