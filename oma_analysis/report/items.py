"""What the labellers saw, per task: the conversation and the completion, read back from the export,
and the tasks whose verdicts disagree, with those texts (the report's disagreement table and the
results browser both use these)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from oma_analysis import OmaError
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.disagreements import disagreements

__all__ = ["task_texts", "verdict_disagreements"]


def task_texts(path: str | Path) -> dict[str, dict]:
    """task id -> ``{"messages": [...], "completion": str}`` from a Label Studio export; ``{}`` for a
    long file (it carries labels only, no texts)."""
    from oma_analysis.ingest.formats import iter_task_data

    out: dict[str, dict] = {}
    try:
        for tid, data in iter_task_data(path):
            msgs = data.get("messages")
            out[str(tid)] = {"messages": msgs if isinstance(msgs, list) else [],
                             "completion": str(data.get("completion") or "")}
    except OmaError:
        return {}
    return out


def _last_user(messages: list) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return str(m.get("content", ""))
    return ""


def verdict_disagreements(frame: pd.DataFrame, texts: dict[str, dict], top: int = 25, gold=None,
                          question: str | None = None) -> pd.DataFrame:
    """The ``top`` tasks whose labellers split most on the rule-applied verdict (unanimous tasks are
    left out: a short table is the honest answer when labellers agree), with the model, the prompt
    the user wrote and the completion (first 400 characters)."""
    q = question or RUBRIC.MISALIGNMENT
    d = disagreements(frame, top, [q], gold, only_disagreeing=True)
    if not len(d):
        return d
    meta = frame.drop_duplicates("task")
    meta = meta.set_index(meta["task"].to_numpy())
    d["model"] = [meta["model"].get(t) if "model" in meta else None for t in d["task"]]
    d["user"] = [_last_user(texts.get(t, {}).get("messages", []))[:300] for t in d["task"]]
    d["completion_text"] = [texts.get(t, {}).get("completion", "")[:400] for t in d["task"]]
    return d
