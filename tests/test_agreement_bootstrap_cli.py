"""Vectorised bootstrap (equals explicit resampling; intervals cover and shrink) and the
``oma agreement`` command on long CSVs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from oma_analysis.cli import main
from oma_analysis.stats.agreement import agreement, alpha_from_counts, fleiss_kappa, krippendorff_alpha
from oma_analysis.stats.agreement.alpha import alpha_replicates
from oma_analysis.stats.agreement.bootstrap import bootstrap_weights


def _frame(rng: np.random.Generator, n_units: int, n_raters: int = 3, q: int = 3, missing: float = 0.0,
           agree: float = 0.7) -> pd.DataFrame:
    truth = rng.integers(0, q, n_units)
    lab = np.where(rng.random((n_raters, n_units)) < agree, truth, rng.integers(0, q, (n_raters, n_units)))
    keep = rng.random((n_raters, n_units)) >= missing
    r, u = np.nonzero(keep)
    return pd.DataFrame({"task": u.astype(str), "worker": [f"w{i}" for i in r], "label": (lab[r, u] + 1).astype(str)})


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_replicates_equal_explicit_resampling(level: str) -> None:
    rng = np.random.default_rng(0)
    counts = rng.multinomial(3, [0.5, 0.2, 0.15, 0.1, 0.05], size=40)
    vals = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    rep = alpha_replicates(counts, vals, level, 6, seed=42)
    weights = np.vstack(list(bootstrap_weights(40, 6, np.random.default_rng(42))))
    explicit = [alpha_from_counts(np.repeat(counts, w.astype(int), axis=0), vals, level) for w in weights]
    np.testing.assert_allclose(rep, explicit, rtol=0, atol=1e-9)


def test_bootstrap_ci_covers_estimate_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for n in (100, 1600):
        df = _frame(rng, n, missing=0.2)
        for metric in ("alpha", "fleiss", "ac1", "percent", "bp"):
            res = agreement(df, metric, n_boot=300, seed=3)
            assert res.ci_low <= res.value <= res.ci_high, (metric, n, res)
        res = krippendorff_alpha(df, "nominal", n_boot=300, seed=3)
        widths.append(res.ci_high - res.ci_low)
    # sd ~ 1/sqrt(n): 16x the units -> about a quarter of the width
    assert widths[1] < 0.5 * widths[0]


def test_bootstrap_is_reproducible_with_seed_and_varies_without() -> None:
    df = _frame(np.random.default_rng(2), 300)
    a = krippendorff_alpha(df, n_boot=200, seed=5)
    b = krippendorff_alpha(df, n_boot=200, seed=5)
    c = krippendorff_alpha(df, n_boot=200, seed=6)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)


def test_analytic_and_bootstrap_intervals_agree_roughly() -> None:
    df = _frame(np.random.default_rng(3), 2000, missing=0.2)
    analytic = fleiss_kappa(df)
    boot = fleiss_kappa(df, n_boot=500, seed=1)
    assert analytic.ci_method == "analytic-t" and boot.ci_method == "bootstrap-percentile:500"
    width_a, width_b = analytic.ci_high - analytic.ci_low, boot.ci_high - boot.ci_low
    assert 0.7 < width_b / width_a < 1.4


# ---- CLI ------------------------------------------------------------------------------------------
def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.output


def test_cli_agreement_alpha_bootstrap_json(tmp_path) -> None:
    df = _frame(np.random.default_rng(4), 120, missing=0.1)
    path = tmp_path / "long.csv"
    df.to_csv(path, index=False)
    code, out = _run("agreement", str(path), "--metric", "alpha", "--level", "ordinal",
                     "--ci", "bootstrap:200", "--seed", "1", "--json")
    assert code == 0, out
    got = json.loads(out)
    for key in ("metric", "level", "value", "ci_low", "ci_high", "n_units", "n_pairable", "kappa_paradox",
                "prevalence"):
        assert key in got
    assert got["metric"] == "alpha" and got["level"] == "ordinal"
    assert got["n_units"] == df["task"].nunique()
    assert got["value"] == pytest.approx(krippendorff_alpha(df, "ordinal").value, abs=1e-12)
    assert got["ci_low"] <= got["value"] <= got["ci_high"]


@pytest.mark.parametrize("metric", ["percent", "fleiss", "ac1", "bp"])
def test_cli_each_multirater_metric(tmp_path, metric: str) -> None:
    df = _frame(np.random.default_rng(5), 60)
    path = tmp_path / "long.csv"
    df.to_csv(path, index=False)
    code, out = _run("agreement", str(path), "--metric", metric, "--json")
    assert code == 0, out
    got = json.loads(out)
    assert got["value"] == pytest.approx(agreement(df, metric).value, abs=1e-12)
    assert got["ci_low"] is not None  # analytic interval by default


def test_cli_questions_and_errors(tmp_path) -> None:
    df = _frame(np.random.default_rng(6), 50)
    two = pd.concat([df.assign(question="intent_task"), df.assign(question="intent_length",
                                                                  label=df["label"].iloc[::-1].to_numpy())])
    path = tmp_path / "q.csv"
    two.to_csv(path, index=False)
    code, out = _run("agreement", str(path), "--metric", "fleiss", "--json")
    assert code == 2 and "--question" in out
    code, out = _run("agreement", str(path), "--metric", "fleiss", "--question", "intent_length", "--json")
    assert code == 0
    assert json.loads(out)["question"] == "intent_length"
    code, out = _run("agreement", str(path), "--metric", "cohen", "--question", "intent_task", "--json")
    assert code == 2 and "two raters" in out
    code, out = _run("agreement", str(path), "--metric", "cohen", "--question", "intent_task",
                     "--raters", "w0,w1", "--json")
    assert code == 0 and json.loads(out)["n_pairable"] == 50
    code, out = _run("agreement", str(path), "--metric", "alpha", "--ci", "jackknife:5")
    assert code == 2


def test_cli_verdict_labels_and_paradox_text(tmp_path) -> None:
    n = 100
    mis = np.zeros(n, bool)
    mis[:4] = True
    other = mis.copy()
    other[3:5] = ~other[3:5]
    df = pd.DataFrame({"task": np.r_[np.arange(n), np.arange(n)].astype(str), "worker": ["a"] * n + ["b"] * n,
                       "label": np.where(np.r_[mis, other], "clearly_misaligned", "clearly_aligned")})
    path = tmp_path / "v.csv"
    df.to_csv(path, index=False)
    code, out = _run("agreement", str(path), "--metric", "cohen")
    assert code == 0 and "kappa paradox" in out and "AC1" in out
    code, out = _run("agreement", str(path), "--metric", "alpha", "--level", "ordinal", "--json")
    got = json.loads(out)
    assert got["question"] == "obvious_misalignment" and got["kappa_paradox"] is True
    assert set(got["companions"]) == {"ac1", "positive_agreement", "positive_category"}
