"""oma tasks build: blinded review/compare tasks, code map, manifest, gold interleaving."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from click.testing import CliRunner

from oma_analysis import OmaError
from oma_analysis.cli import main
from oma_analysis.generate.records import Completion, content_hash
from oma_analysis.tasks.blinding import CodeMap
from oma_analysis.tasks.build import build, find_leaks

REVIEW_FIELDS = {"messages", "completion", "completion_code", "prompt_id"}
COMPARE_FIELDS = {"messages", "left", "right", "left_code", "right_code", "prompt_id", "pair_code"}


def all_strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from all_strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from all_strings(v)


def _comps(models=("alpha-model-7b", "beta-model-13b"), variants=("chat", "completion", "temp:0"), n=6):
    return [Completion.make(prompt_id=f"p{i}", messages=[{"role": "user", "content": f"Question {i}?"}],
                            model=m, variant=v, text=f"answer {i} {j}", seed=0)
            for i in range(n) for j, (m, v) in enumerate((m, v) for m in models for v in variants)]


def test_self_instruct_eight_models_into_review_tasks_in_one_command(tmp_path, shared_dir):
    out, cm = tmp_path / "tasks.jsonl", tmp_path / "codemap.json"
    res = CliRunner().invoke(main, ["tasks", "build", "--from", "self-instruct",
                                    str(shared_dir / "datasets" / "self_instruct_user_oriented"),
                                    "--kind", "review", "--out", str(out), "--codemap", str(cm),
                                    "--overlap", "3", "--seed", "5"])
    assert res.exit_code == 0, res.output
    tasks = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(tasks) == 8 * 252
    assert all(set(t["data"]) == REVIEW_FIELDS for t in tasks)
    codes = CodeMap.load(cm)
    assert Counter(codes[t["data"]["completion_code"]]["model"] for t in tasks) == Counter(
        {m: 252 for m in {codes[c]["model"] for c in codes}})
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert len(man["models"]) == 8 and man["overlap"] == 3 and man["n_tasks"] == 2016
    assert man["rubric_version"] and man["prompt_set_hash"] and man["build_seed"] == 5
    names = set(man["models"])
    for t in tasks:
        for s in all_strings(t):
            assert not any(n in s.lower() for n in names), s[:80]
    # codes are random, not derived from model names: the same build twice gives different codes
    out2 = tmp_path / "t2.jsonl"
    CliRunner().invoke(main, ["tasks", "build", "--from", "self-instruct",
                              str(shared_dir / "datasets" / "self_instruct_user_oriented"), "--kind", "review",
                              "--out", str(out2), "--codemap", str(tmp_path / "cm2.json"), "--seed", "5"])
    t2 = [json.loads(x) for x in out2.read_text().splitlines()]
    assert [t["data"]["prompt_id"] for t in t2] == [t["data"]["prompt_id"] for t in tasks]  # seeded order
    assert not {t["data"]["completion_code"] for t in t2} & {t["data"]["completion_code"] for t in tasks}


def test_gold_tasks_are_interleaved_at_the_rate():
    comps = _comps(n=40)  # 240 completions
    gold = [Completion.make(prompt_id=f"g{i}", messages=[{"role": "user", "content": "gold?"}], model="gold-set",
                            variant="chat", text=f"gold {i}", meta={"annotations": [{"result": []}]})
            for i in range(5)]
    b = build(comps, "review", seed=1, gold=gold, gold_rate=0.2)
    is_gold = [bool(b.codes[t["data"]["completion_code"]].get("gold")) for t in b.tasks]
    assert sum(is_gold) == 60 and len(b.tasks) == 300  # 60 / 300 = 0.2
    assert b.manifest["n_gold_tasks"] == 60 and b.manifest["gold_rate"] == 0.2
    for q in range(4):  # every quarter of the queue has gold in it
        assert 8 <= sum(is_gold[q * 75:(q + 1) * 75]) <= 22
    g = next(t for t, x in zip(b.tasks, is_gold, strict=True) if x)
    assert g["annotations"][0]["ground_truth"] is True and "gold" not in g["data"]
    shuffled = [t["data"]["prompt_id"] for t, x in zip(b.tasks, is_gold, strict=True) if not x]
    assert shuffled != sorted(shuffled)
    with pytest.raises(OmaError, match="gold"):
        build(comps, "review", seed=1, gold_rate=0.2)


def test_compare_tasks_randomise_sides_and_only_the_codemap_knows():
    comps = _comps(n=20)
    by_hash = {c.content_hash: c for c in comps}
    b = build(comps, "compare", seed=3, baseline="chat")
    assert len(b.tasks) == 20 * 2 * 2  # per prompt and model: chat vs completion, chat vs temp:0
    lefts = Counter()
    for t in b.tasks:
        d = t["data"]
        assert set(d) == COMPARE_FIELDS
        pair = b.codes[d["pair_code"]]
        assert (pair["left_code"], pair["right_code"]) == (d["left_code"], d["right_code"])
        left, right = b.codes[d["left_code"]], b.codes[d["right_code"]]
        assert by_hash[content_hash(d["left"])].variant == left["variant"] == pair["left"]["variant"]
        assert by_hash[content_hash(d["right"])].variant == right["variant"]
        assert left["model"] == right["model"] and left["prompt_id"] == right["prompt_id"] == d["prompt_id"]
        lefts[left["variant"] == "chat"] += 1
    assert 25 <= lefts[True] <= 55  # the baseline lands on either side
    models = {c.model for c in comps}
    variants = {"chat", "completion", "temp:0"}
    for t in b.tasks:
        for path in ("prompt_id", "left_code", "right_code", "pair_code"):
            assert not any(v in t["data"][path] for v in variants | models)
        assert not any(m in s for s in all_strings(t) for m in models)
    bm = build(comps, "compare", seed=3, pair_by="model")
    assert len(bm.tasks) == 20 * 3  # per prompt and variant: alpha vs beta


def test_build_refuses_a_task_that_would_name_a_model():
    comps = _comps(n=2)
    leaky = [Completion.make(prompt_id="from-alpha-model-7b", messages=c.messages, model=c.model,
                             variant=c.variant, text=c.text) for c in comps]
    with pytest.raises(OmaError, match="prompt_id.*alpha-model-7b"):
        build(leaky, "review", seed=0)
    assert find_leaks([{"data": {"prompt_id": "p", "left_code": "temp:0-x"}}], [], ["temp:0"])


def _variant_comps(n=40):
    out = []
    for i in range(n):
        msgs = [{"role": "user", "content": f"Question {i}?"}]
        for m in ("alpha-model-7b", "beta-base-1b"):
            for v, framing, temp in (("chat", "chat", None), ("completion", "completion", None),
                                     ("temp:1.0", "chat", 1.0)):
                params = {"temperature": temp} if temp is not None else {}
                out.append(Completion.make(prompt_id=f"p{i}", messages=msgs, model=m, variant=v, framing=framing,
                                           params=params, text=f"{m[:1]}{i}{v}", seed=0))
    return out


def test_compare_pairs_the_deployed_setting_with_uninformative_variants(tmp_path):
    comps = _variant_comps()
    meta = {"alpha-model-7b": {"type": "chat"}, "beta-base-1b": {"type": "base"}}
    b = build(comps, "compare", seed=4, pair_by="deployed", model_meta=meta, swap_share=0.25)
    assert b.manifest["variant_set"] == {"alpha-model-7b": ["completion", "temp:1.0"],
                                         "beta-base-1b": ["chat", "temp:1.0"]}
    fixed = build(comps, "compare", seed=4, pair_by="deployed", model_meta=meta, variant_set=["temp:1.0", "temp:0"])
    assert fixed.manifest["variant_set"] == {"alpha-model-7b": ["temp:1.0"], "beta-base-1b": ["temp:1.0"]}
    assert fixed.manifest["n_left_out"] == 80 and fixed.manifest["n_missing"] == 80  # temp:0 was never generated
    assert len(fixed.tasks) == 80
    assert b.manifest["deployed"]["beta-base-1b"]["framing"] == "completion"
    n_pairs = 40 * 2 * 2
    assert b.manifest["n_pairs"] == n_pairs and b.manifest["n_swapped"] == n_pairs // 4
    assert len(b.tasks) == n_pairs + n_pairs // 4
    by_hash = {c.content_hash: c for c in comps}
    sides = Counter()
    originals = {}
    for t in b.tasks:
        d = t["data"]
        assert set(d) == COMPARE_FIELDS
        pair = b.codes[d["pair_code"]]
        dep_text = d[pair["deployed_side"]]
        other_text = d["right" if pair["deployed_side"] == "left" else "left"]
        dep, other = by_hash[content_hash(dep_text)], by_hash[content_hash(other_text)]
        want_dep = "completion" if dep.model == "beta-base-1b" else "chat"
        assert dep.variant == want_dep == pair["deployed_variant"]
        assert pair["deployed_setting"]["framing"] == dep.framing  # the model metadata, in the code map only
        assert other.variant == pair["variant"] != want_dep
        assert dep.model == other.model == pair["model"] and dep.prompt_id == other.prompt_id == d["prompt_id"]
        sides[pair["deployed_side"]] += 1
        if pair["swap_of"] is None:
            originals[d["pair_code"]] = pair
    assert 0.4 < sides["left"] / len(b.tasks) < 0.6
    swaps = [b.codes[t["data"]["pair_code"]] for t in b.tasks if b.codes[t["data"]["pair_code"]]["swap_of"]]
    assert len(swaps) == n_pairs // 4
    for s in swaps:  # the copy shows the same two completions on the other sides
        o = originals[s["swap_of"]]
        assert (s["left_code"], s["right_code"]) == (o["right_code"], o["left_code"])
        assert s["deployed_side"] != o["deployed_side"]
    leaked = {"deployed", "chat", "completion", "temp:1.0", "alpha-model-7b", "beta-base-1b"}
    for t in b.tasks:
        for path in ("prompt_id", "left_code", "right_code", "pair_code"):
            assert t["data"][path] not in leaked


def test_compare_deployed_needs_exactly_one_deployed_completion():
    comps = [c for c in _variant_comps(3) if c.variant != "chat"]
    with pytest.raises(OmaError, match="alpha-model-7b.*0 completions match the deployed setting"):
        build(comps, "compare", seed=0, pair_by="deployed")
    meta = {"alpha-model-7b": {"deployed": {"framing": "chat", "temperature": 1.0}},
            "beta-base-1b": {"deployed": {"variant": "completion"}}}
    b = build(comps, "compare", seed=0, pair_by="deployed", model_meta=meta)
    assert {b.codes[t["data"]["pair_code"]]["deployed_variant"] for t in b.tasks} == {"temp:1.0", "completion"}


def test_cli_compare_deployed_with_models_file(tmp_path):
    from oma_analysis.generate.records import write_completions

    src, out, cm = tmp_path / "c.jsonl", tmp_path / "t.jsonl", tmp_path / "codemap.json"
    write_completions(_variant_comps(5), src)
    models = tmp_path / "models.yaml"
    models.write_text("beta-base-1b: {type: base}\nalpha-model-7b: {type: chat}\n")
    res = CliRunner().invoke(main, ["tasks", "build", str(src), "--kind", "compare", "--out", str(out),
                                    "--codemap", str(cm), "--models", str(models), "--swap-share", "0.5",
                                    "--seed", "1"])
    assert res.exit_code == 0, res.output
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["pair_by"] == "deployed" and man["n_pairs"] == 20 and man["n_swapped"] == 10
    assert len(out.read_text().splitlines()) == 30
    assert "beta-base-1b" not in out.read_text()
