"""Pull an export snapshot from Label Studio into a file, atomically."""

from __future__ import annotations

import os
import time
from pathlib import Path

from oma_analysis import OmaError
from oma_analysis.labelstudio.client import with_retries

FORMATS = ("JSON", "JSON_MIN", "CSV")


def pull(client, project_id: int, out: str | Path, *, export_type: str = "JSON",
         timeout: float = 300.0) -> Path:
    """Create an export snapshot (all tasks, full annotations with annotator objects, lead_time,
    ground_truth, was_cancelled, and predictions), stream it to ``out.part`` and rename it to
    ``out`` only when complete, so a partial file is never taken for an export."""
    if export_type not in FORMATS:
        raise OmaError(f"--format: {export_type!r} is not one of {FORMATS}")
    out = Path(out)
    snap = with_retries(
        lambda: client.projects.exports.create(
            id=project_id, title=f"oma pull {time.strftime('%Y-%m-%dT%H:%M:%S')}",
            task_filter_options={"only_with_annotations": False},
            serialization_options={"drafts": {"only_id": False}, "predictions": {"only_id": False},
                                   "annotations__completed_by": {"only_id": False}}),
        f"create export of project {project_id}")
    deadline = time.monotonic() + timeout
    while True:
        s = with_retries(lambda: client.projects.exports.get(id=project_id, export_pk=snap.id),
                         f"poll export {snap.id}")
        if s.status == "completed":
            break
        if s.status == "failed":
            raise OmaError(f"project {project_id}: export {snap.id} failed in Label Studio")
        if time.monotonic() > deadline:
            raise OmaError(f"project {project_id}: export {snap.id} not ready after {timeout:.0f} s")
        time.sleep(0.5)
    part = out.with_name(out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)

    def download() -> None:
        with part.open("wb") as fh:
            for chunk in client.projects.exports.download(id=project_id, export_pk=snap.id,
                                                          export_type=export_type):
                fh.write(chunk)

    try:
        with_retries(download, f"download export {snap.id} of project {project_id}")
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, out)
    return out


def pull_and_keep(client, project_id: int, title: str, *, home: Path, server: str, out: str | Path | None = None,
                  export_type: str = "JSON", timeout: float = 300.0):
    """:func:`pull` into ``out`` (when given) and keep a snapshot of the full JSON export
    (:mod:`.snapshots`); a JSON pull is kept as is, other formats take one more JSON export."""
    from oma_analysis.labelstudio.snapshots import keep

    path = pull(client, project_id, out, export_type=export_type, timeout=timeout) if out is not None else None
    if path is not None and export_type == "JSON":
        return path, keep(path, home, project=project_id, title=title, server=server)
    tmp = home / "snapshots" / f".pull-{project_id}-{os.getpid()}.json"
    try:
        pull(client, project_id, tmp, export_type="JSON", timeout=timeout)
        return path, keep(tmp, home, project=project_id, title=title, server=server)
    finally:
        tmp.unlink(missing_ok=True)
