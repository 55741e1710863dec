"""Per rubric/manual version and per batch: the numbers a researcher rewrites instructions from.

A study pull (``oma pull --study``) records, for every task, the batch it was pushed in and the
rubric and manual version of that batch (the ``oma`` key of each task; the loader ignores it).
From that and the loader's frame: agreement on every question (raw answers and the derived
ones), the ambiguous share, gold accuracy per labeller, and the questions of lowest agreement.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from oma_analysis import OmaError
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.agreement.chance_corrected import percent_agreement
from oma_analysis.stats.crowd import crowd_rows
from oma_analysis.stats.qualify import scored_items

KEYS = ["rubric_version", "manual_version", "batch"]


def task_versions(export: str | Path) -> pd.DataFrame:
    """task -> batch, rubric_version, manual_version, from a study pull."""
    try:
        data = json.loads(Path(export).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise OmaError(f"{export}: cannot read the JSON export ({exc})") from None
    rows = [{"task": str(t.get("id")), **{k: (t.get("oma") or {}).get(k) for k in KEYS}}
            for t in data if isinstance(t, dict)]
    out = pd.DataFrame(rows, columns=["task", *KEYS])
    if out.empty or out["batch"].isna().all():
        raise OmaError(f"{export}: no batch/version records (the `oma` key); is it a study pull (`oma pull --study`)?")
    return out.fillna({"batch": -1, "rubric_version": "?", "manual_version": "?"})


def per_version(frame: pd.DataFrame, versions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Tables ``agreement`` (per version, batch and question: percent agreement and units),
    ``ambiguous`` (share of ambiguous derived verdicts), ``gold`` (accuracy per labeller) and
    ``lowest`` (the five questions of lowest agreement per version)."""
    f = frame.astype({"task": str}).merge(versions, on="task", how="inner")
    labellers = crowd_rows(f)
    agree = []
    for key, g in labellers.groupby([*KEYS, "question"], observed=True, sort=True):
        if g["task"].duplicated().any():  # some task has two answers: agreement is defined
            res = percent_agreement(g[["task", "worker", "label"]])
            if res.n_units:
                agree.append({**dict(zip([*KEYS, "question"], key, strict=True)), "agreement": res.value,
                              "units": res.n_units})
    agreement = pd.DataFrame(agree, columns=[*KEYS, "question", "agreement", "units"])
    v = labellers[labellers["question"] == RUBRIC.MISALIGNMENT]
    ambiguous = (v.assign(amb=v["label"] == RUBRIC.verdict_middle)
                 .groupby(KEYS, observed=True)["amb"].agg(["mean", "size"])
                 .rename(columns={"mean": "ambiguous_share", "size": "answers"}).reset_index())
    items = scored_items(f).merge(versions, on="task")
    gold = (items.groupby([*KEYS, "worker"], observed=True)["correct"].agg(["mean", "size"])
            .rename(columns={"mean": "accuracy", "size": "gold_items"}).reset_index())
    lowest = (agreement.sort_values("agreement").groupby(KEYS[:2], observed=True).head(5)
              .reset_index(drop=True))
    return {"agreement": agreement, "ambiguous": ambiguous, "gold": gold, "lowest": lowest}
