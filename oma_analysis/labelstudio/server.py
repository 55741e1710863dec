"""Start, stop and find a local Label Studio server.

State lives in a home directory (``$OMA_HOME``, default ``./.oma``):
``credentials.json`` (admin e-mail, password, API token, Django secret; mode 0600, generated once
unless given by ``OMA_LS_USERNAME`` / ``OMA_LS_PASSWORD`` / ``OMA_LS_TOKEN``) and ``ls.json``
(url, pid, data dir, database). Secrets never go to stdout or the log.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from oma_analysis import OmaError
from oma_analysis.lifecycle.procs import alive, oma_home, terminate_group
from oma_analysis.locations import label_studio_env, label_studio_exe

#: Modules that run inside Label Studio's environment (team mode's Django settings, its validator).
LS_ENV_DIR = Path(__file__).resolve().parent / "ls_env"

DEFAULT_PORT = 8080


@dataclass
class Credentials:
    username: str
    password: str
    token: str
    secret_key: str

    def redacted(self) -> dict[str, str]:
        return {"username": self.username, "password": "***", "token": "***"}


def load_credentials(home: Path | None = None, *, save_env: bool = False) -> Credentials:
    """Credentials from the environment, else from ``credentials.json``, else generated and saved.

    Values from the environment go into the file only when the file lacks them, or with ``save_env``
    (:func:`start`, launching a server with them): merely reading credentials while ``OMA_LS_TOKEN``
    points at another server must not overwrite this home's saved token and password."""
    home = home or oma_home()
    path = home / "credentials.json"
    saved: dict[str, str] = {}
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise OmaError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    given = {"username": os.environ.get("OMA_LS_USERNAME"), "password": os.environ.get("OMA_LS_PASSWORD"),
             "token": os.environ.get("OMA_LS_TOKEN")}
    defaults = {
        "username": "admin@oma.local",
        "password": secrets.token_urlsafe(18),
        # Label Studio's legacy API tokens are 40 hex characters.
        "token": secrets.token_hex(20),
        "secret_key": secrets.token_urlsafe(40),
    }
    if save_env:
        stored = {k: given.get(k) or saved.get(k) or default for k, default in defaults.items()}
    else:
        stored = {k: saved.get(k) or given.get(k) or default for k, default in defaults.items()}
    if stored != saved:
        home.mkdir(parents=True, exist_ok=True)
        # Create with 0600 from the start so the secret is never world-readable, even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, indent=1)
        os.chmod(path, 0o600)
    return Credentials(**{k: given.get(k) or v for k, v in stored.items()})


# Label Studio reads each setting from LABEL_STUDIO_<name>, then HEARTEX_<name>, then <name>: an
# inherited prefixed variable would silently win over ours, so these are removed before starting.
DB_SETTINGS = ("DJANGO_DB", "POSTGRE_NAME", "POSTGRE_USER", "POSTGRE_PASSWORD", "POSTGRE_HOST", "POSTGRE_PORT")
LS_PREFIXES = ("LABEL_STUDIO_", "HEARTEX_", "")
_TEAM_SETTINGS = ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_HTTPONLY", "CSRF_TRUSTED_ORIGINS",
                  "ALLOWED_HOSTS", "SSRF_PROTECTION_ENABLED", "USE_DEFAULT_BANNED_SUBNETS",
                  "USER_ADDITIONAL_BANNED_SUBNETS", "ML_BLOCK_LOCAL_IP", "DJANGO_SETTINGS_MODULE")


def inherited_env(settings: tuple[str, ...]) -> dict[str, str]:
    """This process's environment for a Label Studio process: without oma's interpreter settings and
    without any spelling of ``settings`` (``LABEL_STUDIO_<name>``, ``HEARTEX_<name>``, ``<name>``),
    which would silently win over the values the caller sets."""
    drop = {p + n for p in LS_PREFIXES for n in settings}
    return {k: v for k, v in label_studio_env().items() if k not in drop}


def database_env(database_url: str | None) -> dict[str, str]:
    """Label Studio's environment for a database URL (``sqlite`` default, or ``postgresql://``)."""
    if not database_url:
        return {}
    u = urlparse(database_url)
    if u.scheme not in ("postgres", "postgresql"):
        raise OmaError(f"--database-url: unsupported scheme {u.scheme!r}; use postgresql://user:pw@host:port/db")
    try:
        port = u.port or 5432
    except ValueError:
        raise OmaError(f"--database-url: bad port in {redact_database_url(database_url)!r}") from None
    return {
        "DJANGO_DB": "default",
        "POSTGRE_NAME": unquote(u.path.lstrip("/")) or "labelstudio",
        "POSTGRE_USER": unquote(u.username or "postgres"),
        "POSTGRE_PASSWORD": unquote(u.password or ""),
        "POSTGRE_HOST": u.hostname or "127.0.0.1",
        "POSTGRE_PORT": str(port),
    }


def redact_database_url(database_url: str | None) -> str:
    """``sqlite``, or the URL as ``postgresql://user@host:port/db`` (never the password)."""
    if not database_url:
        return "sqlite"
    u = urlparse(database_url)
    host = u.hostname or "127.0.0.1"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = u.port or 5432
    except ValueError:
        port = "?"
    user = f"{u.username}@" if u.username else ""
    return f"{u.scheme}://{user}{host}:{port}{u.path}"


@dataclass
class ServerState:
    url: str
    pid: int
    data_dir: str
    port: int
    database: str  # "sqlite" or the postgres URL without its password
    log: str
    # Team mode (``--host``): the labellers' HTTPS address and the nginx in front of Label Studio.
    public_url: str | None = None
    proxy_pid: int | None = None

    @classmethod
    def load(cls, home: Path | None = None) -> ServerState | None:
        path = (home or oma_home()) / "ls.json"
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, home: Path | None = None) -> None:
        home = home or oma_home()
        home.mkdir(parents=True, exist_ok=True)
        (home / "ls.json").write_text(json.dumps(asdict(self), indent=1))


def start(
    *,
    port: int = DEFAULT_PORT,
    data_dir: str | Path | None = None,
    database_url: str | None = None,
    home: Path | None = None,
    timeout: float = 240.0,
    host: str | None = None,
    https_port: int = 8443,
    cert: str | Path | None = None,
    key: str | Path | None = None,
    backend_addr: str | None = None,
) -> ServerState:
    """Start Label Studio in the background (or return the one already running) and wait until
    its API answers with our token.

    ``host``: team mode. Label Studio still listens on 127.0.0.1 only; nginx serves it over TLS on
    ``host:https_port`` (see :mod:`.proxy`), with secure cookies, CSRF trusted origin and allowed
    hosts set for that address, and Label Studio's default SSRF guard kept on."""
    from oma_analysis.labelstudio import proxy

    home = home or oma_home()
    if host is not None and host.strip("[]") in ("", "0.0.0.0", "::"):
        # The address is also the certificate's name, the allowed host and the CSRF origin.
        raise OmaError(f"--host {host!r}: give the address or name labellers type in their browser")
    state = ServerState.load(home)
    public = proxy.public_origin(host, https_port) if host else None
    if state and alive(state.pid):
        if database_url and state.database != redact_database_url(database_url):
            # Never hand back a server on another database (e.g. SQLite) as if it were the one asked for.
            raise OmaError(f"Label Studio is already running at {state.url} on {state.database}, not on "
                           f"{redact_database_url(database_url)}; stop it first (`oma ls down`)")
        if host and public != state.public_url:
            # Its cookie and CSRF settings are fixed at start: never pass a local server off as team mode.
            raise OmaError(f"Label Studio is already running at {state.url} "
                           f"({'for ' + state.public_url if state.public_url else 'local only'}); "
                           f"stop it first (`oma ls down`)")
        wait_ready(state.url, load_credentials(home).token, timeout=timeout)
        if host and not (state.proxy_pid and alive(state.proxy_pid)):
            state.proxy_pid = proxy.start(home / "proxy", host, https_port, state.port, cert=_path(cert),
                                          key=_path(key))
            state.save(home)
        return state
    # Validate the URL before writing anything; SQLite explicitly, as an inherited DJANGO_DB=default
    # would otherwise put the "SQLite" server on PostgreSQL.
    db_env = database_env(database_url) or {"DJANGO_DB": "sqlite"}
    creds = load_credentials(home, save_env=True)
    data = Path(data_dir or home / "label-studio").resolve()
    data.mkdir(parents=True, exist_ok=True)
    log = data / "label-studio.log"
    log_offset = log.stat().st_size if log.exists() else 0  # the log is appended to across starts
    # Label Studio runs in its own environment: none of oma's interpreter settings reach it.
    env = {
        **inherited_env(DB_SETTINGS + (_TEAM_SETTINGS if host else ())),
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "LABEL_STUDIO_USERNAME": creds.username,
        "LABEL_STUDIO_PASSWORD": creds.password,
        "LABEL_STUDIO_USER_TOKEN": creds.token,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "SECRET_KEY": creds.secret_key,
        # No network here, and analytics would leak usage: switch both off.
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        # The ML backend runs on 127.0.0.1, which Label Studio blocks by default (SSRF guard).
        "USE_DEFAULT_BANNED_SUBNETS": "false",
        **(team_env(public, host, backend_addr) if public and host else {}),
        # Label Studio reports errors to Heartex's Sentry by default (with user e-mails, server side
        # and from labellers' browsers): off, unless the operator names their own Sentry.
        "SENTRY_DSN": os.environ.get("SENTRY_DSN", ""),
        "FRONTEND_SENTRY_DSN": os.environ.get("FRONTEND_SENTRY_DSN", ""),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        **db_env,
    }
    if not database_url:
        # A new SQLite database starts as a copy of a migrated one (``seed``): no minute of
        # migrations on every new data folder (a study starts one per labeller).
        from oma_analysis.labelstudio import seed

        seed.seed(data, env, timeout=timeout)
    cmd = [str(label_studio_exe()), "start", "--no-browser", "--port", str(port),
           "--internal-host", "127.0.0.1", "--data-dir", str(data)]
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    state = ServerState(url=f"http://127.0.0.1:{port}", pid=proc.pid, data_dir=str(data), port=port,
                        database=redact_database_url(database_url), log=str(log), public_url=public)
    state.save(home)
    try:
        wait_ready(state.url, creds.token, timeout=timeout, proc=proc, log=log, log_offset=log_offset)
        if host:
            state.proxy_pid = proxy.start(home / "proxy", host, https_port, port, cert=_path(cert),
                                          key=_path(key))
            state.save(home)
    except OmaError:
        stop(home)
        raise
    return state


def _path(p: str | Path | None) -> Path | None:
    return Path(p) if p else None


def team_env(public_url: str, host: str, backend_addr: str | None = None) -> dict[str, str]:
    """Label Studio's settings behind the TLS proxy (names as LS 1.23's core/settings read them)."""
    from oma_analysis.labelstudio.ssrf import guard_env

    return {
        # request.is_secure() from nginx's X-Forwarded-Proto (LS has no variable for it).
        # ls_env/ is the one folder of oma's put on Label Studio's path: it runs in its own environment.
        "DJANGO_SETTINGS_MODULE": "oma_ls_settings",
        "PYTHONPATH": str(LS_ENV_DIR),
        "SESSION_COOKIE_SECURE": "1",
        "CSRF_COOKIE_SECURE": "1",
        "CSRF_TRUSTED_ORIGINS": public_url,
        # The labellers' address, plus loopback for oma's own API calls to the internal port.
        "ALLOWED_HOSTS": ",".join(dict.fromkeys([host.strip("[]"), "127.0.0.1", "localhost"])),
        # Label Studio's SSRF guard on (webhooks, storages, URL imports, ML backends), at most one
        # address exempted: the ML backend's own.
        "SSRF_PROTECTION_ENABLED": "true",
        "ML_BLOCK_LOCAL_IP": "true",
        **guard_env(backend_addr),
    }


def wait_ready(url: str, token: str, *, timeout: float = 240.0, proc: subprocess.Popen | None = None,
               log: Path | None = None, log_offset: int = 0) -> None:
    """Poll the API (through the SDK) until the server answers for our token."""
    from label_studio_sdk import LabelStudio

    client = LabelStudio(base_url=url, api_key=token, timeout=5)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise OmaError(f"Label Studio exited with code {proc.returncode} while starting; "
                           f"{_log_summary(log, log_offset)}")
        try:
            client.users.whoami()
            return
        except Exception as exc:  # connection refused / 5xx while migrations run
            last = exc
            time.sleep(1.0)
    raise OmaError(f"Label Studio at {url} did not become ready in {timeout:.0f} s "
                   f"(last error: {type(last).__name__}); see {log}")


def _log_summary(log: Path | None, offset: int = 0) -> str:
    """The last error line this start wrote to the log (e.g. the database refusing the login), then
    the log's tail."""
    if log is None or not log.exists():
        return "no log"
    with open(log, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode(errors="replace")
    lines = [ln for ln in text.splitlines() if "sentry" not in ln.lower()]
    errors = [ln.strip() for ln in lines if "Error:" in ln or "Exception:" in ln]
    tail = "\n".join(lines)[-2000:]
    return (f"{errors[-1]}\n" if errors else "") + f"log {log}:\n{tail}"


def stop(home: Path | None = None, timeout: float = 20.0) -> bool:
    """Stop the server started by :func:`start`; True when one was running."""
    home = home or oma_home()
    state = ServerState.load(home)
    if not state:
        return False
    if state.proxy_pid:
        from oma_analysis.labelstudio import proxy

        proxy.stop(state.proxy_pid)
    was_alive = terminate_group(state.pid, timeout)
    (home / "ls.json").unlink(missing_ok=True)
    return was_alive
