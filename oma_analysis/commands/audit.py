"""oma audit / oma restore: find annotations that vanished or changed between pulls, put them back."""

from __future__ import annotations

import json

import click


def register(group: click.Group) -> None:
    group.add_command(audit)
    group.add_command(restore)


def _user_names() -> dict[int, str]:
    """User id -> e-mail from Label Studio when it answers (an editor may have written nothing);
    without it, ids as exported."""
    try:
        from oma_analysis.labelstudio.client import connect

        return {u.id: u.email for u in connect(timeout=20).users.list() if u.email}
    except Exception:  # audit works offline, on the snapshots alone
        return {}


def _project_ids(refs: tuple[str, ...], home) -> list[int]:
    from oma_analysis import OmaError
    from oma_analysis.labelstudio import snapshots

    known = snapshots.projects(home)
    if not refs:
        return known
    out = []
    for r in refs:
        if r.isascii() and r.isdigit():
            out.append(int(r))
            continue
        match = [p for p in known if any(s.title == r for s in snapshots.history(home, p)[-1:])]
        if not match:
            raise OmaError(f"--project: no snapshots of a project titled {r!r} (run `oma pull` first)")
        out.extend(match)
    return out


@click.command()
@click.option("--project", "project_refs", multiple=True, help="Project id or title (default: every project pulled).")
@click.option("--added", is_flag=True, help="Also list annotations added since the previous snapshot.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of findings.")
@click.option("--fail", is_flag=True, help="Exit with status 1 when an annotation vanished or was changed "
              "by someone other than its author (for cron).")
def audit(project_refs: tuple[str, ...], added: bool, as_json: bool, fail: bool) -> None:
    """Compare each project's latest pull with the snapshot before it: list annotations that vanished
    (who wrote them, when last seen) or changed (who changed them, when)."""
    from oma_analysis.labelstudio import snapshots
    from oma_analysis.labelstudio.audit import compare, render
    from oma_analysis.lifecycle import oma_home

    home = oma_home()
    names = _user_names()
    findings, notes = [], []
    for pid in _project_ids(project_refs, home):
        hist = snapshots.history(home, pid)
        pair = snapshots.previous_and_latest(hist)
        if pair is None:
            notes.append(f"project {pid}: {len(hist)} snapshot(s), no change between pulls")
            continue
        prev, latest = pair
        found = compare(snapshots.load(home, prev), snapshots.load(home, latest), project=pid,
                        last_seen=prev.taken_at, users=names)
        findings.extend(found)
        n = {k: sum(f.kind == k for f in found) for k in ("vanished", "changed", "added")}
        notes.append(f"project {pid}: {prev.file} -> {latest.file}: {n['vanished']} vanished, "
                     f"{n['changed']} changed, {n['added']} added")
    shown = [f for f in findings if added or f.kind != "added"]
    if as_json:
        click.echo(json.dumps([f.to_dict() for f in shown], indent=1))
    else:
        for line in notes:
            click.echo(line)
        if shown:
            click.echo(render(shown, added=added))
    bad = [f for f in findings if f.kind == "vanished" or (f.kind == "changed" and not f.by_author)]
    if fail and bad:
        raise SystemExit(1)


@click.command()
@click.option("--project", "project_ref", required=True, help="Project id or title.")
@click.option("--from", "from_file", help="Snapshot file to restore from (default: what `oma audit` compares "
              "the latest pull with: the newest earlier snapshot with other content).")
@click.option("--changed", type=click.Choice(["others", "all", "none"]), default="others", show_default=True,
              help="Revert changes made by someone other than the author, every change, or none.")
@click.option("--annotation", "only", multiple=True, type=int, help="Restore only these annotation ids.")
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
def restore(project_ref: str, from_file: str | None, changed: str, only: tuple[int, ...], dry_run: bool) -> None:
    """Re-create annotations that vanished and revert changed ones from a snapshot, under their
    original author. Takes a fresh pull first (kept as a snapshot) and compares it with the snapshot."""
    from oma_analysis import OmaError
    from oma_analysis.commands.pull import server_url
    from oma_analysis.labelstudio import snapshots
    from oma_analysis.labelstudio.audit import compare, render
    from oma_analysis.labelstudio.client import connect, with_retries
    from oma_analysis.labelstudio.projects import find_project
    from oma_analysis.labelstudio.pull import pull_and_keep
    from oma_analysis.labelstudio.restore import restore as do_restore
    from oma_analysis.lifecycle import oma_home

    home = oma_home()
    client = connect()
    proj = find_project(client, project_ref)
    hist = snapshots.history(home, proj.id)
    if from_file:
        chosen = [s for s in hist if s.file == from_file or s.path(home).name == from_file.rsplit("/", 1)[-1]]
        if not chosen:
            raise OmaError(f"--from: {from_file} is not a snapshot of project {proj.id}")
        base = chosen[-1]
    elif (pair := snapshots.previous_and_latest(hist)) is not None:
        base = pair[0]
    else:
        raise OmaError(f"project {proj.id}: no earlier snapshot to restore from (`oma pull` keeps them)")
    source = snapshots.load(home, base)
    _, now = pull_and_keep(client, proj.id, proj.title or "", home=home, server=server_url())
    found = compare(source, snapshots.load(home, now), project=proj.id, last_seen=base.taken_at,
                    users=_user_names())
    found = [f for f in found if f.kind != "added" and (not only or f.annotation in only)]
    click.echo(f"project {proj.id}: restoring from {base.file} (taken {base.taken_at}) onto {now.file}")
    if not found:
        click.echo("nothing vanished or changed")
        return
    click.echo(render(found))
    if dry_run:
        click.echo("dry run: nothing changed")
        return
    me = with_retries(lambda: client.users.whoami(), "who am I").id
    actions = do_restore(client, found, source, project=proj.id, home=home, snapshot=base, changed=changed, me=me)
    for a in actions:
        click.echo(f"{a.kind}: annotation {a.annotation} of task {a.task} by {a.author}"
                   + (f" -> {a.new_annotation}" if a.new_annotation not in (None, a.annotation) else ""))
    click.echo(f"{len(actions)} restored; run `oma pull` and `oma audit` to check")
