"""How busy the machine is right now, for tests that must hold on a shared 2-core machine: they
scale their windows (timeouts, latency bounds, waits) by this factor instead of assuming an idle
machine, while asserting the same guarantees."""

from __future__ import annotations

import statistics
import threading
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


class SlowdownSampler:
    """``slowdown`` sampled every ``every`` seconds in a daemon thread while the ``with`` block runs:
    a latency percentile over a long run reflects its busiest stretch, which one sample at the
    start or end can miss. ``peak`` is the largest sample (at least 1)."""

    def __init__(self, every: float = 3.0, cpu_s: float = 0.1) -> None:
        self.every, self.cpu_s = every, cpu_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slowdown-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(slowdown(self.cpu_s, reps=1))

    def __enter__(self) -> SlowdownSampler:
        self.samples.append(slowdown())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(slowdown())

    @property
    def peak(self) -> float:
        return max([1.0, *self.samples])


def scaled(seconds: float) -> float:
    """A give-up window (a server start, a subprocess) stretched by how busy the machine is now:
    ``seconds`` on an idle machine, k times that when k runnable processes share each core. Only
    for windows that bound a wait, never for a latency being asserted; measured per call because
    the load changes through a long suite."""
    import os

    per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    return seconds * max(1.0, slowdown(0.1), per_core)
