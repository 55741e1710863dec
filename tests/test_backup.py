"""`oma ls backup` and restore drills: a backup taken while Label Studio runs, put back in place,
serves the same labels (SQLite on the session server; PostgreSQL on a throw-away cluster)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from machine import scaled

from oma_analysis import OmaError
from oma_analysis.cli import main
from oma_analysis.labelstudio import backup as bk
from oma_analysis.labelstudio import server
from tests.conftest import free_port
from tests.test_postgres import DB_USER, Postgres, postgres  # noqa: F401 - the throw-away cluster fixture

OMA = str(Path(sys.executable).with_name("oma"))
CONFIG = ('<View><Text name="t" value="$text"/><Choices name="c" toName="t">'
          '<Choice value="a"/><Choice value="b"/></Choices></View>')


def _labels(client, project: int) -> list[tuple]:
    """Every annotation as (task text, author id, choices, id): what a backup must keep."""
    out = []
    for t in client.tasks.list(project=project):
        for a in client.annotations.list(id=t.id):
            out.append((t.data["text"], a.completed_by, a.result[0]["value"]["choices"][0], a.id))
    return sorted(out)


def _annotated_project(client, annotator_client, title: str, n: int = 4) -> int:
    proj = client.projects.create(title=title, label_config=CONFIG)
    client.projects.import_tasks(id=proj.id, request=[{"text": f"{title} {i}"} for i in range(n)])
    for i, t in enumerate(sorted(client.tasks.list(project=proj.id), key=lambda t: t.id)):
        annotator_client.annotations.create(id=t.id, result=[{"from_name": "c", "to_name": "t", "type": "choices",
                                                              "value": {"choices": ["ab"[i % 2]]}}])
    return proj.id


def test_sqlite_online_backup_and_restore_drill(label_studio, tmp_path: Path) -> None:
    admin = label_studio.client()
    alice = label_studio.annotator("bk.alice@oma.test")
    pid = _annotated_project(admin, alice.client(label_studio.url), "backup drill")
    want = _labels(admin, pid)
    assert len(want) == 4

    # Online: a labeller keeps submitting while the backup runs; the copy must be consistent.
    extra = admin.projects.create(title="backup drill busy", label_config=CONFIG)
    admin.projects.import_tasks(id=extra.id, request=[{"text": f"busy {i}"} for i in range(30)])
    busy_tasks = list(admin.tasks.list(project=extra.id))
    stop = threading.Event()

    def submit() -> None:
        c = alice.client(label_studio.url)
        for t in busy_tasks:
            if stop.is_set():
                return
            c.annotations.create(id=t.id, result=[{"from_name": "c", "to_name": "t", "type": "choices",
                                                   "value": {"choices": ["a"]}}])

    writer = threading.Thread(target=submit)
    writer.start()
    out = tmp_path / "ls.sqlite3"
    try:
        res = CliRunner().invoke(main, ["ls", "backup", "--out", str(out)])
    finally:
        stop.set()
        writer.join(120)
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with sqlite3.connect(out) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n_backup = con.execute("SELECT count(*) FROM task_completion").fetchone()[0]
    assert n_backup >= len(want)

    # The drill: a second Label Studio on the backup (same credentials), the same labels.
    home2 = tmp_path / "home2"
    home2.mkdir()
    shutil.copy2(label_studio.home / "credentials.json", home2 / "credentials.json")
    env = {**os.environ, "OMA_HOME": str(home2)}
    for k in ("OMA_LS_URL", "OMA_LS_TOKEN"):
        env.pop(k, None)
    r = subprocess.run([OMA, "ls", "restore-backup", str(out)], env=env, capture_output=True, text=True,
                       timeout=scaled(120))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        state = server.start(port=free_port(), home=home2, timeout=scaled(300))
        from oma_analysis.labelstudio.client import connect

        restored = connect(state.url, label_studio.token)
        assert _labels(restored, pid) == want
        assert len([a for t in restored.tasks.list(project=extra.id)
                    for a in restored.annotations.list(id=t.id)]) == n_backup - len(want) - _others(out, pid, extra.id)
        # Restoring over a running server's data dir is refused.
        with pytest.raises(OmaError, match="running"):
            bk.restore_sqlite(out, Path(state.data_dir), home2)
    finally:
        server.stop(home2)


def _others(db: Path, *projects: int) -> int:
    """Annotations in the backup outside the given projects (other tests' work on the session server)."""
    with sqlite3.connect(db) as con:
        marks = ",".join("?" * len(projects))
        return con.execute(f"SELECT count(*) FROM task_completion WHERE project_id NOT IN ({marks})",
                           projects).fetchone()[0]


def test_restore_refuses_a_damaged_backup(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(OmaError, match="SQLite"):
        bk.restore_sqlite(bad, tmp_path / "data", tmp_path)
    assert not (tmp_path / "data" / bk.SQLITE_NAME).exists()


def test_postgres_backup_and_restore_drill(postgres: Postgres, label_studio, tmp_path: Path) -> None:  # noqa: F811
    """pg_dump of a live Label Studio on PostgreSQL, pg_restore into a fresh database, Label Studio
    on that database serves the same labels."""
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.users import signup_annotator

    home = tmp_path / "home-pg"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMA_LS_", "OMA_DATABASE_URL"))}
    env["OMA_HOME"] = str(home)
    port = free_port()
    wait = scaled(400)
    up = subprocess.run([OMA, "ls", "up", "--port", str(port), "--database-url", postgres.url,
                         "--timeout", str(int(wait))],
                        env=env, capture_output=True, text=True, timeout=wait + 50)
    url = f"http://127.0.0.1:{port}"
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        token = json.loads((home / "credentials.json").read_text())["token"]
        admin = connect(url, token)
        ann = signup_annotator(url, token, "bk.pg@oma.test", "pg-pass-12345")
        pid = _annotated_project(admin, connect(url, ann.token), "pg drill")
        want = _labels(admin, pid)
        dump = tmp_path / "ls.pgdump"
        bk_res = subprocess.run([OMA, "ls", "backup", "--out", str(dump)],
                                env={**env, "OMA_DATABASE_URL": postgres.url}, capture_output=True, text=True,
                                timeout=scaled(300))
        assert bk_res.returncode == 0, bk_res.stdout + bk_res.stderr
        assert postgres.password not in bk_res.stdout + bk_res.stderr
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    finally:
        subprocess.run([OMA, "ls", "down"], env=env, capture_output=True, text=True, timeout=60)
    postgres.admin_sql(f"CREATE DATABASE labelstudio_restored OWNER {DB_USER}")
    restored_url = postgres.url.rsplit("/", 1)[0] + "/labelstudio_restored"
    r = subprocess.run([OMA, "ls", "restore-backup", str(dump), "--database-url", restored_url], env=env,
                       capture_output=True, text=True, timeout=scaled(300))
    assert r.returncode == 0, r.stdout + r.stderr
    port = free_port()
    wait = scaled(400)
    up = subprocess.run([OMA, "ls", "up", "--port", str(port), "--database-url", restored_url,
                         "--timeout", str(int(wait))],
                        env=env, capture_output=True, text=True, timeout=wait + 50)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert _labels(connect(f"http://127.0.0.1:{port}", token), pid) == want
    finally:
        subprocess.run([OMA, "ls", "down"], env=env, capture_output=True, text=True, timeout=60)
