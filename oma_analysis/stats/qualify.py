"""Qualification: score each labeller against the researchers' gold answers and decide.

Pure functions on the loader's long frame (``task, worker, question, label, ground_truth`` ...).
Gold answers are the ``ground_truth`` rows (in a study they only come from the researcher's
instance); the gold verdict of a task is the researchers' majority (a tie is no gold).

* **accuracy**: the labeller's verdict after the rubric's rule (``RUBRIC.MISALIGNMENT``) equals gold;
* **agreement with researchers**: the labeller's own raw verdict (``RUBRIC.verdict.question``, before
  the rule) equals the researchers'; also per raw question, for the feedback and the manual.

Both are binomial counts over gold items with exact (Clopper-Pearson) intervals.

**Decision** (documented thresholds): we want labellers at least ``GOOD`` = 0.90 accurate and
cannot accept one below ``MINIMUM`` = 0.75. Items are taken in the order the labeller answered
them; after each one, with exact one-sided ``1 - ALPHA`` (95 %) bounds:

* **fail** as soon as the upper bound is below ``GOOD`` (clearly not a good labeller);
* **pass** as soon as the lower bound reaches ``MINIMUM`` (clearly acceptable);
* otherwise **more items**; after ``MAX_ITEMS`` items without a decision, **fail**.

A labeller who gets every item right passes after 11 items; one at 0.70 typically fails after
10-20. Looking after every item makes the realised error rates larger than a single test's 5 %;
tests/test_qualify.py measures them by simulation (pass rate at 0.95 and at 0.70).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from scipy.stats import beta

from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.crowd import crowd_rows, gold_for, gold_labels

MINIMUM = 0.75
GOOD = 0.90
ALPHA = 0.05
MAX_ITEMS = 40
PASS, FAIL, MORE = "pass", "fail", "more items"


def exact_bounds(k: int, n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """One-sided ``1 - alpha`` Clopper-Pearson lower and upper bounds of a binomial proportion
    (together, the two-sided ``1 - 2 alpha`` interval)."""
    if n == 0:
        return 0.0, 1.0
    lo = 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha, k + 1, n - k))
    return lo, hi


def decide(correct: list[bool], *, minimum: float = MINIMUM, good: float = GOOD, alpha: float = ALPHA,
           max_items: int = MAX_ITEMS) -> tuple[str, int]:
    """(decision, items used) for answers in the order given, by the sequential rule above."""
    k = 0
    for n, ok in enumerate(correct, 1):
        k += bool(ok)
        lo, hi = exact_bounds(k, n, alpha)
        if hi < good:
            return FAIL, n
        if lo >= minimum:
            return PASS, n
        if n >= max_items:
            return FAIL, n
    return MORE, len(correct)


def gold_answers(frame: pd.DataFrame, question: str) -> pd.Series:
    """task -> the researchers' majority answer to ``question`` on gold tasks (ties left out)."""
    return gold_for(gold_labels(frame, ties="drop"), question)


def scored_items(frame: pd.DataFrame, question: str | None = None) -> pd.DataFrame:
    """One row per (labeller, gold task): ``worker, task, label, gold, correct, created_at``."""
    question = question or RUBRIC.MISALIGNMENT
    gold = gold_answers(frame, question)
    crowd = crowd_rows(frame)
    lab = crowd[(crowd["question"] == question) & crowd["task"].isin(gold.index)]
    lab = lab[["worker", "task", "label", "created_at"]].astype({"worker": str, "task": str, "label": str})
    lab = lab.drop_duplicates(["worker", "task"])
    lab["gold"] = lab["task"].map(gold)
    lab["correct"] = lab["label"] == lab["gold"]
    return lab.sort_values(["worker", "created_at", "task"], na_position="last").reset_index(drop=True)


@dataclass
class Score:
    worker: str
    n: int
    correct: int
    accuracy: float
    lower: float
    upper: float
    agreement_n: int
    agreement: float
    agreement_lower: float
    agreement_upper: float
    decision: str
    items_used: int


def qualify(frame: pd.DataFrame, **rule) -> pd.DataFrame:
    """Per labeller: accuracy and raw-verdict agreement with exact bounds, and the decision."""
    acc = scored_items(frame)
    agr = scored_items(frame, RUBRIC.verdict.question)
    rows = []
    for worker, items in acc.groupby("worker", sort=True):
        n, k = len(items), int(items["correct"].sum())
        lo, hi = exact_bounds(k, n)
        a = agr[agr["worker"] == worker]
        an, ak = len(a), int(a["correct"].sum())
        alo, ahi = exact_bounds(ak, an)
        decision, used = decide(items["correct"].tolist(), **rule)
        rows.append(Score(str(worker), n, k, k / n, lo, hi, an, ak / an if an else float("nan"), alo, ahi,
                          decision, used).__dict__)
    return pd.DataFrame(rows, columns=list(Score.__dataclass_fields__))


def held_back(gold: list[dict], docs: Path) -> list[dict]:
    """Gold records whose completion does not appear in the manual (labellers have read the worked
    examples, so those would test memory, not judgement)."""
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(docs.rglob("*.md")))
    squashed = " ".join(text.split())
    return [r for r in gold if " ".join(str(r.get("completion", "")).split())[:80] not in squashed]
