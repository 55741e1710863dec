"""The long frame's columns and their one fixed dtype (at every size).

Text columns are categoricals with string categories at every size: a 1M-annotation export makes
~50M rows (multi-choice questions become one row per choice), where Python strings (or even Arrow
strings) per row would need gigabytes, while the codes take 1-4 bytes a row. Analysis code
can rely on the dtypes below whatever the frame's size (``==``, ``isin``, ``groupby``,
``factorize``, ``.str`` and ``.to_numpy()`` all work on them as on strings).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

FRAME_COLUMNS = ["task", "worker", "question", "label", "annotation", "completion", "prompt", "model",
                 "lead_time", "created_at", "ground_truth"]
TEXT = ("task", "worker", "question", "label", "completion", "prompt", "model")
CREATED_AT = "datetime64[ns, UTC]"
#: column -> dtype, the same for a 10-row and a 50M-row frame (text columns: categorical of str).
FRAME_DTYPES: dict[str, object] = {**{c: "category" for c in TEXT}, "annotation": "Int64",
                                   "lead_time": "float64", "created_at": CREATED_AT, "ground_truth": "bool"}


def categorical(codes: np.ndarray, values: list) -> pd.Categorical:
    """``pd.Categorical(values[codes])`` without materialising one string per row: categories
    sorted and only those used, missing values (None) as NA."""
    uniq = sorted({v for v in values if v is not None})
    pos = {v: i for i, v in enumerate(uniq)}
    remap = np.array([pos[v] if v is not None else -1 for v in values] or [-1], dtype=np.int64)
    used = np.zeros(len(uniq), dtype=bool)
    mapped = remap[codes] if len(codes) else np.empty(0, dtype=np.int64)
    used[mapped[mapped >= 0]] = True
    keep = np.flatnonzero(used)
    renum = np.full(len(uniq) + 1, -1, dtype=np.int64)
    renum[keep] = np.arange(len(keep))
    final = renum[mapped]  # -1 stays -1 through renum[-1]
    return pd.Categorical.from_codes(final, categories=pd.Index([uniq[i] for i in keep], dtype="str"))


def text_column(values) -> pd.Categorical:
    """Any column of ids (strings, numbers, a categorical, missing values) as the frame's text dtype:
    a categorical whose categories are strings."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        if cats.dtype == "str":
            return s.cat.remove_unused_categories().array
        s = s.astype(object)
    # Ids from a Parquet or CSV file may be numbers: their text, as Label Studio ids are in exports.
    s = s.astype("str")
    return pd.Categorical(s, categories=pd.Index(sorted(s.dropna().unique()), dtype="str"))


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (the frame columns first, in order; extra columns kept after them) with the frame's
    dtypes; missing frame columns are added empty."""
    n = len(df)
    out = {}
    for c in FRAME_COLUMNS:
        v = df[c] if c in df.columns else None
        if c in TEXT:
            out[c] = text_column(v if v is not None else [None] * n)
        elif c == "annotation":
            out[c] = pd.array(v if v is not None else [pd.NA] * n, dtype="Int64")
        elif c == "lead_time":
            out[c] = pd.to_numeric(v, errors="coerce").astype("float64") if v is not None else np.full(n, np.nan)
        elif c == "created_at":
            out[c] = created_at(v if v is not None else [None] * n)
        else:
            out[c] = truthy(v) if v is not None else np.zeros(n, dtype=bool)
    frame = pd.DataFrame(out, columns=FRAME_COLUMNS)
    for c in df.columns:
        if c not in FRAME_COLUMNS:
            frame[c] = df[c].to_numpy()
    return frame


def created_at(values) -> pd.Series:
    """ISO 8601 time stamps (None, or anything unparseable, is NaT) in UTC, nanoseconds."""
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="coerce",
                          format="ISO8601").astype(CREATED_AT)


def truthy(values) -> np.ndarray:
    """A ground-truth flag from a file: booleans, or the text true/1/yes."""
    s = pd.Series(values)
    if s.dtype == bool:
        return s.to_numpy()
    return s.map(lambda v: str(v).lower() in ("true", "1", "yes")).to_numpy(bool)


def empty_frame() -> pd.DataFrame:
    return conform(pd.DataFrame(columns=FRAME_COLUMNS))


def join_models(frame: pd.DataFrame, models: Mapping[str, str]) -> None:
    """Fill ``model`` from the code map (completion code -> model), in place."""
    frame["model"] = text_column(frame["completion"].map(models).astype(object))
