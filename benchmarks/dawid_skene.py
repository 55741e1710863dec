"""Dawid–Skene on 600k labels (200k tasks x 3, 50 workers): oma vs crowd-kit in the same run.

Prints one JSON line {"name","ours","peer","unit","ratio",...}; ratio = peer / ours (> 1: faster).
Goal: ratio >= 3 and the same labels on >= 99.9 % of tasks.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from oma_analysis.demo.simulate import simulate_long
from oma_analysis.stats.dawid_skene import dawid_skene


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="20k tasks instead of 200k")
    args = ap.parse_args()
    n_tasks = 20_000 if args.quick else 200_000
    rng = np.random.default_rng(0)
    sim = simulate_long(n_tasks, 50, per_item=3, accuracy=rng.uniform(0.6, 0.95, 50), seed=1,
                        models=("m",), class_probs=[[0.1, 0.2, 0.7]])
    df = sim.frame[["task", "worker", "label"]].copy()
    t = time.perf_counter()
    ours = dawid_skene(df)
    t_ours = time.perf_counter() - t
    from crowdkit.aggregation import DawidSkene

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        ck = DawidSkene(n_iter=100).fit(df)
        t_peer = time.perf_counter() - t
    same = float((ours.labels() == ck.labels_.reindex(ours.tasks).to_numpy()).mean())
    err = ck.errors_.reindex(ours.errors_frame().index)[ours.classes].to_numpy()
    print(json.dumps({"name": "dawid_skene", "ours": round(t_ours, 3), "peer": round(t_peer, 3), "unit": "s",
                      "ratio": round(t_peer / t_ours, 2), "labels": len(df), "tasks": n_tasks, "workers": 50,
                      "same_labels": same, "max_confusion_diff": float(np.abs(err - ours.errors_frame()
                                                                              .to_numpy()).max()),
                      "iterations": ours.n_iter, "peer_iterations": len(ck.loss_history_),
                      "peer_name": "crowdkit.aggregation.DawidSkene 1.4.2", "quick": args.quick}))


if __name__ == "__main__":
    main()
