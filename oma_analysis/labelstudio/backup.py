"""Back up and restore Label Studio's database: every label of a campaign lives there.

- SQLite: Python's ``sqlite3`` online backup API copies the live database page by page under
  SQLite's own locking, so the copy is consistent even while labellers submit (a plain file copy
  can catch a half-written transaction). The copy is checked with ``PRAGMA integrity_check``.
- PostgreSQL: ``pg_dump -Fc`` (a consistent snapshot by PostgreSQL's MVCC), restored with
  ``pg_restore --clean --if-exists --no-owner``. The password goes to the tools in ``PGPASSWORD``,
  never on a command line.

Backups are written 0600 (they hold password hashes and labellers' e-mails).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from oma_analysis import OmaError
from oma_analysis.labelstudio.server import ServerState, redact_database_url
from oma_analysis.lifecycle.procs import alive

SQLITE_NAME = "label_studio.sqlite3"  # LS 1.23: DATABASE_NAME_DEFAULT in core/settings/base.py


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _private(path: Path) -> None:
    os.chmod(path, 0o600)


def sqlite_backup(src: Path, dst: Path) -> Path:
    """A consistent copy of a live SQLite database (``sqlite3`` backup API), checked before it is
    given its final name."""
    if not src.exists():
        raise OmaError(f"{src}: no Label Studio SQLite database here")
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(dst.name + ".part")
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=60)
    target = sqlite3.connect(part)
    try:
        source.backup(target, pages=1024)
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        target.close()
        source.close()
    if check != "ok":
        part.unlink(missing_ok=True)
        raise OmaError(f"backup of {src} failed SQLite's integrity check: {check}")
    os.replace(part, dst)
    _private(dst)
    return dst


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if versions:
        return str(versions[-1])
    raise OmaError(f"{name} not found: install PostgreSQL's client tools (Debian: postgresql-client)")


def _pg_args(database_url: str) -> tuple[list[str], dict[str, str]]:
    u = urlparse(database_url)
    if u.scheme not in ("postgres", "postgresql"):
        raise OmaError(f"--database-url: unsupported scheme {u.scheme!r}")
    args = ["-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432), "-U", unquote(u.username or "postgres"),
            "-d", unquote(u.path.lstrip("/")) or "labelstudio"]
    return args, {**os.environ, "PGPASSWORD": unquote(u.password or ""), "PGCONNECT_TIMEOUT": "20"}


def pg_backup(database_url: str, dst: Path) -> Path:
    args, env = _pg_args(database_url)
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(dst.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    res = subprocess.run([_pg_tool("pg_dump"), "-Fc", "--no-password", "-f", str(part), *args], env=env,
                         capture_output=True, text=True, timeout=3600)
    if res.returncode != 0:
        part.unlink(missing_ok=True)
        raise OmaError(f"pg_dump of {redact_database_url(database_url)} failed: {res.stderr.strip()[-500:]}")
    os.replace(part, dst)
    _private(dst)
    return dst


def pg_restore(database_url: str, backup: Path) -> None:
    """Restore a ``pg_dump -Fc`` file into the (existing, ideally empty) database of the URL."""
    args, env = _pg_args(database_url)
    res = subprocess.run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-password",
                          "--exit-on-error", *args, str(backup)], env=env, capture_output=True, text=True,
                         timeout=3600)
    if res.returncode != 0:
        raise OmaError(f"pg_restore of {backup} into {redact_database_url(database_url)} failed: "
                       f"{res.stderr.strip()[-500:]}")


def backup(home: Path, *, out: Path | None = None, data_dir: Path | None = None,
           database_url: str | None = None) -> Path:
    """Back up the database of the Label Studio that `oma ls up` runs (or ran) from ``home``."""
    state = ServerState.load(home)
    default_dir = home / "backups"
    if state is not None and state.database != "sqlite" or database_url:
        if not database_url:
            raise OmaError(f"Label Studio runs on {state.database}: give --database-url (or OMA_DATABASE_URL) "
                           "with the password for pg_dump")
        if state is not None and redact_database_url(database_url) != state.database:
            raise OmaError(f"--database-url names {redact_database_url(database_url)}, but Label Studio runs on "
                           f"{state.database}")
        return pg_backup(database_url, Path(out or default_dir / f"labelstudio-{_stamp()}.pgdump"))
    data = Path(data_dir or (state.data_dir if state else home / "label-studio"))
    return sqlite_backup(data / SQLITE_NAME, Path(out or default_dir / f"labelstudio-{_stamp()}.sqlite3"))


def restore_sqlite(backup_file: Path, data_dir: Path, home: Path) -> Path:
    """Put a SQLite backup in place as Label Studio's database (server stopped); the database it
    replaces is kept beside it as ``label_studio.sqlite3.before-restore-<UTC>``."""
    state = ServerState.load(home)
    if state is not None and alive(state.pid) and Path(state.data_dir).resolve() == data_dir.resolve():
        raise OmaError("Label Studio is running on this data dir: `oma ls down` first")
    con = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        check = con.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise OmaError(f"{backup_file}: not a SQLite database ({exc})") from None
    finally:
        con.close()
    if check != "ok":
        raise OmaError(f"{backup_file}: fails SQLite's integrity check: {check}")
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / SQLITE_NAME
    aside = f"{SQLITE_NAME}.before-restore-{_stamp()}"
    # The old database goes aside with its journal: a stale journal must not be replayed onto the backup.
    for suffix in ("", "-wal", "-shm", "-journal"):
        if target.with_name(SQLITE_NAME + suffix).exists():
            os.replace(target.with_name(SQLITE_NAME + suffix), target.with_name(aside + suffix))
    sqlite_backup(backup_file, target)
    return target
