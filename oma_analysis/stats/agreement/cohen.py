"""Cohen's kappa for two raters, unweighted or weighted, with the large-sample standard error of
Fleiss, Cohen & Everitt (1969, Psychological Bulletin 72:323-327) and an optional bootstrap.

>>> import pandas as pd
>>> df = pd.DataFrame({"task": list("aabbccdd"), "worker": list("xyxyxyxy"),
...                    "label": ["p", "p", "n", "n", "p", "n", "n", "n"]})
>>> round(cohen_kappa(df).value, 4)
0.5
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse, stats

from oma_analysis.stats.agreement.bootstrap import bootstrap_stat, percentile_ci
from oma_analysis.stats.agreement.ratings import Ratings, as_ratings
from oma_analysis.stats.agreement.result import AgreementResult, is_kappa_paradox
from oma_analysis.stats.agreement.weights import agreement_weights

__all__ = ["cohen_kappa", "kappa_from_table"]


def kappa_from_table(table: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float, float, float]:
    """(kappa, se, po, pe) of a q x q contingency table (rows rater A, columns rater B) with
    agreement weights ``w`` (identity by default). se is FCE (1969)'s non-null standard error.

    >>> k, se, po, pe = kappa_from_table(np.array([[20, 5], [10, 15]]))
    >>> round(k, 4), round(po, 2), round(pe, 2)
    (0.4, 0.7, 0.5)
    """
    t = np.asarray(table, dtype=float)
    w = np.eye(len(t)) if w is None else w
    n = t.sum()
    if n == 0:
        return (float("nan"),) * 4
    p = t / n
    row, col = p.sum(axis=1), p.sum(axis=0)
    po = float((w * p).sum())
    pe = float((w * np.outer(row, col)).sum())
    if pe >= 1:
        return float("nan"), float("nan"), po, pe
    k = (po - pe) / (1 - pe)
    w_row = w @ col  # mean weight of row category i against rater B's margins
    w_col = row @ w
    term = (p * (w - (w_row[:, None] + w_col[None, :]) * (1 - k)) ** 2).sum()
    var = (term - (k - pe * (1 - k)) ** 2) / ((1 - pe) ** 2 * n)
    return float(k), float(np.sqrt(max(var, 0.0))), po, pe


def cohen_kappa(data: pd.DataFrame | Ratings, weights: str = "identity", *, raters: tuple[str, str] | None = None,
                question: str | None = None, n_boot: int = 0, seed: int | None = None,
                ci_level: float = 0.95, level: str | None = None) -> AgreementResult:
    """Cohen's kappa between two raters on the units both rated. ``raters`` names them (needed
    when the frame has more than two). ``weights``: identity, linear, quadratic (on the labels'
    numbers), ordinal or ratio (see weights.py); linear/quadratic equal Cohen's (1968) weighted kappa.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"task": list("aabbccdd"), "worker": list("xyxyxyxy"),
    ...                    "label": ["1", "1", "2", "3", "3", "3", "1", "2"]})
    >>> round(cohen_kappa(df, "quadratic").value, 4)
    0.6923
    """
    r = as_ratings(data, question)
    if raters is None:
        if len(r.worker_ids) != 2:
            raise ValueError(f"Cohen's kappa is for two raters and there are {len(r.worker_ids)}; name two")
        ia, ib = 0, 1
    else:
        ids = list(r.worker_ids)
        missing = [x for x in raters if x not in ids]
        if missing:
            raise ValueError(f"rater {missing[0]!r} has no ratings for question {r.question!r}")
        ia, ib = ids.index(raters[0]), ids.index(raters[1])
    q = r.n_categories
    w = agreement_weights(r.numeric_values() if weights in ("linear", "quadratic", "ratio") else q, weights)
    a = np.full(r.n_units, -1)
    b = np.full(r.n_units, -1)
    sel_a, sel_b = r.worker == ia, r.worker == ib
    a[r.unit[sel_a]] = r.category[sel_a]
    b[r.unit[sel_b]] = r.category[sel_b]
    both = (a >= 0) & (b >= 0)
    cell = a[both] * q + b[both]
    table = np.bincount(cell, minlength=q * q).reshape(q, q)
    k, se, po, pe = kappa_from_table(table, w)
    n = int(both.sum())
    lo = hi = None
    method = None
    if n_boot > 0 and n > 0:
        feats = sparse.csr_matrix((np.ones(n), (np.arange(n), cell)), shape=(n, q * q))
        wf = w.ravel()

        def stat(s: np.ndarray) -> np.ndarray:
            tot = s.sum(axis=1)
            p = s / tot[:, None]
            pr = p.reshape(-1, q, q)
            row, col = pr.sum(axis=2), pr.sum(axis=1)
            po_b = p @ wf
            pe_b = np.einsum("bi,ij,bj->b", row, w, col)
            with np.errstate(divide="ignore", invalid="ignore"):
                return (po_b - pe_b) / (1.0 - pe_b)

        lo, hi = percentile_ci(bootstrap_stat(feats.toarray() if q * q <= 64 else feats, stat, n_boot, seed),
                               ci_level)
        method = f"bootstrap-percentile:{n_boot}"
    elif np.isfinite(se) and n > 1:
        z = stats.norm.ppf(0.5 + ci_level / 2)
        lo, hi = max(-1.0, k - z * se), min(1.0, k + z * se)
        method = "analytic-normal"
    sel = np.isin(r.unit, np.flatnonzero(both)) & (sel_a | sel_b)
    n_c = np.bincount(r.category[sel], minlength=q)
    prev = {c: float(x / max(n_c.sum(), 1)) for c, x in zip(r.categories, n_c, strict=True)}
    return AgreementResult(metric="cohen", level=level or ("nominal" if weights == "identity" else weights),
                           value=k, ci_low=lo, ci_high=hi, n_units=r.n_units, n_pairable=n, se=se,
                           ci_method=method, weights=weights, question=r.question, n_ratings=2 * n,
                           prevalence=prev, kappa_paradox=is_kappa_paradox(prev), pa=po, pe=pe)
