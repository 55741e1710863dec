"""Where labellers disagree most: tasks x rubric questions ranked by disagreement.

Scores per task and question: the entropy of the labels (bits), the minority share
(1 - share of the most frequent label) and, where researchers gave a gold label, the share of
labellers who disagree with it. Ranked by the labellers' own disagreement (minority share, then
entropy, then number of labels); gold disagreement only breaks ties, so a gold task the labellers
agree on (against gold) never pushes out a task they split on. Rating questions (confidence) are
left out unless named, as ``oma disagreements`` does; ``only_disagreeing`` drops unanimous pairs.

>>> import pandas as pd
>>> df = pd.DataFrame({"task": ["1"] * 3 + ["2"] * 3, "worker": list("abc") * 2, "question": "q",
...                    "label": ["x", "y", "z", "x", "x", "y"]})
>>> top = disagreements(df, top=2)
>>> top[["task", "n_labels", "minority_share"]].values.tolist()
[['1', 3, 0.6666666666666667], ['2', 3, 0.33333333333333337]]
>>> round(float(top.entropy.iloc[0]), 4)
1.585
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.crowd import crowd_rows, gold_labels

__all__ = ["disagreements"]


def disagreements(frame: pd.DataFrame, top: int = 20, questions: list[str] | None = None,
                  gold: pd.DataFrame | str | None = None, min_labels: int = 2,
                  only_disagreeing: bool = False) -> pd.DataFrame:
    """The ``top`` task x question pairs with the most disagreement (see module doc)."""
    f = frame
    if questions is None:
        ratings = {q.name for q in RUBRIC.questions.values() if q.kind == "rating"}
        questions = [q for q in pd.unique(f["question"]) if q not in ratings]
    f = f[f["question"].isin(questions).to_numpy()]
    crowd = crowd_rows(f)
    task = crowd["task"].to_numpy()
    question = crowd["question"].to_numpy()
    g, _ = pd.factorize(pd.MultiIndex.from_arrays([task, question]))
    lab, classes = pd.factorize(crowd["label"].to_numpy())
    pair = pd.Series(1, index=pd.MultiIndex.from_arrays([g, lab])).groupby(level=[0, 1]).size()
    gi = pair.index.get_level_values(0).to_numpy()
    cnt = pair.to_numpy().astype(float)
    n = np.bincount(gi, weights=cnt)
    p = cnt / n[gi]
    entropy = np.bincount(gi, weights=-p * np.log2(p), minlength=len(n))
    top_share = np.zeros(len(n))
    np.maximum.at(top_share, gi, p)
    first = np.empty(len(n), dtype=np.int64)
    first[g[::-1]] = np.arange(len(g) - 1, -1, -1)
    out = pd.DataFrame({"task": task[first], "question": question[first], "n_labels": n.astype(int),
                        "entropy": entropy, "minority_share": 1 - top_share})
    if "completion" in crowd.columns:
        out["completion"] = crowd["completion"].astype("string").to_numpy()[first]
    # label counts as "label:n" strings, most frequent first
    counts = pd.DataFrame({"g": gi, "label": np.asarray(classes, dtype=object)[
        pair.index.get_level_values(1).to_numpy()], "n": cnt.astype(int)})
    counts = counts.sort_values(["g", "n"], ascending=[True, False], kind="stable")
    out["labels"] = (counts["label"] + ":" + counts["n"].map(str)).groupby(counts["g"].to_numpy()).agg(
        ", ".join).reindex(range(len(n))).to_numpy()
    gl = gold_labels(frame, gold)
    if len(gl):
        gmap = pd.Series(gl["gold"].to_numpy(), index=pd.MultiIndex.from_arrays(
            [gl["task"], gl["question"]]))
        row_gold = gmap.reindex(pd.MultiIndex.from_arrays([task, question])).to_numpy()
        has = pd.notna(row_gold)
        wrong = np.bincount(g[has], weights=(crowd["label"].to_numpy()[has]
                                             != row_gold[has]), minlength=len(n))
        n_gold = np.bincount(g[has], minlength=len(n))
        out["gold"] = gmap.reindex(pd.MultiIndex.from_arrays([out["task"], out["question"]])).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out["gold_disagreement"] = np.where(n_gold > 0, wrong / np.maximum(n_gold, 1), np.nan)
    else:
        out["gold"] = None
        out["gold_disagreement"] = np.nan
    out = out[out["n_labels"] >= min_labels]
    if only_disagreeing:
        out = out[out["minority_share"] > 0]
    out = out.sort_values(["minority_share", "entropy", "n_labels", "gold_disagreement"], ascending=False,
                          na_position="last", kind="stable")
    return out.head(top).reset_index(drop=True)
