"""The results browser as an analyst uses it, in headless Chromium: from a rate to the items it
counts, from an item to the conversation, the completion, every labeller's answers and the rule's
reasoning; the disagreement filter; and `oma view` serving the folder."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from report_data import LABELLERS, demo_like_export
from screenshots import _launch

from oma_analysis.ingest import load
from oma_analysis.report import build_report
from oma_analysis.rubric import RUBRIC


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("browser")
    export, codemap = demo_like_export(d / "in", seed=7)
    rep = build_report(load(export, codemap), d / "rep", export, progress=False, codemap=str(codemap))
    return d / "rep", rep, json.loads(export.read_text())


def test_from_a_rate_to_an_item(built, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    rep_dir, rep, tasks = built
    shots = tmp_path_factory.mktemp("screenshots")
    rate = next(r for r in rep["rates"] if r["question"] == RUBRIC.MISALIGNMENT and r["k_upper"] > 0)
    by_id = {str(t["id"]): t for t in tasks}
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((rep_dir / "browser.html").resolve().as_uri())
            page.wait_for_selector("#rates")
            page.screenshot(path=str(shots / "browser_rates.png"), full_page=True)
            page.click(f'a.rate[data-model="{rate["model"]}"][data-count="upper"]')
            page.wait_for_selector("#items")
            page.screenshot(path=str(shots / "browser_items.png"), full_page=True)
            # the rate's items: exactly the completions it counts
            assert page.inner_text("#count") == f"{rate['k_upper']} item(s)"
            listed = page.locator("a.item").all_inner_texts()
            assert len(listed) == rate["k_upper"]
            page.click("a.item >> nth=0")
            page.wait_for_selector("#answers")
            page.screenshot(path=str(shots / "browser_item.png"), full_page=True)
            task = by_id[listed[0]]
            assert page.inner_text("#completion") == task["data"]["completion"]
            body = page.inner_text("body")
            assert task["data"]["messages"][0]["content"] in body
            assert rate["model"] in body
            heads = page.locator("#answers th").all_inner_texts()
            workers = [a["completed_by"]["email"] for a in task["annotations"]]
            assert all(any(w in h for h in heads) for w in workers) and set(LABELLERS) <= set(workers)
            assert page.inner_text("#verdict") in ("clearly_misaligned", "ambiguous")
            assert "rule-applied verdict" in page.inner_text("#answers")
            # the automatic checks ran on this completion (the same runner as `oma checks`)
            from oma_analysis.checks.runner import prompt_from_messages, run_checks

            want = {c.check_id for c in run_checks(prompt_from_messages(task["data"]["messages"]),
                                                   task["data"]["completion"]).checks}
            shown = page.locator("#checks tr td:first-child").all_inner_texts()
            assert set(shown) == want and shown
            # the disagreement filter lists the items whose labellers split
            page.goto((rep_dir / "browser.html").resolve().as_uri() + "#list?disagree=1")
            page.wait_for_selector("#items")
            split = {r["task"] for r in rep["disagreements"]}
            assert set(page.locator("a.item").all_inner_texts()) == split
            assert not errors, errors
        finally:
            browser.close()
    assert (shots / "browser_item.png").stat().st_size > 20_000


def test_oma_view_serves_the_folder(built):
    rep_dir, _, _ = built
    proc = subprocess.Popen([sys.executable, "-m", "oma_analysis", "view", str(rep_dir), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/browser.html")
        with urllib.request.urlopen(url, timeout=30) as r:
            page = r.read().decode()
        assert r.status == 200 and 'id="data"' in page
        assert "http://" not in page.replace(url, "") and "https://" not in page
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_browser_page_escapes_the_data(tmp_path):
    """Text that looks like markup stays text: a completion with </script> cannot end the data block."""
    from oma_analysis.report.browser import write_browser

    path = write_browser({"rates": [], "items": [], "n_tasks": 0, "max_items": 1, "failure_types": [],
                          "checklist": [], "question_order": [], "verdicts": ["a", "b", "c"],
                          "x": "</script><script>alert(1)</script>"}, tmp_path / "b.html")
    page = Path(path).read_text()
    assert page.count("</script>") == 2


def test_variants_and_probes_join_the_item_of_their_model_and_prompt():
    import pandas as pd

    from oma_analysis.report.browser import _run_extras

    compare = pd.DataFrame({"task": ["9", "9", "9"], "worker": ["w1", "w1", "w1"], "completion": ["pc"] * 3,
                            "model": ["m"] * 3, "prompt": ["p"] * 3,
                            "question": ["compare_better", "compare_aspect.intent_task",
                                         "compare_aspect.intent_length"],
                            "label": ["right_much_better", RUBRIC.yes, RUBRIC.no]})
    probe = pd.DataFrame({"task": ["7"], "worker": ["w2"], "completion": ["pr"], "model": ["m"], "prompt": ["q"],
                          "question": ["probe_outcome"], "label": ["shows_capable"]})
    codes = {"pc": {"kind": "pair", "variant": "temp:1.0", "deployed_variant": "chat", "deployed_side": "left"},
             "pr": {"kind": "probe"}}
    got = _run_extras([compare, probe], codes)
    assert set(got) == {("m", "p"), ("m", "q")}
    (c,) = got[("m", "p")]
    assert c["what"] == "variant temp:1.0 vs deployed chat (deployed on the left)"
    assert c["answers"] == {"compare_better": "right_much_better", "compare_aspect": ["intent_task"]}
    assert got[("m", "q")][0]["what"] == "probe"
