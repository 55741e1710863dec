"""Aggregation policies on the rule questions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.aggregate import aggregate, rule_questions, split_verdict_rows

CM, AMB, CA = RUBRIC.verdict_ids
Q = RUBRIC.misalignment_question()
QF = RUBRIC.misalignment_question(failure_type=RUBRIC.failure_types.choices[0].id)


def _frame():
    rows = [  # completion, worker, question, label
        ("c1", "a", Q, CM), ("c1", "b", Q, CM), ("c1", "c", Q, CA),
        ("c2", "a", Q, AMB), ("c2", "b", Q, CA), ("c2", "c", Q, CA),
        ("c3", "a", Q, CM), ("c3", "b", Q, CA),
        ("c1", "a", QF, CM), ("c1", "b", QF, AMB), ("c1", "c", QF, CA),
        ("c1", "r", Q, CA),  # gold annotation: not aggregated
        ("c2", "a", "verdict", CM),  # raw verdict: not a rule question
    ]
    df = pd.DataFrame(rows, columns=["completion", "worker", "question", "label"])
    df["task"] = df["completion"]
    df["model"] = ["m1"] * 3 + ["m2"] * 3 + ["m1"] * 2 + ["m1"] * 3 + ["m1", "m2"]
    df["prompt"] = "p"
    df["ground_truth"] = [False] * 11 + [True, False]
    return df


def _labels(policy):
    a = aggregate(_frame(), policy)
    return {(r.completion, r.question): r.label for r in a.itertuples()}


def test_policies():
    assert rule_questions(_frame()) == [Q, QF]
    maj = _labels("majority")
    assert maj[("c1", Q)] == CM and maj[("c2", Q)] == CA and maj[("c3", Q)] == AMB  # tie -> ambiguous
    assert maj[("c1", QF)] == AMB  # three-way tie
    anyl = _labels("any")
    assert anyl[("c2", Q)] == AMB and anyl[("c3", Q)] == CM and anyl[("c1", QF)] == CM
    alll = _labels("all")
    assert alll[("c1", Q)] == CA and alll[("c1", QF)] == CA
    a = aggregate(_frame(), "majority").set_index(["completion", "question"])
    assert a.loc[("c1", Q), "n_labels"] == 3  # the gold row is left out
    assert a.loc[("c2", Q), "model"] == "m2"


def test_dawid_skene_policy_has_posteriors():
    a = aggregate(_frame(), "dawid-skene")
    p = a[[f"p_{c}" for c in RUBRIC.verdict_ids]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1)
    assert (np.asarray(RUBRIC.verdict_ids)[p.argmax(axis=1)] == a["label"].to_numpy()).all()


def test_bad_labels_reported_not_lost():
    df = _frame()
    df.loc[0, "label"] = "clearly_bad"
    ok, bad = split_verdict_rows(df)
    assert len(ok) + len(bad) == 11  # 13 rows - 1 gold - 1 raw verdict
    assert bad["reason"].str.contains("clearly_bad").all() and bad["task"].tolist() == ["c1"]
