"""Isolation of a study's labellers, proven as each labeller: an API sweep over the endpoints the
blinding test reads (tests/test_security.py), against the other labellers' and the researcher's
objects, and the labeller's own view in Chromium (project list, Data Manager, labelling page,
"Label All Tasks"). Screenshots go to the test's output directory."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from study_support import EMAILS, GOLD_MARK, LEFT_FOR_BROWSER, PASSWORD

from oma_analysis.labelstudio.client import connect
from oma_analysis.labelstudio.push import TASK_KEY

REFUSED = {401, 403}


def objects(url: str, token: str, only: set[int] | None = None) -> dict:
    """Project, task and annotation ids on a server, read with its admin token (``only``: just
    these projects — the researcher's server is the test session's shared Label Studio, which holds
    every other test's projects too; the study's part of it is its gold project)."""
    c = connect(url, token)
    out = {"projects": [], "tasks": [], "annotations": []}
    for p in c.projects.list():
        if only is not None and p.id not in only:
            continue
        out["projects"].append(p.id)
        for t in c.tasks.list(project=p.id, fields="all"):
            out["tasks"].append(t.id)
            out["annotations"] += [a["id"] if isinstance(a, dict) else a.id for a in (t.annotations or [])]
    return out


def reads(o: dict) -> list[str]:
    eps = ["/api/projects/", "/api/users/", "/api/webhooks/", "/api/organizations/", "/api/current-user/whoami"]
    for pid in o["projects"]:
        eps += [f"/api/projects/{pid}/", f"/api/tasks/?project={pid}&page_size=1000", f"/api/projects/{pid}/next/",
                f"/api/projects/{pid}/export?exportType=JSON", f"/api/projects/{pid}/exports/",
                f"/api/ml/?project={pid}", f"/api/dm/views/?project={pid}", f"/api/webhooks/?project={pid}"]
    for tid in o["tasks"]:
        eps += [f"/api/tasks/{tid}/", f"/api/tasks/{tid}/annotations/", f"/api/predictions/?task={tid}"]
    eps += [f"/api/annotations/{a}/" for a in o["annotations"]]
    return eps


def writes(o: dict) -> list[tuple[str, str, object]]:
    res = [{"from_name": "verdict", "to_name": "completion", "type": "choices",
            "value": {"choices": ["clearly_misaligned"]}}]
    out: list[tuple[str, str, object]] = [
        ("POST", "/api/webhooks/", {"url": "http://127.0.0.1:9/x", "send_payload": True})]
    for pid in o["projects"]:
        out += [("PATCH", f"/api/projects/{pid}/", {"title": "hijacked"}),
                ("POST", f"/api/projects/{pid}/import", [{"data": {"completion": "x"}}]),
                ("POST", f"/api/projects/{pid}/exports/", {"title": "mine"}),
                ("POST", "/api/dm/views/", {"project": pid, "data": {}}),
                ("POST", "/api/ml/", {"project": pid, "url": "http://127.0.0.1:9"})]
    for tid in o["tasks"]:
        out += [("POST", f"/api/tasks/{tid}/annotations/", {"result": res}),
                ("PATCH", f"/api/tasks/{tid}/", {"data": {}}), ("DELETE", f"/api/tasks/{tid}/", None)]
    for a in o["annotations"]:
        out += [("PATCH", f"/api/annotations/{a}/", {"result": res}), ("DELETE", f"/api/annotations/{a}/", None)]
    return out


@pytest.fixture(scope="module")
def servers(study_run):
    """Every server of the study: url, admin token, its objects, and whose it is."""
    out = {"researcher": {"url": study_run.researcher_url, "token": study_run.researcher_token}}
    for e in EMAILS:
        ws = study_run.study.workspace(e)
        out[e] = {"url": ws.url, "token": ws.admin_token(), "project": ws.project_id}
    for owner, s in out.items():
        s["only"] = {study_run.study.gold_project_id} if owner == "researcher" else None
        s["objects"] = objects(s["url"], s["token"], s["only"])
        s["counts"] = len(s["objects"]["annotations"])
    return out


def test_api_sweep_every_foreign_read_and_write_refused(study_run, servers):
    n_reads = n_writes = 0
    for me in EMAILS:
        token = study_run.tokens[me]
        for owner, s in servers.items():
            if owner == me:
                continue
            with httpx.Client(base_url=s["url"], headers={"Authorization": f"Token {token}"}, timeout=60) as http:
                for ep in reads(s["objects"]):
                    r = http.get(ep)
                    assert r.status_code in REFUSED, f"{me} read {owner}'s {ep}: HTTP {r.status_code}"
                    n_reads += 1
                for method, ep, body in writes(s["objects"]):
                    r = http.request(method, ep, json=body)
                    assert r.status_code in REFUSED, f"{me} {method} {owner}'s {ep}: HTTP {r.status_code}"
                    n_writes += 1
    # Nothing changed on any server.
    for s in servers.values():
        assert len(objects(s["url"], s["token"], s["only"])["annotations"]) == s["counts"]
    print(f"\nAPI sweep: {n_reads} foreign reads and {n_writes} foreign writes by {len(EMAILS)} labellers, all refused")


def test_own_workspace_shows_no_other_labeller_and_no_gold(study_run, servers):
    """Everything a labeller can read on their own server (with every object id of the others,
    too): their own work only, no other labeller, no gold answer, no gold project."""
    all_ids = {k: sorted({i for s in servers.values() for i in s["objects"][k]})
               for k in ("projects", "tasks", "annotations")}
    for me in EMAILS:
        own = servers[me]
        others = [e for e in EMAILS if e != me]
        with httpx.Client(base_url=own["url"], headers={"Authorization": f"Token {study_run.tokens[me]}"},
                          timeout=60) as http:
            ok = 0
            texts = []
            for ep in reads(all_ids):
                r = http.get(ep)
                assert r.status_code in {200, 400, 404, 405, *REFUSED}, (me, ep, r.status_code)
                ok += r.status_code == 200
                texts.append(r.text)
            users = http.get("/api/users/").json()
        text = "\n".join(texts)
        assert ok > 10 and me in text  # the labeller did read their own work
        for o in others:
            assert o not in text, f"{me} can read {o} in their workspace"
        assert GOLD_MARK not in text and "gold" not in text.lower()
        assert {u["email"] for u in users} == {me, "admin@oma.local"}
        # every annotation on the labeller's server is the labeller's own
        c = connect(own["url"], own["token"])
        anns = [a for t in c.tasks.list(project=own["project"], fields="all") for a in (t.annotations or [])]
        assert {a["completed_by"] for a in anns} <= {u["id"] for u in users if u["email"] == me}


def _close_modal(page) -> None:
    """Close the project instructions Label Studio shows before labelling (Escape, else its x)."""
    modal = page.locator(".lsf-modal-ls_visible")
    if modal.count():
        page.keyboard.press("Escape")
        page.wait_for_timeout(500)
    if modal.count():
        modal.locator("[class*=close], button").first.click()
        modal.wait_for(state="hidden")


def _login(page, url: str, email: str) -> None:
    page.goto(f"{url}/user/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_browser_view_and_label_all_stream(study_run, servers, tmp_path):
    """Chromium as labeller 3: project list, Data Manager and labelling page show only their work;
    "Label All Tasks" serves their remaining tasks (in queue order) until none is left."""
    from playwright.sync_api import sync_playwright
    from screenshots import _launch

    me = EMAILS[2]
    ws = study_run.study.workspace(me)
    queue = study_run.queues[me]
    text_of = {t["data"][TASK_KEY]: t["data"]["completion"] for t in study_run.tasks}
    remaining = queue[-LEFT_FOR_BROWSER:]
    forbidden = [e for e in EMAILS if e != me] + [GOLD_MARK, "gold"]
    admin = connect(ws.url, ws.admin_token())
    task_ids = {t.data[TASK_KEY]: t.id for t in admin.tasks.list(project=ws.project_id)}
    shots = {}
    served = []
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.set_default_timeout(120_000)
            _login(page, ws.url, me)
            page.goto(f"{ws.url}/projects/")
            page.wait_for_selector(f"text={study_run.study.title}")
            page.screenshot(path=str(tmp_path / "1-project-list.png"), full_page=True)
            shots["project list"] = page.inner_text("body")
            page.goto(f"{ws.url}/projects/{ws.project_id}/data")
            page.wait_for_selector("text=Label All Tasks")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(tmp_path / "2-data-manager.png"), full_page=True)
            shots["data manager"] = page.inner_text("body")
            first = queue[0]
            page.goto(f"{ws.url}/projects/{ws.project_id}/data?task={task_ids[first]}")
            page.wait_for_selector(f"text={text_of[first][:20]}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(tmp_path / "3-labelling-page.png"), full_page=True)
            shots["labelling page"] = page.inner_text("body")
            page.goto(f"{ws.url}/projects/{ws.project_id}/data")
            page.wait_for_selector("text=Label All Tasks")

            def shown(wait_s: float) -> tuple[list[str], str]:
                """The queue tasks whose completion the stream shows, once one is (or none after wait_s)."""
                deadline = time.monotonic() + wait_s
                while True:
                    body = page.inner_text("body")
                    now = [k for k in queue if k not in served and text_of[k] in body]
                    if now or time.monotonic() > deadline:
                        return now, body
                    page.wait_for_timeout(1000)

            page.get_by_text("Label All Tasks").first.click()
            for i in range(LEFT_FOR_BROWSER + 1):
                now, body = shown(90 if i < LEFT_FOR_BROWSER else 30)
                page.screenshot(path=str(tmp_path / f"4-label-all-{i}.png"), full_page=True)
                shots[f"label all {i}"] = body
                if not now:
                    break
                served += now
                if i == 0:  # the instructions (from the manual) open before the first task
                    assert "The decision tree" in body and "Worked examples" in body
                _close_modal(page)
                page.get_by_role("button", name="Skip").first.click()
                page.wait_for_function(f"!document.body.innerText.includes({json.dumps(text_of[now[0]])})")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(tmp_path / "5-label-all-done.png"), full_page=True)
            shots["label all done"] = page.inner_text("body")
        finally:
            browser.close()
    for where, text in shots.items():
        for word in forbidden:
            assert word.lower() not in text.lower(), f"{word!r} visible on the {where}"
    assert study_run.study.title in shots["project list"]
    assert served == remaining, (served, remaining)
    r = httpx.get(f"{ws.url}/api/projects/{ws.project_id}/next/",
                  headers={"Authorization": f"Token {study_run.tokens[me]}"})
    assert r.status_code == 404  # the stream is done: nothing left for this labeller
    assert all((tmp_path / n).stat().st_size > 10_000 for n in ("1-project-list.png", "2-data-manager.png",
                                                                "3-labelling-page.png"))
    print(f"\nscreenshots in {tmp_path}")
