"""Dated, hashed copies of every full JSON export ``oma pull`` takes, so no label is ever lost.

Layout (under ``$OMA_HOME``, directories 0700 and files 0600: exports name labellers)::

    snapshots/<project id>/<UTC yyyymmddThhmmssZ>-<sha256>.json   the export, byte for byte
    snapshots/<project id>/index.jsonl                              one line per pull, oldest first

Each index line: ``file, sha256, taken_at, project, title, server, tasks, annotations``. A file is
checked against its hash whenever it is read back (:func:`load`), so a corrupted or edited snapshot
is refused rather than trusted. Keyed by project id; a study (a set of projects) is a list of ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from oma_analysis import OmaError


@dataclass(frozen=True)
class Snapshot:
    file: str  # relative to the project's snapshot directory
    sha256: str
    taken_at: str  # ISO 8601, UTC
    project: int
    title: str
    server: str
    tasks: int
    annotations: int

    def path(self, home: Path) -> Path:
        return project_dir(home, self.project) / self.file


def root(home: Path) -> Path:
    return home / "snapshots"


def project_dir(home: Path, project: int) -> Path:
    return root(home) / str(int(project))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _counts(path: Path) -> tuple[int, int]:
    tasks = _read_tasks(path)
    return len(tasks), sum(len(t.get("annotations") or []) for t in tasks)


def _read_tasks(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise OmaError(f"{path}: not a JSON export ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise OmaError(f"{path}: a Label Studio JSON export is a list of task objects")
    return data


def keep(export: Path, home: Path, *, project: int, title: str, server: str,
         now: datetime | None = None) -> Snapshot:
    """Copy a full JSON export into the project's snapshots and index it (atomically: the index
    line is written only once the file is complete)."""
    export = Path(export)
    tasks, annotations = _counts(export)
    digest = _sha256(export)
    when = (now or datetime.now(UTC)).astimezone(UTC)
    d = project_dir(home, project)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(d, 0o700)
    os.chmod(root(home), 0o700)
    name = f"{when.strftime('%Y%m%dT%H%M%S%fZ')}-{digest}.json"
    part = d / (name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, export.open("rb") as src:
        shutil.copyfileobj(src, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(part, d / name)
    snap = Snapshot(file=name, sha256=digest, taken_at=when.isoformat(timespec="microseconds"),
                    project=int(project), title=title, server=server, tasks=tasks, annotations=annotations)
    fd = os.open(d / "index.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as fh:
        fh.write(json.dumps(asdict(snap)) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return snap


def history(home: Path, project: int) -> list[Snapshot]:
    """The project's snapshots, oldest first."""
    index = project_dir(home, project) / "index.jsonl"
    if not index.exists():
        return []
    out = []
    for n, line in enumerate(index.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Snapshot(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            raise OmaError(f"{index}: line {n} is not a snapshot record ({exc})") from None
    return out


def projects(home: Path) -> list[int]:
    """Project ids with at least one snapshot."""
    r = root(home)
    return sorted(int(p.name) for p in r.iterdir() if p.name.isdigit() and (p / "index.jsonl").exists()) \
        if r.is_dir() else []


def load(home: Path, snap: Snapshot) -> list[dict]:
    """The snapshot's tasks, after checking the file still has the hash it was indexed with."""
    path = snap.path(home)
    if not path.exists():
        raise OmaError(f"{path}: snapshot file missing (indexed {snap.taken_at})")
    got = _sha256(path)
    if got != snap.sha256:
        raise OmaError(f"{path}: sha256 {got[:12]}… does not match the index ({snap.sha256[:12]}…); "
                       "the snapshot was changed or damaged")
    return _read_tasks(path)


def previous_and_latest(hist: list[Snapshot]) -> tuple[Snapshot, Snapshot] | None:
    """The latest snapshot and the newest earlier one with other content (an identical re-pull, e.g.
    a dry run's, has nothing to compare: exports of unchanged projects hash the same)."""
    if not hist:
        return None
    latest = hist[-1]
    for snap in reversed(hist[:-1]):
        if snap.sha256 != latest.sha256:
            return snap, latest
    return None
