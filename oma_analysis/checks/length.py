"""Length checks: word, sentence, paragraph and bullet counts against a stated constraint.

Words are runs of letters/digits with inner apostrophes or hyphens ("don't" is one word; IFEval's
``\\w+`` counts two); sentences end at . ! ? or a line break (see ``base.sentences``).
"""

from __future__ import annotations

import re
from typing import Any

from oma_analysis.checks.base import CheckResult, Span, checklist_item, paragraphs, sentences, span, words
from oma_analysis.checks.constraints import relation_holds
from oma_analysis.rubric import RUBRIC

LENGTH = checklist_item(RUBRIC.item_ids.correct_length)
SENTENCES = checklist_item(RUBRIC.item_ids.sentence_count)


def _max_allowed(relation: str, target: int) -> int | None:
    return {"less than": target - 1, "at most": target, "exactly": target}.get(relation)


def _count_check(check_id: str, item: str, unit: str, response: str, units: list[tuple[int, int]],
                 relation: str, target: int, instruction_id: str | None) -> CheckResult:
    n = len(units)
    passed = relation_holds(n, relation, target)
    evidence: list[Span] = []
    if not passed:
        cap = _max_allowed(relation, target)
        if cap is not None and n > cap:
            evidence.append(span(response, units[cap][0], len(response.rstrip()),
                                 f"{unit}s past the limit: {n} {unit}s, asked {relation} {target}"))
        else:
            evidence.append(span(response, 0, len(response.rstrip()),
                                 f"only {n} {unit}s, asked {relation} {target}"))
    return CheckResult(check_id, item, passed, evidence, instruction_id,
                       {"count": n, "relation": relation, "target": target})


def check_word_count(response: str, relation: str, num_words: int,
                     instruction_id: str | None = "length_constraints:number_words") -> CheckResult:
    return _count_check("length.words", LENGTH, "word", response, words(response), relation, num_words,
                        instruction_id)


def check_sentence_count(response: str, relation: str, num_sentences: int,
                         instruction_id: str | None = "length_constraints:number_sentences") -> CheckResult:
    return _count_check("length.sentences", SENTENCES, "sentence", response, sentences(response), relation,
                        num_sentences, instruction_id)


def check_paragraph_count(response: str, num_paragraphs: int, relation: str = "exactly",
                          separator: str = "***",
                          instruction_id: str | None = "length_constraints:number_paragraphs") -> CheckResult:
    """IFEval separates paragraphs with a ``***`` divider; free-text prompts usually mean blank lines
    (``separator="blank"``)."""
    return _count_check("length.paragraphs", LENGTH, "paragraph", response, paragraphs(response, separator),
                        relation, num_paragraphs, instruction_id)


def check_nth_paragraph_first_word(response: str, num_paragraphs: int, nth_paragraph: int, first_word: str,
                                   instruction_id: str | None = "length_constraints:nth_paragraph_first_word",
                                   ) -> CheckResult:
    """IFEval: exactly ``num_paragraphs`` blank-line separated paragraphs, the ``nth_paragraph``-th
    (1-based) starting with ``first_word``."""
    paras = paragraphs(response)
    res = _count_check("length.paragraphs", LENGTH, "paragraph", response, paras, "exactly", num_paragraphs,
                       instruction_id)
    evidence = list(res.evidence)
    ok_word = False
    if 0 < nth_paragraph <= len(paras):
        p0, p1 = paras[nth_paragraph - 1]
        ws = words(response[p0:p1])
        got = response[p0 + ws[0][0]:p0 + ws[0][1]] if ws else ""
        ok_word = got.lower() == first_word.strip().lower()
        if not ok_word:
            a, b = (p0 + ws[0][0], p0 + ws[0][1]) if ws else (p0, p1)
            evidence.append(span(response, a, b, f"paragraph {nth_paragraph} starts with {got!r}, "
                                                 f"asked {first_word!r}"))
    elif not evidence:
        evidence.append(span(response, 0, len(response.rstrip()), f"no paragraph {nth_paragraph}"))
    return CheckResult(res.check_id, LENGTH, res.passed and ok_word, evidence, instruction_id,
                       {**res.detail, "first_word_ok": ok_word})


# IFEval's bullet lines: "* item" (not "**bold**") and "- item"; also "•". Horizontal rules ("---",
# "***") are not bullets.
_BULLET = re.compile(r"^[ \t]*(?:\*(?!\*)|•|-(?!-{2,}[ \t]*$))[^\n]*$", re.MULTILINE)


def bullet_lines(response: str) -> list[tuple[int, int]]:
    return [m.span() for m in _BULLET.finditer(response) if m.group().strip() not in {"*", "-", "•"}]


def check_bullet_count(response: str, num_bullets: int, relation: str = "exactly",
                       instruction_id: str | None = "detectable_format:number_bullet_lists") -> CheckResult:
    bullets = bullet_lines(response)
    res = _count_check("format.bullets", LENGTH, "bullet", response, bullets, relation, num_bullets,
                       instruction_id)
    if res.passed or len(bullets) > num_bullets:
        return res
    # Too few: point at the bullets there are (or the whole response when there are none).
    ev = [span(response, a, b, f"{len(bullets)} bullets, asked {relation} {num_bullets}") for a, b in bullets]
    return CheckResult(res.check_id, res.item, False, ev or res.evidence, instruction_id, res.detail)


def kwargs_relation(kwargs: dict[str, Any], default: str = "exactly") -> str:
    return str(kwargs.get("relation") or default)
