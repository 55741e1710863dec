"""From the long frame (``task, worker, label[, question]``) to the arrays every coefficient uses.

A :class:`Ratings` holds one question's ratings as integer codes (unit, worker, category) plus the
category order and, where the labels allow it, a number per category (for weights and for
Krippendorff's ordinal/interval/ratio levels). The unit x category count matrix is sparse: with
many distinct values a dense one (or krippendorff's N x V x V array) does not fit in memory.

>>> import pandas as pd
>>> df = pd.DataFrame({"task": ["t1", "t1", "t2", "t2", "t2"], "worker": ["a", "b", "a", "b", "c"],
...                    "label": ["2", "2", "1", "3", "1"]})
>>> r = ratings_from_frame(df)
>>> r.categories, r.values.tolist(), r.counts.toarray().tolist()
(('1', '2', '3'), [1.0, 2.0, 3.0], [[0, 2, 0], [2, 0, 1]])
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["Ratings", "ratings_from_frame", "category_order", "category_values"]

REQUIRED = ("task", "worker", "label")


@dataclass(eq=False)
class Ratings:
    """One question's ratings as codes. ``unit``, ``worker`` and ``category`` have one entry per
    rating; ``categories[category[i]]`` is rating i's label and ``values`` the number for each
    category (NaN where a label has none)."""

    unit: np.ndarray
    worker: np.ndarray
    category: np.ndarray
    unit_ids: np.ndarray
    worker_ids: np.ndarray
    categories: tuple[str, ...]
    values: np.ndarray
    question: str | None = None
    n_duplicates: int = 0  # (task, worker) repeats dropped, the last rating kept

    @property
    def n_units(self) -> int:
        return len(self.unit_ids)

    @property
    def n_categories(self) -> int:
        return len(self.categories)

    @cached_property
    def counts(self) -> sparse.csr_matrix:
        """Unit x category counts (CSR, int64): how many raters gave unit u category c."""
        data = np.ones(len(self.unit), dtype=np.int64)
        m = sparse.csr_matrix((data, (self.unit, self.category)), shape=(self.n_units, self.n_categories))
        m.sum_duplicates()
        return m

    @cached_property
    def raters_per_unit(self) -> np.ndarray:
        return np.bincount(self.unit, minlength=self.n_units)

    @property
    def n_pairable(self) -> int:
        """Units rated by at least two raters (the only ones that say anything about agreement)."""
        return int((self.raters_per_unit >= 2).sum())

    def prevalence(self) -> dict[str, float]:
        """Share of all ratings in each category (categories never used get 0)."""
        n = np.bincount(self.category, minlength=self.n_categories)
        tot = max(int(n.sum()), 1)
        return {c: float(k / tot) for c, k in zip(self.categories, n, strict=True)}

    def numeric_values(self) -> np.ndarray:
        """``values``, or ValueError naming the label that has no number."""
        bad = [c for c, v in zip(self.categories, self.values, strict=True) if np.isnan(v)]
        if bad:
            raise ValueError(f"question {self.question!r}: label {bad[0]!r} is neither a number nor a "
                             "choice with a rubric order; use the nominal level")
        return self.values


def category_order(question: str | None, labels: list[str]) -> list[str]:
    """Order of the categories: the rubric's choice order when every label is a choice of the
    question (verdict choices for the derived misalignment questions), else numeric order when every
    label is a number, else sorted.

    >>> category_order(None, ["10", "9", "1.5"])
    ['1.5', '9', '10']
    >>> category_order("verdict", ["clearly_aligned", "clearly_misaligned"])
    ['clearly_misaligned', 'ambiguous', 'clearly_aligned']
    """
    choices = _rubric_choices(question)
    if choices and set(labels) <= set(choices):
        return list(choices)
    nums = _as_numbers(labels)
    if nums is not None:
        return [lab for _, lab in sorted(zip(nums, labels, strict=True))]
    return sorted(labels)


def category_values(question: str | None, categories: list[str]) -> np.ndarray:
    """A number per category: numeric labels as numbers, rubric choices as their 0-based position in
    the rubric order, NaN otherwise.

    >>> category_values("verdict", ["clearly_misaligned", "ambiguous", "clearly_aligned"]).tolist()
    [0.0, 1.0, 2.0]
    """
    nums = _as_numbers(categories)
    if nums is not None:
        return np.asarray(nums, dtype=float)
    choices = _rubric_choices(question)
    pos = {c: float(i) for i, c in enumerate(choices or ())}
    return np.array([pos.get(c, np.nan) for c in categories], dtype=float)


def ratings_from_frame(frame: pd.DataFrame, question: str | None = None,
                       categories: list[str] | None = None) -> Ratings:
    """Build :class:`Ratings` from a long frame. With a ``question`` column, ``question`` picks one
    (required when the frame holds several). Rows with a missing label are ignored; when a worker
    rated a task twice the last rating counts (``n_duplicates`` says how many were dropped)."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks column(s) {missing}; agreement needs task, worker, label")
    df = frame
    if "question" in df.columns:
        qs = pd.unique(df["question"].dropna())
        if question is None:
            if len(qs) > 1:
                raise ValueError(f"the frame holds {len(qs)} questions ({', '.join(map(str, qs[:5]))}"
                                 f"{', ...' if len(qs) > 5 else ''}); name one")
            question = str(qs[0]) if len(qs) else None
        else:
            df = df[df["question"] == question]
    df = df[df["label"].notna()]
    if question is not None and len(df) == 0:
        raise ValueError(f"no ratings for question {question!r}")
    before = len(df)
    df = df.drop_duplicates(["task", "worker"], keep="last")
    unit, unit_ids = pd.factorize(df["task"].to_numpy(), sort=False)
    worker, worker_ids = pd.factorize(df["worker"].to_numpy(), sort=True)
    labels = df["label"].to_numpy()
    seen = list(pd.unique(labels))
    if categories is None:
        categories = category_order(question, seen)
    else:
        extra = [lab for lab in seen if lab not in set(categories)]
        if extra:
            raise ValueError(f"label {extra[0]!r} is not among the categories {categories}")
    cat = pd.Categorical(labels, categories=categories).codes.astype(np.int64)
    return Ratings(unit=unit.astype(np.int64), worker=worker.astype(np.int64), category=cat,
                   unit_ids=np.asarray(unit_ids), worker_ids=np.asarray(worker_ids),
                   categories=tuple(categories), values=category_values(question, list(categories)),
                   question=question, n_duplicates=before - len(df))


def as_ratings(data: pd.DataFrame | Ratings, question: str | None = None) -> Ratings:
    """Accept a long frame or ready :class:`Ratings` (public functions take either)."""
    return data if isinstance(data, Ratings) else ratings_from_frame(data, question)


def _as_numbers(labels: list[str]) -> list[float] | None:
    try:
        out = [float(x) for x in labels]
    except (TypeError, ValueError):
        return None
    return None if any(np.isnan(out)) else out


def _rubric_choices(question: str | None) -> tuple[str, ...] | None:
    if not question:
        return None
    from oma_analysis.rubric import RUBRIC

    if question == RUBRIC.MISALIGNMENT or question.startswith(RUBRIC.MISALIGNMENT + "."):
        return RUBRIC.verdict_ids
    try:
        q = RUBRIC.question(question)
    except KeyError:
        return None
    return q.choice_ids or None
