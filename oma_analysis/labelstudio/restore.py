"""Put vanished and changed annotations back from a snapshot, under their original author.

Label Studio's annotation API takes ``completed_by`` on create (``tasks/api.py``: the request user
only when none is given), and its task import takes annotations with ``completed_by`` as a member's
id or e-mail; so a restored annotation is exported with its original author, which is what oma's
loader reads (``completed_by``). Label Studio gives it a new id and ``created_at`` (now), and the
restoring admin as ``updated_by``; every action is appended to ``restores.jsonl`` beside the
snapshots (old id -> new id, author, source snapshot), so the history stays traceable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from oma_analysis import OmaError
from oma_analysis.labelstudio.audit import Finding, _who, annotations
from oma_analysis.labelstudio.client import with_retries
from oma_analysis.labelstudio.snapshots import Snapshot, project_dir

# Annotation fields sent back on re-creation (the rest is Label Studio's bookkeeping).
_KEEP = ("result", "was_cancelled", "ground_truth", "lead_time")


@dataclass(frozen=True)
class Action:
    kind: str  # "recreated" | "reverted" | "task reimported"
    project: int
    task: int | None
    annotation: int  # the id in the snapshot
    new_annotation: int | None
    author: str | None


def _payload(ann: dict) -> dict:
    return {k: ann[k] for k in _KEEP if ann.get(k) is not None}


def restore(client, findings: list[Finding], source: list[dict], *, project: int, home: Path,
            snapshot: Snapshot | None = None, changed: str = "others", me: int | None = None) -> list[Action]:
    """Re-create vanished annotations and revert changed ones from ``source`` (the snapshot's tasks).

    ``changed``: "others" reverts only changes not made by the annotation's author (a labeller
    correcting their own answer is normal work), "all" reverts every change, "none" none. Changes
    made by ``me`` (the restoring account, e.g. an earlier restore) are never reverted, so running
    restore again against a later baseline cannot undo a restore."""
    if changed not in ("others", "all", "none"):
        raise OmaError(f"changed={changed!r}: use others, all or none")
    old = annotations(source)
    actions: list[Action] = []
    # Tasks that vanished whole are re-imported with all their vanished annotations at once.
    gone_tasks: dict[int, list[Finding]] = {}
    for f in findings:
        if f.kind == "vanished" and f.task_vanished and f.task is not None:
            gone_tasks.setdefault(f.task, []).append(f)
    for task_id, fs in sorted(gone_tasks.items()):
        task = old[fs[0].annotation][0]
        anns = []
        for f in fs:
            a = old[f.annotation][1]
            uid = _who(a.get("completed_by"))[0]
            anns.append({**_payload(a), **({"completed_by": uid} if uid is not None else {})})
        body = {"data": task["data"], "annotations": anns}
        if task.get("predictions"):
            body["predictions"] = [{k: p[k] for k in ("result", "score", "model_version") if p.get(k) is not None}
                                   for p in task["predictions"]]
        with_retries(lambda b=body: client.projects.import_tasks(id=project, request=[b]),
                     f"re-import task {task_id} into project {project}")
        actions.extend(Action("task reimported", project, task_id, f.annotation, None, f.author) for f in fs)
    for f in findings:
        if f.kind == "vanished" and not f.task_vanished:
            task, a = old[f.annotation]
            uid = _who(a.get("completed_by"))[0]
            if uid is None:
                raise OmaError(f"snapshot: annotation {f.annotation} of task {f.task} has no completed_by id; "
                               "cannot restore it under its author")
            new = with_retries(lambda t=task["id"], a=a, u=uid: client.annotations.create(
                id=t, completed_by=u, **_payload(a)), f"re-create annotation {f.annotation} on task {task['id']}")
            actions.append(Action("recreated", project, task["id"], f.annotation, new.id, f.author))
        elif (f.kind == "changed" and (changed == "all" or (changed == "others" and not f.by_author))
              and (me is None or f.updated_by_id != me)):
            _, a = old[f.annotation]
            uid = _who(a.get("completed_by"))[0]
            fields = {**_payload(a), **({"completed_by": uid} if uid is not None else {})}
            fields.pop("lead_time", None)
            with_retries(lambda i=f.annotation, x=fields: client.annotations.update(id=i, **x),
                         f"revert annotation {f.annotation}")
            actions.append(Action("reverted", project, f.task, f.annotation, f.annotation, f.author))
    _log(home, project, actions, snapshot)
    return actions


def _log(home: Path, project: int, actions: list[Action], snapshot: Snapshot | None) -> None:
    if not actions:
        return
    d = project_dir(home, project)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    fd = os.open(d / "restores.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as fh:
        for a in actions:
            fh.write(json.dumps({"at": when, "from_snapshot": snapshot.file if snapshot else None,
                                 **a.__dict__}) + "\n")
