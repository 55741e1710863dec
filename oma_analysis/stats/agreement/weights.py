"""Agreement weights w_kl in [0, 1] (1 on the diagonal) for weighted kappa / AC2 / BP, as defined
in Gwet, Handbook of Inter-Rater Reliability (4th ed., 2014), ch. 3.

``level`` names map to weights the usual way: nominal -> identity, ordinal -> ordinal,
interval -> quadratic, ratio -> ratio.

>>> agreement_weights([1, 2, 3], "linear").tolist()
[[1.0, 0.5, 0.0], [0.5, 1.0, 0.5], [0.0, 0.5, 1.0]]
"""

from __future__ import annotations

import numpy as np

__all__ = ["WEIGHTS", "LEVEL_WEIGHTS", "agreement_weights"]

WEIGHTS: tuple[str, ...] = ("identity", "ordinal", "linear", "quadratic", "ratio")
LEVEL_WEIGHTS: dict[str, str] = {"nominal": "identity", "ordinal": "ordinal", "interval": "quadratic",
                                 "ratio": "ratio"}


def agreement_weights(values: np.ndarray | list[float] | int, kind: str = "identity") -> np.ndarray:
    """q x q weights for categories with the given numeric ``values`` (in category order; only
    their count matters for identity and only their order for ordinal).

    >>> agreement_weights(3, "ordinal").tolist()
    [[1.0, 0.6666666666666667, 0.0], [0.6666666666666667, 1.0, 0.6666666666666667], [0.0, 0.6666666666666667, 1.0]]
    """
    if kind not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, not {kind!r}")
    v = np.arange(values, dtype=float) if isinstance(values, int) else np.asarray(values, dtype=float)
    q = len(v)
    if kind == "identity" or q < 2:
        return np.eye(q)
    if kind == "ordinal":
        rank = np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(float)
        d = np.abs(rank[:, None] - rank[None, :])
        m = (d + 1) * d / 2  # number of category pairs spanned (Gwet's ordinal weights)
        return 1.0 - m / m.max()
    if np.isnan(v).any():
        raise ValueError(f"{kind} weights need a number for every category")
    span = v.max() - v.min()
    if span == 0:
        return np.ones((q, q))
    if kind == "linear":
        return 1.0 - np.abs(v[:, None] - v[None, :]) / span
    if kind == "quadratic":
        return 1.0 - (v[:, None] - v[None, :]) ** 2 / span ** 2
    s = v[:, None] + v[None, :]
    r = np.divide(v[:, None] - v[None, :], s, out=np.zeros((q, q)), where=s != 0) ** 2
    return 1.0 - r / ((v.max() - v.min()) / (v.max() + v.min())) ** 2
