"""The command contract on a long CSV: rates, certify, plan, labellers, disagreements."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from oma_analysis.cli import main
from oma_analysis.demo.simulate import simulate_long


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory):
    sim = simulate_long(900, 8, seed=12, class_probs=[[0.0, 0.0, 1.0], [0.1, 0.1, 0.8], [0.3, 0.1, 0.6]],
                        models=("good", "mid", "bad"), accuracy=[0.99] * 8)
    f = sim.frame.drop(columns=["completion"])  # long files: a completion is a task
    bad = pd.DataFrame({"task": ["t0", None], "worker": [None, "w1"], "question": "obvious_misalignment",
                        "label": ["ambiguous", "clearly_aligned"], "model": "good", "prompt": "p0"})
    path = tmp_path_factory.mktemp("cli") / "long.csv"
    pd.concat([f, bad], ignore_index=True).to_csv(path, index=False)
    return path, sim


def _json(args):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), res.stderr


def test_rates_contract(long_csv):
    path, sim = long_csv
    for policy in ("majority", "dawid-skene", "any", "all"):
        recs, err = _json(["rates", str(path), "--policy", policy, "--json"])
        assert "2 annotation(s) set aside: missing task, worker or label" in err
        by = {r["model"]: r for r in recs}
        assert set(by) == {"good", "mid", "bad"}
        for r in recs:
            assert {"model", "n", "lower", "upper", "lower_ci", "upper_ci"} <= set(r)
            assert r["n"] == 300 and r["lower"] <= r["upper"]
            assert r["lower_ci"][0] <= r["lower"] <= r["lower_ci"][1]
        assert by["bad"]["lower"] > by["mid"]["lower"]
    # per failure type breakdown falls back to the overall question when none present
    recs, _ = _json(["rates", str(path), "--breakdown", "failure", "--method", "wilson", "--json"])
    assert {r["question"] for r in recs} == {"obvious_misalignment"}


def test_certify_and_plan(long_csv):
    path, _ = long_csv
    recs, _ = _json(["certify", str(path), "--threshold", "0.02", "--confidence", "0.95", "--json"])
    by = {r["model"]: r for r in recs}
    assert by["good"]["passes"] and not by["bad"]["passes"]
    assert by["good"]["upper_bound"] < 0.02 < by["mid"]["upper_bound"]
    res = CliRunner().invoke(main, ["plan", "--threshold", "0.02", "--failures", "0", "--confidence", "0.95"])
    assert res.exit_code == 0 and res.output.strip() == "149"


def test_labellers_and_disagreements(long_csv, tmp_path):
    path, sim = long_csv
    recs, _ = _json(["labellers", str(path), "--json"])
    assert len(recs) == 8
    for r in recs:
        assert r["accuracy"] is not None and r["ds_diagonal"] is not None
        assert r["accuracy"] == pytest.approx(0.99, abs=0.03)
    gold = tmp_path / "gold.csv"
    tasks = "t" + sim.truth.index.str[1:]
    pd.DataFrame({"task": tasks, "label": sim.truth.to_numpy()}).to_csv(gold, index=False)
    recs, _ = _json(["labellers", str(path), "--gold", str(gold), "--json"])
    assert all(r["reference"] == "gold" for r in recs)
    top, _ = _json(["disagreements", str(path), "--top", "5", "--json"])
    assert len(top) == 5 and np.all(np.diff([t["entropy"] for t in top]) <= 1e-12)


def test_bad_input_is_a_clear_error(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("task,label\n1,ambiguous\n")
    res = CliRunner().invoke(main, ["rates", str(p), "--json"])
    assert res.exit_code == 2 and res.stderr.startswith("oma: error:") and "x.csv" in res.stderr
