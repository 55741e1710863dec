"""The ML backend under load, shortened for CI (the full run is ``benchmarks/backend_load.py``).

Real processes only: the session's Label Studio holds an annotated review project (a retrain pulls
its export with label-studio-sdk), the backend runs under gunicorn on 127.0.0.1 with a published
classifier, 20 client threads post /predict for 10 s while ANNOTATION_CREATED webhooks start a
retrain (the load goes on until the new version is live: an event, capped at SETTLE_S), and then the backend
is SIGKILLed (master and workers) in the middle of a retrain and restarted.

p99 bound: the benchmark's goal is 1 s; CI's 2 shared cores also run the test runner, Label Studio
and the load generator itself, so the test asserts p99 ≤ 2 s (and 0 errors, which is not relaxed).

Busy machine: every window (the p99 bound, the HTTP timeouts whose expiry would count as an
error, the cap on the wait for the retrain, the minimum request count) is scaled by the machine's
slowdown measured at test start and sampled through the run (``tests/machine.py``: wall per CPU second of a busy loop,
~1 when idle). The guarantees are the same: 0 errors, both versions served, the swap under load.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from machine import SlowdownSampler, slowdown

P99_BOUND_MS = 2000.0  # CI bound; the benchmark's goal is 1000 ms (see the module docstring)
# The load lasts until the retrain's new version is live (an event), not a fixed time; this only caps
# it. A retrain (pull, 3 epochs, the gate) takes ~20 s on an idle machine and 70+ s when the 2 cores
# are shared with other jobs.
SETTLE_S = 300.0


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "backend_load.py"
    spec = importlib.util.spec_from_file_location("oma_bench_backend_load", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


bench = _bench()


@pytest.fixture(scope="module")
def setup(label_studio, tmp_path_factory) -> dict:
    # 24 clear tasks: a retrain holds out 5 and must pass the quality gate against the (deliberately
    # wrong) initial model to be served.
    project = bench.annotated_review_project(label_studio.client(), "load review", 24)
    work = tmp_path_factory.mktemp("backend-load")
    return {"project": project, "work": work, "url": label_studio.url, "token": label_studio.token}


def test_predict_under_load_with_a_retrain_running(setup):
    slow = slowdown()
    bench.TIMEOUT_SCALE = slow
    with SlowdownSampler() as sampler:  # the p99 reflects the busiest stretch of the run
        rep = bench.load_with_retrain(ls_url=setup["url"], ls_token=setup["token"], project=setup["project"],
                                      work=setup["work"], clients=20, seconds=10.0, workers=2, threads=8,
                                      epochs=3, max_length=64, retrain_every=4, trigger_after=1.0,
                                      settle_s=SETTLE_S * slow, after_swap_s=1.5)
    slow = max(slow, sampler.peak)
    summary = {k: rep[k] for k in ("requests", "errors", "p50_ms", "p99_ms", "max_ms", "rps", "retrain_state",
                                   "retrain_gate", "retrain_seconds", "answered_versions", "load_seconds")}
    summary["slowdown"] = round(slow, 2)
    print(summary)
    assert rep["errors"] == 0, rep["error_examples"]
    assert rep["requests"] >= 200 / slow, summary
    assert rep["retrain_ran"], (rep["retrain_state"], rep["retrain_error"], rep["retrain_gate"])
    before, after = rep["model_version_before"], rep["model_version_after"]
    assert after != before
    # The retrain ran under load and the swap happened under load: both versions were served.
    assert rep["requests_during_retrain"] > 0 and rep["retrain_finished_within_load"], summary
    assert set(rep["answered_versions"]) == {before, after}, summary
    assert rep["versions_after_load"] == [after]
    assert rep["p99_ms"] <= P99_BOUND_MS * slow, summary


def test_kill_mid_retrain_leaves_the_previous_model_serving(setup):
    bench.TIMEOUT_SCALE = slowdown()
    out = bench.kill_mid_retrain(ls_url=setup["url"], ls_token=setup["token"], project=setup["project"],
                                 work=setup["work"], retrain_every=3)
    before = out["model_version_before"]
    assert out["retrain_started"]
    # Killed while the new version was being written (its hidden temp dir existed).
    assert out["state_when_killed"] == "running" and out["partial_dirs_when_killed"], out
    assert out["killed_pids"] >= 2  # gunicorn master + worker
    # After the kill: the pointer still names the old version; no half-written dir is a version.
    assert out["current_after_kill"] == before
    assert out["versions_after_kill"] == [before]
    # After the restart: predictions answered by the previous model; the cut-off retrain is reported.
    assert out["answered_after_restart"] > 0 and out["errors_after_restart"] == 0
    assert out["versions_after_restart"] == [before] and out["status_after_restart"] == before
    rt = out["retrain_after_restart"]
    assert rt["state"] == "interrupted" and set(out["partial_dirs_when_killed"]) <= set(rt["removed"]), rt
    assert out["partial_dirs_after_restart"] == []
    assert out["ok"]
