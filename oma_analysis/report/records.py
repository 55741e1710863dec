"""The output side of the statistics: frames to JSON-ready records (report.json and every ``--json``).

The statistics return frames with NaN where a value is undefined; JSON has no NaN, so this is the
one place that turns NaN / NA / NaT into None and numpy scalars into Python ones.

>>> import numpy as np, pandas as pd
>>> jsonable({"a": np.float64("nan"), "b": [np.int64(2), pd.NA], "c": np.bool_(True)})
{'a': None, 'b': [2, None], 'c': True}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from oma_analysis.rubric import RUBRIC

__all__ = ["frame_records", "jsonable", "labeller_records", "num", "rates_records"]


def jsonable(v: Any) -> Any:
    """``v`` with NaN/NA/NaT as None, numpy scalars as Python scalars, mapping keys as str (recursively)."""
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()]
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    if v is pd.NA or v is pd.NaT or v is None:
        return None
    return v


def num(x: Any) -> float | None:
    """A number for JSON: float, or None for a missing / NaN value.

    >>> num(float("nan")), num(np.float32(0.5)), num(None)
    (None, 0.5, None)
    """
    if x is None or x is pd.NA:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def frame_records(df: pd.DataFrame) -> list[dict]:
    """A frame's rows as JSON-ready dicts."""
    return jsonable(df.to_dict("records")) if len(df) else []


def rates_records(rates: pd.DataFrame) -> list[dict]:
    """The command contract's JSON objects for :func:`~oma_analysis.stats.rates.bounded_rates`:
    ``model, n, lower, upper, lower_ci, upper_ci`` (+ extras).

    >>> from oma_analysis.stats.rates import bounded_rates
    >>> agg = pd.DataFrame({"model": "m", "question": "q", "severity": [0, 2]})
    >>> rec = rates_records(bounded_rates(agg))[0]
    >>> rec["model"], rec["n"], rec["lower"], round(rec["upper_ci"][1], 4)
    ('m', 2, 0.5, 0.9874)
    """
    recs = []
    for r in rates.to_dict("records"):
        rec = {k: r[k] for k in r if k in ("model", "question", "policy")}
        rec.update(n=int(r["n"]), lower=float(r["lower"]), upper=float(r["upper"]),
                   lower_ci=[float(r["lower_lo"]), float(r["lower_hi"])],
                   upper_ci=[float(r["upper_lo"]), float(r["upper_hi"])],
                   k_lower=int(r["k_lower"]), k_upper=int(r["k_upper"]), method=r["method"],
                   confidence=float(r["confidence"]))
        if "lower_cl_lo" in r:
            rec["lower_ci_cluster"] = [num(r["lower_cl_lo"]), num(r["lower_cl_hi"])]
            rec["upper_ci_cluster"] = [num(r["upper_cl_lo"]), num(r["upper_cl_hi"])]
            rec["n_prompts"] = int(r["n_prompts"])
        recs.append(rec)
    return recs


def labeller_records(table: pd.DataFrame) -> list[dict]:
    """``oma labellers --json`` / report records from :func:`~oma_analysis.stats.labellers.labeller_table`:
    the ``ds_<class>`` columns become one ``ds_diagonal`` mapping (None for a labeller without a fit).

    >>> from oma_analysis.stats.labellers import labeller_table
    >>> df = pd.DataFrame({"task": [str(i // 3) for i in range(30)], "worker": list("abc") * 10,
    ...     "question": "obvious_misalignment",
    ...     "label": (["clearly_misaligned"] * 3 + ["clearly_aligned"] * 3) * 5})
    >>> recs = labeller_records(labeller_table(df))
    >>> [(r["worker"], r["accuracy"], r["flagged"]) for r in recs]
    [('a', 1.0, False), ('b', 1.0, False), ('c', 1.0, False)]
    >>> round(recs[0]["ds_diagonal"]["clearly_misaligned"], 3)
    1.0
    """
    ds_cols = [f"ds_{c}" for c in RUBRIC.verdict_ids]
    out = []
    for r in table.to_dict("records"):
        diag = {c: r.pop(f"ds_{c}") for c in RUBRIC.verdict_ids}
        rec = {k: v for k, v in r.items() if k not in ds_cols and k not in ("ds_accuracy", "flagged", "reason")}
        rec = jsonable(rec)
        rec["n"], rec["n_gold"], rec["n_majority"] = int(r["n"]), int(r["n_gold"]), int(r["n_majority"])
        fitted = not any(num(v) is None for v in diag.values())
        rec["ds_diagonal"] = {c: float(v) for c, v in diag.items()} if fitted else None
        rec["ds_accuracy"] = num(r["ds_accuracy"])
        rec["flagged"] = bool(r["flagged"])
        rec["reason"] = r["reason"]
        out.append(rec)
    return out
