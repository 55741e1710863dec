"""Labeller x labeller agreement: percent agreement and Cohen's kappa for every pair of workers on
the units both rated, with the number of shared units.

All pairs' contingency tables come from one sparse product: with Y the units x (worker, category)
one-hot matrix, block (i, j) of Y^T Y is the q x q table of worker i against worker j.

>>> import pandas as pd
>>> df = pd.DataFrame({"task": list("aaabbbccc"), "worker": list("xyzxyzxyz"),
...                    "label": list("112112121")})
>>> pairwise_agreement(df)[["worker_a", "worker_b", "n_shared", "percent"]].round(3).values.tolist()
[['x', 'y', 3, 0.667], ['x', 'z', 3, 0.333], ['y', 'z', 3, 0.0]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from oma_analysis.stats.agreement.cohen import kappa_from_table
from oma_analysis.stats.agreement.ratings import Ratings, as_ratings

__all__ = ["pairwise_agreement", "pairwise_matrix"]


def pairwise_agreement(data: pd.DataFrame | Ratings, question: str | None = None,
                       min_shared: int = 1) -> pd.DataFrame:
    """One row per worker pair with >= ``min_shared`` shared units:
    ``worker_a, worker_b, n_shared, percent, kappa, kappa_se``."""
    r = as_ratings(data, question)
    q, k = r.n_categories, len(r.worker_ids)
    y = sparse.csr_matrix((np.ones(len(r.unit)), (r.unit, r.worker * q + r.category)),
                          shape=(r.n_units, k * q))
    tables = (y.T @ y).toarray().reshape(k, q, k, q).transpose(0, 2, 1, 3)  # [i, j] -> q x q
    rows = []
    for i in range(k):
        for j in range(i + 1, k):
            t = tables[i, j]
            n = int(t.sum())
            if n < min_shared:
                continue
            kap, se, po, _ = kappa_from_table(t)
            rows.append((r.worker_ids[i], r.worker_ids[j], n, po, kap, se))
    return pd.DataFrame(rows, columns=["worker_a", "worker_b", "n_shared", "percent", "kappa", "kappa_se"])


def pairwise_matrix(pairs: pd.DataFrame, value: str = "kappa") -> pd.DataFrame:
    """Square worker x worker matrix of one column of :func:`pairwise_agreement` (symmetric,
    NaN where two workers share no unit).

    >>> pairs = pd.DataFrame({"worker_a": ["x"], "worker_b": ["y"], "kappa": [0.5]})
    >>> pairwise_matrix(pairs).loc["y", "x"]
    np.float64(0.5)
    """
    names = sorted(set(pairs["worker_a"]) | set(pairs["worker_b"]))
    m = pd.DataFrame(np.nan, index=names, columns=names)
    for a, b, v in pairs[["worker_a", "worker_b", value]].itertuples(index=False):
        m.loc[a, b] = m.loc[b, a] = v
    return m
