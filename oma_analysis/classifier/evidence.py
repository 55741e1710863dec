"""Precision and recall of what labellers see pre-filled: the evidence of each kind (each check
id of ``oma_analysis.checks``), against the labels of labellers who saw no verdict suggestion.

Pure, frame in / frame out, so the report and the backend's ``/status`` call the same function.

``evidence``: one row per (task, kind) shown: columns ``task, kind``.
``labels``: the long frame (``task, worker, question, label``; CONTRACTS.md), optionally with a
boolean ``saw_verdict`` column: labels given with a verdict suggestion in view are left out
(anchoring: they are not independent of the suggestion).

A task's truth is the majority of the derived ``obvious_misalignment`` label (``task_majority``:
ties and all-ambiguous tasks have none). Per kind: precision = share of the flagged tasks that
labellers judged clearly misaligned; recall = share of the clearly misaligned tasks it flagged.
Wilson 95% intervals (statsmodels).

>>> import pandas as pd
>>> from oma_analysis.rubric import RUBRIC
>>> worst, _, best = (c.id for c in RUBRIC.verdict.choices)
>>> q = RUBRIC.misalignment_question()
>>> labels = pd.DataFrame({"task": ["1", "2", "3"], "worker": "w", "question": q, "label": [worst, worst, best]})
>>> ev = pd.DataFrame({"task": ["1", "3"], "kind": ["loop", "loop"]})
>>> evidence_precision_recall(ev, labels)[["kind", "flagged", "true_pos", "precision", "recall"]].to_dict("records")
[{'kind': 'loop', 'flagged': 2, 'true_pos': 1, 'precision': 0.5, 'recall': 0.5}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oma_analysis import OmaError
from oma_analysis.classifier.data import task_majority

COLUMNS = ["kind", "flagged", "true_pos", "precision", "precision_lo", "precision_hi", "positives", "recall",
           "recall_lo", "recall_hi", "n_tasks", "n_labels_left_out"]


def _wilson(k: int, n: int) -> tuple[float, float, float]:
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return (np.nan, np.nan, np.nan)
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return (k / n, float(lo), float(hi))


def evidence_precision_recall(evidence: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per evidence kind (see the module docstring); empty frame when nothing is labelled."""
    for col in ("task", "kind"):
        if col not in evidence.columns:
            raise OmaError(f"evidence frame: missing column {col!r}")
    left_out = 0
    if "saw_verdict" in labels.columns:
        seen = labels["saw_verdict"].fillna(False).astype(bool)
        left_out = int(seen.sum())
        labels = labels.loc[~seen]
    truth = task_majority(labels).set_index("task")["label"]
    ev = evidence.assign(task=evidence["task"].astype(str))
    ev = ev[ev["task"].isin(truth.index)].drop_duplicates(["task", "kind"])
    positives = int(truth.sum())
    rows = []
    for kind, grp in ev.groupby("kind", sort=True):
        flagged = len(grp)
        tp = int(truth.loc[grp["task"]].sum())
        p, plo, phi = _wilson(tp, flagged)
        r, rlo, rhi = _wilson(tp, positives)
        rows.append([kind, flagged, tp, p, plo, phi, positives, r, rlo, rhi, len(truth), left_out])
    return pd.DataFrame(rows, columns=COLUMNS)
