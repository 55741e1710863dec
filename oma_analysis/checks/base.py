"""Shared types and text segmentation for the automatic capability checks.

Every check is a pure function ``(response, ...) -> CheckResult``. Evidence spans are character
offsets into the *response* (``response[start:end] == text``), so the ML backend can turn them into
Label Studio span pre-annotations on the completion without re-searching the text.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from oma_analysis.rubric import RUBRIC


def checklist_item(item_id: str) -> str:
    """Return ``item_id`` after checking it is a *capable* checklist id of the rubric.

    Called at import time by each check module, so a renamed rubric item fails loudly instead of
    producing pre-annotations Label Studio would reject.
    """
    ids = {i.id for i in RUBRIC.capable_items}
    if item_id not in ids:
        raise KeyError(f"{item_id!r} is not a capable checklist item of the rubric ({sorted(ids)})")
    return item_id


def hard_constraint_item(item_id: str) -> str:
    """Return ``item_id`` after checking it is a hard constraint of the rubric (the offensive-language
    check gives evidence for one), failing loudly at import time if the rubric renames it."""
    ids = {i.id for i in RUBRIC.hard_constraints.choices}
    if item_id not in ids:
        raise KeyError(f"{item_id!r} is not a hard constraint of the rubric ({sorted(ids)})")
    return item_id


@dataclass(frozen=True)
class Span:
    """A character span of the response: ``response[start:end] == text``."""

    start: int
    end: int
    text: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def span(response: str, start: int, end: int, note: str = "") -> Span:
    return Span(start, end, response[start:end], note)


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check on one response.

    ``check_id`` names the check (stable, e.g. ``"length.words"``); ``item`` is the rubric capable
    checklist id it gives evidence for (for the offensive-language check: the rubric's hard
    constraint on unrequested toxic/NSFW content); ``instruction_id`` is the IFEval instruction type it decides
    (None for checks that run without a stated constraint, e.g. loop detection).
    """

    check_id: str
    item: str
    passed: bool
    evidence: list[Span] = field(default_factory=list)
    instruction_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def hard_constraint(self) -> bool:
        """Evidence for a hard constraint of the rubric (offensive language), not a capable item."""
        return self.item in {c.id for c in RUBRIC.hard_constraints.choices}

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "check_id": self.check_id, "item": self.item, "passed": self.passed,
            "evidence": [s.to_dict() for s in self.evidence],
        }
        if self.instruction_id is not None:
            d["instruction_id"] = self.instruction_id
        if self.detail:
            d["detail"] = self.detail
        return d


# ---- segmentation (all return spans so evidence can point at the text) --------------------------

# A word: letters/digits, with inner apostrophes or hyphens ("don't", "well-known" count once).
_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_ABBREV = {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no", "fig",
           "inc", "ltd", "co", "approx", "u.s", "a.m", "p.m", "jan", "feb", "mar", "apr", "jun", "jul",
           "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ft", "vol", "cf", "al"}
# Sentence end: . ! ? (and CJK/Devanagari/Arabic stops) followed by closing quotes/brackets.
_SENT_END = re.compile(r"[.!?。！？।؟]+[\"'”’)\]]*(?=\s|$|<)")
_PARA_BREAK = re.compile(r"\n[ \t]*\n\s*")


def words(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text)]


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def paragraphs(text: str, separator: str = "blank") -> list[tuple[int, int]]:
    """Paragraph spans: split on blank lines, or on a markdown divider line (``separator="***"``)."""
    pattern = _PARA_BREAK if separator == "blank" else re.compile(r"\s?" + re.escape(separator) + r"\s?")
    out, pos = [], 0
    for m in pattern.finditer(text):
        if (t := _trim(text, pos, m.start())) is not None:
            out.append(t)
        pos = m.end()
    if (t := _trim(text, pos, len(text))) is not None:
        out.append(t)
    return out


# Lines that label rather than say something: headings, "(Verse 1)", "[Section 2]", "**Intro**",
# "<<Title>>", "<summary>", short "Label:" lines, rules. They are not sentences.
_LABEL = re.compile(r"^(?:#{1,6}\s.*|\(.*\)|\[.*\]|\*\*[^*]+\*\*:?|\*[^*]+\*:?|<<.*>>|</?[\w:-]+>|"
                    r"[-*_=]{3,}|[^.!?]{1,40}:)$")
_ITEM = re.compile(r"^(?:[-*•+]|\d{1,3}[.)]|[a-zA-Z][.)])\s+")
_TERMINAL = re.compile(r"[.!?。！？।؟][\"'”’)\]*_]*(?:</?[\w:-]+>)*$")


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans. Paragraph breaks, list items and label lines also end a sentence; a line
    without terminal punctuation (verse, hard-wrapped prose) continues into the next one; label
    lines ("(Chorus)", "## Intro", "<point>") are not counted; abbreviations, decimals and list
    markers ("1.") do not end a sentence."""
    out: list[tuple[int, int]] = []
    for p0, p1 in paragraphs(text):
        seg: tuple[int, int] | None = None  # the logical line being built
        for m in re.finditer(r"[^\n]+", text[p0:p1]):
            t = _trim(text, p0 + m.start(), p0 + m.end())
            if t is None:
                continue
            line = text[t[0]:t[1]]
            if _LABEL.match(line):
                if seg is not None:
                    out.extend(_split_line(text, *seg))
                seg = None
                continue
            item = _ITEM.match(line)
            if seg is not None and (item or _TERMINAL.search(text[seg[0]:seg[1]])):
                out.extend(_split_line(text, *seg))
                seg = None
            if item:
                t = (t[0] + item.end(), t[1])  # the marker "1." is not a sentence
            seg = t if seg is None else (seg[0], t[1])
        if seg is not None:
            out.extend(_split_line(text, *seg))
    return out


def _split_line(text: str, start: int, end: int) -> list[tuple[int, int]]:
    res, pos = [], start
    for m in _SENT_END.finditer(text, start, end):
        before = text[pos:m.start()].split()
        last = before[-1].lower().rstrip(".") if before else ""
        # "Dr." / "e.g." / single initials ("J.") are not sentence ends.
        if m.group().startswith(".") and (last in _ABBREV or (len(last) == 1 and last.isalpha())):
            continue
        if (t := _trim(text, pos, m.end())) is not None and _has_words(text[t[0]:t[1]]):
            res.append(t)
        pos = m.end()
    if (t := _trim(text, pos, end)) is not None and _has_words(text[t[0]:t[1]]):
        res.append(t)
    return res


def _has_words(s: str) -> bool:
    """Words outside markup tags ("</point>" alone is not a sentence)."""
    return _WORD.search(re.sub(r"</?[\w:-]+>", " ", s)) is not None
