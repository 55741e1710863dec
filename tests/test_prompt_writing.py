"""Prompts written by contractors at evaluation time, on a real Label Studio: two invite-flow
contractors (the session study's labellers, each in their own workspace) write prompts from
briefs; `oma prompts collect` turns them into records that `oma generate` and a run spec accept;
a copied public (IFEval) prompt, a near copy of the core suite and an in-round duplicate are
refused with their reasons; the author never reaches a record."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from study_support import EMAILS

from oma_analysis.cli import main
from oma_analysis.generate.tiny import build_tiny_lm
from oma_analysis.labelstudio.client import connect
from oma_analysis.labelstudio.study import Study
from oma_analysis.prompts.briefs import PROMPT_FIELD, draw_briefs, write_config
from oma_analysis.prompts.importers import ifeval_dir, import_ifeval
from oma_analysis.prompts.records import read_prompts

CONTRACTORS = EMAILS[:2]
SPLIT_KEY = "test-split-key-0123456789abcdef"


def _answer(text: str) -> list[dict]:
    return [{"from_name": PROMPT_FIELD, "to_name": "brief", "type": "textarea", "value": {"text": [text]}}]


def test_briefs_follow_quotas_and_config_is_valid():
    from oma_analysis.labelstudio.config_check import check_config

    b = draw_briefs(20, {"code": 0.5, "translation": 0.25, "multi_constraint": 0.25}, seed=1)
    assert sorted(x["task_type"] for x in b).count("code") == 10
    assert all(len(x["constraints"]) == 3 for x in b if x["task_type"] == "multi_constraint")
    assert all(c["text"] in x["brief_text"] for x in b for c in x["constraints"])
    assert draw_briefs(20, {"code": 1.0}, seed=1) == draw_briefs(20, {"code": 1.0}, seed=1)
    assert check_config(write_config()) == []


@pytest.fixture(scope="module")
def written(study_run, label_studio, monkeypatch_module):
    monkeypatch_module.setenv("OMA_SPLIT_KEY", SPLIT_KEY)
    monkeypatch_module.setenv("OMA_HOME", str(label_studio.home))
    res = CliRunner().invoke(main, ["prompts", "brief", "t12", "--n", "3", "--seed", "4"])
    assert res.exit_code != 0 or "round 1" in res.output
    # `oma prompts brief` gives briefs to the whole team; the test's two contractors write theirs
    st = Study.load("t12", label_studio.home)
    ifeval = import_ifeval(ifeval_dir(), responses=False).prompts[7].user_text
    written = {}
    for i, email in enumerate(CONTRACTORS):
        ws = st.workspace(email)
        me = connect(ws.url, study_run.tokens[email])  # the contractor's own login, not the admin's
        projects = {p.title: p.id for p in me.projects.list()}
        pid = projects["oma write t12 round 1"]
        tasks = sorted(me.tasks.list(project=pid), key=lambda t: t.id)
        assert len(tasks) == 3
        for j, t in enumerate(tasks):
            if i == 0 and j == 0:
                text = ifeval  # copied from a benchmark
            elif i == 0 and j == 1:
                text = "What is the capital city of Australia??"  # the core suite, one mark added
            elif i == 1 and j == 2:
                text = written[(0, 2)]  # the other contractor's prompt, word for word
            else:
                text = (f"I am writing as contractor {i}. {t.data['brief_text'].splitlines()[0]} "
                        f"Please help me with request number {j} about {['owls', 'tides', 'bread'][j]}.")
            written[(i, j)] = text
            me.annotations.create(id=t.id, result=_answer(text), lead_time=30.0)
    return res, st, written


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_collect_yields_records_refuses_copies(written, label_studio, tmp_path):
    res, st, texts = written
    assert res.exit_code == 0, res.output
    out = CliRunner().invoke(main, ["prompts", "collect", "t12", "--test-fraction", "0.5"])
    assert out.exit_code == 0, out.output
    path = st.dir / "written" / "round-1" / "prompts.jsonl"
    recs = read_prompts(path)
    assert len(recs) == 3  # 6 written, 3 refused
    refused = [json.loads(x) for x in (path.parent / "refused.jsonl").read_text().splitlines()]
    reasons = sorted(r["reason"] for r in refused)
    assert any(r.startswith("copy of IFEval (") for r in reasons), reasons
    assert any(r.startswith("near-duplicate of the core suite (core-fact-capital-au)") for r in reasons), reasons
    assert any("round 1 prompt w1-" in r for r in reasons), reasons
    assert all(r.source == "written:t12:round-1" and r.meta["brief"].startswith("r1-b") for r in recs)
    # split and canary applied; author kept apart (0600), never in the records or the refusals
    assert {r.split for r in recs} <= {"dev", "test"} and all(bool(r.canary) == (r.split == "test") for r in recs)
    raw = path.read_text() + (path.parent / "refused.jsonl").read_text()
    assert not any(e in raw for e in EMAILS)
    authors = json.loads((path.parent / "authors.json").read_text())
    assert set(authors) == {r.id for r in recs} and set(authors.values()) <= set(CONTRACTORS)
    assert oct((path.parent / "authors.json").stat().st_mode & 0o777) == "0o600"
    # every record's constraints are the brief's
    briefs = {json.loads(x)["brief_id"]: json.loads(x)
              for x in (path.parent / "briefs.jsonl").read_text().splitlines()}
    for r in recs:
        assert list(r.constraints.ids) == [c["id"] for c in briefs[r.meta["brief"]]["constraints"]]
        assert r.task_type == briefs[r.meta["brief"]]["task_type"]

    # `oma generate` accepts them, and a run spec can name the round as a source
    tiny = build_tiny_lm(tmp_path / "lm", chat_template=True)
    gen = CliRunner().invoke(main, ["generate", str(path), "--model", f"hf:{tiny}", "--out",
                                    str(tmp_path / "c.jsonl"), "--max-new-tokens", "4"])
    assert gen.exit_code == 0, gen.output
    comps = [json.loads(x) for x in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert {c["prompt_id"] for c in comps} == {r.id for r in recs}
    from oma_analysis.generate.run import collect_prompts, load_spec

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "w", "models": [f"hf:{tiny}"],
                                    "prompts": [{"written": {"study": "t12", "round": 1}}]}))
    assert [p.id for p in collect_prompts(load_spec(spec))] == [r.id for r in recs]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "w", "models": [f"hf:{tiny}"], "prompts": [{"written": {"study": "t12"}}]}))
    res = CliRunner().invoke(main, ["run", str(bad)])
    assert res.exit_code == 2 and "prompts[0].written" in res.output
