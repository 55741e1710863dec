"""Multi-rater agreement with any number of raters per unit (missing ratings allowed): percent
agreement, Fleiss' kappa, Gwet's AC1/AC2 and Brennan-Prediger, all in Gwet's general form
(Handbook of Inter-Rater Reliability, 4th ed., 2014, ch. 2-5; the same formulas as the irrCAC
package), with Gwet's analytic standard errors and an optional bootstrap over units.

statsmodels' ``fleiss_kappa`` needs the same number of raters on every unit; this form does not:
observed agreement pa averages, over units with >= 2 ratings, the share of agreeing rater pairs;
category shares pi_k average r_ik / r_i over all rated units.

>>> import pandas as pd
>>> df = pd.DataFrame({"task": list("aabbbcc"), "worker": list("xyxyzxy"),
...                    "label": ["p", "p", "n", "n", "p", "n", "n"]})
>>> round(fleiss_kappa(df).value, 4), round(gwet_ac(df).value, 4)
(0.55, 0.561)
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from oma_analysis.stats.agreement.bootstrap import bootstrap_stat, percentile_ci
from oma_analysis.stats.agreement.ratings import Ratings, as_ratings
from oma_analysis.stats.agreement.result import AgreementResult, is_kappa_paradox
from oma_analysis.stats.agreement.weights import agreement_weights

__all__ = ["percent_agreement", "fleiss_kappa", "gwet_ac", "brennan_prediger", "multirater_agreement"]

Kind = Literal["percent", "fleiss", "ac1", "bp"]


def percent_agreement(data: pd.DataFrame | Ratings, weights: str = "identity", **kw) -> AgreementResult:
    """Share of agreeing rater pairs per unit, averaged over units with >= 2 ratings (weighted:
    partial credit w_kl).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"task": list("aabbb"), "worker": list("xyxyz"), "label": list("11112")})
    >>> round(percent_agreement(df).value, 4)  # unit a: 1, unit b: 1 of 3 pairs
    0.6667
    """
    return multirater_agreement(data, "percent", weights, **kw)


def fleiss_kappa(data: pd.DataFrame | Ratings, weights: str = "identity", **kw) -> AgreementResult:
    """Fleiss' (generalised) kappa: chance agreement sum_kl w_kl pi_k pi_l.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"task": list("aabbcc"), "worker": list("xyxyxy"), "label": list("112222")})
    >>> round(fleiss_kappa(df).value, 4)
    1.0
    """
    return multirater_agreement(data, "fleiss", weights, **kw)


def gwet_ac(data: pd.DataFrame | Ratings, weights: str = "identity", **kw) -> AgreementResult:
    """Gwet's AC1 (AC2 when weighted): chance agreement T_w/(q(q-1)) sum_k pi_k (1 - pi_k), with q
    the number of categories (all known ones, used or not) and T_w the sum of the weights.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"task": list("aabbcc"), "worker": list("xyxyxy"), "label": list("111112")})
    >>> round(gwet_ac(df).value, 4)  # pa 2/3, pi = (5/6, 1/6), pe = 2 * 5/36
    0.5385
    """
    return multirater_agreement(data, "ac1", weights, **kw)


def brennan_prediger(data: pd.DataFrame | Ratings, weights: str = "identity", **kw) -> AgreementResult:
    """Brennan-Prediger: chance agreement T_w / q^2 (1/q unweighted).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"task": list("aabbcc"), "worker": list("xyxyxy"), "label": list("111222")})
    >>> round(brennan_prediger(df).value, 4)  # pa 2/3, pe 1/2
    0.3333
    """
    return multirater_agreement(data, "bp", weights, **kw)


def multirater_agreement(data: pd.DataFrame | Ratings, kind: Kind, weights: str = "identity", *,
                         question: str | None = None, n_boot: int = 0, seed: int | None = None,
                         ci_level: float = 0.95, level: str | None = None) -> AgreementResult:
    """The shared engine behind the four coefficients above (``kind`` picks the chance model).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"task": list("aabbcc"), "worker": list("xyxyxy"), "label": list("111122")})
    >>> r = multirater_agreement(df, "fleiss", n_boot=100, seed=0)
    >>> r.ci_method, r.ci_low <= r.value <= r.ci_high
    ('bootstrap-percentile:100', True)
    """
    r = as_ratings(data, question)
    q = r.n_categories
    w = agreement_weights(r.numeric_values() if weights in ("linear", "quadratic", "ratio") else q, weights)
    counts = r.counts.toarray().astype(float)  # units x categories; units here all have >= 1 rating
    ri = counts.sum(axis=1)
    two = ri >= 2
    n, n2 = len(ri), int(two.sum())
    sum_q = (counts * (counts @ w.T - 1.0)).sum(axis=1)
    den = np.where(two, ri * (ri - 1.0), 1.0)
    pa_i = np.where(two, sum_q / den, 0.0)
    share = counts / ri[:, None]
    tw = w.sum()

    def chance(pi: np.ndarray) -> np.ndarray:  # rows of category shares -> chance agreement
        if kind == "percent":
            return np.zeros(len(pi))
        if kind == "fleiss":
            return np.einsum("bk,kl,bl->b", pi, w, pi)
        if kind == "ac1":
            return tw * (pi * (1.0 - pi)).sum(axis=1) / (q * (q - 1)) if q > 1 else np.full(len(pi), np.nan)
        return np.full(len(pi), tw / q ** 2)

    if n2 == 0:
        value = se = pa = pe = float("nan")
    else:
        pa = float(pa_i.sum() / n2)
        pi = share.mean(axis=0)
        pe = float(chance(pi[None, :])[0])
        value = (pa - pe) / (1.0 - pe) if pe < 1 else float("nan")
        se = _gwet_se(kind, counts, ri, two, pa_i, pi, pe, value, w, q)
    lo = hi = None
    method = None
    if n_boot > 0 and n2 > 0:
        feats = np.column_stack([pa_i, two.astype(float), np.ones(n), share])

        def stat(s: np.ndarray) -> np.ndarray:
            pa_b = s[:, 0] / s[:, 1]
            pe_b = chance(s[:, 3:] / s[:, 2:3])
            with np.errstate(divide="ignore", invalid="ignore"):
                return (pa_b - pe_b) / (1.0 - pe_b)

        lo, hi = percentile_ci(bootstrap_stat(feats, stat, n_boot, seed), ci_level)
        method = f"bootstrap-percentile:{n_boot}"
    elif np.isfinite(se) and n > 1:
        t = stats.t.ppf(0.5 + ci_level / 2, n - 1)
        lo, hi = max(-1.0, value - t * se), min(1.0, value + t * se)
        method = "analytic-t"
    prev = r.prevalence()
    return AgreementResult(metric=kind, level=level or ("nominal" if weights == "identity" else weights),
                           value=float(value), ci_low=lo, ci_high=hi, n_units=n, n_pairable=n2,
                           se=float(se), ci_method=method, weights=weights, question=r.question,
                           n_ratings=len(r.unit), prevalence=prev, kappa_paradox=is_kappa_paradox(prev),
                           pa=float(pa), pe=float(pe))


def _gwet_se(kind: str, counts: np.ndarray, ri: np.ndarray, two: np.ndarray, pa_i: np.ndarray,
             pi: np.ndarray, pe: float, value: float, w: np.ndarray, q: int) -> float:
    """Gwet's linearised variance (Gwet 2008, BJMSP 61:29-48; Handbook ch. 5): each unit's
    contribution to the coefficient, corrected for its influence on the chance agreement."""
    n, n2 = len(ri), int(two.sum())
    if n < 2 or not np.isfinite(value):
        return float("nan")
    val_i = (n / n2) * (pa_i - pe * two) / (1.0 - pe)
    if kind == "fleiss":
        pe_i = counts @ ((w + w.T) / 2.0 @ pi) / ri
    elif kind == "ac1":
        pe_i = (w.sum() / (q * (q - 1))) * (counts @ (1.0 - pi)) / ri
    else:  # percent, BP: chance agreement does not depend on the data
        pe_i = np.full(n, pe)
    val_x = val_i - 2.0 * (1.0 - value) * (pe_i - pe) / (1.0 - pe)
    return float(np.sqrt(((val_x - value) ** 2).sum() / (n * (n - 1))))
