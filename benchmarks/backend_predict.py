"""``/predict`` of the ML backend through the whole HTTP path (gunicorn, JSON, config parsing, the
checks, the int8 intent classifier) against a plain fp32 per-task transformers loop, same run.

1. Trains the intent classifier on IFEval pairs (``oma_analysis.classifier.ifeval_pairs``; GPT-4
   responses and corrupted copies) and keeps a disjoint held-out set: accuracy fp32 vs int8.
2. Starts the backend (1 gunicorn worker, torch on ``--threads`` cores) and measures single-task
   p50/p95 at 256 tokens and the throughput of 32-task requests at 128 tokens.
3. Peer: the same fp32 model in a per-task loop (tokenise one pair, forward, softmax).
4. FLOPs per sequence from the model config and the fraction of this machine's measured fp32
   matmul peak (torch matmul, same threads).

Prints p50/p95 and the details, then one JSON line: ``ours``/``peer`` in ms per sequence for the
batched path (``ratio`` = peer/ours = speed-up; goal ≥ 2).

    python benchmarks/backend_predict.py [--quick] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from oma_analysis.lifecycle.procs import free_port

# The shared data sets are read in place, beside the checkout (unless OMA_SHARED_DIR says otherwise).
os.environ.setdefault("OMA_SHARED_DIR", str(Path(__file__).resolve().parents[2] / "shared"))


def flops_per_sequence(cfg, seq: int) -> float:
    """Matmul FLOPs of a BERT encoder forward pass (2 per multiply-add): per layer QKV+output
    projections 8·L·h², feed-forward 4·L·h·i, attention scores and mix 4·L²·h."""
    h, i, n = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    return float(n * (8 * seq * h * h + 4 * seq * h * i + 4 * seq * seq * h))


def matmul_peak(threads: int, n: int = 1024, reps: int = 20) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, (time.perf_counter() - t) / reps)
    return 2 * n**3 / best


def pair_with_tokens(tok, prompt: str, base: str, target: int) -> tuple[str, str]:
    """A (prompt, completion) whose pair encoding is about ``target`` tokens (truncation to the
    model's max_length takes care of the rest)."""
    words = base.split()
    comp = ""
    k = 0
    while len(tok(prompt, comp)["input_ids"]) < target:
        comp += " " + words[k % len(words)]
        k += 1
    return prompt, comp.strip()


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=None, help="IFEval dir (default ../shared/datasets/ifeval)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir with the trained model (for profiling)")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import requests
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ml_backend import server
    from oma_analysis.checks.ifeval import load_ifeval
    from oma_analysis.classifier import IntentClassifier, ifeval_pairs, train
    from oma_analysis.labelstudio.push import prepare
    from oma_analysis.rubric.xml import render
    from oma_analysis.tasks.blinding import CodeMap

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    n_single, n_batches, n_peer = (30, 3, 64) if args.quick else (200, 10, 320)

    # ---- 1. a trained model and a disjoint held-out set -----------------------------------------
    recs = load_ifeval(Path(args.data) if args.data else None)
    # Enough pairs and epochs for a classifier well away from chance: near 50 % accuracy, int8
    # rounding flips many borderline predictions and the fp32/int8 comparison is mostly noise.
    pairs = ifeval_pairs(recs, n=96 if args.quick else 400, seed=0)
    prompts = sorted(set(pairs["text_a"]))
    held_prompts = set(prompts[: len(prompts) // 4])  # split by prompt: no prompt on both sides
    held = pairs[pairs["text_a"].isin(held_prompts)].reset_index(drop=True)
    tr = pairs[~pairs["text_a"].isin(held_prompts)].reset_index(drop=True)
    work = Path(tempfile.mkdtemp(prefix="oma-bench-"))
    t = time.perf_counter()
    # gate=False: the benchmark measures speed (the held-out accuracy below says how good it is).
    res = train(tr, work / "models", epochs=1 if args.quick else 4, max_length=256, test_size=0.1, gate=False)
    train_s = time.perf_counter() - t
    y = held["label"].to_numpy()
    hp = list(zip(held["text_a"], held["text_b"], strict=True))
    acc, said = {}, {}
    for q in (False, True):
        clf = IntentClassifier.load(work / "models", quantize=q)
        said[q] = (clf.predict(hp) >= 0.5).astype(int)
        acc["int8" if q else "fp32"] = float((said[q] == y).mean())
    same_decisions = float((said[False] == said[True]).mean())

    # ---- 2. the backend over HTTP ----------------------------------------------------------------
    tok = AutoTokenizer.from_pretrained(res.path)
    base = " ".join(r["response"] for r in recs[:5])
    p256 = pair_with_tokens(tok, "Write a short essay about the sea in at least 300 words.", base, 256)
    p128 = pair_with_tokens(tok, "Summarise the text below in three sentences.", base, 128)
    xml = render("review")
    codes = CodeMap()

    def tasks(p: tuple[str, str], n: int) -> list[dict]:
        recs_ = [{"prompt_id": f"b{i}", "prompt": p[0], "completion": p[1] + f" ({i})", "model": "m"}
                 for i in range(n)]
        return [dict(t, id=i + 1) for i, t in enumerate(prepare(recs_, xml, codes, "bench"))]

    home = work / "home"
    env = {"OMA_BACKEND_MODELS": str(work / "models"), "OMA_TORCH_THREADS": str(args.threads), "OMA_QUANTIZE": "1",
           "LOG_LEVEL": "WARNING", "OMA_BACKEND_USER": "", "OMA_BACKEND_PASSWORD": "", "OMA_POLL_S": "0"}
    st = server.start(port=free_port(), home=home, env=env, workers=1, threads=2, timeout=180)
    try:
        s = requests.Session()
        s.auth = server._auth(home)  # credentials generated on the backend's first start (0600)
        url = st.url + "/predict"

        def call(ts: list[dict]) -> dict:
            r = s.post(url, json={"tasks": ts, "label_config": xml}, timeout=120)
            r.raise_for_status()
            return r.json()

        one = tasks(p256, 1)
        for _ in range(5):
            out = call(one)
        assert out["model_version"] == res.path.name, out["model_version"]
        lat = []
        for _ in range(n_single):
            t = time.perf_counter()
            call(one)
            lat.append((time.perf_counter() - t) * 1000)
        batch = tasks(p128, 32)
        call(batch)
        t = time.perf_counter()
        for _ in range(n_batches):
            call(batch)
        ours_tp = 32 * n_batches / (time.perf_counter() - t)
    finally:
        server.stop(home)

    # ---- 3. peer: plain fp32 per-task loop ------------------------------------------------------
    torch.set_num_threads(args.threads)
    model = AutoModelForSequenceClassification.from_pretrained(res.path).eval()

    def one_fp32(p: tuple[str, str]) -> float:
        with torch.inference_mode():
            enc = tok(p[0], p[1], truncation="longest_first", max_length=256, return_tensors="pt")
            return float(model(**enc).logits.softmax(-1)[0, 1])

    for _ in range(5):
        one_fp32(p128)
    t = time.perf_counter()
    for i in range(n_peer):
        one_fp32((p128[0], p128[1] + f" ({i % 32})"))
    peer_tp = n_peer / (time.perf_counter() - t)
    peer_lat = []
    for _ in range(max(20, n_single // 2)):
        t = time.perf_counter()
        one_fp32(p256)
        peer_lat.append((time.perf_counter() - t) * 1000)

    # ---- 4. FLOPs and the machine's matmul peak --------------------------------------------------
    fl128 = flops_per_sequence(model.config, 128)
    fl256 = flops_per_sequence(model.config, 256)
    peak = matmul_peak(args.threads)
    report = {
        "name": "backend_predict", "unit": "ms/seq (32-task /predict at 128 tokens vs fp32 per-task loop)",
        "ours": round(1000 / ours_tp, 3), "peer": round(1000 / peer_tp, 3),
        "ratio": round(ours_tp / peer_tp, 3),
        "ours_seq_per_s": round(ours_tp, 1), "peer_seq_per_s": round(peer_tp, 1),
        "single_p50_ms": round(statistics.median(lat), 2), "single_p95_ms": round(pct(lat, 0.95), 2),
        "peer_single_p50_ms": round(statistics.median(peer_lat), 2),
        "peer_single_p95_ms": round(pct(peer_lat, 0.95), 2),
        "single_tokens": len(tok(*p256, truncation="longest_first", max_length=256)["input_ids"]),
        "batch_tokens": len(tok(*p128)["input_ids"]),
        "gflop_per_seq_128": round(fl128 / 1e9, 3), "gflop_per_seq_256": round(fl256 / 1e9, 3),
        "matmul_peak_gflops": round(peak / 1e9, 1),
        "ours_fraction_of_peak": round(ours_tp * fl128 / peak, 3),
        "peer_fraction_of_peak": round(peer_tp * fl128 / peak, 3),
        "held_out_n": int(len(y)), "held_out_acc_fp32": round(acc["fp32"], 4),
        "held_out_acc_int8": round(acc["int8"], 4), "int8_same_decisions_as_fp32": round(same_decisions, 4),
        "acc_diff_points": round(100 * (acc["int8"] - acc["fp32"]), 2),
        "train_pairs": int(len(tr)), "train_seconds": round(train_s, 1), "threads": args.threads,
        "quick": args.quick, "goals": {"single_p95_ms<=30": pct(lat, 0.95) <= 30, "ratio>=2": ours_tp / peer_tp >= 2,
                                       "acc_within_1pt": abs(acc["int8"] - acc["fp32"]) <= 0.01 + 1e-9},
    }
    print(f"/predict single task ({report['single_tokens']} tokens): p50 {report['single_p50_ms']} ms, "
          f"p95 {report['single_p95_ms']} ms (fp32 loop p95 {report['peer_single_p95_ms']} ms)", file=sys.stderr)
    print(f"/predict 32-task batches (128 tokens): {report['ours_seq_per_s']} seq/s vs fp32 per-task loop "
          f"{report['peer_seq_per_s']} seq/s", file=sys.stderr)
    print(json.dumps(report))
    if args.keep:
        print(f"kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
