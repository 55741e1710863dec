"""Prompt records, core suite, templated space, secret split, canaries, importers."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner

from oma_analysis import OmaError
from oma_analysis.cli import main
from oma_analysis.prompts import importers, secret, templates
from oma_analysis.prompts.records import PromptRecord, core_prompts, read_prompts
from oma_analysis.rubric import RUBRIC

KEY = b"test-key-0123456789abcdef"


# ---- records & core suite -----------------------------------------------------------------------
def test_core_suite_covers_the_task_types_and_not_capable_controls():
    recs = core_prompts()
    assert 60 <= len(recs) <= 120
    types = {r.task_type for r in recs}
    for t in ("factual_qa", "obscure_fact", "misconception", "idk", "clarify", "summarisation", "rewriting",
              "classification", "translation", "length", "register", "code", "creative", "multi_constraint",
              "harmful", "mental_math", "post_cutoff"):
        assert t in types, t
    items = {i for r in recs for i in r.capability_items}
    assert {"mental_math", "post_training_events", "obscure_facts"} <= items & RUBRIC.not_capable_ids
    # every capable item is exercised somewhere: by the core suite, by HumanEval's executed checks
    # (code/code_items.yaml) or by the image review form (the image failure type's items)
    from oma_analysis.code.humaneval import check_items

    image = next(f for f in RUBRIC.failure_types.choices if f.id == "image_worse_than_capable")
    elsewhere = set(check_items().values()) | set(image.relevant_capable)
    assert {i.id for i in RUBRIC.capable_items} - elsewhere <= items
    assert {"code_syntax_valid", "code_simple", "code_readable_names"} <= items  # core code prompts
    # machine-readable constraints are IFEval-shaped and parallel
    constrained = [r for r in recs if r.constraints.ids]
    assert len(constrained) >= 15
    assert all(len(r.constraints.ids) == len(r.constraints.kwargs) for r in constrained)


def test_bad_record_names_file_line_and_field(tmp_path):
    good = core_prompts()[0].to_dict()
    bad = dict(good, id="x2", capability_items=["not_an_item"])
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(OmaError, match=r"p\.jsonl:3: field 'capability_items': 'not_an_item'"):
        read_prompts(p)
    p.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(OmaError, match=r":2: field 'id'.*already used on line 1"):
        read_prompts(p)
    p.write_text(json.dumps(dict(good, split="secret")) + "\n")
    with pytest.raises(OmaError, match=r":1: field 'split'"):
        read_prompts(p)
    p.write_text(json.dumps(dict(good, messages=[{"role": "robot", "content": "x"}])) + "\n")
    with pytest.raises(OmaError, match=r"messages\[0\]\.role"):
        read_prompts(p)


# ---- templated space --------------------------------------------------------------------------
def test_sampler_is_reproducible_and_draws_valid_distinct_prompts():
    a, b = templates.sample(200, seed=7), templates.sample(200, seed=7)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]
    c = templates.sample(200, seed=8)
    assert len({r.id for r in a} & {r.id for r in c}) < 5
    assert len({r.id for r in a}) == 200
    assert len({r.meta["template"] for r in a}) == len(templates.TEMPLATES)  # all templates reached
    known = {k.instruction_id for g in templates.GROUPS.values() for k in g}
    for r in a:
        PromptRecord.from_dict(r.to_dict(), "sample")  # validates
        assert set(r.constraints.ids) <= known
        assert len(r.constraints.ids) <= templates.MAX_CONSTRAINTS
    # the id names the point of the space: rendering it again gives the same prompt
    r = a[0]
    t = next(t for t in templates.TEMPLATES if t.id == r.meta["template"])
    assert templates.render(t, int(r.id.rsplit(":", 1)[1])) == r


def test_space_size_counts_every_point_exactly():
    t = next(t for t in templates.TEMPLATES if t.id == "translate")  # groups: ending, punctuation
    ending = sum(len(k.options) for k in templates.GROUPS["ending"])  # 5 + 2 + 1
    assert templates.template_size(t) == 10 * 10 * (1 + ending + 1 + ending * 1)
    assert templates.space_size() > 10**7
    ids = {templates.render(t, i).user_text for i in range(templates.template_size(t))}
    assert len(ids) == templates.template_size(t)  # every index is a distinct prompt


def test_cli_sample_and_space_are_stable():
    r = CliRunner()
    one = r.invoke(main, ["prompts", "sample", "--seed", "3", "--n", "5"])
    two = r.invoke(main, ["prompts", "sample", "--seed", "3", "--n", "5"])
    assert one.exit_code == 0 and one.output == two.output
    assert [json.loads(x)["id"] for x in one.output.splitlines()] == [x.id for x in templates.sample(5, 3)]
    sp = r.invoke(main, ["prompts", "space"])
    assert sp.output.strip() == str(templates.space_size())


# ---- secret split -----------------------------------------------------------------------------
def test_split_is_reproducible_with_the_key_and_unrelated_without_it():
    ids = [f"p{i}" for i in range(3000)]
    s1 = [secret.assign_split(i, KEY, 0.3) for i in ids]
    assert s1 == [secret.assign_split(i, KEY, 0.3) for i in ids]
    assert 0.26 < s1.count("test") / len(ids) < 0.34
    other = [secret.assign_split(i, b"another-key-0123456789", 0.3) for i in ids]
    # independent assignments disagree on ~2*0.3*0.7 = 42% of prompts
    assert 0.36 < sum(a != b for a, b in zip(s1, other, strict=True)) / len(ids) < 0.48
    # a key-less guess (plain hash of the id) does no better than chance
    guess = ["test" if hashlib.sha256(i.encode()).digest()[0] < 0.3 * 256 else "dev" for i in ids]
    test_ids = [i for i, s in zip(ids, s1, strict=True) if s == "test"]
    hit = sum(g == "test" for g, s in zip(guess, s1, strict=True) if s == "test") / len(test_ids)
    assert hit < 0.4
    c1, c2 = secret.canary_for("p1", KEY), secret.canary_for("p1", b"another-key-0123456789")
    assert c1 != c2 and secret.CANARY_RE.fullmatch(c1)


def test_split_key_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("OMA_SPLIT_KEY", raising=False)
    with pytest.raises(OmaError, match="OMA_SPLIT_KEY"):
        secret.split_key()
    monkeypatch.setenv("OMA_SPLIT_KEY", "short")
    with pytest.raises(OmaError, match="at least 16") as e:
        secret.split_key()
    assert "short" not in str(e.value)  # the secret is never echoed


def test_cli_split_releases_test_only_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("OMA_SPLIT_KEY", KEY.decode())
    src = tmp_path / "core.jsonl"
    src.write_text("".join(r.to_json() + "\n" for r in core_prompts()))
    r = CliRunner()
    dev, test = tmp_path / "dev.jsonl", tmp_path / "test.jsonl"
    res = r.invoke(main, ["prompts", "split", str(src), "--out-dev", str(dev), "--out-test", str(test)])
    assert res.exit_code == 2 and "--release-test" in res.output and not test.exists()
    res = r.invoke(main, ["prompts", "split", str(src), "--out-dev", str(dev)])
    assert res.exit_code == 0 and not test.exists()
    dev_ids = [x.id for x in read_prompts(dev)]
    res = r.invoke(main, ["prompts", "split", str(src), "--out-dev", str(dev), "--out-test", str(test),
                          "--release-test", "run-42"])
    assert res.exit_code == 0, res.output
    t = read_prompts(test)
    assert t and all(x.split == "test" and x.canary for x in t)
    assert [x.id for x in read_prompts(dev)] == dev_ids  # reproducible
    assert not set(dev_ids) & {x.id for x in t}
    log = [json.loads(x) for x in (tmp_path / "test_releases.jsonl").read_text().splitlines()]
    assert log[0]["run_id"] == "run-42" and log[0]["n_test"] == len(t)
    for f in (dev, test, tmp_path / "test_releases.jsonl"):
        assert KEY.decode() not in f.read_text()


def test_canary_planted_in_a_completion_is_found(tmp_path, monkeypatch):
    s = secret.split_records(core_prompts(), KEY, 0.5)
    canaries = tmp_path / "test.jsonl"
    canaries.write_text("".join(r.to_json() + "\n" for r in s.test))
    planted = s.test[3].canary
    outs = tmp_path / "outputs.jsonl"
    lines = [json.dumps({"text": f"answer {i}"}) for i in range(500)]
    lines[321] = json.dumps({"text": f"memorised: {planted} ..."})
    lines[400] = json.dumps({"text": secret.canary_for("not-a-test-prompt", b"other-key-0123456789")})
    outs.write_text("\n".join(lines) + "\n")
    hits = secret.scan_file(outs, secret.load_canaries(canaries))
    assert [(h.line, h.canary) for h in hits] == [(322, planted)]
    assert {h.line for h in secret.scan_file(outs)} == {322, 401}  # shape-only scan sees both
    res = CliRunner().invoke(main, ["prompts", "canary-scan", str(outs), "--canaries", str(canaries)])
    assert res.exit_code == 1 and f"{outs}:322:" in res.output
    clean = tmp_path / "clean.txt"
    clean.write_text("nothing here\n")
    assert CliRunner().invoke(main, ["prompts", "canary-scan", str(clean)]).exit_code == 0


# ---- importers --------------------------------------------------------------------------------
def test_ifeval_imports_all_541_prompts_with_constraints(shared_dir):
    r = importers.import_ifeval(shared_dir / "datasets" / "ifeval")
    assert len(r.prompts) == 541 and len({p.id for p in r.prompts}) == 541
    assert sum(len(p.constraints.ids) for p in r.prompts) > 541
    assert len(r.completions) == 540 and len(r.skipped) == 1  # one response answers a reworded prompt
    assert {c.model for c in r.completions} == {"gpt-4-20231107"}
    p = next(p for p in r.prompts if "language:response_language" in p.constraints.ids)
    assert "correct_language" in p.capability_items


def test_self_instruct_imports_252_prompts_and_8_models(shared_dir):
    r = importers.import_self_instruct(shared_dir / "datasets" / "self_instruct_user_oriented")
    assert len(r.prompts) == 252
    assert len(r.completions) == 8 * 252
    models = {c.model for c in r.completions}
    assert len(models) == 8 and "text-davinci-003" in models and "davinci" in models
    ids = {p.id for p in r.prompts}
    assert all(c.prompt_id in ids for c in r.completions)
    for m in models:
        assert len({c.prompt_id for c in r.completions if c.model == m}) == 252


def test_logs_importer_dedups_threads_and_names_bad_rows(tmp_path):
    p = tmp_path / "log.jsonl"
    rows = [{"user_input": "What is 2+2?", "completion": "4", "model": "m1", "conversation_id": "a", "time": "t1"},
            {"user_input": "And 3+3?", "completion": "6", "model": "m1", "conversation_id": "a"},
            {"user_input": "What is 2+2?", "completion": "4", "model": "m1", "conversation_id": "a"},
            {"user_input": "what is  2+2?", "completion": "Four", "model": "m2"}]
    p.write_text("\n".join(json.dumps(x) for x in rows) + "\n")
    r = importers.import_logs(p)
    assert r.duplicates == 1 and len(r.completions) == 3
    assert [m["role"] for m in r.completions[1].messages] == ["user", "assistant", "user"]
    assert r.completions[0].prompt_id == r.completions[2].prompt_id  # same first turn, deduped prompt
    csv_p = tmp_path / "log.csv"
    csv_p.write_text("prompt,response\nhello,hi\n,empty input\n")
    with pytest.raises(OmaError, match=r"log\.csv:3: field 'prompt': empty"):
        importers.import_logs(csv_p)
    r2 = importers.import_logs(csv_p, on_error="skip")
    assert len(r2.completions) == 1 and "log.csv:3" in r2.skipped[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("text,answer\nhi,there\n")
    with pytest.raises(OmaError, match=r"bad\.csv:2: field 'user_input': missing"):
        importers.import_logs(bad)


def test_cli_import_writes_prompts_and_completions(tmp_path, shared_dir):
    out, comp = tmp_path / "p.jsonl", tmp_path / "c.jsonl"
    res = CliRunner().invoke(main, ["prompts", "import", "--format", "ifeval",
                                    str(shared_dir / "datasets" / "ifeval"), "--out", str(out),
                                    "--completions", str(comp)])
    assert res.exit_code == 0, res.output
    assert len(read_prompts(out)) == 541 and len(comp.read_text().splitlines()) == 540
