"""New SQLite Label Studio databases start from a migrated template (oma_analysis.labelstudio.seed):
the copy holds the whole schema and no user, token or organisation, and a server started on it
skips Label Studio's migrations and still comes up with oma's admin and token."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from oma_analysis.labelstudio import seed

NO_ROWS = ("htx_user", "authtoken_token", "organization", "organizations_organizationmember")


def _count(db: Path, sql: str) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


def test_seed_is_a_migrated_database_without_users_or_secrets(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    assert seed.seed(data, {}) is True
    db = data / seed.DB_FILE
    # Every migration Label Studio ships is applied (it has a few hundred) ...
    assert _count(db, "select count(*) from django_migrations") > 300
    # ... and nothing that belongs to one server: no user, API token or organisation.
    for table in NO_ROWS:
        assert _count(db, f"select count(*) from {table}") == 0, table
    # An existing database is never replaced; a database named elsewhere is left to Label Studio.
    db.write_bytes(b"keep")
    assert seed.seed(data, {}) is False and db.read_bytes() == b"keep"
    other = tmp_path / "other"
    other.mkdir()
    assert seed.seed(other, {"LABEL_STUDIO_DATABASE_NAME": str(tmp_path / "x.sqlite3")}) is False
    assert not (other / seed.DB_FILE).exists()


def test_label_studio_started_on_a_seed_skips_migrations(label_studio):
    """The session's server started from a seed: Label Studio printed no "Initializing database"
    (what its start prints before migrating) and answers with oma's admin and token."""
    data = label_studio.home / "label-studio"
    log = (data / "label-studio.log").read_text(errors="replace")
    assert (data / seed.DB_FILE).is_file()
    assert "Initializing database" not in log
    me = label_studio.client().users.whoami()
    assert me.email == "admin@oma.local"
    assert _count(data / seed.DB_FILE, "select count(*) from htx_user") >= 1


def test_inherited_settings_never_outrank_ours(monkeypatch):
    """The environment both a server and the template's migration start from: an inherited
    LABEL_STUDIO_DJANGO_DB=default would put the "SQLite" template on PostgreSQL, and oma's
    PYTHONPATH would reach into Label Studio's environment."""
    from oma_analysis.labelstudio.server import DB_SETTINGS, inherited_env

    for k in ("LABEL_STUDIO_DJANGO_DB", "HEARTEX_POSTGRE_HOST", "DJANGO_DB", "PYTHONPATH"):
        monkeypatch.setenv(k, "x")
    monkeypatch.setenv("OMA_KEEP_ME", "1")
    env = inherited_env(DB_SETTINGS)
    assert not {"LABEL_STUDIO_DJANGO_DB", "HEARTEX_POSTGRE_HOST", "DJANGO_DB", "PYTHONPATH"} & set(env)
    assert env["OMA_KEEP_ME"] == "1"
