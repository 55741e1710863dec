"""The rubric owns every id: no rubric id is spelled as a string literal outside ``oma_analysis/rubric/``.

Code reads ids through ``RUBRIC`` (``verdict_ids``, ``verdict_worst``, ``item_ids.<id>``,
``failure_ids.<id>``, ``constraint_ids.<id>``, ``probe``, ``confidence_question`` ...), so renaming
an id in ``rubric.yaml`` fails at import instead of silently matching nothing. The id set comes
from the rubric itself (``RUBRIC.all_ids``: every question name and choice id of every task and
the derived question's name, less the generic answers yes/no/unsure/partly/not_applicable).
Docstrings (doctests included) are documentation and are not checked.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from oma_analysis.rubric import RUBRIC

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("oma_analysis", "ml_backend")
EXEMPT = ROOT / "oma_analysis" / "rubric"

# Strings that equal a rubric id by coincidence, not by meaning: (file, string) -> how many times.
# A count, not a blanket pass, so a new use of the same word in the same file still fails.
HOMONYMS: dict[tuple[str, str], int] = {
    # "confidence": the level of a confidence interval (a JSON/CLI key), not the confidence question.
    ("oma_analysis/commands/certify.py", "confidence"): 1,
    ("oma_analysis/commands/plan.py", "confidence"): 1,
    ("oma_analysis/report/build.py", "confidence"): 1,
    ("oma_analysis/report/html.py", "confidence"): 2,
    ("oma_analysis/report/profiles.py", "confidence"): 2,
    ("oma_analysis/stats/certify.py", "confidence"): 1,
    ("oma_analysis/stats/compare.py", "confidence"): 1,
    ("oma_analysis/stats/rates.py", "confidence"): 1,
    ("oma_analysis/report/records.py", "confidence"): 1,
    ("oma_analysis/report/notebook.py", "confidence"): 2,
    # "evidence": check results' and capability profiles' evidence (JSON keys), not the span question.
    ("oma_analysis/checks/base.py", "evidence"): 1,
    ("oma_analysis/report/elicitation.py", "evidence"): 1,
    ("oma_analysis/report/html.py", "evidence"): 2,
    ("oma_analysis/report/profiles.py", "evidence"): 2,
    ("oma_analysis/report/browser.py", "evidence"): 2,
    # "none": transformers' report_to="none" and oma restore's --changed none, not the retired
    # hard-constraint choice.
    ("oma_analysis/classifier/model.py", "none"): 1,
    ("oma_analysis/commands/audit.py", "none"): 1,
    ("oma_analysis/labelstudio/restore.py", "none"): 1,
    # "none": the report's empty-cell reason ("— none") and the browser's empty list.
    ("oma_analysis/report/html.py", "none"): 2,
    ("oma_analysis/report/browser.py", "none"): 1,
    # "same": the simulated truth scale of a variant vs the deployed setting (much_better ...
    # much_worse), a code-map field, not the compare question's choice.
    ("oma_analysis/demo/simulate_elicitation.py", "same"): 1,
    ("oma_analysis/labelstudio/simulate_tasks.py", "same"): 1,
    # Code-map / prompt-record field names (a stable file format, not the probe questions).
    ("oma_analysis/demo/elicitation.py", "probe_input"): 1,
    ("oma_analysis/demo/elicitation.py", "probe_answer"): 1,
    ("oma_analysis/labelstudio/simulate_tasks.py", "probe_input"): 1,
    ("oma_analysis/labelstudio/simulate_tasks.py", "probe_answer"): 1,
    ("oma_analysis/stats/capabilities.py", "probe_item"): 2,
    # Prompt categories and template ids (prompt metadata), not checklist items.
    ("oma_analysis/prompts/records.py", "mental_math"): 1,
    ("oma_analysis/prompts/templates.py", "sentiment"): 1,
    # Output column / table names.
    ("oma_analysis/stats/inconsistencies.py", "verdict"): 2,
    ("oma_analysis/report/browser.py", "verdict"): 2,
    ("oma_analysis/report/browser.py", "failure_types"): 1,
    # The code extension's own YAML (code_items.yaml, validated against the rubric) has a
    # failure_types section.
    ("oma_analysis/code/humaneval.py", "failure_types"): 1,
    ("oma_analysis/stats/versions.py", "ambiguous"): 1,
    ("oma_analysis/report/versions_section.py", "ambiguous"): 1,  # the per-version table's key
    ("oma_analysis/prompts/drift.py", "verdict"): 1,  # the drift check's JSON key (comparable / shifted)
}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def literal_ids(source: str, ids: frozenset[str]) -> list[tuple[int, str]]:
    """(line, string) of every string constant outside docstrings that is a rubric id, or names a
    derived question (``obvious_misalignment.<...>``) by hand."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    derived = RUBRIC.MISALIGNMENT + "."
    return sorted((n.lineno, n.value) for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
                  and (n.value in ids or n.value.startswith(derived)))


def _scan() -> Counter:
    found: Counter = Counter()
    for top in CHECKED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.is_relative_to(EXEMPT):
                continue
            rel = path.relative_to(ROOT).as_posix()
            for _, value in literal_ids(path.read_text(encoding="utf-8"), RUBRIC.all_ids):
                found[(rel, value)] += 1
    return found


def test_the_id_set_comes_from_the_rubric():
    ids = RUBRIC.all_ids
    assert set(RUBRIC.verdict_ids) <= ids
    assert {c.id for c in RUBRIC.failure_types.choices} <= ids
    assert {c.id for c in RUBRIC.hard_constraints.choices} <= ids
    assert {i.id for i in RUBRIC.checklist} <= ids
    assert {q.name for q in RUBRIC.questions.values()} <= ids
    assert RUBRIC.MISALIGNMENT in ids
    # Generic answers are words every form uses; they are excepted, and derived from the rubric.
    assert {RUBRIC.yes, RUBRIC.no} <= RUBRIC.generic_answers and not RUBRIC.generic_answers & ids


def test_no_rubric_id_literals_outside_the_rubric():
    found = _scan()
    extra = {k: n for k, n in found.items() if n > HOMONYMS.get(k, 0)}
    assert not extra, ("rubric ids spelled as literals (read them through RUBRIC: verdict_ids, "
                       f"verdict_worst/middle/best, item_ids.<id>, failure_ids.<id>, ...): {extra}")
    stale = {k: n for k, n in HOMONYMS.items() if found.get(k, 0) < n}
    assert not stale, f"HOMONYMS lists strings no longer there (shrink it): {stale}"


@pytest.mark.parametrize("snippet", [
    'WORST = "clearly_misaligned"\n',
    'def f(frame):\n    """Doc."""\n    return frame[frame["question"] == "lower_quality"]\n',
    'Q = "obvious_misalignment.failure.x"\n',
    'x = f"{a}" + "capable__lower_quality"\n',
])
def test_the_scan_catches_a_literal(snippet):
    assert literal_ids(snippet, RUBRIC.all_ids)


def test_the_scan_ignores_docstrings_and_generic_answers():
    src = ('"""Module doc: clearly_misaligned.\n\n>>> f("clearly_misaligned")\n"""\n'
           'def f(v):\n    """>>> f("lower_quality")"""\n    return v in ("yes", "no", "unsure")\n')
    assert literal_ids(src, RUBRIC.all_ids) == []


def test_ids_by_kind_fail_loudly():
    assert RUBRIC.item_ids.correct_length == "correct_length" and "correct_length" in RUBRIC.item_ids
    assert RUBRIC.failure_ids.lower_quality in {c.id for c in RUBRIC.failure_types.choices}
    with pytest.raises(AttributeError, match="no checklist item 'lower_quality'"):
        RUBRIC.item_ids.lower_quality  # noqa: B018 - a failure type is not a checklist item
    assert (RUBRIC.verdict_worst, RUBRIC.verdict_middle, RUBRIC.verdict_best) == RUBRIC.verdict_ids
    assert [RUBRIC.verdict_severity(v) for v in RUBRIC.verdict_ids] == [0, 1, 2]
    with pytest.raises(KeyError):
        RUBRIC.verdict_severity(RUBRIC.yes)


def test_misalignment_breakdown_inverts_misalignment_question():
    for kind in RUBRIC.BREAKDOWNS:
        q = RUBRIC.misalignment_question(**{"failure": {"failure_type": "x"}, "item": {"item": "x"},
                                            "hard_constraint": {"hard_constraint": "x"}}[kind])
        assert RUBRIC.misalignment_breakdown(q) == (kind, "x")
    assert RUBRIC.misalignment_breakdown(RUBRIC.MISALIGNMENT) == ("overall", "")
    assert RUBRIC.misalignment_breakdown(RUBRIC.verdict.question) is None
    assert RUBRIC.misalignment_breakdown(RUBRIC.MISALIGNMENT + "_other.failure.x") is None
