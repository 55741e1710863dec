"""Recovery of known truth for the review bound, the elicitation gap (per model and per variant) and
the combined bound: a synthetic run (200 prompts x 2 models, 2 variants each, 5 labellers at 95 %
accuracy, 3 per task, 20 % swapped pairs) written as a Label Studio JSON export, read back by the
real loader, over many seeds; prints the coverage of the 95 % exact intervals per quantity.

    python benchmarks/elicitation_recovery.py [--quick] [--seeds N] [--prompts N]

The JSON line's ``ours`` is the overall coverage (nominal 0.95 is the ``peer``).
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    from oma_analysis.demo.simulate_elicitation import coverage

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="5 seeds")
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--prompts", type=int, default=200)
    a = ap.parse_args()
    seeds = 5 if a.quick else a.seeds
    t0 = time.perf_counter()
    table, checks = coverage(range(seeds), n_prompts=a.prompts)
    print(table.to_string(index=False))
    overall = float(checks["covered"].mean())
    print(json.dumps({"name": "elicitation_recovery", "ours": round(overall, 4), "peer": 0.95, "unit": "coverage",
                      "ratio": round(0.95 / overall, 4), "seeds": seeds, "prompts_per_model": a.prompts,
                      "intervals": len(checks), "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
