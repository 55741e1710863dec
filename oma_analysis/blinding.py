"""Blinded completion codes and the code map that stays outside Label Studio.

Labellers must never learn which model wrote a completion, so tasks carry only random codes; the
map from code to model (and variant, parameters) is written beside the run and joined in at
analysis time. :func:`assert_blind` is the last gate before anything is pushed.

>>> codes = CodeMap()
>>> c = codes.add(model="gpt-x", variant="chat")
>>> len(c), codes[c]["model"]
(10, 'gpt-x')
>>> assert_blind([{"data": {"completion": "hi", "completion_code": c}}], codes)
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from . import OmaError

# Metadata keys whose *values* name the model or how it was run; none may appear in LS.
REVEALING_KEYS = ("model", "variant", "model_path", "model_name", "base_url")


class CodeMap(Mapping[str, dict]):
    """code -> metadata (model, variant, ...); saved as JSON with mode 0600."""

    def __init__(self, entries: Mapping[str, dict] | None = None) -> None:
        self._d: dict[str, dict] = dict(entries or {})

    def __getitem__(self, code: str) -> dict:
        return self._d[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def add(self, **meta: object) -> str:
        # Random, not derived from the model name: a code reveals nothing even to someone who
        # knows the scheme. 50 bits keeps collisions negligible for millions of completions.
        while True:
            code = "c" + secrets.token_hex(5)[:9]
            if code not in self._d:
                self._d[code] = dict(meta)
                return code

    def models(self) -> dict[str, str]:
        return {c: str(m.get("model")) for c, m in self._d.items() if m.get("model") is not None}

    def revealing_strings(self) -> set[str]:
        out: set[str] = set()
        for meta in self._d.values():
            for k in REVEALING_KEYS:
                v = meta.get(k)
                if isinstance(v, str) and len(v) >= 3:
                    out.add(v)
        return out

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self._d, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> CodeMap:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise OmaError(f"{path}: code map not found") from None
        except json.JSONDecodeError as exc:
            raise OmaError(f"{path}: code map is not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
            raise OmaError(f"{path}: code map must be an object {{code: {{model: ...}}}}")
        return cls(raw)


def _strings(obj: object) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _strings(v)


def assert_blind(tasks: Iterable[Mapping], codes: CodeMap | Iterable[str], where: str = "tasks") -> None:
    """Raise OmaError if any string in the tasks (keys included) contains a model/variant name."""
    names = codes.revealing_strings() if isinstance(codes, CodeMap) else set(codes)
    lowered = [(n, n.lower()) for n in names if n]
    for i, task in enumerate(tasks):
        for s in _strings(task):
            ls = s.lower()
            for name, low in lowered:
                if low in ls:
                    raise OmaError(f"{where}: task #{i} would reveal model/variant {name!r} to labellers "
                                   f"(found in {s[:60]!r}); refusing to push")
