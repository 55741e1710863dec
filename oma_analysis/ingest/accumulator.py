"""Rows collected column-wise while an export streams past, built into the frame at the end.

A 1M-annotation export makes ~50M frame rows (multi-choice questions become one row per choice),
so rows are kept as three int32 arrays (annotation, question code, label code) and everything per
annotation once; the frame is built at the end with numpy takes. Far fewer Python objects than one
list entry per row and column (pandas has no append-friendly columnar builder for this).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from oma_analysis.ingest.formats import Drop, Raw
from oma_analysis.ingest.frame import FRAME_COLUMNS, categorical, created_at, empty_frame

# Per-annotation columns; each frame row repeats its annotation's values.
ANN_COLUMNS = ("task", "worker", "annotation", "completion", "prompt", "lead_time", "created_at", "ground_truth")


def _s(v) -> str | None:
    return None if v is None else str(v)


def _num(v) -> float | None:
    """lead_time as float; anything that is not a number is missing (NaN), never an exception."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


@dataclass
class Accumulator:
    source: str
    keep: Callable[[str], bool] | None = None  # questions= filter: rows of other questions not kept
    ann: dict[str, list] = field(default_factory=lambda: {c: [] for c in ANN_COLUMNS})
    row_ann: array = field(default_factory=lambda: array("i"))
    row_q: array = field(default_factory=lambda: array("i"))
    row_label: array = field(default_factory=lambda: array("i"))
    codes: dict[str, int] = field(default_factory=dict)  # question and label strings -> code
    patterns: dict[tuple, tuple[array, array]] = field(default_factory=dict)
    dropped: list[tuple] = field(default_factory=list)
    texts: list[tuple] = field(default_factory=list)
    spans: list[tuple] = field(default_factory=list)
    n_used: int = 0
    versions: dict[str, int] = field(default_factory=dict)

    def drop(self, level: str, task, annotation, worker, fld, reason: str) -> None:
        self.dropped.append((self.source, level, _s(task), annotation, _s(worker), fld, reason))

    def add_drop(self, d: Drop) -> None:
        self.drop(d.level, d.task, d.annotation, d.worker, d.field, d.reason)

    def add(self, raw: Raw, rows: list[tuple[str, str]], version: str | None) -> None:
        """One used annotation and its (question, label) rows."""
        self.n_used += 1
        if version is not None:
            self.versions[version] = self.versions.get(version, 0) + 1
        if self.keep is not None:
            rows = [p for p in rows if self.keep(p[0])]
        data = raw.data
        completion = _s(data.get("completion_code") or data.get("pair_code"))
        if completion is None and "left" in data and "right" in data:
            completion = f"{data.get('left_code')}|{data.get('right_code')}"
        a = self.ann
        idx = len(a["task"])
        a["task"].append(_s(raw.task_id))
        a["worker"].append(raw.worker)
        a["annotation"].append(raw.ann_id)
        a["completion"].append(completion)
        a["prompt"].append(_s(data.get("prompt_id")))
        a["lead_time"].append(_num(raw.lead_time))
        a["created_at"].append(raw.created_at if isinstance(raw.created_at, str) else None)
        a["ground_truth"].append(bool(raw.ground_truth))
        key = tuple(rows)
        coded = self.patterns.get(key)
        if coded is None:  # most annotations repeat a few answer patterns: encode each pattern once
            codes = self.codes
            qc = array("i", [codes.setdefault(q, len(codes)) for q, _ in rows])
            lc = array("i", [codes.setdefault(lab, len(codes)) for _, lab in rows])
            coded = (qc, lc)
            if len(self.patterns) < 200_000:
                self.patterns[key] = coded
        self.row_ann.extend(array("i", [idx]) * len(rows))
        self.row_q.extend(coded[0])
        self.row_label.extend(coded[1])

    def frame(self) -> pd.DataFrame:
        """The long frame, with the fixed dtypes of :data:`oma_analysis.ingest.frame.FRAME_DTYPES`."""
        if not len(self.row_ann):
            return empty_frame()
        a = self.ann
        rix = np.frombuffer(self.row_ann, dtype=np.int32)
        names = list(self.codes)
        return pd.DataFrame({
            "task": categorical(rix, a["task"]),
            "worker": categorical(rix, a["worker"]),
            "question": categorical(np.frombuffer(self.row_q, dtype=np.int32), names),
            "label": categorical(np.frombuffer(self.row_label, dtype=np.int32), names),
            "annotation": pd.array(a["annotation"], dtype="Int64")[rix],
            "completion": categorical(rix, a["completion"]),
            "prompt": categorical(rix, a["prompt"]),
            "model": categorical(rix, [None] * len(a["task"])),
            "lead_time": np.asarray(a["lead_time"], dtype=float)[rix],
            "created_at": created_at(a["created_at"]).array[rix],
            "ground_truth": np.asarray(a["ground_truth"], dtype=bool)[rix],
        }, columns=FRAME_COLUMNS)
