"""The ML backend's process control and credentials: start, stop, wait for and register the backend
(what ``oma backend up|down|status|connect`` do), where its state, credentials and models live.

The backend (``ml_backend/``, served by gunicorn in its own process group) imports these from here;
nothing in ``oma_analysis`` imports ``ml_backend`` (gunicorn is given the app's module path instead).
Its state (url, pid, log) is kept in ``$OMA_HOME/backend/backend.json`` like Label Studio's in ``ls.json``.

Credentials: ``OMA_BACKEND_USER`` + ``OMA_BACKEND_PASSWORD`` (both set) win; otherwise the pair is read
from ``OMA_BACKEND_CREDENTIALS`` (default ``$OMA_HOME/backend/credentials.json``), which is created on
first use with a random password, mode 0600 (readable only by the owner). There is no way to switch
authentication off.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import secrets
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from oma_analysis import OmaError
from oma_analysis.lifecycle.procs import alive, oma_home, terminate_group
from oma_analysis.locations import backend_python

NO_TRAINING_KEY = "oma_no_training"  # the /setup extra_params key: why a project must never be trained on


def models_dir() -> Path:
    """Where the backend's classifier versions live: ``OMA_BACKEND_MODELS``, else ``$OMA_HOME/backend/models``."""
    d = os.environ.get("OMA_BACKEND_MODELS")
    if d:
        return Path(d).resolve()
    return oma_home() / "backend" / "models"


def _backend_root() -> str:
    """The folder holding the ``ml_backend`` package (gunicorn's working directory), found without
    importing it: the backend is a sibling of the package in a checkout, not part of an install."""
    spec = importlib.util.find_spec("ml_backend")
    if spec is None or not spec.submodule_search_locations:
        raise OmaError("the ML backend (package ml_backend) is not importable here; run oma from the "
                       "repository checkout or put it on PYTHONPATH")
    return str(Path(next(iter(spec.submodule_search_locations))).resolve().parent)


USER = "oma-backend"
MIN_PASSWORD = 12  # a generated one has 32 characters


def credentials_path() -> Path:
    p = os.environ.get("OMA_BACKEND_CREDENTIALS")
    if p:
        return Path(p)
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


DEFAULT_PORT = 9090


def backend_home(home: Path | None = None) -> Path:
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


def credentials_file(home: Path | None = None) -> Path:
    """``home``'s credentials file when a home is given, else OMA_BACKEND_CREDENTIALS / $OMA_HOME's."""
    return backend_home(home) / "credentials.json" if home else credentials_path()


def _auth(home: Path | None = None) -> tuple[str, str]:
    """The backend's credentials (env, else the 0600 file, made on first use)."""
    return load_or_create(credentials_file(home))


def start(*, port: int = DEFAULT_PORT, host: str = "127.0.0.1", workers: int = 1, threads: int = 4,
          home: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120.0) -> BackendState:
    """Start gunicorn serving ``ml_backend._wsgi:app`` (or return the one running) and wait for /health."""
    creds_file = credentials_file(home)
    # The credentials the backend will use: from its environment (env overrides), else the file.
    auth = load_or_create(creds_file, {**os.environ, **(env or {})})
    check_bind(host, auth)
    state = BackendState.load(home)
    if state and alive(state.pid):
        wait_ready(state.url, timeout=timeout, auth=auth)
        return state
    d = backend_home(home)
    d.mkdir(parents=True, exist_ok=True)
    log = d / "backend.log"
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("OMA_BACKEND_MODELS", str(models_dir()))
    full_env["OMA_BACKEND_CREDENTIALS"] = str(creds_file)  # the file start() and connect() read
    # Split the cores between workers so they don't oversubscribe (torch defaults to all cores each).
    full_env.setdefault("OMA_TORCH_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, workers))))
    # The backend's own environment (label-studio-ml needs redis + rq, which oma's does not have).
    cmd = [str(backend_python()), "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers),
           "--threads", str(threads), "--worker-class", "gthread", "--timeout", "300",
           "--graceful-timeout", "10", "-c", "python:ml_backend.gunicorn_conf", "ml_backend._wsgi:app"]
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, env=full_env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=_backend_root())
    state = BackendState(url=f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}", pid=proc.pid,
                         port=port, workers=workers, log=str(log), models=full_env["OMA_BACKEND_MODELS"])
    state.save(home)
    try:
        wait_ready(state.url, timeout=timeout, proc=proc, log=log, auth=auth)
    except OmaError:
        stop(home)
        raise
    return state


def wait_ready(url: str, *, timeout: float = 120.0, proc: subprocess.Popen | None = None,
               log: Path | None = None, auth: tuple[str, str] | None = None) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise OmaError(f"ML backend exited with code {proc.returncode} while starting; log {log}:\n{tail}")
        try:
            if requests.get(url + "/health", auth=auth or _auth(), timeout=2).status_code == 200:
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


def connect(client: Any, project_id: int, url: str, *, title: str = "oma backend", timeout: float = 100.0,
            no_training: str | None = None, home: Path | None = None) -> Any:
    """Register the backend at ``url`` for a project (interactive, basic auth), or update the
    registration that already points there. ``no_training``: why this project's data must never be
    trained on (e.g. its licence); the backend gets it with /setup (``extra_params``).

    Credentials: Label Studio 1.23 keeps ``basic_auth_pass`` write-only (its ML backend serializer
    never returns it), so members cannot read it. Label Studio also creates a webhook to
    ``url/webhook`` for a new backend; a webhook can only authenticate with ``headers``, which every
    member can read, so that webhook is removed and the backend pulls new labels itself instead."""
    from oma_analysis.labelstudio.client import with_retries

    auth = _auth(home)
    fields: dict[str, Any] = dict(url=url, is_interactive=True, title=title, timeout=timeout, auto_update=True,
                                  auth_method="BASIC_AUTH", basic_auth_user=auth[0], basic_auth_pass=auth[1],
                                  extra_params={NO_TRAINING_KEY: no_training} if no_training else {})
    existing = [m for m in with_retries(lambda: list(client.ml.list(project=project_id)), "list ML backends")
                if (m.url or "").rstrip("/") == url.rstrip("/")]
    if existing:
        ml = with_retries(lambda: client.ml.update(id=existing[0].id, project=project_id, **fields),
                          f"update ML backend {existing[0].id}")
    else:
        ml = with_retries(lambda: client.ml.create(project=project_id, **fields),
                          f"connect ML backend to {project_id}")
    _remove_ml_webhook(client, project_id, url)
    return ml


def _remove_ml_webhook(client: Any, project_id: int, url: str) -> None:
    from oma_analysis.labelstudio.client import with_retries

    hook_url = url.rstrip("/") + "/webhook"
    hooks = with_retries(lambda: list(client.webhooks.list(project=str(project_id))), "list webhooks")
    for h in hooks:
        if h.url == hook_url and h.project == project_id:
            with_retries(lambda h=h: client.webhooks.delete(id=h.id), f"delete webhook {h.id}")
