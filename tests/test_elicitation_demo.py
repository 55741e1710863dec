"""The demo's compare and probe data: consistent with the review records and the rubric, blinded,
and its truth computed as the demo claims (no Label Studio needed)."""

from __future__ import annotations

from pathlib import Path

from oma_analysis.demo.elicitation import (
    compare_tasks,
    demo_models,
    elicitation_truth,
    probe_records,
    probe_tasks,
    variant_records,
)
from oma_analysis.demo.pipeline import demo_records
from oma_analysis.labelstudio.push import prepare
from oma_analysis.labelstudio.simulate_tasks import TRUTH_SCORES, compare_truth, probe_truth
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.evidence import probe_questions
from oma_analysis.tasks.blinding import CodeMap

CONFIG = Path(__file__).resolve().parents[1] / "labelstudio_config"


def test_demo_variants_and_probes_fit_the_review_records_and_the_rubric():
    recs = {(r["prompt_id"], r["model"]): r for r in demo_records()}
    aspects = {c for q in RUBRIC.task_questions("compare") if q.kind == "multi" for c in q.choice_ids}
    variants = variant_records()
    assert len(variants) >= 30
    for v in variants:
        assert (v["prompt_id"], v["model"]) in recs
        assert v["truth_vs_deployed"] in TRUTH_SCORES and set(v["truth_aspects"]) <= aspects
        assert v["variant"] != recs[(v["prompt_id"], v["model"])]["variant"]
    item_q, outcome_q = probe_questions()
    for p in probe_records():
        assert (p["prompt_id"], p["model"]) in recs
        assert p["truth_item"] in item_q.choice_ids and p["truth_outcome"] in outcome_q.choice_ids
    assert set(demo_models()) == {r["model"] for r in recs.values()}
    # the demo exercises every truth kind of a variant, and a probe that fails to show the capability
    assert {v["truth_vs_deployed"] for v in variants} >= {"much_better", "slightly_better", "same", "much_worse"}
    assert {p["truth_outcome"] for p in probe_records()} >= set(outcome_q.choice_ids[:2])


def test_demo_compare_and_probe_tasks_are_blinded_and_truth_is_as_claimed():
    codes = CodeMap()
    records = demo_records()
    cmp_tasks = compare_tasks(records, codes, seed=0)
    prb_tasks = probe_tasks(records, codes)
    assert len(cmp_tasks) == 30 + round(0.3 * 30) and len(prb_tasks) == len(probe_records())
    prepare(cmp_tasks, (CONFIG / "compare.xml").read_text(), codes, "compare")  # refuses any leak
    prepare(prb_tasks, (CONFIG / "probe.xml").read_text(), codes, "probe")
    prepare(records, (CONFIG / "review.xml").read_text(), codes, "review")
    for t in cmp_tasks:
        assert not any(m in str(t) for m in demo_models())
    assert len(compare_truth(codes)) == len(cmp_tasks) and len(probe_truth(codes)) == len(prb_tasks)
    truth = elicitation_truth(codes)
    # recomputed by hand from the data files: per model, prompts whose variant is truly much better
    much = {}
    for v in variant_records():
        much.setdefault(v["model"], []).append(v["truth_vs_deployed"] == "much_better")
    for m, xs in much.items():
        assert truth[m]["gap_lower"] == sum(xs) / len(xs)
        n_reviewed = sum(r["model"] == m for r in records)  # the combined bound's unit: reviewed completions
        assert truth[m]["combined_lower"] * n_reviewed >= sum(xs)
