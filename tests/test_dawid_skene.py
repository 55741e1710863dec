"""Dawid–Skene: agreement with crowd-kit, recovery of simulated labeller accuracies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene

from oma_analysis import OmaError
from oma_analysis.demo.simulate import simulate_long
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.dawid_skene import dawid_skene

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore:.*(inplace|copy) keyword")


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(7)
    acc = rng.uniform(0.65, 0.95, 30)
    return simulate_long(12000, 30, per_item=3, accuracy=acc, seed=7,
                         class_probs=[[0.15, 0.2, 0.65], [0.25, 0.15, 0.6]])


def test_matches_crowdkit(sim):
    df = sim.frame[["task", "worker", "label"]]
    ours = dawid_skene(df)
    ck = DawidSkene(n_iter=100).fit(df)
    theirs = ck.labels_.reindex(ours.tasks)
    assert (ours.labels() == theirs.to_numpy()).mean() >= 0.999
    assert ours.n_iter == len(ck.loss_history_)
    err = ck.errors_.reindex(ours.errors_frame().index)[ours.classes]
    np.testing.assert_allclose(ours.errors_frame().to_numpy(), err.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.priors, ck.priors_.reindex(ours.classes).to_numpy(), atol=1e-8)
    post = ck.probas_.reindex(ours.tasks)[ours.classes].to_numpy()
    np.testing.assert_allclose(ours.posteriors, post, atol=1e-6)


def test_recovers_simulated_accuracies(sim):
    res = dawid_skene(sim.frame, classes=RUBRIC.verdict_ids)
    # overall accuracy of worker w = sum_c prior_c * P(correct | c)
    est = pd.Series(res.diagonal().to_numpy() @ res.priors, index=res.diagonal().index)
    diff = (est - sim.accuracy.reindex(est.index)).abs()
    assert diff.max() <= 0.05, diff.sort_values().tail()
    # and the aggregated labels beat single labellers
    truth = sim.truth.reindex(("c" + pd.Index(res.tasks).str[1:]).to_numpy()).to_numpy()
    assert (res.labels() == truth).mean() > 0.93


def test_gold_clamps_posteriors():
    df = pd.DataFrame({"task": ["1", "1", "2", "2"], "worker": ["a", "b", "a", "b"],
                       "label": ["x", "y", "x", "x"]})
    res = dawid_skene(df, gold=pd.Series({"1": "y"}))
    assert res.labels_series()["1"] == "y"
    assert res.posteriors_frame().loc["1", "y"] == 1.0


def test_unknown_label_raises():
    df = pd.DataFrame({"task": ["1"], "worker": ["a"], "label": ["nope"]})
    with pytest.raises(OmaError, match="nope"):
        dawid_skene(df, classes=RUBRIC.verdict_ids)


def test_one_verdict_fit_serves_the_aggregation_and_the_labeller_table(monkeypatch):
    """`verdict_ds` (per completion, gold clamped) is the fit `aggregate(..., "dawid-skene")` would
    make itself; passed as ``fitted`` it is reused (no second EM), and with gold the clamped tasks
    take the gold label."""
    from oma_analysis.stats import aggregate as agg_mod
    from oma_analysis.stats.labellers import labeller_table, verdict_ds

    small = simulate_long(600, 8, per_item=3, seed=3)
    frame = small.frame
    q = "obvious_misalignment"
    own = agg_mod.aggregate(frame, "dawid-skene", [q])
    ds = verdict_ds(frame, question=q)
    calls = []
    monkeypatch.setattr(agg_mod, "dawid_skene", lambda *a, **k: calls.append(1) or dawid_skene(*a, **k))
    reused = agg_mod.aggregate(frame, "dawid-skene", [q], fitted={q: ds})
    assert calls == []  # the verdict's model is not fitted again
    assert reused["label"].tolist() == own["label"].tolist()
    np.testing.assert_allclose(reused[[f"p_{c}" for c in RUBRIC.verdict_ids]].to_numpy(),
                               own[[f"p_{c}" for c in RUBRIC.verdict_ids]].to_numpy(), atol=1e-9)
    table = labeller_table(frame, question=q, ds=ds)
    diag = ds.diagonal()
    assert np.allclose(table.set_index("worker").loc[diag.index, [f"ds_{c}" for c in RUBRIC.verdict_ids]].to_numpy(),
                       diag.to_numpy())
    # gold: the clamped completions come out as their gold label
    first = frame.drop_duplicates("completion").head(50)
    flipped = first.assign(worker="researcher", ground_truth=True,
                           label=[RUBRIC.verdict_ids[0]] * len(first))
    with_gold = pd.concat([frame.assign(ground_truth=False), flipped], ignore_index=True)
    gds = verdict_ds(with_gold, question=q)
    out = agg_mod.aggregate(with_gold, "dawid-skene", [q], fitted={q: gds}).set_index("completion")
    assert (out.loc[first["completion"].astype(str), "label"] == RUBRIC.verdict_ids[0]).all()
    # a fit of other rows is not reused: the aggregation fits its own
    agg_mod.aggregate(frame.head(300), "dawid-skene", [q], fitted={q: ds})
    assert calls
