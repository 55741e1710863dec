"""Krippendorff's alpha (nominal) on 200k units x 50 values: oma's sparse coincidences vs
``krippendorff.alpha`` 0.9 (which builds an N x V x V array).

Each side runs in its own subprocess, one after the other, on the same reliability data (5 raters,
20 % missing); time and peak memory (tracemalloc: bytes allocated during the call) are measured
there. Prints one JSON line; ratio = peer seconds / ours.

    python benchmarks/alpha_many_values.py [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys

N_UNITS, N_VALUES, N_RATERS = 200_000, 50, 5


def make_data(n_units: int):
    import numpy as np

    rng = np.random.default_rng(0)
    values = np.arange(1, N_VALUES + 1, dtype=float)
    truth = rng.integers(0, N_VALUES, n_units)
    noise = rng.integers(0, N_VALUES, (N_RATERS, n_units))
    data = values[np.where(rng.random((N_RATERS, n_units)) < 0.6, truth[None, :], noise)]
    data[rng.random((N_RATERS, n_units)) < 0.2] = np.nan
    return data


def run_side(side: str, n_units: int) -> dict:
    import resource
    import time
    import tracemalloc

    import numpy as np

    data = make_data(n_units)
    if side == "ours":
        from scipy import sparse

        from oma_analysis.stats.agreement import alpha_from_counts

        def call() -> float:
            r, u = np.nonzero(~np.isnan(data))
            domain, code = np.unique(data[r, u], return_inverse=True)
            counts = sparse.csr_matrix((np.ones(len(u)), (u, code)), shape=(data.shape[1], len(domain)))
            return alpha_from_counts(counts, domain, "nominal")
    else:
        import krippendorff

        def call() -> float:
            return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.perf_counter()
    value = call()
    secs = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"value": value, "seconds": secs, "peak_bytes": peak, "maxrss_delta_kb": rss1 - rss0}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--side":
        print(json.dumps(run_side(sys.argv[2], int(sys.argv[3]))))
        return
    quick = "--quick" in sys.argv
    n_units = 20_000 if quick else N_UNITS
    res = {}
    for side in ("ours", "peer"):  # one at a time: the peer alone needs ~11.5 GB at full size
        out = subprocess.run([sys.executable, __file__, "--side", side, str(n_units)], check=True,
                             capture_output=True, text=True).stdout
        res[side] = json.loads(out.strip().splitlines()[-1])
    o, p = res["ours"], res["peer"]
    print(json.dumps({
        "name": "alpha_many_values", "ours": round(o["seconds"], 4), "peer": round(p["seconds"], 4),
        "unit": "s", "ratio": round(p["seconds"] / o["seconds"], 2),
        "peak_mb_ours": round(o["peak_bytes"] / 2**20, 1), "peak_mb_peer": round(p["peak_bytes"] / 2**20, 1),
        "memory_ratio": round(p["peak_bytes"] / o["peak_bytes"], 1),
        "maxrss_delta_mb_ours": round(o["maxrss_delta_kb"] / 1024, 1),
        "maxrss_delta_mb_peer": round(p["maxrss_delta_kb"] / 1024, 1),
        "abs_diff": abs(o["value"] - p["value"]), "equal_1e-9": abs(o["value"] - p["value"]) <= 1e-9,
        "alpha": o["value"], "n_units": n_units, "n_values": N_VALUES, "n_raters": N_RATERS,
        "peer_impl": "krippendorff.alpha(reliability_data, 'nominal') 0.9", "quick": quick,
        "goal": "ratio >= 20, memory_ratio >= 20, abs_diff <= 1e-9",
    }))


if __name__ == "__main__":
    main()
