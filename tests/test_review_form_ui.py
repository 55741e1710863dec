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
