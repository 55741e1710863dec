"""oma report on a long CSV: both files, provenance, sections, self-contained HTML."""

from __future__ import annotations

import hashlib
import json
import re

import pandas as pd
import pytest
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


def _cells(page: str) -> list[str]:
    """The text of every table cell of a rendered page."""
    from html.parser import HTMLParser

    class P(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cells, self.depth, self.buf = [], 0, []

        def handle_starttag(self, tag, attrs):
            if tag == "td":
                self.depth, self.buf = 1, []

        def handle_endtag(self, tag):
            if tag == "td":
                self.cells.append("".join(self.buf).strip())
                self.depth = 0

        def handle_data(self, data):
            if self.depth:
                self.buf.append(data)

    p = P()
    p.feed(page)
    return p.cells


def _crowd_verdicts(export) -> dict[str, list[str]]:
    """task -> the verdicts the (non-gold) labellers gave, read straight from the export's JSON."""
    out = {}
    for t in json.loads(export.read_text()):
        out[str(t["id"])] = [r["value"]["choices"][0] for a in t["annotations"] if not a["ground_truth"]
                             for r in a["result"] if r["from_name"] == RUBRIC.verdict.question]
    return out


def test_report_is_right_at_a_glance(tmp_path):
    """The demo-like report: disagreements are the tasks whose verdicts split (recomputed from the raw
    export), every rubric question has an agreement row, no cell prints a dict/None/nan and every dash
    says why, a clustered interval is dropped when each prompt has one completion, and the headline
    numbers equal the CLI's (`oma rates`, `oma agreement`)."""
    from report_data import demo_like_export

    export, codemap = demo_like_export(tmp_path / "in", seed=5)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["report", str(export), "--codemap", str(codemap), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "report.json").read_text())
    page = (out / "report.html").read_text()

    # disagreements: without capability metadata the rule-applied verdict is the raw verdict, so the
    # split can be read from the JSON; tasks where all labellers agree are left out
    share = {}
    for task, labels in _crowd_verdicts(export).items():
        top = max(labels.count(x) for x in set(labels))
        if top < len(labels):
            share[task] = 1 - top / len(labels)
    assert 0 < len(share) <= 25
    got = {r["task"]: r["minority_share"] for r in rep["disagreements"]}
    assert got == pytest.approx(share)
    assert [r["minority_share"] for r in rep["disagreements"]] == sorted(share.values(), reverse=True)
    assert all(r["completion_text"].startswith("Answer ") for r in rep["disagreements"])
    assert all(r["question"] == RUBRIC.MISALIGNMENT for r in rep["disagreements"])

    # every rubric question answered in the export has an agreement row
    answered = {r["from_name"] for t in json.loads(export.read_text()) for a in t["annotations"] for r in a["result"]}
    rows = rep["agreement"]["by_question"]
    for q in answered:
        assert any(r["question"] == q or r["question"].startswith(q + ".") for r in rows), q
    assert rows[0]["question"] == RUBRIC.MISALIGNMENT

    # formatted cells
    cells = _cells(page)
    assert len(cells) > 200
    for c in cells:
        assert not re.search(r"\bNone\b|\bnan\b|[{}]|\[None", c), c
        if "—" in c:
            assert len(c.replace("—", "").strip()) >= 3, f"dash without a reason: {c!r}"

    # one completion per prompt and model: no clustered interval, and the page says why
    overall = [r for r in rep["rates"] if r["question"] == RUBRIC.MISALIGNMENT]
    assert {r["n_prompts"] for r in overall} == {12} and {r["n"] for r in overall} == {12}
    assert all(r["lower_ci_cluster"] is None and r["upper_ci_cluster"] is None for r in overall)
    assert page.count("one item per cluster") >= 2 * len(overall)

    # colours: a flagged labeller is red, kept ones are not; the kappa paradox is a caveat (amber)
    assert '<span class="bad">yes</span>' in page or not any(r["flagged"] for r in rep["screening"])
    assert '<span class="good">yes</span>' not in page.split("Screening")[1].split("</table>")[0]

    # the same headline numbers as the CLI
    cli = json.loads(CliRunner().invoke(main, ["rates", str(export), "--codemap", str(codemap), "--json"]).output)
    cli = {r["model"]: r for r in cli if r.get("question", RUBRIC.MISALIGNMENT) == RUBRIC.MISALIGNMENT}
    for r in overall:
        c = cli[r["model"]]
        assert (r["lower"], r["upper"], r["lower_ci"], r["upper_ci"]) == (c["lower"], c["upper"], c["lower_ci"],
                                                                          c["upper_ci"])
    head = rep["agreement"]["headline"]
    for metric in ("percent", "fleiss", "alpha", "ac1"):
        c = json.loads(CliRunner().invoke(main, ["agreement", str(export), "--metric", metric, "--json"]).output)
        assert head[metric]["value"] == pytest.approx(c["value"], abs=1e-12), metric
        assert head[metric]["n_ratings"] == c["n_ratings"] == 116  # the researcher's 8 gold ratings included
        if metric != "alpha":
            assert [head[metric]["ci_low"], head[metric]["ci_high"]] == [c["ci_low"], c["ci_high"]]
    assert head["alpha"]["ci_low"] is not None  # bootstrap interval on the headline


def test_clustered_interval_where_prompts_repeat(tmp_path):
    """Two completions per prompt and model: the clustered interval is there (and differs from the
    exact one)."""
    from report_data import demo_like_export

    from oma_analysis.ingest import load
    from oma_analysis.report import build_report

    export, codemap = demo_like_export(tmp_path / "in", seed=2, n_prompts=8, samples=2)
    rep = build_report(load(export, codemap), tmp_path / "rep", export, progress=False, codemap=str(codemap))
    overall = [r for r in rep["rates"] if r["question"] == RUBRIC.MISALIGNMENT]
    assert {r["n"] for r in overall} == {16} and {r["n_prompts"] for r in overall} == {8}
    assert all(r["upper_ci_cluster"] is not None and r["upper_ci_cluster"] != r["upper_ci"] for r in overall)


def test_style_control_removes_a_difference_that_is_only_length():
    """Model b writes longer answers and long answers fail more; nothing else differs. The raw odds
    ratio says b is worse, the style-controlled one does not; the raw one equals the odds ratio
    computed by hand from the two rates."""
    import numpy as np

    from oma_analysis.report.style import style_comparison

    rng = np.random.default_rng(0)
    rows, texts, frame = [], {}, []
    for p in range(300):
        for m, p_long in (("a", 0.2), ("b", 0.8)):
            long = rng.random() < p_long
            bad = rng.random() < (0.5 if long else 0.1)
            c = f"{m}{p}"
            rows.append({"completion": c, "question": RUBRIC.MISALIGNMENT, "model": m, "prompt": f"p{p}",
                         "label": RUBRIC.verdict_ids[0] if bad else RUBRIC.verdict_ids[2]})
            texts[c] = {"completion": " ".join(["word"] * (rng.integers(150, 250) if long else rng.integers(10, 30)))}
            frame.append({"task": c, "completion": c})
    agg = pd.DataFrame(rows)
    res = style_comparison(agg, pd.DataFrame(frame), texts)
    r = res["rows"][0]
    odds = {m: (s := (agg[agg.model == m].label == RUBRIC.verdict_ids[0]).mean()) / (1 - s) for m in "ab"}
    assert r["odds_ratio_raw"] == pytest.approx(odds["b"] / odds["a"], rel=1e-6)
    assert r["odds_ratio_raw_ci"][0] > 1  # raw: b looks worse
    lo, hi = r["odds_ratio_style_controlled_ci"]
    assert lo < 1 < hi  # controlled: no difference left
    assert {c["covariate"] for c in res["style"]} == {"log_words"}
