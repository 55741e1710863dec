"""The report's per-version and trend sections (report/versions_section.py, report/trend.py) through
build_report's ``sections`` hook: in report.json and report.html, numbers checked by hand."""

from __future__ import annotations

import json

from oma_analysis.ingest import load
from oma_analysis.report import build_report
from oma_analysis.report.trend import PUBLISHED_SOURCE, REAL_SOURCE
from oma_analysis.report.versions_section import project_versions, versions_records
from oma_analysis.rubric import RUBRIC
from oma_analysis.rubric.rule import derived_labels

CM, AMB, CA = RUBRIC.verdict_ids


def _ann(i: int, email: str, verdict: str, gt: bool = False) -> dict:
    return {"id": i, "completed_by": {"id": hash(email) % 1000, "email": email}, "ground_truth": gt,
            "result": [{"from_name": RUBRIC.verdict.question, "to_name": "completion", "type": "choices",
                        "value": {"choices": [verdict]}}]}


def test_versions_and_trend_sections_in_the_report(tmp_path):
    a = [CA, CA, CM, AMB, CA, CM]
    b = [CA, CM, CM, AMB, CA, CA]
    tasks = [{"id": t + 1, "data": {"completion": "x", "completion_code": f"c{t}", "prompt_id": f"p{t}"},
              "annotations": [_ann(10 * t + 1, "a@x", a[t]), _ann(10 * t + 2, "b@x", b[t]),
                              _ann(10 * t + 3, "r@x", a[t], gt=True)]} for t in range(6)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    loaded = load(path)
    versions = project_versions({"1 first": path}, manual_version="m1")
    trend = [{"model": "local:x", "params_m": 135.0, "kind": "instruct", "regime": "SFT", "n_checks": 10,
              "raw_failure_rate": 0.3, "raw_ci": (0.07, 0.65), "lower": (0.1, 0.0, 0.45), "upper": (0.2, 0.03, 0.56),
              "source": REAL_SOURCE},
             {"model": "davinci", "params_m": 175000.0, "kind": "base", "regime": "pretrained", "n_checks": 8,
              "raw_failure_rate": 0.5, "raw_ci": (0.16, 0.84), "lower": None, "upper": None,
              "source": PUBLISHED_SOURCE}]
    rep = build_report(loaded, tmp_path / "rep", path, progress=False,
                       sections={"versions": versions_records(loaded.frame, versions), "trend": trend})
    agree = {r["question"]: r for r in rep["versions"]["agreement"]}
    # raw verdict: the two labellers agree on 4 of 6 tasks (one pair per task)
    raw = agree[RUBRIC.verdict.question]
    assert raw["units"] == 6 and abs(raw["agreement"] - 4 / 6) < 1e-12
    assert raw["batch"] == "1 first" and raw["manual_version"] == "m1" and raw["rubric_version"] == RUBRIC.version
    gold = {r["worker"]: r for r in rep["versions"]["gold"]}
    assert gold["a@x"]["accuracy"] == 1.0 and abs(gold["b@x"]["accuracy"] - 4 / 6) < 1e-12
    # ambiguous share of the rule-applied verdicts: a bare "misaligned" without capable and
    # distinguishable answers is ambiguous under the rule, so recompute it with the rule itself
    derived = [derived_labels({RUBRIC.verdict.question: v})[RUBRIC.MISALIGNMENT] for v in a + b]
    amb = rep["versions"]["ambiguous"][0]
    assert amb["answers"] == 12 and abs(amb["ambiguous_share"] - derived.count(AMB) / 12) < 1e-12
    assert derived.count(AMB) == 6
    assert [r["model"] for r in rep["trend"]] == ["local:x", "davinci"]
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "Per rubric/manual version and batch" in html and "Questions of lowest agreement" in html
    assert "Trend across models (automatic metric)" in html and "30.0% [7.0%, 65.0%] (n=10)" in html
    assert "by construction" in html
