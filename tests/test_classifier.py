"""The intent classifier: one small real fine-tune (seconds), the model store's atomic swap, the
training-data builders and the ``oma train`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from oma_analysis import OmaError
from oma_analysis.checks.ifeval import load_ifeval
from oma_analysis.classifier import (
    IntentClassifier,
    current_version,
    data_hash,
    expected_calibration_error,
    from_long_frame,
    ifeval_pairs,
    list_versions,
    publish,
)
from oma_analysis.cli import main
from oma_analysis.commands.train import read_training_file
from oma_analysis.rubric import RUBRIC

WORST, MIDDLE, BEST = (c.id for c in RUBRIC.verdict.choices)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> tuple[Path, pd.DataFrame]:
    """``oma train`` on 64 IFEval-derived pairs (texts cut short so one epoch takes seconds)."""
    df = ifeval_pairs(load_ifeval(shared_dir / "datasets" / "ifeval"), n=64, seed=1)
    d = tmp_path_factory.mktemp("clf")
    data = d / "train.jsonl"
    with data.open("w") as fh:
        for a, b, y in df.itertuples(index=False):
            fh.write(json.dumps({"prompt": a[:200], "completion": b[:300], "label": int(y)}) + "\n")
    root = d / "models"
    res = CliRunner().invoke(main, ["train", "--data", str(data), "--out", str(root), "--epochs", "1",
                                    "--max-length", "64", "--batch-size", "16", "--no-gate"])
    assert res.exit_code == 0, res.output
    assert "current" in res.output
    return root, df


def test_ifeval_pairs_are_balanced_and_corrupted(shared_dir: Path) -> None:
    df = ifeval_pairs(load_ifeval(shared_dir / "datasets" / "ifeval"), n=40, seed=0)
    assert len(df) == 40 and df["label"].value_counts().to_dict() == {0: 20, 1: 20}
    met, not_met = df[df.label == 0], df[df.label == 1]
    assert set(met["text_a"]) == set(not_met["text_a"])  # same prompts, good vs broken answers
    pairs = lambda d: set(zip(d["text_a"], d["text_b"], strict=True))  # noqa: E731
    assert not pairs(met) & pairs(not_met)
    for a, b in zip(met["text_a"], met["text_b"], strict=True):  # every broken answer differs from the good one
        assert b not in set(not_met.loc[not_met["text_a"] == a, "text_b"])


def test_training_writes_a_versioned_model_with_a_card(trained: tuple[Path, pd.DataFrame]) -> None:
    root, _ = trained
    v = current_version(root)
    assert list_versions(root) == [v.name]
    card = json.loads((v / "card.json").read_text())
    for key in ("auroc", "accuracy", "ece", "label_counts", "base_model", "data_hash", "created", "version"):
        assert key in card, key
    assert card["version"] == v.name and card["data_hash"][:8] in v.name
    assert card["label_counts"]["all"] == {"met": 32, "not_met": 32}
    assert card["label_counts"]["held_out"]["met"] + card["label_counts"]["held_out"]["not_met"] == card["held_out_n"]
    assert 0.0 <= card["accuracy"] <= 1.0 and 0.0 <= card["ece"] <= 0.5
    assert card["class_weights"] and "MiniLM" in card["base_model"]
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp")]


def test_load_and_predict(trained: tuple[Path, pd.DataFrame]) -> None:
    root, df = trained
    clf = IntentClassifier.load(root)
    pairs = [(a[:200], b[:300]) for a, b in zip(df["text_a"][:20], df["text_b"][:20], strict=True)]
    p = clf.predict(pairs, batch_size=8)
    assert p.shape == (20,) and p.dtype == np.float32
    assert ((p >= 0) & (p <= 1)).all() and p.std() > 0  # depends on the input
    # Order is kept although batches are sorted by length internally.
    assert np.allclose(clf.predict(pairs[::-1], batch_size=8), p[::-1], atol=1e-5)
    q = IntentClassifier.load(root, quantize=True)
    assert q.quantized and np.abs(q.predict(pairs) - p).max() < 0.1
    assert clf.predict([]).shape == (0,)
    with pytest.raises(OmaError, match="pair 0"):
        clf.predict([("only one",)])  # type: ignore[list-item]


def test_failed_write_leaves_the_old_model_live(trained: tuple[Path, pd.DataFrame]) -> None:
    root, _ = trained
    before = current_version(root)

    def half_write(tmp: Path) -> None:
        (tmp / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        publish(root, "20991231T000000Z-deadbeef", half_write)
    assert current_version(root) == before
    assert list_versions(root) == [before.name]
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp")]
    assert IntentClassifier.load(root).version == before.name

    # A complete write swaps the pointer.
    new = publish(root, "20991231T000000Z-deadbeef", lambda tmp: (tmp / "card.json").write_text("{}"))
    assert current_version(root) == new and (root / before.name).is_dir()


def test_current_version_errors(tmp_path: Path) -> None:
    with pytest.raises(OmaError, match="no trained model yet"):
        current_version(tmp_path)
    (tmp_path / "current").write_text("gone\n")
    with pytest.raises(OmaError, match="missing version 'gone'"):
        current_version(tmp_path)


def test_from_long_frame_aggregates_per_task() -> None:
    q = RUBRIC.misalignment_question()
    frame = pd.DataFrame({
        "task": ["1", "1", "1", "2", "2", "3", "3", "4", "1"],
        "worker": list("abcabababz"[:9]),
        "question": [q] * 8 + ["verdict"],
        "label": [WORST, WORST, BEST, BEST, MIDDLE, WORST, BEST, MIDDLE, BEST],
    })
    texts = pd.DataFrame({"task": ["1", "2", "3", "4"], "text_a": ["p1", "p2", "p3", "p4"],
                          "text_b": ["c1", "c2", "c3", "c4"]})
    out = from_long_frame(frame, texts)
    # task 1: 2 of 3 say misaligned -> not met; task 2: the ambiguous vote is ignored -> met;
    # task 3: a tie -> left out; task 4: only ambiguous -> left out; raw "verdict" rows are ignored.
    assert out[["task", "label", "n_votes"]].values.tolist() == [["1", 1, 3], ["2", 0, 1]]
    assert out["text_b"].tolist() == ["c1", "c2"]
    with pytest.raises(OmaError, match="missing column 'question'"):
        from_long_frame(frame.drop(columns="question"), texts)


def test_ece_and_data_hash() -> None:
    y = np.array([1, 0, 1, 0])
    assert expected_calibration_error(y, np.array([1.0, 0.0, 1.0, 0.0])) == 0.0
    assert expected_calibration_error(y, np.array([0.0, 1.0, 0.0, 1.0])) == pytest.approx(1.0)
    assert expected_calibration_error(np.array([1, 0]), np.array([0.7, 0.7])) == pytest.approx(0.2)
    a = pd.DataFrame({"text_a": ["x", "y"], "text_b": ["1", "2"], "label": [0, 1]})
    assert data_hash(a) == data_hash(a.iloc[::-1]) != data_hash(a.assign(label=[1, 1]))


def test_read_training_file(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text(f"prompt,completion,label\np,c,{WORST}\np,d,{MIDDLE}\nq,e,met\nr,s,0\n")
    df = read_training_file(f)
    assert df["label"].tolist() == [1, 0, 0] and df["text_b"].tolist() == ["c", "e", "s"]
    j = tmp_path / "d.jsonl"
    j.write_text('{"prompt": "p", "completion": "c", "label": 1}\n'
                 '{"prompt": "p", "completion": "c", "label": "maybe"}\n')
    with pytest.raises(OmaError, match=r"d\.jsonl line 2: field 'label'"):
        read_training_file(j)
    j.write_text('{"prompt": "p", "label": 1}\n')
    with pytest.raises(OmaError, match="line 1: field 'completion'"):
        read_training_file(j)
    res = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "no such file" in res.output


def test_gate_auroc_and_bootstrap_ci_against_independent_formulas() -> None:
    from sklearn.metrics import roc_auc_score

    from oma_analysis.classifier.gate import auroc, auroc_ci, decide

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(100, int), np.zeros(100, int)]
    s = np.r_[rng.normal(1.0, 1, 100), rng.normal(0, 1, 100)].round(1)  # ties on purpose
    a = auroc(y, s)
    assert a == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    lo, hi = auroc_ci(y, s)
    # Hanley & McNeil (1982) standard error of AUROC; the bootstrap CI is close to +-1.96 SE.
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = np.sqrt((a * (1 - a) + 99 * (q1 - a * a) + 99 * (q2 - a * a)) / (100 * 100))
    assert (hi - lo) / 2 == pytest.approx(1.96 * se, rel=0.2) and lo < a < hi
    # No signal: not served. Clear signal: served, unless the served model is as good on the same rows.
    noise = rng.normal(size=200)
    assert not decide(y, noise, None).serve
    assert decide(y, s, None).serve
    assert not decide(y, s, s + 0.0).serve
    assert decide(y, s, noise).serve
    assert not decide(np.ones(5, int), np.arange(5.0), None).serve


def test_temperature_scaling_recovers_a_known_temperature() -> None:
    from oma_analysis.classifier.gate import cross_fitted_ece, fit_temperature, sigmoid

    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 20000)
    y = (rng.random(20000) < sigmoid(z)).astype(int)
    assert fit_temperature(y, 3 * z) == pytest.approx(3.0, rel=0.05)  # overconfident by 3x
    raw = expected_calibration_error(y, sigmoid(3 * z))
    assert cross_fitted_ece(y, 3 * z) < 0.02 < raw


def test_evidence_precision_recall_recomputed() -> None:
    from oma_analysis.classifier import evidence_precision_recall

    q = RUBRIC.misalignment_question()
    # Tasks 1-4 misaligned, 5-8 aligned (one label each); task 9 labelled with a verdict in view.
    labels = pd.DataFrame({"task": [str(i) for i in range(1, 10)], "worker": "w", "question": q,
                           "label": [WORST] * 4 + [BEST] * 4 + [WORST],
                           "saw_verdict": [False] * 8 + [True]})
    ev = pd.DataFrame({"task": ["1", "2", "3", "5", "9", "1", "6"], "kind": ["a", "a", "a", "a", "a", "b", "b"]})
    out = evidence_precision_recall(ev, labels).set_index("kind")
    assert out.loc["a", ["flagged", "true_pos", "positives"]].tolist() == [4, 3, 4]
    assert out.loc["a", "precision"] == 0.75 and out.loc["a", "recall"] == 0.75
    assert out.loc["b", "precision"] == 0.5 and out.loc["b", "recall"] == 0.25
    zz, n, ph = 1.959964**2, 4, 0.75  # Wilson score interval, written out
    mid = (ph + zz / (2 * n)) / (1 + zz / n)
    half = np.sqrt(zz * (ph * (1 - ph) / n + zz / (4 * n * n))) / (1 + zz / n)
    lo, hi = mid - half, mid + half
    assert (out.loc["a", "precision_lo"], out.loc["a", "precision_hi"]) == pytest.approx((lo, hi))
    assert out.loc["a", "n_labels_left_out"] == 1 and out.loc["a", "n_tasks"] == 8
