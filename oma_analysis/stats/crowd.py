"""The two views of one long frame every statistic starts from: the crowd's rows and the gold answers.

- :func:`crowd_rows`: the labellers' rows, without the researchers' ground-truth (gold) annotations;
- :func:`gold_labels`: the researchers' answer per ``task, question`` (ground-truth rows, or a
  researcher labels file ``task,label[,question]``); :func:`gold_for` picks one question's answers
  as a ``task -> label`` series.

>>> import pandas as pd
>>> df = pd.DataFrame({"task": ["1", "1", "2"], "worker": ["r", "a", "a"], "question": "q",
...                    "label": ["ambiguous", "clearly_aligned", "ambiguous"],
...                    "ground_truth": [True, False, False]})
>>> crowd_rows(df)["worker"].tolist()
['a', 'a']
>>> gold_for(gold_labels(df), "q").to_dict()
{'1': 'ambiguous'}
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from oma_analysis import OmaError
from oma_analysis.rubric import RUBRIC

__all__ = ["crowd_rows", "gold_for", "gold_labels", "is_gold", "read_gold_file"]

GOLD_COLUMNS = ["task", "question", "gold"]


def is_gold(frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the researchers' ground-truth rows (all False without the column; NA is not gold)."""
    if "ground_truth" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame["ground_truth"].fillna(False).astype(bool).to_numpy()


def crowd_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The labellers' rows: ``frame`` without the ground-truth (gold) annotations."""
    if "ground_truth" not in frame.columns:
        return frame
    return frame[~is_gold(frame)]


def read_gold_file(path: str | Path) -> pd.DataFrame:
    """A researcher labels file (CSV ``task,label[,question]``) as ``task, question, gold``.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "g.csv")
    >>> _ = open(p, "w").write("task,label\\n7,ambiguous\\n")
    >>> read_gold_file(p).values.tolist()
    [['7', 'obvious_misalignment', 'ambiguous']]
    """
    path = Path(path)
    try:
        g = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:
        raise OmaError(f"{path}: cannot read gold labels ({exc})") from None
    missing = [c for c in ("task", "label") if c not in g.columns]
    if missing:
        raise OmaError(f"{path}: missing column(s) {missing}; a gold file needs task,label[,question]")
    if "question" not in g.columns:
        g["question"] = RUBRIC.MISALIGNMENT
    bad = g[["task", "label", "question"]].isna().any(axis=1)
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise OmaError(f"{path}: line {line}: empty task, label or question")
    return pd.DataFrame({"task": g["task"], "question": g["question"],
                         "gold": g["label"]})


def gold_labels(frame: pd.DataFrame, gold: pd.DataFrame | str | Path | None = None, *,
                ties: str = "first") -> pd.DataFrame:
    """Gold labels ``task, question, gold``: from a file/frame if given, else the ground-truth rows.

    Several gold annotations on one task and question resolve to their most frequent label; on a
    tie ``ties="first"`` keeps the label seen first, ``ties="drop"`` leaves the task out (no answer).

    >>> df = pd.DataFrame({"task": ["1", "1", "2", "2"], "worker": ["r", "a", "r", "s"], "question": "q",
    ...                    "label": ["ambiguous", "clearly_aligned", "ambiguous", "clearly_aligned"],
    ...                    "ground_truth": [True, False, True, True]})
    >>> gold_labels(df).values.tolist()
    [['1', 'q', 'ambiguous'], ['2', 'q', 'ambiguous']]
    >>> gold_labels(df, ties="drop").values.tolist()
    [['1', 'q', 'ambiguous']]
    """
    if isinstance(gold, (str, Path)):
        return read_gold_file(gold)
    if gold is not None:
        return gold
    gt = frame[is_gold(frame)]
    if gt.empty:
        return pd.DataFrame(columns=GOLD_COLUMNS)
    question = gt["question"] if "question" in gt.columns else RUBRIC.MISALIGNMENT
    g = pd.DataFrame({"task": gt["task"], "question": question, "gold": gt["label"]})
    g = g.groupby(["task", "question", "gold"], sort=False).size().rename("k").reset_index()
    g = g.sort_values("k", ascending=False, kind="stable")
    if ties == "drop":
        top = g.groupby(["task", "question"], sort=False)["k"].transform("max")
        n_top = (g["k"] == top).groupby([g["task"], g["question"]], sort=False).transform("sum")
        g = g[n_top == 1]
    elif ties != "first":
        raise ValueError(f"ties must be 'first' or 'drop', not {ties!r}")
    g = g.drop_duplicates(["task", "question"])
    return g[GOLD_COLUMNS].reset_index(drop=True)


def gold_for(gold: pd.DataFrame, question: str) -> pd.Series:
    """One question's gold answers from a :func:`gold_labels` table, as ``task -> label``."""
    g = gold[gold["question"].to_numpy() == question] if len(gold) else gold
    return pd.Series(g["gold"].to_numpy(), index=pd.Index(g["task"], name="task"),
                     dtype=object, name="gold")
