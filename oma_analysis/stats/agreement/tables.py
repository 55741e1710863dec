"""One entry point per metric name, and the per-question / per-category tables.

:func:`agreement` is what ``oma agreement`` calls. When the rarest category holds < 10 % of the
ratings (the kappa paradox), kappa and alpha results carry AC1 and positive agreement on that
category in ``companions`` so they are shown beside them.

>>> import pandas as pd
>>> df = pd.DataFrame({"task": list("aabbccdd"), "worker": list("xyxyxyxy"), "label": list("11223344")})
>>> agreement(df, "alpha", "interval").value
1.0
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from oma_analysis.stats.agreement.alpha import krippendorff_alpha
from oma_analysis.stats.agreement.chance_corrected import multirater_agreement
from oma_analysis.stats.agreement.cohen import cohen_kappa
from oma_analysis.stats.agreement.ratings import Ratings, as_ratings, ratings_from_frame
from oma_analysis.stats.agreement.result import AgreementResult
from oma_analysis.stats.agreement.specific import negative_agreement, positive_agreement, rarest_category
from oma_analysis.stats.agreement.weights import LEVEL_WEIGHTS

__all__ = ["METRICS", "agreement", "agreement_by_question", "agreement_by_category"]

METRICS: tuple[str, ...] = ("percent", "cohen", "fleiss", "alpha", "ac1", "bp")


def agreement(data: pd.DataFrame | Ratings, metric: str, level: str = "nominal", *, question: str | None = None,
              n_boot: int = 0, seed: int | None = None, ci_level: float = 0.95,
              raters: tuple[str, str] | None = None) -> AgreementResult:
    """``metric`` in METRICS at ``level`` (alpha: Krippendorff's level; the others: the weights
    that level maps to, see weights.py). Intervals: bootstrap when ``n_boot`` > 0, else analytic
    where there is a standard formula (none for alpha)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    if level not in LEVEL_WEIGHTS:
        raise ValueError(f"level must be one of {tuple(LEVEL_WEIGHTS)}, not {level!r}")
    r = as_ratings(data, question)
    kw = {"n_boot": n_boot, "seed": seed, "ci_level": ci_level}
    if metric == "alpha":
        res = krippendorff_alpha(r, level, **kw)
    elif metric == "cohen":
        res = cohen_kappa(r, LEVEL_WEIGHTS[level], raters=raters, level=level, **kw)
    else:
        res = multirater_agreement(r, metric, LEVEL_WEIGHTS[level], level=level, **kw)
    if res.kappa_paradox and metric in ("cohen", "fleiss", "alpha") and r.n_pairable:
        cat = rarest_category(r)
        comp = {"ac1": multirater_agreement(r, "ac1").value,
                "positive_agreement": positive_agreement(r, cat).value, "positive_category": cat}
        res = replace(res, companions=comp)
    return res


def agreement_by_question(frame: pd.DataFrame, metrics: tuple[str, ...] = ("percent", "fleiss", "alpha", "ac1"),
                          level: str = "nominal", n_boot: int = 0, seed: int | None = None) -> pd.DataFrame:
    """One row per (question, metric): value, interval, n_units, n_pairable, kappa_paradox."""
    qs = sorted(frame["question"].dropna().unique()) if "question" in frame.columns else [None]
    rows = []
    for q in qs:
        r = ratings_from_frame(frame, q)
        for m in metrics:
            res = agreement(r, m, level, n_boot=n_boot, seed=seed)
            rows.append({"question": q, **{k: v for k, v in res.to_dict().items() if k != "question"}})
    return pd.DataFrame(rows)


def agreement_by_category(data: pd.DataFrame | Ratings, question: str | None = None, n_boot: int = 0,
                          seed: int | None = None) -> pd.DataFrame:
    """Per category, one-vs-rest: prevalence, Fleiss' kappa, AC1, positive and negative agreement.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"task": list("aabbcc"), "worker": list("xyxyxy"), "label": list("aabbcc")})
    >>> agreement_by_category(df)[["category", "fleiss", "positive_agreement"]].values.tolist()
    [['a', 1.0, 1.0], ['b', 1.0, 1.0], ['c', 1.0, 1.0]]
    """
    r = as_ratings(data, question)
    prev = r.prevalence()
    rows = []
    for i, c in enumerate(r.categories):
        binary = Ratings(unit=r.unit, worker=r.worker, category=(r.category != i).astype(np.int64),
                         unit_ids=r.unit_ids, worker_ids=r.worker_ids, categories=(c, f"not {c}"),
                         values=np.array([np.nan, np.nan]), question=r.question)
        kw = {"n_boot": n_boot, "seed": seed}
        fk = multirater_agreement(binary, "fleiss", **kw)
        ac = multirater_agreement(binary, "ac1", **kw)
        pa = positive_agreement(binary, c, **kw)
        na = negative_agreement(binary, c, **kw)
        rows.append({"question": r.question, "category": c, "prevalence": prev[c],
                     "fleiss": fk.value, "fleiss_ci": [fk.ci_low, fk.ci_high], "ac1": ac.value,
                     "ac1_ci": [ac.ci_low, ac.ci_high], "positive_agreement": pa.value,
                     "positive_agreement_ci": [pa.ci_low, pa.ci_high], "negative_agreement": na.value,
                     "kappa_paradox": fk.kappa_paradox, "n_pairable": fk.n_pairable})
    return pd.DataFrame(rows)
