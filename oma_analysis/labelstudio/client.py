"""A label-studio-sdk client for the configured server, and retries for flaky calls."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from oma_analysis import OmaError
from oma_analysis.labelstudio.server import ServerState, load_credentials
from oma_analysis.lifecycle import oma_home

T = TypeVar("T")


def connect(url: str | None = None, token: str | None = None, timeout: float = 60.0):
    """``LabelStudio`` client from arguments, ``OMA_LS_URL``/``OMA_LS_TOKEN``, or ``oma ls up`` state."""
    from label_studio_sdk import LabelStudio

    url = url or os.environ.get("OMA_LS_URL")
    if not url:
        state = ServerState.load(oma_home())
        if state is None:
            raise OmaError("no Label Studio configured: run `oma ls up` or set OMA_LS_URL and OMA_LS_TOKEN")
        url = state.url
    token = token or os.environ.get("OMA_LS_TOKEN") or load_credentials().token
    return LabelStudio(base_url=url, api_key=token, timeout=timeout)


def _transient(exc: BaseException) -> bool:
    import httpx

    if isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and status >= 500


def with_retries(fn: Callable[[], T], what: str, *, attempts: int = 5, base_delay: float = 0.5,
                 max_delay: float = 8.0) -> T:
    """Call ``fn``; on connection errors or 5xx retry with exponential backoff, then fail clearly."""
    for i in range(attempts):
        try:
            return fn()
        except Exception as exc:
            if not _transient(exc):
                status = getattr(exc, "status_code", None)
                if isinstance(status, int) and 400 <= status < 500:
                    # A refusal (bad token, no permission, not found) is final: say so in one line
                    # instead of a traceback; only the response's detail, never request headers.
                    body = getattr(exc, "body", None)
                    detail = body.get("detail") if isinstance(body, dict) else None
                    raise OmaError(f"{what}: Label Studio refused the request (HTTP {status}"
                                   + (f": {str(detail)[:200]}" if detail else "") + ")") from exc
                raise
            if i == attempts - 1:
                raise OmaError(f"{what}: Label Studio unreachable after {attempts} attempts "
                               f"({type(exc).__name__}: {exc})") from exc
            time.sleep(min(max_delay, base_delay * 2**i))
    raise AssertionError("unreachable")
