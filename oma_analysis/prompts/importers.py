"""Importers: IFEval, Self-Instruct user-oriented instructions (with the eight models'
predictions) and usage logs, into prompt records and completion records.

Data is read where it lies (``<shared>/datasets``, :func:`oma_analysis.locations.shared_dir`: an
explicit path or ``OMA_SHARED_DIR``); nothing is copied into the repository.

>>> r = import_ifeval(ifeval_dir())
>>> len(r.prompts), len(r.completions), len(r.skipped)
(541, 540, 1)
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oma_analysis import OmaError
from oma_analysis.generate.records import Completion
from oma_analysis.jsonl import iter_jsonl
from oma_analysis.locations import dataset_dir
from oma_analysis.prompts.records import Constraints, PromptRecord
from oma_analysis.rubric import RUBRIC


def ifeval_dir(shared: str | Path | None = None) -> Path:
    """IFEval's folder in the shared data folder (``shared`` or ``$OMA_SHARED_DIR``)."""
    return dataset_dir("ifeval", shared)


def self_instruct_dir(shared: str | Path | None = None) -> Path:
    """Self-Instruct's user-oriented instructions in the shared data folder (``shared`` or ``$OMA_SHARED_DIR``)."""
    return dataset_dir("self_instruct_user_oriented", shared)


# IFEval instruction ids -> rubric checklist items they exercise.
IFEVAL_ITEMS = {
    "length_constraints:number_sentences": RUBRIC.item_ids.sentence_count,
    "length_constraints:number_words": RUBRIC.item_ids.correct_length,
    "length_constraints:number_paragraphs": RUBRIC.item_ids.correct_length,
    "detectable_format:number_bullet_lists": RUBRIC.item_ids.correct_length,
    "language:response_language": RUBRIC.item_ids.correct_language,
    "combination:repeat_prompt": RUBRIC.item_ids.prompt_repetition_control,
}


@dataclass
class ImportResult:
    prompts: list[PromptRecord] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)
    duplicates: int = 0  # rows dropped as exact duplicates
    skipped: list[str] = field(default_factory=list)  # "file:line: why" for rows skipped on request


def normalise(text: str) -> str:
    """What de-duplication compares: case-folded, whitespace collapsed.

    >>> normalise("  Hello\\n  World ") == normalise("hello world")
    True
    """
    return re.sub(r"\s+", " ", text).strip().casefold()


def _hid(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:16]


def _need(obj: Any, fld: str, where: str, typ: type = str) -> Any:
    if not isinstance(obj, dict) or fld not in obj:
        raise OmaError(f"{where}: field {fld!r}: missing")
    if not isinstance(obj[fld], typ):
        raise OmaError(f"{where}: field {fld!r}: expected {typ.__name__}")
    return obj[fld]


# ---- IFEval --------------------------------------------------------------------------------------
def import_ifeval(path: str | Path | None = None, responses: bool = True) -> ImportResult:
    """IFEval prompts (``input_data.jsonl``; ``path`` may be that file or its folder, default
    :func:`ifeval_dir`) and, when the folder holds them, GPT-4's responses as completions of model
    ``gpt-4-20231107``. A response whose prompt matches no IFEval prompt is left out and listed in
    ``skipped``."""
    path = Path(path) if path is not None else ifeval_dir()
    data = path / "input_data.jsonl" if path.is_dir() else path
    res = ImportResult()
    seen: set[str] = set()
    by_text: dict[str, PromptRecord] = {}
    for n, obj in iter_jsonl(data):
        where = f"{data}:{n}"
        key = _need(obj, "key", where, int)
        text = _need(obj, "prompt", where)
        ids = _need(obj, "instruction_id_list", where, list)
        kw = _need(obj, "kwargs", where, list)
        if len(kw) != len(ids):
            raise OmaError(f"{where}: field 'kwargs': {len(kw)} entries for {len(ids)} instruction ids")
        if normalise(text) in seen:
            res.duplicates += 1
            continue
        seen.add(normalise(text))
        items = sorted({IFEVAL_ITEMS[i] for i in ids if i in IFEVAL_ITEMS})
        if len(ids) >= 4:  # meeting four or more requirements at once is on the not-capable list
            items.append(RUBRIC.item_ids.many_entities_constraints)
        rec = PromptRecord.from_dict({
            "id": f"ifeval:{key}", "messages": [{"role": "user", "content": text}], "task_type": "instruction",
            "constraints": Constraints(list(ids), kw).to_dict(), "capability_items": items,
            "source": "ifeval", "licence": "Apache-2.0"}, where)
        res.prompts.append(rec)
        by_text[text] = rec
    by_norm = {normalise(t): r for t, r in by_text.items()}
    if responses and path.is_dir():
        for rf in sorted(path.glob("input_response_data_*.jsonl")):
            m = re.search(r"input_response_data_(.+?)_(\d{8})_", rf.name)
            model = f"{m.group(1).replace('gpt4', 'gpt-4')}-{m.group(2)}" if m else rf.stem
            for n, obj in iter_jsonl(rf):
                where = f"{rf}:{n}"
                text, resp = _need(obj, "prompt", where), _need(obj, "response", where)
                rec = by_text.get(text) or by_norm.get(normalise(text))
                if rec is None:
                    # The published GPT-4 file answers one prompt worded differently from
                    # input_data.jsonl: pairing it with the other wording would mislead labellers.
                    res.skipped.append(f"{where}: field 'prompt': matches no prompt of {data}")
                    continue
                res.completions.append(Completion.make(
                    prompt_id=rec.id, messages=rec.messages, model=model, variant="as-published", text=resp,
                    source="ifeval", created="2023-11-07T14:50:30+00:00"))
    return res


# ---- Self-Instruct -------------------------------------------------------------------------------
def self_instruct_message(instruction: str, inp: str) -> str:
    """The user turn shown to labellers: the instruction, then the input when there is one.

    >>> self_instruct_message("Fix this.\\n", "teh cat")
    'Fix this.\\n\\nteh cat'
    """
    instruction, inp = instruction.strip(), inp.strip()
    return f"{instruction}\n\n{inp}" if inp else instruction


def import_self_instruct(path: str | Path | None = None, predictions: bool = True) -> ImportResult:
    """The 252 user-oriented instructions and, from ``predictions/*_predictions.jsonl``, each model's
    responses (model name = file name without ``_predictions``), matched on instruction + input.
    ``path``: default :func:`self_instruct_dir`."""
    path = Path(path) if path is not None else self_instruct_dir()
    inst = path / "user_oriented_instructions.jsonl" if path.is_dir() else path
    res = ImportResult()
    by_key: dict[tuple[str, str], PromptRecord] = {}
    for n, obj in iter_jsonl(inst):
        where = f"{inst}:{n}"
        pid = _need(obj, "id", where)
        instruction = _need(obj, "instruction", where)
        instances = _need(obj, "instances", where, list)
        if not instances or not isinstance(instances[0], dict):
            raise OmaError(f"{where}: field 'instances': needs at least one {{input, output}}")
        inp = instances[0].get("input", "")
        key = (normalise(instruction), normalise(inp))
        if key in by_key:
            res.duplicates += 1
            continue
        rec = PromptRecord.from_dict({
            "id": pid, "messages": [{"role": "user", "content": self_instruct_message(instruction, inp)}],
            "task_type": "instruction", "source": "self-instruct-user-oriented", "licence": "Apache-2.0",
            "meta": {"motivation_app": obj.get("motivation_app", ""),
                     "reference": instances[0].get("output", ""),
                     "note": "the authors ask that this set is not used for training"}}, where)
        by_key[key] = rec
        res.prompts.append(rec)
    pred_dir = path / "predictions" if path.is_dir() else None
    if predictions and pred_dir and pred_dir.is_dir():
        for pf in sorted(pred_dir.glob("*_predictions.jsonl")):
            model = pf.name[: -len("_predictions.jsonl")]
            done: set[str] = set()
            for n, obj in iter_jsonl(pf):
                where = f"{pf}:{n}"
                key = (normalise(_need(obj, "instruction", where)), normalise(_need(obj, "input", where)))
                resp = _need(obj, "response", where)
                rec = by_key.get(key)
                if rec is None:
                    raise OmaError(f"{where}: field 'instruction': matches no instruction of {inst}")
                if rec.id in done:
                    res.duplicates += 1
                    continue
                done.add(rec.id)
                res.completions.append(Completion.make(
                    prompt_id=rec.id, messages=rec.messages, model=model, variant="as-published",
                    text=resp.strip(), framing="completion", source="self-instruct",
                    meta={"framed_prompt": obj.get("prompt", "")}))
    return res


# ---- usage logs ----------------------------------------------------------------------------------
LOG_COLUMNS: dict[str, tuple[str, ...]] = {
    "input": ("user_input", "input", "prompt", "user", "question"),
    "completion": ("completion", "output", "response", "assistant", "answer"),
    "model": ("model", "model_name"),
    "time": ("time", "timestamp", "created", "created_at"),
    "conversation": ("conversation_id", "conversation", "session_id", "thread_id"),
}


def _log_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() == ".csv":
        try:
            fh = open(path, encoding="utf-8", newline="")
        except OSError as exc:
            raise OmaError(f"{path}: cannot read ({exc.strerror})") from None
        with fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames:
                raise OmaError(f"{path}: empty CSV (no header row)")
            for row in reader:
                yield reader.line_num, row
    else:
        for n, obj in iter_jsonl(path):
            if not isinstance(obj, dict):
                raise OmaError(f"{path}:{n}: expected a JSON object")
            yield n, obj


def _pick(row: dict[str, Any], role: str) -> tuple[str | None, Any]:
    lower = {str(k).strip().lower(): k for k in row}
    for alias in LOG_COLUMNS[role]:
        if alias in lower:
            return lower[alias], row[lower[alias]]
    return None, None


def import_logs(path: str | Path, on_error: str = "raise", default_model: str = "logged") -> ImportResult:
    """Usage logs (CSV with a header, or JSONL): user input and completion per row, optionally
    model, time and conversation id. Rows of one conversation (in file order) become one growing
    chat: each row's prompt carries the earlier turns. Exact duplicate rows are dropped.

    ``on_error="skip"`` records bad rows in ``skipped`` instead of stopping at the first one.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> _ = open(p, "w").write("user_input,completion,conversation_id\\nhi,hello,c1\\nand?,more,c1\\nhi,hello,c1\\n")
    >>> r = import_logs(p); len(r.prompts), r.duplicates, len(r.prompts[1].messages)
    (2, 1, 3)
    """
    if on_error not in ("raise", "skip"):
        raise ValueError("on_error must be 'raise' or 'skip'")
    path = Path(path)
    res = ImportResult()
    history: dict[str, list[dict[str, str]]] = {}
    prompts: dict[str, PromptRecord] = {}
    seen_rows: set[tuple[str, str, str, str]] = set()
    for n, row in _log_rows(path):
        where = f"{path}:{n}"
        try:
            in_col, text = _pick(row, "input")
            out_col, completion = _pick(row, "completion")
            if in_col is None:
                raise OmaError(f"{where}: field 'user_input': missing (one of {LOG_COLUMNS['input']})")
            if out_col is None:
                raise OmaError(f"{where}: field 'completion': missing (one of {LOG_COLUMNS['completion']})")
            if not isinstance(text, str) or not text.strip():
                raise OmaError(f"{where}: field {in_col!r}: empty or not text")
            if not isinstance(completion, str):
                raise OmaError(f"{where}: field {out_col!r}: not text")
        except OmaError as exc:
            if on_error == "raise":
                raise
            res.skipped.append(str(exc))
            continue
        model = str(_pick(row, "model")[1] or default_model)
        conv = str(_pick(row, "conversation")[1] or "")
        when = _pick(row, "time")[1]
        sig = (conv, normalise(text), normalise(completion), model)
        if sig in seen_rows:
            res.duplicates += 1
            continue
        seen_rows.add(sig)
        past = history.get(conv, []) if conv else []
        messages = [*past, {"role": "user", "content": text}]
        pid = _hid("log:", json.dumps([normalise(m["content"]) for m in messages]))
        if pid not in prompts:
            prompts[pid] = PromptRecord.from_dict({
                "id": pid, "messages": messages, "task_type": "usage_log", "source": f"logs:{path.name}",
                "licence": "private-usage-log"}, where)
            res.prompts.append(prompts[pid])
        res.completions.append(Completion.make(
            prompt_id=pid, messages=messages, model=model, variant="as-logged", text=completion,
            source="logs", created=str(when) if when else None, meta={"line": n, "conversation": conv}))
        if conv:
            history[conv] = [*messages, {"role": "assistant", "content": completion}]
    return res


FORMATS = {"ifeval": import_ifeval, "self-instruct": import_self_instruct, "logs": import_logs}


def import_any(fmt: str, path: str | Path) -> ImportResult:
    """Dispatch on the ``--format`` name.

    >>> len(import_any("self-instruct", self_instruct_dir()).completions)
    2016
    """
    if fmt not in FORMATS:
        raise OmaError(f"--format {fmt!r}: not one of {sorted(FORMATS)}")
    return FORMATS[fmt](path)
