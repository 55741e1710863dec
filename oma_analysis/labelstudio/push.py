"""Push tasks into a Label Studio project: validated, blinded, batched and resumable."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from oma_analysis import OmaError
from oma_analysis.jsonl import read_objects
from oma_analysis.labelstudio.client import with_retries
from oma_analysis.labelstudio.config_check import validate_results
from oma_analysis.tasks.blinding import CodeMap, assert_blind

TASK_KEY = "task_key"


def read_jsonl(path: str | Path) -> list[dict]:
    """Task or completion records (JSON objects, one a line)."""
    return read_objects(path)


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


def result_answers(results: list[dict]) -> dict[str, object]:
    """{question: answer} of a review ``result`` list (choices of single questions unwrapped)."""
    from oma_analysis.rubric import RUBRIC

    kinds = {q.name: q.kind for q in RUBRIC.task_questions("review")}
    out: dict[str, object] = {}
    for r in results:
        name, value = r.get("from_name"), r.get("value") or {}
        if name not in kinds or not isinstance(value, dict) or "choices" not in value:
            continue
        out[name] = value["choices"][0] if kinds[name] == "single" and value["choices"] else value["choices"]
    return out


def refuse_contradictions(results: list[dict], *, what: str, where: str) -> None:
    """oma never creates an annotation or prediction whose answers contradict each other
    (``none`` beside a breach, a failure without its required answers, ...): see rubric.rule."""
    from oma_analysis.rubric import contradictions

    why = contradictions(result_answers(results))
    if why:
        raise OmaError(f"{where}: {what} answers contradict each other: " + "; ".join(why))


def config_fields(xml: str) -> set[str]:
    """Task data fields a config reads (``value="$name"``)."""
    return set(re.findall(r'value="\$([A-Za-z_][A-Za-z0-9_]*)"', xml))


TEST_RUN_ENV = "OMA_TEST_RUN"


def _secret_test_prompt(rec: dict, task: dict) -> str | None:
    """Why ``rec`` is a secret test prompt (split "test", a canary field, a canary in the text), or None."""
    from oma_analysis.prompts.secret import CANARY_PREFIX, CANARY_RE

    if rec.get("split") == "test":
        return "split 'test'"
    if rec.get("canary"):
        return "a canary field"
    for obj in (rec, task):
        text = json.dumps(obj, ensure_ascii=False)
        if CANARY_PREFIX in text and CANARY_RE.search(text):
            return "a canary string"
    return None


def prepare(records: Iterable[dict], xml: str, codes: CodeMap, source: str,
            *, allow_test_prompts: bool | None = None) -> list[dict]:
    """Validate and normalise records into LS tasks with a stable ``task_key``.

    Secret test prompts (split "test", or carrying a canary) are refused unless their run has
    started: ``allow_test_prompts=True`` or ``$OMA_TEST_RUN`` set to the run id.
    """
    import os

    if allow_test_prompts is None:
        allow_test_prompts = bool(os.environ.get(TEST_RUN_ENV, "").strip())
    needed = config_fields(xml)
    tasks = []
    for i, rec in enumerate(records, 1):
        where = f"{source}: record {i}"
        if not allow_test_prompts:
            why = _secret_test_prompt(rec, rec.get("data") if isinstance(rec.get("data"), dict) else {})
            if why:
                # Checked before the code map is touched: nothing about the prompt is kept.
                raise OmaError(f"{where}: is a secret test prompt ({why}); test prompts go to Label Studio "
                               f"only for their run (set {TEST_RUN_ENV}=RUN_ID); refusing to push")
        task = rec if "data" in rec else completion_to_task(rec, codes, where)
        data = task.get("data")
        if not isinstance(data, dict):
            raise OmaError(f"{where}: field 'data' must be an object")
        missing = sorted(needed - set(data))
        if missing:
            raise OmaError(f"{where}: data lacks field(s) {missing} that the label config shows")
        if "messages" in data:
            _messages(data, where)
        for key, what in (("predictions", "prediction"), ("annotations", "annotation")):
            items = task.get(key) or []
            if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
                raise OmaError(f"{where}: field {key!r} must be a list of objects")
            for x in items:
                validate_results(xml, x.get("result", []), what=what, where=where)
                refuse_contradictions(x.get("result", []), what=what, where=where)
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
    duplicates_removed: int = 0


def _keys(client, project_id: int) -> dict[str, list[int]]:
    """task_key -> task ids in the project (one attempt; callers retry)."""
    out: dict[str, list[int]] = {}
    for t in client.tasks.list(project=project_id, page_size=1000):
        k = (t.data or {}).get(TASK_KEY)
        if k:
            out.setdefault(k, []).append(t.id)
    return out


def existing_keys(client, project_id: int) -> set[str]:
    return set(with_retries(lambda: _keys(client, project_id), f"list tasks of project {project_id}"))


def _import_batch(client, project_id: int, batch: list[dict], what: str) -> tuple[list[int], bool]:
    """Import one batch; (task ids, whether it was retried).

    An import is not idempotent: when a request times out or the connection drops, Label Studio
    may still have stored the batch. So every retry first asks which of the batch's keys are in
    the project and sends only the rest."""
    attempts = 0

    def attempt() -> list[int]:
        nonlocal attempts
        attempts += 1
        todo = batch
        if attempts > 1:
            have = _keys(client, project_id)
            todo = [t for t in batch if t["data"][TASK_KEY] not in have]
            if not todo:
                return []
        resp = client.projects.import_tasks(id=project_id, request=todo, return_task_ids=True)
        return list(getattr(resp, "task_ids", None) or [])

    ids = with_retries(attempt, what)
    return ids, attempts > 1


def remove_duplicates(client, project_id: int, keys: set[str]) -> int:
    """Delete all but the oldest task of each ``task_key`` in ``keys`` that has no annotations.

    A request that timed out on our side can still be stored by a server that was only stalled,
    racing with our retry; after a push that needed retries this puts the project right."""
    removed = 0
    for key, ids in with_retries(lambda: _keys(client, project_id), f"list tasks of project {project_id}").items():
        if key not in keys or len(ids) < 2:
            continue
        for tid in sorted(ids)[1:]:
            task = with_retries(lambda t=tid: client.tasks.get(id=t), f"read task {tid}")
            if not (task.total_annotations or 0):
                with_retries(lambda t=tid: client.tasks.delete(id=t), f"delete duplicate task {tid}")
                removed += 1
    return removed


def push(client, project_id: int, tasks: list[dict], *, batch_size: int = 250,
         progress: bool = False) -> PushResult:
    """Import ``tasks`` (from :func:`prepare`) in batches, skipping those already in the project."""
    from tqdm import tqdm

    have = existing_keys(client, project_id)
    todo = [t for t in tasks if t["data"][TASK_KEY] not in have]
    ids: list[int] = []
    retried = False
    bar = tqdm(total=len(todo), desc="push", unit="task", disable=not progress)
    try:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            got, again = _import_batch(client, project_id, batch,
                                       f"import tasks {start}..{start + len(batch)} into project {project_id}")
            ids += got
            retried |= again
            bar.update(len(batch))
    finally:
        bar.close()  # ends the bar's line, so an error message starts on its own line
    removed = remove_duplicates(client, project_id, {t["data"][TASK_KEY] for t in todo}) if retried else 0
    return PushResult(project_id, len(todo), len(tasks) - len(todo), ids, removed)
