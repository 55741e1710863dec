"""Shared fixtures. ``label_studio`` starts ONE real Label Studio server (SQLite in a temp dir)
for the whole test session through ``oma ls up``'s own code. It never skips: if Label Studio is
missing or cannot start, every test that needs it fails, in CI as anywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from machine import scaled

from oma_analysis.lifecycle.procs import free_port

SHARED = (Path(__file__).resolve().parents[1] / ".." / "shared").resolve()


@dataclass
class LabelStudioServer:
    url: str
    token: str
    home: Path
    _annotators: dict = field(default_factory=dict)

    def client(self):
        from oma_analysis.labelstudio.client import connect

        return connect(self.url, self.token)

    def annotator(self, email: str, password: str = "oma-test-pass-1"):
        """A distinct annotator user, signed up through the invite link (cached per email)."""
        from oma_analysis.labelstudio.users import signup_annotator

        if email not in self._annotators:
            self._annotators[email] = signup_annotator(self.url, self.token, email, password)
        return self._annotators[email]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared data sets not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory) -> LabelStudioServer:
    from oma_analysis.labelstudio import server

    home = tmp_path_factory.mktemp("oma-home")
    old = os.environ.get("OMA_HOME")
    os.environ["OMA_HOME"] = str(home)
    try:
        state = server.start(port=free_port(), home=home, timeout=scaled(300))
        creds = server.load_credentials(home)
        os.environ["OMA_LS_URL"] = state.url
        os.environ["OMA_LS_TOKEN"] = creds.token
        yield LabelStudioServer(url=state.url, token=creds.token, home=home)
    finally:
        server.stop(home)
        for k in ("OMA_LS_URL", "OMA_LS_TOKEN"):
            os.environ.pop(k, None)
        if old is None:
            os.environ.pop("OMA_HOME", None)
        else:
            os.environ["OMA_HOME"] = old


@pytest.fixture(scope="session")
def study_run(label_studio, tmp_path_factory):
    """A real three-labeller study, one Label Studio per labeller (tests/study_support.py);
    every workspace server is stopped at the end."""
    from study_support import build

    from oma_analysis.labelstudio.workspaces import stop_all

    run = None
    try:
        run = build(label_studio, tmp_path_factory.mktemp("study"))
        yield run
    finally:
        from oma_analysis.labelstudio.study import Study

        try:
            stop_all(Study.load("t12", label_studio.home).team)
        except Exception:  # the study was never saved: nothing started
            pass
