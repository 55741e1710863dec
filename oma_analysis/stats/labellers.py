"""Labeller quality: accuracy, sensitivity and specificity per worker, calibration over time, screening.

Each worker's labels are scored against two references:

- ``gold``: the researchers' answer (Label Studio ``ground_truth`` annotations, or a researcher
  labels file ``task,label[,question]``);
- ``majority``: the majority of the OTHER labellers on the same task and question (leave-one-out;
  no reference on a tie or when nobody else labelled it).

Accuracy is exact agreement on the 3-level verdict; sensitivity and specificity treat
"clearly misaligned or ambiguous" as positive and "clearly aligned" as negative; ``recall_<class>``
is the per-class sensitivity.

>>> import pandas as pd
>>> df = pd.DataFrame({"task": ["1"] * 3 + ["2"] * 3, "worker": list("abc") * 2,
...     "question": "obvious_misalignment",
...     "label": ["clearly_misaligned"] * 2 + ["clearly_aligned"] + ["clearly_aligned"] * 3})
>>> q = worker_quality(df)
>>> q.loc[q.worker == "c", ["reference", "n", "accuracy", "sensitivity", "specificity"]].to_dict("records")
[{'reference': 'majority', 'n': 2, 'accuracy': 0.5, 'sensitivity': 0.0, 'specificity': 1.0}]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from oma_analysis import OmaError
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.aggregate import split_verdict_rows, unit_column
from oma_analysis.stats.crowd import crowd_rows, gold_for, gold_labels, read_gold_file
from oma_analysis.stats.dawid_skene import DSResult, dawid_skene

__all__ = ["calibration", "gold_labels", "labeller_table", "loo_majority", "read_gold_file", "screening",
           "verdict_ds", "worker_quality"]

_POSITIVE = [RUBRIC.verdict_severity(RUBRIC.verdict_worst), RUBRIC.verdict_severity(RUBRIC.verdict_middle)]


def _with_question(frame: pd.DataFrame) -> pd.DataFrame:
    if "question" not in frame.columns:
        return frame.assign(question=RUBRIC.MISALIGNMENT)
    return frame


def loo_majority(rows: pd.DataFrame) -> np.ndarray:
    """For each row, the majority label of the other labellers on its task and question.

    Returns an object array with None where there is no strict majority among the others.

    >>> rows = pd.DataFrame({"task": ["1", "1", "1"], "question": "q", "label": ["x", "x", "y"]})
    >>> loo_majority(rows).tolist()
    [None, None, 'x']
    """
    labels, classes = pd.factorize(rows["label"].to_numpy())
    k = len(classes)
    key = rows["task"].str.cat(rows["question"], sep="\x1f")
    g, uni = pd.factorize(key)
    counts = np.bincount(g * k + labels, minlength=len(uni) * k).reshape(len(uni), k)
    others = counts[g].copy()
    others[np.arange(len(g)), labels] -= 1  # leave the row's own label out
    top = others.max(axis=1)
    unique_top = (others == top[:, None]).sum(axis=1) == 1
    out = np.asarray(classes, dtype=object)[others.argmax(axis=1)]
    out[(top == 0) | ~unique_top] = None
    return out


def _scores(worker: pd.Series, said: np.ndarray, ref: np.ndarray, reference: str) -> pd.DataFrame:
    """Per-worker agreement scores; ``said``/``ref`` are severity codes (-1: not a verdict)."""
    ok = (ref >= 0) & (said >= 0)
    w = worker.to_numpy()[ok]
    s, r = said[ok], ref[ok]
    pos_s, pos_r = np.isin(s, _POSITIVE), np.isin(r, _POSITIVE)
    d = pd.DataFrame({"worker": w, "agree": s == r, "tp": pos_s & pos_r, "rp": pos_r,
                      "tn": ~pos_s & ~pos_r, "rn": ~pos_r})
    for j, c in enumerate(RUBRIC.verdict_ids):
        d[f"hit_{c}"] = (s == j) & (r == j)
        d[f"ref_{c}"] = r == j
    g = d.groupby("worker", sort=True).sum()
    n = d.groupby("worker", sort=True).size()
    out = pd.DataFrame({"worker": g.index, "reference": reference, "n": n.to_numpy()})
    with np.errstate(invalid="ignore", divide="ignore"):
        out["accuracy"] = (g["agree"] / n).to_numpy()
        out["sensitivity"] = (g["tp"] / g["rp"]).to_numpy()
        out["specificity"] = (g["tn"] / g["rn"]).to_numpy()
        out["n_positive"] = g["rp"].to_numpy()
        for c in RUBRIC.verdict_ids:
            out[f"recall_{c}"] = (g[f"hit_{c}"] / g[f"ref_{c}"]).to_numpy()
    return out


def _verdict_rows(frame: pd.DataFrame, question: str | None) -> pd.DataFrame:
    frame = _with_question(frame)
    q = question or RUBRIC.MISALIGNMENT
    rows = frame[frame["question"].to_numpy() == q]
    if rows.empty:
        raise OmaError(f"no labels for question {q!r} (questions: {sorted(frame['question'].unique())[:8]})")
    return rows


def _sev(labels) -> np.ndarray:
    return pd.Index(RUBRIC.verdict_ids).get_indexer(pd.Series(labels, dtype=object))


def worker_quality(frame: pd.DataFrame, gold: pd.DataFrame | str | Path | None = None,
                   question: str | None = None) -> pd.DataFrame:
    """Scores per worker against ``gold`` (when there is any) and against the leave-one-out majority.

    One row per worker and reference, columns ``worker, reference, n, accuracy, sensitivity,
    specificity, n_positive, recall_<class>``. Gold annotators are not scored.
    """
    rows = _verdict_rows(frame, question)
    gmap = gold_for(gold_labels(frame, gold), question or RUBRIC.MISALIGNMENT)
    crowd = crowd_rows(rows)
    said = _sev(crowd["label"])
    parts = [_scores(crowd["worker"], said, _sev(loo_majority(crowd)), "majority")]
    if len(gmap):
        ref = crowd["task"].map(gmap)
        parts.insert(0, _scores(crowd["worker"], said, _sev(ref.to_numpy()), "gold"))
    return pd.concat(parts, ignore_index=True)


def calibration(frame: pd.DataFrame, gold: pd.DataFrame | str | Path | None = None,
                question: str | None = None) -> pd.DataFrame:
    """Agreement per worker and ISO week on calibration items.

    Calibration items are the gold tasks (scored against gold); without gold, the tasks labelled in
    more than one ISO week (scored against the leave-one-out majority). Needs ``created_at``.

    >>> df = pd.DataFrame({"task": ["1", "1", "1", "1"], "worker": ["r", "a", "r", "a"],
    ...     "question": "obvious_misalignment", "ground_truth": [True, False, True, False],
    ...     "label": ["ambiguous", "ambiguous", "ambiguous", "clearly_aligned"],
    ...     "created_at": pd.to_datetime(["2025-01-06", "2025-01-06", "2025-01-13", "2025-01-13"])})
    >>> calibration(df)[["worker", "week", "n", "agreement"]].values.tolist()
    [['a', '2025-W02', 1, 1.0], ['a', '2025-W03', 1, 0.0]]
    """
    cols = ["worker", "week", "reference", "n", "agreement"]
    rows = _verdict_rows(frame, question)
    if "created_at" not in rows.columns or rows["created_at"].isna().all():
        return pd.DataFrame(columns=cols)
    crowd = crowd_rows(rows)
    crowd = crowd[crowd["created_at"].notna().to_numpy()]
    ts = pd.to_datetime(crowd["created_at"], utc=True)
    iso = ts.dt.isocalendar()
    week = iso["year"].map("{}-W".format) + iso["week"].astype(int).map("{:02d}".format)
    gmap = gold_for(gold_labels(frame, gold), question or RUBRIC.MISALIGNMENT)
    if len(gmap):
        ref = crowd["task"].map(gmap).to_numpy()
        reference = "gold"
    else:
        ref = loo_majority(crowd)
        repeated = week.groupby(crowd["task"].to_numpy()).transform("nunique") > 1
        ref = np.where(repeated.to_numpy(), ref, None)
        reference = "majority"
    keep = pd.notna(ref)
    d = pd.DataFrame({"worker": crowd["worker"].to_numpy()[keep], "week": week.to_numpy()[keep],
                      "agree": crowd["label"].to_numpy()[keep] == ref[keep]})
    out = d.groupby(["worker", "week"], sort=True)["agree"].agg(n="size", agreement="mean").reset_index()
    out.insert(2, "reference", reference)
    return out[cols]


def screening(quality: pd.DataFrame, threshold: float = 0.75, majority_threshold: float | None = None,
              min_items: int = 5) -> pd.DataFrame:
    """Flag workers below the agreement thresholds (default: 75 % agreement with researchers).

    Against gold when a worker has at least ``min_items`` gold items; otherwise against the
    majority of the others with ``majority_threshold`` (default: the same threshold). Workers with
    too few scored items are listed as ``too few items``, not passed.

    >>> q = pd.DataFrame({"worker": ["a", "b", "a", "b"], "reference": ["gold"] * 2 + ["majority"] * 2,
    ...                   "n": [20, 2, 50, 50], "accuracy": [0.6, 1.0, 0.9, 0.7]})
    >>> for row in screening(q)[["worker", "basis", "flagged", "reason"]].values.tolist():
    ...     print(row)
    ['a', 'gold', True, 'agreement with gold 0.600 < 0.75']
    ['b', 'majority', True, 'agreement with majority 0.700 < 0.75']
    """
    mt = threshold if majority_threshold is None else majority_threshold
    recs = []
    for w, sub in quality.groupby("worker", sort=True):
        by = {r["reference"]: r for r in sub.to_dict("records")}
        rec = {"worker": w}
        for ref in ("gold", "majority"):
            rec[f"n_{ref}"] = int(by[ref]["n"]) if ref in by else 0
            rec[f"accuracy_{ref}"] = float(by[ref]["accuracy"]) if ref in by else float("nan")
        if rec["n_gold"] >= min_items:
            basis, thr = "gold", threshold
        elif rec["n_majority"] >= min_items:
            basis, thr = "majority", mt
        else:
            basis, thr = None, None
        rec["basis"] = basis
        if basis is None:
            rec["flagged"], rec["reason"] = True, f"too few items (< {min_items})"
        else:
            acc = rec[f"accuracy_{basis}"]
            rec["flagged"] = bool(acc < thr)
            rec["reason"] = f"agreement with {basis} {acc:.3f} < {thr:g}" if rec["flagged"] else ""
        recs.append(rec)
    # Explicit columns: with no scorable worker (one labeller, no gold) the table is empty, not column-less.
    return pd.DataFrame(recs, columns=["worker", "n_gold", "accuracy_gold", "n_majority", "accuracy_majority",
                                       "basis", "flagged", "reason"])


def verdict_ds(frame: pd.DataFrame, gold: pd.DataFrame | str | Path | None = None,
               question: str | None = None) -> DSResult:
    """Dawid–Skene on one rule question's verdicts (the crowd's rows, gold tasks clamped to gold).

    Fitted per completion (:func:`~oma_analysis.stats.aggregate.unit_column`), on the same rows as
    ``aggregate(..., "dawid-skene")``, so one fit serves both the labeller table and the aggregation
    (pass it as ``aggregate(..., fitted={question: ds})``).
    """
    q = question or RUBRIC.MISALIGNMENT
    rows, _ = split_verdict_rows(frame, [q])
    ucol = unit_column(rows) if len(rows) else "task"
    units = rows[ucol].to_numpy()
    gser = gold_for(gold_labels(frame, gold), q)
    if len(gser):  # gold is per task; the fit is per completion
        to_unit = pd.Series(units, index=rows["task"].to_numpy())
        to_unit = to_unit[~to_unit.index.duplicated()].reindex(gser.index)
        ok = to_unit.notna().to_numpy()
        gser = pd.Series(gser.to_numpy()[ok], index=to_unit.to_numpy()[ok])
        gser = gser[~gser.index.duplicated()]
    return dawid_skene(pd.DataFrame({"task": units, "worker": rows["worker"].to_numpy(),
                                     "label": rows["label"].to_numpy()}), classes=RUBRIC.verdict_ids,
                       gold=gser if len(gser) else None)


def labeller_table(frame: pd.DataFrame, gold: pd.DataFrame | str | Path | None = None,
                   question: str | None = None, threshold: float = 0.75, min_items: int = 5,
                   ds: DSResult | None = None) -> pd.DataFrame:
    """One row per labeller: the scores against the reference the screening used (gold where the
    worker has ``min_items`` gold items, else the leave-one-out majority), both references' scores,
    the Dawid–Skene diagonal ``ds_<class>`` (P(correct | true class)) and ``ds_accuracy``, and the
    screening flag. ``ds``: a :func:`verdict_ds` fit to reuse (else one is fitted here).

    >>> df = pd.DataFrame({"task": [str(i // 3) for i in range(30)], "worker": list("abc") * 10,
    ...     "question": "obvious_misalignment",
    ...     "label": (["clearly_misaligned"] * 3 + ["clearly_aligned"] * 3) * 5})
    >>> t = labeller_table(df)
    >>> t[["worker", "accuracy", "flagged"]].values.tolist()
    [['a', 1.0, False], ['b', 1.0, False], ['c', 1.0, False]]
    >>> round(float(t.loc[0, "ds_clearly_misaligned"]), 3)
    1.0
    """
    q = question or RUBRIC.MISALIGNMENT
    g = gold_labels(frame, gold)
    quality = worker_quality(frame, g, q)
    screen = screening(quality, threshold, min_items=min_items).set_index("worker")
    ds = verdict_ds(frame, g, q) if ds is None else ds
    diag = ds.diagonal()
    ds_acc = pd.Series(diag.to_numpy() @ ds.priors, index=diag.index)
    by: Mapping = {(r["worker"], r["reference"]): r for r in quality.to_dict("records")}
    nan = float("nan")
    out = []
    # Every labeller gets a row, also one nobody else overlaps with (no majority, no gold to score).
    unscored = {"basis": None, "flagged": True, "reason": f"too few items (< {min_items})"}
    for w in sorted(set(quality["worker"]) | {str(x) for x in ds.workers}):
        s = screen.loc[w] if w in screen.index else unscored
        basis = s["basis"] if isinstance(s["basis"], str) else ("gold" if (w, "gold") in by else "majority")
        main = by.get((w, basis), {})
        rec = {"worker": w, "reference": basis, "n": int(main.get("n", 0)),
               "accuracy": main.get("accuracy", nan), "sensitivity": main.get("sensitivity", nan),
               "specificity": main.get("specificity", nan)}
        for ref in ("gold", "majority"):
            r = by.get((w, ref), {})
            rec[f"n_{ref}"] = int(r.get("n", 0))
            rec[f"accuracy_{ref}"] = r.get("accuracy", nan)
        for c in RUBRIC.verdict_ids:
            rec[f"recall_{c}"] = main.get(f"recall_{c}", nan)
        for c in RUBRIC.verdict_ids:
            rec[f"ds_{c}"] = float(diag.loc[w, c]) if w in diag.index else nan
        rec["ds_accuracy"] = float(ds_acc.loc[w]) if w in diag.index else nan
        rec["flagged"] = bool(s["flagged"])
        rec["reason"] = s["reason"]
        out.append(rec)
    cols = ["worker", "reference", "n", "accuracy", "sensitivity", "specificity", "n_gold", "accuracy_gold",
            "n_majority", "accuracy_majority", *[f"recall_{c}" for c in RUBRIC.verdict_ids],
            *[f"ds_{c}" for c in RUBRIC.verdict_ids], "ds_accuracy", "flagged", "reason"]
    return pd.DataFrame(out, columns=cols)
