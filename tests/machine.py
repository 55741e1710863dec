"""How busy the machine is right now, for tests that must hold on a shared 2-core machine: they
scale their windows (timeouts, latency bounds, waits) by this factor instead of assuming an idle
machine, while asserting the same guarantees."""

from __future__ import annotations

import statistics
import time


def slowdown(cpu_s: float = 0.2, reps: int = 3) -> float:
    """Wall seconds per CPU second of a pure-Python loop (median of ``reps``): about 1 when this
    process has a core to itself, about k when k runnable processes share each core. Never < 1."""
    ratios = []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        while time.process_time() - c0 < cpu_s:
            sum(range(10_000))
        ratios.append((time.perf_counter() - w0) / max(1e-9, time.process_time() - c0))
    return max(1.0, statistics.median(ratios))
