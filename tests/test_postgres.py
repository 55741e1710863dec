"""Label Studio on PostgreSQL, end to end, against REAL servers on 127.0.0.1.

A throw-away PostgreSQL (Debian's package: initdb + pg_ctl, as the ``postgres`` user when run as
root) gets a role with a password and a database; ``oma ls up --database-url postgresql://...``
starts Label Studio on it exactly as the README says, and the skeleton's round-trip (project from
the generated config -> ``oma tasks push`` -> two annotators who signed up through the invite link
-> ``oma pull`` -> tidy frame row for row) runs on it. psql checks that Label Studio's rows really
are in that database (not silently in SQLite). Nothing is skipped: if PostgreSQL or Label Studio
cannot start, the tests fail.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from machine import scaled
from test_labelstudio_roundtrip import ANSWERS, COMPLETIONS, check_frame_row_for_row, to_result

from oma_analysis.cli import main
from oma_analysis.labelstudio.client import connect
from oma_analysis.labelstudio.server import load_credentials
from oma_analysis.labelstudio.users import Annotator, signup_annotator
from oma_analysis.lifecycle.procs import free_port as _free_port

pytestmark = pytest.mark.labelstudio

DB_NAME = "labelstudio"
DB_USER = "oma"
FORMATS = ("JSON", "JSON_MIN", "CSV")
OMA = str(Path(sys.executable).with_name("oma"))


def _pg_bindir() -> Path:
    """Debian's PostgreSQL binaries (newest version installed), else whatever is on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    pytest.fail("PostgreSQL is not installed (no initdb): `make test` installs Debian's postgresql package")


@dataclass
class Postgres:
    bindir: Path
    base: Path
    port: int
    password: str = field(repr=False)
    as_root: bool
    times: dict[str, float] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def sockdir(self) -> Path:
        return self.base / "sock"

    @property
    def log(self) -> Path:
        return self.base / "postgres.log"

    @property
    def url(self) -> str:
        # The password holds URL-special characters on purpose: `--database-url` must unquote it.
        return f"postgresql://{DB_USER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{DB_NAME}"

    def run_as_owner(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL server tool as the cluster owner (``postgres`` when we are root)."""
        argv = [str(self.bindir / cmd[0]), *cmd[1:]]
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        res = subprocess.run(argv, cwd=self.base, capture_output=True, text=True, timeout=scaled(120))
        if check and res.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            pytest.fail(f"{' '.join(cmd[:2])} failed ({res.returncode}): {res.stdout}{res.stderr}\n{tail}")
        return res

    def admin_sql(self, sql: str) -> None:
        """SQL as the superuser over the Unix socket (trust auth, local only)."""
        self.run_as_owner("psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", str(self.sockdir), "-p", str(self.port),
                          "-U", "postgres", "-d", "postgres", "-c", sql)

    def query(self, sql: str) -> str:
        """SQL as the ``oma`` role over TCP 127.0.0.1 with its password: what Label Studio sees."""
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        res = subprocess.run([str(self.bindir / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER, "-d", DB_NAME, "-c", sql],
                             env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return res.stdout.strip()


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A throw-away PostgreSQL on 127.0.0.1:<free port>; fails (never skips) if it cannot start."""
    as_root = os.geteuid() == 0
    # Not under pytest's tmp dir: that is 0700 root, which the postgres user cannot traverse.
    base = Path(tempfile.mkdtemp(prefix="oma-pg-"))
    pg = Postgres(bindir=_pg_bindir(), base=base, port=_free_port(),
                  password=f"pw-{secrets.token_hex(8)}@/:%", as_root=as_root)
    pg.sockdir.mkdir()
    if as_root:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(pg.sockdir, "postgres", "postgres")
    started = False
    try:
        t0 = time.monotonic()
        pg.run_as_owner("initdb", "-D", str(pg.data), "-U", "postgres", "--auth-local=trust",
                        "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync")
        opts = f"-p {pg.port} -k {pg.sockdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg.run_as_owner("pg_ctl", "-D", str(pg.data), "-o", opts, "-l", str(pg.log), "-w", "-t", "60", "start")
        started = True
        pg.admin_sql(f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{pg.password}'")
        pg.admin_sql(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")
        assert pg.query("SELECT current_user") == DB_USER  # password auth over TCP works
        pg.times["postgres_start_s"] = time.monotonic() - t0
        yield pg
    finally:
        if started:
            pg.run_as_owner("pg_ctl", "-D", str(pg.data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class LabelStudioOnPostgres:
    url: str
    token: str = field(repr=False)
    home: Path
    up_output: str
    first_start_s: float
    env: dict[str, str] = field(repr=False)


def _oma(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OMA, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def ls_pg(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioOnPostgres]:
    """Label Studio started by `oma ls up --database-url ...` (its own OMA_HOME); `oma ls down` after."""
    home = tmp_path_factory.mktemp("oma-home-pg")
    # Its own home and credentials: nothing from the session fixture's server (OMA_LS_*) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMA_LS_", "OMA_DATABASE_URL"))}
    env["OMA_HOME"] = str(home)
    port = _free_port()
    t0 = time.monotonic()
    wait = scaled(400)
    res = _oma(env, "ls", "up", "--port", str(port), "--database-url", postgres.url, "--timeout", str(int(wait)),
               timeout=wait + 50)
    first_start = time.monotonic() - t0
    try:
        assert res.returncode == 0, res.stdout + res.stderr
        print(f"\nLabel Studio first start on PostgreSQL (migrations included): {first_start:.1f} s")
        with pytest.MonkeyPatch.context() as mp:  # this home's token, not the session server's OMA_LS_TOKEN
            for k in ("OMA_LS_USERNAME", "OMA_LS_PASSWORD", "OMA_LS_TOKEN"):
                mp.delenv(k, raising=False)
            token = load_credentials(home).token
        yield LabelStudioOnPostgres(url=f"http://127.0.0.1:{port}", token=token, home=home,
                                    up_output=res.stdout, first_start_s=first_start, env=env)
    finally:
        down = _oma(env, "ls", "down", timeout=60)
        assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
        assert not (home / "ls.json").exists()


@pytest.fixture(scope="module")
def pg_run(ls_pg: LabelStudioOnPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The skeleton's round-trip on the PostgreSQL-backed server: project, push, two annotators, pull."""
    tmp = tmp_path_factory.mktemp("pg-review")
    src = tmp / "completions.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in COMPLETIONS))
    title = "pg review"
    with pytest.MonkeyPatch.context() as mp:
        # The session fixture may have pointed these at its SQLite server: point them at ours.
        mp.setenv("OMA_HOME", str(ls_pg.home))
        mp.setenv("OMA_LS_URL", ls_pg.url)
        mp.setenv("OMA_LS_TOKEN", ls_pg.token)
        t0 = time.monotonic()
        runner = CliRunner()
        res = runner.invoke(main, ["project", "create", "--kind", "review", "--title", title])
        assert res.exit_code == 0, res.output
        res = runner.invoke(main, ["tasks", "push", str(src), "--project", title])
        assert res.exit_code == 0 and "3 tasks created" in res.output, res.output
        res = runner.invoke(main, ["tasks", "push", str(src), "--project", title])
        assert res.exit_code == 0 and "0 tasks created, 3 already there" in res.output, res.output

        admin = connect(ls_pg.url, ls_pg.token)
        proj = [p for p in admin.projects.list() if p.title == title][0]
        tasks = sorted(admin.tasks.list(project=proj.id), key=lambda t: t.id)
        assert len(tasks) == 3
        by_text = {t.data["completion"]: t for t in tasks}
        task_of = [by_text[c["completion"]] for c in COMPLETIONS]

        annotators: dict[str, Annotator] = {
            email: signup_annotator(ls_pg.url, ls_pg.token, email, "oma-test-pass-1") for email in ANSWERS}
        assert len({a.user_id for a in annotators.values()}) == 2
        for email, per_task in ANSWERS.items():
            client = annotators[email].client(ls_pg.url)
            for task, answers, comp in zip(task_of, per_task, COMPLETIONS, strict=True):
                client.annotations.create(id=task.id, result=to_result(answers, comp["completion"]), lead_time=7.5)
        exports = {}
        for fmt in FORMATS:
            out = tmp / f"export.{fmt.lower()}"
            res = runner.invoke(main, ["pull", "--project", str(proj.id), "--out", str(out), "--format", fmt])
            assert res.exit_code == 0, res.output
            exports[fmt] = out
        round_trip = time.monotonic() - t0
    print(f"\nround-trip on PostgreSQL (project, push x2, 2 sign-ups, 6 annotations, 3 pulls): {round_trip:.1f} s")
    yield {"project": proj, "tasks": task_of, "exports": exports, "codemap": tmp / "completions.jsonl.codemap.json",
           "round_trip_s": round_trip}


def test_label_studio_runs_on_postgres(postgres: Postgres, ls_pg: LabelStudioOnPostgres) -> None:
    """Label Studio's schema is in the PostgreSQL database, and no SQLite database was made."""
    assert f"database: postgresql://{DB_USER}@127.0.0.1:{postgres.port}/{DB_NAME}" in ls_pg.up_output
    tables = set(postgres.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").split())
    assert {"project", "task", "task_completion", "htx_user", "django_migrations"} <= tables
    assert int(postgres.query("SELECT count(*) FROM django_migrations")) > 100
    assert int(postgres.query("SELECT count(*) FROM htx_user")) >= 1  # the admin from credentials.json
    state = json.loads((ls_pg.home / "ls.json").read_text())
    assert not list(Path(state["data_dir"]).glob("*.sqlite3")), "Label Studio made a SQLite database"
    # What the server process was really given (Linux): PostgreSQL, and no reporting to Heartex's Sentry.
    environ = dict(kv.split("=", 1) for kv in Path(f"/proc/{state['pid']}/environ").read_text().split("\0") if kv)
    assert environ["DJANGO_DB"] == "default" and environ["POSTGRE_PORT"] == str(postgres.port)
    assert environ["SENTRY_DSN"] == "" and environ["FRONTEND_SENTRY_DSN"] == ""


def test_ls_up_refuses_a_server_on_another_database(postgres: Postgres, ls_pg: LabelStudioOnPostgres) -> None:
    """`oma ls up` finds the running server, but never hands it back for a different database URL."""
    again = _oma(ls_pg.env, "ls", "up", "--port", ls_pg.url.rsplit(":", 1)[1], "--database-url", postgres.url,
                 timeout=scaled(120))
    assert again.returncode == 0 and ls_pg.url in again.stdout, again.stdout + again.stderr
    other = postgres.url.replace(f"/{DB_NAME}", "/otherdb")
    res = _oma(ls_pg.env, "ls", "up", "--database-url", other, timeout=scaled(120))
    assert res.returncode == 2 and "already running" in res.stderr and "otherdb" in res.stderr, res.stderr


def test_wrong_database_password_fails_clearly(postgres: Postgres, tmp_path: Path) -> None:
    """A refused login makes `oma ls up` fail at once with PostgreSQL's reason, not hang or leak."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMA_LS_", "OMA_DATABASE_URL"))}
    env["OMA_HOME"] = str(tmp_path)
    bad = "not-the-password-" + secrets.token_hex(4)
    url = f"postgresql://{DB_USER}:{bad}@127.0.0.1:{postgres.port}/{DB_NAME}"
    res = _oma(env, "ls", "up", "--port", str(_free_port()), "--database-url", url, "--timeout", "120",
               timeout=scaled(180))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "password authentication failed" in res.stderr.splitlines()[0], res.stderr
    assert bad not in res.stdout + res.stderr
    assert not (tmp_path / "ls.json").exists()


def test_password_never_written(postgres: Postgres, ls_pg: LabelStudioOnPostgres) -> None:
    """The database password is in neither `oma ls up`'s output, ls.json, nor Label Studio's log."""
    state_text = (ls_pg.home / "ls.json").read_text()
    log_text = Path(json.loads(state_text)["log"]).read_text(errors="replace")
    for where, text in (("output", ls_pg.up_output), ("ls.json", state_text), ("log", log_text)):
        for secret in (postgres.password, quote(postgres.password, safe="")):
            assert secret not in text, f"database password in {where}"


def test_round_trip_rows_are_in_postgres(postgres: Postgres, pg_run: dict) -> None:
    pid = pg_run["project"].id
    assert postgres.query(f"SELECT title FROM project WHERE id = {pid}") == "pg review"
    assert postgres.query(f"SELECT count(*) FROM task WHERE project_id = {pid}") == "3"
    n = postgres.query("SELECT count(*) FROM task_completion c JOIN task t ON c.task_id = t.id "
                       f"WHERE t.project_id = {pid}")
    assert n == "6"
    emails = postgres.query(
        "SELECT DISTINCT u.email FROM task_completion c JOIN htx_user u ON c.completed_by_id = u.id "
        f"JOIN task t ON c.task_id = t.id WHERE t.project_id = {pid} ORDER BY 1").split()
    assert emails == sorted(ANSWERS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_tidy_frame_row_for_row_on_postgres(pg_run: dict, fmt: str) -> None:
    """Same checks as the SQLite round-trip (tests/test_labelstudio_roundtrip.py)."""
    check_frame_row_for_row(pg_run["exports"][fmt], pg_run["codemap"], pg_run["tasks"])


def test_timings(postgres: Postgres, ls_pg: LabelStudioOnPostgres, pg_run: dict) -> None:
    """Print the figures the deployment notes quote (first start includes all migrations)."""
    print(f"\nPostgreSQL initdb+start: {postgres.times['postgres_start_s']:.1f} s; Label Studio first start "
          f"on it: {ls_pg.first_start_s:.1f} s; round-trip: {pg_run['round_trip_s']:.1f} s")
    assert ls_pg.first_start_s < 400 and pg_run["round_trip_s"] < 120


def test_reading_credentials_never_overwrites_saved_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OMA_LS_TOKEN of another server (e.g. the session fixture's) must not clobber this home's token."""
    for k in ("OMA_LS_USERNAME", "OMA_LS_PASSWORD", "OMA_LS_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    first = load_credentials(tmp_path)
    saved = (tmp_path / "credentials.json").read_text()
    monkeypatch.setenv("OMA_LS_TOKEN", "e" * 40)
    assert load_credentials(tmp_path).token == "e" * 40  # the environment still wins for this process
    assert (tmp_path / "credentials.json").read_text() == saved
    monkeypatch.delenv("OMA_LS_TOKEN")
    assert load_credentials(tmp_path) == first
