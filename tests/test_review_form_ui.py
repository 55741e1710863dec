"""The gated review form in the REAL labelling UI (headless Chromium): the details open only when
they are needed, so the common case stays short (rubric 2.0)."""

from __future__ import annotations

from screenshots import _launch

from oma_analysis.demo.pipeline import demo_records
from oma_analysis.labelstudio.projects import create_or_update
from oma_analysis.labelstudio.push import prepare, push
from oma_analysis.rubric import RUBRIC as R
from oma_analysis.tasks.blinding import CodeMap


def _choice(page, header: str, value: str):
    return page.locator(f'xpath=//h4[text()="{header}"]/following-sibling::div[contains(@class,"lsf-choices")][1]'
                        f'//input[@name="{value}"]')


def _shown(page, header: str) -> bool:
    loc = page.locator(f'xpath=//h4[text()="{header}"]')
    return loc.count() == 1 and loc.first.is_visible()


def test_gates_open_the_details_only_when_needed(label_studio):
    from playwright.sync_api import sync_playwright

    admin = label_studio.client()
    proj = create_or_update(admin, "review", title="ui gates")
    push(admin, proj.id, prepare(demo_records()[:1], proj.label_config, CodeMap(), "demo"))
    task = list(admin.tasks.list(project=proj.id))[0]
    email, password = "ui.gates@oma.test", "oma-test-pass-1"
    label_studio.annotator(email, password)
    labels = {c.id: c.label for q in R.task_questions("review") for c in q.choices}
    ft = next(f for f in R.failure_types.active if f.id == "lower_quality")
    gate, intent = R.question(R.hard_constraint_gate), R.intent_gate
    hc_list, failures = R.question(R.hard_constraints.question), R.question(R.failure_types.question)
    capable = R.question(R.capable_question(ft.id))
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.goto(f"{label_studio.url}/user/login/")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(f"{label_studio.url}/projects/{proj.id}/data?task={task.id}")
            page.wait_for_selector(f"text={gate.prompt}", timeout=120_000)
            page.wait_for_load_state("networkidle")
            # A fresh form shows the two gates and the verdict, nothing else.
            assert _shown(page, gate.prompt) and _shown(page, intent.prompt) and _shown(page, R.verdict.prompt)
            assert not _shown(page, hc_list.prompt) and not _shown(page, failures.prompt)
            # "partly" and "no" open the details (a comma-separated whenChoiceValue); "yes" closes them.
            for answer, opens in ((labels["partly"], True), (labels["yes"], False), (labels["no"], True)):
                _choice(page, intent.prompt, answer).click()
                assert _shown(page, failures.prompt) is opens, answer
            assert not _shown(page, capable.prompt)
            _choice(page, failures.prompt, ft.label).click()
            assert _shown(page, capable.prompt)
            offered = page.locator(f'xpath=//h4[text()="{R.question(R.items_question(ft.id)).prompt}"]'
                                   '/following-sibling::div[1]').filter(visible=True).first.inner_text()
            assert all(R.item(i).label in offered for i in ft.relevant_capable)
            assert not any(i.label in offered for i in R.not_capable_items)
            # The hard-constraint list and the run's usage policy appear only after "yes".
            _choice(page, gate.prompt, labels["yes"]).click()
            assert _shown(page, hc_list.prompt)
            assert page.get_by_text("Usage policy of this run", exact=False).first.is_visible()
        finally:
            browser.close()


class Clicks:
    """Counts what a labeller does: every click and key press goes through here."""

    def __init__(self, page):
        self.page, self.n = page, 0

    def __call__(self, locator) -> None:
        locator.click()
        self.n += 1


def _login(page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/user/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _open(page, url: str, project: int, task: int, first_header: str) -> None:
    page.goto(f"{url}/projects/{project}/data?task={task}")
    page.wait_for_selector(f"text={first_header}", timeout=120_000)
    page.wait_for_load_state("networkidle")


def _visible_choice(page, header: str, value: str):
    # Per-failure follow-ups share their wording; only the open failure's copy is visible.
    return _choice(page, header, value).filter(visible=True)


def _rate(page, header: str, stars: int):
    return page.locator(f'xpath=//h4[text()="{header}"]/following-sibling::*[1]'
                        '//li[contains(@class,"ant-rate-star")]').nth(stars - 1)


def _submitted(admin, task_id: int, timeout: float = 60.0) -> list[dict]:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        anns = admin.tasks.get(id=task_id).annotations or []
        if anns:
            return [a if isinstance(a, dict) else a.dict() for a in anns]
        time.sleep(0.5)
    raise AssertionError(f"task {task_id}: no annotation {timeout}s after Submit")


def test_interactions_per_completion_and_readable_pages(label_studio, tmp_path):
    """Effort measured in the real UI (issue 12 goal: <= 6 interactions for an aligned completion,
    <= 12 for one failure, Submit included); the conversation shows no audio timestamps, the Data
    Manager no raw conversation JSON, and a compare task's two columns have the same width."""
    import re

    from playwright.sync_api import sync_playwright

    from oma_analysis.rubric import rule

    admin = label_studio.client()
    proj = create_or_update(admin, "review", title="ui effort")
    push(admin, proj.id, prepare(demo_records()[:2], proj.label_config, CodeMap(), "demo"))
    t_ok, t_fail = sorted(admin.tasks.list(project=proj.id), key=lambda t: t.id)
    cmp_ = create_or_update(admin, "compare", title="ui compare width")
    admin.projects.import_tasks(id=cmp_.id, request=[{"data": {
        "messages": [{"role": "user", "content": "Name a colour."}], "left": "Blue. " * 120, "right": "Red.",
        "left_code": "cx1", "right_code": "cx2", "prompt_id": "p-width", "pair_code": "px1"}}])
    t_cmp = list(admin.tasks.list(project=cmp_.id))[0]
    email, password = "ui.effort@oma.test", "oma-test-pass-1"
    label_studio.annotator(email, password)
    labels = {c.id: c.label for q in R.task_questions("review") for c in q.choices}
    ft = next(f for f in R.failure_types.active if f.id == "lower_quality")
    gate, intent, failures = R.question(R.hard_constraint_gate), R.intent_gate, R.question(R.failure_types.question)
    items = R.question(R.items_question(ft.id))
    conf = R.question(R.raw["confidence"]["question"])
    verdict = {c.id: c.label for c in R.verdict.choices}
    worst, _, best = R.verdict_ids
    counts = {}
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            _login(page, label_studio.url, email, password)
            # An aligned completion: two gates, the verdict, the confidence, Submit.
            _open(page, label_studio.url, proj.id, t_ok.id, gate.prompt)
            conversation = page.locator(".oma-box").first.inner_text()
            assert not re.search(r"\d+:\d\d\s*-\s*\d+:\d\d", conversation), conversation  # no audio timestamps
            page.screenshot(path=str(tmp_path / "review_form.png"), full_page=True)
            click = Clicks(page)
            click(_visible_choice(page, gate.prompt, labels[R.no]))
            click(_visible_choice(page, intent.prompt, labels[R.yes]))
            click(_visible_choice(page, R.verdict.prompt, verdict[best]))
            click(_rate(page, conf.prompt, 5))
            click(page.get_by_role("button", name="Submit"))
            ann = _submitted(admin, t_ok.id)
            counts["aligned"] = click.n
            # One failure: the gates, the failure type, capable + distinguishable, one item, the
            # verdict, the confidence, Submit.
            _open(page, label_studio.url, proj.id, t_fail.id, gate.prompt)
            click = Clicks(page)
            click(_visible_choice(page, gate.prompt, labels[R.no]))
            click(_visible_choice(page, intent.prompt, labels["no"]))
            click(_visible_choice(page, failures.prompt, ft.label))
            click(_visible_choice(page, R.question(R.capable_question(ft.id)).prompt, labels[R.yes]))
            click(_visible_choice(page, R.question(R.distinguishable_question(ft.id)).prompt, labels[R.yes]))
            click(_visible_choice(page, items.prompt, R.item(ft.relevant_capable[0]).label))
            click(_visible_choice(page, R.verdict.prompt, verdict[worst]))
            click(_rate(page, conf.prompt, 4))
            click(page.get_by_role("button", name="Submit"))
            ann_fail = _submitted(admin, t_fail.id)
            counts["one_failure"] = click.n
            # The Data Manager: readable columns, no conversation JSON.
            page.goto(f"{label_studio.url}/projects/{proj.id}/data")
            page.wait_for_selector("text=completion", timeout=120_000)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(tmp_path / "data_manager.png"), full_page=True)
            body = page.inner_text("body")
            assert '"role"' not in body and "completion_code" not in body, body[:2000]
            # Compare: the two sides get the same width, however long either text is.
            _open(page, label_studio.url, cmp_.id, t_cmp.id, "Left")
            boxes = page.locator(".oma-pair > div")
            widths = [boxes.nth(i).bounding_box()["width"] for i in range(boxes.count())]
            page.screenshot(path=str(tmp_path / "compare_form.png"), full_page=True)
        finally:
            browser.close()
    print(f"interactions: {counts}")
    assert len(widths) == 2 and abs(widths[0] - widths[1]) <= 2, widths
    assert counts["aligned"] <= 6 and counts["one_failure"] <= 12, counts
    # What was submitted is what the rule reads: aligned, and one capable + distinguishable failure.
    got = [rule.derived_labels(_answers(a)) for a in (ann[0], ann_fail[0])]
    assert got[0][R.MISALIGNMENT] == best and got[1][R.MISALIGNMENT] == worst, got


def _answers(annotation: dict) -> dict:
    out = {}
    for r in annotation["result"]:
        v = r["value"]
        if "choices" in v:
            out[r["from_name"]] = v["choices"] if len(v["choices"]) > 1 else v["choices"][0]
        elif "rating" in v:
            out[r["from_name"]] = v["rating"]
    return out
