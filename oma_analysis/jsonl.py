"""Reading JSONL files: one place for line numbers and the errors that name them.

>>> list(parse_jsonl(['{"a": 1}', "", "[2]"], "f.jsonl"))
[(1, {'a': 1}), (3, [2])]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from oma_analysis import OmaError


def parse_jsonl(lines: Iterable[str], where: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for each non-blank line; bad JSON names ``where`` and the line."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            raise OmaError(f"{where} line {n}: not valid JSON ({exc.msg})") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, object) for each record of a JSONL file, streamed line by line."""
    path = Path(path)
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise OmaError(f"{path}: cannot read ({exc.strerror})") from None
    with fh:
        yield from parse_jsonl(fh, str(path))


def read_objects(path: str | Path) -> list[dict]:
    """Every record of a JSONL file, each required to be a JSON object."""
    out = []
    for n, rec in iter_jsonl(path):
        if not isinstance(rec, dict):
            raise OmaError(f"{path} line {n}: expected a JSON object, got {type(rec).__name__}")
        out.append(rec)
    return out
