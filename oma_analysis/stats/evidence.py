"""Evidence that a model is capable of a checklist item, from probe and compare annotations.

An evidence frame has the columns ``model, item, source, k, n, detail`` (the contract with
:func:`oma_analysis.stats.profiles.build_profile`): ``source`` is ``probe`` or ``variant`` here (``auto`` and
``declared`` come from elsewhere), ``k`` is the number of tries that showed the capability, of
``n`` tries. Evidence can only show *capable*: a probe that fails to elicit a capability is a try
(it counts in ``n``), never proof of incapacity.

- **probe**: one try per probe annotation on an item (the labeller names the item and the
  outcome); ``k`` counts the outcome "the model can do it". The model joins through the code map
  (the probe task's ``completion_code``). With ``by_prompt=True`` the rows are also split by
  prompt, which is what ``wrong_but_knows`` needs: a probe on the same prompt showing the model
  answers the same fact correctly. Gold (researcher) probe annotations are evidence like any other.
- **variant**: one try per elicitation comparison (original and swapped copy pooled) where some
  labeller ticked a compare aspect tied to the item (``data/aspect_items.yaml``: only aspects with
  one clear item); ``k`` counts the comparisons where the variant is judged significantly better
  (gap_lower, see :mod:`oma_analysis.stats.elicitation`) and at least half of the annotations that
  prefer the variant tick that aspect. A better variant of the same prompt and model shows the
  model can do it under an uninformative change.

>>> import pandas as pd
>>> item_q, outcome_q = probe_questions()
>>> yes = outcome_q.choice_ids[0]
>>> f = pd.DataFrame({"task": ["1", "1", "2", "2"], "worker": "w", "annotation": [1, 1, 2, 2],
...     "model": "m", "prompt": "p", "question": [item_q.name, outcome_q.name] * 2,
...     "label": [item_q.choice_ids[0], yes, item_q.choice_ids[0], outcome_q.choice_ids[2]]})
>>> probe_evidence(f)[["model", "item", "source", "k", "n"]].values.tolist()
[['m', 'register_genre_subject', 'probe', 1, 2]]
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd
import yaml

from oma_analysis.rubric import RUBRIC, Question
from oma_analysis.stats.elicitation import comparison_judgements, variant_scores

__all__ = ["EVIDENCE_COLUMNS", "aspect_items", "known_facts", "probe_evidence", "probe_questions", "run_evidence",
           "variant_evidence"]

EVIDENCE_COLUMNS = ["model", "item", "source", "k", "n", "detail"]


def probe_questions() -> tuple[Question, Question]:
    """(item question, outcome question) of the probe task: the single-choice question whose
    choices are the checklist, and the other one (its first choice = "the model can do it")."""
    singles = [q for q in RUBRIC.task_questions("probe") if q.kind == "single"]
    checklist = {i.id for i in RUBRIC.checklist}
    items = [q for q in singles if set(q.choice_ids) == checklist]
    outcomes = [q for q in singles if q not in items]
    if len(items) != 1 or len(outcomes) != 1:
        raise ValueError(f"rubric {RUBRIC.version}: expected one probe item and one probe outcome question")
    return items[0], outcomes[0]


@cache
def aspect_items() -> dict[str, tuple[str, ...]]:
    """compare aspect id -> checklist item ids (``data/aspect_items.yaml``). An aspect the current
    rubric does not ask (a rubric version may retire it) is skipped; an item id the checklist lacks
    is an error."""
    raw = yaml.safe_load((resources.files("oma_analysis") / "data" / "aspect_items.yaml").read_text("utf-8"))
    aspect_ids = {c for q in RUBRIC.task_questions("compare") if q.kind == "multi" for c in q.choice_ids}
    checklist = {i.id for i in RUBRIC.checklist}
    out = {}
    for a, items in (raw or {}).items():
        if not set(items) <= checklist:
            raise ValueError(f"aspect_items.yaml: {a!r} -> {items}: not checklist items of rubric {RUBRIC.version}")
        if a in aspect_ids:
            out[str(a)] = tuple(items)
    return out


def _empty(extra: tuple[str, ...] = ()) -> pd.DataFrame:
    return pd.DataFrame(columns=[*EVIDENCE_COLUMNS[:2], *extra, *EVIDENCE_COLUMNS[2:]])


def probe_evidence(frame: pd.DataFrame, by_prompt: bool = False) -> pd.DataFrame:
    """Evidence rows from probe annotations (frame with ``model`` joined from the code map)."""
    item_q, outcome_q = probe_questions()
    shows = outcome_q.choice_ids[0]
    extra = ("prompt",) if by_prompt else ()
    q = frame["question"].astype("string")
    rows = frame[(q == item_q.name) | (q == outcome_q.name)]
    if not len(rows):
        return _empty(extra)
    key = ["task", "worker", "annotation"] if "annotation" in rows.columns else ["task", "worker"]
    rows = rows.assign(**{c: rows[c].astype("string").fillna("") for c in key},
                       question=rows["question"].astype("string"), label=rows["label"].astype("string"))
    wide = rows.pivot_table(index=[*key, "model", "prompt"], columns="question", values="label",
                            aggfunc="first", dropna=False, observed=True).reset_index()
    wide = wide.dropna(subset=[c for c in (item_q.name, outcome_q.name) if c in wide.columns])
    if item_q.name not in wide.columns or outcome_q.name not in wide.columns or not len(wide):
        return _empty(extra)
    wide["_shows"] = (wide[outcome_q.name] == shows).astype(int)
    by = ["model", item_q.name, *extra]
    g = wide.groupby(by, sort=True, observed=True)
    out = g.agg(k=("_shows", "sum"), n=("_shows", "size"), n_prompts=("prompt", "nunique")).reset_index()
    out = out.rename(columns={item_q.name: "item"})
    out["source"] = "probe"
    out["detail"] = [f"{k} of {n} probe annotations show it ({p} prompt(s))"
                     for k, n, p in zip(out["k"], out["n"], out["n_prompts"], strict=True)]
    out["k"] = out["k"].astype(int)
    out["n"] = out["n"].astype(int)
    return out[[*EVIDENCE_COLUMNS[:2], *extra, *EVIDENCE_COLUMNS[2:]]].reset_index(drop=True)


def variant_evidence(frame: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Evidence rows from compare annotations on elicitation pairs (``pairs``:
    :func:`oma_analysis.stats.elicitation.pair_table`)."""
    aspect_qs = [q for q in RUBRIC.task_questions("compare") if q.kind == "multi"]
    mapping = aspect_items()
    scores = variant_scores(frame, pairs)
    if not len(scores) or not aspect_qs or not mapping:
        return _empty()
    aq = aspect_qs[0].name
    qs = frame["question"].astype("string")
    ticks = frame[qs.str.startswith(aq + ".").fillna(False).to_numpy()]
    ticks = pd.DataFrame({"task": ticks["task"].astype("string").to_numpy(),
                          "worker": ticks["worker"].astype("string").to_numpy(),
                          "aspect": ticks["question"].astype("string").str.slice(len(aq) + 1).to_numpy(),
                          "ticked": (ticks["label"].astype("string") == "yes").to_numpy()})  # multi-choice: yes/no
    ticks = ticks[ticks["ticked"] & ticks["aspect"].isin(list(mapping))]
    judged = comparison_judgements(scores)[["comparison", "gap_lower"]]
    d = scores.merge(ticks, on=["task", "worker"]).merge(judged, on="comparison")
    if not len(d):
        return _empty()
    d["_better"] = d["score"] > 0
    per = d.groupby(["model", "comparison", "aspect"], observed=True).agg(
        gap_lower=("gap_lower", "first"), ticks_better=("_better", "sum")).reset_index()
    n_better = scores[scores["score"] > 0].groupby("comparison").size()
    per["shows"] = per["gap_lower"] & (2 * per["ticks_better"] >= per["comparison"].map(n_better).fillna(0))
    per["shows"] &= per["ticks_better"] > 0
    variants = scores.groupby("comparison")["variant"].first()
    per["variant"] = per["comparison"].map(variants)
    rows = [(m, it, c, bool(s), v) for m, c, a, s, v in per[["model", "comparison", "aspect", "shows", "variant"]]
            .itertuples(index=False) for it in mapping[a]]
    ev = pd.DataFrame(rows, columns=["model", "item", "comparison", "shows", "variant"])
    ev = ev.groupby(["model", "item", "comparison"], observed=True).agg(
        shows=("shows", "any"), variant=("variant", "first")).reset_index()
    out = ev.groupby(["model", "item"], sort=True, observed=True).agg(
        k=("shows", "sum"), n=("shows", "size"),
        variants=("variant", lambda v: ", ".join(sorted(set(map(str, v)))))).reset_index()
    out["source"] = "variant"
    out["detail"] = [f"{k} of {n} comparisons: a variant ({v}) judged significantly better on this"
                     for k, n, v in zip(out["k"], out["n"], out["variants"], strict=True)]
    out["k"] = out["k"].astype(int)
    out["n"] = out["n"].astype(int)
    return out[EVIDENCE_COLUMNS].reset_index(drop=True)


def known_facts(frame: pd.DataFrame, min_k: int = 1) -> pd.DataFrame:
    """(model, prompt) pairs where a probe on that very prompt showed the model can do it: what
    makes a ``wrong_but_knows`` on that prompt count (the model answers the same fact correctly
    in another context). Columns ``model, prompt, items, k, n``.

    >>> item_q, outcome_q = probe_questions()
    >>> f = pd.DataFrame({"task": ["1", "1"], "worker": "w", "model": "m", "prompt": "p",
    ...     "question": [item_q.name, outcome_q.name], "label": [item_q.choice_ids[0], outcome_q.choice_ids[0]]})
    >>> known_facts(f)[["model", "prompt", "k", "n"]].values.tolist()
    [['m', 'p', 1, 1]]
    """
    ev = probe_evidence(frame, by_prompt=True)
    cols = ["model", "prompt", "items", "k", "n"]
    if ev.empty:
        return pd.DataFrame(columns=cols)
    shown = ev[ev["k"] >= min_k]
    g = shown.groupby(["model", "prompt"], sort=True, observed=True)
    out = g.agg(items=("item", lambda s: tuple(sorted(map(str, s)))), k=("k", "sum"), n=("n", "sum")).reset_index()
    return out[cols]


def run_evidence(frame: pd.DataFrame, codes) -> pd.DataFrame:
    """All the evidence one run's annotations give: probe rows and variant rows (``codes``: the
    code map, for the elicitation pairs), in the evidence-frame contract."""
    from oma_analysis.stats.elicitation import pair_table

    parts = [probe_evidence(frame), variant_evidence(frame, pair_table(codes))]
    return pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else _empty()
