"""The quality gate a retrained classifier must pass before it is served, and its calibration.

A new model is served only if the lower bound of the 95% CI of its held-out AUROC is above chance
(0.5) and above the AUROC of the model being served, measured on the same held-out rows. The
current model may have been trained on some of those rows (an earlier retrain on overlapping
data), which flatters it: the gate errs towards keeping what is served.

Calibration: one temperature ``T`` (logits / T) fitted by maximum likelihood on held-out rows.
Temperature scaling is monotone, so it never changes AUROC. The ECE reported is cross-fitted
(T fitted on one half of the held-out rows, ECE measured on the other, and the other way round),
so it is not measured on the rows T was fitted to; the served T is then fitted on all of them.

>>> import numpy as np
>>> y = np.array([0, 0, 0, 1, 1, 1]); s = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
>>> lo, hi = auroc_ci(y, s)
>>> (round(lo, 3), round(hi, 3))
(1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
N_BOOT = 2000


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney AUROC (ties count one half): P(score of a positive > score of a negative)."""
    from scipy.stats import rankdata

    y, s = np.asarray(y, dtype=int), np.asarray(s, dtype=float)
    n1, n0 = int(y.sum()), int(len(y) - y.sum())
    if n1 == 0 or n0 == 0:
        raise ValueError("AUROC needs both classes")
    r = rankdata(s)
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auroc_ci(y: np.ndarray, s: np.ndarray, *, confidence: float = CONFIDENCE, n_boot: int = N_BOOT,
             seed: int = 0) -> tuple[float, float]:
    """Percentile CI of AUROC from a stratified bootstrap (positives and negatives resampled
    separately, so every resample has both classes; scipy.stats.bootstrap cannot stratify)."""
    y, s = np.asarray(y, dtype=int), np.asarray(s, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUROC needs both classes")
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    p = pos[rng.integers(0, len(pos), size=(n_boot, len(pos)))]
    n = neg[rng.integers(0, len(neg), size=(n_boot, len(neg)))]
    r = rankdata(np.concatenate([p, n], axis=1), axis=1)[:, : len(pos)]  # Mann-Whitney per resample
    stats = (r.sum(axis=1) - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    a = (1 - confidence) / 2
    return float(np.quantile(stats, a)), float(np.quantile(stats, 1 - a))


def fit_temperature(y: np.ndarray, logit: np.ndarray) -> float:
    """Temperature T > 0 minimising the log loss of sigmoid(logit / T) on (y, logit)."""
    from scipy.optimize import minimize_scalar

    y, z = np.asarray(y, dtype=float), np.asarray(logit, dtype=float)

    def nll(log_t: float) -> float:
        u = z / np.exp(log_t)
        return float(np.mean(np.logaddexp(0, u) - y * u))

    return float(np.exp(minimize_scalar(nll, bounds=(-4, 4), method="bounded").x))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def cross_fitted_ece(y: np.ndarray, logit: np.ndarray, seed: int = 0) -> float | None:
    """ECE after temperature scaling, T fitted on one half of the rows and ECE measured on the
    other half (both ways, pooled). None with fewer than 4 rows."""
    from oma_analysis.classifier.model import expected_calibration_error

    y, z = np.asarray(y, dtype=int), np.asarray(logit, dtype=float)
    if len(y) < 4:
        return None
    idx = np.random.default_rng(seed).permutation(len(y))
    halves = (idx[: len(y) // 2], idx[len(y) // 2:])
    p = np.empty(len(y))
    for a, b in (halves, halves[::-1]):
        p[b] = sigmoid(z[b] / fit_temperature(y[a], z[a]))
    return expected_calibration_error(y, p)


@dataclass(frozen=True)
class Decision:
    serve: bool
    reason: str
    auroc: float | None
    ci: tuple[float, float] | None
    current_auroc: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"serve": self.serve, "reason": self.reason, "auroc": _r(self.auroc),
                "auroc_ci95": None if self.ci is None else [_r(self.ci[0]), _r(self.ci[1])],
                "current_auroc_same_rows": _r(self.current_auroc)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def decide(y: np.ndarray, new: np.ndarray, current: np.ndarray | None) -> Decision:
    """Serve the new model iff its AUROC CI lower bound beats chance and the current model's AUROC
    on the same held-out rows (``current``: its scores there, None when nothing is served)."""
    y = np.asarray(y, dtype=int)
    if len(set(y.tolist())) < 2:
        return Decision(False, f"held-out rows ({len(y)}) have one class only: AUROC undefined", None, None, None)
    a, ci = auroc(y, new), auroc_ci(y, new)
    cur = None if current is None else auroc(y, current)
    if ci[0] <= 0.5:
        return Decision(False, f"AUROC CI lower bound {ci[0]:.3f} is not above chance (0.5) "
                               f"on {len(y)} held-out rows", a, ci, cur)
    if cur is not None and ci[0] <= cur:
        return Decision(False, f"AUROC CI lower bound {ci[0]:.3f} does not beat the served model's "
                               f"{cur:.3f} on the same {len(y)} held-out rows", a, ci, cur)
    return Decision(True, f"AUROC CI lower bound {ci[0]:.3f} > 0.5"
                          + ("" if cur is None else f" and > served model's {cur:.3f}"), a, ci, cur)
