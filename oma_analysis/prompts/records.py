"""The prompt record: one JSON object per line, validated on read.

>>> r = PromptRecord(id="p1", messages=[{"role": "user", "content": "Hi"}], task_type="other",
...                  capability_items=["sentiment"])
>>> PromptRecord.from_dict(r.to_dict(), where="x.jsonl:1") == r
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from oma_analysis import OmaError
from oma_analysis.jsonl import parse_jsonl
from oma_analysis.rubric import RUBRIC

SPLITS = ("dev", "test")
ROLES = ("system", "user", "assistant")
TASK_TYPES = (
    "factual_qa", "obscure_fact", "misconception", "idk", "clarify", "summarisation", "rewriting",
    "classification", "translation", "length", "register", "code", "creative", "multi_constraint",
    "harmful", "mental_math", "post_cutoff", "instruction", "usage_log", "capability_probe", "other",
)
_FIELDS = ("id", "messages", "task_type", "constraints", "capability_items", "split", "source",
           "licence", "canary", "meta")


@dataclass(frozen=True)
class Constraints:
    """IFEval-style machine-readable constraints: parallel lists of instruction ids and kwargs.

    >>> Constraints(["punctuation:no_comma"], [{}]).ids
    ('punctuation:no_comma',)
    """

    instruction_id_list: list[str] = field(default_factory=list)
    kwargs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self.instruction_id_list)

    def to_dict(self) -> dict[str, Any]:
        return {"instruction_id_list": list(self.instruction_id_list), "kwargs": [dict(k) for k in self.kwargs]}


@dataclass(frozen=True)
class PromptRecord:
    """One prompt. ``capability_items`` are checklist ids from ``RUBRIC.checklist``."""

    id: str
    messages: list[dict[str, str]]
    task_type: str
    constraints: Constraints = field(default_factory=Constraints)
    capability_items: list[str] = field(default_factory=list)
    split: str = "dev"
    source: str = "oma-core"
    licence: str = "Apache-2.0"
    canary: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id, "messages": [dict(m) for m in self.messages], "task_type": self.task_type,
            "constraints": self.constraints.to_dict(), "capability_items": list(self.capability_items),
            "split": self.split, "source": self.source, "licence": self.licence,
        }
        if self.canary is not None:
            d["canary"] = self.canary
        if self.meta:
            d["meta"] = dict(self.meta)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=False)

    @property
    def user_text(self) -> str:
        """The concatenated user turns (what de-duplication and hashing look at).

        >>> PromptRecord("a", [{"role": "user", "content": "x"}], "other").user_text
        'x'
        """
        return "\n\n".join(m["content"] for m in self.messages if m["role"] == "user")

    def replace(self, **changes: Any) -> PromptRecord:
        """A copy with some fields changed (validated again).

        >>> PromptRecord("a", [{"role": "user", "content": "x"}], "other").replace(split="test").split
        'test'
        """
        d = self.to_dict()
        d.update({k: (v.to_dict() if isinstance(v, Constraints) else v) for k, v in changes.items()})
        return PromptRecord.from_dict(d, where=f"record {self.id}")

    @classmethod
    def from_dict(cls, d: Any, where: str = "<record>") -> PromptRecord:
        """Validate a parsed JSON object; errors name ``where`` (file:line) and the field."""

        def bad(fld: str, why: str) -> OmaError:
            return OmaError(f"{where}: field {fld!r}: {why}")

        if not isinstance(d, dict):
            raise bad("<record>", "expected a JSON object")
        unknown = sorted(set(d) - set(_FIELDS))
        if unknown:
            raise bad(unknown[0], "unknown field")
        for req in ("id", "messages", "task_type"):
            if req not in d:
                raise bad(req, "missing")
        if not isinstance(d["id"], str) or not d["id"].strip():
            raise bad("id", "must be a non-empty string")
        msgs = d["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise bad("messages", "must be a non-empty list of {role, content}")
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or set(m) != {"role", "content"}:
                raise bad(f"messages[{i}]", "must be an object with exactly 'role' and 'content'")
            if m["role"] not in ROLES:
                raise bad(f"messages[{i}].role", f"{m['role']!r} is not one of {ROLES}")
            if not isinstance(m["content"], str) or not m["content"].strip():
                raise bad(f"messages[{i}].content", "must be a non-empty string")
        if not any(m["role"] == "user" for m in msgs):
            raise bad("messages", "needs at least one user turn")
        if d["task_type"] not in TASK_TYPES:
            raise bad("task_type", f"{d['task_type']!r} is not one of {TASK_TYPES}")
        c = d.get("constraints") or {"instruction_id_list": [], "kwargs": []}
        if not isinstance(c, dict) or set(c) - {"instruction_id_list", "kwargs"}:
            raise bad("constraints", "must be {instruction_id_list, kwargs}")
        ids = c.get("instruction_id_list", [])
        kw = c.get("kwargs", [{} for _ in ids])
        if not isinstance(ids, list) or not all(isinstance(x, str) and ":" in x for x in ids):
            raise bad("constraints.instruction_id_list", "must be a list of 'group:name' ids")
        if not isinstance(kw, list) or len(kw) != len(ids) or not all(isinstance(k, dict) for k in kw):
            raise bad("constraints.kwargs", "must be a list of objects, one per instruction id")
        items = d.get("capability_items", [])
        known = {i.id for i in RUBRIC.checklist}
        if not isinstance(items, list):
            raise bad("capability_items", "must be a list of checklist ids")
        for it in items:
            if it not in known:
                raise bad("capability_items", f"{it!r} is not a checklist id of rubric {RUBRIC.version}")
        split = d.get("split", "dev")
        if split not in SPLITS:
            raise bad("split", f"{split!r} is not one of {SPLITS}")
        for fld in ("source", "licence"):
            if fld in d and (not isinstance(d[fld], str) or not d[fld]):
                raise bad(fld, "must be a non-empty string")
        canary = d.get("canary")
        if canary is not None and not isinstance(canary, str):
            raise bad("canary", "must be a string")
        meta = d.get("meta") or {}
        if not isinstance(meta, dict):
            raise bad("meta", "must be an object")
        return cls(
            id=d["id"], messages=[{"role": m["role"], "content": m["content"]} for m in msgs],
            task_type=d["task_type"],
            constraints=Constraints(list(ids), [{k: v for k, v in x.items() if v is not None} for x in kw]),
            capability_items=list(items), split=split, source=d.get("source", "oma-core"),
            licence=d.get("licence", "Apache-2.0"), canary=canary, meta=dict(meta),
        )


def read_prompts(path: str | Path) -> list[PromptRecord]:
    """Read and validate a prompt JSONL file; ids must be unique.

    >>> len(read_prompts(core_prompts_path())) > 50
    True
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OmaError(f"{path}: cannot read ({exc.strerror})") from None
    return _records(text.splitlines(), str(path))


def _records(lines: Iterable[str], where: str) -> list[PromptRecord]:
    out: list[PromptRecord] = []
    seen: dict[str, int] = {}
    for n, obj in parse_jsonl(lines, where):
        rec = PromptRecord.from_dict(obj, where=f"{where}:{n}")
        if rec.id in seen:
            raise OmaError(f"{where}:{n}: field 'id': {rec.id!r} already used on line {seen[rec.id]}")
        seen[rec.id] = n
        out.append(rec)
    return out


def write_prompts(records: Iterable[PromptRecord], path: str | Path) -> int:
    """Write records as JSONL; returns how many.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "p.jsonl")
    >>> write_prompts(read_prompts(core_prompts_path())[:3], p)
    3
    """
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(r.to_json() + "\n")
            n += 1
    return n


def core_prompts_path() -> Path:
    """The shipped core suite written by the team.

    >>> core_prompts_path().name
    'core_prompts.jsonl'
    """
    return Path(str(resources.files("oma_analysis").joinpath("data/core_prompts.jsonl")))


def core_prompts() -> list[PromptRecord]:
    """The core suite, validated.

    >>> sum(1 for r in core_prompts() if r.task_type == "harmful") >= 3
    True
    """
    return read_prompts(core_prompts_path())


def prompt_set_hash(records: Iterable[PromptRecord]) -> str:
    """Order-independent SHA-256 of a prompt set (ids and contents), for batch manifests.

    >>> a = core_prompts()[:5]
    >>> prompt_set_hash(a) == prompt_set_hash(list(reversed(a)))
    True
    """
    return set_hash((r.id, r.messages) for r in records)


def set_hash(pairs: Iterable[tuple[str, list[dict[str, str]]]]) -> str:
    """The hash behind :func:`prompt_set_hash`, on (prompt id, messages) pairs; duplicates count once.

    >>> set_hash([("a", []), ("a", [])]) == set_hash([("a", [])])
    True
    """
    h = hashlib.sha256()
    for line in sorted({json.dumps([i, m], ensure_ascii=False, sort_keys=True) for i, m in pairs}):
        h.update(line.encode("utf-8") + b"\n")
    return h.hexdigest()
