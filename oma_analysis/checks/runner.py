"""Run every applicable check on one (prompt, response) and map results to IFEval instructions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from oma_analysis import OmaError
from oma_analysis.checks.base import CheckResult
from oma_analysis.checks.constraints import Constraint, from_record, parse_prompt
from oma_analysis.checks.instructions import (
    INSTRUCTION_CHECKS,
    check_english_capital,
    check_english_lowercase,
    check_instruction,
)
from oma_analysis.checks.language import _NAMES, check_language, detect
from oma_analysis.checks.length import check_paragraph_count, kwargs_relation
from oma_analysis.checks.offensive import check_offensive
from oma_analysis.checks.refusal import check_refusal
from oma_analysis.checks.repetition import REFRAIN_GENRES, check_prompt_echo, check_self_repetition

DEFAULT_LANGUAGE_MIN_PROB = 0.9  # without a stated language, only flag confident mismatches


_CASE = {"change_case:english_capital": check_english_capital,
         "change_case:english_lowercase": check_english_lowercase}


def _decide(prompt: str, response: str, c: Constraint) -> CheckResult | None:
    """The check for one constraint: IFEval's official semantics (``instructions``) for every
    instruction type, except three shapes that only free-text prompts produce: paragraphs separated
    by blank lines (IFEval always uses ``***``), "repeat the request" without the text to repeat,
    and letter case without "in English"."""
    kw = dict(c.kwargs)
    if c.instruction_id == "length_constraints:number_paragraphs" and kw.get("separator", "***") != "***":
        return check_paragraph_count(response, int(kw["num_paragraphs"]), kwargs_relation(kw),
                                     str(kw["separator"]), c.instruction_id)
    if c.instruction_id == "combination:repeat_prompt" and not kw.get("prompt_to_repeat"):
        return None
    if c.source == "prompt" and c.instruction_id in _CASE:
        # IFEval's case instructions also say "in English"; a free-text "all lowercase" does not,
        # so the letter case alone decides (a French answer in lowercase follows it).
        return _CASE[c.instruction_id](response, kw, c.instruction_id, require_english=False)
    return check_instruction(c.instruction_id, response, kw)


#: IFEval instruction types some check decides (others get ``followed: null``).
COVERED_INSTRUCTIONS: frozenset[str] = frozenset(INSTRUCTION_CHECKS)

_TRANSLATE = re.compile(r"\btranslat\w*|\b(?:" + "|".join(_NAMES) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class CheckReport:
    """All checks that ran on one response, and per stated instruction whether it was followed
    (None: no check covers that instruction type, or the response was too short to tell)."""

    checks: list[CheckResult]
    instructions: list[tuple[str, bool | None]] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    #: parallel to ``constraints``: the check that decided each one (None: not covered)
    per_constraint: list[CheckResult | None] = field(default_factory=list)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self, with_instructions: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"checks": [c.to_dict() for c in self.checks]}
        if with_instructions:
            d["instructions"] = [{"instruction_id": i, "followed": f} for i, f in self.instructions]
        return d


def constraints_for(prompt: str, instruction_id_list: Sequence[str] | None = None,
                    kwargs: Sequence[dict[str, Any] | None] | None = None,
                    where: str = "record") -> list[Constraint]:
    """The record's IFEval constraints when it carries them, else those parsed from the prompt."""
    if instruction_id_list is not None:
        return from_record(instruction_id_list, kwargs, where)
    return parse_prompt(prompt)


def run_checks(prompt: str, response: str, constraints: Sequence[Constraint] | None = None,
               where: str = "record") -> CheckReport:
    """Run the checks on one response. ``constraints`` default to those parsed from the prompt.

    Always run (when they can tell): prompt echo (or "repeats the request" when asked to), self
    repetition, response language (the stated one, else the prompt's own language when the
    detector is confident), refusal of a benign request, offensive language. Constraint checks run
    per constraint.
    """
    cons = parse_prompt(prompt) if constraints is None else list(constraints)
    ids = {c.instruction_id for c in cons}
    checks: list[CheckResult] = []
    instructions: list[tuple[str, bool | None]] = []
    per_constraint: list[CheckResult | None] = []
    for c in cons:
        try:
            res = _decide(prompt, response, c)
        except (KeyError, ValueError, TypeError) as exc:
            raise OmaError(f"{where}: field 'kwargs' of {c.instruction_id}: missing or bad {exc}") from exc
        if res is not None:
            checks.append(res)
        per_constraint.append(res)
        instructions.append((c.instruction_id, None if res is None else res.passed))
    if "combination:repeat_prompt" not in ids:
        checks.append(check_prompt_echo(prompt, response))
    checks.append(check_self_repetition(
        response, allow_repeats=bool(ids & {"combination:two_responses", "combination:repeat_prompt"})
        or REFRAIN_GENRES.search(prompt) is not None))
    if "language:response_language" not in ids and not _TRANSLATE.search(prompt):
        # Default expectation: the user's own language (rubric: intent_language).
        found = detect(prompt)
        if found is not None and found[1] >= DEFAULT_LANGUAGE_MIN_PROB:
            res = check_language(response, found[0], None, min_prob=DEFAULT_LANGUAGE_MIN_PROB)
            if res is not None:
                checks.append(res)
    if (ref := check_refusal(prompt, response)) is not None:
        checks.append(ref)
    # Offensive language anywhere: evidence for the hard constraint; whether it was asked for is
    # the labeller's call, so this runs whatever the prompt says.
    checks.append(check_offensive(response))
    return CheckReport(checks, instructions, cons, per_constraint)


def warm_up() -> None:
    """Load what the checks load lazily (NLTK's tokenizers, langdetect's profiles, py3langid's and
    alt-profanity-check's models: ~2-3 s together), so a server's first request doesn't wait."""
    run_checks("Answer in English, all lowercase, in one sentence, with at least 3 words in all capitals.",
               "the sea is the large body of salt water that covers most of the earth.",
               [Constraint("change_case:capital_word_frequency", {"capital_frequency": 3,
                                                                 "capital_relation": "at least"})]
               + parse_prompt("Answer in English, all lowercase, in one sentence."))


def prompt_from_messages(messages: Sequence[dict[str, str]]) -> str:
    """The prompt text of a Label Studio task's ``messages``: the user turns joined by blank lines
    (constraints are stated by the user; system turns are the deployer's, not the user's intent)."""
    return "\n\n".join(m.get("content", "") for m in messages if m.get("role") == "user")


def check_record(record: dict[str, Any], where: str = "record") -> CheckReport:
    """Checks for a record ``{prompt, response}`` with optional ``instruction_id_list`` + ``kwargs``;
    ``where`` (e.g. ``"file.jsonl line 3"``) prefixes error messages."""
    if not isinstance(record, dict):
        raise OmaError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for key in ("prompt", "response"):
        if not isinstance(record.get(key), str):
            raise OmaError(f"{where}: field {key!r} must be a string")
    cons = constraints_for(record["prompt"], record.get("instruction_id_list"), record.get("kwargs"), where)
    return run_checks(record["prompt"], record["response"], cons, where)
