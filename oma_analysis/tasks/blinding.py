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

from oma_analysis import OmaError

# Metadata keys whose values name the model: none may appear anywhere in what LS gets.
MODEL_KEYS = ("model", "model_path", "model_name", "base_url")
# Keys whose values name how it was run ("chat", "temp:0.7"): common words, so they are only
# refused as a whole field value outside the free text (a completion may say "chat").
VARIANT_KEYS = ("variant",)
FREE_TEXT = frozenset({"messages", "completion", "left", "right"})


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

    def _values(self, keys: tuple[str, ...]) -> set[str]:
        out: set[str] = set()
        for meta in self._d.values():
            for k in keys:
                v = meta.get(k)
                if isinstance(v, str) and len(v) >= 3:
                    out.add(v)
        return out

    def model_names(self) -> set[str]:
        return self._values(MODEL_KEYS)

    def variant_names(self) -> set[str]:
        return self._values(VARIANT_KEYS)

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


def _strings(obj: object, path: str = "") -> Iterator[tuple[str, str, bool]]:
    """(path, string, is_key) for every key and string value in a JSON-like object."""
    if isinstance(obj, str):
        yield path, obj, False
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            sub = f"{path}.{k}" if path else str(k)
            yield sub, str(k), True
            yield from _strings(v, sub)
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{path}[{i}]")


def data_field(path: str) -> str:
    """The task data field a string path is in (``data.messages[0].content`` -> ``messages``)."""
    return path.split(".")[1].split("[")[0] if path.startswith("data.") else ""


def find_leaks(tasks: Iterable[Mapping], models: Iterable[str], variants: Iterable[str] = ()
               ) -> list[tuple[int, str, str]]:
    """(task index, field path, name) for every model name found anywhere in a task (keys and
    values, case-insensitive), and every variant name in a value outside the free-text fields
    (variants are common words such as "chat": a completion may say them, a code must not).

    >>> find_leaks([{"data": {"prompt_id": "x", "completion": "chat about gpt-x"}}], ["gpt-x"], ["chat"])
    [(0, 'data.completion', 'gpt-x')]
    >>> find_leaks([{"data": {"prompt_id": "p-chat"}}], [], ["chat"])
    [(0, 'data.prompt_id', 'chat')]
    """
    mods = [(m, m.lower()) for m in models if m]
    vars_ = [(v, v.lower()) for v in variants if v]
    out = []
    for i, t in enumerate(tasks):
        for path, s, is_key in _strings(t):
            low = s.lower()
            out.extend((i, path, name) for name, ln in mods if ln in low)
            if not is_key and data_field(path) not in FREE_TEXT:
                out.extend((i, path, name) for name, ln in vars_ if ln in low)
    return out


def assert_blind(tasks: Iterable[Mapping], codes: CodeMap | Iterable[str], where: str = "tasks") -> None:
    """Raise OmaError if what labellers would see reveals a model or a variant (see find_leaks)."""
    if isinstance(codes, CodeMap):
        models, variants = codes.model_names(), codes.variant_names()
    else:
        models, variants = set(codes), set()
    leaks = find_leaks(tasks, models, variants)
    if leaks:
        i, path, name = leaks[0]
        kind = "model" if name in models else "variant"
        raise OmaError(f"{where}: task #{i} would reveal {kind} {name!r} to labellers (in {path}); "
                       "refusing to push")
