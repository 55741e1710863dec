"""The analyst notebooks, executed as an analyst opens them: from their own folder, with no
environment variables; each finds the newest report (under the project's .oma), checks its headline
numbers against it where it has them, and draws at least one figure inline."""

from __future__ import annotations

import shutil

import pytest
from notebooks_run import NOTEBOOK_DIR, execute, figures, notebook_paths
from report_data import demo_like_export

from oma_analysis.ingest import load
from oma_analysis.report import build_report


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    export, codemap = demo_like_export(root / "data", seed=11)
    build_report(load(export, codemap), root / ".oma" / "study" / "report", export, progress=False,
                 codemap=str(codemap))
    shutil.copytree(NOTEBOOK_DIR, root / "notebooks")
    return root


@pytest.mark.parametrize("name", [p.stem for p in notebook_paths()])
def test_notebook_runs_from_its_folder_and_draws(project, name, tmp_path):
    nb = execute(project / "notebooks" / f"{name}.py", {"OMA_HOME": None, "OMA_EXPORT": None, "OMA_CODEMAP": None},
                 out_dir=tmp_path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert figures(nb) >= 1
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert str(project / ".oma" / "study" / "report" / "report.json") in text or name in ("labeller_screening",
                                                                                         "model_comparison")


def test_a_notebook_refuses_numbers_that_differ_from_the_report(project, monkeypatch):
    """The check the notebooks run is real: a report whose headline was edited no longer matches."""
    import json

    monkeypatch.delenv("OMA_HOME", raising=False)
    from oma_analysis import OmaError
    from oma_analysis.report.notebook import headline_rates, load_latest, same_as_report

    latest = load_latest(project / "notebooks")
    rates = headline_rates(latest)
    assert same_as_report(latest, rates=rates)
    latest.report["rates"][0]["upper"] += 0.01
    with pytest.raises(OmaError, match="notebook rates"):
        same_as_report(latest, rates=rates)
    assert json.loads(latest.path.read_text())["rates"][0]["upper"] != latest.report["rates"][0]["upper"]
