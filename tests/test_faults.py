"""Faults against a REAL Label Studio that this module starts itself (own OMA_HOME and port, so the
shared session server is never touched): SIGKILL during `oma tasks push` and `oma pull`, SIGSTOP
(a stalled server) during a push and a pull. Expected: retries with backoff, then a clear OmaError
naming the step; no partial export ever stands as complete; a resumed push creates no duplicates.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from machine import scaled

from conftest import free_port
from oma_analysis import OmaError
from oma_analysis.labelstudio import server
from oma_analysis.labelstudio.client import connect
from oma_analysis.labelstudio.projects import create_or_update
from oma_analysis.labelstudio.pull import pull
from oma_analysis.labelstudio.push import TASK_KEY, prepare, push
from oma_analysis.tasks.blinding import CodeMap

N_TASKS = 1000


def built_tasks(n: int, tag: str) -> list[dict]:
    return [{"data": {"messages": [{"role": "user", "content": f"{tag} question {i}?"}], "completion": f"answer {i}",
                      "completion_code": f"c{tag}{i:05d}", "prompt_id": f"p{i}"}} for i in range(n)]


@pytest.fixture(scope="module")
def own_ls(tmp_path_factory):
    home = tmp_path_factory.mktemp("faults-home")
    port = free_port()
    env_keys = ("OMA_LS_USERNAME", "OMA_LS_PASSWORD", "OMA_LS_TOKEN")
    saved = {k: os.environ.pop(k) for k in env_keys if k in os.environ}  # own credentials, not the fixture's
    try:
        state = server.start(port=port, home=home, timeout=scaled(300))
        creds = server.load_credentials(home)
    finally:
        os.environ.update(saved)
    info = {"home": home, "port": port, "url": state.url, "token": creds.token}
    yield info
    server.stop(home)


def restart(ls: dict) -> None:
    server.stop(ls["home"])  # reaps the killed process and forgets its state
    saved = {k: os.environ.pop(k) for k in ("OMA_LS_TOKEN",) if k in os.environ}
    try:
        server.start(port=ls["port"], home=ls["home"], timeout=scaled(300))
    finally:
        os.environ.update(saved)


def pid(ls: dict) -> int:
    st = server.ServerState.load(ls["home"])
    assert st is not None
    return st.pid


def cli_env(ls: dict) -> dict[str, str]:
    return {**os.environ, "OMA_HOME": str(ls["home"]), "OMA_LS_URL": ls["url"], "OMA_LS_TOKEN": ls["token"]}


def keys_in(client, project_id: int) -> list[str]:
    return [t.data[TASK_KEY] for t in client.tasks.list(project=project_id, page_size=1000)]


def last_error(stderr: str) -> str:
    """The CLI's error line (the progress bar shares stderr, with carriage returns)."""
    lines = re.findall(r"oma: error: [^\r\n]*", stderr)
    assert lines, stderr[-2000:]
    return lines[-1]


def wait_for_tasks(client, project_id: int, at_least: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = client.projects.get(id=project_id).task_number or 0
        if n >= at_least:
            return n
        time.sleep(0.2)
    raise AssertionError(f"push did not reach {at_least} tasks in {timeout} s")


def test_push_killed_then_resumed_without_duplicates(own_ls, tmp_path):
    admin = connect(own_ls["url"], own_ls["token"])
    proj = create_or_update(admin, "review", title="faults push")
    src = tmp_path / "tasks.jsonl"
    src.write_text("".join(json.dumps(t) + "\n" for t in built_tasks(N_TASKS, "k")))
    cmd = [sys.executable, "-m", "oma_analysis", "tasks", "push", str(src), "--project", str(proj.id),
           "--batch-size", "50"]
    proc = subprocess.Popen(cmd, env=cli_env(own_ls), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        before = wait_for_tasks(admin, proj.id, 200)
        os.killpg(pid(own_ls), signal.SIGKILL)  # the whole server, mid-push
        killed_at = time.monotonic()
        out, err = proc.communicate(timeout=scaled(120))
    finally:
        if proc.poll() is None:
            proc.kill()
    failed_after = time.monotonic() - killed_at
    assert proc.returncode == 2, (proc.returncode, out, err[-2000:])
    msg = last_error(err)
    assert msg.startswith("oma: error: import tasks") and f"into project {proj.id}" in msg, msg
    assert "unreachable after 5 attempts" in msg, msg
    assert failed_after >= 7.0, f"gave up after {failed_after:.1f} s: no backoff (0.5+1+2+4 s expected)"
    print(f"\npush killed after >= {before} tasks; failed cleanly after {failed_after:.1f} s: {msg}")

    restart(own_ls)
    admin = connect(own_ls["url"], own_ls["token"])
    stored = len(keys_in(admin, proj.id))
    assert 0 < stored < N_TASKS
    res = subprocess.run(cmd, env=cli_env(own_ls), capture_output=True, text=True, timeout=scaled(300))
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"{N_TASKS - stored} tasks created, {stored} already there" in res.stdout, res.stdout
    keys = keys_in(admin, proj.id)
    assert len(keys) == N_TASKS and len(set(keys)) == N_TASKS  # every task once, none twice
    print(f"resumed: {N_TASKS - stored} created, {stored} skipped, 0 duplicates")


def batch_seconds(url: str, token: str, label_config_kind: str = "review") -> float:
    """How long this machine takes right now to import one 50-task batch (the slowest of two, after a
    warm-up): the unit the stall test scales its client timeout and the stall to, so that a busy
    machine lengthens the windows instead of turning a slow answer into a failure."""
    admin = connect(url, token)
    proj = create_or_update(admin, label_config_kind, title="faults calibration")
    tasks = prepare(built_tasks(150, "cal"), proj.label_config, CodeMap(), "mem")
    times = []
    for i in range(3):
        t = time.monotonic()
        push(admin, proj.id, tasks[50 * i:50 * (i + 1)], batch_size=50)
        times.append(time.monotonic() - t)
    return max(times[1:])


def test_stalled_server_push_completes_without_duplicates(own_ls):
    """SIGSTOP for longer than the client's timeout: requests time out, some reach the server once
    it resumes, and the retried batches must not double them. The client timeout and the stall are
    scaled to a batch import measured at test start (a busy machine gets longer windows; the stall
    always outlasts the client timeout, and the guarantee, every task exactly once, is unchanged)."""
    batch_s = batch_seconds(own_ls["url"], own_ls["token"])
    timeout = max(2.0, 3.0 * batch_s)  # a healthy batch fits 3x; a stalled one cannot
    stall = timeout + 3.0
    admin = connect(own_ls["url"], own_ls["token"])
    proj = create_or_update(admin, "review", title="faults stall")
    tasks = prepare(built_tasks(600, "s"), proj.label_config, CodeMap(), "mem")
    client = connect(own_ls["url"], own_ls["token"], timeout=timeout)
    box: dict = {}

    def run() -> None:
        try:
            box["res"] = push(client, proj.id, tasks, batch_size=50)
        except BaseException as exc:  # shown by the assertion below instead of lost in the thread
            box["error"] = exc

    th = threading.Thread(target=run)
    th.start()
    try:
        wait_for_tasks(admin, proj.id, 150, timeout=max(120.0, 60 * batch_s))
        os.killpg(pid(own_ls), signal.SIGSTOP)
        time.sleep(stall)
    finally:
        os.killpg(pid(own_ls), signal.SIGCONT)
    th.join(timeout=max(180.0, 200 * batch_s))
    assert not th.is_alive()
    assert "error" not in box, f"{box.get('error')!r} (batch {batch_s:.2f} s, client timeout {timeout:.1f} s)"
    res = box["res"]
    assert res.created == 600 and res.skipped == 0
    keys = keys_in(admin, proj.id)
    assert len(set(keys)) == 600 and len(keys) == 600
    print(f"\nbatch of 50 took {batch_s:.2f} s; client timeout {timeout:.1f} s; stalled {stall:.1f} s mid-push: "
          f"all 600 tasks once (duplicates removed afterwards: {res.duplicates_removed})")


def test_pull_never_leaves_a_partial_export(own_ls, tmp_path):
    admin = connect(own_ls["url"], own_ls["token"])
    proj = create_or_update(admin, "review", title="faults push")  # filled by the push test
    out = tmp_path / "export.json"
    pull(admin, proj.id, out)
    good = out.read_bytes()
    assert len(json.loads(good)) == N_TASKS

    # 1. Stalled server: every request times out -> backoff -> OmaError naming the step.
    client = connect(own_ls["url"], own_ls["token"], timeout=1.0)
    os.killpg(pid(own_ls), signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        with pytest.raises(OmaError, match=rf"create export of project {proj.id}: Label Studio unreachable"):
            pull(client, proj.id, out)
    finally:
        os.killpg(pid(own_ls), signal.SIGCONT)
    assert time.monotonic() - t0 >= 7.0
    assert out.read_bytes() == good and not out.with_name(out.name + ".part").exists()

    # 2. Killed while `oma pull` runs (as soon as its snapshot exists): it fails naming the step
    #    and the earlier export is untouched, or it had finished and the file is complete.
    before = {e.id for e in admin.projects.exports.list(id=proj.id)}
    cmd = [sys.executable, "-m", "oma_analysis", "pull", "--project", str(proj.id), "--out", str(out)]
    proc = subprocess.Popen(cmd, env=cli_env(own_ls), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if {e.id for e in admin.projects.exports.list(id=proj.id)} - before:
                break
        except Exception:
            pass
        time.sleep(0.05)
    os.killpg(pid(own_ls), signal.SIGKILL)
    _, err = proc.communicate(timeout=scaled(120))
    part = out.with_name(out.name + ".part")
    assert not part.exists()
    if proc.returncode == 0:
        assert len(json.loads(out.read_bytes())) == N_TASKS
        print("\npull finished before the kill; export complete")
    else:
        msg = last_error(err)
        assert proc.returncode == 2 and msg.startswith("oma: error: "), err[-2000:]
        assert any(step in msg for step in ("get project", "create export", "poll export", "download export")), msg
        assert out.read_bytes() == good
        print(f"\npull killed mid-way: {msg}; earlier export untouched")
