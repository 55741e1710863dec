"""Labeller quality: gold and leave-one-out scores, calibration, screening, DS diagonal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from oma_analysis import OmaError
from oma_analysis.demo.simulate import simulate_long
from oma_analysis.report.records import labeller_records
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.disagreements import disagreements
from oma_analysis.stats.labellers import (
    calibration,
    labeller_table,
    loo_majority,
    read_gold_file,
    screening,
    worker_quality,
)

CM, AMB, CA = RUBRIC.verdict_ids


def _with_gold(sim, n_gold=300):
    """Add researcher (ground-truth) rows equal to the truth on the first n_gold completions."""
    comp = sim.truth.index[:n_gold]
    f = sim.frame
    first = f.drop_duplicates("completion").set_index("completion").loc[comp]
    gold = first.reset_index().assign(worker="researcher", label=sim.truth.loc[comp].to_numpy(),
                                      ground_truth=True)
    return pd.concat([f, gold[f.columns]], ignore_index=True)


def test_loo_majority_by_brute_force():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"task": rng.integers(0, 30, 200).astype(str), "question": "q",
                       "label": rng.choice(["x", "y", "z"], 200)})
    got = loo_majority(df)
    for i in range(len(df)):
        others = df.drop(index=i)
        o = others[others.task == df.task[i]].label.value_counts()
        want = None if o.empty or (o == o.max()).sum() > 1 else o.idxmax()
        assert got[i] == want


def test_gold_accuracy_recovers_simulated_accuracy():
    acc = np.r_[np.full(8, 0.95), np.full(2, 0.5)]
    sim = simulate_long(4000, 10, seed=3, accuracy=acc, class_probs=[[0.3, 0.3, 0.4]] * 2)
    df = _with_gold(sim, 4000)
    q = worker_quality(df).set_index(["reference", "worker"])
    for w, a in sim.accuracy.items():
        assert q.loc[("gold", w), "accuracy"] == pytest.approx(a, abs=0.05)
    # sensitivity/specificity by hand for one worker
    crowd = df[~df.ground_truth]
    w0 = crowd[crowd.worker == "w0"]
    ref = sim.truth.reindex(w0.completion).to_numpy()
    pos_r, pos_s = ref != CA, w0.label.to_numpy() != CA
    assert q.loc[("gold", "w0"), "sensitivity"] == pytest.approx((pos_s & pos_r).sum() / pos_r.sum())
    assert q.loc[("gold", "w0"), "specificity"] == pytest.approx((~pos_s & ~pos_r).sum() / (~pos_r).sum())
    recs = {r["worker"]: r for r in labeller_records(labeller_table(df))}
    assert recs["w9"]["flagged"] and not recs["w0"]["flagged"]
    assert recs["w0"]["reference"] == "gold" and "researcher" not in recs
    assert recs["w0"]["ds_accuracy"] == pytest.approx(0.95, abs=0.05)


def test_gold_file_and_screening(tmp_path):
    sim = simulate_long(300, 6, seed=4, accuracy=[0.95] * 5 + [0.4])
    p = tmp_path / "gold.csv"
    pd.DataFrame({"task": sim.frame.drop_duplicates("completion").task.to_numpy(),
                  "label": sim.truth.to_numpy()}).to_csv(p, index=False)
    g = read_gold_file(p)
    s = screening(worker_quality(sim.frame, g), threshold=0.75).set_index("worker")
    assert s.loc["w5", "flagged"] and s.loc["w5", "basis"] == "gold"
    assert not s[s.index != "w5"]["flagged"].any()
    bad = tmp_path / "bad.csv"
    bad.write_text("task,label\n1,\n")
    with pytest.raises(OmaError, match="line 2"):
        read_gold_file(bad)


def test_calibration_per_week():
    sim = simulate_long(800, 5, seed=9, accuracy=[0.9] * 5)
    df = _with_gold(sim, 800)
    cal = calibration(df)
    assert set(cal.columns) == {"worker", "week", "reference", "n", "agreement"}
    assert cal["week"].nunique() >= 4 and (cal.reference == "gold").all()
    assert cal["n"].sum() == len(sim.frame)
    assert cal["agreement"].mean() == pytest.approx(0.9, abs=0.04)


def test_disagreements_rank_the_labellers_split_before_gold_conflicts():
    """Task 1: labellers split three ways; task 2: they agree, against gold. The split ranks first
    (gold disagreement only breaks ties), and the gold conflict is still reported."""
    df = pd.DataFrame({"task": ["1"] * 3 + ["2"] * 3 + ["2"], "worker": list("abc") * 2 + ["r"],
                       "question": "q", "label": ["x", "y", "z", "x", "x", "x", "y"],
                       "ground_truth": [False] * 6 + [True]})
    t = disagreements(df, top=5)
    assert t.task.tolist() == ["1", "2"] and t.gold_disagreement.iloc[1] == 1.0
    assert t.labels.iloc[0].count(":1") == 3
    assert disagreements(df, top=5, only_disagreeing=True).task.tolist() == ["1"]
