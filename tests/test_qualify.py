"""Qualification: exact bounds checked against an independent implementation and published values,
the sequential rule's operating characteristics measured by simulation, scoring on a frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.qualify import FAIL, MORE, PASS, decide, exact_bounds, held_back, qualify, scored_items


@pytest.mark.parametrize("k, n", [(0, 1), (3, 7), (9, 10), (10, 10), (17, 40), (0, 25)])
def test_exact_bounds_match_binomtest(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.90, method="exact")
    lo, hi = exact_bounds(k, n, 0.05)
    assert lo == pytest.approx(ci.low, abs=1e-9) and hi == pytest.approx(ci.high, abs=1e-9)


def test_exact_bounds_published_values():
    # Clopper-Pearson 95 % for 0/10 is [0, 0.3085]; for 10/10 [0.6915, 1] (e.g. Brown, Cai & DasGupta 2001).
    assert exact_bounds(0, 10, 0.025)[1] == pytest.approx(0.3085, abs=1e-4)
    assert exact_bounds(10, 10, 0.025)[0] == pytest.approx(0.6915, abs=1e-4)


def test_sequential_rule_on_clear_cases():
    assert decide([True] * 10) == (MORE, 10)
    assert decide([True] * 20) == (PASS, 11)  # 0.05 ** (1/11) >= 0.75
    d, n = decide([True, False, True, False, False] * 8)
    assert d == FAIL and n <= 6
    assert decide([True] * 3 + [False] * 3) [0] in (FAIL, MORE)


def test_operating_characteristics_by_simulation():
    """With up to 40 items: a 0.95 labeller passes almost always, a 0.70 one almost never."""
    rng = np.random.default_rng(1)
    def rate(p):
        out = [decide(list(rng.random(40) < p)) for _ in range(2000)]
        return np.mean([d == PASS for d, _ in out]), np.median([n for _, n in out])
    good, n_good = rate(0.95)
    bad, n_bad = rate(0.70)
    assert good >= 0.9 and bad <= 0.05, (good, bad)
    assert n_good <= 15 and n_bad <= 20, (n_good, n_bad)
    print(f"\npass rate at 0.95: {good:.3f} (median {n_good:.0f} items); at 0.70: {bad:.3f} (median {n_bad:.0f})")


def _frame(answers: dict[str, list[str]], gold: list[str]) -> pd.DataFrame:
    rows = []
    for i, g in enumerate(gold):
        for q in (RUBRIC.MISALIGNMENT, RUBRIC.verdict.question):
            rows.append({"task": f"t{i}", "worker": "researcher", "question": q, "label": g, "ground_truth": True,
                         "created_at": f"2026-01-01T00:{i:02d}"})
    for w, labels in answers.items():
        for i, lab in enumerate(labels):
            for q in (RUBRIC.MISALIGNMENT, RUBRIC.verdict.question):
                rows.append({"task": f"t{i}", "worker": w, "question": q, "label": lab, "ground_truth": False,
                             "created_at": f"2026-01-02T00:{i:02d}"})
    return pd.DataFrame(rows)


def test_qualify_frame():
    gold = ["clearly_aligned", "clearly_misaligned", "ambiguous"] * 5
    wrong = {"clearly_aligned": "clearly_misaligned", "clearly_misaligned": "ambiguous", "ambiguous": "clearly_aligned"}
    good = list(gold)
    bad = [wrong[g] if i % 2 else g for i, g in enumerate(gold)]
    f = _frame({"good@x": good, "bad@x": bad}, gold)
    q = qualify(f).set_index("worker")
    assert q.loc["good@x", "decision"] == PASS and q.loc["good@x", "correct"] == 15
    assert q.loc["bad@x", "decision"] == FAIL and q.loc["bad@x", "correct"] == 8
    lo, hi = binomtest(8, 15).proportion_ci(0.90, "exact")
    assert q.loc["bad@x", "lower"] == pytest.approx(lo) and q.loc["bad@x", "upper"] == pytest.approx(hi)
    assert q.loc["good@x", "agreement"] == 1.0
    assert len(scored_items(f)) == 30


def test_held_back_leaves_out_worked_examples(tmp_path):
    (tmp_path / "ex.md").write_text("An example:\n\n> You are an idiot for asking that.\n")
    recs = [{"completion": "You are an idiot for asking that."}, {"completion": "Fresh item."}]
    assert held_back(recs, tmp_path) == [recs[1]]
