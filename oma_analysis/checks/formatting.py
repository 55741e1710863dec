"""Format checks: letter case, JSON, a required end phrase.

The rubric's capability checklist has no "format" item; following a stated format is writing in
the asked register/genre, so these give evidence for ``register_genre_subject``.
"""

from __future__ import annotations

import json
import re

from oma_analysis.checks.base import CheckResult, Span, checklist_item, span, words
from oma_analysis.checks.constraints import relation_holds
from oma_analysis.rubric import RUBRIC

ITEM = checklist_item(RUBRIC.item_ids.register_genre_subject)
_MAX_SPANS = 20  # enough to show the pattern without flooding the labeller's view


def _word_spans(response: str, pred, note: str) -> list[Span]:  # noqa: ANN001
    return [span(response, a, b, note) for a, b in words(response) if pred(response[a:b])][:_MAX_SPANS]


def check_lowercase(response: str, instruction_id: str | None = "change_case:english_lowercase") -> CheckResult:
    passed = response.islower() or not any(c.isalpha() for c in response)
    ev = [] if passed else _word_spans(response, lambda w: any(c.isupper() for c in w), "capital letter")
    return CheckResult("case.lower", ITEM, passed, ev, instruction_id)


def check_uppercase(response: str, instruction_id: str | None = "change_case:english_capital") -> CheckResult:
    passed = response.isupper() or not any(c.isalpha() for c in response)
    ev = [] if passed else _word_spans(response, lambda w: any(c.islower() for c in w), "lowercase letter")
    return CheckResult("case.upper", ITEM, passed, ev, instruction_id)


def check_capital_word_frequency(response: str, capital_frequency: int, capital_relation: str,
                                 instruction_id: str | None = "change_case:capital_word_frequency",
                                 ) -> CheckResult:
    """Count of words in all capitals (two letters or more: "I" and "A" are ordinary words)."""
    caps = [(a, b) for a, b in words(response) if len(response[a:b]) > 1 and response[a:b].isupper()]
    passed = relation_holds(len(caps), capital_relation, capital_frequency)
    note = f"{len(caps)} all-capital words, asked {capital_relation} {capital_frequency}"
    ev = [] if passed else ([span(response, a, b, note) for a, b in caps[:_MAX_SPANS]]
                            or [span(response, 0, len(response.rstrip()), note)])
    return CheckResult("case.capital_words", ITEM, passed, ev, instruction_id,
                       {"count": len(caps), "relation": capital_relation, "target": capital_frequency})


_FENCE = re.compile(r"^\s*```(?:json|JSON|Json)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def check_json(response: str, instruction_id: str | None = "detectable_format:json_format") -> CheckResult:
    """The whole response (optionally inside one ```json fence) parses as JSON. Evidence: from the
    parse error to the end of that line."""
    m = _FENCE.match(response)
    body, offset = (m.group(1), m.start(1)) if m else (response, 0)
    try:
        json.loads(body)
        return CheckResult("format.json", ITEM, True, [], instruction_id)
    except json.JSONDecodeError as exc:
        pos = offset + exc.pos
        line_end = response.find("\n", pos)
        end = len(response) if line_end < 0 else line_end
        start = min(pos, max(0, end - 1))
        ev = [span(response, start, end, f"not valid JSON: {exc.msg}")] if response.strip() else []
        return CheckResult("format.json", ITEM, False, ev, instruction_id, {"error": exc.msg})


def check_end_phrase(response: str, end_phrase: str,
                     instruction_id: str | None = "startend:end_checker") -> CheckResult:
    """The response ends with ``end_phrase`` (case-insensitive, surrounding whitespace ignored;
    trailing closing quotes/markdown around the phrase are tolerated). Evidence: the actual ending,
    and where the phrase appears if it is not at the end."""
    body = response.rstrip()
    want = end_phrase.strip().lower()
    tail = body.rstrip("*_\"'”’ ").lower()
    passed = body.lower().endswith(want) or tail.endswith(want.rstrip("*_\"'”’ "))
    ev: list[Span] = []
    if not passed:
        idx = response.lower().rfind(want)
        if idx >= 0:
            ev.append(span(response, idx, idx + len(want), "end phrase present but not at the end"))
        last = body.rfind("\n")
        ev.append(span(response, last + 1 if last >= 0 else 0, len(body),
                       f"response ends here, not with {end_phrase!r}"))
    return CheckResult("format.end_phrase", ITEM, passed, ev, instruction_id)
