"""Where oma finds what is not part of the installed package: the shared data sets, the manual, and
the two servers' environments (Label Studio's, the ML backend's).

No path climbs out of the package (no ``__file__``-relative climb): installed, the package sits in
site-packages, far from any checkout. The shared data folder (holding ``datasets/``) comes from an
explicit argument or ``OMA_SHARED_DIR``; the manual's sources from ``OMA_MANUAL_DIR`` or ``manual/`` in
the working directory (the checkout, as ``oma manual build --config manual/mkdocs.yml``).

Label Studio and the ML backend each run in an environment of their own, not in oma's: Label Studio
1.23.2 requires redis and rq (and pins Django's world); label-studio-ml 1.0.9's ``model.py`` imports
redis and rq at module level. oma's own environment holds neither (``make install`` builds
``.venv-ls`` and ``.venv-backend`` beside ``.venv``). Found, like the manual: an environment
variable, else the checkout's folder in the working directory, else this interpreter's own.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> dataset_dir("ifeval", d) == Path(d) / "datasets" / "ifeval"
True
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from oma_analysis import OmaError

__all__ = ["backend_python", "dataset_dir", "label_studio_env", "label_studio_exe", "label_studio_install_key",
           "label_studio_python", "manual_dir", "shared_dir", "user_cache"]

SHARED_ENV = "OMA_SHARED_DIR"
MANUAL_ENV = "OMA_MANUAL_DIR"
LABEL_STUDIO_ENV = "OMA_LABEL_STUDIO"
BACKEND_PYTHON_ENV = "OMA_BACKEND_PYTHON"


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


def user_cache(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/oma/<parts>`` (default ``~/.cache/oma/...``): per user, not per ``$OMA_HOME``,
    so every run and test session (each with its own home) shares what is slow to make."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "oma", *parts)


def label_studio_exe() -> Path:
    """Label Studio's ``label-studio`` command: ``$OMA_LABEL_STUDIO``, else ``.venv-ls/bin/label-studio``
    in the working directory (the checkout), else one beside this interpreter or on ``PATH``."""
    named = os.environ.get(LABEL_STUDIO_ENV)
    if named:
        if not Path(named).is_file():
            raise OmaError(f"{named}: no such file ({LABEL_STUDIO_ENV} names Label Studio's label-studio command)")
        return Path(named)
    for cand in (Path(".venv-ls/bin/label-studio").absolute(), Path(sys.executable).with_name("label-studio")):
        if cand.is_file():
            return cand
    found = shutil.which("label-studio")
    if not found:
        raise OmaError(f"Label Studio not found: set {LABEL_STUDIO_ENV} to its label-studio command, or run "
                       "`make install` in the checkout (builds .venv-ls with label-studio==1.23.2)")
    return Path(found)


def label_studio_install_key() -> str:
    """A hex key naming this Label Studio installation (its command's path and modification time,
    which reinstalling changes): for caches of what Label Studio's own code computed."""
    import hashlib

    exe = label_studio_exe()
    return hashlib.sha256(f"{exe.absolute()}\0{exe.stat().st_mtime_ns}".encode()).hexdigest()


#: oma's own interpreter settings: a process in another environment (Label Studio's) must not inherit them.
OWN_INTERPRETER_VARS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")


def label_studio_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default ``os.environ``) for a process run in Label Studio's environment: without
    oma's interpreter settings (:data:`OWN_INTERPRETER_VARS`)."""
    return {k: v for k, v in (os.environ if environ is None else environ).items() if k not in OWN_INTERPRETER_VARS}


def label_studio_python() -> Path:
    """The interpreter of Label Studio's environment (for its own config validator)."""
    py = label_studio_exe().with_name("python")  # not resolved: a venv's python is a symlink out of it
    return py if py.is_file() else Path(sys.executable)


def backend_python() -> Path:
    """The interpreter that runs the ML backend: ``$OMA_BACKEND_PYTHON``, else
    ``.venv-backend/bin/python`` in the working directory (the checkout), else this one (as in the
    backend's Docker image, which is one environment for the backend alone)."""
    named = os.environ.get(BACKEND_PYTHON_ENV)
    if named:
        if not Path(named).is_file():
            raise OmaError(f"{named}: no such file ({BACKEND_PYTHON_ENV} names the ML backend's python)")
        return Path(named)
    cand = Path(".venv-backend/bin/python").absolute()
    return cand if cand.is_file() else Path(sys.executable)
