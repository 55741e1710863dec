"""Format readers: Label Studio JSON, JSON_MIN and CSV exports -> raw annotation records.

They know nothing of the rubric: they stream tasks (ijson, so a raw file is never held in memory),
decide what Label Studio itself says is not an answer (drafts, cancelled, duplicate ids,
superseded annotations, no annotator) and yield :class:`Raw` records (the annotation's answers as
``{from_name: value}``) or :class:`Drop` records naming the reason. Structurally malformed files
raise :class:`oma_analysis.OmaError` naming file, task and field. Long CSV/Parquet files are
:mod:`oma_analysis.ingest.long`.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from oma_analysis import OmaError

# Annotation-level fields JSON_MIN/CSV put beside the answers; everything else is task data.
MIN_META = frozenset({"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time"})


@dataclass
class Raw:
    """One submitted annotation as the file has it, answers not yet checked against any rubric."""

    task_id: object
    data: dict
    ann_id: int | None
    worker: str
    answers: dict[str, object]
    lead_time: object
    created_at: object
    ground_truth: bool
    where: str  # "file: task N: annotation M", for error messages


class Drop(NamedTuple):
    """Something read and not used: ``level`` is annotation (counted in n_read), result or task."""

    level: str
    task: object
    annotation: object
    worker: str | None
    field: str
    reason: str


@dataclass
class Counts:
    """What a reader saw besides the records it yields."""

    n_read: int = 0  # annotations and drafts
    n_tasks: int = 0
    n_predictions: int = 0
    seen_annotations: set = field(default_factory=set)


def worker_of(completed_by) -> str | None:
    """Annotator e-mail, else id; None when there is none (an empty object is no annotator)."""
    if isinstance(completed_by, dict):
        who = completed_by.get("email") or completed_by.get("id")
        return worker_of(who) if not isinstance(who, dict) else None
    if completed_by is None or isinstance(completed_by, bool | list | float) or completed_by == "":
        return None
    return str(completed_by)


def ann_id_of(v, where: str) -> int | None:
    """An annotation id as int (LS ids are integers; "12" and 12.0 are accepted), else OmaError."""
    if v is None:
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():  # not "²": isdigit() accepts it
        return int(v.strip())
    raise OmaError(f"{where}: field 'id' (annotation id) must be an integer, got {str(v)[:40]!r}")


def text_of(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "\n".join(map(str, v))
    return "" if v is None else str(v)


def sniff(path: Path) -> str:
    """JSON, JSON_MIN, CSV (Label Studio exports) or LONG (task, worker, label CSV; Parquet)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "LONG"
    if suffix == ".csv":
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                header = next(csv.reader(fh), [])
        except (csv.Error, UnicodeDecodeError) as exc:
            raise OmaError(f"{path}: line 1: not a readable CSV export ({type(exc).__name__})") from None
        if {"task", "worker", "label"} <= set(header):
            return "LONG"
        return "CSV"
    # JSON has "annotations": [...] and an object "data" per task; JSON_MIN is flat with
    # "annotator". Decide on the first task's keys: a byte search would take a JSON_MIN answer
    # or data field that merely says "data" for a JSON export.
    first = _first_item(path)
    if isinstance(first, dict):
        if {"annotations", "drafts", "predictions"} & first.keys():
            return "JSON"
        # LS writes "annotator" and "annotation_id" on every JSON_MIN row (null when unannotated).
        if {"annotator", "annotation_id"} & first.keys():
            return "JSON_MIN"
        return "JSON" if "data" in first else "JSON_MIN"
    with path.open("rb") as fh:
        head = fh.read(65536)
    if b'"annotations"' in head or b'"data"' in head:
        return "JSON"
    return "JSON_MIN"


def _first_item(path: Path) -> object:
    """The first element of a JSON array file, read lazily; None if there is none or it won't parse."""
    import ijson

    try:
        with path.open("rb") as fh:
            return next(ijson.items(fh, "item", use_float=True), None)
    except (ijson.JSONError, UnicodeDecodeError, ValueError):
        return None


def iter_json(path: Path) -> Iterator[object]:
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
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise OmaError(f"{path}: not valid JSON ({exc})") from None


def _result_answers(results: list, where: str) -> dict[str, object]:
    """{from_name: value} from an LS ``result`` list: choices as a list, a rating, spans as a list
    of their values, text as one string."""
    answers: dict[str, object] = {}
    for i, res in enumerate(results):
        if not isinstance(res, dict):
            raise OmaError(f"{where}: result[{i}] must be an object")
        name, value = res.get("from_name"), res.get("value")
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
            answers[name] = text_of(value["text"])
        else:
            answers[name] = value
    return answers


def read_json(path: Path, counts: Counts,
              multi_fields: frozenset[str] | set[str] = frozenset()) -> Iterator[Raw | Drop]:
    """A Label Studio JSON export, task by task: each labeller's latest submitted annotation.

    Choices arrive as lists; one choice is unwrapped to a string except for ``multi_fields`` (the
    caller's multi-choice question names), whose answers stay lists.
    """
    for idx, task in enumerate(iter_json(path)):
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
        counts.n_tasks += 1
        counts.n_predictions += len(preds)
        for d in drafts:
            counts.n_read += 1
            did = d.get("id") if isinstance(d, dict) else None
            did = did if isinstance(did, int | str) else None
            yield Drop("annotation", task_id, did, worker_of(d.get("user") if isinstance(d, dict) else None),
                       "drafts", "draft (never submitted)")
        if not anns and not drafts:
            yield Drop("task", task_id, None, None, "annotations", "task has no annotations")
        # Keep each worker's latest submitted annotation; earlier ones are reported as superseded.
        latest: dict[str, tuple] = {}
        for j, ann in enumerate(anns):
            counts.n_read += 1
            if not isinstance(ann, dict):
                raise OmaError(f"{where}: annotations[{j}] must be an object")
            ann_id = ann_id_of(ann.get("id"), f"{where}: annotations[{j}]")
            worker = worker_of(ann.get("completed_by"))
            if ann_id is not None and ann_id in counts.seen_annotations:
                yield Drop("annotation", task_id, ann_id, worker, "id", "duplicate annotation id")
                continue
            counts.seen_annotations.add(ann_id)
            if ann.get("was_cancelled"):
                yield Drop("annotation", task_id, ann_id, worker, "was_cancelled", "skipped/cancelled by the labeller")
                continue
            if worker is None:
                yield Drop("annotation", task_id, ann_id, None, "completed_by", "no annotator")
                continue
            result = ann.get("result")
            if not isinstance(result, list):
                raise OmaError(f"{where}: annotation {ann_id}: field 'result' must be a list")
            if not result:
                yield Drop("annotation", task_id, ann_id, worker, "result", "empty result")
                continue
            stamp = str(ann.get("updated_at") or ann.get("created_at") or "")
            if worker in latest and latest[worker][0] >= stamp:
                yield Drop("annotation", task_id, ann_id, worker, "completed_by",
                           f"superseded by annotation {latest[worker][1].get('id')} of the same labeller")
                continue
            if worker in latest:
                old = latest[worker][1]
                yield Drop("annotation", task_id, old.get("id"), worker, "completed_by",
                           f"superseded by annotation {ann_id} of the same labeller")
            latest[worker] = (stamp, ann)
        for worker, (_, ann) in latest.items():
            ann_where = f"{where}: annotation {ann.get('id')}"
            answers = {k: (v[0] if isinstance(v, list) and len(v) == 1 and not isinstance(v[0], dict)
                           and k not in multi_fields else v)
                       for k, v in _result_answers(ann["result"], ann_where).items()}
            yield Raw(task_id, data, ann.get("id"), worker, answers,
                      ann.get("lead_time"), ann.get("created_at"), bool(ann.get("ground_truth")), ann_where)


def _min_value(v):
    """JSON_MIN/CSV cell -> answer: choices come as 'a' or {'choices': [...]}, ratings as [{'rating': n}]."""
    if isinstance(v, dict) and isinstance(v.get("choices"), list):
        return [str(x) for x in v["choices"]]
    if isinstance(v, list) and v and isinstance(v[0], dict) and "rating" in v[0]:
        return v[0]["rating"]
    return v


def flat_records(path: Path, fmt: str) -> Iterator[tuple[int, dict]]:
    """(record number, {column: cell}) of a JSON_MIN or CSV export; CSV cells holding JSON are parsed."""
    if fmt == "JSON_MIN":
        for i, rec in enumerate(iter_json(path)):
            if not isinstance(rec, dict):
                raise OmaError(f"{path}: record #{i}: expected an object")
            yield i, rec
        return
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", newline="") as fh:
        yield from _csv_records(path, fh)


def _csv_records(path: Path, fh) -> Iterator[tuple[int, dict]]:
    rows = csv.DictReader(fh)
    i = 1
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            # Errors while reading (NUL bytes, bad UTF-8) name the file and the line, like the rest.
            raise OmaError(f"{path}: line {rows.line_num or i}: not a readable CSV export "
                           f"({type(exc).__name__}: {str(exc)[:80]})") from None
        i += 1
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


def read_flat(path: Path, fmt: str, answer_fields: frozenset[str] | set[str], counts: Counts) -> Iterator[Raw | Drop]:
    """A JSON_MIN or CSV export: one record per annotation, answers beside the task data.

    ``answer_fields``: the columns that hold answers (the caller's question names). In the flat
    formats an answer to an unknown question can't be told apart from a task data field, so unknown
    columns are taken as data (the JSON export reports them).
    """
    tasks_seen: set = set()
    for i, rec in flat_records(path, fmt):
        task_id = rec.get("id")
        if task_id is None:
            raise OmaError(f"{path}: record {i}: field 'id' (task id) is missing")
        where = f"{path}: task {task_id}"
        if str(task_id) not in tasks_seen:
            tasks_seen.add(str(task_id))
            counts.n_tasks += 1
        worker = worker_of(rec.get("annotator"))
        ann_id = ann_id_of(rec.get("annotation_id"), f"{where}: record {i}")
        if ann_id is None and rec.get("annotator") is None:
            yield Drop("task", task_id, None, None, "annotator", "task has no annotations")
            continue
        counts.n_read += 1
        if worker is None:
            yield Drop("annotation", task_id, ann_id, None, "annotator", "no annotator")
            continue
        if ann_id is not None and ann_id in counts.seen_annotations:
            yield Drop("annotation", task_id, ann_id, worker, "annotation_id", "duplicate annotation id")
            continue
        counts.seen_annotations.add(ann_id)
        data = {k: v for k, v in rec.items() if k not in MIN_META and k not in answer_fields}
        answers = {k: _min_value(v) for k, v in rec.items()
                   if k not in MIN_META and k not in data and v is not None}
        yield Raw(task_id, data, ann_id, worker, answers, rec.get("lead_time"), rec.get("created_at"),
                  False, where)


def iter_task_data(path: str | Path) -> Iterator[tuple[object, dict]]:
    """(task id, task data) for every task of a Label Studio export (JSON, JSON_MIN or CSV), streamed.

    In the flat formats a row carries the answers beside the data; callers pick the fields they need.
    """
    path = Path(path)
    fmt = sniff(path)
    if fmt == "JSON":
        for i, task in enumerate(iter_json(path)):
            if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
                raise OmaError(f"{path}: task #{i}: field 'data' must be an object")
            yield task.get("id"), task["data"]
    elif fmt in ("JSON_MIN", "CSV"):
        for _, rec in flat_records(path, fmt):
            yield rec.get("id"), rec
    else:
        raise OmaError(f"{path}: a long file has no task texts; give a Label Studio export (JSON, JSON_MIN, CSV)")
