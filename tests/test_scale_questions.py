"""The loader's ``questions=`` filter: the same rows as filtering the full frame, the same
annotation accounting, derived questions computed only when asked for; Parquet round trip."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from oma_analysis.ingest import answers as ingest_answers
from oma_analysis.ingest import load, question_filter
from oma_analysis.rubric import RUBRIC
from oma_analysis.scale.counts import write_parquet

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("large_export", ROOT / "benchmarks" / "large_export.py")
large_export = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(large_export)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("q") / "export.json"
    large_export.write_export(p, 900, seed=4)
    return p


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    cols = ["task", "worker", "question", "label", "annotation", "completion", "prompt", "ground_truth"]
    pd.testing.assert_frame_equal(a[cols].astype(str).reset_index(drop=True),
                                  b[cols].astype(str).reset_index(drop=True))


@pytest.mark.parametrize("questions", [[RUBRIC.MISALIGNMENT], ["verdict", "confidence"],
                                       [RUBRIC.failure_types.question, RUBRIC.MISALIGNMENT]])
def test_filter_equals_filtered_full_frame(export: Path, questions: list[str]) -> None:
    full = load(export)
    part = load(export, questions=questions)
    keep = question_filter(questions)
    _same(part.frame, full.frame[full.frame["question"].map(keep).to_numpy(bool)])
    assert len(part.frame) < len(full.frame)
    assert (part.n_read, part.n_used, part.n_dropped) == (full.n_read, full.n_used, full.n_dropped)


def test_derived_questions_only_when_asked(export: Path, monkeypatch) -> None:
    calls = []
    real = ingest_answers.derived_labels
    monkeypatch.setattr(ingest_answers, "derived_labels", lambda *a, **k: calls.append(1) or real(*a, **k))
    got = load(export, questions=["verdict"])
    assert not calls and set(got.frame["question"]) == {"verdict"}
    got = load(export, questions=[RUBRIC.MISALIGNMENT])
    assert len(calls) == got.n_used and got.frame["question"].str.startswith(RUBRIC.MISALIGNMENT).all()


def test_long_parquet_roundtrip_with_filter(export: Path, tmp_path: Path) -> None:
    full = load(export).frame
    path = write_parquet(full, tmp_path / "frame.parquet")
    back = load(path, questions=["verdict"])
    _same(back.frame, full[full["question"] == "verdict"])
