"""Versioned model directories with an atomic swap.

Layout under a models root::

    root/
      current                 # text file: the name of the live version (replaced atomically)
      20261124T051500Z-ab12cd34/
        config.json, model.safetensors, tokenizer files, card.json

A version is written into a hidden temp directory and renamed into place only when complete; the
``current`` pointer is then replaced with ``os.replace``. A reader therefore sees either the old
model or the new one, never a half-written directory, and a writer that fails midway leaves the
old model live.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from oma_analysis import OmaError

POINTER = "current"
_VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}(?:-\d+)?$")


def new_version_name(data_hash: str, now: datetime | None = None) -> str:
    t = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{t}-{data_hash[:8]}"


def publish(root: str | Path, version: str, write: Callable[[Path], None],
            accept: Callable[[Path], bool] | None = None) -> Path | None:
    """Run ``write(tmp_dir)`` to fill a new version, then move it into ``root/version`` and point
    ``current`` at it. If ``write`` raises, or ``accept(tmp_dir)`` says no (the quality gate), the
    temp dir is removed, ``current`` is untouched and (for ``accept``) None is returned."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / version
    n = 1
    while final.exists():  # two trainings on the same data within one second
        final = root / f"{version}-{n}"
        n += 1
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=root))
    try:
        write(tmp)
        if accept is not None and not accept(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        _fsync_dir_files(tmp)
        os.rename(tmp, final)  # same filesystem: atomic
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer_tmp = root / f".{POINTER}.{os.getpid()}.tmp"
    pointer_tmp.write_text(final.name + "\n", encoding="utf-8")
    os.replace(pointer_tmp, root / POINTER)
    return final


def _fsync_dir_files(d: Path) -> None:
    for p in d.rglob("*"):
        if p.is_file():
            with p.open("rb") as fh:
                os.fsync(fh.fileno())


def current_version(root: str | Path) -> Path:
    """The live version directory under ``root`` (OmaError when there is none)."""
    root = Path(root)
    ptr = root / POINTER
    if not ptr.is_file():
        raise OmaError(f"{root}: no trained model yet (no '{POINTER}' pointer)")
    name = ptr.read_text(encoding="utf-8").strip()
    d = root / name
    if not name or not d.is_dir():
        raise OmaError(f"{ptr}: points at missing version {name!r}")
    return d


def list_versions(root: str | Path) -> list[str]:
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _VERSION.match(p.name))
