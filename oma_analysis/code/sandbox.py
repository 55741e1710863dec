"""Run untrusted Python (model-written code) in a sandbox and report what stopped it.

Each run gets, in this order of defence:

- **its own namespaces** (``unshare --net --mount --pid``): no network (only a loopback that is
  down), a private mount table, and a PID namespace whose init is a root shell that stays alive
  (pid 1); when the run ends or is killed, the kernel kills every process left in the namespace, so
  nothing forked can outlive it (``--kill-child`` kills the namespace when ``unshare`` dies);
- **a throw-away directory**: a fresh ``mkdtemp`` under :data:`BASE`, bind-mounted on ``/tmp`` inside
  the namespace (the code's working and temp directory); :data:`BASE` itself (other runs' folders),
  ``/var/tmp``, ``/dev/shm`` and ``/run/lock`` are covered by empty read-only tmpfs mounts, so the only
  writable place is its own folder; it is deleted afterwards;
- **an unprivileged user** (:data:`USER`, created with ``useradd`` when missing): everything here
  runs as root and Linux does not apply RLIMIT_NPROC to root, so the code runs under ``setpriv``
  with that uid/gid, no supplementary groups, no capabilities and ``no_new_privs``;
- **rlimits**: CPU seconds, address space, file size, process count, open files, no core dumps;
- **a wall-clock limit** that SIGKILLs the whole process group (and with it the namespace);
- **a scrubbed environment**: only PATH, HOME, TMPDIR, LANG and PYTHONHASHSEED; nothing of the
  host's environment (tokens, keys) is passed on. The interpreter runs with ``-I`` (isolated mode).

util-linux's ``unshare``/``setpriv`` do the namespaces and the privilege drop (Python 3.11 has no
``os.unshare``); this module only assembles them and classifies the outcome.
Needs root (to create the namespaces and the user); anything else gets a clear :class:`OmaError`.
"""

from __future__ import annotations

import os
import pwd
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from oma_analysis import OmaError

#: The unprivileged account sandboxed code runs as (created on first use; override: OMA_SANDBOX_USER).
USER = os.environ.get("OMA_SANDBOX_USER", "oma-sandbox")
#: Parent of the throw-away run folders (root-owned, 0711; override: OMA_SANDBOX_DIR).
BASE = Path(os.environ.get("OMA_SANDBOX_DIR", "/var/lib/oma-sandbox"))
#: The interpreter the code runs with: the system Python (the venv's lives under /root, 0700).
PYTHON = os.environ.get("OMA_SANDBOX_PYTHON", "/usr/bin/python3")

#: Outcomes of a run, worst-first is not implied: ``ok`` (exit 0), ``failed`` (non-zero exit, e.g.
#: an assertion or a refused syscall raised), ``timeout`` (wall clock), ``cpu`` (CPU seconds),
#: ``memory`` (address-space limit), ``file_size`` (file-size limit), ``killed`` (another signal).
STATUSES = ("ok", "failed", "timeout", "cpu", "memory", "file_size", "killed")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run (defaults fit a HumanEval problem: they run in well under 1 s)."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 1024  # RLIMIT_AS: virtual memory, so it also caps mmap
    fsize_mb: int = 16
    nproc: int = 64  # per uid, system-wide: concurrent runs share it
    nofile: int = 64
    output_chars: int = 20_000  # of stdout/stderr kept in the result


@dataclass(frozen=True)
class Result:
    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    reason: str
    leftover: int = 0  # processes of the sandbox user still alive after the run (must be 0)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_LIMITS = Limits()
_user_cache: tuple[int, int] | None = None


def ensure_user(name: str = USER) -> tuple[int, int]:
    """(uid, gid) of the sandbox account, created (system account, no home, no login) if missing.
    Idempotent; raises OmaError when not root or when ``useradd`` fails."""
    global _user_cache
    if _user_cache is not None and name == USER:
        return _user_cache
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        pw = None
    if pw is None:
        if os.geteuid() != 0:
            raise OmaError(f"sandbox: user {name!r} does not exist and only root can create it "
                           f"(run as root, or `useradd --system --no-create-home {name}`)")
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        r = subprocess.run([useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
                            "--shell", "/usr/sbin/nologin", "--user-group", name],
                           capture_output=True, text=True)
        if r.returncode not in (0, 9):  # 9: created meanwhile by another process
            raise OmaError(f"sandbox: useradd {name} failed (exit {r.returncode}): {r.stderr.strip()}")
        pw = pwd.getpwnam(name)
    if pw.pw_uid == 0:
        raise OmaError(f"sandbox: user {name!r} has uid 0; the sandbox needs an unprivileged account")
    ids = (pw.pw_uid, pw.pw_gid)
    if name == USER:
        _user_cache = ids
    return ids


def _require_host() -> None:
    if os.geteuid() != 0:
        raise OmaError("sandbox: needs root to create network/mount/PID namespaces and drop to the "
                       f"unprivileged user {USER!r}; run oma as root (e.g. in its container)")
    for tool in ("unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            raise OmaError(f"sandbox: `{tool}` (util-linux) not found on PATH")
    if not os.access(PYTHON, os.X_OK):
        raise OmaError(f"sandbox: interpreter {PYTHON} not found (set OMA_SANDBOX_PYTHON)")


# Runs as root inside the new namespaces; $1 = the run folder, $2.. = the unprivileged command.
# pid 1 stays this shell (not exec'd): a uid change would clear unshare's parent-death signal,
# and pid 1 exiting is what makes the kernel kill every process the code left behind.
_INIT = r"""
set -e
work=$1; base=$2; shift 2
mount --bind "$work" /tmp
for d in "$base" /var/tmp /dev/shm /run/lock; do
  [ -d "$d" ] && mount -t tmpfs -o ro,size=4k,mode=0755 tmpfs "$d"
done
cd /tmp
set +e
"$@"
rc=$?
exit $rc
"""


def _limit_fn(limits: Limits):
    def apply() -> None:
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.fsize_mb * mb, limits.fsize_mb * mb))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.nproc, limits.nproc))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.nofile, limits.nofile))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _tail(path: Path, n: int) -> str:
    with open(path, "rb") as f:
        data = f.read(n + 1)
    text = data[:n].decode("utf-8", "replace")
    return text + ("\n[... cut]" if len(data) > n else "")


def _last_error(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", ln):
            return ln.strip()[:300]
    return lines[-1].strip()[:300] if lines else ""


def _classify(rc: int | None, timed_out: bool, stderr: str, limits: Limits, cpu_used: float) -> tuple[str, str]:
    if timed_out:
        return "timeout", f"wall-clock limit {limits.wall_s:g} s reached; process group killed"
    if rc == 0:
        return "ok", ""
    sig = rc - 128 if rc is not None and rc > 128 else None
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_used >= limits.cpu_s):
        return "cpu", f"CPU limit {limits.cpu_s} s reached"
    if sig == signal.SIGXFSZ or "[Errno 27] File too large" in stderr:  # Python ignores SIGXFSZ
        return "file_size", f"file-size limit {limits.fsize_mb} MB reached"
    err = _last_error(stderr)
    if err.startswith("MemoryError") or (sig == signal.SIGKILL and "MemoryError" in stderr):
        return "memory", f"address-space limit {limits.memory_mb} MB reached ({err or 'killed'})"
    if sig is not None:
        return "killed", f"killed by {signal.Signals(sig).name}"
    return "failed", err or f"exit status {rc}"


def run_python(code: str, limits: Limits = DEFAULT_LIMITS, files: Mapping[str, str] | None = None,
               main: str = "main.py") -> Result:
    """Run ``code`` (saved as ``main``, with ``files`` beside it) in a fresh sandbox; never raises
    for what the code does (that is the :class:`Result`), only for a host that can't sandbox."""
    _require_host()
    uid, gid = ensure_user()
    BASE.mkdir(mode=0o711, parents=True, exist_ok=True)
    os.chmod(BASE, 0o711)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=BASE))
    logs = Path(tempfile.mkdtemp(prefix="oma-sandbox-log-"))  # root-only: the code can't touch it
    try:
        for name, text in {**(files or {}), main: code}.items():
            p = work / name
            if p.resolve().parent != work.resolve():
                raise OmaError(f"sandbox: file name {name!r} must be a plain name in the run folder")
            p.write_text(text)
            os.chown(p, uid, gid)
        os.chown(work, uid, gid)
        os.chmod(work, 0o700)
        drop = [shutil.which("setpriv"), f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--",
                PYTHON, "-I", "-B", main]
        cmd = [shutil.which("unshare"), "--net", "--mount", "--pid", "--fork", "--kill-child",
               "--mount-proc", "--", "/bin/sh", "-c", _INIT, "oma-sandbox", str(work), str(BASE), *drop]
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
               "PYTHONHASHSEED": "0"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        with open(logs / "out", "wb") as out, open(logs / "err", "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                    cwd="/", start_new_session=True, preexec_fn=_limit_fn(limits),
                                    close_fds=True)
            timed_out = False
            try:
                rc = proc.wait(timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # unshare dies -> --kill-child kills pid 1
                except ProcessLookupError:
                    pass
                rc = proc.wait()
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        stdout, stderr = _tail(logs / "out", limits.output_chars), _tail(logs / "err", limits.output_chars)
        status, reason = _classify(rc, timed_out, stderr, limits, cpu_used)
        left = _wait_gone(uid)
        if left:
            reason = f"{reason}; {left} process(es) of {USER} still alive after the run".lstrip("; ")
        return Result(status, None if timed_out else rc, stdout, stderr, round(wall, 4), reason, left)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)


def _wait_gone(uid: int, timeout: float = 10.0) -> int:
    """Wait until the kernel has killed and reaped what the code left in its PID namespace (it does
    so asynchronously once pid 1 is gone); the number still alive after ``timeout``. Assumes one
    run at a time per sandbox user (they share RLIMIT_NPROC too)."""
    end = time.monotonic() + timeout
    while True:
        left = len(_pids_of(uid))
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.02)


def _pids_of(uid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            for ln in (d / "status").read_text().splitlines():
                if ln.startswith("Uid:"):
                    if int(ln.split()[1]) == uid:
                        pids.append(int(d.name))
                    break
        except OSError:
            continue
    return pids


def leftover_processes(name: str = USER) -> list[int]:
    """PIDs of processes running as the sandbox user right now (a containment check: after every
    run there must be none)."""
    return _pids_of(ensure_user(name)[0])
