"""`oma run SPEC.yaml`: validated before any work (exit 2 naming the field), resumable, and the same
spec + seed reproduce prompts, greedy completions and task keys. The reproducibility run uses a
tiny GPT-2 built here (a real transformers model, seconds on CPU); the real local models run through
the same generator in tests/test_real_models.py and tests/test_auto.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from oma_analysis.cli import main
from oma_analysis.generate.records import read_completions
from oma_analysis.generate.tiny import build_tiny_lm


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_lm(tmp_path_factory.mktemp("tiny") / "lm", chat_template=True)


def _spec(tmp_path: Path, out: str, **over) -> Path:
    s = {"name": "t", "seed": 5, "out": out, "models": ["local:smollm2-135m-instruct"],
         "prompts": [{"core": {"n": 3}}, {"templated": {"n": 2}}], "variants": ["chat+temp:0", "completion+temp:0"],
         "generation": {"max_new_tokens": 8}, "tasks": {"kinds": ["review", "compare"]}}
    s.update(over)
    p = tmp_path / f"{out}.yaml"
    p.write_text(yaml.safe_dump(s))
    return p


def _run(spec: Path):
    return CliRunner().invoke(main, ["run", str(spec)])


@pytest.mark.parametrize("over, field", [
    ({"models": ["local:smollm2-135m-instruct", "local:no-such-model"]}, "models[1]"),
    ({"models": ["hf:/nonexistent/model"]}, "models[0]"),
    ({"prompts": [{"core": {}}, {"wikipedia": {"n": 3}}]}, "prompts[1]"),
    ({"variants": ["chat", "sideways+temp:0"]}, "variants[1]"),
    ({"variants": ["temp:9"]}, "variants[0]"),
    ({"generation": {"max_tokens": 3}}, "generation.max_tokens"),
])
def test_bad_spec_exits_2_naming_the_field_before_any_work(tmp_path, over, field):
    spec = _spec(tmp_path, "bad", **over)
    res = _run(spec)
    assert res.exit_code == 2, res.output
    assert f"field '{field}'" in res.output and str(spec) in res.output
    assert not (tmp_path / "bad").exists()  # nothing generated, no run folder made


def test_same_spec_and_seed_reproduce_and_reruns_resume(tmp_path, tiny):
    a = _spec(tmp_path, "a", models=[f"hf:{tiny}"])
    b = _spec(tmp_path, "b", models=[f"hf:{tiny}"])
    res = _run(a)
    assert res.exit_code == 0, res.output
    ma = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert _run(b).exit_code == 0
    mb = json.loads((tmp_path / "b" / "manifest.json").read_text())
    ca, cb = (read_completions(tmp_path / d / "completions.jsonl") for d in "ab")
    assert len(ca) == 5 * 2 and ma["n_completions"] == 10
    assert ma["prompt_ids"] == mb["prompt_ids"] and ma["prompt_set_hash"] == mb["prompt_set_hash"]
    assert {c.key: c.text for c in ca} == {c.key: c.text for c in cb}  # greedy: same text
    for kind in ("review", "compare"):
        assert ma["tasks"][kind]["task_keys"] == mb["tasks"][kind]["task_keys"]
        assert ma["tasks"][kind]["n"] > 0
    assert ma["completion_keys_sha256"] == mb["completion_keys_sha256"]
    # the manifest carries hashes and versions
    assert ma["spec_sha256"] == mb["spec_sha256"] or ma["spec"]["out"] != mb["spec"]["out"]
    assert ma["versions"]["transformers"] and ma["versions"]["oma"]
    assert set(ma["files_sha256"]) >= {"prompts.jsonl", "completions.jsonl", "checks.csv", "auto.csv"}
    assert ma["models"][f"hf:{tiny}"]["weights_sha256"]
    # model metadata goes to the code map, never into task data
    cm = json.loads((tmp_path / "a" / "tasks_review.codemap.json").read_text())
    assert all(m["deployed"] == {"framing": "chat", "temperature": 0.0} for m in cm.values())
    assert "deployed" not in (tmp_path / "a" / "tasks_review.jsonl").read_text()
    # resume: lose half the completions; the rerun makes only those, with the same greedy text
    lines = (tmp_path / "a" / "completions.jsonl").read_text().splitlines()
    (tmp_path / "a" / "completions.jsonl").write_text("\n".join(lines[:4]) + "\n")
    res = _run(a)
    assert res.exit_code == 0, res.output
    ma2 = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert ma2["models"][f"hf:{tiny}"]["generated"] == 6 and ma2["models"][f"hf:{tiny}"]["cached"] == 4
    assert ma2["completion_keys_sha256"] == ma["completion_keys_sha256"]
    assert ma2["tasks"]["review"]["task_keys"] == ma["tasks"]["review"]["task_keys"]


def test_run_builds_probe_tasks_and_pushes_them_to_label_studio(tmp_path, tiny, label_studio):
    """The push step against the real Label Studio session: `oma project create` + `oma tasks push`
    for review, compare and probe; the tasks arrive with codes only (no model, no variant)."""
    spec = _spec(tmp_path, "p", models=[f"hf:{tiny}"], tasks={"kinds": ["review", "compare", "probe"]},
                 push={"title_prefix": "run-push-test"})
    res = _run(spec)
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert m["tasks"]["pushed"] == [f"run-push-test {k}" for k in ("review", "compare", "probe")]
    # probe tasks: one per deployed completion (chat+temp:0 here), 5 prompts
    assert m["tasks"]["probe"]["n"] == 5
    cm = json.loads((tmp_path / "p" / "tasks_probe.codemap.json").read_text())
    assert {v["kind"] for v in cm.values()} == {"probe"} and {v["variant"] for v in cm.values()} == {"chat+temp:0"}
    client = label_studio.client()
    projects = {p.title: p for p in client.projects.list()}
    for kind in ("review", "compare", "probe"):
        pid = projects[f"run-push-test {kind}"].id
        tasks = list(client.tasks.list(project=pid, fields="all"))
        assert len(tasks) == m["tasks"][kind]["n"], kind
        for t in tasks:
            assert str(tiny) not in json.dumps(t.data) and "temp:" not in json.dumps(t.data)
    probe = list(client.tasks.list(project=projects["run-push-test probe"].id, fields="all"))
    assert {t.data["completion_code"] for t in probe} == set(cm)
    # a rerun pushes nothing new (tasks push skips what is there)
    assert _run(spec).exit_code == 0
    assert len(list(client.tasks.list(project=projects["run-push-test probe"].id))) == 5


def test_run_folder_is_named_after_the_spec(tmp_path, monkeypatch):
    """Without `out`, the run folder is $OMA_HOME/runs/<name> (a variant name once leaked into it)."""
    from oma_analysis.generate.run import load_spec

    monkeypatch.setenv("OMA_HOME", str(tmp_path / "home"))
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"name": "my-run", "models": ["local:smollm2-135m-instruct"],
                                 "prompts": [{"core": {"n": 1}}], "variants": ["deployed", "completion+temp:0"]}))
    assert load_spec(p).out == (tmp_path / "home" / "runs" / "my-run").resolve()
