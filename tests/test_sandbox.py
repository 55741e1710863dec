"""Containment of model-written code: each attack is stopped or refused and reported, nothing of
it survives the run, and the next run works. Needs root (it creates the unprivileged user
``oma-sandbox`` idempotently; elsewhere the sandbox raises a clear OmaError, and these tests fail)."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from pathlib import Path

import pytest

from oma_analysis.code.sandbox import BASE, USER, Limits, ensure_user, leftover_processes, run_python

# Small limits keep the module fast on 2 shared cores; wall clock well above a normal run (~0.2 s).
LIM = Limits(wall_s=4.0, cpu_s=3, memory_mb=256, nproc=32)


@pytest.fixture(autouse=True)
def _contained():
    """Before and after every test: no process of the sandbox user is alive."""
    ensure_user()
    assert leftover_processes() == []
    yield
    assert leftover_processes() == []


def test_a_normal_run_is_unprivileged_offline_and_scrubbed(monkeypatch):
    monkeypatch.setenv("OMA_LS_TOKEN", "secret-token-do-not-leak")
    code = ("import os, socket, json\n"
            "print(json.dumps({'uid': os.getuid(), 'euid': os.geteuid(), 'groups': os.getgroups(),\n"
            "  'cwd': os.getcwd(), 'env': dict(os.environ), 'ifaces': [n for _, n in socket.if_nameindex()],\n"
            "  'procs': sorted(int(d) for d in os.listdir('/proc') if d.isdigit())}))\n"
            "open('mine.txt', 'w').write('ok')\n")
    r = run_python(code, LIM)
    assert r.ok, r
    got = json.loads(r.stdout)
    uid = ensure_user()[0]
    assert got["uid"] == got["euid"] == uid != 0 and got["groups"] == []  # no supplementary groups
    assert got["cwd"] == "/tmp" and got["ifaces"] == ["lo"]
    # its own PID namespace: it sees only the sandbox's init shell (pid 1) and itself
    assert len(got["procs"]) == 2 and got["procs"][0] == 1
    assert "secret-token-do-not-leak" not in r.stdout and "OMA_LS_TOKEN" not in got["env"]
    assert set(got["env"]) <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONHASHSEED", "PWD", "OLDPWD"}
    assert list(BASE.iterdir()) == []  # the throw-away folder is gone


def test_fork_bomb_is_refused_and_killed():
    # A bomb that swallows the refusal keeps trying until the wall clock kills the whole namespace.
    r = run_python("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", LIM)
    assert r.status == "timeout" and "killed" in r.reason and r.leftover == 0
    r = run_python("import os\nwhile True:\n    os.fork()\n", LIM)
    assert r.status in ("failed", "timeout") and r.leftover == 0
    if r.status == "failed":
        assert "Resource temporarily unavailable" in r.reason  # RLIMIT_NPROC: fork refused


def test_writes_outside_its_folder_are_refused(tmp_path):
    marker = f"oma-escape-{uuid.uuid4().hex}"
    targets = [tmp_path / marker, Path("/var/tmp") / marker, Path("/dev/shm") / marker,
               Path(__file__).resolve().parent / marker, BASE / marker, Path("/root") / marker]
    os.chmod(tmp_path, 0o777)  # even a world-writable host folder is out of reach
    code = "import sys\nfor p in sys.argv[1:] or %r:\n" % [str(t) for t in targets] + (
        "    try:\n        open(p, 'w').write('x')\n        print('WROTE', p)\n"
        "    except OSError as e:\n        print('REFUSED', p, type(e).__name__)\n")
    r = run_python(code, LIM)
    assert r.ok, r
    assert r.stdout.count("REFUSED") == len(targets) and "WROTE" not in r.stdout, r.stdout
    assert not any(t.exists() for t in targets)


def test_socket_connections_are_refused():
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    accepted: list = []
    srv.settimeout(3.0)
    t = threading.Thread(target=lambda: accepted.append(_accept(srv)), daemon=True)
    t.start()
    code = ("import socket\n"
            f"for host in ('127.0.0.1', '1.1.1.1', 'pypi.org'):\n"
            "    try:\n"
            f"        socket.create_connection((host, {port} if host == '127.0.0.1' else 443), timeout=2)\n"
            "        print('CONNECTED', host)\n"
            "    except OSError as e:\n"
            "        print('REFUSED', host, e)\n")
    r = run_python(code, LIM)
    t.join()
    srv.close()
    assert r.ok and r.stdout.count("REFUSED") == 3 and "CONNECTED" not in r.stdout, r.stdout
    assert accepted == [None], "the host listener got a connection from the sandbox"


def _accept(srv: socket.socket):
    try:
        conn, _ = srv.accept()
        conn.close()
        return "connected"
    except TimeoutError:
        return None


def test_sleeping_forever_is_killed_on_the_wall_clock():
    r = run_python("import time, os\nos.fork()\ntime.sleep(10**6)\n", LIM)
    assert r.status == "timeout" and r.returncode is None and r.leftover == 0
    assert LIM.wall_s <= r.wall_s < LIM.wall_s + 3


def test_unbounded_allocation_is_stopped():
    r = run_python("x = []\nwhile True:\n    x.append(bytearray(10**7))\n", LIM)
    assert r.status == "memory" and "256 MB" in r.reason


def test_cpu_and_file_size_limits():
    r = run_python("while True:\n    pass\n", Limits(wall_s=30, cpu_s=1))
    assert r.status == "cpu", r
    r = run_python("f = open('big', 'wb')\nwhile True:\n    f.write(b'x' * 10**6)\n", Limits(fsize_mb=2))
    assert r.status == "file_size", r


def test_the_run_goes_on_after_each_attack():
    """A batch with attacks between normal programs: every one gets its own reported result."""
    batch = ["print(1 + 1)", "while True: pass", "raise ValueError('boom')", "print('after')"]
    res = [run_python(c, Limits(wall_s=2.0)) for c in batch]
    assert [r.status for r in res] == ["ok", "timeout", "failed", "ok"]
    assert res[0].stdout == "2\n" and res[3].stdout == "after\n" and res[2].reason == "ValueError: boom"


def test_user_is_created_idempotently():
    a, b = ensure_user(USER), ensure_user(USER)
    assert a == b and a[0] != 0
