"""Comparing models' misalignment: McNemar, Cochran's Q, Newcombe intervals, GEE, Holm, trends.

Outcomes are binary per completion: ``count="upper"`` marks clearly misaligned or ambiguous as 1
(the upper bounded rate), ``count="lower"`` only clearly misaligned. Models are paired by prompt;
when a model has several completions of one prompt they pair in order of appearance (sample 1
with sample 1, ...).

>>> [round(x, 4) for x in newcombe_paired(59, 6, 16, 80)]  # Fagerland et al. 2017, ch. 8
[-0.0621, -0.1186, -0.0046]
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from oma_analysis.rubric import RUBRIC

__all__ = ["binary_outcomes", "cochran_q", "compare_models", "gee_model_effect", "mcnemar_pair",
           "newcombe_paired", "newcombe_unpaired", "paired_matrix", "trend"]


def binary_outcomes(agg: pd.DataFrame, count: str = "upper") -> pd.Series:
    """1 where the aggregated verdict counts as a failure under ``count``.

    >>> binary_outcomes(pd.DataFrame({"severity": [0, 1, 2]})).tolist()
    [1, 1, 0]
    """
    worst = [RUBRIC.verdict_severity(RUBRIC.verdict_worst)]
    if count == "upper":
        worst.append(RUBRIC.verdict_severity(RUBRIC.verdict_middle))
    elif count != "lower":
        raise ValueError("count must be 'upper' or 'lower'")
    return agg["severity"].isin(worst).astype(int).rename("y")


def paired_matrix(agg: pd.DataFrame, models: Sequence[str] | None = None, count: str = "upper"
                  ) -> pd.DataFrame:
    """Prompts x models matrix of 0/1 outcomes, complete rows only (one row per prompt x sample).

    >>> agg = pd.DataFrame({"model": ["a", "b", "a", "b", "a"], "prompt": ["p", "p", "q", "q", "r"],
    ...                     "severity": [0, 2, 2, 2, 0]})
    >>> paired_matrix(agg).values.tolist()
    [[1, 0], [0, 0]]
    """
    d = agg.assign(y=binary_outcomes(agg, count).to_numpy())
    d = d.assign(sample=d.groupby(["model", "prompt"], sort=False).cumcount())
    m = d.pivot_table(index=["prompt", "sample"], columns="model", values="y", aggfunc="first",
                      observed=True)
    if models is not None:
        m = m[list(models)]
    return m.dropna().astype(int)


def mcnemar_pair(y_a: np.ndarray, y_b: np.ndarray) -> dict:
    """McNemar's test on paired outcomes; exact binomial when fewer than 25 discordant pairs.

    >>> r = mcnemar_pair(np.array([1, 1, 1, 0, 0]), np.array([0, 0, 1, 0, 0]))
    >>> r["b"], r["c"], r["exact"], r["pvalue"]
    (2, 0, True, 0.5)
    """
    from statsmodels.stats.contingency_tables import mcnemar

    y_a, y_b = np.asarray(y_a, int), np.asarray(y_b, int)
    a = int(((y_a == 1) & (y_b == 1)).sum())
    b = int(((y_a == 1) & (y_b == 0)).sum())
    c = int(((y_a == 0) & (y_b == 1)).sum())
    d = int(((y_a == 0) & (y_b == 0)).sum())
    exact = b + c < 25
    if b + c == 0:
        return {"a": a, "b": b, "c": c, "d": d, "exact": exact, "statistic": 0.0, "pvalue": 1.0}
    res = mcnemar([[a, b], [c, d]], exact=exact, correction=True)
    return {"a": a, "b": b, "c": c, "d": d, "exact": exact, "statistic": float(res.statistic),
            "pvalue": float(res.pvalue)}


def _wilson(k: float, n: float, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcombe_paired(a: int, b: int, c: int, d: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """Newcombe (1998, method 10) interval for p1 - p2 from a paired 2x2 table.

    ``a`` both fail, ``b`` only the first fails, ``c`` only the second, ``d`` neither;
    p1 = (a + b) / n, p2 = (a + c) / n. Square-and-add of Wilson intervals with the
    correlation correction phi (continuity-adjusted as in the paper). Returns (diff, lo, hi).
    """
    n = a + b + c + d
    z = stats.norm.ppf(0.5 + confidence / 2)
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = _wilson(a + b, n, z)
    l2, u2 = _wilson(a + c, n, z)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    phi = 0.0
    if margins > 0:
        num = a * d - b * c
        num = num - n / 2 if num > n / 2 else (num if num < 0 else 0.0)
        phi = num / np.sqrt(margins)
    diff = p1 - p2
    lo = diff - np.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    hi = diff + np.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    return float(diff), float(max(lo, -1.0)), float(min(hi, 1.0))


def newcombe_unpaired(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95
                      ) -> tuple[float, float, float]:
    """Newcombe's hybrid score interval for p1 - p2 of independent samples (statsmodels).

    >>> d, lo, hi = newcombe_unpaired(7, 34, 1, 34)   # Perondi et al. 2004, FLL ch. 4
    >>> round(d, 4), round(lo, 4), round(hi, 4)
    (0.1765, 0.0189, 0.3404)
    """
    from statsmodels.stats.proportion import confint_proportions_2indep

    lo, hi = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff",
                                        alpha=1 - confidence)
    return float(k1 / n1 - k2 / n2), float(lo), float(hi)


def cochran_q(matrix: pd.DataFrame) -> dict:
    """Cochran's Q across the models (columns) of a complete prompts x models 0/1 matrix.

    >>> m = pd.DataFrame({"a": [1, 1, 1, 1, 0, 1], "b": [0, 0, 1, 0, 0, 0], "c": [1, 0, 1, 1, 0, 1]})
    >>> r = cochran_q(m); r["df"], round(r["statistic"], 4)
    (2, 6.5)
    """
    from statsmodels.stats.contingency_tables import cochrans_q

    res = cochrans_q(matrix.to_numpy())
    return {"statistic": float(res.statistic), "pvalue": float(res.pvalue), "df": int(res.df),
            "n": int(len(matrix)), "models": list(map(str, matrix.columns))}


def gee_model_effect(agg: pd.DataFrame, count: str = "upper", reference: str | None = None) -> pd.DataFrame:
    """GEE logistic regression ``y ~ model`` with exchangeable correlation within prompts.

    Returns one row per non-reference model: log odds ratio vs ``reference`` (default: first
    model in sorted order), robust SE, Wald p and odds-ratio interval; ``wald_pvalue`` in
    ``attrs`` is the joint test of any model effect. Empty when there is one model or no
    variation in outcomes.
    """
    import statsmodels.api as sm

    d = agg.assign(y=binary_outcomes(agg, count).to_numpy())
    d = d[d["prompt"].notna()]
    models = sorted(d["model"].unique())
    cols = ["model", "reference", "log_odds_ratio", "se", "pvalue", "or_lo", "or_hi"]
    if len(models) < 2 or d["y"].nunique() < 2:
        return pd.DataFrame(columns=cols)
    ref = reference or models[0]
    others = [m for m in models if m != ref]
    x = np.column_stack([np.ones(len(d))] + [(d["model"] == m).to_numpy(float) for m in others])
    groups, _ = pd.factorize(d["prompt"].to_numpy())
    order = np.argsort(groups, kind="stable")  # GEE wants each cluster's rows together
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GEE(d["y"].to_numpy(float)[order], x[order], groups=groups[order],
                     family=sm.families.Binomial(), cov_struct=sm.cov_struct.Exchangeable()).fit()
    params, bse = np.asarray(fit.params), np.asarray(fit.bse)
    p = np.asarray(fit.pvalues)
    z = stats.norm.ppf(0.975)
    out = pd.DataFrame({"model": others, "reference": ref, "log_odds_ratio": params[1:], "se": bse[1:],
                        "pvalue": p[1:], "or_lo": np.exp(params[1:] - z * bse[1:]),
                        "or_hi": np.exp(params[1:] + z * bse[1:])})
    cov = np.asarray(fit.cov_params())[1:, 1:]
    try:
        w = float(params[1:] @ np.linalg.solve(cov, params[1:]))
        out.attrs["wald_pvalue"] = float(stats.chi2.sf(w, len(others)))
    except np.linalg.LinAlgError:
        out.attrs["wald_pvalue"] = float("nan")
    return out


def trend(agg: pd.DataFrame, column: str = "model_size", count: str = "upper", log: bool = True) -> dict | None:
    """GEE logistic trend of failure against a numeric completion attribute (e.g. model size),
    clustered by prompt; None when the column is absent or has fewer than two values."""
    import statsmodels.api as sm

    if column not in agg.columns:
        return None
    d = agg.assign(y=binary_outcomes(agg, count).to_numpy())
    x = pd.to_numeric(d[column], errors="coerce")
    keep = x.notna().to_numpy() & (x > 0 if log else x.notna()).to_numpy() & d["prompt"].notna().to_numpy()
    d, x = d[keep], x[keep]
    if x.nunique() < 2 or d["y"].nunique() < 2:
        return None
    xv = np.log10(x.to_numpy(float)) if log else x.to_numpy(float)
    groups, _ = pd.factorize(d["prompt"].to_numpy())
    order = np.argsort(groups, kind="stable")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GEE(d["y"].to_numpy(float)[order], sm.add_constant(xv)[order], groups=groups[order],
                     family=sm.families.Binomial(), cov_struct=sm.cov_struct.Exchangeable()).fit()
    return {"column": column, "scale": "log10" if log else "linear", "slope": float(fit.params[1]),
            "se": float(fit.bse[1]), "pvalue": float(fit.pvalues[1]), "n": int(len(d))}


def compare_models(agg: pd.DataFrame, count: str = "upper", confidence: float = 0.95,
                   question: str | None = None) -> dict:
    """All pairwise comparisons (McNemar + Newcombe paired, Holm-adjusted), Cochran's Q, GEE, trend.

    ``agg`` is an :func:`oma_analysis.stats.aggregate.aggregate` frame; ``question`` filters it
    (default: the overall question when present).
    """
    from statsmodels.stats.multitest import multipletests

    from oma_analysis.rubric import RUBRIC

    q = question or RUBRIC.MISALIGNMENT
    if "question" in agg.columns and (agg["question"] == q).any():
        agg = agg[agg["question"] == q]
    models = sorted(agg["model"].unique())
    pairs = []
    paired = "prompt" in agg.columns and agg["prompt"].notna().any()
    for ma, mb in itertools.combinations(models, 2):
        rec: dict = {"model_a": ma, "model_b": mb}
        sub = agg[agg["model"].isin([ma, mb])]
        if paired:
            m = paired_matrix(sub, [ma, mb], count)
        else:
            m = pd.DataFrame()
        if len(m):
            r = mcnemar_pair(m[ma].to_numpy(), m[mb].to_numpy())
            diff, lo, hi = newcombe_paired(r["a"], r["b"], r["c"], r["d"], confidence)
            rec.update(design="paired", n_pairs=len(m), test="mcnemar" + ("-exact" if r["exact"] else ""),
                       discordant=[r["b"], r["c"]], statistic=r["statistic"], pvalue=r["pvalue"])
        else:  # no shared prompts: independent samples
            ya = binary_outcomes(sub[sub["model"] == ma], count)
            yb = binary_outcomes(sub[sub["model"] == mb], count)
            diff, lo, hi = newcombe_unpaired(int(ya.sum()), len(ya), int(yb.sum()), len(yb), confidence)
            tab = [[int(ya.sum()), len(ya) - int(ya.sum())], [int(yb.sum()), len(yb) - int(yb.sum())]]
            p = float(stats.fisher_exact(tab).pvalue)
            rec.update(design="unpaired", n_a=len(ya), n_b=len(yb), test="fisher-exact", statistic=None,
                       pvalue=p)
        rec.update(diff=diff, diff_ci=[lo, hi])
        pairs.append(rec)
    if pairs:
        adj = multipletests([p["pvalue"] for p in pairs], method="holm")[1]
        for p, a in zip(pairs, adj, strict=True):
            p["pvalue_holm"] = float(a)
    out: dict = {"count": count, "confidence": confidence, "models": models, "pairs": pairs}
    if paired and len(models) >= 3:
        m = paired_matrix(agg, models, count)
        out["cochran_q"] = cochran_q(m) if len(m) else None
    if paired and len(models) >= 2:
        g = gee_model_effect(agg, count)
        out["gee"] = {"effects": g.to_dict("records"), "wald_pvalue": g.attrs.get("wald_pvalue")}
    trends = [t for c in ("model_size",) if (t := trend(agg, c, count)) is not None]
    if "training_regime" in agg.columns and agg["training_regime"].nunique() > 1:
        g = gee_model_effect(agg.assign(model=agg["training_regime"].astype(str)), count)
        trends.append({"column": "training_regime", "effects": g.to_dict("records"),
                       "wald_pvalue": g.attrs.get("wald_pvalue")})
    out["trends"] = trends
    return out
