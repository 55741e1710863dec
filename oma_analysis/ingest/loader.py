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
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from oma_analysis import OmaError
from oma_analysis.rubric import RUBRIC, Question, Rubric
from oma_analysis.rubric.rule import contradictions, derived_labels, version_of
from oma_analysis.tasks.blinding import CodeMap

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


# Per-annotation columns; each frame row repeats its annotation's values.
_ANN_COLUMNS = ("task", "worker", "annotation", "completion", "prompt", "lead_time", "created_at", "ground_truth")


@dataclass
class _Acc:
    """Column-wise accumulators. A 1M-annotation export makes ~40M frame rows (multi-choice
    questions become one row per choice), so rows are kept as three int32 arrays (annotation,
    question code, label code) and everything per annotation once; the frame is built at the end
    with numpy takes. Far fewer Python objects than one list entry per row and column."""

    rubric: Rubric
    source: str
    ann: dict[str, list] = field(default_factory=lambda: {c: [] for c in _ANN_COLUMNS})
    row_ann: array = field(default_factory=lambda: array("i"))
    row_q: array = field(default_factory=lambda: array("i"))
    row_label: array = field(default_factory=lambda: array("i"))
    codes: dict[str, int] = field(default_factory=dict)  # question and label strings -> code
    patterns: dict[tuple, tuple[array, array]] = field(default_factory=dict)
    dropped: list[tuple] = field(default_factory=list)
    texts: list[tuple] = field(default_factory=list)
    spans: list[tuple] = field(default_factory=list)
    n_read: int = 0
    n_used: int = 0
    n_tasks: int = 0
    n_predictions: int = 0
    seen_annotations: set = field(default_factory=set)
    versions: dict[str, int] = field(default_factory=dict)
    keep: Callable[[str], bool] | None = None  # questions= filter: rows of other questions not kept
    derived: bool = True  # compute the rule's derived questions (only when asked for)

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
    """Annotator e-mail, else id; None when there is none (an empty object is no annotator)."""
    if isinstance(completed_by, dict):
        who = completed_by.get("email") or completed_by.get("id")
        return _worker(who) if not isinstance(who, dict) else None
    if completed_by is None or isinstance(completed_by, bool | list | float) or completed_by == "":
        return None
    return str(completed_by)


def _ann_id(v, where: str) -> int | None:
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


def _num(v) -> float | None:
    """lead_time as float; anything that is not a number is missing (NaN), never an exception."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _text(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "\n".join(map(str, v))
    return "" if v is None else str(v)


def _add_annotation(acc: _Acc, *, task_id, data: dict, ann_id, worker, answers: dict[str, object],
                    kind: str, lead_time, created_at, ground_truth: bool, where: str) -> None:
    """Turn one annotation's answers ({question: raw value}) into rows; report what it can't use."""
    r = acc.rubric
    qs = _questions(r, kind)
    completion = _s(data.get("completion_code") or data.get("pair_code"))
    if completion is None and kind == "compare":
        completion = f"{data.get('left_code')}|{data.get('right_code')}"
    prompt = _s(data.get("prompt_id"))
    created_at = created_at if isinstance(created_at, str) else None
    clean: dict[str, object] = {}
    for name, value in answers.items():
        q = qs.get(name)
        if q is None:
            acc.drop("result", task_id, ann_id, worker, name, f"unknown question {name!r} for a {kind} task")
            continue
        if q.kind in ("single", "multi"):
            if not isinstance(value, str | list):
                acc.drop("result", task_id, ann_id, worker, name,
                         f"{type(value).__name__} value is not a choice for {name!r}")
                continue
            vals = [value] if isinstance(value, str) else value
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
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError  # 2.5 stars is not a rating (and int() would truncate it)
                rating = int(value)  # type: ignore[arg-type]
            except (TypeError, ValueError, OverflowError):
                acc.drop("result", task_id, ann_id, worker, name, f"rating {value!r} is not an integer")
                continue
            if not 1 <= rating <= (q.max_rating or rating):
                acc.drop("result", task_id, ann_id, worker, name, f"rating {rating} outside 1..{q.max_rating}")
                continue
            clean[name] = str(rating)
        elif q.kind == "text":
            acc.texts.append((_s(task_id), worker, ann_id, name, _text(value)))
        elif q.kind == "spans":
            spans = value if isinstance(value, list) else [value]
            for sp in spans:
                labels = sp.get("labels") if isinstance(sp, dict) else None
                if not isinstance(labels, list):
                    acc.drop("result", task_id, ann_id, worker, name, "span without a list of labels")
                    continue
                for lab in labels:
                    if lab not in q.choice_ids:
                        acc.drop("result", task_id, ann_id, worker, name, f"unknown span label {lab!r}")
                        continue
                    acc.spans.append((_s(task_id), worker, ann_id, lab, sp.get("start"), sp.get("end"),
                                      sp.get("text")))
    if not any(qs[n].kind in ("single", "multi", "rating") for n in clean):
        acc.drop("annotation", task_id, ann_id, worker, "result", "no usable answer to any rubric question")
        return
    if kind == "review":
        # Label Studio enforces `required` only on visible controls and API submissions bypass
        # it: answers that contradict each other are reported, never counted.
        why = contradictions(clean, r)
        if why:
            acc.drop("annotation", task_id, ann_id, worker, why[0].split(":")[0].split(" ")[0],
                     f"contradictory answers (rubric {version_of(clean, r)}): " + "; ".join(why))
            return
    acc.n_used += 1
    if kind == "review":
        v = version_of(clean, r)
        acc.versions[v] = acc.versions.get(v, 0) + 1
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
    if kind == "review" and acc.derived:
        out += list(derived_labels(clean, r).items())
    if acc.keep is not None:
        out = [p for p in out if acc.keep(p[0])]
    a = acc.ann
    idx = len(a["task"])
    a["task"].append(_s(task_id))
    a["worker"].append(worker)
    a["annotation"].append(ann_id)
    a["completion"].append(completion)
    a["prompt"].append(prompt)
    a["lead_time"].append(_num(lead_time))
    a["created_at"].append(created_at)
    a["ground_truth"].append(bool(ground_truth))
    key = tuple(out)
    coded = acc.patterns.get(key)
    if coded is None:  # most annotations repeat a few answer patterns: encode each pattern once
        codes = acc.codes
        qc = array("i", [codes.setdefault(q, len(codes)) for q, _ in out])
        lc = array("i", [codes.setdefault(lab, len(codes)) for _, lab in out])
        coded = (qc, lc)
        if len(acc.patterns) < 200_000:
            acc.patterns[key] = coded
    acc.row_ann.extend(array("i", [idx]) * len(out))
    acc.row_q.extend(coded[0])
    acc.row_label.extend(coded[1])


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
            answers[name] = _text(value["text"])
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
        except (ijson.JSONError, UnicodeDecodeError) as exc:
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
            did = did if isinstance(did, int | str) else None
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
            ann_id = _ann_id(ann.get("id"), f"{where}: annotations[{j}]")
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
    if isinstance(v, dict) and isinstance(v.get("choices"), list):
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


def _load_min(path: Path, fmt: str, acc: _Acc) -> None:
    all_q = {q.name for q in acc.rubric.questions.values()}
    tasks_seen: set = set()
    for i, rec in _min_records(path, fmt):
        task_id = rec.get("id")
        if task_id is None:
            raise OmaError(f"{path}: record {i}: field 'id' (task id) is missing")
        where = f"{path}: task {task_id}"
        if _s(task_id) not in tasks_seen:
            tasks_seen.add(_s(task_id))
            acc.n_tasks += 1
        worker = _worker(rec.get("annotator"))
        ann_id = _ann_id(rec.get("annotation_id"), f"{where}: record {i}")
        if ann_id is None and rec.get("annotator") is None:
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
        _add_annotation(acc, task_id=task_id, data=data, ann_id=ann_id,
                        worker=worker, answers=answers, kind=_kind(data, set(answers)),
                        lead_time=lt, created_at=rec.get("created_at"),
                        ground_truth=False, where=where)


def _sniff(path: Path) -> str:
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


def _categorical(codes: np.ndarray, values: list) -> pd.Categorical:
    """``pd.Series(values[codes]).astype("category")`` without materialising the strings:
    categories sorted and only those used, missing values (None) as NA."""
    uniq = sorted({v for v in values if v is not None})
    pos = {v: i for i, v in enumerate(uniq)}
    remap = np.array([pos[v] if v is not None else -1 for v in values] or [-1], dtype=np.int64)
    used = np.zeros(len(uniq), dtype=bool)
    mapped = remap[codes] if len(codes) else np.empty(0, dtype=np.int64)
    used[mapped[mapped >= 0]] = True
    keep = np.flatnonzero(used)
    renum = np.full(len(uniq) + 1, -1, dtype=np.int64)
    renum[keep] = np.arange(len(keep))
    final = renum[mapped]  # -1 stays -1 through renum[-1]
    cats = pd.Index([uniq[i] for i in keep], dtype="str" if len(keep) else object)
    return pd.Categorical.from_codes(final, categories=cats)


def _empty_frame() -> pd.DataFrame:
    df = pd.DataFrame({c: [] for c in FRAME_COLUMNS}, columns=FRAME_COLUMNS)
    df["annotation"] = pd.array(df["annotation"], dtype="Int64")
    df["lead_time"] = pd.to_numeric(df["lead_time"], errors="coerce").astype(float)
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True, errors="coerce", format="ISO8601")
    df["ground_truth"] = df["ground_truth"].astype(bool)
    for c in ("worker", "question", "label", "completion", "prompt", "model"):
        df[c] = df[c].astype("string")
    return df


def _frame(acc: _Acc) -> pd.DataFrame:
    if not len(acc.row_ann):
        return _empty_frame()
    a = acc.ann
    rix = np.frombuffer(acc.row_ann, dtype=np.int32) if len(acc.row_ann) else np.empty(0, dtype=np.int32)
    n = len(rix)
    names = list(acc.codes)
    big = n > 100_000

    def per_ann(values: list, *, cat: bool) -> object:
        if cat:
            return _categorical(rix, values)
        return pd.array(np.asarray(values + [None], dtype=object)[rix] if n else [], dtype="string")

    def coded(arr: array) -> object:
        c = np.frombuffer(arr, dtype=np.int32) if n else np.empty(0, dtype=np.int32)
        return _categorical(c, names) if big else pd.array(np.asarray(names + [None], dtype=object)[c]
                                                          if n else [], dtype="string")

    tasks = np.asarray(a["task"] + [None], dtype=object)[rix] if n else []
    created = pd.to_datetime(pd.Series(a["created_at"], dtype=object), utc=True, errors="coerce",
                             format="ISO8601")
    df = pd.DataFrame({
        "task": pd.Series(tasks, dtype=None if n else object) if n else pd.Series([], dtype=object),
        "worker": per_ann(a["worker"], cat=big),
        "question": coded(acc.row_q),
        "label": coded(acc.row_label),
        "annotation": pd.array(a["annotation"], dtype="Int64")[rix],
        "completion": per_ann(a["completion"], cat=big),
        "prompt": per_ann(a["prompt"], cat=big),
        "model": per_ann([None] * len(a["task"]), cat=big),
        "lead_time": np.asarray(a["lead_time"], dtype=float)[rix] if n else np.empty(0),
        "created_at": created.array[rix] if n else pd.to_datetime(pd.Series([], dtype=object), utc=True),
        "ground_truth": np.asarray(a["ground_truth"], dtype=bool)[rix] if n else np.empty(0, dtype=bool),
    }, columns=FRAME_COLUMNS)
    return df


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


def _wants_derived(questions: Iterable[str] | None, rubric: Rubric) -> bool:
    m = rubric.MISALIGNMENT
    return questions is None or any(q == m or q.startswith(m + ".") for q in questions)


def load_export(path: str | Path, codemap: str | Path | CodeMap | None = None, *,
                format: str | None = None, rubric: Rubric = RUBRIC,
                questions: Iterable[str] | None = None) -> Loaded:
    """Load a Label Studio export (JSON, JSON_MIN or CSV) into the tidy frame. ``questions``: keep
    only these questions' rows (see :func:`question_filter`); the rule's derived questions are
    computed only when one is asked for. Annotations are still all read, validated and counted
    (``n_used``/``dropped`` do not depend on the filter)."""
    path = Path(path)
    if not path.exists():
        raise OmaError(f"{path}: file not found")
    fmt = (format or _sniff(path)).upper()
    if fmt == "LONG":
        return load_long(path, codemap, questions=questions)
    questions = None if questions is None else list(questions)
    acc = _Acc(rubric, str(path), keep=question_filter(questions), derived=_wants_derived(questions, rubric))
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
                  n_tasks=acc.n_tasks, n_predictions=acc.n_predictions, rubric_versions=acc.versions)


def _join_models(frame: pd.DataFrame, codemap) -> None:
    if codemap is None:
        return
    codes = codemap if isinstance(codemap, CodeMap) else CodeMap.load(codemap)
    models = codes.models()
    # Large frames hold categoricals; casting to the placeholder column's (empty) categorical dtype
    # would turn every model into NaN, so build the categories from the joined names.
    joined = frame["completion"].astype("string").map(models)
    frame["model"] = joined.astype("category" if len(frame) > 100_000 else "string")


def load_long(path: str | Path, codemap=None, questions: Iterable[str] | None = None) -> Loaded:
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
    if (keep := question_filter(questions)) is not None:
        frame = frame[frame["question"].map(keep).to_numpy(bool)].reset_index(drop=True)
    n = len(df) + len(dropped)
    return Loaded(frame=frame, dropped=dropped, texts=pd.DataFrame(columns=TEXT_COLUMNS),
                  spans=pd.DataFrame(columns=SPAN_COLUMNS), n_read=n, n_used=len(df), source=str(path),
                  format="LONG", n_tasks=int(frame["task"].nunique()))


def iter_task_data(path: str | Path) -> Iterator[tuple[object, dict]]:
    """(task id, task data) for every task of a Label Studio export (JSON, JSON_MIN or CSV), streamed.

    In the flat formats a row carries the answers beside the data; callers pick the fields they need.
    """
    path = Path(path)
    fmt = _sniff(path)
    if fmt == "JSON":
        for i, task in enumerate(_iter_json(path)):
            if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
                raise OmaError(f"{path}: task #{i}: field 'data' must be an object")
            yield task.get("id"), task["data"]
    elif fmt in ("JSON_MIN", "CSV"):
        for _, rec in _min_records(path, fmt):
            yield rec.get("id"), rec
    else:
        raise OmaError(f"{path}: a long file has no task texts; give a Label Studio export (JSON, JSON_MIN, CSV)")


def read_input(path: str | Path, codemap: str | Path | CodeMap | None = None,
               questions: Iterable[str] | None = None) -> Loaded:
    """Any supported input: LS export (JSON, JSON_MIN, CSV) or a long CSV/Parquet; ``questions``
    keeps only what an analysis needs (see :func:`load_export`)."""
    return load_export(path, codemap, questions=questions)
