"""Out-of-core counts (DuckDB over the Parquet tidy frame) give the in-memory numbers: every
counts-based coefficient at every level, and the bounded rates under each counts-based policy, on
random Label Studio exports and on a random long frame with repeated ratings and missing labels."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oma_analysis.ingest import load
from oma_analysis.scale.counts import (
    aggregate_from_parquet,
    agreement_from_parquet,
    rates_from_parquet,
    ratings_from_parquet,
    write_parquet,
)
from oma_analysis.stats.aggregate import aggregate
from oma_analysis.stats.agreement import agreement, ratings_from_frame
from oma_analysis.stats.rates import bounded_rates

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("large_export", ROOT / "benchmarks" / "large_export.py")
large_export = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(large_export)

COMBOS = [("percent", "nominal"), ("fleiss", "nominal"), ("ac1", "nominal"), ("bp", "nominal"),
          ("alpha", "nominal"), ("alpha", "ordinal"), ("alpha", "interval"), ("fleiss", "interval"),
          ("ac1", "ordinal")]


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12


def _compare_agreement(frame: pd.DataFrame, path: Path, questions: list[str]) -> int:
    checked = 0
    for q in questions:
        mem = ratings_from_frame(frame, q)
        ooc = ratings_from_parquet(path, q)
        assert ooc.categories == mem.categories and ooc.n_units == mem.n_units
        assert ooc.n_duplicates == mem.n_duplicates and ooc.prevalence() == pytest.approx(mem.prevalence(), abs=0)
        numeric = not np.isnan(mem.values).any()
        for metric, level in COMBOS:
            if level != "nominal" and not numeric:
                continue
            a = agreement(mem, metric, level, n_boot=50, seed=3)
            b = agreement_from_parquet(path, metric, level, question=q, n_boot=50, seed=3)
            for f in ("value", "se", "pa", "pe", "ci_low", "ci_high"):
                assert _close(getattr(a, f), getattr(b, f)), (q, metric, level, f, getattr(a, f), getattr(b, f))
            assert (a.n_units, a.n_pairable, a.n_ratings) == (b.n_units, b.n_pairable, b.n_ratings)
            assert a.companions.keys() == b.companions.keys()
            for k, v in a.companions.items():
                assert v == b.companions[k] if isinstance(v, str) else _close(v, b.companions[k])
            checked += 1
    return checked


def _compare_rates(frame: pd.DataFrame, path: Path) -> None:
    for policy in ("majority", "any", "all"):
        mem_agg, ooc_agg = aggregate(frame, policy), aggregate_from_parquet(path, policy)
        pd.testing.assert_frame_equal(mem_agg.reset_index(drop=True), ooc_agg, check_dtype=False)
        a, b = bounded_rates(mem_agg), rates_from_parquet(path, policy)
        assert len(a) > 0
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_ls_exports_same_numbers(tmp_path: Path, seed: int) -> None:
    export = tmp_path / "export.json"
    large_export.write_export(export, 1500 + 700 * seed, per_task=int(2 + seed), seed=seed)
    frame = load(export).frame
    path = write_parquet(frame, tmp_path / "frame.parquet")
    qs = sorted(frame["question"].unique())
    rng = np.random.default_rng(seed)
    picked = ["verdict", "confidence", "obvious_misalignment", "intent_task"]
    picked += list(rng.choice([q for q in qs if q not in picked], 4, replace=False))
    assert _compare_agreement(frame, path, picked) >= 30
    _compare_rates(frame, path)


def test_random_long_frame_with_repeats_and_gaps(tmp_path: Path) -> None:
    from oma_analysis.demo.simulate import simulate_long

    sim = simulate_long(400, 12, per_item=3, models=("a", "b"), class_probs=[[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]],
                        seed=5).frame.drop(columns=["ground_truth"])
    rng = np.random.default_rng(0)
    again = sim.sample(150, random_state=1).assign(label=lambda d: rng.choice(
        ["clearly_misaligned", "ambiguous", "clearly_aligned"], len(d)))  # later ratings replace earlier
    frame = pd.concat([sim, again], ignore_index=True)
    frame.loc[rng.choice(len(frame), 40, replace=False), "label"] = None
    frame["ground_truth"] = False
    frame.loc[rng.choice(len(frame), 30, replace=False), "ground_truth"] = True
    path = write_parquet(frame, tmp_path / "long.parquet")
    q = str(frame["question"].iloc[0])
    assert ratings_from_parquet(path, q).n_duplicates == ratings_from_frame(frame, q).n_duplicates > 0
    assert _compare_agreement(frame, path, [q]) == len(COMBOS)
    _compare_rates(frame, path)
    with pytest.raises(ValueError, match="cohen needs"):
        agreement_from_parquet(path, "cohen", question=q)
