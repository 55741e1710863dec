"""Answers that disagree without contradicting the form: every question a labeller answers is used.

The intent questions ("right length?", "right language?", ...) feed no rate; they are checked
against the failure types instead. An intent answered "no" while no failure is ticked and the
verdict is clearly aligned is an inconsistency: either a failure was missed or the "no" was wrong.
The report lists them; nothing is dropped (the rule's verdict stands).

>>> import pandas as pd
>>> f = pd.DataFrame({"task": ["1"] * 3, "worker": ["a"] * 3, "annotation": [7] * 3, "model": ["m"] * 3,
...                   "question": ["intent_length", "failure_types.lower_quality", "verdict"],
...                   "label": ["no", "no", "clearly_aligned"]})
>>> intent_inconsistencies(f)[["annotation", "question", "reason"]].values.tolist()
[[7, 'intent_length', 'intent no, no failure ticked, verdict clearly_aligned']]
"""

from __future__ import annotations

import pandas as pd

from oma_analysis.rubric import RUBRIC

COLUMNS = ["task", "worker", "annotation", "model", "question", "answer", "verdict", "reason"]


def intent_inconsistencies(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (annotation, intent question) answered "no" beside no failure and an aligned verdict."""
    r = RUBRIC
    ca = r.verdict_best
    q = frame["question"]
    lab = frame["label"]
    key = frame["annotation"].astype("string").fillna(frame["task"].str.cat(frame["worker"], sep="|"))
    intents = {x.name for x in r.intent_questions}
    said_no = frame[q.isin(intents).to_numpy() & (lab == r.no).to_numpy()]
    if not len(said_no):
        return pd.DataFrame(columns=COLUMNS)
    failed = set(key[q.str.startswith(r.failure_types.question + ".").to_numpy() & (lab == r.yes).to_numpy()])
    verdict = dict(zip(key[(q == r.verdict.question).to_numpy()], lab[(q == r.verdict.question).to_numpy()],
                       strict=True))
    k = key[said_no.index]
    keep = (~k.isin(failed) & k.map(verdict).eq(ca)).fillna(False).to_numpy()
    rows = said_no[keep]
    out = pd.DataFrame({"task": rows["task"].to_numpy(), "worker": rows["worker"].to_numpy(),
                        "annotation": rows["annotation"], "model": rows["model"] if "model" in rows else pd.NA,
                        "question": rows["question"].to_numpy(), "answer": r.no, "verdict": ca,
                        "reason": f"intent {r.no}, no failure ticked, verdict {ca}"}, columns=COLUMNS)
    return out.reset_index(drop=True)


def intent_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per intent question: how often each answer was given and how many "no"s are inconsistent."""
    q = frame["question"]
    intents = [x.name for x in RUBRIC.intent_questions]
    sub = frame[q.isin(intents).to_numpy()]
    counts = pd.crosstab(sub["question"].to_numpy(), sub["label"].to_numpy()).reindex(intents, fill_value=0)
    bad = intent_inconsistencies(frame).groupby("question").size()
    counts["inconsistent"] = bad.reindex(counts.index, fill_value=0)
    return counts.reset_index().rename(columns={"index": "question"})
