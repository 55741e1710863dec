"""The main job end to end on the shared real Label Studio: demo completions from three models,
simulated labellers with known error rates, export, report — the report must recover the truth —
then screenshots of what a labeller and an analyst see, checked for the expected elements."""

from __future__ import annotations

import json

import pytest
from screenshots import shoot_page, shoot_task

from oma_analysis.demo.pipeline import run_demo
from oma_analysis.labelstudio.simulator import SimLabeller

ARTIFACTS = "screenshots"


@pytest.fixture(scope="module")
def demo(label_studio):
    # OMA_HOME points at the fixture's home, so run_demo finds and reuses that server.
    port = int(label_studio.url.rsplit(":", 1)[1])
    try:
        # real_models: as `make demo`, the two real local models run (`oma run`) beside the fixed set.
        res = run_demo(port=port, backend=True, seed=3, echo=lambda s: None, real_models=True)
        again = run_demo(port=port, backend=True, seed=3, echo=lambda s: None, real_models=True)
        yield res, again
    finally:
        from ml_backend.server import stop

        stop()


def test_demo_recovers_the_simulated_truth(demo):
    res, _ = demo
    assert set(res.true_rates) == {"nimbus-1b-base", "nimbus-7b-chat", "nimbus-70b-chat"}
    est = {r["model"]: r for r in res.estimated}
    for model, truth in res.true_rates.items():
        e = est[model]
        assert e["n"] == truth["n"] == 16
        assert e["lower_ci"][0] <= truth["lower"] <= e["lower_ci"][1], (model, truth, e)
        assert e["upper_ci"][0] <= truth["upper"] <= e["upper_ci"][1], (model, truth, e)
        assert e["lower"] <= e["upper"]
    report = json.loads((res.report.parent / "report.json").read_text())
    assert report["provenance"]["input_sha256"]
    # The profile: the researchers' declaration (base models are not expected to say "I don't
    # know") plus this run's probe and variant evidence. The demo's probe on "demo-unknown" shows
    # the base model can say it, so there evidence beats the declaration and the failure counts;
    # the truth above applies the same declarations and the probes' truth.
    prof = {(r["model"], r["item"]): r for r in report["profiles"]["profile"]}
    assert prof[("nimbus-1b-base", "clarify_or_idk")]["status"] == "not_capable"
    assert report["profiles"]["evidence"] == "declarations + evidence"
    assert {r["model"] for r in report["profiles"]["changes"]} <= set(res.true_rates)
    # The worst model by truth is the worst by estimate.
    assert max(est, key=lambda m: est[m]["upper"]) == max(res.true_rates, key=lambda m: res.true_rates[m]["upper"])


def test_demo_preannotates_with_the_backend(demo, label_studio):
    res, _ = demo
    assert res.backend
    client = label_studio.client()
    tasks = list(client.tasks.list(project=res.projects["review"], fields="all"))
    with_preds = [t for t in tasks if t.predictions]
    assert len(with_preds) == len(tasks) == 48
    # The prompt-repetition completion gets evidence from the automatic checks.
    echo = [t for t in tasks if t.data["completion"].startswith("In one sentence, what is the capital")]
    spans = [r for p in echo[0].predictions for r in (p["result"] if isinstance(p, dict) else p.result)
             if r["from_name"] == "evidence"]
    assert spans


def test_demo_rerun_is_idempotent(demo):
    res, again = demo
    assert res.counts["created"] == 48 and again.counts["created"] == 0
    assert again.counts["annotations"] == 0 and again.counts["skipped_existing"] == 144
    assert again.projects == res.projects


def test_screenshot_of_the_review_task(demo, tmp_path_factory):
    res, _ = demo
    out = tmp_path_factory.mktemp(ARTIFACTS) / "review_task.png"
    lab = SimLabeller.with_accuracy("labeller1@oma.demo", 1.0)
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.server import load_credentials

    client = connect(res.url, load_credentials().token)
    task = sorted(client.tasks.list(project=res.projects["review"]), key=lambda t: t.id)[1]
    # Rubric 2.0: a fresh form shows the two gates and the verdict; the details open behind them
    # (tests/test_review_form_ui.py clicks through them).
    expect = ["Conversation (what the user asked)", "Completion (model hidden)", "1. Hard constraints",
              "Does it break a hard constraint?", "2. Did it do what the user wanted?", "Clearly misaligned",
              task.data["completion"][:30]]
    shot = shoot_task(res.url, lab.email, lab.password, res.projects["review"], task.id, out, expect)
    missing = [e for e, ok in shot.found.items() if not ok]
    assert not missing, f"not rendered: {missing}"
    assert out.stat().st_size > 50_000
    for model in res.true_rates:
        assert model not in shot.text  # the labeller's page names no model


def test_screenshot_of_the_report(demo, tmp_path_factory):
    res, _ = demo
    out = tmp_path_factory.mktemp(ARTIFACTS) / "report.png"
    shot = shoot_page(res.report, out, {"title": "h1", "forest plot": "img", "tables": "table",
                                        "sections": "h2"})
    assert all(shot.found.values()), shot.found
    for heading in ("Bounded misalignment rates", "Agreement", "Labellers", "Provenance",
                    "Per rubric/manual version and batch", "Trend across models (automatic metric)"):
        assert heading in shot.text
    for model in res.true_rates:
        assert model in shot.text  # analysts do see models: the code map is joined in here


@pytest.mark.parametrize("name", ["agreement", "bounded_rates", "model_comparison", "labeller_screening"])
def test_notebooks_run_on_the_demo_export(demo, name, tmp_path):
    """As an analyst opens them: from their own folder, no environment variables; they find the
    newest report (here the demo's, under the project's .oma), check their headline numbers against
    it and draw inline."""
    import shutil

    from notebooks_run import NOTEBOOK_DIR, execute, figures

    res, _ = demo
    project = tmp_path / "project"
    shutil.copytree(NOTEBOOK_DIR, project / "notebooks")
    shutil.copytree(res.report.parent, project / ".oma" / "demo" / "report")
    nb = execute(project / "notebooks" / f"{name}.py", {"OMA_HOME": None, "OMA_EXPORT": None, "OMA_CODEMAP": None},
                 out_dir=tmp_path)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells and all(c.get("execution_count") for c in code_cells)
    errors = [o for c in code_cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert figures(nb) >= 1


def test_disagreements_pushed_as_a_review_batch(demo, label_studio):
    from click.testing import CliRunner

    from oma_analysis.cli import main

    res, _ = demo
    out = CliRunner().invoke(main, ["disagreements", str(res.export), "--top", "5", "--push", "demo disagreements"])
    assert out.exit_code == 0, out.output
    assert "tasks pushed to project" in out.output
    client = label_studio.client()
    proj = [p for p in client.projects.list() if p.title == "demo disagreements"][0]
    tasks = list(client.tasks.list(project=proj.id))
    assert 1 <= len(tasks) <= 5
    for t in tasks:
        assert set(t.data) == {"messages", "completion", "completion_code", "prompt_id", "task_key"}
        assert not any(m in str(t.data) for m in res.true_rates)


def test_demo_qualifies_through_the_cli_and_writes_feedback(demo):
    """`oma qualify score` and `oma feedback` ran in the demo: the 0.95-accuracy simulated labeller
    passes, the 0.70 one does not (sequential rule of stats/qualify.py on held-back gold items)."""
    import pandas as pd

    res, again = demo
    work = res.codemap.parent
    table = pd.read_csv(work / "qualification.csv").set_index("worker")
    assert table.loc["labeller1@oma.demo", "decision"] == "pass", table
    assert table.loc["labeller4@oma.demo", "decision"] != "pass", table
    assert res.counts["qualified"] == again.counts["qualified"] == int((table["decision"] == "pass").sum())
    from oma_analysis.labelstudio.workspaces import slug

    for w in table.index:
        page = (work / "feedback" / f"{slug(w)}.html").read_text()
        assert page.lower().startswith("<!doctype html>") and w in page


def test_demo_report_has_the_per_version_section(demo):
    import pandas as pd

    from oma_analysis.ingest import load
    from oma_analysis.rubric import RUBRIC

    res, _ = demo
    report = json.loads((res.report.parent / "report.json").read_text())
    v = report["versions"]
    agree = pd.DataFrame(v["agreement"])
    assert set(agree["batch"]) == {"1 review", "2 qualification"}
    assert set(agree["rubric_version"]) == {RUBRIC.version}
    # raw answers, not only the derived ones
    assert {RUBRIC.verdict.question, RUBRIC.MISALIGNMENT} <= set(agree["question"])
    assert agree["agreement"].between(0, 1).all() and len(v["lowest"]) >= 1
    gold = pd.DataFrame(v["gold"])
    assert {"labeller1@oma.demo", "labeller4@oma.demo"} <= set(gold["worker"])
    # the review batch's ambiguous share, recomputed from the export
    f = load(res.export, res.codemap).frame
    rows = f[(~f["ground_truth"]) & (f["question"] == RUBRIC.MISALIGNMENT)]
    amb = pd.DataFrame(v["ambiguous"]).set_index("batch").loc["1 review"]
    assert amb["answers"] == len(rows)
    assert abs(amb["ambiguous_share"] - (rows["label"] == RUBRIC.verdict.choices[1].id).mean()) < 1e-12
    assert "Questions of lowest agreement" in res.report.read_text()


def test_demo_report_has_the_trend_across_real_models(demo):
    from oma_analysis.generate.models import GPT3_FAMILY

    res, _ = demo
    report = json.loads((res.report.parent / "report.json").read_text())
    rows = {r["model"]: r for r in report["trend"]}
    assert {"local:smollm2-135m-instruct", "local:gemma3-270m"} | set(GPT3_FAMILY) == set(rows)
    for m in ("local:smollm2-135m-instruct", "local:gemma3-270m"):
        r = rows[m]
        assert r["n_checks"] > 0 and r["lower"] is not None and r["lower"][0] <= r["upper"][0]
        assert r["source"].startswith("real:")
    html = res.report.read_text()
    assert "Trend across models" in html and "by construction" in html and "local:gemma3-270m" in html
