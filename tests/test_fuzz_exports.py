"""Property-based fuzzing of the export loader (hypothesis).

Thousands of odd or malformed Label Studio exports (JSON, JSON_MIN, CSV and raw bytes): missing
keys, wrong types, unknown questions and choices, cancelled/duplicate/superseded annotations,
empty results, drafts, huge texts, unicode, tasks without annotations. For every input either
``OmaError`` with a message naming the file escapes, or the file loads and the annotations counted
here, independently of the loader, equal ``n_read == n_used + n_dropped``.

Runs derandomized (stable in CI). ``OMA_FUZZ_SCALE=10`` multiplies the number of examples for a
longer run; the total actually run is printed at the end of the module.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oma_analysis import OmaError
from oma_analysis.ingest import load
from oma_analysis.rubric import RUBRIC

SCALE = float(os.environ.get("OMA_FUZZ_SCALE", "1"))
# Per-test budgets; they add up to 11,440 cases at scale 1 (~45 s on 2 shared cores).
BUDGET = {"json": 6000, "json_min": 2500, "csv": 2500, "bytes": 400, "huge": 40}
RAN: dict[str, int] = {k: 0 for k in BUDGET}


def fuzz_settings(kind: str):
    return settings(max_examples=max(1, int(BUDGET[kind] * SCALE)), deadline=None, derandomize=True,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


QUESTIONS = {q.name: q for kind in ("review", "compare", "probe") for q in RUBRIC.task_questions(kind)}
CHOICE_QS = [q for q in QUESTIONS.values() if q.kind in ("single", "multi")]
ALL_CHOICES = sorted({c for q in CHOICE_QS for c in q.choice_ids})

# Cheap to draw (hypothesis' generation, not the loader, dominates the run time): fixed lists of
# nasty values, with a small share of freshly generated unicode text.
NASTY_TEXT = ["", " ", "x", "ü", "\u202eevil", "😀" * 3, "\x00", "a\nb", "\r\n", "\"", ",", "[", "{", "null",
              "data", "annotations", "ﬁ", "𝔘𝔫𝔦", "漢字", "\ud7ff", "\ufeff", "NaN", "-1", "1e308"]
odd_text = st.one_of(st.sampled_from(NASTY_TEXT), st.sampled_from(NASTY_TEXT),
                     st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=6))
NASTY = [None, True, False, 0, -1, 7, 2**70, -2**63, 1.5, -0.0, 1e308, float("inf"), float("nan"), "", "x", "ü",
         [], {}, [1, "a"], [None], {"a": 1}, {"choices": 1}, {"rating": "x"}, [[[]]], {"": {"": []}},
         [{"rating": 9}], {"text": 5}, "[1, 2]", '{"choices": ["ambiguous"]}']
junk = st.one_of(st.sampled_from(NASTY), st.sampled_from(NASTY), odd_text,
                 st.lists(st.sampled_from(NASTY), max_size=3))
scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), odd_text)
question_name = st.one_of(st.sampled_from(sorted(QUESTIONS)), st.sampled_from(sorted(QUESTIONS)),
                          st.sampled_from(["mystery", "verdict ", "Verdict", ""]), odd_text)
choice_id = st.one_of(st.sampled_from(ALL_CHOICES), st.sampled_from(ALL_CHOICES), odd_text,
                      st.integers(-3, 3), st.none())
rating = st.one_of(st.integers(0, 6), st.integers(1, 5), st.floats(), st.sampled_from(["3", "x", "", "2.5"]),
                   st.none(), st.lists(st.integers(1, 5), max_size=2))
value = st.one_of(
    st.fixed_dictionaries({"choices": st.lists(choice_id, max_size=4)}),
    st.fixed_dictionaries({"choices": st.lists(choice_id, max_size=4)}),
    st.fixed_dictionaries({"choices": junk}),
    st.fixed_dictionaries({"rating": rating}),
    st.fixed_dictionaries({"text": st.one_of(st.lists(odd_text, max_size=2), odd_text, junk)}),
    st.fixed_dictionaries({"labels": st.one_of(st.lists(choice_id, max_size=2), junk),
                           "start": st.one_of(st.integers(0, 50), junk), "end": st.integers(0, 50),
                           "text": odd_text}),
    st.dictionaries(odd_text, junk, max_size=2),
    junk,
)
result_item = st.one_of(
    st.fixed_dictionaries({"from_name": question_name, "to_name": st.just("completion"),
                           "type": st.sampled_from(["choices", "rating", "textarea", "labels"]), "value": value}),
    st.fixed_dictionaries({"from_name": question_name, "value": value}),
    st.fixed_dictionaries({}, optional={"from_name": junk, "value": junk}),
    junk,
)
ann_id = st.one_of(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40), st.none(),
                   st.sampled_from(["7", "abc", "", "1e3"]), st.floats(0, 50), st.booleans(),
                   st.lists(st.integers(), max_size=1))
worker = st.one_of(st.fixed_dictionaries({"id": st.integers(1, 4), "email": st.sampled_from(["a@x", "b@x", "ü@ẍ"])}),
                   st.fixed_dictionaries({"id": st.integers(1, 4)}), st.fixed_dictionaries({}),
                   st.integers(1, 4), st.sampled_from(["a@x", ""]), st.none(), junk)
stamp = st.one_of(st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-02T10:00:00.5+02:00", "2026-13-45", "",
                                   "yesterday"]), st.none(), st.integers(), junk)
annotation = st.one_of(
    st.fixed_dictionaries(
        {"id": ann_id, "completed_by": worker, "result": st.lists(result_item, max_size=5)},
        optional={"was_cancelled": st.one_of(st.booleans(), junk), "created_at": stamp, "updated_at": stamp,
                  "lead_time": st.one_of(st.floats(), st.integers(), st.none(), junk),
                  "ground_truth": st.one_of(st.booleans(), junk)}),
    st.fixed_dictionaries({"id": ann_id, "completed_by": worker}, optional={"result": junk}),
    junk,
)
draft = st.one_of(st.fixed_dictionaries({"id": ann_id, "user": worker, "result": st.lists(result_item, max_size=2)}),
                  junk)
task_data = st.one_of(
    st.fixed_dictionaries({"completion": odd_text, "completion_code": st.one_of(odd_text, junk),
                           "prompt_id": st.one_of(odd_text, junk)},
                          optional={"messages": junk, "left": odd_text, "right": odd_text, "gold": junk}),
    st.dictionaries(odd_text, junk, max_size=3),
    junk,
)
task = st.one_of(
    st.fixed_dictionaries({"id": st.one_of(st.integers(1, 30), st.integers(1, 30), odd_text, st.none(), junk),
                           "data": task_data},
                          optional={"annotations": st.one_of(st.lists(annotation, max_size=4),
                                                             st.lists(annotation, max_size=4), junk),
                                    "drafts": st.one_of(st.lists(draft, max_size=2), junk),
                                    "predictions": st.one_of(st.lists(junk, max_size=2), junk)}),
    junk,
)

# Flat formats: one record per annotation (or per task without one).
min_answer = st.one_of(choice_id, st.fixed_dictionaries({"choices": st.lists(choice_id, max_size=3)}),
                       st.lists(st.fixed_dictionaries({"rating": rating}), min_size=1, max_size=1), odd_text, junk)
min_record = st.one_of(
    st.fixed_dictionaries(
        {"id": st.one_of(st.integers(1, 30), st.integers(1, 30), odd_text, st.none(), junk),
         "annotator": st.one_of(st.sampled_from(["a@x", "b@x", "ü@ẍ"]), st.integers(1, 4), st.none(), junk),
         "annotation_id": ann_id},
        optional={"completion": odd_text, "completion_code": odd_text, "prompt_id": odd_text,
                  "created_at": stamp, "updated_at": stamp, "lead_time": st.one_of(st.floats(), scalar, junk),
                  "verdict": min_answer, "confidence": min_answer, "failure_types": min_answer,
                  "intent_task": min_answer, "justification": st.one_of(odd_text, junk),
                  "compare_better": min_answer, "probe_item": min_answer, "extra_field": junk}),
    st.dictionaries(st.sampled_from(["id", "annotator", "annotation_id", "verdict", "x"]), junk, max_size=4),
)


def _has(v: object) -> bool:
    return v is not None


def count_json(tasks: object) -> int | None:
    """Annotations + drafts in a JSON export, counted without the loader; None if not countable."""
    if not isinstance(tasks, list):
        return None
    n = 0
    for t in tasks:
        if not isinstance(t, dict):
            return None
        anns, drafts = t.get("annotations", []), t.get("drafts") or []
        if not isinstance(anns, list) or not isinstance(drafts, list):
            return None
        n += len(anns) + len(drafts)
    return n


def count_min(records: list) -> int:
    """Records that are an annotation (have an annotator or an annotation id)."""
    return sum(1 for r in records if isinstance(r, dict) and (_has(r.get("annotator")) or _has(r.get("annotation_id"))))


def check(path: Path, expected: int | None) -> None:
    try:
        got = load(path)
    except OmaError as exc:
        msg = str(exc)
        assert str(path) in msg or path.name in msg, f"error does not name the file: {msg!r}"
        assert len(msg) > len(str(path)) + 10, f"error says too little: {msg!r}"
        return
    assert got.n_read == got.n_used + got.n_dropped, got.summary()
    if expected is not None:
        assert got.n_read == expected, (got.n_read, expected, got.summary())
    assert got.n_used >= 0 and got.n_dropped >= 0
    f = got.frame
    assert list(f.columns)[:11] == ["task", "worker", "question", "label", "annotation", "completion", "prompt",
                                    "model", "lead_time", "created_at", "ground_truth"]
    # Every used annotation gives rows, every row belongs to a used annotation: rows per
    # (task, worker) are one annotation each (one per labeller per task), so with unique task ids
    # the distinct (task, worker) pairs are exactly the used annotations.
    if got.n_used and f["task"].notna().all():
        pairs = f[["task", "worker"]].astype(str).drop_duplicates()
        assert len(pairs) <= got.n_used
    assert f["label"].notna().all() and f["question"].notna().all() and f["worker"].notna().all()
    assert (got.dropped["reason"].str.len() > 0).all()


def dump_json(obj: object) -> str:
    # allow_nan: LS itself never writes NaN, but a hand-edited file might; the loader must cope.
    return json.dumps(obj, ensure_ascii=False, allow_nan=True)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    # Thousands of small files are written and read back: on a RAM disk when there is one
    # (opening a file on this disk costs ~1 ms, on tmpfs ~20 us).
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(prefix="oma-fuzz-", dir=shm))
    else:
        d = tmp_path_factory.mktemp("fuzz")
    yield d
    shutil.rmtree(d, ignore_errors=True)
    total = sum(RAN.values())
    print(f"\nfuzzed exports: {total} cases ({RAN})")
    report = os.environ.get("OMA_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps({"total": total, **RAN}))


@fuzz_settings("json")
@given(tasks=st.one_of(st.lists(task, max_size=6), st.lists(task, max_size=6), junk))
def test_json_exports(fuzz_dir, tasks):
    RAN["json"] += 1
    p = fuzz_dir / "export.json"
    p.write_text(dump_json(tasks), encoding="utf-8")
    check(p, count_json(tasks))


@fuzz_settings("json_min")
@given(records=st.lists(min_record, max_size=8))
def test_json_min_exports(fuzz_dir, records):
    RAN["json_min"] += 1
    p = fuzz_dir / "export_min.json"
    p.write_text(dump_json(records), encoding="utf-8")
    check(p, count_min(records))


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return str(v)


@fuzz_settings("csv")
@given(records=st.lists(min_record.filter(lambda r: isinstance(r, dict)), max_size=8))
def test_csv_exports(fuzz_dir, records):
    RAN["csv"] += 1
    header: list[str] = []
    for r in records:
        header += [k for k in r if k not in header]
    # The loader's LONG sniffing takes task/worker/label headers as a long file: not an LS export.
    header = [h for h in header if h not in ("task", "worker", "label")] or ["id"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore")
    w.writeheader()
    cells = []
    for r in records:
        row = {k: _cell(r.get(k)) for k in header}
        cells.append(row)
        w.writerow(row)
    p = fuzz_dir / "export.csv"
    p.write_text(buf.getvalue(), encoding="utf-8")
    # Independent count: an annotation is a row with an annotator or annotation id cell (an empty
    # cell reads as missing in CSV, and a cell holding only NUL/whitespace is still a value).
    expected = sum(1 for row in cells if row.get("annotator", "") != "" or row.get("annotation_id", "") != "")
    check(p, expected)


@fuzz_settings("bytes")
@given(raw=st.one_of(st.binary(max_size=200), st.binary(max_size=200).map(lambda b: b"[" + b),
                     st.binary(max_size=80).map(lambda b: b"id,annotator,verdict\n1,a@x," + b)),
       suffix=st.sampled_from([".json", ".csv"]))
def test_arbitrary_bytes(fuzz_dir, raw, suffix):
    """Not even text: invalid UTF-8, NUL bytes, truncated arrays."""
    RAN["bytes"] += 1
    p = fuzz_dir / f"raw{suffix}"
    p.write_bytes(raw)
    check(p, None)


@fuzz_settings("huge")
@given(n=st.integers(1, 3), size=st.integers(10_000, 1_000_000), piece=st.text(min_size=1, max_size=4),
       fmt=st.sampled_from(["JSON", "JSON_MIN", "CSV"]))
def test_huge_texts(fuzz_dir, n, size, piece, fmt):
    """Megabyte-sized completions and justifications in every format."""
    RAN["huge"] += 1
    big = (piece * (size // len(piece) + 1))[:size]
    verdict = {"from_name": "verdict", "to_name": "completion", "type": "choices",
               "value": {"choices": ["ambiguous"]}}
    just = {"from_name": "justification", "to_name": "completion", "type": "textarea", "value": {"text": [big]}}
    if fmt == "JSON":
        tasks = [{"id": i, "data": {"completion": big, "completion_code": f"c{i}", "prompt_id": "p"},
                  "annotations": [{"id": i, "completed_by": {"id": 1, "email": "a@x"}, "result": [verdict, just]}]}
                 for i in range(n)]
        p = fuzz_dir / "huge.json"
        p.write_text(dump_json(tasks), encoding="utf-8")
        check(p, n)
    else:
        recs = [{"id": i, "annotator": "a@x", "annotation_id": i, "completion": big, "completion_code": f"c{i}",
                 "verdict": "ambiguous", "justification": big} for i in range(n)]
        if fmt == "JSON_MIN":
            p = fuzz_dir / "huge_min.json"
            p.write_text(dump_json(recs), encoding="utf-8")
        else:
            p = fuzz_dir / "huge.csv"
            with p.open("w", encoding="utf-8", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(recs[0]))
                w.writeheader()
                w.writerows(recs)
        check(p, n)
    got = load(p)
    assert got.n_used == n and len(got.frame[got.frame["question"] == "verdict"]) == n
    if fmt == "JSON":
        assert got.texts["text"].str.len().tolist() == [size] * n


def test_cases_run_meets_budget():
    """Runs last in this module: the promised number of cases was generated (only checked when the
    whole module ran, e.g. not under ``-k``)."""
    if any(v == 0 for v in RAN.values()):
        pytest.skip("not every fuzz test ran in this session")
    assert sum(RAN.values()) >= int(10_000 * min(SCALE, 1.0))
