"""The live intent classifier of this process, following the models directory's ``current`` pointer.

Models live in ``OMA_BACKEND_MODELS`` (default ``$OMA_HOME/backend/models``) as versioned
directories written by ``oma_analysis.classifier.train`` (atomic swap). Every request reads the
small pointer file; when it names a new version (a retrain finished, in this worker or another
one), the new model is loaded and replaces the old one in a single assignment, so requests in
flight finish on the model they started with.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import numpy as np

from oma_analysis.lifecycle.backend import models_dir  # the backend's models folder, shared with `oma backend up`

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_live: Live | None = None
_failed: dict[str, float] = {}  # version -> when it failed to load while another one was live
RETRY_LOAD_S = 5.0


def quantize() -> bool:
    """int8 dynamic quantisation of the classifier's Linear layers (default on: ~2x faster on CPU)."""
    return os.environ.get("OMA_QUANTIZE", "1").lower() not in ("0", "false", "no")


def current_version() -> str | None:
    ptr = models_dir() / "current"
    try:
        name = ptr.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name if name and (models_dir() / name).is_dir() else None


class Live:
    """A loaded classifier and its version name."""

    def __init__(self, clf: Any) -> None:
        self.clf = clf
        self.version: str = clf.version

    def predict_not_met(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        return self.clf.predict(pairs)


def current() -> Live | None:
    """The classifier named by the pointer, loading it on first use or after a swap.

    While one request thread loads a new version, the other threads of this worker keep answering
    with the old model instead of queueing behind the load (seconds on a busy CPU); only a worker
    with no model yet waits. A version that fails to load is logged, the old model stays, and the
    load is tried again after ``RETRY_LOAD_S``.
    """
    global _live
    name = current_version()
    if name is None:
        return None
    live = _live
    if live is not None and (live.version == name or time.monotonic() - _failed.get(name, -1e9) < RETRY_LOAD_S):
        return live
    if not _lock.acquire(blocking=live is None):
        return live
    try:
        if _live is None or _live.version != name:
            from oma_analysis.classifier import IntentClassifier

            _set_threads()
            try:
                clf = IntentClassifier.load(models_dir(), version=name, quantize=quantize())
            except Exception:
                if _live is None:
                    raise
                logger.exception("could not load intent classifier %s; still serving %s (retry in %.0f s)",
                                 name, _live.version, RETRY_LOAD_S)
                _failed[name] = time.monotonic()
                return _live
            logger.info("loaded intent classifier %s (quantized=%s)", name, quantize())
            _live = Live(clf)
        return _live
    finally:
        _lock.release()


def _set_threads() -> None:
    n = os.environ.get("OMA_TORCH_THREADS")
    if n:
        import torch

        torch.set_num_threads(int(n))
