"""The completion record (JSONL), shared by the generators, the importers and ``oma tasks build``.

>>> c = Completion.make(prompt_id="p", messages=[{"role": "user", "content": "Hi"}], model="m",
...                     variant="chat", text="Hello")
>>> Completion.from_dict(c.to_dict(), "x:1") == c
True
>>> c.content_hash == content_hash("Hello")
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oma_analysis import OmaError
from oma_analysis.jsonl import iter_jsonl

_REQUIRED = ("key", "prompt_id", "messages", "model", "variant", "text")


def content_hash(text: str) -> str:
    """SHA-256 of the completion text.

    >>> content_hash("")[:8]
    'e3b0c442'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(prompt_id: str, messages: list[dict[str, str]], model: str, variant: str, seed: int | None,
              sample: int) -> str:
    """What makes a completion "already done": prompt (id and text) × model × variant × seed × sample.

    >>> m = [{"role": "user", "content": "x"}]
    >>> cache_key("p", m, "a", "chat", 0, 0) != cache_key("p", m, "a", "chat", 0, 1)
    True
    """
    blob = json.dumps([prompt_id, messages, model, variant, seed, sample], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class Completion:
    key: str
    prompt_id: str
    messages: list[dict[str, str]]
    model: str
    variant: str
    text: str
    sample: int = 0
    seed: int | None = None
    framing: str = "chat"
    params: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    content_hash: str = ""
    source: str = "generate"
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, *, prompt_id: str, messages: list[dict[str, str]], model: str, variant: str, text: str,
             sample: int = 0, seed: int | None = None, **rest: Any) -> Completion:
        """A record with key, time and hash filled in."""
        return cls(key=cache_key(prompt_id, messages, model, variant, seed, sample), prompt_id=prompt_id,
                   messages=messages, model=model, variant=variant, text=text, sample=sample, seed=seed,
                   created=rest.pop("created", None) or datetime.now(UTC).isoformat(),
                   content_hash=content_hash(text), **rest)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Completion:
        if not isinstance(d, dict):
            raise OmaError(f"{where}: expected a JSON object")
        for f in _REQUIRED:
            if f not in d:
                raise OmaError(f"{where}: field {f!r}: missing")
        if not isinstance(d["text"], str):
            raise OmaError(f"{where}: field 'text': must be a string")
        if not isinstance(d["messages"], list) or not all(
                isinstance(m, dict) and {"role", "content"} <= set(m) for m in d["messages"]):
            raise OmaError(f"{where}: field 'messages': must be a list of {{role, content}}")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise OmaError(f"{where}: field {sorted(unknown)[0]!r}: unknown field")
        d = dict(d)
        d.setdefault("content_hash", content_hash(d["text"]))
        return cls(**d)


def read_completions(path: str | Path) -> list[Completion]:
    """Read a completions JSONL file (errors name file, line and field).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "c.jsonl")
    >>> c = Completion.make(prompt_id="p", messages=[{"role": "user", "content": "x"}], model="m",
    ...                     variant="chat", text="y")
    >>> write_completions([c], p); [x.text for x in read_completions(p)]
    ['y']
    """
    return [Completion.from_dict(obj, f"{path}:{n}") for n, obj in iter_jsonl(path)]


def write_completions(records: Iterable[Completion], path: str | Path, append: bool = False) -> None:
    """Write completion records as JSONL."""
    with open(path, "a" if append else "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
