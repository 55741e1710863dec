"""Constraints a response must meet, from an IFEval-style record or parsed from the prompt text.

The vocabulary is IFEval's instruction ids (``length_constraints:number_words`` ...) and kwargs, so
a constraint parsed from free text and one carried by a record are checked by the same code.
Relations: IFEval's ``"less than"`` and ``"at least"``, plus ``"at most"``, ``"more than"`` and
``"exactly"`` which free-text prompts use.

>>> [c.instruction_id for c in parse_prompt("Answer in at most 50 words, all lowercase.")]
['length_constraints:number_words', 'change_case:english_lowercase']
>>> parse_prompt("Write exactly 3 bullet points.")[0].kwargs
{'num_bullets': 3}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from oma_analysis import OmaError
from oma_analysis.checks.language import language_code

RELATIONS = ("less than", "at most", "at least", "more than", "exactly")


@dataclass(frozen=True)
class Constraint:
    instruction_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    source: Literal["record", "prompt"] = "record"


def relation_holds(value: int, relation: str, target: int) -> bool:
    if relation == "less than":
        return value < target
    if relation == "at most":
        return value <= target
    if relation == "at least":
        return value >= target
    if relation == "more than":
        return value > target
    if relation == "exactly":
        return value == target
    raise ValueError(f"unknown relation {relation!r} (one of {RELATIONS})")


def from_record(instruction_id_list: Sequence[str], kwargs: Sequence[dict[str, Any] | None] | None,
                where: str = "record") -> list[Constraint]:
    """Constraints from IFEval's parallel ``instruction_id_list`` / ``kwargs`` (kwargs may be
    missing or hold None values, as in IFEval's file)."""
    if not isinstance(instruction_id_list, list | tuple) or not all(
            isinstance(i, str) for i in instruction_id_list):
        raise OmaError(f"{where}: field 'instruction_id_list' must be a list of strings")
    if kwargs is None:
        kwargs = [{}] * len(instruction_id_list)
    if not isinstance(kwargs, list | tuple) or len(kwargs) != len(instruction_id_list):
        raise OmaError(f"{where}: field 'kwargs' must be a list as long as 'instruction_id_list'")
    out = []
    for iid, kw in zip(instruction_id_list, kwargs, strict=True):
        if kw is not None and not isinstance(kw, dict):
            raise OmaError(f"{where}: field 'kwargs' must hold objects (got {type(kw).__name__})")
        out.append(Constraint(iid, {k: v for k, v in (kw or {}).items() if v is not None}, "record"))
    return out


# ---- parsing free-text prompts ------------------------------------------------------------------

_NUMS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_NUM = r"(\d+|" + "|".join(_NUMS) + r")"
_REL = (r"(at least|no (?:fewer|less) than|a minimum of|minimum of|more than|over|at most|no more than|"
        r"not more than|a maximum of|maximum of|up to|fewer than|less than|under|exactly|precisely)?")
_REL_MAP = {"at least": "at least", "no fewer than": "at least", "no less than": "at least",
            "a minimum of": "at least", "minimum of": "at least", "more than": "more than",
            "over": "more than", "at most": "at most", "no more than": "at most",
            "not more than": "at most", "a maximum of": "at most", "maximum of": "at most",
            "up to": "at most", "fewer than": "less than", "less than": "less than",
            "under": "less than", "exactly": "exactly", "precisely": "exactly"}


def _num(s: str) -> int:
    return int(s) if s.isdigit() else _NUMS[s.lower()]


def _count_constraint(prompt: str, unit: str) -> tuple[str, int] | None:
    """Find "<relation> N <unit>s" (also "N+ units", "N units or less/more")."""
    pat = re.compile(_REL + r"\s*" + _NUM + r"(\+)?[\s-]*" + unit + r"s?\b(\s+or\s+(?:less|fewer|more))?",
                     re.IGNORECASE)
    for m in pat.finditer(prompt):
        rel_word, n, plus, tail = m.group(1), _num(m.group(2)), m.group(3), m.group(4)
        if rel_word:
            rel = _REL_MAP[rel_word.lower()]
        elif plus or (tail and "more" in tail.lower()):
            rel = "at least"
        elif tail:
            rel = "at most"
        else:
            # "a 3 paragraph essay", "in 5 sentences": the bare number is an exact count.
            rel = "exactly"
        return rel, n
    return None


_LOWER = re.compile(r"\b(all (?:in )?lower[\s-]?case|lower[\s-]?case letters only|only lower[\s-]?case|"
                    r"in lower[\s-]?case|(?:no|without(?: using)?(?: any)?|not (?:contain|use|have) any) capital "
                    r"letters|(?:all )?letters lower[\s-]?cased|not a single letter[^.\n]{0,40}\bcapitali[sz]ed)\b",
                    re.IGNORECASE)
_UPPER = re.compile(r"\b(all (?:in )?(?:capital letters|caps|upper[\s-]?case)|in (?:all )?capital letters|"
                    r"in upper[\s-]?case|upper[\s-]?case letters only|only (?:capital|upper[\s-]?case) letters|"
                    r"in all caps)\b", re.IGNORECASE)
_JSON = re.compile(r"\b(?:(?:wrap|format|output|respond|answer|return|reply|provide|give|put|write)\b"
                   r"[^.\n]{0,50}\bjson\b|\bjson format\b|\bas (?:a )?(?:valid )?json\b)", re.IGNORECASE)
_BULLETS = re.compile(_REL + r"\s*" + _NUM + r"\s+(?:markdown\s+)?bullet(?:\s+points?|s)?\b", re.IGNORECASE)
_END = re.compile(r"\b(?:end|finish|conclude|close)\s+(?:your|the|this)?\s*(?:entire\s+)?"
                  r"(?:response|answer|reply|email|letter|essay|story|message|poem|text)?\s*with\s+"
                  r"(?:the|this)?\s*(?:exact\s+)?(?:phrase|sentence|words?|line)?\s*[:]?\s*"
                  r"(?:of\s+)?[\"“'‘](.+?)[\"”'’](?=[\s.,;:!?)]|$)|"
                  r"\b(?:last sentence|very end|last line|final sentence) of (?:your|the) (?:response|answer|reply)"
                  r"\s+(?:should|must)\s+(?:be|read)\s*:?\s*[\"“](.+?)[\"”](?=[\s.,;:!?)]|$)", re.IGNORECASE)
_LANG = re.compile(r"\b(?:respond|answer|reply|write|response|responses|answers)\b[^.\n]{0,60}?\bin\s+"
                   r"(?:the\s+)?([A-Z][a-z]+)(?:\s+language)?\b|"
                   r"\b(?:in|using|use)\s+(?:only\s+)?(?:the\s+)?([A-Z][a-z]+)\s+language\b|"
                   r"\b(?:(?:entirely|only|use only|using only|in only)\s+(?:in\s+)?|except\s+|outside of\s+)"
                   r"([A-Z][a-z]+)\b", re.IGNORECASE)
_CAPS_WORDS = re.compile(r"\bwords? (?:with|in) all (?:capital|caps|upper)|\ball[- ]caps words|"
                         r"\bcapitali[sz]ed words|\bwords (?:that are )?(?:in )?(?:all )?(?:capital|caps)",
                         re.IGNORECASE)
_REPEAT_REQUEST = re.compile(r"\brepeat\b[^.\n]{0,25}\b(?:request|prompt|question|instruction|sentence)s?\b",
                             re.IGNORECASE)
_PARA_STARS = re.compile(r"\*\*\*|markdown divider", re.IGNORECASE)


# French, Spanish and German counts ("Deux phrases maximum", "en tres frases", "höchstens 50 Wörter").
# A bare digit needs a relation word of that language: "3 phrases" in English means phrases.
_FOREIGN = {
    "fr": ({"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
            "neuf": 9, "dix": 10},
           {"word": r"mots?", "sentence": r"phrases?", "paragraph": r"paragraphes?"},
           {"au plus": "at most", "au maximum": "at most", "pas plus de": "at most", "maximum": "at most",
            "max": "at most", "moins de": "less than", "au moins": "at least", "minimum": "at least",
            "plus de": "more than", "exactement": "exactly"}),
    "es": ({"una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
            "nueve": 9, "diez": 10},
           {"word": r"palabras?", "sentence": r"frases?|oraciones|oración", "paragraph": r"párrafos?"},
           {"como máximo": "at most", "máximo": "at most", "a lo sumo": "at most", "no más de": "at most",
            "menos de": "less than", "al menos": "at least", "como mínimo": "at least", "mínimo": "at least",
            "más de": "more than", "exactamente": "exactly"}),
    "de": ({"ein": 1, "eine": 1, "einem": 1, "einen": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6,
            "sieben": 7, "acht": 8, "neun": 9, "zehn": 10},
           {"word": r"w(?:ö|o)rte(?:rn)?|wort", "sentence": r"sätze(?:n)?|satz", "paragraph": r"absätze(?:n)?|absatz"},
           {"höchstens": "at most", "maximal": "at most", "nicht mehr als": "at most", "weniger als": "less than",
            "mindestens": "at least", "mehr als": "more than", "genau": "exactly"}),
}


def _foreign_count(prompt: str, unit: str) -> tuple[str, int] | None:
    for nums, units, rels in _FOREIGN.values():
        rel_alt = "|".join(sorted(map(re.escape, rels), key=len, reverse=True))
        pat = re.compile(r"(?:\b(" + rel_alt + r")\s+)?\b(\d+|" + "|".join(nums) + r")\s+(?:" + units[unit]
                         + r")\b(?:\s+(?:(" + rel_alt + r")\b))?", re.IGNORECASE)
        for m in pat.finditer(prompt):
            before, num, after = m.group(1), m.group(2).lower(), m.group(3)
            rel_word = (before or after or "").lower()
            if num.isdigit() and not rel_word:
                continue
            return rels.get(rel_word, "exactly"), int(num) if num.isdigit() else nums[num]
    return None


def parse_prompt(prompt: str) -> list[Constraint]:
    """Constraints stated in a free-text prompt (regex-based: only the common phrasings)."""
    out: list[Constraint] = []
    for unit, iid, key in (("word", "length_constraints:number_words", "num_words"),
                           ("sentence", "length_constraints:number_sentences", "num_sentences")):
        if (c := _count_constraint(prompt, unit) or _foreign_count(prompt, unit)) is not None:
            out.append(Constraint(iid, {"relation": c[0], key: c[1]}, "prompt"))
    stars = _PARA_STARS.search(prompt) is not None
    # "exactly 4 sections separated by the markdown divider ***" is IFEval's paragraph count.
    if (c := _count_constraint(prompt, "paragraph") or _foreign_count(prompt, "paragraph") or (
            _count_constraint(prompt, "(?:section|part)") if stars else None)) is not None:
        sep = "***" if stars else "blank"
        out.append(Constraint("length_constraints:number_paragraphs",
                              {"relation": c[0], "num_paragraphs": c[1], "separator": sep}, "prompt"))
    if _LOWER.search(prompt):
        out.append(Constraint("change_case:english_lowercase", {}, "prompt"))
    elif _UPPER.search(prompt) and not _CAPS_WORDS.search(prompt):
        out.append(Constraint("change_case:english_capital", {}, "prompt"))
    if _JSON.search(prompt):
        out.append(Constraint("detectable_format:json_format", {}, "prompt"))
    if (m := _BULLETS.search(prompt)) is not None:
        rel = _REL_MAP[m.group(1).lower()] if m.group(1) else "exactly"
        out.append(Constraint("detectable_format:number_bullet_lists",
                              {"num_bullets": _num(m.group(2)), **({"relation": rel} if rel != "exactly" else {})},
                              "prompt"))
    if (m := _END.search(prompt)) is not None:
        out.append(Constraint("startend:end_checker", {"end_phrase": m.group(1) or m.group(2)}, "prompt"))
    for m in _LANG.finditer(prompt):
        if (code := language_code(next(g for g in m.groups() if g))) is not None:
            out.append(Constraint("language:response_language", {"language": code}, "prompt"))
            break
    if _REPEAT_REQUEST.search(prompt):
        # The text to repeat can't be told apart reliably from free text: only switch off the
        # "don't echo the prompt" check.
        out.append(Constraint("combination:repeat_prompt", {}, "prompt"))
    return out
