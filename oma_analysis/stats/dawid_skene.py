"""Dawid–Skene EM on a long frame ``task, worker, label``, vectorised with numpy.

Same model, initialisation (majority-vote posteriors), clipping and stopping rule as
``crowdkit.aggregation.DawidSkene`` so that the two can be compared label for label, but every step is
an index gather plus ``np.bincount`` over the annotations: no Python loop over tasks or workers, no
pandas joins inside the EM loop.

>>> import pandas as pd
>>> df = pd.DataFrame({"task": list("aabbccdd") + ["e", "e"],
...                    "worker": ["w1", "w2"] * 5,
...                    "label": ["x", "x", "y", "y", "x", "y", "y", "y", "x", "x"]})
>>> res = dawid_skene(df)
>>> res.labels_series().to_dict()
{'a': 'x', 'b': 'y', 'c': 'x', 'd': 'y', 'e': 'x'}
>>> res.errors.shape   # workers x observed label x true label
(2, 2, 2)
>>> bool(abs(res.posteriors.sum(axis=1) - 1).max() < 1e-12)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from oma_analysis import OmaError

__all__ = ["DSResult", "dawid_skene"]

_EPS = 1e-10  # crowd-kit's clip for error rates, priors and posteriors


@dataclass
class DSResult:
    """Fitted Dawid–Skene model.

    ``errors[w, l, c]`` = P(worker w says label l | true class c); columns sum to 1 over ``l``.
    """

    classes: list[str]
    workers: np.ndarray
    tasks: np.ndarray
    errors: np.ndarray
    priors: np.ndarray
    posteriors: np.ndarray
    n_iter: int
    loss_history: list[float] = field(default_factory=list)

    def labels(self) -> np.ndarray:
        """Most probable class per task (first class wins ties, like crowd-kit)."""
        return np.asarray(self.classes, dtype=object)[self.posteriors.argmax(axis=1)]

    def labels_series(self) -> pd.Series:
        return pd.Series(self.labels(), index=pd.Index(self.tasks, name="task"), name="agg_label")

    def posteriors_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.posteriors, index=pd.Index(self.tasks, name="task"),
                            columns=pd.Index(self.classes, name="label"))

    def errors_frame(self) -> pd.DataFrame:
        """crowd-kit's layout: rows (worker, observed label), columns true label."""
        w, k = len(self.workers), len(self.classes)
        idx = pd.MultiIndex.from_product([self.workers, self.classes], names=["worker", "label"])
        return pd.DataFrame(self.errors.reshape(w * k, k), index=idx, columns=self.classes)

    def diagonal(self) -> pd.DataFrame:
        """P(correct | true class) per worker and class."""
        d = np.diagonal(self.errors, axis1=1, axis2=2)
        return pd.DataFrame(d, index=pd.Index(self.workers, name="worker"), columns=self.classes)


def dawid_skene(frame: pd.DataFrame, *, classes: Sequence[str] | None = None, n_iter: int = 100,
                tol: float = 1e-5, gold: pd.Series | None = None) -> DSResult:
    """Fit Dawid–Skene by EM.

    ``classes`` fixes the class order (default: sorted observed labels, as crowd-kit); labels
    outside it raise. ``gold`` (Series task -> label) clamps those tasks' posteriors to the gold
    class at every E-step, like crowd-kit's ``true_labels``.

    >>> df = pd.DataFrame({"task": ["1", "1", "1"], "worker": ["a", "b", "c"],
    ...                    "label": ["ok", "ok", "bad"]})
    >>> dawid_skene(df).classes
    ['bad', 'ok']
    """
    if len(frame) == 0:
        raise OmaError("Dawid–Skene: no labels to fit")
    t_idx, tasks = pd.factorize(frame["task"], sort=False)
    w_idx, workers = pd.factorize(frame["worker"], sort=True)
    labels = frame["label"].to_numpy()
    if classes is None:
        classes = sorted(set(labels))
    classes = [str(c) for c in classes]
    l_idx = pd.Index(classes).get_indexer(labels)
    if (l_idx < 0).any():
        bad = sorted(set(labels[l_idx < 0]))[:5]
        raise OmaError(f"Dawid–Skene: labels {bad} are not among the classes {classes}")
    n_t, n_w, k = len(tasks), len(workers), len(classes)
    wl = w_idx * k + l_idx

    def per_task(weights: np.ndarray) -> np.ndarray:  # (N, K) -> (T, K) sums by task
        return np.stack([np.bincount(t_idx, weights=weights[:, c], minlength=n_t) for c in range(k)], 1)

    # Majority-vote initialisation: share of each label among a task's labels.
    counts = np.bincount(t_idx * k + l_idx, minlength=n_t * k).reshape(n_t, k).astype(float)
    probas = counts / counts.sum(axis=1, keepdims=True)

    gold_rows = gold_cls = None
    if gold is not None and len(gold):
        g = pd.Series(gold).astype(str)
        pos = pd.Index(tasks).get_indexer(g.index.astype(str))
        cls = pd.Index(classes).get_indexer(g.to_numpy())
        keep = (pos >= 0) & (cls >= 0)
        gold_rows, gold_cls = pos[keep], cls[keep]

    def clamp(p: np.ndarray) -> np.ndarray:
        if gold_rows is not None and len(gold_rows):
            p[gold_rows] = 0.0
            p[gold_rows, gold_cls] = 1.0
        return p

    def m_step(p: np.ndarray) -> np.ndarray:
        pt = p[t_idx]
        err = np.stack([np.bincount(wl, weights=pt[:, c], minlength=n_w * k) for c in range(k)], 1)
        err = np.maximum(err.reshape(n_w, k, k), _EPS)
        return err / err.sum(axis=1, keepdims=True)

    probas = clamp(probas)
    priors = probas.mean(axis=0)
    errors = m_step(probas)
    loss, history, it = -np.inf, [], 0
    for it in range(1, n_iter + 1):  # noqa: B007 - `it` is reported
        log_err = np.log(errors).reshape(n_w * k, k)[wl]  # (N, K)
        ll = per_task(log_err) + np.log(np.maximum(priors, _EPS))
        ll -= ll.max(axis=1, keepdims=True)
        probas = np.exp(ll)
        probas /= probas.sum(axis=1, keepdims=True)
        probas = clamp(probas)
        priors = probas.mean(axis=0)
        errors = m_step(probas)
        # crowd-kit's objective (its "ELBO" adds the log prior once per *label*): using the same one
        # makes both stop at the same iteration, which is what the label-for-label check needs.
        log_joint = np.log(errors).reshape(n_w * k, k)[wl] + np.log(np.maximum(priors, _EPS))
        joint = float((probas[t_idx] * log_joint).sum())
        pc = np.maximum(probas, _EPS)
        new_loss = (joint - float((pc * np.log(pc)).sum())) / len(t_idx)
        history.append(new_loss)
        if new_loss - loss < tol:
            break
        loss = new_loss
    return DSResult(classes=list(classes), workers=np.asarray(workers, dtype=object),
                    tasks=np.asarray(tasks, dtype=object), errors=errors, priors=priors,
                    posteriors=probas, n_iter=it, loss_history=history)
