"""Vectorised bootstrap over units.

Every coefficient here is a smooth function of a few *sums over units* (of per-unit counts,
agreement contributions, coincidences). A bootstrap replicate that draws units with replacement
just reweights those sums by how often each unit was drawn (multinomial counts). So a replicate is
one row of a (replicates x units) weight matrix and all replicate sums are one matrix product
``W @ F`` with the (units x features) matrix F: no Python loop over units, and replicates are
processed in chunks to bound memory (chunk x units doubles).

>>> import numpy as np
>>> f = np.ones((50, 1))
>>> s = bootstrap_sums(f, 20, seed=0)
>>> s.shape, bool(np.all(s == 50))  # every replicate draws 50 units
((20, 1), True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from scipy import sparse

__all__ = ["bootstrap_weights", "bootstrap_sums", "bootstrap_stat", "percentile_ci"]

_CHUNK_CELLS = 8_000_000  # weights held at once (64 MB as float64)


def bootstrap_weights(n_units: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield (chunk x n_units) float64 multinomial resampling counts, n_boot rows in all.

    Drawing indices and counting them (bincount) is the multinomial draw with equal
    probabilities, and several times faster than ``rng.multinomial`` with 1e5+ categories.

    >>> w = np.vstack(list(bootstrap_weights(5, 3, np.random.default_rng(0))))
    >>> w.shape, w.sum(axis=1).tolist()
    ((3, 5), [5.0, 5.0, 5.0])
    """
    chunk = max(1, min(n_boot, _CHUNK_CELLS // max(n_units, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, n_units, size=(b, n_units), dtype=np.int64)
        idx += (np.arange(b, dtype=np.int64) * n_units)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n_units).reshape(b, n_units).astype(np.float64)
        done += b


def bootstrap_sums(features: np.ndarray | sparse.spmatrix, n_boot: int,
                   seed: int | np.random.Generator | None = None) -> np.ndarray:
    """(n_boot x p) sums of the (units x p) ``features`` over bootstrap resamples of the units."""
    rng = np.random.default_rng(seed)
    n_units, p = features.shape
    out = np.empty((n_boot, p))
    row = 0
    for w in bootstrap_weights(n_units, n_boot, rng):
        if sparse.issparse(features):
            # (F^T W^T)^T: sparse x dense costs nnz(F) per replicate, not units x p.
            out[row:row + len(w)] = (features.T @ w.T).T
        else:
            out[row:row + len(w)] = w @ features
        row += len(w)
    return out


def bootstrap_stat(features: np.ndarray | sparse.spmatrix, stat: Callable[[np.ndarray], np.ndarray],
                   n_boot: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Replicate values of ``stat`` (a function of a (b x p) array of sums returning (b,))."""
    return np.asarray(stat(bootstrap_sums(features, n_boot, seed)), dtype=float)


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the finite replicates (NaN, NaN when none is finite).

    >>> [round(x, 6) for x in percentile_ci(np.arange(101.0))]
    [2.5, 97.5]
    """
    rep = replicates[np.isfinite(replicates)]
    if len(rep) == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = np.quantile(rep, [a, 1 - a])
    return float(lo), float(hi)
