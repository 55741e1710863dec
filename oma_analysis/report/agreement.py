"""Agreement for the report and the notebooks: one computation, so both print the same numbers.

Every rating in the frame counts, researchers' gold annotations included, exactly as
``oma agreement`` counts them (the CLI reads the same frame); the report says so beside the table.
Per question: percent agreement, Fleiss' kappa and Gwet's AC1 with their analytic intervals (cheap at
any scale) and Krippendorff's alpha; alpha has no analytic interval, so only the headline question
gets a bootstrap one (``n_boot`` resamples of tasks).

>>> import pandas as pd
>>> df = pd.DataFrame({"task": list("aabbccdd"), "worker": list("xyxyxyxy"), "question": "q",
...                    "label": list("yyyynnny")})
>>> t = agreement_table(df, headline="q", n_boot=50)
>>> t[["question", "n_units", "percent"]].values.tolist()
[['q', 4, 0.75]]
>>> reading(0.45), reading(float("nan"))
('moderate', '')
"""

from __future__ import annotations

import math

import pandas as pd

from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.agreement import agreement, ratings_from_frame

__all__ = ["HEADLINE_METRICS", "agreement_table", "family", "headline_agreement", "reading"]

HEADLINE_METRICS = ("percent", "fleiss", "alpha", "ac1")
# Landis & Koch (1977), the wording analysts expect for kappa-type coefficients.
_BANDS = ((0.0, "poor (no better than chance)"), (0.2, "slight"), (0.4, "fair"), (0.6, "moderate"),
          (0.8, "substantial"), (math.inf, "almost perfect"))


def reading(value: float | None) -> str:
    """Landis–Koch words for a chance-corrected coefficient ('' when there is none)."""
    if value is None or not math.isfinite(value):
        return ""
    return next(word for bound, word in _BANDS if value <= bound)


def family(question: str) -> str:
    """The rubric question a frame question belongs to (``q.choice`` and ``q__ft`` -> ``q``)."""
    base = question.split(".", 1)[0]
    return base.split("__", 1)[0]


def _n_boot(n_units: int) -> int:
    """Bootstrap replicates for alpha's interval: 500, or 200 beyond 50,000 tasks (the vectorised
    bootstrap costs ~replicates x tasks; 200 keeps a 1M-annotation report within its time budget).
    A function of the data only, so the report and the notebooks draw the same interval."""
    return 500 if n_units <= 50_000 else 200


def headline_agreement(frame: pd.DataFrame, question: str | None = None, n_boot: int | None = None,
                       seed: int = 0) -> dict[str, dict]:
    """metric -> result dict on the headline question (the rule-applied verdict); alpha's interval
    is a bootstrap over tasks (``n_boot``, default :func:`_n_boot`; ``seed``), the others analytic."""
    q = question or RUBRIC.MISALIGNMENT
    r = ratings_from_frame(_cols(frame), q)
    nb = _n_boot(len(r.unit_ids)) if n_boot is None else n_boot
    return {m: agreement(r, m, n_boot=nb if m == "alpha" else 0, seed=seed).to_dict() for m in HEADLINE_METRICS}


def _cols(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["task", "worker", "question", "label"]]


def agreement_table(frame: pd.DataFrame, headline: str | None = None, n_boot: int | None = None, seed: int = 0,
                    known: dict[str, dict] | None = None) -> pd.DataFrame:
    """One row per question in ``frame`` (text answers are not in it): ``question, family, n_units,
    n_pairable, n_ratings, percent(+_ci), kappa(+_ci), ac1(+_ci), alpha(+_ci), paradox, coefficient,
    value, ci, reading``. ``coefficient`` is the one to read: AC1 under the kappa paradox (a rare
    category depresses kappa and alpha), else Fleiss' kappa. The headline question comes first, its
    alpha with a bootstrap interval; ``known``: its :func:`headline_agreement`, already computed."""
    headline = headline or RUBRIC.MISALIGNMENT
    f = _cols(frame)
    f = f[f["label"].notna()]
    rows = []
    for q, sub in f.groupby(f["question"], sort=True):
        if q == headline:
            res = known or headline_agreement(sub, q, n_boot, seed)
        else:
            r = ratings_from_frame(sub, q)
            res = {m: agreement(r, m).to_dict() for m in HEADLINE_METRICS}
        p = res["percent"]
        row = {"question": q, "family": family(q), "n_units": p["n_units"], "n_pairable": p["n_pairable"],
               "n_ratings": p["n_ratings"]}
        for m, key in (("percent", "percent"), ("fleiss", "kappa"), ("ac1", "ac1"), ("alpha", "alpha")):
            row[key] = res[m]["value"]
            row[f"{key}_ci"] = [res[m]["ci_low"], res[m]["ci_high"]]
        row["paradox"] = bool(res["fleiss"]["kappa_paradox"])
        pick = "ac1" if row["paradox"] else "kappa"
        row.update(coefficient="AC1" if pick == "ac1" else "Fleiss κ", value=row[pick], ci=row[f"{pick}_ci"],
                   reading=reading(row[pick]))
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        out = out.sort_values("question", key=lambda s: s != headline, kind="stable").reset_index(drop=True)
    return out
