"""One Label Studio instance per labeller: the isolation Label Studio Community can give.

Community has one organisation and no annotator role: any member reads every project (gold
included), exports it, reads webhook headers and PATCHes/DELETEs any annotation by id. Separate
organisations do not help (``Project.has_permission`` only rejects revoked members). What does
isolate is a separate database, so each labeller gets their own Label Studio server (own SQLite,
own admin, own port), started through :func:`server.start` with a workspace home of its own;
the researcher's instance (``oma ls up``) holds the gold answers and never sees a labeller.

Each workspace home (``<study>/workspaces/<slug>/``) has its own ``credentials.json`` (0600,
generated, never the researcher's) and ``ls.json``, exactly as ``oma ls up`` writes them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from oma_analysis import OmaError
from oma_analysis.labelstudio import server

# Credentials a researcher has in the environment for *their* server: a workspace must never
# inherit them (server.start would otherwise give every workspace the researcher's admin token).
_RESEARCHER_ENV = ("OMA_LS_USERNAME", "OMA_LS_PASSWORD", "OMA_LS_TOKEN", "OMA_LS_URL")


def slug(email: str) -> str:
    """A file-system-safe name for a labeller (``ann.one@x.org`` -> ``ann.one_x.org``)."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", email.strip().lower()).strip("._")
    if not s:
        raise OmaError(f"labeller {email!r}: not a usable e-mail address")
    return s


@dataclass
class Workspace:
    """A labeller's own Label Studio: where it lives and which project holds their queue."""

    email: str
    home: str  # the workspace's oma home (credentials.json, ls.json, label-studio/)
    port: int
    url: str = ""
    project_id: int | None = None
    password_file: str = ""  # the labeller's initial password (0600), handed over with the invite

    def admin_token(self) -> str:
        # Read the workspace's own file: load_credentials would prefer $OMA_LS_TOKEN, the researcher's.
        import json

        path = Path(self.home) / "credentials.json"
        try:
            return json.loads(path.read_text())["token"]
        except (OSError, ValueError, KeyError):
            raise OmaError(f"workspace of {self.email}: no admin token in {path}; run `oma study up`") from None

    def running(self) -> bool:
        st = server.ServerState.load(Path(self.home))
        from oma_analysis.lifecycle.procs import alive

        return bool(st and alive(st.pid))

    def client(self):
        from oma_analysis.labelstudio.client import connect

        return connect(self.url, self.admin_token())

    def to_json(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _without_researcher_env() -> Iterator[None]:
    saved = {k: os.environ.pop(k) for k in _RESEARCHER_ENV if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def start_all(workspaces: Sequence[Workspace], *, timeout: float | None = None) -> list[Workspace]:
    """Start every workspace's server concurrently (or find it running) and wait for each API.

    Starts are slow (migrations: 20-65 s alone, several minutes when k start together on a small
    machine), so they run in parallel and the wait scales with how many share the CPUs."""
    if not workspaces:
        return []
    cpus = os.cpu_count() or 1
    timeout = timeout or max(300.0, 120.0 * len(workspaces) / max(1, cpus) + 240.0)
    with _without_researcher_env(), ThreadPoolExecutor(max_workers=len(workspaces)) as pool:
        states = list(pool.map(lambda w: server.start(port=w.port, home=Path(w.home), timeout=timeout),
                               workspaces))
    for w, st in zip(workspaces, states, strict=True):
        w.url = st.url
        w.port = st.port
    return list(workspaces)


def stop_all(workspaces: Sequence[Workspace]) -> int:
    """Stop every workspace server (their process groups); how many were running."""
    with ThreadPoolExecutor(max_workers=max(1, len(workspaces))) as pool:
        return sum(pool.map(lambda w: server.stop(Path(w.home)), workspaces))


def labeller_password(ws: Workspace) -> str:
    """The labeller's initial password, generated once and kept 0600 in the workspace home."""
    path = Path(ws.password_file or Path(ws.home) / "labeller-password")
    ws.password_file = str(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(15))
    return path.read_text().strip()


def invite_url(ws: Workspace) -> str:
    """The sign-up link of the workspace's organisation (what the researcher sends the labeller)."""
    from oma_analysis.labelstudio.client import with_retries

    inv = with_retries(lambda: ws.client().organizations.invites.get_invite_link(), f"invite link of {ws.url}")
    return ws.url.rstrip("/") + inv.invite_url
