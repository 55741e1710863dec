"""One record per labeller: agreement scores, Dawid–Skene diagonal and the screening verdict.

Used by ``oma labellers`` and the report.

>>> import pandas as pd
>>> df = pd.DataFrame({"task": [str(i // 3) for i in range(30)], "worker": list("abc") * 10,
...     "question": "obvious_misalignment",
...     "label": (["clearly_misaligned"] * 3 + ["clearly_aligned"] * 3) * 5})
>>> recs = labeller_records(df)
>>> [(r["worker"], r["accuracy"], r["flagged"]) for r in recs]
[('a', 1.0, False), ('b', 1.0, False), ('c', 1.0, False)]
>>> round(recs[0]["ds_diagonal"]["clearly_misaligned"], 3)
1.0
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.aggregate import VERDICTS
from oma_analysis.stats.dawid_skene import dawid_skene
from oma_analysis.stats.labellers import gold_labels, screening, worker_quality

__all__ = ["labeller_records"]


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def labeller_records(frame: pd.DataFrame, gold=None, question: str | None = None, threshold: float = 0.75,
                     min_items: int = 5, ds=None) -> list[dict]:
    """Per worker: ``accuracy`` (against gold where the worker has enough gold items, else the
    leave-one-out majority), sensitivity, specificity, both references' scores, the Dawid–Skene
    diagonal (P(correct | true class)) and the screening flag."""
    q = question or RUBRIC.MISALIGNMENT
    g = gold_labels(frame, gold)
    quality = worker_quality(frame, g, q)
    screen = screening(quality, threshold, min_items=min_items).set_index("worker")
    if ds is None:
        rows = frame[frame["question"].to_numpy() == q] if "question" in frame else frame
        if "ground_truth" in rows.columns:
            rows = rows[~rows["ground_truth"].fillna(False).astype(bool).to_numpy()]
        rows = rows[rows["label"].isin(VERDICTS).to_numpy()]
        gser = pd.Series(g["gold"].to_numpy(), index=g["task"].to_numpy()) if len(g) else None
        if gser is not None:
            gser = gser[g["question"].to_numpy() == q]
        ds = dawid_skene(pd.DataFrame({"task": rows["task"], "worker": rows["worker"],
                                       "label": rows["label"]}), classes=VERDICTS, gold=gser)
    diag = ds.diagonal()
    ds_acc = pd.Series(diag.to_numpy() @ ds.priors, index=diag.index)
    by = {(r["worker"], r["reference"]): r for r in quality.to_dict("records")}
    out = []
    # Every labeller gets a row, also one nobody else overlaps with (no majority, no gold to score).
    unscored = {"basis": None, "flagged": True, "reason": f"too few items (< {min_items})"}
    for w in sorted(set(quality["worker"]) | {str(x) for x in ds.workers}):
        s = screen.loc[w] if w in screen.index else unscored
        basis = s["basis"] if isinstance(s["basis"], str) else ("gold" if (w, "gold") in by else "majority")
        main = by.get((w, basis), {})
        rec = {"worker": w, "reference": basis, "n": int(main.get("n", 0)),
               "accuracy": _num(main.get("accuracy")), "sensitivity": _num(main.get("sensitivity")),
               "specificity": _num(main.get("specificity"))}
        for ref in ("gold", "majority"):
            r = by.get((w, ref), {})
            rec[f"n_{ref}"] = int(r.get("n", 0))
            rec[f"accuracy_{ref}"] = _num(r.get("accuracy"))
        for c in VERDICTS:
            rec[f"recall_{c}"] = _num(main.get(f"recall_{c}"))
        if w in diag.index:
            rec["ds_diagonal"] = {c: float(v) for c, v in diag.loc[w].items()}
            rec["ds_accuracy"] = float(ds_acc.loc[w])
        else:
            rec["ds_diagonal"], rec["ds_accuracy"] = None, None
        rec["flagged"] = bool(s["flagged"])
        rec["reason"] = s["reason"]
        out.append(rec)
    return out


def records_frame(recs: list[dict]) -> pd.DataFrame:
    """Flatten records for tables (``ds_<class>`` columns)."""
    rows = []
    for r in recs:
        r = dict(r)
        d = r.pop("ds_diagonal") or {}
        for c in VERDICTS:
            r[f"ds_{c}"] = d.get(c, np.nan)
        rows.append(r)
    return pd.DataFrame(rows)
