"""Comparable rounds: a resample of one prompt distribution is 'comparable', a shifted round
(only templated multi-constraint prompts, or only code prompts) is 'shifted', over several seeds;
the MMD permutation test agrees with scipy.stats.permutation_test and a brute-force MMD."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy.stats import permutation_test

from oma_analysis.prompts.drift import compare_rounds, embed, mmd2, mmd_test, rbf_kernel, render_markdown
from oma_analysis.prompts.records import core_prompts, write_prompts
from oma_analysis.prompts.templates import TEMPLATES, sample

SEEDS = 20
N = 30


@pytest.fixture(scope="module")
def pool():
    recs = core_prompts() + sample(70, seed=11)  # about 40 % templated multi-constraint
    code = [t for t in TEMPLATES if t.task_type == "code"]
    recs += [r for r in sample(40, seed=12, templates=tuple(code)) if r.id not in {x.id for x in recs}]
    return recs, embed([r.user_text for r in recs])


def _draw(rng, idx, n):
    return list(rng.choice(idx, size=n, replace=False))


def test_mmd_statistic_and_p_value_match_independent_implementations():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(15, 3)), rng.normal(0.4, 1, size=(12, 3))
    k = rbf_kernel(np.concatenate([x, y]))
    # brute force unbiased MMD^2 (Gretton et al. 2012, eq. 3)
    m, n = len(x), len(y)
    kxx = sum(k[i, j] for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k[m + i, m + j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k[i, m + j] for i in range(m) for j in range(n)) / (m * n)
    assert mmd2(k, m) == pytest.approx(kxx + kyy - 2 * kxy)
    stat, p = mmd_test(x, y, permutations=1999, seed=1)
    ref = permutation_test((np.arange(m), np.arange(m, m + n)),
                           lambda a, b: mmd2(k[np.ix_(np.r_[a, b], np.r_[a, b])], len(a)),
                           permutation_type="independent", vectorized=False, n_resamples=1999,
                           alternative="greater", random_state=2)
    assert stat == pytest.approx(ref.statistic)
    assert abs(p - ref.pvalue) < 0.04  # two Monte Carlo estimates of the same p (sd ~0.01)


def test_resamples_comparable_shifts_reported_over_seeds(pool, tmp_path):
    recs, emb = pool
    everything = np.arange(len(recs) - 40)  # core + templated space, without the extra code prompts
    only_multi = np.array([i for i, r in enumerate(recs) if r.task_type == "multi_constraint"
                           and r.source == "oma-templates"])
    only_code = np.array([i for i, r in enumerate(recs) if r.task_type == "code" or r.meta.get("template") == "code"])
    assert len(only_multi) >= N and len(only_code) >= N
    alarms, caught, caught_code, text_caught = 0, 0, 0, 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        ia = _draw(rng, everything, N)
        ib = _draw(rng, np.setdiff1d(everything, ia), N)
        same = compare_rounds([recs[i] for i in ia], [recs[i] for i in ib], embeddings=(emb[ia], emb[ib]),
                              permutations=199, seed=seed)
        alarms += not same.comparable
        if seed < 5:
            ic = _draw(rng, only_multi, N)
            shifted = compare_rounds([recs[i] for i in ia], [recs[i] for i in ic], embeddings=(emb[ia], emb[ic]),
                                     permutations=199, seed=seed)
            caught += "task types" in shifted.shifted
            text_caught += "text" in shifted.shifted
            assert re.match(r"shifted in task types \(multi_constraint \d+% vs 100%", shifted.verdict) or (
                "task types" not in shifted.shifted), shifted.verdict
            ik = _draw(rng, only_code, N)
            code = compare_rounds([recs[i] for i in ia], [recs[i] for i in ik], embeddings=(emb[ia], emb[ik]),
                                  permutations=199, seed=seed)
            caught_code += not code.comparable
            text_caught += "text" in code.shifted
            assert code.verdict.startswith("shifted in "), code.verdict
    rate = alarms / SEEDS
    print(json.dumps({"name": "prompt_drift_false_alarms", "seeds": SEEDS, "n": N, "false_alarms": alarms,
                      "false_alarm_rate": rate, "shift_detected": f"{caught}/5", "code_shift": f"{caught_code}/5",
                      "text_test_caught_shift": f"{text_caught}/10"}))
    # Holm over four tests at 0.05: at most ~5 % false alarms; 4+ of 20 has probability < 2 % at 5 %.
    assert alarms <= 3
    assert caught == 5 and caught_code == 5
    write_prompts([recs[i] for i in ia], tmp_path / "a.jsonl")
    assert same.verdict.startswith(("comparable", "shifted"))
    assert "| task types |" in render_markdown(same)


def test_cli_compare_rounds(pool, tmp_path):
    from click.testing import CliRunner

    from oma_analysis.cli import main

    recs, _ = pool
    write_prompts(recs[:30], tmp_path / "a.jsonl")
    write_prompts([r for r in recs if r.task_type == "multi_constraint"][:30], tmp_path / "b.jsonl")
    res = CliRunner().invoke(main, ["prompts", "drift", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"),
                                    "--json", "--permutations", "199"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["comparable"] is False and "task types" in out["verdict"]
    res = CliRunner().invoke(main, ["prompts", "drift", str(tmp_path / "a.jsonl"), str(tmp_path / "a.jsonl")])
    assert res.exit_code == 0 and "comparable" in res.output


def test_quotas_from_a_run_spec(tmp_path):
    import yaml

    from oma_analysis import OmaError
    from oma_analysis.prompts.briefs import read_quotas

    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "briefs": {"quotas": {"code": 1, "translation": 3}}}))
    assert read_quotas(p) == {"code": 0.25, "translation": 0.75}
    p.write_text(yaml.safe_dump({"briefs": {"quotas": {"wikipedia": 1}}}))
    with pytest.raises(OmaError, match="quotas.wikipedia"):
        read_quotas(p)
