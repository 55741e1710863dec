"""Per-record latency of the full automatic check set, as the ML backend calls it per task
(``run_checks(prompt, completion)``, constraints parsed from the prompt), on IFEval prompts with
GPT-4's responses cut to about 256 tokens (P5: ``/predict`` p95 <= 30 ms at 256 tokens; the checks
are part of that budget). Also times the record path (``check_record`` with IFEval's instruction
ids) and each always-on check alone.

Reports wall-clock and CPU (process) time: on a shared machine the wall time includes waiting for
a core, the CPU time is what the checks cost.

Prints per-part p50/p95, then one JSON line: ``ours`` = wall p95 in ms of ``run_checks`` per
record, ``peer`` = the P5 budget (30 ms).

    python benchmarks/checks_latency.py [--quick] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from oma_analysis.checks import check_offensive, check_record, run_checks
from oma_analysis.checks.ifeval import load_ifeval

# The shared data sets are read in place, beside the checkout (unless OMA_SHARED_DIR says otherwise).
os.environ.setdefault("OMA_SHARED_DIR", str(Path(__file__).resolve().parents[2] / "shared"))

TOKENS = 256
WORDS_PER_TOKEN = 0.75  # English BPE: about 3 words per 4 tokens
BUDGET_MS = 30.0


def cut(text: str, tokens: int = TOKENS) -> str:
    words = text.split(" ")
    return " ".join(words[: int(tokens * WORDS_PER_TOKEN)])


def timed(fn: Callable[[], object], reps: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(1000 * (time.process_time() - c))
        wall.append(1000 * (time.perf_counter() - w))
    return wall, cpu


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1] if len(xs) > 1 else xs[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="default: shared/datasets/ifeval")
    ap.add_argument("--quick", action="store_true", help="100 records")
    args = ap.parse_args(argv)
    records = load_ifeval(args.data)
    long = [r for r in records if len(r["response"].split(" ")) >= TOKENS * WORDS_PER_TOKEN]
    recs = [{**r, "response": cut(r["response"])} for r in long][: 100 if args.quick else None]
    for r in recs[:3]:  # warm up: model loads, regex compiles, langdetect profiles
        check_record(r)
        run_checks(r["prompt"], r["response"])
    parts: dict[str, tuple[list[float], list[float]]] = {
        "run_checks (backend path)": ([], []), "check_record (IFEval ids)": ([], []), "offensive alone": ([], [])}
    for r in recs:
        for name, fn in (("run_checks (backend path)", lambda r=r: run_checks(r["prompt"], r["response"])),
                         ("check_record (IFEval ids)", lambda r=r: check_record(r)),
                         ("offensive alone", lambda r=r: check_offensive(r["response"]))):
            w, c = timed(fn, 1)
            parts[name][0].extend(w)
            parts[name][1].extend(c)
    print(f"{len(recs)} records cut to ~{TOKENS} tokens ({int(TOKENS * WORDS_PER_TOKEN)} words)")
    print(f"{'part':32} {'wall p50':>9} {'wall p95':>9} {'cpu p50':>8} {'cpu p95':>8}  (ms)")
    for name, (w, c) in parts.items():
        print(f"{name:32} {pct(w, 50):9.2f} {pct(w, 95):9.2f} {pct(c, 50):8.2f} {pct(c, 95):8.2f}")
    w, c = parts["run_checks (backend path)"]
    print(json.dumps({
        "name": "checks_latency", "ours": round(pct(w, 95), 2), "peer": BUDGET_MS,
        "unit": "ms per record, p95 wall, run_checks at ~256 tokens (peer: P5 budget of /predict)",
        "ratio": round(BUDGET_MS / max(1e-9, pct(w, 95)), 3), "cpu_p95_ms": round(pct(c, 95), 2),
        "p50_ms": round(pct(w, 50), 2), "records": len(recs),
        "record_path_p95_ms": round(pct(parts["check_record (IFEval ids)"][0], 95), 2),
        "offensive_p95_ms": round(pct(parts["offensive alone"][0], 95), 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
