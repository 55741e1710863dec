"""A large templated prompt space and a seeded sampler over it.

Space = templates × slot fillers × constraint combinations. Each template lists the constraint
groups that make sense for it; a combination takes at most one constraint kind per group, at most
``MAX_CONSTRAINTS`` groups, and never two conflicting groups. Every point of the space has an
integer index, so the size is exact and a prompt's id (``tpl:<template>:<index>``) names it
uniquely: the same prompt drawn by two runs has the same id.

>>> space_size() > 10**7
True
>>> [r.id for r in sample(3, seed=1)] == [r.id for r in sample(3, seed=1)]
True
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from oma_analysis.prompts.records import Constraints, PromptRecord
from oma_analysis.rubric import RUBRIC

_IT = RUBRIC.item_ids  # checklist ids as attributes: a renamed id fails at import

MAX_CONSTRAINTS = 3


# ---- constraints ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConstraintKind:
    """One IFEval instruction id with its possible kwargs and how it reads in English."""

    instruction_id: str
    options: tuple[dict[str, Any], ...]
    render: Callable[[dict[str, Any]], str]
    items: tuple[str, ...] = ()  # checklist items it exercises


def _rel(r: str) -> str:
    return "at least" if r == "at least" else "fewer than"


LANGS = {"fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
         "nl": "Dutch", "sv": "Swedish", "pl": "Polish", "tr": "Turkish", "id": "Indonesian"}
_GENERIC_WORDS = ("example", "important", "because", "simple", "future", "careful", "together", "history")
_END_PHRASES = ("Is there anything else I can help with?", "Hope this helps.", "That is all.",
                "Thanks for reading.", "Let me know what you think.")

GROUPS: dict[str, tuple[ConstraintKind, ...]] = {
    "case": (
        ConstraintKind("change_case:english_lowercase", ({},),
                       lambda k: "Write your whole answer in lowercase letters; no capital letters at all."),
        ConstraintKind("change_case:english_capital", ({},),
                       lambda k: "Write your whole answer in English capital letters."),
    ),
    "length": (
        ConstraintKind("length_constraints:number_words",
                       tuple({"relation": r, "num_words": n} for r in ("less than", "at least")
                             for n in (30, 50, 100, 150, 200, 300)),
                       lambda k: f"Use {_rel(k['relation'])} {k['num_words']} words.", (_IT.correct_length,)),
        ConstraintKind("length_constraints:number_sentences",
                       tuple({"relation": r, "num_sentences": n} for r in ("less than", "at least")
                             for n in (2, 3, 4, 5, 6, 8)),
                       lambda k: f"Answer in {_rel(k['relation'])} {k['num_sentences']} sentences.",
                       (_IT.sentence_count,)),
    ),
    "structure": (
        ConstraintKind("length_constraints:number_paragraphs",
                       tuple({"num_paragraphs": n} for n in (2, 3, 4, 5)),
                       lambda k: f"Write exactly {k['num_paragraphs']} paragraphs, separated by the markdown "
                                 "divider ***.", (_IT.correct_length,)),
        ConstraintKind("detectable_format:number_bullet_lists",
                       tuple({"num_bullets": n} for n in (2, 3, 4, 5, 6, 7)),
                       lambda k: f"Format the answer as exactly {k['num_bullets']} markdown bullet points.",
                       (_IT.correct_length,)),
        ConstraintKind("detectable_format:number_highlighted_sections",
                       tuple({"num_highlights": n} for n in (1, 2, 3)),
                       lambda k: f"Highlight at least {k['num_highlights']} section(s) with markdown, "
                                 "like *highlighted section*."),
    ),
    "title": (ConstraintKind("detectable_format:title", ({},),
                             lambda k: "Give the answer a title wrapped in double angular brackets, "
                                       "like <<title>>."),),
    "ending": (
        ConstraintKind("startend:end_checker", tuple({"end_phrase": p} for p in _END_PHRASES),
                       lambda k: f"Finish your answer with the exact phrase \"{k['end_phrase']}\"; "
                                 "nothing may follow it."),
        ConstraintKind("detectable_content:postscript",
                       ({"postscript_marker": "P.S."}, {"postscript_marker": "P.P.S"}),
                       lambda k: f"At the end, add a postscript starting with {k['postscript_marker']}"),
        ConstraintKind("startend:quotation", ({},),
                       lambda k: "Wrap your entire answer in double quotation marks."),
    ),
    "punctuation": (ConstraintKind("punctuation:no_comma", ({},),
                                   lambda k: "Do not use any commas anywhere in your answer."),),
    "keywords": (
        ConstraintKind("keywords:existence",
                       tuple({"keywords": list(p)} for p in itertools.combinations(_GENERIC_WORDS, 2)),
                       lambda k: "Include the words " + " and ".join(f'"{w}"' for w in k["keywords"]) + "."),
        ConstraintKind("keywords:forbidden_words",
                       tuple({"forbidden_words": list(p)} for p in itertools.combinations(_GENERIC_WORDS, 2)),
                       lambda k: "Do not use the words " + " or ".join(f'"{w}"' for w in k["forbidden_words"])
                                 + "."),
    ),
    "language": (ConstraintKind("language:response_language", tuple({"language": c} for c in LANGS),
                                lambda k: f"Your entire answer must be in {LANGS[k['language']]}, "
                                          "and no other language.", (_IT.correct_language,)),),
}
# Pairs of groups that would contradict each other or make the checks meaningless.
CONFLICTS = frozenset({frozenset(p) for p in [
    ("language", "case"), ("language", "keywords"), ("length", "structure"), ("ending", "title"),
]})


# ---- templates -----------------------------------------------------------------------------------
TOPICS = ("how vaccines work", "why the seasons change", "how a bill becomes law", "what inflation is",
          "how compound interest works", "why leaves change colour", "how the internet routes data",
          "what a black hole is", "how bread rises", "why we dream", "how plate tectonics works",
          "what machine learning is", "how a refrigerator keeps food cold", "why the ocean is salty",
          "how noise-cancelling headphones work", "what a credit score is", "how bees make honey",
          "why the Moon has phases", "how recycling plastic works", "what causes earthquakes",
          "how a vaccine trial is run", "what a stock market index is", "how solar panels make electricity",
          "why cats purr", "how GPS finds your position", "what photosynthesis is", "how a bicycle stays upright",
          "what DNA does", "how tides work", "why the sky is blue")
AUDIENCES = ("a ten-year-old", "a busy manager", "a first-year university student", "my grandmother",
             "a software engineer", "a complete beginner", "a curious teenager", "a non-native English speaker")
GENRES = ("short story", "poem", "limerick", "fable", "diary entry", "news report", "product review",
          "motivational speech", "haiku sequence", "bedtime story", "letter to the editor", "song verse")
SUBJECTS = ("a lighthouse keeper who finds a message in a bottle", "the first day of spring",
            "a robot learning to cook", "a lost umbrella", "moving to a new city", "a cat who runs a bakery",
            "the last train of the night", "a garden on a rooftop", "a friendship between a fox and a crow",
            "a power cut during a storm", "an old map found in the attic", "learning to ride a bicycle",
            "a library that never closes", "the smell of rain", "a marathon runner's final mile",
            "a village that forgot how to sing", "a snowman that wants to see summer", "a chess game in a park",
            "a shy dragon", "a time traveller stuck on a Tuesday")
RECIPIENTS = ("my landlord", "a new colleague", "my child's teacher", "a hotel manager", "my neighbours",
              "a customer whose order was late", "a job applicant", "the local council")
OCCASIONS = ("a noisy party planned for Saturday", "a change to the meeting schedule", "a refund request",
             "a thank-you for their help last week", "a leaking pipe in the kitchen", "a request for a day off",
             "an invitation to a farewell lunch", "a complaint about parking")
REGISTERS = ("formal", "friendly", "apologetic", "concise and professional", "warm but firm", "cheerful")
PASSAGES = (
    "The library will close for renovation from 1 March to 30 April. During this time, books can be returned "
    "at the community centre on Park Road. Online borrowing of e-books will continue as normal, and the "
    "children's reading club will meet in the school hall.",
    "A study of 2,000 adults found that people who walked at least 7,000 steps a day had a lower risk of heart "
    "disease than those who walked fewer than 4,000. The researchers note that the study shows an association, "
    "not a cause, and that other habits may explain part of the difference.",
    "The company reported revenue of 4.2 million euros for the quarter, up 12 percent on last year, mostly "
    "from its new subscription service. Costs also rose because of hiring, so profit stayed flat. The board "
    "expects growth to slow next quarter.",
    "Volunteers planted 3,000 trees along the river last weekend. The project aims to reduce flooding by "
    "slowing the run-off of rainwater and to give birds new places to nest. More planting days are planned "
    "for the autumn.",
    "The new timetable adds two early buses on weekdays and removes the last service on Sundays. The change "
    "follows a survey in which most passengers asked for earlier morning buses. Night workers have complained "
    "about the Sunday cut.",
    "Octopuses have three hearts and blue blood. Two hearts pump blood through the gills, while the third "
    "pumps it to the rest of the body. When an octopus swims, the third heart stops beating, which may be why "
    "they prefer crawling.",
    "The museum's new exhibition shows tools used by farmers over five centuries, from wooden ploughs to early "
    "tractors. Visitors can try grinding flour by hand. Entry is free for children under twelve.",
    "After three years of drought, the reservoir is at 20 percent of capacity. The water company has banned "
    "garden hoses and asks households to take shorter showers. Engineers are repairing leaks that waste about "
    "a fifth of the supply.",
)
SENTENCES = ("me and him was going to the shops yesterday but it were closed",
             "The meeting that was scheduled to take place has been postponed to a later date to be determined.",
             "u need to send the form by friday or u wont get paid",
             "Our product is the best product and everyone should buy our product.",
             "It is with great regret that we must inform you that your application was not successful.",
             "the results of the experiment was not what we expect and we dont know why",
             "Please be advised that the kitchen will be closed for cleaning.",
             "I think maybe we could possibly consider perhaps moving the deadline a bit.",
             "Due to the fact that it was raining, the game was cancelled.",
             "the cat sat on the mat and it was happy and it purred and it slept")
STYLES = ("more formal", "more casual", "shorter", "clearer", "more polite", "suitable for a press release",
          "suitable for a text message to a friend", "grammatically correct")
REVIEWS = ("The hotel room was spotless and the staff were lovely. Would stay again.",
           "Delivery took three weeks and the box arrived crushed.",
           "It's fine. Does what it says, nothing special.",
           "Absolutely loved this book, I finished it in one night!",
           "The app crashes every time I try to upload a photo. Useless.",
           "Good coffee, but the music was far too loud to talk.",
           "Customer service sorted my problem in five minutes. Impressed.",
           "Not worth the money. The sound quality is poor and it broke in a week.",
           "The film was long, but the ending made it worth it.",
           "Arrived on time. Haven't tried it yet.",
           "Worst haircut of my life. I had to wear a hat for a month.",
           "The tour guide was funny and knew everything about the castle.")
TRANSLATE = ("The museum is closed on Mondays.", "Could you please speak more slowly?",
             "My train was delayed by forty minutes.", "We are looking for a flat with two bedrooms.",
             "Thank you for the wonderful dinner.", "Where can I buy a ticket for the bus?",
             "The doctor will see you in ten minutes.", "I have been learning to play the piano for a year.",
             "Please turn off your phone during the performance.", "It is going to rain all weekend.")
PROG_LANGS = ("Python", "JavaScript", "Java", "Go", "Rust", "C#")
CODE_TASKS = ("checks whether a string is a palindrome", "returns the n-th Fibonacci number",
              "counts the words in a text", "removes duplicates from a list while keeping order",
              "merges two sorted lists", "converts Celsius to Fahrenheit", "finds the largest number in a list",
              "checks whether a year is a leap year", "reverses the words in a sentence",
              "returns the factorial of n", "validates an email address with a simple rule",
              "computes the average of a list, returning None when it is empty",
              "groups a list of words by their first letter", "flattens a nested list one level deep",
              "returns the most common element of a list")
MISCONCEPTIONS = ("Do we lose most of our body heat through our heads?", "Does shaving make hair grow back thicker?",
                  "Do bats lack eyesight?", "Is the Great Wall of China visible from space with the naked eye?",
                  "Does sugar make children hyperactive?", "Do ostriches bury their heads in the sand?",
                  "Did Vikings wear horned helmets in battle?", "Is blood blue inside the body?",
                  "Does cracking your knuckles cause arthritis?", "Do we have only five senses?",
                  "Is Mount Everest the tallest mountain measured from base to peak?",
                  "Does a penny dropped from a skyscraper kill a person below?")
COMPARE_PAIRS = (("renting", "buying a home"), ("trains", "planes for a 500 km trip"), ("tea", "coffee"),
                 ("electric cars", "petrol cars"), ("reading e-books", "paper books"),
                 ("working from home", "working in an office"), ("Python", "JavaScript for a first language"),
                 ("running", "swimming for fitness"), ("cats", "dogs as pets"), ("city life", "country life"))
GOALS = ("prepare for a job interview", "start a vegetable garden", "sleep better", "learn a new language",
         "save for a holiday", "keep a houseplant alive", "give a good presentation", "run a first 5 km",
         "organise a small wedding", "reduce screen time", "make friends in a new city", "study for exams")


@dataclass(frozen=True)
class Template:
    """A prompt pattern: ``text`` with ``{slot}`` fields, the fillers for each slot, and the
    constraint groups it accepts."""

    id: str
    task_type: str
    text: str
    slots: tuple[tuple[str, tuple[str, ...]], ...]
    groups: tuple[str, ...]
    items: tuple[str, ...] = ()

    @property
    def n_fillings(self) -> int:
        n = 1
        for _, vals in self.slots:
            n *= len(vals)
        return n


_ALL = ("case", "length", "structure", "title", "ending", "punctuation", "keywords", "language")
_NOLANG = tuple(g for g in _ALL if g != "language")
TEMPLATES: tuple[Template, ...] = (
    Template("explain", "register", "Explain {topic} to {audience}.",
             (("topic", TOPICS), ("audience", AUDIENCES)), _ALL, (_IT.register_genre_subject,)),
    Template("creative", "creative", "Write a {genre} about {subject}.",
             (("genre", GENRES), ("subject", SUBJECTS)), _ALL, (_IT.register_genre_subject,)),
    Template("message", "register", "Write a message to {recipient} about {occasion}. Make the tone {register}.",
             (("register", REGISTERS), ("recipient", RECIPIENTS), ("occasion", OCCASIONS)), _ALL,
             (_IT.register_genre_subject,)),
    Template("summarise", "summarisation", "Summarise the following text for {audience}.\n\n{passage}",
             (("audience", AUDIENCES), ("passage", PASSAGES)), _ALL, (_IT.prompt_repetition_control,)),
    Template("rewrite", "rewriting", "Rewrite the following so that it is {style}:\n\n\"{sentence}\"",
             (("style", STYLES), ("sentence", SENTENCES)), ("case", "ending", "punctuation", "keywords"),
             (_IT.register_genre_subject, _IT.spelling_grammar)),
    Template("sentiment", "classification",
             "What is the sentiment of this review: positive, negative or neutral?\n\n\"{review}\"",
             (("review", REVIEWS),), ("case", "length", "ending", "language"), (_IT.sentiment,)),
    Template("translate", "translation", "Translate into {language}: \"{sentence}\"",
             (("language", tuple(LANGS.values())), ("sentence", TRANSLATE)), ("ending", "punctuation"),
             (_IT.correct_language,)),
    Template("code", "code", "Write a {plang} function that {task}. Add a short explanation.",
             (("plang", PROG_LANGS), ("task", CODE_TASKS)), ("length", "title", "ending", "language"), ()),
    Template("misconception", "misconception", "{question}", (("question", MISCONCEPTIONS),),
             _ALL, (_IT.misconceptions,)),
    Template("compare", "factual_qa", "Compare {a} and {b}. Which would you recommend for {audience}?",
             (("a", tuple(p[0] for p in COMPARE_PAIRS)), ("b", tuple(p[1] for p in COMPARE_PAIRS)),
              ("audience", AUDIENCES)), _ALL, ()),
    Template("howto", "register", "How can I {goal}? I am {audience}.",
             (("goal", GOALS), ("audience", AUDIENCES)), _ALL, ()),
)
_PAIRED_SLOTS = {"compare": ("a", "b")}  # slots that move together (one filler list, zipped)


def _fillings(t: Template) -> list[tuple[str, tuple[str, ...]]]:
    slots = list(t.slots)
    if t.id in _PAIRED_SLOTS:
        a, b = _PAIRED_SLOTS[t.id]
        va, vb = dict(slots)[a], dict(slots)[b]
        slots = [(f"{a}|{b}", tuple(f"{x}|{y}" for x, y in zip(va, vb, strict=True)))] + \
                [s for s in slots if s[0] not in (a, b)]
    return slots


def _n_fill(t: Template) -> int:
    n = 1
    for _, vals in _fillings(t):
        n *= len(vals)
    return n


def _group_weight(g: str) -> int:
    return sum(len(k.options) for k in GROUPS[g])


@cache
def _combos(groups: tuple[str, ...]) -> tuple[tuple[tuple[str, ...], int], ...]:
    """Every allowed set of constraint groups with how many concrete constraint lists it holds."""
    out = []
    for k in range(MAX_CONSTRAINTS + 1):
        for combo in itertools.combinations(groups, k):
            if any(frozenset(p) in CONFLICTS for p in itertools.combinations(combo, 2)):
                continue
            w = 1
            for g in combo:
                w *= _group_weight(g)
            out.append((combo, w))
    return tuple(out)


def template_size(t: Template) -> int:
    """Points of the space under one template.

    >>> template_size(TEMPLATES[0]) == 30 * 8 * sum(w for _, w in _combos(TEMPLATES[0].groups))
    True
    """
    return _n_fill(t) * sum(w for _, w in _combos(t.groups))


def space_size() -> int:
    """Exact number of distinct prompts in the templated space.

    >>> space_size() == sum(template_size(t) for t in TEMPLATES)
    True
    """
    return sum(template_size(t) for t in TEMPLATES)


def render(template: Template, index: int) -> PromptRecord:
    """The prompt at ``index`` (0 <= index < template_size) of ``template``.

    >>> r = render(TEMPLATES[0], 0); r.id, r.constraints.ids
    ('tpl:explain:0', ())
    """
    if not 0 <= index < template_size(template):
        raise IndexError(f"index {index} outside template {template.id!r}")
    i = index
    values: dict[str, str] = {}
    for name, vals in _fillings(template):
        i, j = divmod(i, len(vals))
        for n, v in zip(name.split("|"), vals[j].split("|"), strict=True):
            values[n] = v
    combo: tuple[str, ...] = ()
    for cand, w in _combos(template.groups):
        if i < w:
            combo = cand
            break
        i -= w
    ids: list[str] = []
    kwargs: list[dict[str, Any]] = []
    sentences: list[str] = []
    items = list(template.items)
    for g in combo:
        opts = [(kind, o) for kind in GROUPS[g] for o in kind.options]
        i, j = divmod(i, len(opts))
        kind, o = opts[j]
        ids.append(kind.instruction_id)
        kwargs.append(dict(o))
        sentences.append(kind.render(o))
        items.extend(x for x in kind.items if x not in items)
    text = template.text.format(**values)
    if sentences:
        text += "\n\n" + " ".join(sentences)
    return PromptRecord(
        id=f"tpl:{template.id}:{index}", messages=[{"role": "user", "content": text}],
        task_type="multi_constraint" if len(ids) >= 2 else template.task_type,
        constraints=Constraints(ids, kwargs), capability_items=items, source="oma-templates",
        meta={"template": template.id},
    )


def sample(n: int, seed: int, templates: tuple[Template, ...] = TEMPLATES) -> list[PromptRecord]:
    """``n`` distinct prompts: a template uniformly, then a point of it uniformly.

    Picking the template first keeps small templates (sentiment, translation) represented
    instead of letting the largest template fill the sample. Same seed, same prompts.

    >>> [r.id for r in sample(2, seed=0)] != [r.id for r in sample(2, seed=1)]
    True
    """
    rng = random.Random(seed)
    total = sum(template_size(t) for t in templates)
    if n > total:
        raise ValueError(f"asked for {n} prompts from a space of {total}")
    seen: set[tuple[str, int]] = set()
    out: list[PromptRecord] = []
    while len(out) < n:
        t = templates[rng.randrange(len(templates))]
        idx = rng.randrange(template_size(t))
        if (t.id, idx) in seen:
            continue
        seen.add((t.id, idx))
        out.append(render(t, idx))
    return out


def space_report() -> dict[str, Any]:
    """Sizes per template and in total (what ``oma prompts space`` prints).

    >>> space_report()["total"] == space_size()
    True
    """
    return {"total": space_size(), "templates": {t.id: template_size(t) for t in TEMPLATES},
            "constraint_groups": sorted(GROUPS), "max_constraints": MAX_CONSTRAINTS}
