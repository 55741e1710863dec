"""Bounded rates: intervals against statsmodels and scipy, coverage simulation, clustering, certify, plan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from oma_analysis.demo.simulate import simulate_long
from oma_analysis.report.records import rates_records
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.aggregate import aggregate
from oma_analysis.stats.certify import certify, upper_bound
from oma_analysis.stats.plan import min_completions
from oma_analysis.stats.rates import binom_ci, bounded_rates, cluster_ci, sensitivity_table


def test_clopper_pearson_matches_scipy_binomtest():
    rng = np.random.default_rng(3)
    n = rng.integers(1, 400, 60)
    k = (rng.random(60) * (n + 1)).astype(int).clip(0, n)
    lo, hi = binom_ci(k, n, 0.95, "beta")
    for ki, ni, low, h in zip(k, n, lo, hi, strict=True):
        ci = stats.binomtest(int(ki), int(ni)).proportion_ci(0.95, method="exact")
        assert low == pytest.approx(ci.low, abs=1e-9)
        assert h == pytest.approx(ci.high, abs=1e-9)


def test_wilson_matches_scipy_and_formula():
    for k, n in [(0, 10), (5, 100), (37, 41), (200, 200)]:
        lo, hi = binom_ci(k, n, 0.9, "wilson")
        ci = stats.binomtest(k, n).proportion_ci(0.9, method="wilson")
        assert (float(lo), float(hi)) == pytest.approx((ci.low, ci.high), abs=1e-9)
        # textbook formula
        z = stats.norm.ppf(0.95)
        p = k / n
        c = (p + z * z / (2 * n)) / (1 + z * z / n)
        w = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert float(lo) == pytest.approx(max(c - w, 0), abs=1e-12)


def test_published_clopper_pearson_value():
    # Clopper & Pearson style table value: 0 of 10 at 95 % two-sided -> upper 0.3085
    lo, hi = binom_ci(0, 10)
    assert float(lo) == 0 and round(float(hi), 4) == 0.3085


@pytest.mark.parametrize("method", ["wilson", "beta"])
def test_coverage_simulation(method):
    """2000 simulated studies at a known rate: both cover it in 93-97 % of runs; CP's exact
    coverage is never below the nominal 95 % (conservative), Wilson's is close to it."""
    band = (0.93, 0.97)
    rng = np.random.default_rng(20250101)
    p, n = 0.2, 500
    k = rng.binomial(n, p, size=2000)
    lo, hi = binom_ci(k, n, 0.95, method)
    cover = float(((lo <= p) & (p <= hi)).mean())
    assert band[0] <= cover <= band[1], cover
    # the Monte-Carlo coverage agrees with the exact coverage from the binomial pmf
    ks = np.arange(n + 1)
    elo, ehi = binom_ci(ks, n, 0.95, method)
    exact = float((stats.binom.pmf(ks, n, p) * ((elo <= p) & (p <= ehi))).sum())
    assert abs(cover - exact) < 0.015
    if method == "beta":
        assert exact >= 0.95


def test_cluster_ci_widens_with_duplicated_prompts_and_covers():
    y = np.tile([1, 0, 0, 0, 0], 40)
    lo1, hi1 = cluster_ci(y, np.arange(200))
    lo2, hi2 = cluster_ci(np.repeat(y, 2), np.repeat(np.arange(200), 2))
    # perfectly duplicated clusters: same estimate, same information -> same width (not half)
    assert (hi2 - lo2) == pytest.approx(hi1 - lo1, rel=0.02)
    lo_naive, hi_naive = binom_ci(np.repeat(y, 2).sum(), 400, method="wilson")
    assert (hi2 - lo2) > 1.3 * float(hi_naive - lo_naive)
    # coverage with strong within-prompt correlation: 500 runs
    rng = np.random.default_rng(11)
    p, g, m, runs = 0.2, 120, 4, 500
    hits = naive_hits = 0
    for _ in range(runs):
        shared = rng.random(g) < 0.5  # half of each prompt's completions share one outcome
        base = rng.random(g) < p
        own = rng.random((g, m)) < p
        yy = np.where(shared[:, None], base[:, None], own).ravel().astype(int)
        lo, hi = cluster_ci(yy, np.repeat(np.arange(g), m))
        hits += lo <= p <= hi
        nl, nh = binom_ci(yy.sum(), len(yy), method="wilson")
        naive_hits += float(nl) <= p <= float(nh)
    assert 0.92 <= hits / runs <= 0.975, hits / runs
    assert naive_hits / runs < hits / runs


def test_bounded_rates_from_simulated_frame_and_records():
    sim = simulate_long(3000, 15, seed=5, class_probs=[[0.05, 0.1, 0.85], [0.2, 0.1, 0.7]],
                        accuracy=[0.99] * 15)
    agg = aggregate(sim.frame, "majority")
    r = bounded_rates(agg).set_index("model")
    truth = sim.truth.reindex(agg["completion"]).to_numpy()
    for m in ("model-a", "model-b"):
        sel = agg["model"].to_numpy() == m
        assert r.loc[m, "lower"] == pytest.approx((truth[sel] == RUBRIC.verdict_ids[0]).mean(), abs=0.01)
        assert r.loc[m, "upper"] == pytest.approx((truth[sel] != RUBRIC.verdict_ids[2]).mean(), abs=0.015)
        assert r.loc[m, "lower_lo"] <= r.loc[m, "lower"] <= r.loc[m, "lower_hi"]
    recs = rates_records(bounded_rates(agg))
    assert {"model", "n", "lower", "upper", "lower_ci", "upper_ci"} <= set(recs[0])
    assert recs[0]["n"] == 1500 and len(recs[0]["upper_ci"]) == 2


def test_sensitivity_table_orders_policies():
    sim = simulate_long(600, 10, seed=2)
    t = sensitivity_table(sim.frame).set_index(["policy", "model"])
    for m in ("model-a", "model-b"):
        # any-labeller >= majority >= all-labellers for both bounds
        for col in ("lower", "upper"):
            assert t.loc[("any", m), col] >= t.loc[("majority", m), col] >= t.loc[("all", m), col]


def test_one_sided_upper_bound_vs_binomtest():
    for k, n in [(0, 149), (1, 100), (3, 500), (10, 1000), (7, 7)]:
        ci = stats.binomtest(k, n, alternative="less").proportion_ci(0.95)
        assert upper_bound(k, n, 0.95) == pytest.approx(ci.high, abs=1e-9)
    # one-sided 95 % equals the upper end of the two-sided 90 % CP interval
    assert upper_bound(4, 300, 0.95) == pytest.approx(proportion_confint(4, 300, 0.1, "beta")[1], abs=1e-12)


def test_certify_pass_fail():
    r = pd.DataFrame({"model": ["a", "b", "c"], "n": [149, 148, 400], "k_lower": [0, 0, 1],
                      "k_upper": [0, 0, 5]})
    c = certify(r, 0.02, 0.95).set_index("model")
    assert c.loc["a", "passes"] and not c.loc["b", "passes"] and not c.loc["c", "passes"]
    assert certify(r, 0.02, 0.95, count="lower").set_index("model").loc["c", "passes"]


def _brute_force(p, k, c):
    n = k + 1
    while stats.binomtest(k, n, alternative="less").proportion_ci(c).high >= p:
        n += 1
    return n


@pytest.mark.parametrize("p,k,c", [(0.02, 0, 0.95), (0.02, 2, 0.95), (0.05, 1, 0.9), (0.01, 0, 0.99),
                                   (0.1, 5, 0.95)])
def test_planner_vs_brute_force(p, k, c):
    assert min_completions(p, k, c) == _brute_force(p, k, c)


def test_planner_rule_of_three():
    assert min_completions(0.02, 0, 0.95) == 149
    assert abs(min_completions(0.001, 0, 0.95) - 3 / 0.001) < 10
    with pytest.raises(ValueError):
        min_completions(1.5, 0, 0.95)
