"""Length- and format-controlled model comparison, beside the raw one (as Chatbot Arena's style
control does): a logistic regression of "counted in the upper rate" on the model, then on the model
plus the completion's log length and markdown formatting (headers, list lines, bold). If a model's
odds ratio moves towards 1 once style is in the model, part of its raw difference was style.
Intervals are Wald intervals with standard errors clustered by prompt (completions of one prompt
are not independent). statsmodels does the fitting; only the features are ours.

>>> style_features("# Title\\n- a\\n- b **x**")
{'log_words': 2.0794415416798357, 'markdown': 1}
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from oma_analysis.rubric import RUBRIC

__all__ = ["style_comparison", "style_features"]

_MARKDOWN = re.compile(r"(?m)^\s{0,3}(#{1,6}\s|[-*+]\s|\d+[.)]\s)|\*\*[^*]+\*\*")


def style_features(text: str) -> dict[str, float | int]:
    """log(1 + words) and whether the text uses markdown formatting."""
    return {"log_words": math.log1p(len(text.split())), "markdown": int(bool(_MARKDOWN.search(text)))}


def _fit(y: np.ndarray, x: pd.DataFrame, groups: np.ndarray):
    import statsmodels.api as sm

    return sm.GLM(y, sm.add_constant(x, has_constant="add"), family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups})


def style_comparison(agg: pd.DataFrame, frame: pd.DataFrame, texts: dict[str, dict],
                     confidence: float = 0.95) -> dict:
    """``{"rows": [per model vs the reference: raw and style-controlled odds ratio with CI],
    "style": [coefficients of the style covariates], "note": ...}``; ``rows`` is empty with a ``note``
    saying why when the regression cannot be fitted (no texts, one model, separation)."""
    ov = agg[agg["question"] == RUBRIC.MISALIGNMENT]
    first = frame.drop_duplicates("completion")
    comp_task = pd.Series(first["task"].to_numpy(), index=first["completion"].to_numpy())
    text = [texts.get(comp_task.get(c, ""), {}).get("completion") for c in ov["completion"]]
    keep = np.array([t is not None and t != "" for t in text])
    if not keep.any():
        return {"rows": [], "style": [], "note": "no completion texts in the input (a long file has labels only)"}
    ov = ov[keep]
    models = sorted(pd.unique(ov["model"].dropna()))
    if len(models) < 2:
        return {"rows": [], "style": [], "note": "one model only"}
    feats = pd.DataFrame([style_features(t) for t, k in zip(text, keep, strict=True) if k])
    worst, middle, _ = RUBRIC.verdict_ids
    y = ov["label"].isin([worst, middle]).to_numpy(dtype=float)
    dummies = pd.get_dummies(pd.Categorical(ov["model"], categories=models), drop_first=True,
                             dtype=float).reset_index(drop=True)
    groups = pd.factorize(ov["prompt"])[0]
    style = feats.assign(log_words=(feats["log_words"] - feats["log_words"].mean()) / (feats["log_words"].std() or 1))
    style = style.loc[:, style.std() > 0]
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    try:
        raw = _fit(y, dummies, groups)
        ctl = _fit(y, pd.concat([dummies, style], axis=1), groups)
    except Exception as exc:  # statsmodels raises on perfect separation or a singular design
        return {"rows": [], "style": [], "note": f"the regression cannot be fitted: {exc}"}

    def orci(fit, name):
        b, se = float(fit.params[name]), float(fit.bse[name])
        # |b| or its standard error this large means (quasi-)separation: no usable odds ratio or interval
        if not (math.isfinite(b) and math.isfinite(se)) or abs(b) > 20 or se > 20:
            return None, None
        return math.exp(b), [math.exp(b - z * se), math.exp(b + z * se)]

    rows = []
    for m in models[1:]:
        r_or, r_ci = orci(raw, m)
        c_or, c_ci = orci(ctl, m)
        rows.append({"model": m, "reference": models[0], "odds_ratio_raw": r_or, "odds_ratio_raw_ci": r_ci,
                     "odds_ratio_style_controlled": c_or, "odds_ratio_style_controlled_ci": c_ci})
    coefs = [{"covariate": c, "odds_ratio": orci(ctl, c)[0], "odds_ratio_ci": orci(ctl, c)[1]} for c in style.columns]
    return {"rows": rows, "style": coefs, "n": len(y), "n_prompts": int(groups.max() + 1),
            "note": "odds of being counted in the upper rate, against the reference model; style-controlled adds "
                    "log length (standardised) and markdown use"}
