"""A migrated, empty SQLite database for each new Label Studio data folder.

Label Studio migrates a new SQLite database on its first start (hundreds of migrations: 20-65 s
on two cores, minutes on a busy machine), and a study starts one Label Studio per labeller. The
result depends only on the Label Studio installation, so it is made once per installation
(``ls_env/oma_ls_migrate.py``: Label Studio's own start-up code, in its own environment) into the
user's cache, and every new data folder starts from a copy; ``label-studio start`` then finds the
database up to date and skips ``migrate``. The copy holds no user, token or secret: Label Studio's
start creates the admin from oma's credentials, as it does on a fresh database.

Set ``OMA_LS_SEED=0`` to let Label Studio migrate each new database itself.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path

from oma_analysis import OmaError
from oma_analysis.labelstudio.server import DB_SETTINGS, LS_ENV_DIR, LS_PREFIXES, inherited_env
from oma_analysis.locations import label_studio_install_key, label_studio_python, user_cache

#: Label Studio's SQLite file name in its data folder (``DATABASE_NAME_DEFAULT`` in its settings).
DB_FILE = "label_studio.sqlite3"
#: Settings that would point Label Studio at another database file: no seed then.
_OTHER_DB = tuple(p + "DATABASE_NAME" for p in LS_PREFIXES)


def enabled(env: dict[str, str]) -> bool:
    return os.environ.get("OMA_LS_SEED", "1").lower() not in ("0", "false", "no") and not any(
        env.get(k) for k in _OTHER_DB)


def template(timeout: float = 600.0) -> Path:
    """The migrated template for this Label Studio installation, made on first use (under a lock:
    the workspaces of a study start at once)."""
    folder = user_cache("ls-seed", label_studio_install_key()[:16])
    db = folder / DB_FILE
    if db.is_file():
        return db
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if db.is_file():  # made by another process while this one waited
            return db
        with tempfile.TemporaryDirectory(prefix="oma-ls-seed-", dir=folder) as work:
            # SQLite in the temp folder, whatever database settings this process inherited.
            env = {**inherited_env(DB_SETTINGS + ("DATABASE_NAME", "BASE_DATA_DIR")),
                   "LABEL_STUDIO_BASE_DATA_DIR": work, "DJANGO_DB": "sqlite", "SECRET_KEY": "oma-seed-only",
                   "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false",
                   "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": ""}
            python = label_studio_python()
            try:
                res = subprocess.run([str(python), str(LS_ENV_DIR / "oma_ls_migrate.py")], env=env,
                                     capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise OmaError(f"Label Studio's migrations ({python}) did not finish in {timeout:.0f} s") from None
            if res.returncode != 0 or not (Path(work) / DB_FILE).is_file():
                raise OmaError(f"Label Studio's migrations failed ({python}): {res.stderr.strip()[-2000:]}")
            _copy(Path(work) / DB_FILE, db)
    return db


def seed(data_dir: Path, env: dict[str, str], timeout: float = 600.0) -> bool:
    """Put a migrated empty database into a new data folder; False (nothing done) when the folder
    has a database already, or when seeding is off or ``env`` names another database file."""
    target = data_dir / DB_FILE
    if target.exists() or not enabled(env):
        return False
    _copy(template(timeout), target)
    return True


def _copy(src: Path, dst: Path) -> None:
    """A consistent copy through SQLite's backup API, written beside ``dst`` and renamed into place
    (a reader never sees half a database)."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    with closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as s, closing(sqlite3.connect(tmp)) as d:
        s.backup(d)
    os.replace(tmp, dst)
