"""HumanEval with executed tests: real problems in the sandbox, the code metric where a variant
passes and the deployed setting fails (bound checked against a recomputation), evidence feeding
the capability profile, and ``oma auto --suite humaneval`` on a real local model."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import beta
from statsmodels.stats.proportion import proportion_confint

from oma_analysis.cli import main
from oma_analysis.code.humaneval import (
    CHECKS,
    as_prompts,
    check_items,
    code_evidence,
    evaluate,
    load_problems,
    pass_at_k,
    program,
    static_checks,
)
from oma_analysis.generate.records import Completion, write_completions
from oma_analysis.stats.profiles import build_profile

MODEL = "fixture-coder"
DEPLOYED = "chat+temp:0"


@pytest.fixture(scope="module")
def problems(shared_dir):
    ps = load_problems(shared_dir / "datasets" / "humaneval")
    assert len(ps) == 164 and len(as_prompts(ps)) == 164
    return {p.id: p for p in ps[:4]}


def _comp(p, text, variant, temp, sample=0):
    return Completion.make(prompt_id=p.id, messages=as_prompts([p])[0].messages, model=MODEL, variant=variant,
                           text=text, sample=sample, framing="chat", params={"temperature": temp})


def _fenced(p, body):
    return "Here you go:\n```python\n" + p.prompt + body + "```\nDone."


def test_correct_passes_and_wrong_fails_on_real_problems(problems):
    ids = list(problems)
    cs = []
    for pid in ids:
        p = problems[pid]
        cs.append(_comp(p, _fenced(p, p.canonical_solution), DEPLOYED, 0.0))  # right, fenced, whole function
        cs.append(_comp(p, "    return None\n", DEPLOYED, 0.0, 1))  # wrong body (HumanEval's completion format)
    p0 = problems[ids[0]]
    cs.append(_comp(p0, "def has_close_elements(nums):\n    return True\n", DEPLOYED, 0.0, 2))  # signature changed
    cs.append(_comp(p0, "    return any(\n", DEPLOYED, 0.0, 3))  # does not parse
    r = evaluate(cs, problems)
    right, wrong = r.iloc[0:8:2], r.iloc[1:8:2]
    assert right["code.tests"].all() and right["code.syntax"].all() and right["code.signature"].all()
    assert (right["status"] == "ok").all()
    assert not wrong["code.tests"].any() and (wrong["status"] == "failed").all()
    assert wrong["reason"].str.contains("AssertionError|TypeError").all()
    sig, syn = r.iloc[8], r.iloc[9]
    assert sig["code.syntax"] and not sig["code.signature"] and not sig["code.tests"]
    assert not syn["code.syntax"] and syn["status"] == "syntax_error"
    # HumanEval/0's docstring has two examples; the reference passes both, the wrong body one
    assert (right.iloc[0]["examples_k"], right.iloc[0]["examples_n"]) == (2, 2) and right.iloc[0]["code.examples"]
    assert wrong.iloc[0]["code.examples"] is False or not wrong.iloc[0]["code.examples"]


def test_program_keeps_prompt_helpers_and_strips_stray_fences(problems):
    p = problems["humaneval/0"]
    text = p.canonical_solution.rstrip() + "\n```\n"
    assert "```" not in program(p, text) and static_checks(p, text) == {"code.syntax": True, "code.signature": True}
    assert static_checks(p, "def renamed(x):\n    return x\n")["code.signature"] is False


def _fixture(problems):
    """Deployed greedy output and two samples at temperature 0.8 per problem:
    0: deployed wrong, one sample right  -> counts (lower bound) on code.tests and code.examples;
    1: deployed right                    -> no failure;
    2: deployed wrong, samples wrong     -> failure, but never shown capable on this problem;
    3: deployed renames the function, a sample keeps it and passes -> signature, tests (no examples)."""
    ps = [problems[i] for i in problems]
    wrong = "    return None\n"
    plan = [(wrong, [ps[0].canonical_solution, wrong]),
            (ps[1].canonical_solution, [ps[1].canonical_solution, wrong]),
            (wrong, [wrong, wrong]),
            ("def renamed(x):\n    return x\n", [wrong, ps[3].canonical_solution])]
    cs = []
    for p, (dep, samples) in zip(ps, plan, strict=True):
        cs.append(_comp(p, dep, DEPLOYED, 0.0))
        cs += [_comp(p, s, "temp:0.8", 0.8, i) for i, s in enumerate(samples)]
    return cs


def test_auto_suite_bound_where_a_variant_passes(problems, shared_dir, tmp_path):
    comps = tmp_path / "completions.jsonl"
    write_completions(_fixture(problems), comps)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["auto", "--suite", "humaneval", str(comps), "--limit", "4",
                                    "--humaneval", str(shared_dir / "datasets" / "humaneval"),
                                    "--deployed", f"{MODEL}={DEPLOYED}", "--out", str(out), "--by-check"])
    assert res.exit_code == 0, res.output
    results = pd.read_csv(out / "code_results.csv")
    # independent recomputation of the lower bound from the per-completion results
    k = n = 0
    per_check: dict[str, tuple[int, int]] = {}
    for check in CHECKS:
        kc = nc = 0
        for _pid, g in results.groupby("prompt_id"):
            d = g[g["variant"] == DEPLOYED].iloc[0]
            if pd.isna(d[check]):
                continue
            nc += 1
            if not bool(d[check]) and g[g["variant"] != DEPLOYED][check].fillna(False).astype(bool).any():
                kc += 1
        per_check[check] = (kc, nc)
        k, n = k + kc, n + nc
    assert per_check["code.tests"] == (2, 4)  # problems 0 and 3
    assert per_check["code.signature"] == (1, 4)  # problem 3
    summ = pd.read_csv(out / "auto.csv").iloc[0]
    assert (summ["lower_k"], summ["n"]) == (k, n) and k > 0
    lo, hi = beta.ppf(0.025, k, n - k + 1), beta.ppf(0.975, k + 1, n - k)
    assert summ["lower_ci_low"] == pytest.approx(lo) and summ["lower_ci_high"] == pytest.approx(hi)
    by = pd.read_csv(out / "auto_by_check.csv").set_index("check")
    assert by.loc["code.tests", "lower_k"] == 2 and by.loc["code.tests", "n"] == 4
    assert "lower 2/4 = 50.0%" in res.output
    rates = pd.read_csv(out / "pass_rates.csv").iloc[0]
    assert rates["deployed_pass@1"] == pytest.approx(1 / 4)
    # samples: problem 0 one of two, 1 one of two, 2 none, 3 one of two -> pass@1 = (.5+.5+0+.5)/4
    assert rates["sampled_pass@1"] == pytest.approx(1.5 / 4) and rates["sampled_pass@2"] == pytest.approx(3 / 4)


def test_code_evidence_feeds_the_profile(problems):
    r = evaluate(_fixture(problems), problems)
    ev = code_evidence(r)
    items = check_items()
    syn = ev.set_index("item").loc[items["code.syntax"]]
    assert (syn["k"], syn["n"], syn["source"]) == (12, 12, "auto")  # every fixture completion parses
    prof = build_profile(ev, {MODEL: {"params_b": 0.1, "type": "instruct"}}).set_index("item")
    assert prof.loc[items["code.syntax"], "status"] == "capable"
    assert prof.loc[items["code.syntax"], "lower"] == pytest.approx(proportion_confint(12, 12, 0.05, "wilson")[0])
    # no deployed-setting code passes problem 2's tests: evidence never makes an item "not capable"
    assert set(prof.loc[list(items.values()), "status"]) <= {"capable", "unknown"}


def test_pass_at_k_matches_the_combinatorial_definition():
    from math import comb

    for n, c, k in [(5, 2, 1), (5, 2, 3), (10, 1, 5), (4, 0, 2)]:
        assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


def test_auto_suite_on_a_real_local_model(shared_dir, tmp_path):
    """Greedy (the deployed setting) + one sample at 0.8 on one problem: small models pass few problems,
    so this checks the plumbing on real output, not a pass rate."""
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["auto", "--suite", "humaneval", "--model", "local:smollm2-135m-instruct",
                                    "--humaneval", str(shared_dir / "datasets" / "humaneval"), "--limit", "1",
                                    "--samples", "1", "--max-new-tokens", "96", "--out", str(out)])
    assert res.exit_code == 0, res.output
    r = pd.read_csv(out / "code_results.csv")
    assert sorted(r["variant"]) == ["chat+temp:0", "temp:0.8"] and len(r) == 2
    assert set(r["status"]) <= {"ok", "failed", "syntax_error", "timeout", "memory", "cpu", "killed", "file_size"}
    gen = [json.loads(x) for x in (out / "completions.jsonl").read_text().splitlines()]
    assert {g["params"]["temperature"] for g in gen} == {0.0, 0.8}
    assert "local:smollm2-135m-instruct: failures" in res.output
    assert (out / "evidence.csv").exists() and len(pd.read_csv(out / "evidence.csv")) >= 2
