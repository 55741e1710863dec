"""Elicitation gap, swap consistency and combined bound: pure statistics checked by hand and against
scipy's exact interval, and recovery of known truth through the real loader."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from click.testing import CliRunner
from scipy.stats import binomtest

from oma_analysis.cli import main
from oma_analysis.demo.simulate_elicitation import coverage, estimates, simulate_gap_export
from oma_analysis.stats.elicitation import (
    ANY_VARIANT,
    combined_bound,
    compare_question,
    comparison_judgements,
    gap_rates,
    position_bias,
    swap_consistency,
    variant_scores,
)

Q = compare_question()
LEFT_MUCH, LEFT_SLIGHT, SAME, RIGHT_SLIGHT, RIGHT_MUCH = Q.choice_ids  # the rubric's order, left best first


def _exact(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return ci.low, ci.high


def _frame(rows):
    return pd.DataFrame(rows, columns=["task", "worker", "completion", "label"]).assign(question=Q.name)


def test_scores_undo_the_left_right_randomisation_and_pool_swapped_copies():
    pairs = pd.DataFrame({
        "pair": ["a", "a2", "b", "c", "d"], "comparison": ["a", "a", "b", "c", "d"], "model": "m",
        "prompt": ["p1", "p1", "p2", "p3", "p3"], "variant": ["v1", "v1", "v1", "v1", "v2"],
        "deployed_side": ["left", "right", "right", "left", "left"], "swapped": [False, True, False, False, False]})
    frame = _frame([
        # a: deployed left -> "right much better" = variant much better; its swap a2 (deployed right) agrees
        ("1", "x", "a", RIGHT_MUCH), ("1", "y", "a", RIGHT_MUCH), ("2", "x", "a2", LEFT_MUCH), ("2", "z", "a2", SAME),
        # b: deployed right; one says left much better (variant), one left slightly, one same -> upper only? no:
        ("3", "x", "b", LEFT_MUCH), ("3", "y", "b", LEFT_SLIGHT), ("3", "z", "b", RIGHT_SLIGHT),
        # c: deployed left, the deployed one is better
        ("4", "x", "c", LEFT_MUCH), ("4", "y", "c", SAME),
        # d: a tied vote between "variant slightly better" and "same" -> counts in the upper bound only
        ("5", "x", "d", RIGHT_SLIGHT), ("5", "y", "d", SAME),
    ])
    s = variant_scores(frame, pairs)
    by = s.set_index(["pair", "worker"])["score"]
    assert by[("a", "x")] == 2 and by[("a2", "x")] == 2 and by[("a2", "z")] == 0
    assert by[("b", "x")] == 2 and by[("b", "z")] == -1 and by[("c", "x")] == -2
    j = comparison_judgements(s).set_index("comparison")
    assert j.loc["a", "n"] == 4  # the swapped copy's annotations pooled with the original's
    # a: 3 of 4 say much better (strict majority); b: 1 of 3 much, 2 of 3 better; c: none; d: 1 of 2 better
    assert j["gap_lower"].to_dict() == {"a": True, "b": False, "c": False, "d": False}
    assert j["gap_upper"].to_dict() == {"a": True, "b": True, "c": False, "d": True}
    g = gap_rates(comparison_judgements(s)).set_index("variant")
    # per model: prompts p1 (a), p2 (b), p3 (c, d): lower 1/3, upper 3/3
    assert (g.loc[ANY_VARIANT, "n"], g.loc[ANY_VARIANT, "k_lower"], g.loc[ANY_VARIANT, "k_upper"]) == (3, 1, 3)
    assert np.allclose([g.loc[ANY_VARIANT, "lower_lo"], g.loc[ANY_VARIANT, "lower_hi"]], _exact(1, 3))
    assert (g.loc["v1", "n"], g.loc["v1", "k_lower"], g.loc["v1", "k_upper"]) == (3, 1, 2)
    assert (g.loc["v2", "n"], g.loc["v2", "k_lower"], g.loc["v2", "k_upper"]) == (1, 0, 1)
    assert g.loc[ANY_VARIANT, "n_variants"] == 2
    sw = swap_consistency(s).iloc[0]
    assert (sw["n"], sw["k"]) == (1, 1)  # a: original says variant better (+4), copy says better (+2)
    pb = position_bias(s).iloc[0]
    left = sum(lab in (LEFT_MUCH, LEFT_SLIGHT) for lab in frame["label"])
    sided = sum(lab != SAME for lab in frame["label"])
    assert (pb["k"], pb["n"]) == (left, sided)


def test_gold_and_non_elicitation_pairs_are_left_out():
    pairs = pd.DataFrame({"pair": ["a"], "model": "m", "prompt": "p", "variant": "v", "deployed_side": "left"})
    frame = _frame([("1", "x", "a", RIGHT_MUCH), ("1", "g", "a", LEFT_MUCH), ("9", "x", "zz", RIGHT_MUCH)])
    frame["ground_truth"] = [False, True, False]
    s = variant_scores(frame, pairs)
    assert s["worker"].tolist() == ["x"]


def test_combined_bound_is_review_or_gap_per_deployed_completion():
    review = pd.DataFrame({"completion": ["c1", "c2", "c3", "c4", "c5", "x"], "model": "m",
                           "prompt": ["p1", "p2", "p3", "p4", "p5", "p1"], "severity": [0, 1, 2, 2, 2, 0]})
    judged = pd.DataFrame({"model": "m", "prompt": ["p1", "p3", "p4"], "variant": ["v", "v", "w"],
                           "comparison": ["a", "b", "c"], "gap_lower": [False, True, False],
                           "gap_upper": [False, True, True]})
    c = combined_bound(review, judged, deployed=["c1", "c2", "c3", "c4", "c5"]).iloc[0]
    # lower: c1 (review) + c3 (gap) = 2 of 5; upper: c1, c2 (ambiguous), c3, c4 (gap upper) = 4 of 5
    assert (c["n"], c["n_compared"], c["k_lower"], c["k_upper"], c["n_variants"]) == (5, 3, 2, 4, 2)
    assert np.allclose([c["lower_lo"], c["lower_hi"]], _exact(2, 5))
    assert np.allclose([c["upper_lo"], c["upper_hi"]], _exact(4, 5))


def test_position_bias_shows_up_and_swaps_disagree(tmp_path):
    from oma_analysis.ingest import load
    from oma_analysis.report.elicitation import elicitation_tables
    from oma_analysis.tasks.blinding import CodeMap

    fair = simulate_gap_export(tmp_path / "fair", n_prompts=60, seed=2, swap_share=0.5)
    # labellers who half the time just answer "left slightly better"
    biased = simulate_gap_export(tmp_path / "biased", n_prompts=60, seed=2, swap_share=0.5, left_bias=0.5)
    out = {}
    for name, sim in (("fair", fair), ("biased", biased)):
        t = elicitation_tables(load(sim.export, sim.codemap).frame, CodeMap.load(sim.codemap))
        out[name] = (t["position"].set_index("model"), t["swap"].set_index("model"))
    for m in ("model-a", "model-b"):
        assert abs(out["fair"][0].loc[m, "rate"] - 0.5) < 0.08  # sides are random: about half left
        assert out["biased"][0].loc[m, "lo"] > 0.55 and out["biased"][0].loc[m, "rate"] > 0.65
        assert out["biased"][1].loc[m, "rate"] < out["fair"][1].loc[m, "rate"]


def test_oma_rates_json_gives_review_gap_and_combined_per_model(tmp_path):
    sim = simulate_gap_export(tmp_path, n_prompts=40, seed=7)
    res = CliRunner().invoke(main, ["rates", str(sim.export), "--codemap", str(sim.codemap), "--json"])
    assert res.exit_code == 0, res.output
    recs = {r["model"]: r for r in json.loads(res.stdout)}
    est = estimates(sim.export, sim.codemap)
    for m, r in recs.items():
        assert (r["lower"], *r["lower_ci"]) == est[m]["review_lower"]
        g, c = r["elicitation_gap"], r["combined"]
        assert (g["lower"], *g["lower_ci"]) == est[m]["gap_lower"]
        assert (c["upper"], *c["upper_ci"]) == est[m]["combined_upper"]
        assert set(g["per_variant"]) == {k.split(":", 1)[1] for k in sim.truth[m] if k.startswith("gap_lower:")}
        for v, b in g["per_variant"].items():
            assert (b["upper"], *b["upper_ci"]) == est[m][f"gap_upper:{v}"]
        assert g["n_variants"] == 2 and "more chances" in g["note"] and c["n"] == 40
        assert c["lower"] >= r["lower"] and c["upper"] >= r["upper"]  # the combined bound adds to the review's
        assert 0 <= r["swap_consistency"]["k"] <= r["swap_consistency"]["n"]


def test_recovery_of_known_truth_with_coverage_over_20_seeds(tmp_path):
    table, checks = coverage(range(20), n_prompts=200, work=tmp_path)
    print("\ncoverage of the 95 % intervals, 20 seeds x 2 models, 200 prompts per model:")
    print(table.to_string(index=False))
    overall = checks["covered"].mean()
    print(f"overall coverage {overall:.3f} over {len(checks)} intervals")
    assert set(table["quantity"]) >= {"review_lower", "review_upper", "gap_lower", "gap_upper", "combined_lower",
                                      "combined_upper", "gap_lower:completion", "gap_upper:temp:0"}
    assert overall >= 0.9
    assert (table["coverage"] >= 0.8).all(), table
    # informative: the intervals are narrow enough to tell the models' gap and combined bounds apart
    assert checks.loc[checks["quantity"] == "gap_lower", "abs_error"].mean() < 0.04


def test_oma_report_shows_the_gap_section(tmp_path):
    sim = simulate_gap_export(tmp_path, n_prompts=20, seed=3)
    res = CliRunner().invoke(main, ["report", str(sim.export), "--codemap", str(sim.codemap), "--out",
                                    str(tmp_path / "rep"), "--quiet"])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    est = estimates(sim.export, sim.codemap)
    for m, r in rep["elicitation"]["by_model"].items():
        assert (r["combined"]["lower"], *r["combined"]["lower_ci"]) == est[m]["combined_lower"]
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "Elicitation gap and combined bound" in html and "more chances" in html
