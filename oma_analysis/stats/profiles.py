"""Capability profiles per model: which checklist items a model is capable of, not capable of, or
unknown, with the evidence; and the rule re-applied per annotation with its model's profile.

- Model metadata (size, base vs instruction-tuned, deployed setting) comes from the code map, never
  from Label Studio: labellers are never told the model.
- *Not capable* comes only from researcher declarations per size class and training regime
  (``capability_declarations`` in the rubric; evidence rows with source ``declared`` add more).
- *Capable* comes only from evidence (probes, better variants of the same prompt, automatic checks):
  k successes in n tries whose Wilson lower bound is above ``threshold``. A failure to elicit is no
  proof of incapacity, so evidence never makes an item *not capable*; it beats a declaration.

Pure functions on frames. The evidence frame has columns ``model, item, source, k, n, detail``
(source in ``probe``, ``variant``, ``auto``, ``declared``).

>>> meta = {"tiny-base": {"params_b": 1, "type": "base"}, "big-chat": {"params_b": 70, "type": "instruct"}}
>>> prof = build_profile(None, meta)
>>> prof.set_index(["model", "item"]).loc[("tiny-base", "clarify_or_idk"), "status"]
'not_capable'
>>> prof.set_index(["model", "item"]).loc[("big-chat", "clarify_or_idk"), "status"]
'unknown'
>>> ev = pd.DataFrame([{"model": "tiny-base", "item": "clarify_or_idk", "source": "probe", "k": 9, "n": 10,
...                     "detail": "asked for clarification in 9 of 10 probes"}])
>>> build_profile(ev, meta).set_index(["model", "item"]).loc[("tiny-base", "clarify_or_idk"), "status"]
'capable'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from oma_analysis import OmaError
from oma_analysis.rubric import RUBRIC, Rubric
from oma_analysis.rubric.rule import derived_labels, generic_capability

EVIDENCE_COLUMNS = ["model", "item", "source", "k", "n", "detail"]
PROFILE_COLUMNS = ["model", "item", "status", "source", "k", "n", "lower", "detail"]
SOURCES = ("probe", "variant", "auto", "declared")
DECLARED = "declared"
STATUSES = ("capable", "not_capable", "unknown")
CHANGE_COLUMNS = ["model", "annotations", "changed", "more_misaligned", "less_misaligned"]

#: Code-map keys that describe a model rather than one completion (see model_metadata).
MODEL_KEYS = ("params_b", "type", "regime", "size_class", "deployed")
# Ways code maps spell the training regime; mapped onto the rubric's regimes.
_REGIME_ALIASES = {"chat": "instruct", "instruction-tuned": "instruct", "instruct": "instruct", "sft": "instruct",
                   "rlhf": "instruct", "base": "base", "pretrained": "base"}


def model_metadata(codes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """model -> its metadata (``params_b``, ``type``/``regime``, ``size_class``, ``deployed``), collected
    from the code map's entries (every completion of a model carries the same model-level keys)."""
    out: dict[str, dict[str, Any]] = {}
    for meta in codes.values():
        model = meta.get("model")
        if model is None or meta.get("kind") == "pair":
            continue
        m = out.setdefault(str(model), {})
        for k in MODEL_KEYS:
            if meta.get(k) is not None:
                m.setdefault(k, meta[k])
    return out


def size_class(meta: Mapping[str, Any], rubric: Rubric = RUBRIC) -> str | None:
    """The rubric size class of a model (from ``size_class`` or ``params_b``); None when unknown."""
    if meta.get("size_class") is not None:
        return str(meta["size_class"])
    p = meta.get("params_b")
    if p is None:
        return None
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise OmaError(f"code map: field 'params_b' must be a number of billions of parameters, got {p!r}") from None
    for cid, bound in rubric.size_classes:
        if bound is None or p <= bound:
            return cid
    return None


def regime(meta: Mapping[str, Any]) -> str | None:
    v = meta.get("regime") or meta.get("type")
    return None if v is None else _REGIME_ALIASES.get(str(v).lower())


def declared_not_capable(meta: Mapping[str, Any], rubric: Rubric = RUBRIC) -> dict[str, str]:
    """item -> why, for every declaration that applies to a model with this metadata. A
    declaration for a size class or regime applies only when the model's is known."""
    size, reg = size_class(meta, rubric), regime(meta)
    out: dict[str, str] = {}
    for d in rubric.declarations:
        if d.size in ("any", size) and d.regime in ("any", reg):
            scope = f"size {d.size}, regime {d.regime}"
            for item in d.not_capable:
                out.setdefault(item, f"declared ({scope}): {d.why}")
    return out


def wilson_lower(k: int, n: int, confidence: float = 0.95) -> float:
    """Lower end of the two-sided Wilson interval (0 when n == 0)."""
    if n <= 0:
        return 0.0
    from statsmodels.stats.proportion import proportion_confint

    return float(proportion_confint(k, n, alpha=1 - confidence, method="wilson")[0])


def _check_evidence(evidence: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in EVIDENCE_COLUMNS if c not in evidence.columns]
    if missing:
        raise OmaError(f"capability evidence: missing column(s) {missing}; need {EVIDENCE_COLUMNS}")
    ev = evidence[EVIDENCE_COLUMNS].copy()
    bad = ~ev["source"].isin(SOURCES)
    if bad.any():
        raise OmaError(f"capability evidence: field 'source' {sorted(set(ev.loc[bad, 'source']))} "
                       f"is not one of {SOURCES}")
    known = {i.id for i in RUBRIC.checklist}
    unknown = sorted(set(ev["item"]) - known)
    if unknown:
        raise OmaError(f"capability evidence: field 'item' {unknown} are not checklist ids of rubric {RUBRIC.version}")
    tried = ev["source"] != DECLARED
    k = pd.to_numeric(ev["k"], errors="coerce")
    n = pd.to_numeric(ev["n"], errors="coerce")
    wrong = tried & (k.isna() | n.isna() | (k < 0) | (k > n))
    if wrong.any():
        row = ev[wrong].iloc[0]
        raise OmaError(f"capability evidence: model {row['model']!r} item {row['item']!r}: fields k, n must "
                       f"be counts with 0 <= k <= n (got k={row['k']!r}, n={row['n']!r})")
    ev["k"], ev["n"] = k, n
    return ev


def build_profile(evidence: pd.DataFrame | None, metadata: Mapping[str, Mapping], threshold: float = 0.5,
                  confidence: float = 0.95) -> pd.DataFrame:
    """One row per model and checklist item: ``model, item, status, source, k, n, lower, detail``.

    Per (model, item) the evidence rows of one source are pooled (k and n summed); the source with
    the highest Wilson lower bound is kept. ``capable`` when that bound is above ``threshold``;
    otherwise ``not_capable`` when declared (by the rubric's declarations for the model's size class
    and regime, or an evidence row with source ``declared``), else ``unknown``.
    """
    ev = _check_evidence(evidence) if evidence is not None and len(evidence) else pd.DataFrame(
        columns=EVIDENCE_COLUMNS)
    models = sorted(set(map(str, metadata)) | set(map(str, ev["model"])))
    tried = ev[ev["source"] != DECLARED]
    pooled = tried.groupby(["model", "item", "source"], sort=True).agg(
        k=("k", "sum"), n=("n", "sum"), detail=("detail", lambda s: "; ".join(map(str, s)))).reset_index()
    pooled["lower"] = [wilson_lower(int(k), int(n), confidence) for k, n in zip(pooled["k"], pooled["n"], strict=True)]
    best = {(m, i): g.sort_values(["lower", "source"], ascending=[False, True]).iloc[0]
            for (m, i), g in pooled.groupby(["model", "item"], sort=False)}
    extra_declared = {(str(r.model), str(r.item)): str(r.detail) for r in ev[ev["source"] == DECLARED].itertuples()}
    rows = []
    for model in models:
        declared = declared_not_capable(metadata.get(model, {}))
        for item in (i.id for i in RUBRIC.checklist):
            b = best.get((model, item))
            row = {"model": model, "item": item, "source": None, "k": math.nan, "n": math.nan,
                   "lower": math.nan, "detail": ""}
            if b is not None:
                row.update(source=b["source"], k=float(b["k"]), n=float(b["n"]), lower=float(b["lower"]),
                           detail=str(b["detail"]))
            why = declared.get(item) or extra_declared.get((model, item))
            if b is not None and b["lower"] > threshold:
                status = "capable"  # evidence about this model beats a declaration
                if why:
                    row["detail"] += f" (beats: {why})"
            elif why:
                status = "not_capable"
                row.update(source=DECLARED, detail=why if b is None else f"{why}; evidence too weak: {row['detail']}")
            else:
                status = "unknown"
            rows.append({**row, "status": status})
    out = pd.DataFrame(rows, columns=PROFILE_COLUMNS)
    out["source"] = out["source"].astype("string")
    return out


def capability_map(profile: pd.DataFrame, model: str) -> dict[str, str]:
    """item -> status for one model (the generic list when the profile does not know the model)."""
    sub = profile[profile["model"] == model]
    if not len(sub):
        return generic_capability()
    return dict(zip(sub["item"], sub["status"], strict=True))


def _answers(questions, labels, multi: frozenset[str], yes: str) -> dict[str, object]:
    """One annotation's raw answers back from its frame rows (multi-choice rows are ``q.choice``)."""
    a: dict[str, object] = {}
    for q, lab in zip(questions, labels, strict=True):
        base, dot, choice = q.partition(".")
        if dot and base in multi:
            if lab == yes:
                a.setdefault(base, []).append(choice)  # type: ignore[union-attr]
        elif not dot:
            a[q] = lab
    return a


def apply_profile(frame: pd.DataFrame, profile: pd.DataFrame,
                  known: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recompute the rule-derived questions of every review annotation with its model's profile.

    ``known`` (optional, columns ``model, prompt, items``) adds evidence about one prompt: the items
    a probe on that very prompt showed the model can do (e.g. it answers the same fact correctly),
    so a ``wrong_but_knows`` there counts. Returns the new frame (derived rows replaced for the
    models concerned) and, per model, ``annotations, changed, more_misaligned, less_misaligned``:
    how many overall verdicts changed.
    """
    m = RUBRIC.MISALIGNMENT
    q = frame["question"].astype("string")
    derived = (q == m) | q.str.startswith(m + ".").fillna(False)
    generic = generic_capability()
    # Models whose profile is the generic list would get their labels back unchanged: skip them.
    per_prompt: dict[tuple[str, str], frozenset[str]] = {}
    if known is not None and len(known):
        for r in known.itertuples():
            key_ = (str(r.model), str(r.prompt))
            per_prompt[key_] = per_prompt.get(key_, frozenset()) | frozenset(map(str, r.items))
    models_with_prompt_evidence = {mdl for mdl, _ in per_prompt}
    known = {mdl for mdl in (set(profile["model"]) if len(profile) else set())
             if capability_map(profile, mdl) != generic} | models_with_prompt_evidence
    model = frame["model"].astype("string")
    touch = model.isin(known).fillna(False).to_numpy()
    if not ((q == m).fillna(False).to_numpy(dtype=bool) & touch).any():
        return frame, pd.DataFrame(columns=CHANGE_COLUMNS)
    key = frame["annotation"].astype("string").fillna(frame["task"].astype("string") + "|" +
                                                      frame["worker"].astype("string")).to_numpy(dtype=object)
    multi = frozenset(x.name for x in RUBRIC.task_questions("review") if x.kind == "multi")
    rank = {v: i for i, v in enumerate(reversed(RUBRIC.verdict_ids))}
    qs = q.to_numpy(dtype=object)
    labs = frame["label"].astype("string").to_numpy(dtype=object)
    models = model.to_numpy(dtype=object)
    prompts = frame["prompt"].astype("string").to_numpy(dtype=object)
    # Rows of one annotation, found by sorting positions by annotation key once (a DataFrame per
    # annotation would cost seconds per 10,000 annotations).
    raw_pos = np.flatnonzero(touch & ~derived.to_numpy())
    order = raw_pos[np.argsort(key[raw_pos], kind="stable")]
    sk = key[order]
    cut = np.flatnonzero(sk[1:] != sk[:-1]) + 1 if len(sk) else np.empty(0, dtype=int)
    starts, ends = np.r_[0, cut], np.r_[cut, len(sk)]
    spans = {sk[a]: order[a:b] for a, b in zip(starts, ends, strict=True)} if len(sk) else {}
    src: list[int] = []  # for each new row, the frame row whose annotation columns it repeats
    new_q: list[str] = []
    new_lab: list[str] = []
    per_model: dict[str, list[int]] = {}
    caps = {mdl: capability_map(profile, mdl) for mdl in known}
    generic_caps = generic_capability()
    cache: dict[tuple, dict[str, str]] = {}
    for pos in np.flatnonzero((q == m).fillna(False).to_numpy(dtype=bool) & touch):
        rows = spans.get(key[pos])
        if rows is None:
            continue
        old = str(labs[pos])
        mdl = str(models[rows[0]])
        shown = per_prompt.get((mdl, str(prompts[rows[0]])), frozenset())
        ck = (mdl, shown, tuple(qs[rows]), tuple(labs[rows]))
        labels = cache.get(ck)
        if labels is None:
            answers = _answers(ck[2], ck[3], multi, RUBRIC.yes)
            cap = {**caps.get(mdl, generic_caps), **{i: "capable" for i in shown}}
            labels = cache[ck] = derived_labels(answers, capability=cap)
        c = per_model.setdefault(mdl, [0, 0, 0, 0])
        c[0] += 1
        new = labels.get(m, old)
        if new != old:
            c[1] += 1
            c[2 if rank[new] > rank[old] else 3] += 1
        src += [int(rows[0])] * len(labels)
        new_q += list(labels)
        new_lab += list(labels.values())
    groups = spans
    replaced = set(groups)
    drop = derived.to_numpy() & pd.Series(key).isin(replaced).to_numpy()
    kept = frame[~drop]
    add = frame.iloc[src].reset_index(drop=True)  # keeps every column's dtype
    for col, values in (("question", new_q), ("label", new_lab)):
        dt = frame[col].dtype
        if isinstance(dt, pd.CategoricalDtype):  # the loader's dtype: keep it, new labels may add categories
            dt = pd.CategoricalDtype(dt.categories.union(pd.Index(values, dtype="str").unique()))
            kept = kept.assign(**{col: kept[col].cat.set_categories(dt.categories)})
        add[col] = pd.array(values, dtype=dt)
    out = pd.concat([kept, add], ignore_index=True)
    changes = pd.DataFrame([[mdl, *v] for mdl, v in sorted(per_model.items())], columns=CHANGE_COLUMNS)
    return out, changes


def declarations_profile(codes: Mapping[str, Mapping[str, Any]] | None, frame: pd.DataFrame | None = None,
                         evidence: pd.DataFrame | None = None, threshold: float = 0.5,
                         confidence: float = 0.95) -> pd.DataFrame:
    """The profile of every model of a code map (and of the frame): declarations, plus ``evidence``
    when given (the probe/variant evidence plugs in here)."""
    meta = model_metadata(codes or {})
    if frame is not None and "model" in frame:
        for mdl in pd.unique(frame["model"].dropna()):
            meta.setdefault(str(mdl), {})
    return build_profile(evidence, meta, threshold, confidence)


def profile_loaded(loaded, codemap, evidence: pd.DataFrame | None = None, threshold: float = 0.5,
                   confidence: float = 0.95, known: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the capability profiles to a loaded input in place (``loaded.frame``); return
    (profile, changes). Used by ``oma rates`` and the report; ``evidence=None`` = declarations only."""
    from oma_analysis.tasks.blinding import CodeMap

    codes = None if codemap is None else codemap if isinstance(codemap, Mapping) else CodeMap.load(codemap)
    profile = declarations_profile(codes, loaded.frame, evidence, threshold, confidence)
    loaded.frame, changes = apply_profile(loaded.frame, profile, known)
    return profile, changes


def attach_model_metadata(codes, models: Mapping[str, Mapping[str, Any]]) -> int:
    """Copy each model's metadata onto its code-map entries (the code map is where the analysis
    reads it, beside the run and never in Label Studio); returns the number of entries updated."""
    n = 0
    for meta in codes.values():
        extra = models.get(str(meta.get("model")))
        if extra and meta.get("kind") != "pair":
            meta.update({k: v for k, v in extra.items() if k in MODEL_KEYS})
            n += 1
    return n


def auto_evidence(table: pd.DataFrame | str) -> pd.DataFrame:
    """Evidence rows (source ``auto``) from ``oma capabilities``' table (columns ``model, item,
    best_variant, n, passes``): k passes of n automatically judged probes under the best variant."""
    t = pd.read_csv(table) if isinstance(table, str) else table
    missing = [c for c in ("model", "item", "best_variant", "n", "passes") if c not in t.columns]
    if missing:
        raise OmaError(f"capabilities table: missing column(s) {missing}")
    return pd.DataFrame({"model": t["model"].astype(str), "item": t["item"].astype(str), "source": "auto",
                         "k": t["passes"].astype(int), "n": t["n"].astype(int),
                         "detail": "automatic checks, best variant " + t["best_variant"].astype(str)},
                        columns=EVIDENCE_COLUMNS)
