"""oma report on a long CSV: both files, provenance, sections, self-contained HTML."""

from __future__ import annotations

import hashlib
import json
import re

import pandas as pd
from click.testing import CliRunner

from oma_analysis import __version__
from oma_analysis.cli import main
from oma_analysis.demo.simulate import simulate_long
from oma_analysis.rubric import RUBRIC


def test_report_end_to_end(tmp_path):
    sim = simulate_long(900, 9, seed=21, models=("x", "y", "z"), accuracy=[0.9] * 8 + [0.45])
    f = sim.frame.copy()
    gold = f.drop_duplicates("completion").head(200).assign(worker="researcher", ground_truth=True)
    gold["label"] = sim.truth.reindex(gold["completion"]).to_numpy()
    f = pd.concat([f, gold], ignore_index=True)
    f.loc[5, "label"] = "not_a_verdict"
    path = tmp_path / "in.csv"
    f.to_csv(path, index=False)
    res = CliRunner().invoke(main, ["report", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    p = rep["provenance"]
    assert p["oma_version"] == __version__ and p["rubric_version"] == RUBRIC.version
    assert p["input_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert p["labellers"] == 10 and p["prompts"] == 300
    assert {r["model"] for r in rep["rates"]} == {"x", "y", "z"}
    assert {r["policy"] for r in rep["sensitivity"]} == {"majority", "dawid-skene", "any", "all"}
    assert rep["input"]["labels_not_verdicts"] == 1 and rep["bad_labels"][0]["task"] == f.loc[5, "task"]
    scr = {r["worker"]: r for r in rep["screening"]}
    assert scr["w8"]["flagged"] and scr["w8"]["reference"] == "gold" and not scr["w0"]["flagged"]
    assert "researcher" not in scr
    assert len(rep["dawid_skene"]["confusion"]) == 9
    assert rep["agreement"]["by_question"] and rep["disagreements"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3
    assert not re.search(r'(src|href)="https?:', html)


def test_report_with_a_single_labeller_and_a_single_prompt(tmp_path):
    """One labeller (no majority of others, no gold) on one prompt (one cluster) still reports."""
    import json

    from oma_analysis.ingest import load
    from oma_analysis.report import build_report

    tasks = [{"id": i, "data": {"completion": "x", "completion_code": f"c{i}", "prompt_id": "p"}, "annotations": [
        {"id": i, "completed_by": {"id": 1, "email": "solo@x"}, "result": [
            {"from_name": "verdict", "to_name": "completion", "type": "choices",
             "value": {"choices": ["clearly_aligned" if i % 3 else "clearly_misaligned"]}}]}]} for i in range(1, 8)]
    path = tmp_path / "one.json"
    path.write_text(json.dumps(tasks))
    rep = build_report(load(path), tmp_path / "rep", path, progress=False)
    assert (tmp_path / "rep" / "report.html").exists()
    assert [r["worker"] for r in rep["labellers"]] == ["solo@x"]
    assert rep["labellers"][0]["flagged"] is True
