"""Automatic checks of "capable of" checklist items (pure functions), every IFEval instruction type
with the official checker's semantics, and offensive-language spans for the toxic/NSFW hard
constraint (a small offline model inside the ``alt-profanity-check`` wheel).

Each check returns a ``CheckResult`` with the rubric capable-item id it gives evidence for and
evidence spans on the response. The ML backend and per-model capability evidence call:

>>> from oma_analysis.checks import run_checks
>>> report = run_checks("Answer in all lowercase: what is the capital of France?", "Paris is the capital.")
>>> [(c.check_id, c.passed) for c in report.checks if c.check_id == "case.lower"]
[('case.lower', False)]
>>> report.failed[0].evidence[0].text
'Paris'
"""

from oma_analysis.checks.base import CheckResult, Span, checklist_item, paragraphs, sentences, words
from oma_analysis.checks.constraints import Constraint, from_record, parse_prompt, relation_holds
from oma_analysis.checks.formatting import (
    check_capital_word_frequency,
    check_end_phrase,
    check_json,
    check_lowercase,
    check_uppercase,
)
from oma_analysis.checks.instructions import INSTRUCTION_CHECKS, check_instruction, langdetect_code
from oma_analysis.checks.language import check_language, detect, language_code
from oma_analysis.checks.length import (
    check_bullet_count,
    check_nth_paragraph_first_word,
    check_paragraph_count,
    check_sentence_count,
    check_word_count,
)
from oma_analysis.checks.offensive import check_offensive, offensive_spans
from oma_analysis.checks.refusal import check_refusal, is_benign
from oma_analysis.checks.repetition import check_prompt_echo, check_repeat_prompt, check_self_repetition
from oma_analysis.checks.runner import (
    COVERED_INSTRUCTIONS,
    CheckReport,
    check_record,
    constraints_for,
    prompt_from_messages,
    run_checks,
    warm_up,
)

__all__ = [
    "COVERED_INSTRUCTIONS", "INSTRUCTION_CHECKS", "check_instruction", "check_offensive", "langdetect_code",
    "offensive_spans", "warm_up", "CheckReport", "CheckResult", "Constraint", "Span", "check_bullet_count",
    "check_capital_word_frequency", "check_end_phrase", "check_json", "check_language", "check_lowercase",
    "check_nth_paragraph_first_word", "check_paragraph_count", "check_prompt_echo", "check_record",
    "check_refusal", "check_repeat_prompt", "check_self_repetition", "check_sentence_count",
    "check_uppercase", "check_word_count", "checklist_item", "constraints_for", "detect", "from_record",
    "is_benign", "language_code", "paragraphs", "parse_prompt", "prompt_from_messages", "relation_holds", "run_checks",
    "sentences", "words",
]
