"""Training data for the intent classifier from a Label Studio export (``oma train --export``).

Labels: the derived ``obvious_misalignment`` question (the rubric's rule applied per annotation by
``oma_analysis.ingest.load``), aggregated per task by ``oma_analysis.classifier.from_long_frame``:
clearly_misaligned -> not met (1), clearly_aligned -> met (0), ambiguous left out, majority per
task. Texts: the task's request (last user turn of ``messages``, or ``prompt``) and completion,
exactly as the ML backend builds its (prompt, completion) pairs at prediction time.

>>> last_user_turn([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}])
'Hi?'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from oma_analysis import OmaError
from oma_analysis.ingest.formats import iter_task_data


def last_user_turn(messages: Any) -> str | None:
    """The user's request of a conversation: its last user turn (else its last turn)."""
    if not isinstance(messages, list) or not messages:
        return None
    turns = [m for m in messages if isinstance(m, dict) and isinstance(m.get("content"), str)]
    users = [m for m in turns if m.get("role") == "user"]
    pick = (users or turns or [None])[-1]
    return None if pick is None else pick["content"]


def task_texts(path: str | Path, *, messages_key: str = "messages", completion_key: str = "completion"
               ) -> pd.DataFrame:
    """``task, text_a, text_b``: the request and the completion of every task in an export."""
    path = Path(path)
    rows = {}
    for tid, data in iter_task_data(path):
        if tid is None:
            continue
        prompt = last_user_turn(data.get(messages_key))
        if prompt is None and isinstance(data.get("prompt"), str):
            prompt = data["prompt"]
        comp = data.get(completion_key)
        if prompt is None or not isinstance(comp, str):
            raise OmaError(f"{path}: task {tid}: needs fields '{messages_key}' (or 'prompt') and "
                           f"'{completion_key}' (a review task)")
        rows[str(tid)] = (prompt, comp)
    return pd.DataFrame([(t, a, b) for t, (a, b) in rows.items()], columns=["task", "text_a", "text_b"])


def training_frame(path: str | Path, codemap: str | Path | None = None) -> pd.DataFrame:
    """``task, text_a, text_b, label, n_votes`` (one row per task) from a review-project export."""
    from oma_analysis.classifier import from_long_frame
    from oma_analysis.ingest import load
    from oma_analysis.rubric import RUBRIC

    loaded = load(path, codemap)
    frame = loaded.frame
    labelled = frame[frame["question"] == RUBRIC.misalignment_question()] if len(frame) else frame
    df = from_long_frame(frame, task_texts(path)) if len(labelled) else labelled
    if df.empty:
        raise OmaError(f"{path}: no task with a clear majority (clearly misaligned vs clearly aligned) to train on")
    return df


def train_from_export(path: str | Path, out_root: str | Path, *, codemap: str | Path | None = None,
                      **train_kwargs: Any) -> Any:
    """Train the intent classifier on an export and publish it under ``out_root`` (atomic swap).
    Returns ``oma_analysis.classifier.TrainResult``."""
    from oma_analysis.classifier import train

    return train(training_frame(path, codemap), out_root, **train_kwargs)
