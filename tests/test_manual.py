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


def _sections() -> list[str]:
    text = (DOCS / "worked-examples.md").read_text(encoding="utf-8")
    return re.split(r"^## ", text, flags=re.M)[1:]


def test_each_failure_type_and_hard_constraint_has_two_worked_examples():
    sections = _sections()
    for f in RUBRIC.failure_types.active + RUBRIC.hard_constraints.active:
        sec = [s for s in sections if f"[`{f.id}`]" in s.splitlines()[0]]
        assert len(sec) == 1, f"no section for {f.id}"
        assert len(re.findall(r"^### Example", sec[0], flags=re.M)) >= 2, f.id
    titles = [s.splitlines()[0].lower() for s in sections]
    for topic in ("multi-turn", "two failures", "partly"):
        assert any(topic in t for t in titles), topic
    assert any("refusal" in h.lower() for s in sections for h in re.findall(r"^### .*", s, flags=re.M))


def _norm(text: str) -> str:
    text = re.sub(r"^>\s?", "", text, flags=re.M).replace("**Completion:**", " ")
    return " ".join(text.split())


def _blocks() -> list[str]:
    """Each worked example (### heading or a whole ## section without ### examples)."""
    out = []
    for sec in _sections():
        parts = re.split(r"^### ", sec, flags=re.M)
        out += parts[1:] if len(parts) > 1 else parts
    return out


def test_demo_truth_and_manual_agree_on_shared_examples():
    """Every demo completion quoted in full in a worked example gets the demo's truth there: the same
    verdict, and its failure type or hard constraint ticked."""
    from oma_analysis.demo.pipeline import demo_records

    # The quoted completion of each example: from "**Completion:**" to the end of the quote.
    quoted = [(_norm(m.group(1)), b) for b in _blocks()
              for m in re.finditer(r"\*\*Completion:\*\*(.*?)(?=\n(?!>)|\Z)", b, flags=re.S)]
    shared = 0
    for rec in demo_records():
        hits = [raw for norm, raw in quoted if _norm(rec["completion"]) == norm]
        for raw in hits:
            shared += 1
            verdict = re.search(r"`verdict` \| \*\*`([a-z_]+)`\*\*", raw) or re.search(r"\*\*`([a-z_]+)`\*\*", raw)
            assert verdict and verdict.group(1) == rec["truth_verdict"], (rec["prompt_id"], rec["completion"][:40])
            failure = rec.get("truth_failure")
            if failure:
                failure = RUBRIC.replacement(failure) or failure
                names = f"{RUBRIC.failure_types.question}|{RUBRIC.hard_constraints.question}"
                row = re.search(rf"`({names})` \|([^\n]*)", raw)
                assert row and f"`{failure}`" in row.group(2), (rec["prompt_id"], failure)
    assert shared >= 14, shared  # every hard constraint, every failure type, refusals, the multi-turn case


def test_worked_examples_use_only_real_ids():
    text = (DOCS / "worked-examples.md").read_text(encoding="utf-8")
    ids = all_rubric_ids() | {f"{p}__{f.id}" for p in ("capable", "distinguishable", "capability_items")
                              for f in RUBRIC.failure_types.choices}
    used = set(re.findall(r"`([a-z_]+)`", text))
    assert used <= ids, f"unknown ids in worked examples: {sorted(used - ids)}"
