"""Retraining from Label Studio annotations, in the background, every N new labels.

State shared by all gunicorn workers lives next to the models (``intent.models_dir()``):
``.labels.json`` counts labels since the last retrain per project (updated under an exclusive
``flock``), ``.retrain.lock`` is held by the one thread that is training, and ``.retrain.json``
says what the last retrain did (running / done / failed / interrupted, version, task count, error). A label that
arrives while a retrain runs marks the project pending, and the thread trains again when done, so
no label is left out for long.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .intent import models_dir

logger = logging.getLogger(__name__)

COUNTS = ".labels.json"
LOCK = ".retrain.lock"
STATUS = ".retrain.json"


def retrain_every() -> int:
    try:
        n = int(os.environ.get("OMA_RETRAIN_EVERY", "20"))
    except ValueError:
        raise ValueError("OMA_RETRAIN_EVERY must be a positive integer") from None
    return max(1, n)


def train_kwargs() -> dict[str, Any]:
    """Fine-tuning settings for retrains (env: OMA_TRAIN_EPOCHS, OMA_TRAIN_MAX_LENGTH)."""
    return {"epochs": float(os.environ.get("OMA_TRAIN_EPOCHS", "2")),
            "max_length": int(os.environ.get("OMA_TRAIN_MAX_LENGTH", "256"))}


@contextlib.contextmanager
def _flocked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _write(path: Path, obj: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def status() -> dict:
    return _read(models_dir() / STATUS)


def on_new_label(project: int, *, hostname: str = "", access_token: str = "") -> dict:
    """Count one new label for ``project``; every ``retrain_every()`` labels start a retrain."""
    root = models_dir()
    every = retrain_every()
    with _flocked(root / (COUNTS + ".lock")):
        counts = _read(root / COUNTS)
        key = str(project)
        n = int(counts.get(key, 0)) + 1
        due = n >= every
        counts[key] = 0 if due else n
        _write(root / COUNTS, counts)
    started = start_retrain(project, hostname=hostname, access_token=access_token) if due else False
    return {"project": project, "labels_since_retrain": 0 if due else n, "retrain_every": every,
            "retrain_started": started}


def start_retrain(project: int, *, hostname: str = "", access_token: str = "") -> bool:
    """Start a background retrain unless one is running (then mark it pending). Never blocks."""
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    fh = open(root / LOCK, "a+")  # noqa: SIM115 - held by the thread until it finishes
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        with _flocked(root / (COUNTS + ".lock")):
            counts = _read(root / COUNTS)
            counts.setdefault("_pending", [])
            if project not in counts["_pending"]:
                counts["_pending"].append(project)
            _write(root / COUNTS, counts)
        return False
    t = threading.Thread(target=_run, args=(fh, project, hostname, access_token),
                         name=f"oma-retrain-{project}", daemon=True)
    t.start()
    return True


def _take_pending(root: Path) -> int | None:
    with _flocked(root / (COUNTS + ".lock")):
        counts = _read(root / COUNTS)
        pending = counts.get("_pending") or []
        if not pending:
            return None
        nxt = pending.pop(0)
        counts["_pending"] = pending
        _write(root / COUNTS, counts)
        return int(nxt)


def _run(lock_fh: Any, project: int, hostname: str, access_token: str) -> None:
    root = models_dir()
    try:
        while True:
            started = time.time()
            _write(root / STATUS, {"state": "running", "project": project, "started": started, "pid": os.getpid()})
            try:
                res = retrain(project, hostname=hostname, access_token=access_token)
                _write(root / STATUS, {"state": "done", "project": project, "started": started,
                                       "finished": time.time(), **res})
                logger.info("retrained on project %s: %s", project, res)
            except Exception as exc:  # a failed retrain leaves the old model live; say why
                logger.exception("retrain on project %s failed", project)
                _write(root / STATUS, {"state": "failed", "project": project, "started": started,
                                       "finished": time.time(), "error": f"{type(exc).__name__}: {exc}"})
            nxt = _take_pending(root)
            if nxt is None:
                break
            project = nxt
    finally:
        fcntl.flock(lock_fh, fcntl.LOCK_UN)
        lock_fh.close()


def recover() -> dict | None:
    """At worker start: a status still ``running`` while no thread holds the retrain lock means the
    backend was killed (or stopped) in the middle of a retrain. The previous model is still
    ``current`` (a version is renamed into place only when complete); mark the status
    ``interrupted``, remove the half-written version directories, and make the project's next label
    start a retrain so the labels it was covering are not left out for long. Returns the new status,
    or None when there was nothing to recover (or a retrain is running in another worker)."""
    root = models_dir()
    if not (root / STATUS).is_file():
        return None
    with open(root / LOCK, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a retrain is running (another worker): nothing was cut off
        try:
            st = status()
            if st.get("state") != "running":
                return None
            removed = []
            for p in sorted([*root.glob(".tmp-*"), *root.glob(".export-*")]):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                    removed.append(p.name)
            for p in root.glob(".current.*.tmp"):
                p.unlink(missing_ok=True)
            new = {**st, "state": "interrupted", "finished": time.time(), "removed": removed,
                   "error": "the backend stopped during this retrain; the previous model stayed live"}
            _write(root / STATUS, new)
            project = st.get("project")
            if isinstance(project, int):
                with _flocked(root / (COUNTS + ".lock")):
                    counts = _read(root / COUNTS)
                    counts[str(project)] = max(int(counts.get(str(project), 0)), retrain_every() - 1)
                    _write(root / COUNTS, counts)
            logger.warning("retrain of project %s was interrupted (backend stopped); previous model kept, "
                           "removed %s", project, removed)
            return new
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _client(hostname: str, access_token: str) -> Any:
    """Label Studio client: OMA_LS_URL/OMA_LS_TOKEN (or `oma ls up` state), else what /setup sent."""
    from oma_analysis.labelstudio.client import connect

    if os.environ.get("OMA_LS_URL") or not (hostname and access_token):
        return connect()
    return connect(hostname, access_token)


def retrain(project: int, *, hostname: str = "", access_token: str = "") -> dict:
    """Pull the project's annotations (label-studio-sdk export), aggregate per task, fine-tune and
    publish a new version (atomic swap). Returns the new version and its card's key numbers."""
    from oma_analysis.classifier import train
    from oma_analysis.classifier_export import training_frame
    from oma_analysis.labelstudio.pull import pull

    client = _client(hostname, access_token)
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    # The export (labels) goes next to the models, not to /tmp, so recover() removes it after a kill.
    with tempfile.TemporaryDirectory(prefix=".export-", dir=root) as tmp:
        export = pull(client, project, Path(tmp) / "export.json")
        df = training_frame(export)
        res = train(df, models_dir(), **train_kwargs())
    card = res.card
    return {"version": res.path.name, "n_tasks": int(len(df)), "accuracy": card.get("accuracy"),
            "auroc": card.get("auroc")}
