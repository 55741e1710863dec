"""Background server processes (Label Studio, the ML backend): their home, a free port, is it alive,
stop its group."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


def oma_home() -> Path:
    """Where oma keeps its state (servers' state files, credentials, snapshots): ``$OMA_HOME``, else ``./.oma``."""
    return Path(os.environ.get("OMA_HOME", ".oma")).resolve()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for a server started next; the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    """True while the process runs. A zombie is dead: our own children are reaped, and one whose
    parent is gone too (e.g. a killed server's worker) is recognised by its state in /proc."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(0) succeeding is all we know
    return state != "Z"


def terminate_group(pid: int, timeout: float = 20.0) -> bool:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``timeout`` s; True if it was running."""
    if not alive(pid):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        alive(pid)
    return True
