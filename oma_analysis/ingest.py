"""Label Studio exports (JSON, JSON_MIN, CSV) and long CSV/Parquet files -> one tidy long frame.

One row per task x annotator x rubric question, columns ``task, worker, question, label`` plus
``annotation, completion, prompt, model, lead_time, created_at, ground_truth``. Multi-choice
questions become one yes/no row per choice (``failure_types.lower_quality``), and the
capable + distinguishable rule adds derived questions (``obvious_misalignment...``, see
:mod:`oma_analysis.rubric.rule`). Nothing is lost silently: every annotation (and draft) read is
either used or listed in ``dropped`` with its reason, and ``n_read == n_used + n_dropped``.
Structurally malformed files raise :class:`oma_analysis.OmaError` naming file, task and field.

JSON exports are streamed task by task (ijson), so the raw file is never held in memory.

>>> import json, tempfile
>>> task = {"id": 7, "data": {"completion": "hi", "completion_code": "c1", "prompt_id": "p1"},
...         "annotations": [{"id": 1, "completed_by": {"id": 2, "email": "a@x"}, "result": [
...             {"from_name": "verdict", "to_name": "completion", "type": "choices",
...              "value": {"choices": ["clearly_aligned"]}}]}]}
>>> path = tempfile.mktemp(suffix=".json"); _ = open(path, "w").write(json.dumps([task]))
>>> got = load_export(path)
>>> got.frame.query("question == 'verdict'")[["task", "worker", "label"]].values.tolist()
[['7', 'a@x', 'clearly_aligned']]
>>> got.n_read, got.n_used, got.n_dropped
(1, 1, 0)
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import OmaError
from .blinding import CodeMap
from .rubric import RUBRIC, Question, Rubric
from .rubric.rule import derived_labels

FRAME_COLUMNS = ["task", "worker", "question", "label", "annotation", "completion", "prompt", "model",
                 "lead_time", "created_at", "ground_truth"]
DROPPED_COLUMNS = ["source", "level", "task", "annotation", "worker", "field", "reason"]
TEXT_COLUMNS = ["task", "worker", "annotation", "question", "text"]
SPAN_COLUMNS = ["task", "worker", "annotation", "label", "start", "end", "text"]

# Annotation-level fields JSON_MIN/CSV put beside the answers; everything else is task data.
_MIN_META = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time"}


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

    @property
    def n_dropped(self) -> int:
        return int((self.dropped["level"] == "annotation").sum())

    def summary(self) -> dict:
        reasons = self.dropped.groupby(["level", "reason"]).size()
        return {"source": self.source, "format": self.format, "tasks": self.n_tasks,
                "annotations_read": self.n_read, "used": self.n_used, "dropped": self.n_dropped,
                "dropped_by_reason": {f"{lv}: {r}": int(n) for (lv, r), n in reasons.items()},
                "rows": len(self.frame)}


@dataclass
class _Acc:
    """Column-wise accumulators (lists are far cheaper than one dict per row)."""

    rubric: Rubric
    source: str
    rows: dict[str, list] = field(default_factory=lambda: {c: [] for c in FRAME_COLUMNS})
    dropped: list[tuple] = field(default_factory=list)
    texts: list[tuple] = field(default_factory=list)
    spans: list[tuple] = field(default_factory=list)
    n_read: int = 0
    n_used: int = 0
    n_tasks: int = 0
    n_predictions: int = 0
    seen_annotations: set = field(default_factory=set)

    def drop(self, level: str, task, annotation, worker, fld, reason: str) -> None:
        self.dropped.append((self.source, level, _s(task), annotation, _s(worker), fld, reason))


def _s(v) -> str | None:
    return None if v is None else str(v)


def _kind(data: dict, from_names: set[str]) -> str:
    if "left" in data and "right" in data:
        return "compare"
    probe = RUBRIC.raw["probe"]
    if from_names & {probe["input"], probe["item_question"], probe["outcome_question"]}:
        return "probe"
    return "review"


def _questions(r: Rubric, kind: str) -> dict[str, Question]:
    return {q.name: q for q in r.task_questions(kind)}


def _worker(completed_by) -> str | None:
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or completed_by.get("id"))
    if completed_by is None:
        return None
    return str(completed_by)


def _add_annotation(acc: _Acc, *, task_id, data: dict, ann_id, worker, answers: dict[str, object],
                    kind: str, lead_time, created_at, ground_truth: bool, where: str) -> None:
    """Turn one annotation's answers ({question: raw value}) into rows; report what it can't use."""
    r = acc.rubric
    qs = _questions(r, kind)
    completion = data.get("completion_code") or data.get("pair_code")
    if completion is None and kind == "compare":
        completion = f"{data.get('left_code')}|{data.get('right_code')}"
    prompt = data.get("prompt_id")
    clean: dict[str, object] = {}
    for name, value in answers.items():
        q = qs.get(name)
        if q is None:
            acc.drop("result", task_id, ann_id, worker, name, f"unknown question {name!r} for a {kind} task")
            continue
        if q.kind in ("single", "multi"):
            vals = [value] if isinstance(value, str) else list(value)
            bad = [v for v in vals if v not in q.choice_ids]
            if bad:
                acc.drop("result", task_id, ann_id, worker, name, f"unknown choice(s) {bad} for {name!r}")
                vals = [v for v in vals if v in q.choice_ids]
                if not vals:
                    continue
            if q.kind == "single" and len(vals) != 1:
                acc.drop("result", task_id, ann_id, worker, name, f"{len(vals)} choices for single-choice {name!r}")
                continue
            clean[name] = vals[0] if q.kind == "single" else vals
        elif q.kind == "rating":
            try:
                rating = int(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                acc.drop("result", task_id, ann_id, worker, name, f"rating {value!r} is not an integer")
                continue
            if not 1 <= rating <= (q.max_rating or rating):
                acc.drop("result", task_id, ann_id, worker, name, f"rating {rating} outside 1..{q.max_rating}")
                continue
            clean[name] = str(rating)
        elif q.kind == "text":
            acc.texts.append((_s(task_id), worker, ann_id, name, value if isinstance(value, str) else
                              "\n".join(map(str, value))))
        elif q.kind == "spans":
            for sp in value:  # type: ignore[union-attr]
                labels = sp.get("labels") or []
                for lab in labels:
                    if lab not in q.choice_ids:
                        acc.drop("result", task_id, ann_id, worker, name, f"unknown span label {lab!r}")
                        continue
                    acc.spans.append((_s(task_id), worker, ann_id, lab, sp.get("start"), sp.get("end"),
                                      sp.get("text")))
    if not any(qs[n].kind in ("single", "multi", "rating") for n in clean):
        acc.drop("annotation", task_id, ann_id, worker, "result", "no usable answer to any rubric question")
        return
    acc.n_used += 1
    out: list[tuple[str, str]] = []
    for name, q in qs.items():
        if q.kind == "single" or q.kind == "rating":
            if name in clean:
                out.append((name, clean[name]))  # type: ignore[arg-type]
        elif q.kind == "multi":
            # A conditional question (revealed by a failure type) is only asked when revealed;
            # an unconditional multi-choice with nothing ticked means "none of these".
            if name in clean or q.failure_type is None or q.failure_type in clean.get(
                    r.failure_types.question, ()):  # type: ignore[operator]
                chosen = set(clean.get(name, ()))  # type: ignore[arg-type]
                out += [(f"{name}.{c}", "yes" if c in chosen else "no") for c in q.choice_ids]
    if kind == "review":
        out += list(derived_labels(clean, r).items())
    rows = acc.rows
    n = len(out)
    rows["task"] += [_s(task_id)] * n
    rows["worker"] += [worker] * n
    rows["question"] += [q for q, _ in out]
    rows["label"] += [lab for _, lab in out]
    rows["annotation"] += [ann_id] * n
    rows["completion"] += [completion] * n
    rows["prompt"] += [prompt] * n
    rows["model"] += [None] * n
    rows["lead_time"] += [lead_time] * n
    rows["created_at"] += [created_at] * n
    rows["ground_truth"] += [bool(ground_truth)] * n


def _result_answers(results: list, where: str) -> dict[str, object]:
    """{from_name: value} from an LS ``result`` list (JSON export)."""
    answers: dict[str, object] = {}
    for i, res in enumerate(results):
        if not isinstance(res, dict):
            raise OmaError(f"{where}: result[{i}] must be an object, got {type(res).__name__}")
        name = res.get("from_name")
        value = res.get("value")
        if not isinstance(name, str) or not isinstance(value, dict):
            raise OmaError(f"{where}: result[{i}] needs string 'from_name' and object 'value'")
        if "choices" in value:
            v = value["choices"]
            if not isinstance(v, list):
                raise OmaError(f"{where}: result[{i}] ({name}) field value.choices must be a list")
            prev = answers.get(name)
            answers[name] = (list(prev) if isinstance(prev, list) else []) + [str(x) for x in v]
        elif "rating" in value:
            answers[name] = value["rating"]
        elif "labels" in value:  # before "text": a span's value carries its text too
            answers.setdefault(name, [])
            answers[name].append(value)  # type: ignore[union-attr]
        elif "text" in value:
            t = value["text"]
            answers[name] = t if isinstance(t, str) else "\n".join(map(str, t or []))
        else:
            answers[name] = value
    # Choices arrive as lists; single-choice questions are unwrapped by _add_annotation's check.
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 and not isinstance(v[0], dict)
                and k not in _MULTI else v) for k, v in answers.items()}


_MULTI = {q.name for q in RUBRIC.questions.values() if q.kind == "multi"}


def _iter_json(path: Path) -> Iterator[object]:
    import ijson

    with path.open("rb") as fh:
        first = fh.read(1)
        while first and first.isspace():
            first = fh.read(1)
        if first != b"[":
            raise OmaError(f"{path}: not a Label Studio JSON export (expected a JSON array of tasks)")
        fh.seek(0)
        try:
            yield from ijson.items(fh, "item", use_float=True)
        except ijson.JSONError as exc:
            raise OmaError(f"{path}: not valid JSON ({exc})") from None


def _load_json(path: Path, acc: _Acc) -> None:
    for idx, task in enumerate(_iter_json(path)):
        if not isinstance(task, dict):
            raise OmaError(f"{path}: task #{idx}: expected an object, got {type(task).__name__}")
        task_id = task.get("id", f"#{idx}")
        where = f"{path}: task {task_id}"
        data = task.get("data")
        if not isinstance(data, dict):
            raise OmaError(f"{where}: field 'data' must be an object")
        anns = task.get("annotations", [])
        drafts = task.get("drafts") or []
        preds = task.get("predictions") or []
        for key, val in (("annotations", anns), ("drafts", drafts), ("predictions", preds)):
            if not isinstance(val, list):
                raise OmaError(f"{where}: field '{key}' must be a list")
        acc.n_tasks += 1
        acc.n_predictions += len(preds)
        for d in drafts:
            acc.n_read += 1
            did = d.get("id") if isinstance(d, dict) else None
            acc.drop("annotation", task_id, did, _worker(d.get("user") if isinstance(d, dict) else None),
                     "drafts", "draft (never submitted)")
        if not anns and not drafts:
            acc.drop("task", task_id, None, None, "annotations", "task has no annotations")
        # Keep each worker's latest submitted annotation; earlier ones are reported as superseded.
        latest: dict[str, tuple] = {}
        for j, ann in enumerate(anns):
            acc.n_read += 1
            if not isinstance(ann, dict):
                raise OmaError(f"{where}: annotations[{j}] must be an object")
            ann_id = ann.get("id")
            worker = _worker(ann.get("completed_by"))
            if ann_id is not None and ann_id in acc.seen_annotations:
                acc.drop("annotation", task_id, ann_id, worker, "id", "duplicate annotation id")
                continue
            acc.seen_annotations.add(ann_id)
            if ann.get("was_cancelled"):
                acc.drop("annotation", task_id, ann_id, worker, "was_cancelled", "skipped/cancelled by the labeller")
                continue
            if worker is None:
                acc.drop("annotation", task_id, ann_id, None, "completed_by", "no annotator")
                continue
            result = ann.get("result")
            if not isinstance(result, list):
                raise OmaError(f"{where}: annotation {ann_id}: field 'result' must be a list")
            if not result:
                acc.drop("annotation", task_id, ann_id, worker, "result", "empty result")
                continue
            key = worker
            stamp = str(ann.get("updated_at") or ann.get("created_at") or "")
            if key in latest and latest[key][0] >= stamp:
                acc.drop("annotation", task_id, ann_id, worker, "completed_by",
                         f"superseded by annotation {latest[key][1].get('id')} of the same labeller")
                continue
            if key in latest:
                old = latest[key][1]
                acc.drop("annotation", task_id, old.get("id"), worker, "completed_by",
                         f"superseded by annotation {ann_id} of the same labeller")
            latest[key] = (stamp, ann)
        for worker, (_, ann) in latest.items():
            ann_where = f"{where}: annotation {ann.get('id')}"
            answers = _result_answers(ann["result"], ann_where)
            _add_annotation(acc, task_id=task_id, data=data, ann_id=ann.get("id"), worker=worker,
                            answers=answers, kind=_kind(data, set(answers)),
                            lead_time=ann.get("lead_time"), created_at=ann.get("created_at"),
                            ground_truth=bool(ann.get("ground_truth")), where=ann_where)


def _min_value(v):
    """JSON_MIN/CSV cell -> answer: choices come as 'a' or {'choices': [...]}, ratings as [{'rating': n}]."""
    if isinstance(v, dict) and "choices" in v:
        return [str(x) for x in v["choices"]]
    if isinstance(v, list) and v and isinstance(v[0], dict) and "rating" in v[0]:
        return v[0]["rating"]
    return v


def _min_records(path: Path, fmt: str) -> Iterator[tuple[int, dict]]:
    if fmt == "JSON_MIN":
        for i, rec in enumerate(_iter_json(path)):
            if not isinstance(rec, dict):
                raise OmaError(f"{path}: record #{i}: expected an object")
            yield i, rec
        return
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh), 2):
            rec = {}
            for k, v in row.items():
                if k is None:
                    raise OmaError(f"{path}: line {i}: more cells than header columns")
                if v is None or v == "":
                    rec[k] = None
                elif v[:1] in "[{":
                    try:
                        rec[k] = json.loads(v)
                    except json.JSONDecodeError:
                        rec[k] = v
                else:
                    rec[k] = v
            yield i, rec


def _load_min(path: Path, fmt: str, acc: _Acc) -> None:
    all_q = {q.name for q in acc.rubric.questions.values()}
    tasks_seen: set = set()
    for i, rec in _min_records(path, fmt):
        task_id = rec.get("id")
        if task_id is None:
            raise OmaError(f"{path}: record {i}: field 'id' (task id) is missing")
        where = f"{path}: task {task_id}"
        if task_id not in tasks_seen:
            tasks_seen.add(task_id)
            acc.n_tasks += 1
        worker = _worker(rec.get("annotator"))
        ann_id = rec.get("annotation_id")
        if ann_id is None and worker is None:
            acc.drop("task", task_id, None, None, "annotator", "task has no annotations")
            continue
        acc.n_read += 1
        if worker is None:
            acc.drop("annotation", task_id, ann_id, None, "annotator", "no annotator")
            continue
        if ann_id is not None and ann_id in acc.seen_annotations:
            acc.drop("annotation", task_id, ann_id, worker, "annotation_id", "duplicate annotation id")
            continue
        acc.seen_annotations.add(ann_id)
        data = {k: v for k, v in rec.items() if k not in _MIN_META and k not in all_q}
        answers = {}
        for k, v in rec.items():
            if k in _MIN_META or k in data or v is None:
                continue
            answers[k] = _min_value(v)
        # In the flat formats an answer to an unknown question can't be told apart from a task
        # data field, so unknown keys are treated as data (the JSON export reports them).
        lt = rec.get("lead_time")
        _add_annotation(acc, task_id=task_id, data=data, ann_id=int(ann_id) if ann_id is not None else None,
                        worker=worker, answers=answers, kind=_kind(data, set(answers)),
                        lead_time=float(lt) if lt is not None else None, created_at=rec.get("created_at"),
                        ground_truth=False, where=where)


def _sniff(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "LONG"
    if suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
        if {"task", "worker", "label"} <= set(header):
            return "LONG"
        return "CSV"
    with path.open("rb") as fh:
        head = fh.read(65536)
    # JSON has "annotations": [...] per task; JSON_MIN is flat with "annotator".
    if b'"annotations"' in head or b'"data"' in head:
        return "JSON"
    return "JSON_MIN"


def _frame(acc: _Acc) -> pd.DataFrame:
    df = pd.DataFrame(acc.rows, columns=FRAME_COLUMNS)
    df["annotation"] = pd.array(df["annotation"], dtype="Int64")
    df["lead_time"] = pd.to_numeric(df["lead_time"], errors="coerce").astype(float)
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True, errors="coerce", format="ISO8601")
    df["ground_truth"] = df["ground_truth"].astype(bool)
    for c in ("worker", "question", "label", "completion", "prompt", "model"):
        df[c] = df[c].astype("category") if len(df) > 100_000 else df[c].astype("string")
    return df


def load_export(path: str | Path, codemap: str | Path | CodeMap | None = None, *,
                format: str | None = None, rubric: Rubric = RUBRIC) -> Loaded:
    """Load a Label Studio export (JSON, JSON_MIN or CSV) into the tidy frame."""
    path = Path(path)
    if not path.exists():
        raise OmaError(f"{path}: file not found")
    fmt = (format or _sniff(path)).upper()
    if fmt == "LONG":
        return load_long(path, codemap)
    acc = _Acc(rubric, str(path))
    if fmt == "JSON":
        _load_json(path, acc)
    elif fmt in ("JSON_MIN", "CSV"):
        _load_min(path, fmt, acc)
    else:
        raise OmaError(f"{path}: unknown export format {fmt!r}")
    frame = _frame(acc)
    _join_models(frame, codemap)
    return Loaded(frame=frame, dropped=pd.DataFrame(acc.dropped, columns=DROPPED_COLUMNS),
                  texts=pd.DataFrame(acc.texts, columns=TEXT_COLUMNS),
                  spans=pd.DataFrame(acc.spans, columns=SPAN_COLUMNS),
                  n_read=acc.n_read, n_used=acc.n_used, source=str(path), format=fmt,
                  n_tasks=acc.n_tasks, n_predictions=acc.n_predictions)


def _join_models(frame: pd.DataFrame, codemap) -> None:
    if codemap is None:
        return
    codes = codemap if isinstance(codemap, CodeMap) else CodeMap.load(codemap)
    models = codes.models()
    frame["model"] = frame["completion"].astype("string").map(models).astype(frame["model"].dtype
                                                                              if len(frame) > 100_000
                                                                              else "string")


def load_long(path: str | Path, codemap=None) -> Loaded:
    """A long CSV/Parquet with columns task, worker, label (optional question, model, prompt, ...).

    Without a ``question`` column the labels are taken as answers to the rule-applied verdict
    (``obvious_misalignment``) when they are all verdict choices, else as question ``label``.
    Rows with a missing task, worker or label are reported in ``dropped``.
    """
    path = Path(path)
    try:
        df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:
        raise OmaError(f"{path}: cannot read as a long table ({exc})") from None
    missing = [c for c in ("task", "worker", "label") if c not in df.columns]
    if missing:
        raise OmaError(f"{path}: missing column(s) {missing}; a long file needs task, worker, label")
    df = df.astype({c: "string" for c in ("task", "worker", "label")})
    bad = df[["task", "worker", "label"]].isna().any(axis=1)
    dropped = pd.DataFrame({"source": str(path), "level": "annotation", "task": df.loc[bad, "task"],
                            "annotation": pd.NA, "worker": df.loc[bad, "worker"],
                            "field": df.loc[bad, ["task", "worker", "label"]].isna().idxmax(axis=1),
                            "reason": "missing task, worker or label"}, columns=DROPPED_COLUMNS)
    df = df.loc[~bad].copy()
    if "question" not in df.columns:
        verdicts = {c.id for c in RUBRIC.verdict.choices}
        df["question"] = RUBRIC.MISALIGNMENT if set(df["label"].unique()) <= verdicts else "label"
    for c in FRAME_COLUMNS:
        if c not in df.columns:
            df[c] = {"ground_truth": False, "annotation": pd.NA, "lead_time": float("nan")}.get(c, pd.NA)
    if "completion" in df.columns and df["completion"].isna().all():
        df["completion"] = df["task"]
    if "prompt" in df.columns and df["prompt"].isna().all():
        df["prompt"] = df["task"]
    extra = [c for c in df.columns if c not in FRAME_COLUMNS]
    frame = df[FRAME_COLUMNS + extra].reset_index(drop=True)
    frame["annotation"] = pd.array(frame["annotation"], dtype="Int64")
    frame["ground_truth"] = frame["ground_truth"].astype(str).str.lower().isin(["true", "1", "yes"])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, errors="coerce", format="ISO8601")
    frame["lead_time"] = pd.to_numeric(frame["lead_time"], errors="coerce")
    for c in ("question", "completion", "prompt", "model"):
        frame[c] = frame[c].astype("string")
    if codemap is not None:
        _join_models(frame, codemap)
    n = len(df) + len(dropped)
    return Loaded(frame=frame, dropped=dropped, texts=pd.DataFrame(columns=TEXT_COLUMNS),
                  spans=pd.DataFrame(columns=SPAN_COLUMNS), n_read=n, n_used=len(df), source=str(path),
                  format="LONG", n_tasks=int(frame["task"].nunique()))


def read_input(path: str | Path, codemap: str | Path | CodeMap | None = None) -> Loaded:
    """Any supported input: LS export (JSON, JSON_MIN, CSV) or a long CSV/Parquet."""
    return load_export(path, codemap)
