"""gunicorn settings for the backend (``gunicorn -c python:ml_backend.gunicorn_conf ...``): refuse to
listen on a non-loopback address unless credentials (generated on first start, or strong enough
ones from the environment) are in force, before any worker starts."""

from __future__ import annotations

from typing import Any


def on_starting(server: Any) -> None:
    from ml_backend.credentials import check_bind, load_or_create

    creds = load_or_create()
    for addr in server.cfg.address:
        if isinstance(addr, tuple):  # (host, port); a unix socket path is local by nature
            check_bind(str(addr[0]), creds)
