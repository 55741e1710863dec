"""P8: ``oma checks`` over usage-log shards — records/s on Ray Data with 1 and 2 workers, and the
plain single-process loop, on the same shards, with identical results required.

Records are IFEval prompts with GPT-4's answers cut to ~256 tokens (half carry IFEval's
instruction ids, half have their constraints parsed from the prompt), spread over 4 models and 30
days, written as JSONL shards. Each run goes through ``run_shards`` (the ``oma checks --shards``
path) into its own output folder; Ray's start-up is outside the timed part (a cluster is already
up in production), the workers' lazy model loading is inside it (so is the plain loop's).

Goal: >= 1.5x records/s with 2 workers over 1 on a 2-core machine (parallel efficiency =
speedup / 2). The JSON line: ``ours`` = records/s with 2 Ray workers, ``peer`` = records/s of the
plain loop, ``ratio`` = ours / peer (throughput: higher is better), plus the 1-worker figures,
the speedup and the efficiency. On a machine shared with other jobs (see ``load_avg``) the 2-worker
run competes for the second core, which caps the speedup below what an idle machine gives.

    python benchmarks/checks_ray.py [--quick] [--records N] [--shards S] [--chunk C] [--repeat R]

``--quick`` (8,000 records, 4 shards, 250-record chunks, 1 vs 2 workers twice) takes ~2 min on an
idle 2-core machine; ``load_avg`` lists the 1-min load average at the start and after each pair.
Wall times include each worker's model loading (a fixed cost, ~1-2 s idle, which weighs less as
the input grows).
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

from oma_analysis.checks.ifeval import load_ifeval
from oma_analysis.scale.shards import local_ray_options, read_results, run_shards

# The shared data sets are read in place, beside the checkout (unless OMA_SHARED_DIR says otherwise).
os.environ.setdefault("OMA_SHARED_DIR", str(Path(__file__).resolve().parents[2] / "shared"))


def write_shards(d: Path, n: int, n_shards: int) -> list[Path]:
    base = load_ifeval()
    recs = []
    for r in base:
        words = r["response"].split(" ")[:192]
        recs.append({"prompt": r["prompt"], "response": " ".join(words),
                     "instruction_id_list": r["instruction_id_list"], "kwargs": r["kwargs"]})
    paths = [d / f"logs-{s:03d}.jsonl" for s in range(n_shards)]
    fhs = [p.open("w", encoding="utf-8") for p in paths]
    per = -(-n // n_shards)
    for i in range(n):
        r = dict(recs[i % len(recs)])
        if i % 2:  # half the logs carry no instruction ids: constraints parsed from the prompt
            r.pop("instruction_id_list")
            r.pop("kwargs")
        r.update(id=i, model=f"model-{i % 4}", date=f"2026-01-{1 + i % 30:02d}")
        fhs[i // per].write(json.dumps(r) + "\n")
    for fh in fhs:
        fh.close()
    return paths


def timed_run(shards: list[Path], out: Path, workers: int | None, chunk: int = 500) -> float:
    if workers is None:
        t = time.perf_counter()
        run_shards([str(s) for s in shards], out)
        return time.perf_counter() - t
    import ray
    import ray.data

    root = str(Path(__file__).resolve().parents[1])
    ray.init(**local_ray_options(workers), runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}})
    try:
        # Ray Data's own helper actors (stats, autoscaling coordinator, actor locations) start with
        # the first data set on a cluster and then stay; start them before the clock, as on a cluster
        # that is already up. The check workers and their model loading stay inside the timed part.
        ray.data.range(1).materialize()
        t = time.perf_counter()
        run_shards([str(s) for s in shards], out, ray=True, workers=workers, chunk_records=chunk)
        return time.perf_counter() - t
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="8,000 records, 4 shards, 1 vs 2 workers twice")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--chunk", type=int, default=500, help="records per Ray task")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run 1 and 2 workers back to back this many times (alternating which goes first)")
    a = ap.parse_args()
    n, n_shards, repeat, chunk = ((8_000, 4, max(a.repeat, 2), min(a.chunk, 250)) if a.quick
                                  else (a.records, a.shards, a.repeat, a.chunk))
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        shards = write_shards(d, n, n_shards)
        plain = timed_run(shards, d / "plain", None)
        print(f"plain loop {plain:.1f} s, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
        ref = read_results(d / "plain")
        pairs, identical = [], True
        for r in range(repeat):
            t = {}
            for w in ((1, 2) if r % 2 == 0 else (2, 1)):  # alternate the order: load drifts
                out = d / f"ray{w}-{r}"
                t[w] = timed_run(shards, out, w, chunk)
                print(f"pair {r}: {w} worker(s) {t[w]:.1f} s, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
                identical &= bool(ref.equals(read_results(out)))
                shutil.rmtree(out)
            pairs.append((t[1], t[2]))
            loads.append(os.getloadavg()[0])
        n_rows = len(ref)
    assert n_rows == n and identical, "Ray results differ from the plain loop"
    one, two = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    rps = {k: n / v for k, v in (("plain", plain), ("ray1", one), ("ray2", two))}
    speedup = rps["ray2"] / rps["ray1"]
    print(json.dumps({
        "name": "checks_ray", "unit": "records/s", "ours": round(rps["ray2"], 1), "peer": round(rps["plain"], 1),
        "ratio": round(rps["ray2"] / rps["plain"], 2), "ray1_records_s": round(rps["ray1"], 1),
        "speedup_2_over_1": round(speedup, 2), "parallel_efficiency": round(speedup / 2, 2),
        "speedups_each_pair": [round(a1 / a2, 2) for a1, a2 in pairs],
        "goal_speedup": 1.5, "identical": identical, "records": n, "shards": n_shards, "chunk": chunk,
        "wall_s": {"plain": round(plain, 1), "ray1": [round(p[0], 1) for p in pairs],
                   "ray2": [round(p[1], 1) for p in pairs]},
        "cpus": os.cpu_count(), "load_avg": [round(x, 1) for x in loads],
        "extrapolated_1m_s_ray2": round(1_000_000 / rps["ray2"], 0),
    }))


if __name__ == "__main__":
    main()
