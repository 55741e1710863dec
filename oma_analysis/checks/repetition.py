"""Repetition checks: the response echoing the prompt, repeating its own sentences, n-gram loops.

All three give evidence for ``prompt_repetition_control`` (the rubric's only repetition item; the
rubric has no separate "doesn't loop" capability, see the intent question ``intent_no_repetition``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from difflib import SequenceMatcher

from oma_analysis.checks.base import CheckResult, Span, checklist_item, sentences, span, words
from oma_analysis.rubric import RUBRIC

ITEM = checklist_item(RUBRIC.item_ids.prompt_repetition_control)

# An echo is a long copied run (>= ECHO_MIN_WORDS words covering >= ECHO_MIN_FRACTION of the prompt)
# or nearly the whole of a short prompt. Restating the topic ("To calculate the offset of an
# element in an array, ...") copies ~half of a short prompt and is not an echo.
ECHO_MIN_WORDS = 20
ECHO_MIN_FRACTION = 0.5
ECHO_SHORT_FRACTION = 0.8
ECHO_SHORT_MIN_WORDS = 6
LOOP_MIN_COPIES = 3       # a unit repeated back to back this often is a loop ...
LOOP_MIN_TOKENS = 12      # ... when the looped stretch has at least this many words
SENT_MIN_WORDS = 5        # repeated sentences shorter than this ("Yes.", "Step 1:") don't count
SENT_MAX_COPIES = 3       # more copies than this of one sentence is a repetition failure ...
DUP_MAX_FRACTION = 0.3    # ... as is when repeated sentences make up this much of the response
# Genres where a refrain is the form, not a failure: only the loop test applies.
REFRAIN_GENRES = re.compile(r"\b(?:songs?|lyrics|raps?|poems?|poetry|chants?|anthems?|jingles?|hymns?|ballads?|"
                            r"limericks?|verses?|chorus|refrains?|sonnets?|haikus?|ditty|lullaby|cheer)\b",
                            re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\[[^\]]*\]|\{[^}]*\}")


def _tokens(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    spans = words(text)
    return [text[a:b].lower() for a, b in spans], spans


def check_prompt_echo(prompt: str, response: str) -> CheckResult:
    """Fails when the response copies a long run of the prompt verbatim (case-insensitive, by words)
    although it was not asked to. Evidence: the copied run."""
    p_tok, _ = _tokens(prompt)
    r_tok, r_spans = _tokens(response)
    if not p_tok or not r_tok:
        return CheckResult("repetition.prompt_echo", ITEM, True)
    m = SequenceMatcher(None, p_tok, r_tok, autojunk=False).find_longest_match(0, len(p_tok), 0, len(r_tok))
    size = m.size
    frac = size / len(p_tok)
    failed = (size >= ECHO_MIN_WORDS and frac >= ECHO_MIN_FRACTION) or (
        size >= ECHO_SHORT_MIN_WORDS and frac >= ECHO_SHORT_FRACTION)
    evidence = []
    if failed:
        start, end = r_spans[m.b][0], r_spans[m.b + size - 1][1]
        evidence.append(span(response, start, end, f"copies {size} words ({frac:.0%}) of the prompt"))
    return CheckResult("repetition.prompt_echo", ITEM, not failed, evidence,
                       detail={"copied_words": size, "prompt_fraction": round(frac, 3)})


def check_repeat_prompt(prompt_to_repeat: str, response: str,
                        instruction_id: str = "combination:repeat_prompt") -> CheckResult:
    """The user asked for the request to be repeated first: the response must start with it
    (case-insensitive, whitespace-normalised). Evidence: the response's opening."""
    norm = lambda s: " ".join(s.split()).lower()  # noqa: E731
    want, have = norm(prompt_to_repeat), norm(response)
    # Quoting the request ("...") or setting it in bold still repeats it word for word.
    passed = have.startswith(want) or have.lstrip("\"“'*_> ").startswith(want)
    # Map the normalised prefix length back to the response: take as many words as the request has.
    n = len(prompt_to_repeat.split())
    ws = list(re.finditer(r"\S+", response))
    end = ws[min(n, len(ws)) - 1].end() if ws else 0
    note = "starts with the request as asked" if passed else "does not start with the request word for word"
    return CheckResult("repetition.repeat_prompt", ITEM, passed, [span(response, 0, end, note)] if end else [],
                       instruction_id)


def _loops(tokens: list[str], spans: list[tuple[int, int]], max_period: int = 40) -> list[tuple[int, int, int]]:
    """Back-to-back repeats: (first token, end token exclusive, period) of stretches where a unit of
    ``period`` tokens repeats at least LOOP_MIN_COPIES times."""
    n, found = len(tokens), []
    for p in range(1, min(max_period, n // LOOP_MIN_COPIES) + 1):
        run = 0
        for i in range(n - p):
            if tokens[i] == tokens[i + p]:
                run += 1
                continue
            if run >= (LOOP_MIN_COPIES - 1) * p and run + p >= LOOP_MIN_TOKENS:
                found.append((i - run, i + p, p))
            run = 0
        if run >= (LOOP_MIN_COPIES - 1) * p and run + p >= LOOP_MIN_TOKENS:
            found.append((n - p - run, n, p))
    # Keep the longest of overlapping stretches (a period-2 loop is also a period-4 loop).
    found.sort(key=lambda f: f[1] - f[0], reverse=True)
    kept: list[tuple[int, int, int]] = []
    for f in found:
        if all(f[1] <= k[0] or f[0] >= k[1] for k in kept):
            kept.append(f)
    return sorted(kept)


def check_self_repetition(response: str, allow_repeats: bool = False) -> CheckResult:
    """Fails on n-gram loops (a word sequence repeated back to back), on one sentence repeated
    more than three times, or when repeated sentences make up a large part of the response; a
    speech's refrain said three times passes. ``allow_repeats`` (the prompt asked for a song or
    poem, two responses or a repetition) keeps only the loop test. Evidence: each loop and each
    repeated copy."""
    tokens, t_spans = _tokens(response)
    evidence: list[Span] = []
    for a, b, p in _loops(tokens, t_spans):
        evidence.append(span(response, t_spans[a][0], t_spans[b - 1][1],
                             f"{(b - a) / p:.0f} copies of a {p}-word sequence"))
    n_loops = len(evidence)
    groups: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for s0, s1 in sentences(response):
        # Placeholders ("[Author's name]") and numbering don't make template lines distinct
        # sentences, and aren't content either: compare the words around them.
        body = _PLACEHOLDER.sub(" ", response[s0:s1])
        toks = [body[a:b].lower() for a, b in words(body) if not body[a:b].isdigit()]
        if len(toks) >= SENT_MIN_WORDS:
            groups[" ".join(toks)].append((s0, s1))
    dup_chars, worst = 0, 0
    for occ in groups.values():
        worst = max(worst, len(occ))
        dup_chars += sum(b - a for a, b in occ[1:])
    frac = dup_chars / max(1, len(response.strip()))
    sent_fail = not allow_repeats and (worst > SENT_MAX_COPIES or (worst > 1 and frac >= DUP_MAX_FRACTION))
    if sent_fail:
        for occ in groups.values():
            for a, b in occ[1:] if len(occ) > 1 else []:
                evidence.append(span(response, a, b, f"sentence repeated ({len(occ)} copies)"))
    evidence.sort(key=lambda s: s.start)
    return CheckResult("repetition.self", ITEM, not (n_loops or sent_fail), evidence,
                       detail={"loops": n_loops, "max_sentence_copies": worst,
                               "repeated_fraction": round(frac, 3)})
