"""The manual covers every rubric item, its tables are generated, and the site builds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from oma_analysis.rubric import RUBRIC
from oma_analysis.rubric.manual import render_pages

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "manual" / "docs"


def all_rubric_ids() -> set[str]:
    ids = set()
    for q in RUBRIC.questions.values():
        ids.add(q.name)
        ids |= set(q.choice_ids)
    ids |= {i.id for i in RUBRIC.checklist}
    return ids


def test_generated_tables_are_in_sync():
    for name, text in render_pages().items():
        assert (DOCS / "reference" / name).read_text(encoding="utf-8") == text, f"run `oma manual tables` ({name})"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "oma_analysis", "manual", "build",
                           "--config", str(ROOT / "manual" / "mkdocs.yml"), "--site", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def test_site_builds_and_covers_every_rubric_item(site):
    html = "\n".join(p.read_text(encoding="utf-8") for p in site.rglob("*.html"))
    missing = sorted(i for i in all_rubric_ids() if i not in html)
    assert not missing, f"rubric ids missing from the manual: {missing}"
    for page in ("decision-tree", "worked-examples", "ambiguous", "compare-and-probe", "faq", "researchers/guide"):
        assert (site / page / "index.html").exists()


def test_each_failure_type_has_two_worked_examples():
    text = (DOCS / "worked-examples.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    for f in RUBRIC.failure_types.choices:
        sec = [s for s in sections if f"[`{f.id}`]" in s.splitlines()[0]]
        assert len(sec) == 1, f"no section for {f.id}"
        assert len(re.findall(r"^### Example", sec[0], flags=re.M)) >= 2, f.id


def test_worked_examples_use_only_real_ids():
    text = (DOCS / "worked-examples.md").read_text(encoding="utf-8")
    ids = all_rubric_ids() | {f"{p}__{f.id}" for p in ("capable", "distinguishable", "capability_items")
                              for f in RUBRIC.failure_types.choices}
    used = set(re.findall(r"`([a-z_]+)`", text))
    assert used <= ids, f"unknown ids in worked examples: {sorted(used - ids)}"
