"""The one entry point: any analysis input -> :class:`Loaded` (the long frame + what was set aside).

Label Studio exports (JSON, JSON_MIN, CSV; :mod:`~oma_analysis.ingest.formats`) and long
CSV/Parquet files (:mod:`~oma_analysis.ingest.long`) become one tidy frame: one row per task x
annotator x rubric question, columns :data:`~oma_analysis.ingest.frame.FRAME_COLUMNS` with the
fixed dtypes of :data:`~oma_analysis.ingest.frame.FRAME_DTYPES`. Multi-choice questions become one
yes/no row per choice and the rule adds derived questions (:mod:`~oma_analysis.ingest.answers`).
Nothing is lost silently: every annotation (and draft) read is either used or listed in
``dropped`` with its reason, ``n_read == n_used + n_dropped``, and :func:`load` says so on stderr.

>>> import json, tempfile
>>> task = {"id": 7, "data": {"completion": "hi", "completion_code": "c1", "prompt_id": "p1"},
...         "annotations": [{"id": 1, "completed_by": {"id": 2, "email": "a@x"}, "result": [
...             {"from_name": "verdict", "to_name": "completion", "type": "choices",
...              "value": {"choices": ["clearly_aligned"]}}]}]}
>>> path = tempfile.mktemp(suffix=".json"); _ = open(path, "w").write(json.dumps([task]))
>>> got = load(path)
>>> got.frame.query("question == 'verdict'")[["task", "worker", "label"]].values.tolist()
[['7', 'a@x', 'clearly_aligned']]
>>> got.n_read, got.n_used, got.n_dropped
(1, 1, 0)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from oma_analysis import OmaError
from oma_analysis.ingest.accumulator import Accumulator
from oma_analysis.ingest.answers import Answers
from oma_analysis.ingest.formats import Counts, Drop, read_flat, read_json, sniff
from oma_analysis.ingest.frame import join_models
from oma_analysis.ingest.long import read_long
from oma_analysis.rubric import RUBRIC, Rubric
from oma_analysis.tasks.blinding import CodeMap

DROPPED_COLUMNS = ["source", "level", "task", "annotation", "worker", "field", "reason"]
TEXT_COLUMNS = ["task", "worker", "annotation", "question", "text"]
SPAN_COLUMNS = ["task", "worker", "annotation", "label", "start", "end", "text"]


@dataclass
class Loaded:
    frame: pd.DataFrame
    dropped: pd.DataFrame
    texts: pd.DataFrame
    spans: pd.DataFrame
    n_read: int  # annotations and drafts read from the file
    n_used: int
    source: str
    format: str
    n_tasks: int = 0
    n_predictions: int = 0
    #: Review annotations used, by the rubric version they were made with (1.0 exports stay readable).
    rubric_versions: dict[str, int] = field(default_factory=dict)

    @property
    def n_dropped(self) -> int:
        return int((self.dropped["level"] == "annotation").sum())

    def summary(self) -> dict:
        reasons = self.dropped.groupby(["level", "reason"]).size()
        return {"source": self.source, "format": self.format, "tasks": self.n_tasks,
                "annotations_read": self.n_read, "used": self.n_used, "dropped": self.n_dropped,
                "dropped_by_reason": {f"{lv}: {r}": int(n) for (lv, r), n in reasons.items()},
                "rows": len(self.frame), "rubric_versions": dict(sorted(self.rubric_versions.items()))}


def question_filter(questions: Iterable[str] | None) -> Callable[[str], bool] | None:
    """Predicate for ``questions=``: a row's question is kept when it is one of the names or lies
    under one (``failure_types`` keeps ``failure_types.<choice>``; ``obvious_misalignment`` keeps
    every derived question).

    >>> keep = question_filter(["verdict", "obvious_misalignment"])
    >>> [keep(q) for q in ("verdict", "obvious_misalignment.item.x", "failure_types.a")]
    [True, True, False]
    """
    if questions is None:
        return None
    names = tuple(str(q) for q in questions)
    seen: dict[str, bool] = {}

    def keep(q: str) -> bool:
        k = seen.get(q)
        if k is None:
            k = seen[q] = any(q == n or q.startswith(n + ".") for n in names)
        return k

    return keep


def report_dropped(source: str, dropped: pd.DataFrame | None, what: str = "annotation(s)") -> None:
    """One stderr line per reason: bad rows are reported, never silently lost."""
    if dropped is None or len(dropped) == 0:
        return
    for reason, n in dropped.groupby("reason").size().items():
        print(f"oma: {source}: {n} {what} set aside: {reason}", file=sys.stderr)


def load(path: str | Path, codemap: str | Path | CodeMap | None = None, *,
         questions: Iterable[str] | None = None, rubric: Rubric = RUBRIC, format: str | None = None,
         quiet: bool = False) -> Loaded:
    """Load any analysis input: a Label Studio export (JSON, JSON_MIN, CSV) or a long CSV/Parquet.

    ``codemap`` joins each completion's model. ``questions``: keep only these questions' rows (see
    :func:`question_filter`); the rule's derived questions are computed only when one is asked for;
    annotations are still all read, validated and counted (``n_used``/``dropped`` do not depend on
    the filter). ``format`` overrides the sniffed one. Unless ``quiet``, one stderr line per reason
    something was set aside (every command loads through here, so every command says so).

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "long.csv")
    >>> _ = open(p, "w").write("task,worker,label\\n1,a,ambiguous\\n2,,ambiguous\\n")
    >>> loaded = load(p, quiet=True)
    >>> len(loaded.frame), loaded.n_dropped
    (1, 1)
    """
    path = Path(path)
    if not path.exists():
        raise OmaError(f"{path}: file not found")
    fmt = (format or sniff(path)).upper()
    questions = None if questions is None else [str(q) for q in questions]
    keep = question_filter(questions)
    if fmt == "LONG":
        frame, dropped = read_long(path, rubric, DROPPED_COLUMNS)
        n_used = len(frame)  # rows are annotations here; the filter below doesn't change the count
        if codemap is not None:
            join_models(frame, _codes(codemap).models())
        if keep is not None:
            frame = frame[frame["question"].map(keep).to_numpy(bool)].reset_index(drop=True)
        loaded = Loaded(frame=frame, dropped=dropped, texts=pd.DataFrame(columns=TEXT_COLUMNS),
                        spans=pd.DataFrame(columns=SPAN_COLUMNS), n_read=n_used + len(dropped),
                        n_used=n_used, source=str(path), format="LONG", n_tasks=int(frame["task"].nunique()))
    else:
        m = rubric.MISALIGNMENT
        answers = Answers(rubric, derived=questions is None or any(q == m or q.startswith(m + ".")
                                                                   for q in questions))
        acc = Accumulator(str(path), keep=keep)
        counts = Counts()
        if fmt == "JSON":
            records = read_json(path, counts, answers.multi)
        elif fmt in ("JSON_MIN", "CSV"):
            records = read_flat(path, fmt, answers.names, counts)
        else:
            raise OmaError(f"{path}: unknown export format {fmt!r}")
        for rec in records:
            if isinstance(rec, Drop):
                acc.add_drop(rec)
                continue
            kind = answers.kind(rec.data, set(rec.answers))
            got = answers.rows(rec, kind, acc)
            if got is not None:
                acc.add(rec, *got)
        frame = acc.frame()
        if codemap is not None:
            join_models(frame, _codes(codemap).models())
        loaded = Loaded(frame=frame, dropped=pd.DataFrame(acc.dropped, columns=DROPPED_COLUMNS),
                        texts=pd.DataFrame(acc.texts, columns=TEXT_COLUMNS),
                        spans=pd.DataFrame(acc.spans, columns=SPAN_COLUMNS),
                        n_read=counts.n_read, n_used=acc.n_used, source=str(path), format=fmt,
                        n_tasks=counts.n_tasks, n_predictions=counts.n_predictions,
                        rubric_versions=acc.versions)
    if not quiet:
        report_dropped(str(path), loaded.dropped)
    return loaded


def _codes(codemap: str | Path | CodeMap) -> CodeMap:
    return codemap if isinstance(codemap, CodeMap) else CodeMap.load(codemap)
