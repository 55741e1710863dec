"""No label lost: snapshots on every pull, `oma audit` names what vanished or changed, `oma restore`
puts it back under its original author; fault test against the REAL Label Studio (session fixture).

The damage is what Label Studio Community allows any signed-up labeller: with their own API token,
delete and edit another labeller's annotations.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from oma_analysis import OmaError
from oma_analysis.cli import main
from oma_analysis.ingest import load
from oma_analysis.labelstudio import snapshots
from tests.test_labelstudio_roundtrip import ANSWERS, COMPLETIONS, to_result

ALPHA, BETA = "aud.alpha@oma.test", "aud.beta@oma.test"
MALLORY = "aud.mallory@oma.test"
TITLE = "audit review"


def _run(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res.output


def _analysis(export: Path, codemap: Path) -> tuple[list, list]:
    """What the analysis sees: `oma rates --json` and the verdict rows of the loaded frame."""
    rates = json.loads(_run("rates", str(export), "--codemap", str(codemap), "--json", "--breakdown", "all"))
    frame = load(export, codemap).frame
    rows = sorted(map(tuple, frame[frame["question"] == "verdict"][["task", "worker", "label"]].astype(str).values))
    return rates, rows


@pytest.fixture(scope="module")
def damaged(label_studio, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    src = tmp / "completions.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in COMPLETIONS))
    _run("project", "create", "--kind", "review", "--title", TITLE)
    _run("tasks", "push", str(src), "--project", TITLE)
    codemap = tmp / "completions.jsonl.codemap.json"
    admin = label_studio.client()
    proj = [p for p in admin.projects.list() if p.title == TITLE][0]
    tasks = sorted(admin.tasks.list(project=proj.id), key=lambda t: t.id)
    by_text = {t.data["completion"]: t for t in tasks}
    task_of = [by_text[c["completion"]] for c in COMPLETIONS]
    people = {ALPHA: label_studio.annotator(ALPHA), BETA: label_studio.annotator(BETA)}
    ann: dict[tuple[str, int], int] = {}
    for email, answers in zip((ALPHA, BETA), ANSWERS.values(), strict=True):
        client = people[email].client(label_studio.url)
        for i, (task, a, comp) in enumerate(zip(task_of, answers, COMPLETIONS, strict=True)):
            ann[email, i] = client.annotations.create(id=task.id, result=to_result(a, comp["completion"]),
                                                      lead_time=3.0).id
    before = tmp / "before.json"
    _run("pull", "--project", str(proj.id), "--out", str(before))
    analysis_before = _analysis(before, codemap)

    # The damage: Mallory, a labeller, deletes two annotations and rewrites a third, none of them hers.
    mallory = label_studio.annotator(MALLORY)
    m = mallory.client(label_studio.url)
    m.annotations.delete(id=ann[ALPHA, 0])
    m.annotations.delete(id=ann[BETA, 2])
    flipped = to_result({**list(ANSWERS.values())[1][1], "verdict": "clearly_aligned"}, COMPLETIONS[1]["completion"])
    m.annotations.update(id=ann[BETA, 1], result=flipped)
    damaged_export = tmp / "damaged.json"
    _run("pull", "--project", str(proj.id), "--out", str(damaged_export))
    return {"project": proj, "codemap": codemap, "ann": ann, "before": analysis_before, "tmp": tmp,
            "damaged": _analysis(damaged_export, codemap), "home": label_studio.home, "mallory": mallory,
            "people": people, "task_of": task_of}


def test_pull_keeps_dated_hashed_snapshots(damaged) -> None:
    import hashlib

    home, pid = damaged["home"], damaged["project"].id
    hist = snapshots.history(home, pid)
    assert len(hist) >= 2
    for snap in hist:
        path = snap.path(home)
        assert path.name.endswith(f"-{snap.sha256}.json") and path.name[:8].isdigit()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == snap.sha256
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(snapshots.project_dir(home, pid).stat().st_mode) == 0o700
    assert [s.annotations for s in hist[-2:]] == [6, 4]
    assert hist[-2].taken_at < hist[-1].taken_at


def test_audit_names_each_vanished_and_changed_annotation(damaged) -> None:
    pid, ann = damaged["project"].id, damaged["ann"]
    found = json.loads(_run("audit", "--project", str(pid), "--json"))
    prev = snapshots.history(damaged["home"], pid)[-2]
    assert snapshots.previous_and_latest(snapshots.history(damaged["home"], pid))[0] == prev
    vanished = {f["annotation"]: f for f in found if f["kind"] == "vanished"}
    changed = {f["annotation"]: f for f in found if f["kind"] == "changed"}
    assert set(vanished) == {ann[ALPHA, 0], ann[BETA, 2]}
    assert vanished[ann[ALPHA, 0]]["author"] == ALPHA and vanished[ann[BETA, 2]]["author"] == BETA
    assert all(v["last_seen"] == prev.taken_at and not v["task_vanished"] for v in vanished.values())
    assert set(changed) == {ann[BETA, 1]}
    c = changed[ann[BETA, 1]]
    assert (c["author"], c["updated_by"], c["by_author"], c["fields"]) == (BETA, MALLORY, False, ["result"])
    text = _run("audit", "--project", str(pid))
    assert f"annotation {ann[ALPHA, 0]} VANISHED" in text and f"CHANGED (result) by {MALLORY} (not its author)" in text
    res = CliRunner().invoke(main, ["audit", "--project", str(pid), "--fail"])
    assert res.exit_code == 1
    # The damage matters: the analysis after it differs.
    assert damaged["damaged"] != damaged["before"]


def test_restore_brings_the_analysis_back(damaged) -> None:
    pid, ann, tmp = damaged["project"].id, damaged["ann"], damaged["tmp"]
    dry = _run("restore", "--project", str(pid), "--dry-run")
    assert "dry run" in dry
    out = _run("restore", "--project", str(pid))
    assert out.count("recreated:") == 2 and out.count("reverted:") == 1, out
    after = tmp / "after.json"
    _run("pull", "--project", str(pid), "--out", str(after))
    assert _analysis(after, damaged["codemap"]) == damaged["before"]
    # The export names the original authors of the re-created annotations.
    tasks = {t["id"]: t for t in json.loads(after.read_text())}
    authors = {t: sorted(a["completed_by"]["email"] for a in tasks[t]["annotations"]) for t in tasks}
    assert all(v == [ALPHA, BETA] for v in authors.values()), authors
    reverted = [a for t in tasks.values() for a in t["annotations"] if a["id"] == ann[BETA, 1]][0]
    assert reverted["completed_by"]["email"] == BETA
    log = (snapshots.project_dir(damaged["home"], pid) / "restores.jsonl").read_text().splitlines()
    assert {json.loads(x)["annotation"] for x in log} == {ann[ALPHA, 0], ann[BETA, 2], ann[BETA, 1]}
    # Running restore again (against the now older damaged baseline) must not undo the restore.
    _run("restore", "--project", str(pid))
    again = tmp / "again.json"
    _run("pull", "--project", str(pid), "--out", str(again))
    assert _analysis(again, damaged["codemap"]) == damaged["before"]


def test_restore_reimports_a_deleted_task(label_studio, tmp_path) -> None:
    """A labeller deletes a whole task: restore imports it again with its annotations and authors."""
    admin = label_studio.client()
    proj = admin.projects.create(title="audit task delete", label_config=(
        '<View><Text name="t" value="$text"/><Choices name="c" toName="t">'
        '<Choice value="a"/><Choice value="b"/></Choices></View>'))
    admin.projects.import_tasks(id=proj.id, request=[{"text": "one"}, {"text": "two"}])
    alpha = label_studio.annotator(ALPHA).client(label_studio.url)
    t1, t2 = sorted(admin.tasks.list(project=proj.id), key=lambda t: t.id)
    res = [{"from_name": "c", "to_name": "t", "type": "choices", "value": {"choices": ["b"]}}]
    alpha.annotations.create(id=t2.id, result=res)
    before = {p: len(snapshots.history(label_studio.home, p)) for p in snapshots.projects(label_studio.home)}
    out = _run("pull", "--all")  # every project of the server
    every = [p.id for p in admin.projects.list()]
    assert all(f"project {p}: snapshot " in out for p in every)
    assert all(len(snapshots.history(label_studio.home, p)) == before.get(p, 0) + 1 for p in every)
    label_studio.annotator(MALLORY).client(label_studio.url).tasks.delete(id=t2.id)
    _run("pull", "--project", str(proj.id))
    found = json.loads(_run("audit", "--project", str(proj.id), "--json"))
    assert [(f["kind"], f["task"], f["task_vanished"], f["author"]) for f in found] == \
        [("vanished", t2.id, True, ALPHA)]
    _run("restore", "--project", str(proj.id))
    tasks = [t for t in admin.tasks.list(project=proj.id)]
    back = [t for t in tasks if t.data["text"] == "two"]
    assert len(tasks) == 2 and len(back) == 1
    anns = admin.annotations.list(id=back[0].id)
    assert [a.result[0]["value"]["choices"] for a in anns] == [["b"]]
    assert [a.completed_by for a in anns] == [label_studio.annotator(ALPHA).user_id]


def test_snapshot_tampering_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "e.json"
    export.write_text(json.dumps([{"id": 1, "data": {}, "annotations": [{"id": 5, "result": []}]}]))
    snap = snapshots.keep(export, tmp_path / "home", project=7, title="t", server="http://x")
    assert snapshots.load(tmp_path / "home", snap)[0]["id"] == 1
    path = snap.path(tmp_path / "home")
    os.chmod(path, 0o600)
    path.write_text(path.read_text().replace('"id": 5', '"id": 6'))
    with pytest.raises(OmaError, match="does not match the index"):
        snapshots.load(tmp_path / "home", snap)
    with pytest.raises(OmaError, match="list of task objects"):
        bad = tmp_path / "bad.json"
        bad.write_text("{}")
        snapshots.keep(bad, tmp_path / "home", project=7, title="t", server="http://x")
