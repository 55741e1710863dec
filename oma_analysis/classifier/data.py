"""Training data for the intent classifier.

The classifier's input is a DataFrame ``text_a`` (prompt), ``text_b`` (completion), ``label``
with label 1 = intent NOT met (clearly misaligned), 0 = met (clearly aligned).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

import pandas as pd

from oma_analysis import OmaError
from oma_analysis.rubric import RUBRIC

NOT_MET, MET = 1, 0
COLUMNS = ("text_a", "text_b", "label")


def verdict_label(choice: str) -> int | None:
    """Rubric verdict choice -> label: worst choice -> not met (1), best -> met (0), middle -> None."""
    worst, middle, best = RUBRIC.verdict_ids
    return {worst: NOT_MET, best: MET}.get(choice)


def from_long_frame(frame: pd.DataFrame, texts: pd.DataFrame) -> pd.DataFrame:
    """Aggregate the long frame's derived ``obvious_misalignment`` labels per task (majority of the
    non-ambiguous votes; ties and all-ambiguous tasks are left out) and join the task texts.

    ``frame``: the long frame (columns ``task, question, label``; see CONTRACTS.md).
    ``texts``: one row per task: ``task, text_a`` (the prompt as shown) ``, text_b`` (the completion).
    Returns ``task, text_a, text_b, label, n_votes`` (one row per task, not per annotation).
    """
    for col in ("task", "question", "label"):
        if col not in frame.columns:
            raise OmaError(f"long frame: missing column {col!r}")
    for col in ("task", "text_a", "text_b"):
        if col not in texts.columns:
            raise OmaError(f"task texts: missing column {col!r}")
    labels = task_majority(frame)
    t = texts.drop_duplicates("task")
    out = labels.merge(t[["task", "text_a", "text_b"]], on="task", how="inner")
    return out[["task", "text_a", "text_b", "label", "n_votes"]].reset_index(drop=True)


def task_majority(frame: pd.DataFrame) -> pd.DataFrame:
    """``task, label, n_votes``: per task, the majority of the non-ambiguous derived
    ``obvious_misalignment`` votes (1 = not met); ties and all-ambiguous tasks are left out."""
    for col in ("task", "question", "label"):
        if col not in frame.columns:
            raise OmaError(f"long frame: missing column {col!r}")
    sub = frame.loc[frame["question"] == RUBRIC.misalignment_question(), ["task", "label"]].copy()
    sub["y"] = sub["label"].map(verdict_label)
    sub = sub.dropna(subset=["y"])
    votes = sub.groupby(sub["task"].to_numpy())["y"].agg(["sum", "count"])
    votes = votes[votes["sum"] * 2 != votes["count"]]  # ties carry no label
    return pd.DataFrame({"task": votes.index, "label": (votes["sum"] * 2 > votes["count"]).astype(int).values,
                         "n_votes": votes["count"].astype(int).values})


def validate(df: pd.DataFrame, where: str = "training data") -> pd.DataFrame:
    """Check columns and labels; returns a clean copy (text columns str, label int 0/1)."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise OmaError(f"{where}: missing column(s) {missing} (need text_a, text_b, label)")
    if "source" in df.columns:
        refuse_no_training(list(df["source"]), where)
    out = df.loc[:, list(COLUMNS)].copy()
    for i, row in enumerate(out.itertuples(index=False), 1):
        if not isinstance(row.text_a, str) or not isinstance(row.text_b, str):
            raise OmaError(f"{where}: row {i}: fields 'text_a'/'text_b' must be text")
        if row.label not in (0, 1) and str(row.label) not in ("0", "1"):
            raise OmaError(f"{where}: row {i}: field 'label' must be 0 (met) or 1 (not met), got {row.label!r}")
    out["label"] = out["label"].astype(int)
    return out.reset_index(drop=True)


def data_hash(df: pd.DataFrame) -> str:
    """SHA-256 of the (text_a, text_b, label) rows, independent of row order."""
    h = hashlib.sha256()
    for row in sorted(zip(df["text_a"], df["text_b"], df["label"].astype(int), strict=True)):
        h.update(repr(row).encode("utf-8"))
    return h.hexdigest()


def ifeval_pairs(records: Sequence[dict[str, Any]], n: int = 64, seed: int = 0) -> pd.DataFrame:
    """A small labelled set from IFEval: GPT-4 responses that pass every covered check are "met";
    corrupted responses are "not met": truncated mid-way, stuck in a loop, the prompt echoed, or
    another prompt's answer. (No case corruption: the uncased encoder can't see case.)"""
    from oma_analysis.checks import check_record

    rng = random.Random(seed)
    good = [r for r in records if not check_record(r).failed and len(r["response"].split()) >= 40]
    rng.shuffle(good)
    rows: list[tuple[str, str, int]] = []
    kinds = ("truncate", "loop", "echo", "swap")
    for i, r in enumerate(good[: n // 2]):
        p, resp = r["prompt"], r["response"]
        rows.append((p, resp, MET))
        kind = kinds[i % len(kinds)]
        ws = resp.split()
        if kind == "truncate":
            bad = " ".join(ws[: max(3, len(ws) // 8)])
        elif kind == "loop":
            bad = " ".join(ws[:12]) + (" " + " ".join(ws[12:20])) * 12
        elif kind == "echo":
            bad = p + "\n\n" + p
        else:
            bad = good[(i + 1) % len(good)]["response"]
        rows.append((p, bad, NOT_MET))
    return pd.DataFrame(rows, columns=list(COLUMNS))


#: Sources whose licence or authors' terms forbid training on them (checked by prefix of the
#: record's ``source``): Self-Instruct's authors ask that the data is not used for training.
NO_TRAINING_SOURCES: dict[str, str] = {
    "self-instruct": "Self-Instruct: its authors ask that the data is not used to train models",
}


def no_training_reason(source: object) -> str | None:
    """Why records of ``source`` must never be trained on (None: allowed)."""
    s = str(source or "").strip().lower()
    return next((why for prefix, why in NO_TRAINING_SOURCES.items() if s.startswith(prefix)), None)


def refuse_no_training(sources: Sequence[object], where: str) -> None:
    """OmaError naming the first row whose source forbids training (rows counted from 1)."""
    for i, src in enumerate(sources, 1):
        why = no_training_reason(src)
        if why is not None:
            raise OmaError(f"{where}: row {i}: source {src!r} must not be trained on ({why})")
