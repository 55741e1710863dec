"""Model comparison: McNemar vs statsmodels/scipy, Newcombe vs published values, Cochran's Q, GEE, Holm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from oma_analysis.demo.simulate import simulate_long
from oma_analysis.stats.aggregate import aggregate
from oma_analysis.stats.compare import (
    cochran_q,
    compare_models,
    mcnemar_pair,
    newcombe_paired,
    newcombe_unpaired,
    paired_matrix,
)


def test_mcnemar_exact_and_chi2_against_independent():
    rng = np.random.default_rng(1)
    for n, p_flip in [(40, 0.2), (400, 0.15)]:
        ya = (rng.random(n) < 0.3).astype(int)
        yb = np.where(rng.random(n) < p_flip, 1 - ya, ya)
        r = mcnemar_pair(ya, yb)
        b, c = r["b"], r["c"]
        if r["exact"]:
            assert b + c < 25
            assert r["pvalue"] == pytest.approx(stats.binomtest(min(b, c), b + c, 0.5).pvalue)
        else:
            chi2 = (abs(b - c) - 1) ** 2 / (b + c)
            assert r["pvalue"] == pytest.approx(stats.chi2.sf(chi2, 1))
            assert r["pvalue"] == pytest.approx(mcnemar([[r["a"], b], [c, r["d"]]], exact=False).pvalue)


def test_newcombe_published_values():
    # Fagerland, Lydersen & Laake (2017), ch. 8 and ch. 4 worked examples
    d, lo, hi = newcombe_paired(59, 6, 16, 80)
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (-0.0621, -0.1186, -0.0046)
    d, lo, hi = newcombe_unpaired(7, 34, 1, 34)
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (0.1765, 0.0189, 0.3404)


def test_newcombe_paired_coverage():
    rng = np.random.default_rng(5)
    n, runs, hits = 200, 600, 0
    p = np.array([0.05, 0.1, 0.05, 0.8])  # a, b, c, d cells: p1 - p2 = 0.05
    for _ in range(runs):
        a, b, c, d = rng.multinomial(n, p)
        _, lo, hi = newcombe_paired(a, b, c, d)
        hits += lo <= 0.05 <= hi
    assert 0.93 <= hits / runs <= 0.975


def test_cochran_q_equals_mcnemar_without_correction_for_two():
    rng = np.random.default_rng(2)
    m = pd.DataFrame({"a": rng.integers(0, 2, 80), "b": rng.integers(0, 2, 80)})
    q = cochran_q(m)
    b = int(((m.a == 1) & (m.b == 0)).sum())
    c = int(((m.a == 0) & (m.b == 1)).sum())
    assert q["statistic"] == pytest.approx((b - c) ** 2 / (b + c))


def test_compare_models_end_to_end():
    sim = simulate_long(3000, 12, seed=8, models=("a", "b", "c"), accuracy=[0.97] * 12,
                        class_probs=[[0.02, 0.03, 0.95], [0.02, 0.03, 0.95], [0.15, 0.05, 0.8]])
    agg = aggregate(sim.frame, "majority")
    assert len(paired_matrix(agg)) == 1000
    out = compare_models(agg)
    pairs = {(p["model_a"], p["model_b"]): p for p in out["pairs"]}
    assert pairs[("a", "c")]["pvalue_holm"] < 1e-6 and pairs[("a", "b")]["pvalue_holm"] > 0.01
    for p in out["pairs"]:
        assert p["diff_ci"][0] <= p["diff"] <= p["diff_ci"][1]
        assert p["pvalue_holm"] >= p["pvalue"]
    assert out["cochran_q"]["pvalue"] < 1e-6 and out["cochran_q"]["df"] == 2
    eff = {e["model"]: e for e in out["gee"]["effects"]}
    assert eff["c"]["log_odds_ratio"] > 1 and eff["c"]["pvalue"] < 1e-6


def test_trend_on_model_size():
    sim = simulate_long(4000, 10, seed=4, models=("s", "m", "l", "xl"), accuracy=[0.98] * 10,
                        class_probs=[[0.2, 0.05, 0.75], [0.12, 0.05, 0.83], [0.06, 0.05, 0.89],
                                     [0.03, 0.05, 0.92]])
    sizes = {"s": 1e8, "m": 1e9, "l": 1e10, "xl": 1e11}
    f = sim.frame.assign(model_size=sim.frame.model.map(sizes))
    out = compare_models(aggregate(f, "majority"))
    (t,) = out["trends"]
    assert t["column"] == "model_size" and t["slope"] < 0 and t["pvalue"] < 1e-4
