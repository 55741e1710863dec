"""Credentials, database settings and blinding: the pieces around Label Studio that keep secrets."""

from __future__ import annotations

import json
import stat

import pytest

from oma_analysis import OmaError
from oma_analysis.labelstudio.server import database_env, load_credentials
from oma_analysis.tasks.blinding import CodeMap, assert_blind


def test_credentials_generated_once_with_0600(tmp_path, monkeypatch):
    for k in ("OMA_LS_USERNAME", "OMA_LS_PASSWORD", "OMA_LS_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    a = load_credentials(tmp_path)
    path = tmp_path / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(a.token) == 40 and int(a.token, 16) >= 0
    assert load_credentials(tmp_path) == a  # stable across calls
    assert "***" in json.dumps(a.redacted()) and a.token not in json.dumps(a.redacted())
    monkeypatch.setenv("OMA_LS_TOKEN", "f" * 40)
    assert load_credentials(tmp_path).token == "f" * 40


def test_database_url_to_label_studio_env():
    env = database_env("postgresql://oma:p%40ss@db.local:6543/ls")
    assert env == {"DJANGO_DB": "default", "POSTGRE_NAME": "ls", "POSTGRE_USER": "oma", "POSTGRE_PASSWORD": "p@ss",
                   "POSTGRE_HOST": "db.local", "POSTGRE_PORT": "6543"}
    assert database_env(None) == {}
    with pytest.raises(OmaError, match="unsupported scheme"):
        database_env("mysql://x@y/z")


def test_codes_are_random_and_unique():
    cm = CodeMap()
    codes = [cm.add(model="same-model") for _ in range(2000)]
    assert len(set(codes)) == 2000
    assert not any("same" in c for c in codes)


def test_assert_blind_finds_names_anywhere(tmp_path):
    cm = CodeMap({"c1": {"model": "Acme-70B", "variant": "completion-framing"}})
    ok = [{"data": {"completion": "fine", "completion_code": "c1"}}]
    assert_blind(ok, cm)
    for leaky in ([{"data": {"completion": "as acme-70b I think"}}],
                  [{"data": {"x": [{"y": "COMPLETION-FRAMING"}]}}],
                  [{"meta": {"Acme-70B": 1}}]):
        with pytest.raises(OmaError, match="would reveal"):
            assert_blind(leaky, cm)
    # Common-word variants ("chat", "completion") may appear in keys and free text, not as a field value.
    cm2 = CodeMap({"c1": {"model": "m-1", "variant": "chat"}, "c2": {"model": "m-2", "variant": "completion"}})
    assert_blind([{"data": {"messages": [{"role": "user", "content": "let's chat"}], "completion": "chat",
                            "completion_code": "c1"}}], cm2)
    with pytest.raises(OmaError, match="variant 'chat'"):
        assert_blind([{"data": {"completion": "x", "framing": "chat"}}], cm2)
    path = cm.save(tmp_path / "cm.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert CodeMap.load(path)["c1"]["model"] == "Acme-70B"
