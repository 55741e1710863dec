"""Start, stop and register the ML backend (what ``oma backend up|down|connect`` do).

The backend runs under gunicorn in the background; its state (url, pid, log) is kept in
``$OMA_HOME/backend/backend.json`` like Label Studio's in ``ls.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from oma_analysis import OmaError
from oma_analysis.procs import alive, terminate_group

DEFAULT_PORT = 9090


def backend_home(home: Path | None = None) -> Path:
    from oma_analysis.labelstudio.server import oma_home

    return (home or oma_home()) / "backend"


@dataclass
class BackendState:
    url: str
    pid: int
    port: int
    workers: int
    log: str
    models: str

    @classmethod
    def load(cls, home: Path | None = None) -> BackendState | None:
        path = backend_home(home) / "backend.json"
        return cls(**json.loads(path.read_text())) if path.exists() else None

    def save(self, home: Path | None = None) -> None:
        d = backend_home(home)
        d.mkdir(parents=True, exist_ok=True)
        (d / "backend.json").write_text(json.dumps(asdict(self), indent=1))


def _auth() -> tuple[str, str] | None:
    u, p = os.environ.get("OMA_BACKEND_USER"), os.environ.get("OMA_BACKEND_PASSWORD")
    return (u, p) if u and p else None


def start(*, port: int = DEFAULT_PORT, host: str = "127.0.0.1", workers: int = 1, threads: int = 4,
          home: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120.0) -> BackendState:
    """Start gunicorn serving ``ml_backend._wsgi:app`` (or return the one running) and wait for /health."""
    from .intent import models_dir

    state = BackendState.load(home)
    if state and alive(state.pid):
        wait_ready(state.url, timeout=timeout)
        return state
    d = backend_home(home)
    d.mkdir(parents=True, exist_ok=True)
    log = d / "backend.log"
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("OMA_BACKEND_MODELS", str(models_dir()))
    # Split the cores between workers so they don't oversubscribe (torch defaults to all cores each).
    full_env.setdefault("OMA_TORCH_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, workers))))
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers),
           "--threads", str(threads), "--worker-class", "gthread", "--timeout", "300",
           "--graceful-timeout", "10", "ml_backend._wsgi:app"]
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, env=full_env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=str(Path(__file__).resolve().parents[1]))
    state = BackendState(url=f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}", pid=proc.pid,
                         port=port, workers=workers, log=str(log), models=full_env["OMA_BACKEND_MODELS"])
    state.save(home)
    try:
        wait_ready(state.url, timeout=timeout, proc=proc, log=log)
    except OmaError:
        stop(home)
        raise
    return state


def wait_ready(url: str, *, timeout: float = 120.0, proc: subprocess.Popen | None = None,
               log: Path | None = None) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise OmaError(f"ML backend exited with code {proc.returncode} while starting; log {log}:\n{tail}")
        try:
            if requests.get(url + "/health", auth=_auth(), timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise OmaError(f"ML backend at {url} did not answer /health in {timeout:.0f} s; see {log}")


def stop(home: Path | None = None, timeout: float = 20.0) -> bool:
    state = BackendState.load(home)
    if not state:
        return False
    was = terminate_group(state.pid, timeout)
    (backend_home(home) / "backend.json").unlink(missing_ok=True)
    return was


def connect(client: Any, project_id: int, url: str, *, title: str = "oma backend", timeout: float = 100.0) -> Any:
    """Register the backend at ``url`` for a project (interactive, basic auth when configured), or
    update the registration that already points there. Label Studio adds a webhook to ``url/webhook``
    for every event when a backend is created; that is how annotations reach ``fit``."""
    from oma_analysis.labelstudio.client import with_retries

    auth = _auth()
    fields: dict[str, Any] = dict(url=url, is_interactive=True, title=title, timeout=timeout, auto_update=True)
    if auth:
        fields.update(auth_method="BASIC_AUTH", basic_auth_user=auth[0], basic_auth_pass=auth[1])
    existing = [m for m in with_retries(lambda: list(client.ml.list(project=project_id)), "list ML backends")
                if (m.url or "").rstrip("/") == url.rstrip("/")]
    if existing:
        ml = with_retries(lambda: client.ml.update(id=existing[0].id, project=project_id, **fields),
                          f"update ML backend {existing[0].id}")
    else:
        ml = with_retries(lambda: client.ml.create(project=project_id, **fields),
                          f"connect ML backend to {project_id}")
    _authorise_webhook(client, project_id, url, auth)
    return ml


def _authorise_webhook(client: Any, project_id: int, url: str, auth: tuple[str, str] | None) -> None:
    """Label Studio's automatic ML webhook carries no credentials (basic auth applies only to
    /setup and /predict), so put the Authorization header on it, or the backend refuses it (401)."""
    import base64

    from oma_analysis.labelstudio.client import with_retries

    hook_url = url.rstrip("/") + "/webhook"
    headers = {"Authorization": "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()} if auth else {}
    hooks = with_retries(lambda: list(client.webhooks.list(project=str(project_id))), "list webhooks")
    for h in hooks:
        if h.url == hook_url and h.project == project_id and (h.headers or {}) != headers:
            with_retries(lambda h=h: client.webhooks.update(id=h.id, headers=headers), f"update webhook {h.id}")
