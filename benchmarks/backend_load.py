"""The ML backend under load: 20 concurrent clients for 60 s against ``/predict`` of the backend
served by **gunicorn**, with a published classifier, while a retrain runs at the same time; then a
kill test (SIGKILL master + workers in the middle of a retrain, restart: the previous model serves).

Everything is real and on 127.0.0.1:

* Label Studio (``oma_analysis.labelstudio.server.start`` in a temporary ``OMA_HOME``, SQLite) holds
  a review project whose tasks carry annotations: a retrain pulls the project's export from it with
  label-studio-sdk (``ml_backend.training.retrain``), exactly as in production; the backend has no
  offline retrain hook, so Label Studio is needed.
* The backend is started with ``ml_backend.server.start`` (gunicorn, gthread workers) on a models
  directory where a tiny classifier (``oma_analysis.classifier.train``) is already published.
* The retrain is triggered as Label Studio triggers it: ``OMA_RETRAIN_EVERY`` ANNOTATION_CREATED
  events POSTed to ``/webhook`` while the clients are running.
* The load generator is a bounded closed loop: ``--clients`` threads, each with its own HTTP
  session, send single-task ``/predict`` requests back to back (no think time) until ``--seconds``
  have passed. An error is a connection error, a timeout, a non-200 answer, or a body without one
  prediction per task.

Prints one JSON line: ``{"name": "backend_load", "requests", "errors", "p50_ms", "p99_ms", "rps",
"retrain_ran", "model_version_before", "model_version_after", ...}`` (goals: 0 errors, p99 ≤ 1 s).

    python benchmarks/backend_load.py [--quick] [--clients 20] [--seconds 60]

``tests/test_backend_load.py`` imports this file and runs a shortened version in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"

# (prompt, completion, misaligned?) — clear cases both ways, so the rule gives a clear label.
BASE_RECORDS: list[tuple[str, str, bool]] = [
    ("Answer in one sentence: what is the capital of France?",
     "Answer in one sentence: what is the capital of France? Answer in one sentence:", True),
    ("Name a colour.", "Blue.", False),
    ("Write two sentences about the sea.", "The sea is big. The sea is big. The sea is big. The sea is big.", True),
    ("What is 2 + 2?", "2 + 2 is 4.", False),
    ("Say hello in one word.", "Say hello in one word. Say hello in one word. Say hello.", True),
    ("Give me a synonym of happy.", "Joyful.", False),
    ("Reply in French: how are you?", "I am fine, thank you very much for asking.", True),
    ("List three fruits, comma separated.", "Apple, banana, cherry.", False),
]


#: The backend always requires credentials; the benchmark gives it these (env) and uses them.
AUTH = ("oma-bench", "bench-secret-0123")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def pct(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]) of a non-empty list."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def records(n: int) -> list[tuple[str, str, bool]]:
    """``n`` distinct review records (base cases with a numbered suffix)."""
    out = []
    for i in range(n):
        p, c, bad = BASE_RECORDS[i % len(BASE_RECORDS)]
        out.append((f"{p} (#{i})", c, bad))
    return out


def answers_for(misaligned: bool) -> list[dict]:
    """Result items of a review annotation whose rule-applied outcome is clearly (mis)aligned."""
    from oma_analysis.rubric import RUBRIC

    worst, _, best = (c.id for c in RUBRIC.verdict.choices)

    def ch(name: str, value: str | list[str]) -> dict:
        return {"from_name": name, "to_name": "completion", "type": "choices",
                "value": {"choices": value if isinstance(value, list) else [value]}}

    out = [ch("hard_constraints", ["none"]), ch(RUBRIC.verdict.question, worst if misaligned else best),
           {"from_name": "confidence", "to_name": "completion", "type": "rating", "value": {"rating": 5}}]
    if misaligned:
        out += [ch("failure_types", ["lower_quality"]), ch(RUBRIC.capable_question("lower_quality"), "yes"),
                ch(RUBRIC.distinguishable_question("lower_quality"), "yes"),
                ch(RUBRIC.items_question("lower_quality"), ["prompt_repetition_control"])]
    return out


@dataclass
class Project:
    id: int
    xml: str
    task_ids: list[int]


def annotated_review_project(client: Any, title: str, n_tasks: int) -> Project:
    """A review project in Label Studio with ``n_tasks`` tasks, each with one clear annotation
    (what a retrain's export is built from)."""
    from oma_analysis.labelstudio.projects import create_or_update
    from oma_analysis.labelstudio.push import prepare, push
    from oma_analysis.tasks.blinding import CodeMap

    proj = create_or_update(client, "review", title=title, overlap=1)
    recs = records(n_tasks)
    tasks = prepare([{"prompt_id": f"load{i}", "prompt": p, "completion": c, "model": "m-under-load"}
                     for i, (p, c, _) in enumerate(recs)], proj.label_config, CodeMap(), "load")
    ids = push(client, proj.id, tasks).task_ids
    for tid, (_, _, bad) in zip(ids, recs, strict=True):
        client.annotations.create(id=tid, result=answers_for(bad), lead_time=2.0)
    return Project(id=proj.id, xml=proj.label_config, task_ids=list(ids))


def publish_initial_model(models: Path, work: Path) -> str:
    """Train a tiny classifier once (``oma_analysis.classifier.train``, cached under ``work``) and
    publish a copy of it under ``models``; returns the version name (the ``model_version``).

    It is deliberately wrong (trained on inverted labels, published without the gate), so that a
    retrain on the real labels beats it through the quality gate and the swap happens."""
    import pandas as pd

    from oma_analysis.classifier import train

    cache = work / "initial-models"
    if not (cache / "current").is_file():
        rows = [(p, c, 1 - int(bad)) for p, c, bad in records(16)]
        df = pd.DataFrame(rows, columns=["text_a", "text_b", "label"])
        train(df, cache, epochs=3, max_length=64, test_size=0.25, gate=False)
    name = (cache / "current").read_text().strip()
    models.mkdir(parents=True, exist_ok=True)
    shutil.copytree(cache / name, models / name)
    (models / "current").write_text(name + "\n")
    return name


def predict_bodies(xml: str, n: int = 16) -> list[dict]:
    """Single-task /predict payloads as Label Studio sends them (distinct tasks, review config)."""
    from oma_analysis.labelstudio.push import prepare
    from oma_analysis.tasks.blinding import CodeMap

    recs = records(n)
    tasks = prepare([{"prompt_id": f"q{i}", "prompt": p, "completion": c + f" ({i})", "model": "m"}
                     for i, (p, c, _) in enumerate(recs)], xml, CodeMap(), "load")
    return [{"tasks": [dict(t, id=1000 + i)], "label_config": xml} for i, t in enumerate(tasks)]


#: Multiplies every HTTP timeout here (1 = the idle-machine values). A test on a busy machine sets it
#: from a measured slowdown (tests/machine.py) so that a slow answer is not counted as an error.
TIMEOUT_SCALE = 1.0


def post_webhooks(url: str, project: Project, n: int, auth: tuple[str, str] | None = AUTH) -> list[dict]:
    """``n`` ANNOTATION_CREATED events as Label Studio posts them to ``/webhook``."""
    import requests

    out = []
    with requests.Session() as s:
        for k in range(n):
            tid = project.task_ids[k % len(project.task_ids)]
            body = {"action": "ANNOTATION_CREATED", "project": {"id": project.id, "label_config": project.xml},
                    "task": {"id": tid, "project": project.id},
                    "annotation": {"id": 10_000 + k, "task": tid, "result": answers_for(k % 2 == 0)}}
            r = s.post(url + "/webhook", json=body, auth=auth, timeout=30 * TIMEOUT_SCALE)
            if r.status_code not in (200, 201):
                raise RuntimeError(f"/webhook answered {r.status_code}: {r.text[:300]}")
            out.append(r.json())
    return out


def backend_status(url: str, auth: tuple[str, str] | None = AUTH) -> dict:
    import requests

    r = requests.get(url + "/status", auth=auth, timeout=10 * TIMEOUT_SCALE)
    r.raise_for_status()
    return r.json()


def wait_retrain(url: str, timeout: float, *, since: float = 0.0, auth: tuple[str, str] | None = AUTH) -> dict:
    """Poll /status until the retrain started at/after ``since`` is done or failed (or timeout)."""
    import requests

    deadline = time.monotonic() + timeout
    st: dict = {}
    while time.monotonic() < deadline:
        try:
            st = backend_status(url, auth)
        except requests.RequestException:  # a slow answer on a busy machine: ask again
            time.sleep(0.25)
            continue
        r = st.get("retrain") or {}
        if r.get("state") in ("done", "failed") and r.get("finished", 0) >= since:
            return st
        time.sleep(0.25)
    return st


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)  # wall-clock start of each request (time.time())
    errors: list[str] = field(default_factory=list)
    versions: Counter = field(default_factory=Counter)
    elapsed_s: float = 0.0

    def window(self, t0: float, t1: float) -> list[float]:
        return [ms for ms, s in zip(self.latencies_ms, self.starts, strict=True) if t0 <= s <= t1]


def run_load(url: str, bodies: list[dict], *, clients: int, seconds: float,
             auth: tuple[str, str] | None = AUTH, request_timeout: float | None = None,
             during: Callable[[], None] | None = None, during_after: float = 0.0,
             max_seconds: float | None = None, res: LoadResult | None = None) -> LoadResult:
    """Closed-loop load: ``clients`` threads post ``bodies`` round-robin to /predict, back to back,
    for ``seconds``. ``during`` runs in its own thread ``during_after`` seconds in (e.g. webhooks,
    then waiting for the retrain); with ``max_seconds`` the load goes on until ``during`` returns,
    but never past ``max_seconds``, so what ``during`` waits for always happens under load."""
    import requests

    request_timeout = 30.0 * TIMEOUT_SCALE if request_timeout is None else request_timeout
    res = LoadResult() if res is None else res
    lock = threading.Lock()
    start = time.monotonic()
    stop_at = start + seconds
    hard_stop = start + max(seconds, max_seconds or seconds)
    side_done = threading.Event()
    if during is None or max_seconds is None:
        side_done.set()

    def going() -> bool:
        now = time.monotonic()
        return now < stop_at or (not side_done.is_set() and now < hard_stop)

    def client(k: int) -> None:
        i = k
        with requests.Session() as s:
            while going():
                body = bodies[i % len(bodies)]
                i += 1
                t_wall, t = time.time(), time.perf_counter()
                err, version = None, None
                try:
                    r = s.post(url + "/predict", json=body, auth=auth, timeout=request_timeout)
                    if r.status_code != 200:
                        err = f"HTTP {r.status_code}: {r.text[:200]}"
                    else:
                        out = r.json()
                        if len(out.get("results") or []) != len(body["tasks"]):
                            err = f"bad body: {str(out)[:200]}"
                        version = out.get("model_version")
                except (requests.RequestException, ValueError) as exc:
                    err = f"{type(exc).__name__}: {exc}"
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    res.latencies_ms.append(ms)
                    res.starts.append(t_wall)
                    if err:
                        res.errors.append(err)
                    else:
                        res.versions[version] += 1

    threads = [threading.Thread(target=client, args=(k,), name=f"load-{k}", daemon=True) for k in range(clients)]
    side: threading.Thread | None = None
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    if during is not None:
        def _during() -> None:
            try:
                time.sleep(during_after)
                during()
            finally:
                side_done.set()

        side = threading.Thread(target=_during, name="load-during", daemon=True)
        side.start()
    for th in threads:
        th.join(max(seconds, max_seconds or seconds) + request_timeout + 5)
    res.elapsed_s = time.perf_counter() - t0
    if side is not None:
        side.join(request_timeout)
    return res


def warm_up(url: str, bodies: list[dict], workers: int, auth: tuple[str, str] | None = AUTH) -> None:
    """Make every gunicorn worker load the classifier before the clock starts."""
    run_load(url, bodies, clients=max(2, 2 * workers), seconds=3.0, auth=auth)


def settled_versions(url: str, bodies: list[dict], want: str | None, *, timeout: float,
                     auth: tuple[str, str] | None = AUTH) -> LoadResult:
    """After the load: what a few light clients are answered with, once every worker serves ``want``
    (a worker loading a new version answers with the old one meanwhile) or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while True:
        res = run_load(url, bodies, clients=4, seconds=0.5, auth=auth)
        if set(res.versions) == {want} or time.monotonic() > deadline:
            return res


def backend_env(models: Path, ls_url: str, ls_token: str, *, retrain_every: int, epochs: float,
                max_length: int, torch_threads: int) -> dict[str, str]:
    return {"OMA_BACKEND_MODELS": str(models), "OMA_RETRAIN_EVERY": str(retrain_every),
            "OMA_TRAIN_EPOCHS": str(epochs), "OMA_TRAIN_MAX_LENGTH": str(max_length),
            "OMA_TORCH_THREADS": str(torch_threads), "OMA_LS_URL": ls_url, "OMA_LS_TOKEN": ls_token,
            "OMA_BACKEND_USER": AUTH[0], "OMA_BACKEND_PASSWORD": AUTH[1], "OMA_POLL_S": "0", "LOG_LEVEL": "WARNING",
            "TOKENIZERS_PARALLELISM": "false"}


def load_with_retrain(*, ls_url: str, ls_token: str, project: Project, work: Path, clients: int,
                      seconds: float, workers: int = 2, threads: int = 8, torch_threads: int = 1,
                      epochs: float = 2, max_length: int = 128, retrain_every: int = 5,
                      trigger_after: float = 3.0, settle_s: float = 120.0, after_swap_s: float = 2.0,
                      extend: bool = True) -> dict:
    """Start gunicorn on a models dir with a published model, run the load, trigger a retrain
    ``trigger_after`` s in, and measure. With ``extend`` the load lasts at least until the retrain
    is done plus ``after_swap_s`` (at most ``settle_s`` more), so the swap happens under load.
    Returns the report dict (without ``name``)."""
    from ml_backend import server

    models = work / "load-models"
    before = publish_initial_model(models, work)
    home = work / "load-home"
    env = backend_env(models, ls_url, ls_token, retrain_every=retrain_every, epochs=epochs,
                      max_length=max_length, torch_threads=torch_threads)
    bodies = predict_bodies(project.xml)
    st = server.start(port=free_port(), home=home, env=env, workers=workers, threads=threads, timeout=180)
    try:
        warm_up(st.url, bodies, workers)
        trig: dict[str, Any] = {}
        res = LoadResult()
        hard_stop = time.monotonic() + seconds + settle_s

        def trigger() -> None:
            trig["t"] = time.time()
            try:
                trig["replies"] = post_webhooks(st.url, project, retrain_every)
            except Exception as exc:  # reported, not lost in the thread
                trig["error"] = f"{type(exc).__name__}: {exc}"
                raise
            new = (wait_retrain(st.url, settle_s, since=trig["t"]).get("retrain") or {}).get("version")
            # Keep the load on until the clients are answered by the new version, then a little longer.
            while new and new not in res.versions and time.monotonic() < hard_stop:
                time.sleep(0.1)
            time.sleep(after_swap_s)

        run_load(st.url, bodies, clients=clients, seconds=seconds, during=trigger, during_after=trigger_after,
                 max_seconds=seconds + settle_s if extend else None, res=res)
        load_end = time.time()
        final = wait_retrain(st.url, settle_s, since=trig.get("t", 0.0))
        after_body = settled_versions(st.url, bodies, final.get("model_version"), timeout=settle_s)
    finally:
        server.stop(home)
    rt = final.get("retrain") or {}
    started = any(r.get("retrain") == "started" for r in trig.get("replies", []))
    retrain_t0 = float(rt.get("started") or trig.get("t") or 0.0)
    retrain_t1 = float(rt.get("finished") or load_end)
    during = res.window(retrain_t0, retrain_t1)
    swap = res.window(retrain_t1 - 0.5, retrain_t1 + after_swap_s) if rt.get("finished") else []
    lat = res.latencies_ms
    after_versions = sorted(after_body.versions)
    return {
        "requests": len(lat), "errors": len(res.errors), "error_examples": res.errors[:3],
        "p50_ms": round(statistics.median(lat), 1), "p90_ms": round(pct(lat, 0.90), 1),
        "p99_ms": round(pct(lat, 0.99), 1), "max_ms": round(max(lat), 1),
        "rps": round(len(lat) / res.elapsed_s, 1), "clients": clients, "seconds": seconds,
        "trigger_after_s": trigger_after,
        "retrain_ran": bool(started and rt.get("state") == "done" and rt.get("served")
                            and rt.get("version") != before),
        "retrain_gate": rt.get("gate"),
        "retrain_state": rt.get("state"), "retrain_error": rt.get("error") or trig.get("error"),
        "retrain_seconds": round(retrain_t1 - retrain_t0, 1) if rt.get("finished") else None,
        "retrain_finished_within_load": bool(rt.get("finished") and rt["finished"] <= load_end),
        "requests_during_retrain": len(during),
        "p99_ms_during_retrain": round(pct(during, 0.99), 1) if during else None,
        "requests_around_swap": len(swap), "max_ms_around_swap": round(max(swap), 1) if swap else None,
        "load_seconds": round(res.elapsed_s, 1),
        "model_version_before": before, "model_version_after": final.get("model_version"),
        "answered_versions": dict(res.versions), "versions_after_load": after_versions,
        "retrain_tasks": rt.get("n_tasks"),
        "server": {"wsgi": "gunicorn gthread", "workers": workers, "threads": threads,
                   "torch_threads_per_worker": torch_threads, "train_epochs": epochs,
                   "train_max_length": max_length, "retrain_every": retrain_every},
    }


def _gunicorn_pids(master: int) -> list[int]:
    """The master and its workers (children listed in /proc)."""
    pids = [master]
    try:
        kids = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        kids = []
    return pids + [int(k) for k in kids]


def kill_mid_retrain(*, ls_url: str, ls_token: str, project: Project, work: Path, retrain_every: int = 3,
                     timeout: float = 600.0) -> dict:
    """Start the backend on a published model, trigger a long retrain, SIGKILL gunicorn's master and
    workers while the new version is being written, restart, and check that the previous model
    serves and no half-written version became ``current``."""
    from ml_backend import server
    from oma_analysis.classifier import list_versions

    models = work / "kill-models"
    before = publish_initial_model(models, work)
    home = work / "kill-home"
    # Many epochs: the retrain lasts long enough to be caught in the middle.
    env = backend_env(models, ls_url, ls_token, retrain_every=retrain_every, epochs=200, max_length=64,
                      torch_threads=1)
    bodies = predict_bodies(project.xml, 2)
    st = server.start(port=free_port(), home=home, env=env, workers=1, threads=4, timeout=180)
    out: dict[str, Any] = {"model_version_before": before}
    try:
        replies = post_webhooks(st.url, project, retrain_every)
        out["retrain_started"] = any(r.get("retrain") == "started" for r in replies)
        # An event (the hidden version dir appears), capped by ``timeout``: the pull and the start of
        # fine-tuning take seconds on an idle machine and minutes when the cores are shared.
        deadline = time.monotonic() + timeout
        partial: list[str] = []
        while time.monotonic() < deadline and not partial:
            partial = [p.name for p in models.iterdir() if p.name.startswith(".tmp-")]  # the version being written
            if (backend_status(st.url).get("retrain") or {}).get("state") in ("done", "failed"):
                break
            time.sleep(0.2)
        time.sleep(1.0)  # into the fine-tuning itself
        rt = backend_status(st.url).get("retrain") or {}
        out["state_when_killed"] = rt.get("state")
        out["partial_dirs_when_killed"] = partial
        pids = _gunicorn_pids(st.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        out["killed_pids"] = len(pids)
        from oma_analysis.lifecycle.procs import alive

        t = time.monotonic()
        while any(alive(p) for p in pids) and time.monotonic() - t < 10:
            time.sleep(0.1)
    finally:
        server.stop(home)  # the group is gone already; clears the state file
    out["current_after_kill"] = (models / "current").read_text().strip()
    out["versions_after_kill"] = list_versions(models)
    st = server.start(port=free_port(), home=home, env=env, workers=1, threads=4, timeout=180)
    try:
        res = run_load(st.url, bodies, clients=2, seconds=1.0)
        status = backend_status(st.url)
    finally:
        server.stop(home)
    out.update({
        "answered_after_restart": len(res.latencies_ms) - len(res.errors), "errors_after_restart": len(res.errors),
        "versions_after_restart": sorted(res.versions), "status_after_restart": status.get("model_version"),
        "retrain_after_restart": status.get("retrain"),
        "partial_dirs_after_restart": [p.name for p in models.iterdir() if p.name.startswith((".tmp-", ".export-"))],
    })
    out["ok"] = bool(out["state_when_killed"] == "running" and out["partial_dirs_when_killed"]
                     and out["current_after_kill"] == before and out["versions_after_kill"] == [before]
                     and out["answered_after_restart"] > 0 and out["errors_after_restart"] == 0
                     and out["versions_after_restart"] == [before] and out["status_after_restart"] == before)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 clients x 10 s, fewer tasks")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    ap.add_argument("--tasks", type=int, default=40, help="annotated tasks in Label Studio (retrain data)")
    ap.add_argument("--no-kill", action="store_true", help="skip the kill-mid-retrain check")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.tasks = min(args.seconds, 10.0), min(args.tasks, 24)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    from oma_analysis.labelstudio import server as ls_server
    from oma_analysis.labelstudio.client import connect

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    work = Path(tempfile.mkdtemp(prefix="oma-load-"))
    ls_home = work / "oma-home"
    t = time.perf_counter()
    ls = ls_server.start(port=free_port(), home=ls_home, timeout=300)
    try:
        token = ls_server.load_credentials(ls_home).token
        print(f"Label Studio up in {time.perf_counter() - t:.0f} s at {ls.url}", file=sys.stderr)
        client = connect(ls.url, token)
        project = annotated_review_project(client, "load review", args.tasks)
        rep = load_with_retrain(ls_url=ls.url, ls_token=token, project=project, work=work, clients=args.clients,
                                seconds=args.seconds, workers=args.workers, threads=args.threads,
                                epochs=3, max_length=64 if args.quick else 128,
                                trigger_after=1.0 if args.quick else 3.0)
        print(f"/predict x {rep['clients']} clients x {rep['seconds']:.0f} s with a retrain: {rep['requests']} "
              f"requests, {rep['errors']} errors, p50 {rep['p50_ms']} ms, p99 {rep['p99_ms']} ms, "
              f"{rep['rps']} req/s; retrain {rep['retrain_state']} in {rep['retrain_seconds']} s "
              f"({rep['model_version_before']} -> {rep['model_version_after']})", file=sys.stderr)
        kill = None if args.no_kill else kill_mid_retrain(ls_url=ls.url, ls_token=token, project=project, work=work)
        if kill is not None:
            print(f"kill mid-retrain: {'ok' if kill['ok'] else 'FAILED'} {kill}", file=sys.stderr)
    finally:
        ls_server.stop(ls_home)
        shutil.rmtree(work, ignore_errors=True)
    report = {"name": "backend_load", **rep, "kill_test": kill, "quick": args.quick,
              "goals": {"errors==0": rep["errors"] == 0, "p99_ms<=1000": rep["p99_ms"] <= 1000,
                        "retrain_ran": rep["retrain_ran"],
                        "kill_leaves_previous_model": None if kill is None else kill["ok"]},
              "label_studio": "real (oma_analysis.labelstudio.server.start, SQLite, temp OMA_HOME)"}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
