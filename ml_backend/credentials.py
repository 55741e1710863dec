"""The backend's credentials: always required, generated on first start, kept like Label Studio's.

``OMA_BACKEND_USER`` + ``OMA_BACKEND_PASSWORD`` (both set) win; otherwise the pair is read from
``OMA_BACKEND_CREDENTIALS`` (default ``$OMA_HOME/backend/credentials.json``), which is created
on first use with a random password, mode 0600 (readable only by the owner). There is no way to
switch authentication off.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from oma_analysis import OmaError

USER = "oma-backend"
MIN_PASSWORD = 12  # a generated one has 32 characters


def credentials_path() -> Path:
    p = os.environ.get("OMA_BACKEND_CREDENTIALS")
    if p:
        return Path(p)
    from oma_analysis.labelstudio.server import oma_home

    return oma_home() / "backend" / "credentials.json"


def load_or_create(path: Path | None = None, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The (user, password) pair; generates and saves one (0600) when there is none yet.
    ``env``: the environment the backend runs with (default: this process's)."""
    env = os.environ if env is None else env
    user, pw = env.get("OMA_BACKEND_USER"), env.get("OMA_BACKEND_PASSWORD")
    if user and pw:
        return user, pw
    path = path or credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: several gunicorn workers start at once; exactly one writes, the others read.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"user": USER, "password": secrets.token_urlsafe(24)}, fh)
    for _ in range(50):  # the writer may not have flushed yet
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            return str(d["user"]), str(d["password"])
        except (ValueError, KeyError):
            import time

            time.sleep(0.05)
    raise OmaError(f"{path}: not a credentials file (expected {{\"user\": ..., \"password\": ...}})")


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, creds: tuple[str, str] | None) -> None:
    """Refuse to listen beyond this machine without (strong enough) credentials."""
    if is_loopback(host):
        return
    if not creds or not creds[0] or len(creds[1] or "") < MIN_PASSWORD:
        raise OmaError(f"refusing to bind {host!r} (not loopback) without credentials: set OMA_BACKEND_USER and "
                       f"OMA_BACKEND_PASSWORD (at least {MIN_PASSWORD} characters) or let the backend "
                       "generate them (OMA_BACKEND_CREDENTIALS)")
