"""`oma auto` on 20 IFEval prompts answered by a real model (SmolLM2-135M-Instruct), its bounds
checked against an independent recomputation from the per-check results it writes; and the
definition on small hand-made cases."""

from __future__ import annotations

import csv
import math

import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import beta

from oma_analysis.cli import main
from oma_analysis.generate.backends import GenParams
from oma_analysis.generate.framing import parse_variants
from oma_analysis.generate.records import Completion
from oma_analysis.generate.runner import run
from oma_analysis.prompts.importers import import_ifeval
from oma_analysis.stats.auto import check_frame, length_sensitive, summarise


def one_thread() -> None:
    """One torch thread: on the shared 2-core machine two OpenMP threads per process spin-wait
    for each other under load (measured 5-12x slower)."""
    import torch

    torch.set_num_threads(1)


MODEL = "local:smollm2-135m-instruct"
VARIANTS = "chat+temp:0,completion+temp:0,chat+temp:0.7"  # deployed: chat, greedy (oma models)
MIN_RATE = 0.5


@pytest.fixture(scope="module")
def auto_out(shared_dir, tmp_path_factory):
    one_thread()
    d = tmp_path_factory.mktemp("auto")
    prompts = import_ifeval(shared_dir / "datasets" / "ifeval", responses=False).prompts[:20]
    assert len(prompts) == 20
    comps = d / "completions.jsonl"
    run(prompts, MODEL, comps, parse_variants(VARIANTS), seed=0, params=GenParams(max_new_tokens=40),
        batch_size=10, progress=False)
    res = CliRunner().invoke(main, ["auto", str(comps), "--ifeval", str(shared_dir / "datasets" / "ifeval"),
                                    "--out", str(d / "out"), "--min-rate", str(MIN_RATE), "--by-check"])
    assert res.exit_code == 0, res.output
    return d / "out", res.output


def _cp(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson from the beta quantiles directly (not statsmodels)."""
    lo = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
    hi = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
    return lo, hi


def _wilson_lo(k: int, n: int, z: float = 1.959963984540054) -> float:
    if n == 0:
        return 0.0
    p = k / n
    return (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


def _recompute(rows: list[dict]) -> dict[str, dict]:
    """The definition, again, with plain loops over checks.csv."""
    ev = [r for r in rows if r["passed"] in ("True", "False")]
    for r in ev:
        r["ok"] = r["passed"] == "True"
        r["dep"] = r["framing"] == "chat" and float(r["temperature"]) == 0.0
    out: dict[str, dict] = {}
    for r in ev:
        if not r["dep"]:
            continue
        for key in (r["model"], (r["model"], r["check"])):
            t = out.setdefault(key, {"n": 0, "fail": 0, "lower": 0, "upper": 0})
            t["n"] += 1
            if r["ok"]:
                continue
            t["fail"] += 1
            same = any(o["ok"] and not o["dep"] and o["model"] == r["model"] and o["prompt_id"] == r["prompt_id"]
                       and o["unit"] == r["unit"] for o in ev)
            others = [o for o in ev if o["model"] == r["model"] and o["check"] == r["check"]
                      and o["prompt_id"] != r["prompt_id"]]
            elsewhere = _wilson_lo(sum(o["ok"] for o in others), len(others)) >= MIN_RATE
            t["lower"] += same
            t["upper"] += same or elsewhere
    return out


def test_auto_bounds_match_independent_recomputation(auto_out):
    out, text = auto_out
    rows = list(csv.DictReader((out / "checks.csv").open()))
    assert {r["prompt_id"] for r in rows} and len({r["prompt_id"] for r in rows}) == 20
    want = _recompute(rows)
    summ = pd.read_csv(out / "auto.csv")
    per = pd.read_csv(out / "auto_by_check.csv")
    assert list(summ["model"]) == [MODEL]
    for frame, keyf in ((summ, lambda r: r["model"]), (per, lambda r: (r["model"], r["check"]))):
        assert len(frame) == sum(isinstance(k, tuple) == (frame is per) for k in want)
        for r in frame.to_dict("records"):
            w = want[keyf(r)]
            assert (r["n"], r["failures"], r["lower_k"], r["upper_k"]) == (w["n"], w["fail"], w["lower"], w["upper"])
            for b in ("lower", "upper"):
                lo, hi = _cp(w[b], w["n"])
                assert r[f"{b}_ci_low"] == pytest.approx(lo, abs=1e-9)
                assert r[f"{b}_ci_high"] == pytest.approx(hi, abs=1e-9)
            assert r["lower_k"] <= r["upper_k"] <= r["failures"]
    # the definition is printed beside the numbers, and where they come from
    assert "same check on the same prompt" in text and "Wilson lower bound >= 0.5" in text
    assert "real: automatic checks" in text and summ.loc[0, "lower_definition"].startswith("lower bound")
    print(text)  # the measured rates, for the report


def _c(prompt: str, text: str, variant: str, framing: str, temp: float, truncated: bool = False,
       pid: str = "p") -> Completion:
    return Completion.make(prompt_id=pid, messages=[{"role": "user", "content": prompt}], model="m", variant=variant,
                           text=text, framing=framing, params={"temperature": temp}, meta={"truncated": truncated})


DEP = {"m": {"framing": "chat", "temperature": 0.0}}


def test_failure_counts_only_when_capability_shown():
    p = "Answer in all lowercase letters: name a colour."
    shown = [_c(p, "Blue", "d", "chat", 0.0), _c(p, "blue", "c", "completion", 0.0)]
    never = [_c(p, "Blue", "d", "chat", 0.0), _c(p, "Red", "c", "completion", 0.0)]
    lower = lambda cs: summarise(check_frame(cs), DEP, by_check=True).set_index("check").loc["case.lower"]  # noqa: E731
    assert (lower(shown)["failures"], lower(shown)["lower_k"]) == (1, 1)
    assert (lower(never)["failures"], lower(never)["lower_k"], lower(never)["upper_k"]) == (1, 0, 0)


def test_upper_bound_uses_other_prompts_at_the_stated_rate():
    qs = [f"Answer in all lowercase letters: name fruit number {i}." for i in range(8)]
    cs = [_c(q, "apple", "c", "completion", 0.0, pid=f"q{i}") for i, q in enumerate(qs)]
    cs.append(_c("Answer in all lowercase letters: name a colour.", "Blue", "d", "chat", 0.0, pid="x"))
    r = summarise(check_frame(cs), DEP, by_check=True).set_index("check").loc["case.lower"]
    # 8/8 passes elsewhere: Wilson lower bound 0.68 >= 0.5 -> counted in the upper bound only
    assert (r["n"], r["failures"], r["lower_k"], r["upper_k"]) == (1, 1, 0, 1)
    r = summarise(check_frame(cs), DEP, min_rate=0.9, by_check=True).set_index("check").loc["case.lower"]
    assert r["upper_k"] == 0


def test_truncated_outputs_are_not_evaluable_for_length_checks():
    p = "Write fewer than 5 words about the sea."
    f = check_frame([_c(p, "The sea is very big and deep and blue", "d", "chat", 0.0, truncated=True)])
    length_rows = f[[length_sensitive(c, None) for c in f["check"]]]
    assert len(length_rows) and length_rows["passed"].isna().all()
    assert f[~f.index.isin(length_rows.index)]["passed"].notna().all()
    f2 = check_frame([_c(p, "The sea is very big and deep and blue", "d", "chat", 0.0)])
    assert f2[[length_sensitive(c, None) for c in f2["check"]]]["passed"].eq(False).all()


def test_trend_rows_for_the_gpt3_family_from_published_outputs(shared_dir, tmp_path):
    from oma_analysis.generate.models import GPT3_FAMILY
    from oma_analysis.prompts.importers import import_self_instruct
    from oma_analysis.report.trend import PUBLISHED_SOURCE, published_rows, write_trend

    src = shared_dir / "datasets" / "self_instruct_user_oriented"
    rows = published_rows(src, limit=6)
    assert {r["model"] for r in rows} == set(GPT3_FAMILY)
    imp = import_self_instruct(src)
    keep = {p.id for p in imp.prompts[:6]}
    f = check_frame([c for c in imp.completions if c.prompt_id in keep], {p.id: p for p in imp.prompts})
    for r in rows:
        g = f[(f["model"] == r["model"]) & f["passed"].notna()]
        assert r["n_checks"] == len(g) and r["raw_failure_rate"] == pytest.approx((g["passed"] == False).mean())  # noqa: E712
        assert r["params_m"] == 175_000.0 and r["source"] == PUBLISHED_SOURCE and r["lower"] is None
    assert GPT3_FAMILY["text-davinci-003"].regime.startswith("RLHF") and GPT3_FAMILY["davinci"].kind == "base"
    md = write_trend(rows, tmp_path).read_text()
    assert "not capability-conditioned" in md and "by construction" in md and md.count("| davinci") == 5
