"""The three environments (issue 13): oma's own (.venv) holds no Label Studio, no label-studio-ml,
no redis or rq, no Flask 1 and Jinja2 >= 3.1.6; Label Studio runs from .venv-ls; the ML backend from
.venv-backend, which is oma's environment plus label-studio-ml 1.0.9 (--no-deps) and its redis/rq
imports. Each claim is read from the environment itself (its distributions, its imports)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.version import Version

from oma_analysis.labelstudio.config_check import _django_validate, check_config
from oma_analysis.locations import backend_python, label_studio_exe, label_studio_python
from oma_analysis.rubric.xml import render

ROOT = Path(__file__).resolve().parents[1]


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _probe(python: Path, code: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    res = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


INFO = """
import json, sys
from importlib import metadata
def v(n):
    try:
        return metadata.version(n)
    except metadata.PackageNotFoundError:
        return None
names = ["flask", "jinja2", "werkzeug", "redis", "rq", "label-studio", "label-studio-ml", "label-studio-sdk", "torch"]
info = {n: v(n) for n in names} | {"prefix": sys.prefix}
"""
VERSIONS = INFO + "print(json.dumps(info))\n"


def test_oma_environment_has_no_label_studio_server_redis_rq_or_flask1():
    assert Version(_installed("jinja2")) >= Version("3.1.6")
    assert Version(_installed("flask")) >= Version("3")
    for name in ("redis", "rq", "label-studio", "label-studio-ml", "django"):
        assert _installed(name) is None, f"{name} {_installed(name)} is in oma's environment ({sys.prefix})"
    assert _installed("label-studio-sdk") == "2.1.2"


def test_label_studio_runs_from_its_own_environment():
    exe, py = label_studio_exe(), label_studio_python()
    assert exe.is_file() and py.parent == exe.parent
    got = _probe(py, VERSIONS)
    assert got["label-studio"] == "1.23.2" and got["label-studio-sdk"] == _installed("label-studio-sdk")
    assert got["torch"] is None and Path(got["prefix"]) != Path(sys.prefix)  # not oma's environment


def test_backend_environment_is_omas_plus_label_studio_ml():
    import flask

    import oma_analysis

    py = backend_python()
    assert Path(py).parent != Path(sys.executable).parent, "the backend must not run in oma's own environment"
    got = _probe(py, INFO + "from label_studio_ml.model import LabelStudioMLBase\n"
                 "import flask, ml_backend.model, oma_analysis\n"
                 "print(json.dumps(info | {'flask_file': flask.__file__, 'oma': oma_analysis.__file__,"
                 " 'base': ml_backend.model.OmaBackend.__mro__[1].__name__}))")
    assert got["label-studio-ml"] == "1.0.9" and got["redis"] and got["rq"] and got["label-studio"] is None
    assert Version(got["flask"]) >= Version("3") and Version(got["jinja2"]) >= Version("3.1.6")
    # Layered on oma's environment: the same oma and the same Flask 3 files, not copies.
    assert (got["flask_file"], got["oma"]) == (flask.__file__, oma_analysis.__file__)
    assert got["base"] == "LabelStudioMLBase"


def test_in_process_backend_tests_pass_in_the_backend_environment():
    """tests/backend_env/ imports the model class; it runs (and must pass) under the backend's python."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMA_IN_BACKEND_ENV"] = "1"
    res = subprocess.run([str(backend_python()), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/backend_env"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0 and re.search(r"\b2 passed\b", res.stdout), res.stdout[-3000:] + res.stderr[-2000:]


def test_label_studios_own_validator_runs_in_its_environment(tmp_path, monkeypatch):
    from oma_analysis.labelstudio import config_check

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # a real validator run, not a cached verdict
    monkeypatch.setattr(config_check, "_LS_VERDICTS", {})
    assert check_config(render("review"), "review.xml") == []
    message = _django_validate('<View><Text name="t" value="$t"/><Choices name="c" toName="t"></Choices></View>')
    assert message and "Choice" in message, message
    assert len(list((tmp_path / "oma" / "ls-validate").glob("*.json"))) == 2  # both verdicts kept
