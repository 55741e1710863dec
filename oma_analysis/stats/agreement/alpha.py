"""Krippendorff's alpha at the nominal, ordinal, interval and ratio levels, with missing data.

alpha = 1 - (n - 1) * sum_ck o_ck d_ck / sum_ck n_c n_k d_ck, where o is the coincidence matrix
(Krippendorff 2011, "Computing Krippendorff's alpha-reliability"), n_c its margins and d the
squared difference of the level.

Why not always ``krippendorff.alpha``: version 0.9 builds an N x V x V dense array (units x
values x values) to get the coincidences; at 200k units x 50 values that is 33 s and +11.5 GB.
Here the coincidences come from one sparse matrix product over the unit x value count matrix N,
``C = N^T diag(1/(m_u - 1)) N`` (m_u = ratings of unit u), whose off-diagonal is the coincidence
matrix (its diagonal differs from o's, but d_cc = 0 so it never counts). The product's cost and size
follow the values that actually co-occur in a unit, never N x V x V. Small inputs still go to the
package (``method="auto"``).

>>> import pandas as pd
>>> df = pd.DataFrame({"task": list("aabbcc"), "worker": list("xyxyxy"), "label": list("112233")})
>>> krippendorff_alpha(df).value
1.0
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from oma_analysis.stats.agreement.bootstrap import bootstrap_stat, percentile_ci
from oma_analysis.stats.agreement.ratings import Ratings, as_ratings
from oma_analysis.stats.agreement.result import AgreementResult, is_kappa_paradox

__all__ = ["LEVELS", "coincidence_matrix", "alpha_from_counts", "krippendorff_alpha"]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")
_PACKAGE_MAX_CELLS = 2_000_000  # units x values^2 below which krippendorff.alpha is cheap


def coincidence_matrix(counts: sparse.spmatrix | np.ndarray) -> sparse.csr_matrix:
    """Krippendorff's coincidence matrix o (values x values, sparse) from unit x value counts.

    >>> coincidence_matrix(np.array([[2, 0], [1, 1], [1, 0]])).toarray().tolist()
    [[2.0, 1.0], [1.0, 0.0]]
    """
    n, m = _pairable(counts)
    c = _c_matrix(n, m)
    return (c - sparse.diags(np.asarray(n.T @ (1.0 / (m - 1))).ravel())).tocsr()


def alpha_from_counts(counts: sparse.spmatrix | np.ndarray, values: np.ndarray | None = None,
                      level: Level = "nominal") -> float:
    """Alpha from a unit x value count matrix (sparse or dense) and the value of each column
    (needed for ordinal (order only), interval and ratio). NaN when there is no variation.

    >>> alpha_from_counts(np.array([[2, 0], [0, 2], [1, 1]]))
    0.4444444444444444
    """
    _check_level(level)
    n, m = _pairable(counts)
    if n.shape[0] == 0:
        return float("nan")
    vals = _values(values, n.shape[1], level)
    c = _c_matrix(n, m).tocoo()
    n_c = np.asarray(n.sum(axis=0), dtype=float).ravel()
    mid = _ordinal_points(n_c[None, :], vals)[0] if level == "ordinal" else vals
    do = float(np.dot(c.data, _delta(level, c.row, c.col, mid)))
    de = float(_expected(level, n_c[None, :], mid[None, :] if level == "ordinal" else vals)[0])
    tot = n_c.sum()
    return float(1.0 - (tot - 1.0) * do / de) if de > 0 else float("nan")


def krippendorff_alpha(data: pd.DataFrame | Ratings, level: Level = "nominal", *, question: str | None = None,
                       n_boot: int = 0, seed: int | None = None, ci_level: float = 0.95,
                       method: Literal["auto", "sparse", "package"] = "auto") -> AgreementResult:
    """Krippendorff's alpha of a long frame (or :class:`Ratings`), with a bootstrap-over-units
    percentile interval when ``n_boot`` > 0.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"task": list("aabbccdd"), "worker": list("xyxyxyxy"),
    ...                    "label": list("11223324")})
    >>> r = krippendorff_alpha(df, "interval", n_boot=200, seed=1)
    >>> round(r.value, 4), r.n_units, r.ci_low <= r.value <= r.ci_high
    (0.5333, 4, True)
    """
    _check_level(level)
    r = as_ratings(data, question)
    counts = r.counts
    vals = None if level == "nominal" else r.numeric_values()
    use_pkg = method == "package" or (
        method == "auto" and r.n_units * r.n_categories ** 2 <= _PACKAGE_MAX_CELLS)
    if use_pkg:
        import krippendorff

        dense = counts.toarray()
        domain = np.arange(r.n_categories, dtype=float) if vals is None else vals
        order = np.argsort(domain, kind="stable")  # the package wants an ordered value domain
        try:
            # No expected disagreement (one value used) makes alpha 0/0: undefined, returned as NaN
            # without numpy's warning, which would otherwise flood every report.
            with np.errstate(invalid="ignore", divide="ignore"):
                value = float(krippendorff.alpha(value_counts=dense[:, order], value_domain=domain[order],
                                                 level_of_measurement=level))
        except ValueError:  # fewer than two distinct values: no variation to measure
            value = float("nan")
    else:
        value = alpha_from_counts(counts, vals, level)
    lo = hi = None
    if n_boot > 0:
        lo, hi = percentile_ci(alpha_replicates(counts, vals, level, n_boot, seed), ci_level)
    return AgreementResult(
        metric="alpha", level=level, value=value, ci_low=lo, ci_high=hi, n_units=r.n_units,
        n_pairable=r.n_pairable, ci_method=f"bootstrap-percentile:{n_boot}" if n_boot else None,
        weights=level, question=r.question, n_ratings=int(r.raters_per_unit[r.raters_per_unit >= 2].sum()),
        prevalence=r.prevalence(), kappa_paradox=is_kappa_paradox(r.prevalence()))


def alpha_replicates(counts: sparse.spmatrix | np.ndarray, values: np.ndarray | None, level: Level,
                     n_boot: int, seed: int | None = None) -> np.ndarray:
    """Alpha on ``n_boot`` bootstrap resamples of the (pairable) units, vectorised.

    Per unit we keep its value counts and, for the fixed-distance levels, its disagreement
    contribution d_u = sum_ck n_uc n_uk d_ck / (m_u - 1); a replicate's alpha is a function of the
    weighted sums (see bootstrap.py). The ordinal distance depends on the replicate's own value
    margins, so there the per-unit value-pair coincidences are kept instead (sparse).

    >>> counts = np.array([[2, 0], [0, 2], [1, 1], [2, 0]])
    >>> rep = alpha_replicates(counts, None, "nominal", 100, seed=0)
    >>> rep.shape, bool(np.nanmax(rep) <= 1)
    ((100,), True)
    """
    n, m = _pairable(counts)
    u, v = n.shape
    vals = _values(values, v, level)
    if u == 0:
        return np.full(n_boot, np.nan)
    if level == "ordinal":
        pairs, pi, pk = _pair_features(n, m)
        feats = sparse.hstack([pairs, n]).tocsr()
        npair = pairs.shape[1]

        def stat(s: np.ndarray) -> np.ndarray:
            n_c = s[:, npair:]
            mid = _ordinal_points(n_c, vals)
            do = (s[:, :npair] * (mid[:, pi] - mid[:, pk]) ** 2).sum(axis=1)
            return _alpha(n_c.sum(axis=1), do, _expected(level, n_c, mid))
    else:
        d_u = _unit_disagreement(n, m, vals, level)
        if level == "interval":
            # sums of x and x^2 per unit replace the V count columns: no V at all
            x = vals - np.average(vals, weights=np.asarray(n.sum(axis=0)).ravel())
            feats = np.column_stack([d_u, m, n @ x, n @ (x * x)])

            def stat(s: np.ndarray) -> np.ndarray:
                tot, s1, s2 = s[:, 1], s[:, 2], s[:, 3]
                return _alpha(tot, s[:, 0], 2.0 * (tot * s2 - s1 * s1))
        else:
            feats = sparse.hstack([sparse.csr_matrix(d_u[:, None]), n]).tocsr()
            if v + 1 <= 64:
                feats = feats.toarray()  # BLAS on a thin dense matrix beats sparse here

            def stat(s: np.ndarray) -> np.ndarray:
                n_c = s[:, 1:]
                return _alpha(n_c.sum(axis=1), s[:, 0], _expected(level, n_c, vals))
    return bootstrap_stat(feats, stat, n_boot, seed)


# ---- internals ---------------------------------------------------------------------------------
def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")


def _values(values: np.ndarray | None, v: int, level: str) -> np.ndarray:
    if values is None:
        if level in ("interval", "ratio"):
            raise ValueError(f"the {level} level needs a number per value")
        return np.arange(v, dtype=float)
    vals = np.asarray(values, dtype=float)
    if vals.shape != (v,):
        raise ValueError(f"{len(vals)} values for {v} count columns")
    return vals


def _pairable(counts: sparse.spmatrix | np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Rows of units with >= 2 ratings (the others carry no pairs) and their rating counts."""
    n = sparse.csr_matrix(counts, dtype=np.float64)
    m = np.asarray(n.sum(axis=1)).ravel()
    keep = m >= 2
    return n[keep], m[keep]


def _c_matrix(n: sparse.csr_matrix, m: np.ndarray) -> sparse.csr_matrix:
    # The one sparse product (see the module docstring).
    return (n.T @ sparse.diags(1.0 / (m - 1)) @ n).tocsr()


def _delta(level: str, ci: np.ndarray, ck: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Squared distance d(c, k) for index arrays (vals: values, or ordinal mid-points)."""
    if level == "nominal":
        return (ci != ck).astype(float)
    a, b = vals[..., ci], vals[..., ck]
    if level == "ratio":
        s = a + b
        return np.divide(a - b, s, out=np.zeros(np.broadcast(a, b).shape), where=s != 0) ** 2
    return (a - b) ** 2  # interval; ordinal on mid-points


def _ordinal_points(n_c: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Krippendorff's ordinal d(c,k) = (sum_{g=c..k} n_g - (n_c + n_k)/2)^2 = (M_k - M_c)^2 with
    M_c = sum_{g<c} n_g + n_c/2 (values in increasing order): ordinal is interval on M. Rows of
    n_c are replicates; returns M in the columns' own order."""
    order = np.argsort(vals, kind="stable")
    srt = n_c[:, order]
    mid_sorted = np.cumsum(srt, axis=1) - srt / 2.0
    out = np.empty_like(mid_sorted)
    out[:, order] = mid_sorted
    return out


def _expected(level: str, n_c: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """sum_ck n_c n_k d(c,k) for each row of n_c (vals: (V,) or per-row (b, V))."""
    tot = n_c.sum(axis=1)
    if level == "nominal":
        return tot * tot - (n_c * n_c).sum(axis=1)
    if level in ("interval", "ordinal"):
        x = np.broadcast_to(vals, n_c.shape)
        mean = (n_c * x).sum(axis=1, keepdims=True) / np.where(tot > 0, tot, 1)[:, None]
        return 2.0 * tot * (n_c * (x - mean) ** 2).sum(axis=1)  # centred: no cancellation
    v = len(vals)
    idx = np.arange(v)
    out = np.zeros(len(n_c))
    step = max(1, 4_000_000 // max(v, 1))  # ratio has no factorised form: rows of d in blocks
    for s in range(0, v, step):
        d = _delta(level, idx[s:s + step, None], idx[None, :], vals)
        out += ((n_c[:, s:s + step] @ d) * n_c).sum(axis=1)
    return out


def _alpha(tot: np.ndarray, do: np.ndarray, de: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(de > 0, 1.0 - (tot - 1.0) * do / de, np.nan)


def _unit_pairs(n: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (entry, entry) pairs within each unit's nonzero counts: (unit, left, right) entry ids."""
    k = np.diff(n.indptr)
    ent_unit = np.repeat(np.arange(n.shape[0]), k)
    reps = k[ent_unit]
    left = np.repeat(np.arange(n.nnz), reps)
    offs = np.arange(len(left)) - np.repeat(np.cumsum(reps) - reps, reps)
    right = n.indptr[ent_unit[left]] + offs
    return ent_unit[left], left, right


def _unit_disagreement(n: sparse.csr_matrix, m: np.ndarray, vals: np.ndarray, level: str) -> np.ndarray:
    if level == "nominal":  # sum_{c != k} n_c n_k = m^2 - sum_c n_c^2
        return (m * m - np.asarray(n.multiply(n).sum(axis=1)).ravel()) / (m - 1)
    unit, left, right = _unit_pairs(n)
    d = n.data[left] * n.data[right] * _delta(level, n.indices[left], n.indices[right], vals)
    return np.bincount(unit, weights=d, minlength=n.shape[0]) / (m - 1)


def _pair_features(n: sparse.csr_matrix, m: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """Units x (distinct co-occurring value pairs c != k) matrix of n_uc n_uk / (m_u - 1)."""
    unit, left, right = _unit_pairs(n)
    ci, ck = n.indices[left], n.indices[right]
    off = ci != ck
    unit, left, right, ci, ck = unit[off], left[off], right[off], ci[off], ck[off]
    key = ci.astype(np.int64) * n.shape[1] + ck
    uniq, col = np.unique(key, return_inverse=True)
    vals = n.data[left] * n.data[right] / (m[unit] - 1)
    feats = sparse.csr_matrix((vals, (unit, col)), shape=(n.shape[0], len(uniq)))
    return feats, uniq // n.shape[1], uniq % n.shape[1]
