"""Which annotations vanished or changed between two full JSON exports of one project.

Label Studio Community lets every signed-up user edit or delete any annotation through the API and
keeps no record of deletions, so the only witness is oma's own snapshots (:mod:`.snapshots`).
Pure functions on the exported task lists; :mod:`.restore` acts on what they find.

- **vanished**: in the earlier export, not in the later one (its task gone too, or not). Who deleted
  it is unknown to Label Studio; we report who wrote it and when it was last seen.
- **changed**: the same annotation id with another result, skip flag, ground-truth flag, author or
  task; ``updated_by`` (a user id in the export) says who made the last change, ``updated_at`` when.
- **added**: new annotation ids (normal work; listed so a forged re-creation is visible too).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

# The fields that make up an annotation's content; a difference in any of them is a change.
CONTENT = ("result", "was_cancelled", "ground_truth", "completed_by", "task")


@dataclass(frozen=True)
class Finding:
    kind: str  # "vanished" | "changed" | "added"
    project: int
    task: int | None
    annotation: int
    author: str | None  # who wrote it (completed_by e-mail, else id)
    created_at: str | None
    updated_at: str | None  # vanished: as last seen; changed: when it was changed
    updated_by: str | None = None  # changed: who changed it last
    last_seen: str | None = None  # vanished: taken_at of the last snapshot that held it
    task_vanished: bool = False
    by_author: bool | None = None  # changed: did the author change their own annotation?
    fields: tuple[str, ...] = field(default_factory=tuple)  # changed: which content fields differ
    updated_by_id: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _who(completed_by: object) -> tuple[int | None, str | None]:
    if isinstance(completed_by, dict):
        uid = completed_by.get("id")
        return (uid if isinstance(uid, int) else None), (completed_by.get("email") or (str(uid) if uid else None))
    if isinstance(completed_by, int):
        return completed_by, str(completed_by)
    return None, None


def user_names(*exports: list[dict]) -> dict[int, str]:
    """User id -> e-mail from every ``completed_by`` object in the exports (updated_by is an id only)."""
    names: dict[int, str] = {}
    for tasks in exports:
        for t in tasks:
            for a in t.get("annotations") or []:
                uid, name = _who(a.get("completed_by"))
                if uid is not None and name:
                    names[uid] = name
    return names


def annotations(tasks: list[dict]) -> dict[int, tuple[dict, dict]]:
    """Annotation id -> (task, annotation)."""
    out: dict[int, tuple[dict, dict]] = {}
    for t in tasks:
        for a in t.get("annotations") or []:
            if isinstance(a, dict) and isinstance(a.get("id"), int):
                out[a["id"]] = (t, a)
    return out


def content(ann: dict, task: dict) -> dict:
    c = {k: ann.get(k) for k in CONTENT}
    c["completed_by"] = _who(ann.get("completed_by"))[0]
    c["task"] = ann.get("task", task.get("id"))
    return c


def compare(before: list[dict], after: list[dict], *, project: int, last_seen: str | None = None,
            users: dict[int, str] | None = None) -> list[Finding]:
    """Findings from ``before`` (earlier export) to ``after``, vanished first, then changed, added."""
    names = {**user_names(before, after), **(users or {})}
    old, new = annotations(before), annotations(after)
    tasks_after = {t.get("id") for t in after}
    out: list[Finding] = []
    for aid, (t, a) in sorted(old.items()):
        if aid in new:
            continue
        out.append(Finding("vanished", project, t.get("id"), aid, _who(a.get("completed_by"))[1],
                           a.get("created_at"), a.get("updated_at"), last_seen=last_seen,
                           task_vanished=t.get("id") not in tasks_after))
    for aid, (t, a) in sorted(old.items()):
        if aid not in new:
            continue
        t2, a2 = new[aid]
        c1, c2 = content(a, t), content(a2, t2)
        diff = tuple(k for k in CONTENT if json.dumps(c1[k], sort_keys=True) != json.dumps(c2[k], sort_keys=True))
        if not diff:
            continue
        upd = a2.get("updated_by")
        out.append(Finding("changed", project, t2.get("id"), aid, _who(a.get("completed_by"))[1],
                           a.get("created_at"), a2.get("updated_at"),
                           updated_by=names.get(upd, str(upd)) if upd is not None else None,
                           by_author=(upd is not None and upd == c1["completed_by"] and "completed_by" not in diff),
                           fields=diff, updated_by_id=upd if isinstance(upd, int) else None))
    for aid, (t, a) in sorted(new.items()):
        if aid not in old:
            out.append(Finding("added", project, t.get("id"), aid, _who(a.get("completed_by"))[1],
                               a.get("created_at"), a.get("updated_at")))
    return out


def render(findings: list[Finding], *, added: bool = False) -> str:
    """One line per finding, for people."""
    lines = []
    for f in findings:
        if f.kind == "vanished":
            lines.append(f"project {f.project} task {f.task}: annotation {f.annotation} VANISHED"
                         f"{' (with its task)' if f.task_vanished else ''}; written by {f.author}, "
                         f"created {f.created_at}, last seen {f.last_seen}")
        elif f.kind == "changed":
            lines.append(f"project {f.project} task {f.task}: annotation {f.annotation} by {f.author} CHANGED "
                         f"({', '.join(f.fields)}) by {f.updated_by}"
                         f"{'' if f.by_author else ' (not its author)'} at {f.updated_at}")
        elif added:
            lines.append(f"project {f.project} task {f.task}: annotation {f.annotation} added by {f.author} "
                         f"at {f.created_at}")
    return "\n".join(lines)
