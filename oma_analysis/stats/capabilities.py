"""Capability evidence per model: targeted probes for each "capable of" checklist item, run through
the generator under several elicitation variants and judged by the automatic checks
(:mod:`oma_analysis.checks`). An item counts as demonstrated when, under the best variant, the
lower end of the Wilson interval of the pass rate clears a threshold.

Items without an automatic judge (misconceptions, spelling, clarify/I-don't-know) are not probed
here: labellers' "capable?" answers and the probe task cover them.

>>> lo, hi = wilson(8, 10); round(lo, 3), round(hi, 3)
(0.49, 0.943)
>>> sorted({p.meta["probe_item"] for p in probe_prompts()})[:3]
['correct_language', 'correct_length', 'prompt_repetition_control']
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from oma_analysis.generate.records import Completion
from oma_analysis.prompts.records import Constraints, PromptRecord
from oma_analysis.rubric import RUBRIC

_IT = RUBRIC.item_ids  # checklist ids as attributes: a renamed id fails at import


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (0, 1 when n == 0).

    >>> wilson(0, 0)
    (0.0, 1.0)
    """
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def _p(pid: str, item: str, text: str, cons: list[tuple[str, dict]] = (), reference: str | None = None
       ) -> PromptRecord:
    meta: dict[str, Any] = {"probe_item": item}
    if reference:
        meta["reference"] = reference
    return PromptRecord(id=f"cap:{item}:{pid}", messages=[{"role": "user", "content": text}],
                        task_type="capability_probe",
                        constraints=Constraints([c[0] for c in cons], [c[1] for c in cons]),
                        capability_items=[item], source="oma-capabilities", meta=meta)


def _exactly(n: int) -> list[tuple[str, dict]]:
    return [("length_constraints:number_sentences", {"relation": "at least", "num_sentences": n}),
            ("length_constraints:number_sentences", {"relation": "less than", "num_sentences": n + 1})]


def probe_prompts() -> list[PromptRecord]:
    """Several phrasings per probed item, each with machine-checkable constraints or a reference."""
    w = "length_constraints:number_words"
    lang = "language:response_language"
    return [
        _p("w1", _IT.correct_length, "Describe a rainy day in fewer than 40 words.",
           [(w, {"relation": "less than", "num_words": 40})]),
        _p("w2", _IT.correct_length, "Write at least 120 words about why people keep pets.",
           [(w, {"relation": "at least", "num_words": 120})]),
        _p("w3", _IT.correct_length, "In under 25 words, what is a library?",
           [(w, {"relation": "less than", "num_words": 25})]),
        _p("w4", _IT.correct_length, "List exactly four fruits as markdown bullet points.",
           [("detectable_format:number_bullet_lists", {"num_bullets": 4})]),
        _p("s1", _IT.sentence_count, "Describe the Moon in exactly two sentences.", _exactly(2)),
        _p("s2", _IT.sentence_count, "Write exactly three sentences about trains.", _exactly(3)),
        _p("s3", _IT.sentence_count, "In one sentence, say what a bicycle is.", _exactly(1)),
        _p("l1", _IT.correct_language, "Answer in French: what colour is the sky on a clear day?",
           [(lang, {"language": "fr"})]),
        _p("l2", _IT.correct_language, "Réponds en français : quel est ton plat préféré et pourquoi ?",
           [(lang, {"language": "fr"})]),
        _p("l3", _IT.correct_language, "Write two sentences in Spanish about the sea.", [(lang, {"language": "es"})]),
        _p("l4", _IT.correct_language, "Antworte auf Deutsch: Was macht man im Winter gern?",
           [(lang, {"language": "de"})]),
        _p("r1", _IT.register_genre_subject, "Write a sentence about dogs, all in lowercase letters.",
           [("change_case:english_lowercase", {})]),
        _p("r2", _IT.register_genre_subject, "WRITE A SHORT WARNING ABOUT ICE ON ROADS IN CAPITAL LETTERS ONLY.",
           [("change_case:english_capital", {})]),
        _p("r3", _IT.register_genre_subject, "Give a two-line greeting for a birthday card, entirely in lowercase.",
           [("change_case:english_lowercase", {})]),
        _p("e1", _IT.prompt_repetition_control,
           "First repeat this request word for word, then answer it: What is the capital of Italy?",
           [("combination:repeat_prompt", {"prompt_to_repeat": "What is the capital of Italy?"})]),
        _p("e2", _IT.prompt_repetition_control,
           "Repeat the question exactly before answering: Why do birds migrate?",
           [("combination:repeat_prompt", {"prompt_to_repeat": "Why do birds migrate?"})]),
        _p("t1", _IT.sentiment, "Is this review positive or negative? Answer with one word.\n\n"
           "\"Terrible service and cold food.\"", reference="negative"),
        _p("t2", _IT.sentiment, "Is this review positive or negative? Answer with one word.\n\n"
           "\"A wonderful stay, the staff were so kind.\"", reference="positive"),
        _p("t3", _IT.sentiment, "Sentiment (positive or negative) of: \"I want my money back, it broke in a day.\"",
           reference="negative"),
    ]


_LABELS = ("positive", "negative", "neutral", "mixed")


def judge(probe: PromptRecord, response: str) -> bool | None:
    """Did the response show the probed capability? None when no check could tell.

    >>> p = next(x for x in probe_prompts() if x.id == "cap:sentiment:t1")
    >>> judge(p, "Negative."), judge(p, "Positive"), judge(p, "")
    (True, False, False)
    """
    ref = probe.meta.get("reference")
    if ref is not None:  # label tasks: the reference label and no other
        said = {lab for lab in _LABELS if re.search(rf"\b{lab}\b", response, re.IGNORECASE)}
        return said == {ref}
    from oma_analysis.checks import from_record, run_checks

    cons = from_record(list(probe.constraints.instruction_id_list), list(probe.constraints.kwargs))
    rep = run_checks(probe.user_text, response, cons)
    decided = [r for r, c in zip(rep.per_constraint, cons, strict=True) if r is not None]
    if not decided:
        return None
    return all(r.passed for r in decided)  # every stated constraint is part of the probe


@dataclass
class Row:
    model: str
    item: str
    best_variant: str
    n: int
    passes: int
    pass_rate: float
    ci_low: float
    ci_high: float
    demonstrated: bool
    undetermined: int
    per_variant: str  # JSON {variant: [passes, n]}


def evaluate(completions: Iterable[Completion], probes: list[PromptRecord], threshold: float = 0.5) -> list[Row]:
    """Per model and item: pass rate under the best variant, its Wilson interval, demonstrated."""
    by_id = {p.id: p for p in probes}
    tally: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for c in completions:
        p = by_id.get(c.prompt_id)
        if p is None:
            continue
        v = judge(p, c.text)
        t = tally[(c.model, p.meta["probe_item"])][c.variant]
        if v is None:
            t[2] += 1
        else:
            t[0] += int(v)
            t[1] += 1
    rows = []
    for (model, item), per in sorted(tally.items()):
        # best elicitation: the highest lower bound, so one lucky sample does not win
        best = max(per, key=lambda v: (wilson(per[v][0], per[v][1])[0], per[v][1], v))
        k, n, _ = per[best]
        lo, hi = wilson(k, n)
        rows.append(Row(model, item, best, n, k, round(k / n, 4) if n else 0.0, round(lo, 4), round(hi, 4),
                        n > 0 and lo >= threshold, sum(x[2] for x in per.values()),
                        json.dumps({v: per[v][:2] for v in sorted(per)})))
    return rows


def write_table(rows: list[Row], path: str | Path) -> None:
    """CSV, one row per model × item."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(Row.__dataclass_fields__))
        w.writeheader()
        for r in rows:
            w.writerow(asdict(r))
