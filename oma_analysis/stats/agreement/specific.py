"""Positive and negative (specific) agreement, for binary labels or per category one-vs-rest.

For a category c, with n_uc raters putting unit u in c out of m_u (units with m_u >= 2):
positive agreement PA_c = sum_u n_uc (n_uc - 1) / sum_u n_uc (m_u - 1), the chance that another
rater also says c given one rater said c; with two raters it is 2a / (2a + b + c) (Cicchetti &
Feinstein 1990, J Clin Epidemiol 43:551-558; Uebersax's multi-rater form). Negative agreement is
the same for "not c". They stay informative at low prevalence, where kappa does not.

>>> import pandas as pd
>>> df = pd.DataFrame({"task": list("aabbccdd"), "worker": list("xyxyxyxy"),
...                    "label": ["y", "y", "y", "n", "n", "n", "n", "n"]})
>>> round(positive_agreement(df, "y").value, 4), round(negative_agreement(df, "y").value, 4)
(0.6667, 0.8)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oma_analysis.stats.agreement.bootstrap import bootstrap_stat, percentile_ci
from oma_analysis.stats.agreement.ratings import Ratings, as_ratings
from oma_analysis.stats.agreement.result import AgreementResult, is_kappa_paradox

__all__ = ["positive_agreement", "negative_agreement", "rarest_category"]


def rarest_category(r: Ratings) -> str:
    """The used category with the fewest ratings (the 'positive' class when misalignment is rare).

    >>> import pandas as pd
    >>> rarest_category(as_ratings(pd.DataFrame({"task": list("aab"), "worker": list("xyx"),
    ...                                          "label": list("ppq")})))
    'q'
    """
    n = np.bincount(r.category, minlength=r.n_categories).astype(float)
    n[n == 0] = np.inf
    return r.categories[int(np.argmin(n))]


def positive_agreement(data: pd.DataFrame | Ratings, category: str | None = None, **kw) -> AgreementResult:
    """Specific agreement on ``category`` (default: the rarest used one).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"task": list("aabb"), "worker": list("xyxy"), "label": list("yyyn")})
    >>> round(positive_agreement(df, "y").value, 4)  # 2a / (2a + b + c) = 2 / 3
    0.6667
    """
    return _specific(data, category, negative=False, **kw)


def negative_agreement(data: pd.DataFrame | Ratings, category: str | None = None, **kw) -> AgreementResult:
    """Specific agreement on "not ``category``" (default: the rarest used one).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"task": list("aabb"), "worker": list("xyxy"), "label": list("yyyn")})
    >>> round(negative_agreement(df, "y").value, 4)
    0.0
    """
    return _specific(data, category, negative=True, **kw)


def _specific(data: pd.DataFrame | Ratings, category: str | None, *, negative: bool, question: str | None = None,
              n_boot: int = 0, seed: int | None = None, ci_level: float = 0.95) -> AgreementResult:
    r = as_ratings(data, question)
    cat = category if category is not None else rarest_category(r)
    if cat not in r.categories:
        raise ValueError(f"category {cat!r} is not among {list(r.categories)}")
    counts = r.counts
    m = np.asarray(counts.sum(axis=1)).ravel().astype(float)
    x = counts[:, r.categories.index(cat)].toarray().ravel().astype(float)
    if negative:
        x = m - x
    keep = m >= 2
    x, m = x[keep], m[keep]
    feats = np.column_stack([x * (x - 1.0), x * (m - 1.0)])
    num, den = feats.sum(axis=0)
    value = float(num / den) if den > 0 else float("nan")
    lo = hi = None
    if n_boot > 0 and len(x):
        def stat(s: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                return s[:, 0] / s[:, 1]

        lo, hi = percentile_ci(bootstrap_stat(feats, stat, n_boot, seed), ci_level)
    prev = r.prevalence()
    return AgreementResult(metric="negative_agreement" if negative else "positive_agreement", level="nominal",
                           value=value, ci_low=lo, ci_high=hi, n_units=r.n_units, n_pairable=int(keep.sum()),
                           ci_method=f"bootstrap-percentile:{n_boot}" if n_boot and len(x) else None,
                           question=r.question, n_ratings=int(m.sum()), prevalence=prev,
                           kappa_paradox=is_kappa_paradox(prev), companions={"category": cat})
