"""Push tasks into a Label Studio project: validated, blinded, batched and resumable."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import OmaError
from ..blinding import CodeMap, assert_blind
from .client import with_retries
from .config_check import validate_results

TASK_KEY = "task_key"


def read_jsonl(path: str | Path) -> list[dict]:
    path = Path(path)
    out = []
    try:
        fh = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise OmaError(f"{path}: file not found") from None
    with fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise OmaError(f"{path}: line {i}: not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise OmaError(f"{path}: line {i}: expected a JSON object, got {type(rec).__name__}")
            out.append(rec)
    return out


def _sha(obj: object, n: int = 20) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:n]


def _messages(rec: dict, where: str) -> list[dict]:
    if "messages" in rec:
        msgs = rec["messages"]
        if not isinstance(msgs, list) or not all(isinstance(m, dict) and "content" in m for m in msgs):
            raise OmaError(f"{where}: field 'messages' must be a list of {{role, content}} objects")
        return [{"role": str(m.get("role", "user")), "content": str(m["content"])} for m in msgs]
    if isinstance(rec.get("prompt"), str):
        return [{"role": "user", "content": rec["prompt"]}]
    raise OmaError(f"{where}: needs field 'messages' (chat) or 'prompt' (text)")


def completion_to_task(rec: dict, codes: CodeMap, where: str) -> dict:
    """A review task from a completion record ``{prompt|messages, completion, model, ...}``.

    The record's model and generation metadata go into the code map, never into the task.
    Codes are reused for the same (model, prompt, completion), so pushing twice is idempotent.
    """
    if not isinstance(rec.get("completion"), str):
        raise OmaError(f"{where}: field 'completion' must be a string")
    if not rec.get("model"):
        raise OmaError(f"{where}: field 'model' is required (it goes to the code map, not to Label Studio)")
    messages = _messages(rec, where)
    prompt_id = str(rec.get("prompt_id") or rec.get("id") or "p" + _sha(messages, 12))
    content = _sha([prompt_id, rec["completion"], str(rec["model"]), rec.get("variant")], 24)
    code = next((c for c, m in codes.items() if m.get("content_sha") == content), None)
    if code is None:
        meta = {k: v for k, v in rec.items() if k not in ("completion", "messages", "prompt")}
        code = codes.add(**{**meta, "prompt_id": prompt_id, "content_sha": content})
    return {"data": {"messages": messages, "completion": rec["completion"], "completion_code": code,
                     "prompt_id": prompt_id}}


def config_fields(xml: str) -> set[str]:
    """Task data fields a config reads (``value="$name"``)."""
    return set(re.findall(r'value="\$([A-Za-z_][A-Za-z0-9_]*)"', xml))


def prepare(records: Iterable[dict], xml: str, codes: CodeMap, source: str) -> list[dict]:
    """Validate and normalise records into LS tasks with a stable ``task_key``."""
    needed = config_fields(xml)
    tasks = []
    for i, rec in enumerate(records, 1):
        where = f"{source}: record {i}"
        task = rec if "data" in rec else completion_to_task(rec, codes, where)
        data = task.get("data")
        if not isinstance(data, dict):
            raise OmaError(f"{where}: field 'data' must be an object")
        missing = sorted(needed - set(data))
        if missing:
            raise OmaError(f"{where}: data lacks field(s) {missing} that the label config shows")
        if "messages" in data:
            _messages(data, where)
        for p in task.get("predictions") or []:
            validate_results(xml, p.get("result", []), what="prediction", where=where)
        for a in task.get("annotations") or []:
            validate_results(xml, a.get("result", []), what="annotation", where=where)
        data = {k: v for k, v in data.items() if k != TASK_KEY}
        data[TASK_KEY] = _sha(data)
        tasks.append({**task, "data": data})
    assert_blind(tasks, codes, where=source)
    return tasks


@dataclass
class PushResult:
    project: int
    created: int
    skipped: int
    task_ids: list[int]


def existing_keys(client, project_id: int) -> set[str]:
    keys = set()
    for t in with_retries(lambda: list(client.tasks.list(project=project_id, page_size=1000)),
                          f"list tasks of project {project_id}"):
        k = (t.data or {}).get(TASK_KEY)
        if k:
            keys.add(k)
    return keys


def push(client, project_id: int, tasks: list[dict], *, batch_size: int = 250,
         progress: bool = False) -> PushResult:
    """Import ``tasks`` (from :func:`prepare`) in batches, skipping those already in the project."""
    from tqdm import tqdm

    have = existing_keys(client, project_id)
    todo = [t for t in tasks if t["data"][TASK_KEY] not in have]
    ids: list[int] = []
    bar = tqdm(total=len(todo), desc="push", unit="task", disable=not progress)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        resp = with_retries(
            lambda b=batch: client.projects.import_tasks(id=project_id, request=b, return_task_ids=True),
            f"import tasks {start}..{start + len(batch)} into project {project_id}")
        ids += list(getattr(resp, "task_ids", None) or [])
        bar.update(len(batch))
    bar.close()
    return PushResult(project_id, len(todo), len(tasks) - len(todo), ids)
