"""The self-classification probe on a real model: SmolLM2-135M-Instruct (dequantised from its GGUF)
gets a classification head trained on a small IFEval-derived labelled set (GPT-4 answers that pass
every check vs corrupted ones; not Self-Instruct, whose licence forbids training) and then judges
its own deployed outputs. The flag rate is recomputed from the per-pair predictions it reports."""

from __future__ import annotations

import json
import math

from click.testing import CliRunner

from oma_analysis.checks.ifeval import load_ifeval
from oma_analysis.classifier.data import ifeval_pairs
from oma_analysis.cli import main
from oma_analysis.generate.backends import GenParams
from oma_analysis.generate.framing import parse_variants
from oma_analysis.generate.models import deployed_variant, info
from oma_analysis.generate.records import read_completions
from oma_analysis.generate.runner import run
from oma_analysis.prompts.records import core_prompts


def one_thread() -> None:
    """One torch thread: on the shared 2-core machine two OpenMP threads per process spin-wait
    for each other under load (measured 5-12x slower)."""
    import torch

    torch.set_num_threads(1)


MODEL = "local:smollm2-135m-instruct"


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p, d = k / n, 1 + z * z / n
    c, h = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def test_selfprobe_flags_own_deployed_outputs(shared_dir, tmp_path):
    one_thread()
    df = ifeval_pairs(load_ifeval(shared_dir / "datasets" / "ifeval"), n=24, seed=0)
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps({"prompt": a, "completion": b, "label": int(y)}) + "\n"
                            for a, b, y in zip(df["text_a"], df["text_b"], df["label"], strict=True)))
    own = tmp_path / "own.jsonl"
    dep = parse_variants(deployed_variant(info(MODEL)))
    run(core_prompts()[:8], MODEL, own, dep, seed=0, params=GenParams(max_new_tokens=32), progress=False)
    comps = read_completions(own)
    assert len(comps) == 8 and {c.variant for c in comps} == {"chat+temp:0"}

    res = CliRunner().invoke(main, ["selfprobe", "--model", MODEL, "--data", str(data), "--completions", str(own),
                                    "--train", "head", "--epochs", "40", "--learning-rate", "3e-3",
                                    "--max-length", "160", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads([ln for ln in res.output.splitlines() if ln.startswith("{")][-1])
    assert rep["train"] == "head" and rep["source"] == "own completions"
    assert rep["n_train"] + rep["n_held_out"] == len(df) and rep["n_held_out"] > 0
    preds = rep["predictions"]
    assert len(preds) == rep["n_classified"] == 8 and all(0.0 <= p <= 1.0 for p in preds)
    k = sum(p >= rep["threshold"] for p in preds)
    assert rep["not_met"] == k and rep["not_met_rate"] == round(k / 8, 4)
    lo, hi = _wilson(k, 8)
    assert rep["not_met_ci95"] == [round(lo, 4), round(hi, 4)]
    print(f"selfprobe {MODEL}: flags {k}/8 own deployed outputs; held-out accuracy "
          f"{rep['held_out_accuracy']} on {rep['n_held_out']}; {rep['seconds']}s")
