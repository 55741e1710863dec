"""The long frame has one fixed dtype per column at every size (issue 10): a 10-row and a
200,000-row input load to the same dtypes, those of ``FRAME_DTYPES``, whatever the format."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oma_analysis.ingest import load
from oma_analysis.ingest.frame import FRAME_COLUMNS, FRAME_DTYPES
from oma_analysis.rubric import RUBRIC

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("large_export", ROOT / "benchmarks" / "large_export.py")
large_export = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(large_export)


def _kinds(frame: pd.DataFrame) -> dict[str, str]:
    """Column -> dtype; a categorical as its kind and its categories' dtype (the categories
    themselves are the data, not the type)."""
    out = {}
    for c, dt in frame.dtypes.items():
        out[c] = f"category[{dt.categories.dtype}]" if isinstance(dt, pd.CategoricalDtype) else str(dt)
    return out


EXPECTED = {c: "category[str]" if d == "category" else str(pd.api.types.pandas_dtype(d))
            for c, d in FRAME_DTYPES.items()}


def _codemap(path: Path, frame: pd.DataFrame) -> Path:
    codes = {str(c): {"model": f"m{i % 3}"} for i, c in enumerate(pd.unique(frame["completion"].dropna()))}
    path.write_text(json.dumps(codes))
    return path


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("dtypes")
    small, big = d / "small.json", d / "big.json"
    large_export.write_export(small, 1, seed=1)  # one annotation
    large_export.write_export(big, 4_000, seed=2)  # ~50 rows an annotation
    rng = np.random.default_rng(0)
    verdicts = [c.id for c in RUBRIC.verdict.choices]
    for name, n in (("small.csv", 10), ("big.csv", 200_000)):
        pd.DataFrame({"task": rng.integers(0, n // 3 + 1, n), "worker": [f"w{i % 7}" for i in range(n)],
                      "label": rng.choice(verdicts, n)}).to_csv(d / name, index=False)
    return {"small": small, "big": big, "small_long": d / "small.csv", "big_long": d / "big.csv"}


def test_small_and_large_exports_have_the_same_dtypes(exports, tmp_path):
    small, big = load(exports["small"], quiet=True).frame, load(exports["big"], quiet=True).frame
    assert len(small) < 100 and len(big) >= 200_000  # either side of the old 100,000-row switch
    assert list(small.columns) == list(big.columns) == FRAME_COLUMNS
    assert _kinds(small) == _kinds(big) == EXPECTED
    # Joining the models keeps the model column's dtype.
    small_m = load(exports["small"], _codemap(tmp_path / "s.json", small), quiet=True).frame
    big_m = load(exports["big"], _codemap(tmp_path / "b.json", big), quiet=True).frame
    assert _kinds(small_m) == _kinds(big_m) == EXPECTED
    assert big_m["model"].notna().all() and set(big_m["model"].unique()) == {"m0", "m1", "m2"}
    # The questions= filter doesn't change them either.
    part = load(exports["small"], questions=[RUBRIC.MISALIGNMENT], quiet=True).frame
    assert _kinds(part) == EXPECTED


def test_long_files_and_empty_exports_have_the_same_dtypes(exports, tmp_path):
    small, big = load(exports["small_long"], quiet=True).frame, load(exports["big_long"], quiet=True).frame
    assert len(small) == 10 and len(big) == 200_000
    assert _kinds(small) == _kinds(big) == EXPECTED
    # Task ids written as numbers are read back as the text Label Studio exports them as.
    assert isinstance(big["task"].iloc[0], str)
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert _kinds(load(empty, quiet=True).frame) == EXPECTED
