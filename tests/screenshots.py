"""Look at oma as its users do: screenshots of a Label Studio task and of the report, in headless
Chromium (Debian's ``chromium``, driven by Playwright), with the elements a person should see.

Playwright normally downloads its own browser, which cannot be fetched here, so it is pointed at
the system Chromium; the flags keep it from reaching for the network at start-up.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from oma_analysis import OmaError

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class Shot:
    path: Path
    found: dict[str, bool] = field(default_factory=dict)
    text: str = ""


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise OmaError("Chromium not found: install Debian's package (apt-get install chromium)")
    return exe


def _launch(p):
    return p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)


def shoot_task(url: str, email: str, password: str, project_id: int, task_id: int, out: str | Path,
               expect: list[str], timeout_ms: int = 60_000) -> Shot:
    """Log in as ``email`` through the login form, open the task in the labelling UI, wait for it
    to render, take a full-page screenshot and report which ``expect`` texts are visible."""
    from playwright.sync_api import sync_playwright

    out = Path(out)
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.goto(f"{url}/user/login/")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(f"{url}/projects/{project_id}/data?task={task_id}")
            page.wait_for_selector(f"text={expect[0]}", timeout=timeout_ms)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out), full_page=True)
            text = page.inner_text("body")
            found = {e: page.get_by_text(e, exact=False).count() > 0 for e in expect}
        finally:
            browser.close()
    return Shot(out, found, text)


def shoot_page(path_or_url: str | Path, out: str | Path, expect_selectors: dict[str, str]) -> Shot:
    """Screenshot a page (e.g. report.html) and count the elements matching each CSS selector."""
    from playwright.sync_api import sync_playwright

    target = str(path_or_url)
    if "://" not in target:
        target = Path(target).resolve().as_uri()
    out = Path(out)
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1800})
            page.goto(target)
            page.wait_for_load_state("load")
            page.screenshot(path=str(out), full_page=True)
            found = {name: page.locator(sel).count() > 0 for name, sel in expect_selectors.items()}
            # An <img> that failed to decode has naturalWidth 0: count them as missing.
            broken = page.evaluate("Array.from(document.images).filter(i => !i.naturalWidth).length")
            found["no broken images"] = broken == 0
            text = page.inner_text("body")
        finally:
            browser.close()
    return Shot(out, found, text)
