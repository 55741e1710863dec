"""Where oma finds what is not part of the installed package: the shared data sets and the manual.

No path climbs out of the package (no ``__file__``-relative climb): installed, the package sits in
site-packages, far from any checkout. The shared data folder (holding ``datasets/``) comes from an
explicit argument or ``OMA_SHARED_DIR``; the manual's sources from ``OMA_MANUAL_DIR`` or ``manual/`` in
the working directory (the checkout, as ``oma manual build --config manual/mkdocs.yml``).

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> dataset_dir("ifeval", d) == Path(d) / "datasets" / "ifeval"
True
"""

from __future__ import annotations

import os
from pathlib import Path

from oma_analysis import OmaError

__all__ = ["dataset_dir", "manual_dir", "shared_dir"]

SHARED_ENV = "OMA_SHARED_DIR"
MANUAL_ENV = "OMA_MANUAL_DIR"


def shared_dir(path: str | Path | None = None) -> Path:
    """The shared data folder: ``path`` when given, else ``$OMA_SHARED_DIR``; an OmaError naming the
    variable when neither is set (the data sets are read in place, never shipped with oma)."""
    p = path if path is not None else os.environ.get(SHARED_ENV)
    if not p:
        raise OmaError(f"no shared data folder: set {SHARED_ENV} to the folder holding datasets/ "
                       "(e.g. ../shared beside the checkout) or pass its path")
    p = Path(p)
    if not p.is_dir():
        raise OmaError(f"{p}: the shared data folder ({SHARED_ENV}) does not exist")
    return p


def dataset_dir(name: str, path: str | Path | None = None) -> Path:
    """``<shared>/datasets/<name>`` (see :func:`shared_dir`)."""
    return shared_dir(path) / "datasets" / name


def manual_dir() -> Path:
    """The labeller manual's folder (``mkdocs.yml``, ``docs/``): ``$OMA_MANUAL_DIR``, else ``./manual``."""
    return Path(os.environ.get(MANUAL_ENV) or "manual").resolve()
