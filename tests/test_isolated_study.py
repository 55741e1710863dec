"""(Named to run before tests/test_isolation.py: both share the session's study, and the browser test
there labels the tasks this file expects still open.)

A real study: three invite-flow labellers, each in their own Label Studio, overlap 2, 12 tasks
incl. 2 gold. The merged study pull loads to the same frame as the single-project mode, row for
row keyed by completion code; gold answers only from the researcher's side."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest
from study_support import EMAILS, GOLD_MARK, LEFT_FOR_BROWSER, build_single_project

from oma_analysis.ingest import load
from oma_analysis.labelstudio.pull import pull
from oma_analysis.labelstudio.push import TASK_KEY
from oma_analysis.labelstudio.study import Study, distribute, pull_study

KEY_COLS = ["completion", "worker", "question", "label", "ground_truth", "lead_time", "prompt", "model"]


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return (frame[KEY_COLS].astype(str).sort_values(KEY_COLS).reset_index(drop=True))


@pytest.fixture(scope="module")
def pulled(study_run, label_studio):
    out = study_run.tmp / "merged.json"
    res = pull_study(Study.load("t12", label_studio.home), out, researcher_token=label_studio.token)
    single = build_single_project(study_run, label_studio)
    single_out = pull(label_studio.client(), single, study_run.tmp / "single.json")
    return res, out, single_out


def test_distribution_balanced_and_gold_everywhere(study_run):
    st = study_run.study
    q = study_run.queues
    regular = [t["data"][TASK_KEY] for t in study_run.tasks if t["data"][TASK_KEY] not in study_run.gold_keys]
    given = Counter(k for e in EMAILS for k in q[e] if k not in study_run.gold_keys)
    assert given == {k: 2 for k in regular}  # every regular task to exactly two labellers
    sizes = sorted(len(q[e]) - 2 for e in EMAILS)
    assert sizes[-1] - sizes[0] <= 1 and sum(sizes) == 20  # balanced: 7, 7, 6
    for e in EMAILS:
        assert study_run.gold_keys <= set(q[e])  # gold interleaved in every queue
        assert st.workspace(e).project_id is not None
    assert len({tuple(q[e]) for e in EMAILS}) == 3
    # No two neighbours in a served queue share a prompt (5 prompts x 2 completions + 2 gold prompts).
    prompt = {t["data"][TASK_KEY]: t["data"]["prompt_id"] for t in study_run.tasks}
    for e in EMAILS:
        assert all(prompt[a] != prompt[b] for a, b in zip(q[e], q[e][1:], strict=False)), e


def test_distribute_is_seeded_and_spreads_prompts():
    keys = [f"t{i}" for i in range(30)]
    prompt_of = {k: f"p{i // 3}" for i, k in enumerate(keys)}
    a = distribute(keys, ["x", "y", "z", "w"], 2, seed=5, gold=["g"], prompt_of=prompt_of)
    assert a == distribute(keys, ["x", "y", "z", "w"], 2, seed=5, gold=["g"], prompt_of=prompt_of)
    assert a != distribute(keys, ["x", "y", "z", "w"], 2, seed=6, gold=["g"], prompt_of=prompt_of)
    assert sorted(len(v) for v in a.values()) == [16, 16, 16, 16]
    for v in a.values():
        assert all(prompt_of.get(p) != prompt_of.get(n) for p, n in zip(v, v[1:], strict=False))


def test_labellers_queues_hold_no_answers(study_run):
    """What each labeller's workspace holds: their tasks, nobody else's annotations, no gold answer."""
    from oma_analysis.labelstudio.client import connect

    for e in EMAILS:
        ws = study_run.study.workspace(e)
        admin = connect(ws.url, ws.admin_token())
        tasks = list(admin.tasks.list(project=ws.project_id, fields="all"))
        assert sorted(t.data[TASK_KEY] for t in tasks) == sorted(study_run.queues[e])
        emails = {a["completed_by"] if isinstance(a, dict) else a.completed_by
                  for t in tasks for a in (t.annotations or [])}
        users = {u.email for u in admin.users.list()}
        assert users - {"admin@oma.local"} == {e}
        assert len(emails) <= 1
        assert GOLD_MARK not in json.dumps([t.model_dump(mode="json") for t in tasks], default=str)
        proj = admin.projects.get(id=ws.project_id)
        assert proj.show_instruction and "decision tree" in (proj.expert_instruction or "").lower()


def test_merged_pull_equals_single_project(pulled, study_run):
    res, merged, single = pulled
    assert res.tasks == 12 and not res.foreign
    assert res.annotations == {e: len(study_run.annotated[e]) for e in EMAILS}
    assert res.gold_annotations == 2
    assert not merged.with_name(merged.name + ".parts").exists()
    m = load(merged, codemap=study_run.codemap)
    s = load(single, codemap=study_run.codemap)
    assert m.n_dropped == s.n_dropped == 0
    assert m.n_used == s.n_used == sum(len(v) for v in study_run.annotated.values()) + 2
    pd.testing.assert_frame_equal(_comparable(m.frame), _comparable(s.frame))
    # the task key is the same across workspaces: one per completion
    assert m.frame.groupby("task")["completion"].nunique().max() == 1
    assert m.frame["task"].nunique() == 12
    assert set(m.frame["worker"]) == {*EMAILS, "admin@oma.local"}


def test_gold_only_from_the_researcher(pulled, study_run):
    _, merged, _ = pulled
    f = load(merged, codemap=study_run.codemap).frame
    gold = f[f["ground_truth"]]
    assert set(gold["worker"]) == {"admin@oma.local"}
    assert set(gold["task"]) == study_run.gold_keys
    assert not f.loc[~f["ground_truth"], "worker"].eq("admin@oma.local").any()
    data = json.loads(merged.read_text())
    for t in data:
        for a in t["annotations"]:
            marked = GOLD_MARK in json.dumps(a["result"])
            assert marked == (a["oma_source"]["workspace"] == "researcher")


def test_pull_resumes_from_parts(study_run, label_studio, pulled):
    """An interrupted pull leaves finished parts; a rerun reuses them instead of exporting again."""
    st = Study.load("t12", label_studio.home)
    out = study_run.tmp / "resumed.json"
    parts = out.with_name(out.name + ".parts")
    parts.mkdir()
    _, merged, _ = pulled
    # a finished part from "before the interruption": the researcher's export of the gold project
    pull(label_studio.client(), st.gold_project_id, parts / "researcher.json")
    res = pull_study(st, out, researcher_token=label_studio.token)
    assert res.resumed == ["researcher"]
    assert res.gold_annotations == 2 and res.tasks == 12
    assert LEFT_FOR_BROWSER == 2


def test_manual_site_works_offline(tmp_path):
    """The built manual loads no asset from another host (theme CDN off), and the check would catch one."""
    import subprocess
    import sys
    from pathlib import Path

    from oma_analysis.rubric.manual_site import external_assets

    root = Path(__file__).resolve().parents[1]
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f",
                        str(root / "manual" / "mkdocs.yml"), "--site-dir", str(site)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (site / "index.html").exists() and list(site.rglob("*.js"))
    assert external_assets(site) == []
    (site / "x.html").write_text('<script src="https://cdnjs.cloudflare.com/x.js"></script><a href="https://a.b">l</a>')
    assert external_assets(site) == [("x.html", "https://cdnjs.cloudflare.com/x.js")]


def test_instructions_from_the_manual():
    from oma_analysis.labelstudio.instructions import instructions_html, manual_version

    html = instructions_html("http://127.0.0.1:8000")
    assert "<h1>The decision tree</h1>" in html and "hard_constraints" in html
    assert 'href="http://127.0.0.1:8000/worked-examples/"' in html
    assert manual_version() in html and len(manual_version()) == 12


def test_qualify_and_feedback_commands_on_the_study_pull(pulled, study_run, tmp_path):
    """`oma qualify score` and `oma feedback` on the merged export; the disagreements are
    recomputed here from the answers given (rule applied by effective_verdict)."""
    from click.testing import CliRunner
    from study_support import answer_for, gold_answer

    from oma_analysis.cli import main
    from oma_analysis.rubric import effective_verdict

    _, merged, _ = pulled
    runner = CliRunner()
    csv = tmp_path / "q.csv"
    r = runner.invoke(main, ["qualify", "score", str(merged), "--codemap", str(study_run.codemap), "--out", str(csv)])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(csv).set_index("worker")
    code = {t["data"][TASK_KEY]: t["data"]["completion_code"] for t in study_run.tasks}
    for e in EMAILS:
        gold_done = [k for k in study_run.annotated[e] if k in study_run.gold_keys]
        want = sum(effective_verdict(answer_for(e, code[k])) == effective_verdict(gold_answer(code[k]))
                   for k in gold_done)
        if gold_done:
            assert table.loc[e, "n"] == len(gold_done) and table.loc[e, "correct"] == want
            # exact bounds: 0/2 has upper bound 1 - 0.05 ** 0.5 = 0.78 < 0.90 -> fail; otherwise no decision
            assert table.loc[e, "decision"] == ("fail" if want == 0 and len(gold_done) >= 2 else "more items")
        else:  # labeller 3 may have left both gold tasks for the browser test
            assert e not in table.index
        # feedback: gold disagreements + disagreements with the one other labeller (overlap 2)
        expected = len(gold_done) - want
        for k in study_run.annotated[e]:
            if k in study_run.gold_keys:
                continue
            other = [o for o in EMAILS if o != e and k in study_run.annotated[o]]
            if len(other) == 1 and (effective_verdict(answer_for(e, code[k]))
                                    != effective_verdict(answer_for(other[0], code[k]))):
                expected += 1
        out = tmp_path / f"{e}.html"
        r = runner.invoke(main, ["feedback", e, str(merged), "--out", str(out), "--manual-url", "http://m:8000"])
        assert r.exit_code == 0, r.output
        assert f"{e}: {expected} disagreements" in r.output
        page = out.read_text()
        assert page.count("<h2>Completion ") == expected
        assert all(o not in page for o in EMAILS if o != e) and "m-alpha" not in page and GOLD_MARK not in page
        if expected:
            assert "http://m:8000/" in page and ("Study completion" in page or "Colour completion" in page)


def test_per_version_tables_of_the_study_pull(pulled, study_run):
    """Batches and versions recorded per task; agreement recomputed by hand for the verdict."""
    from study_support import answer_for

    from oma_analysis.rubric import RUBRIC, effective_verdict
    from oma_analysis.stats.versions import per_version, task_versions

    _, merged, _ = pulled
    v = task_versions(merged)
    assert set(v.loc[v["task"].isin(study_run.gold_keys), "batch"]) == {2}
    assert set(v.loc[~v["task"].isin(study_run.gold_keys), "batch"]) == {1}
    assert set(v["rubric_version"]) == {RUBRIC.version} and set(v["manual_version"]) == {study_run.study.manual_version}
    t = per_version(load(merged, codemap=study_run.codemap).frame, v)
    code = {x["data"][TASK_KEY]: x["data"]["completion_code"] for x in study_run.tasks}
    # regular batch, derived verdict: share of tasks whose two labellers agree (overlap 2 -> one pair)
    pairs = []
    for k in code:
        if k in study_run.gold_keys:
            continue
        who = [e for e in EMAILS if k in study_run.annotated[e]]
        if len(who) == 2:
            a, b = (effective_verdict(answer_for(e, code[k])) for e in who)
            pairs.append(a == b)
    row = t["agreement"][(t["agreement"]["batch"] == 1) & (t["agreement"]["question"] == RUBRIC.MISALIGNMENT)]
    assert row["units"].item() == len(pairs) and row["agreement"].item() == pytest.approx(sum(pairs) / len(pairs))
    assert RUBRIC.verdict.question in set(t["agreement"]["question"])  # raw answers too
    assert set(t["gold"]["worker"]) <= set(EMAILS) and len(t["lowest"]) <= 5 * 1
    assert 0 <= t["ambiguous"]["ambiguous_share"].min() <= 1
