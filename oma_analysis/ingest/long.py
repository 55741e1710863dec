"""Long CSV/Parquet files (columns task, worker, label; optional question, model, prompt, ...)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from oma_analysis import OmaError
from oma_analysis.ingest.frame import conform
from oma_analysis.rubric import Rubric

REQUIRED = ("task", "worker", "label")


def read_long(path: Path, rubric: Rubric, dropped_columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(frame with the fixed dtypes, dropped rows). Without a ``question`` column the labels are
    taken as answers to the rule-applied verdict (``rubric.MISALIGNMENT``) when they are all verdict
    choices, else as question ``label``. Rows with a missing task, worker or label are dropped."""
    try:
        df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:
        raise OmaError(f"{path}: cannot read as a long table ({exc})") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise OmaError(f"{path}: missing column(s) {missing}; a long file needs task, worker, label")
    req = df[list(REQUIRED)].astype(object).where(df[list(REQUIRED)].notna(), None)
    bad = req.isna().any(axis=1).to_numpy()
    dropped = pd.DataFrame({"source": str(path), "level": "annotation",
                            "task": req.loc[bad, "task"].map(lambda v: None if v is None else str(v)),
                            "annotation": pd.NA,
                            "worker": req.loc[bad, "worker"].map(lambda v: None if v is None else str(v)),
                            "field": req.loc[bad].isna().idxmax(axis=1),
                            "reason": "missing task, worker or label"}, columns=dropped_columns)
    df = df.loc[~bad].reset_index(drop=True)
    if "question" not in df.columns:
        verdicts = {c.id for c in rubric.verdict.choices}
        labels = {str(v) for v in pd.unique(df["label"])}
        df["question"] = rubric.MISALIGNMENT if labels <= verdicts else "label"
    for c in ("completion", "prompt"):  # a long file without them: each task is its own
        if c not in df.columns or df[c].isna().all():
            df[c] = df["task"]
    return conform(df), dropped.reset_index(drop=True)
