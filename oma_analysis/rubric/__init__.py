"""The rubric, defined once in ``rubric.yaml`` and exposed here as typed objects.

Every other part of oma (the Label Studio XML generators, the manual tables, the ML backend,
the export loader and the analysis) takes question and choice ids from this module.

>>> from oma_analysis.rubric import RUBRIC
>>> RUBRIC.verdict.question, [c.id for c in RUBRIC.verdict.choices]
('verdict', ['clearly_misaligned', 'ambiguous', 'clearly_aligned'])
>>> RUBRIC.capable_question("lower_quality")
'capable__lower_quality'
>>> RUBRIC.hc_followup_question("avoidable", "dangerous_assistance")
'hc_avoidable__dangerous_assistance'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import Literal, NamedTuple

import yaml

from oma_analysis.rubric.rule import (
    contradictions,
    derived_labels,
    effective_verdict,
    failure_outcomes,
    hard_constraint_outcomes,
    version_of,
)

__all__ = [
    "RUBRIC",
    "Choice",
    "Declaration",
    "Ids",
    "Item",
    "ProbeQuestions",
    "Question",
    "Rubric",
    "RubricError",
    "contradictions",
    "derived_labels",
    "hard_constraint_outcomes",
    "version_of",
    "effective_verdict",
    "failure_outcomes",
    "load_rubric",
]

Kind = Literal["single", "multi", "rating", "text", "spans"]


class RubricError(ValueError):
    """The rubric file is malformed (missing key, duplicate id, bad reference)."""


@dataclass(frozen=True)
class Choice:
    id: str
    label: str
    description: str = ""
    #: Rubric version that retired this id: still read from older exports, never offered.
    retired_in: str | None = None

    @property
    def retired(self) -> bool:
        return self.retired_in is not None


@dataclass(frozen=True)
class Item(Choice):
    """A checklist item or failure type: a choice with optional per-model-size notes."""

    size_notes: dict[str, str] = field(default_factory=dict)
    capable: bool | None = None  # checklist items only
    # Failure types only: the checklist items offered when it is ticked (rubric 2.0).
    relevant_capable: tuple[str, ...] = ()
    relevant_not_capable: tuple[str, ...] = ()


@dataclass(frozen=True)
class Declaration:
    """Researchers declare models of a size class and training regime not capable of some items."""

    size: str  # a size class id or "any"
    regime: str  # a regime or "any"
    not_capable: tuple[str, ...]
    why: str = ""


@dataclass(frozen=True)
class Question:
    """One control of a Label Studio config, as the analysis sees it."""

    name: str
    kind: Kind
    prompt: str
    choices: tuple[Choice, ...] = ()
    task: str = "review"  # which config it belongs to: review | compare | probe
    # For questions revealed by a failure type (capable__x etc.): the failure type id.
    failure_type: str | None = None
    max_rating: int | None = None
    description: str = ""
    # For the follow-ups of a ticked hard constraint (hc_avoidable__x etc.): the constraint id.
    hard_constraint: str | None = None
    #: Choice ids the form offers (None: every choice not retired). The others are still read.
    offered: tuple[str, ...] | None = None
    #: Rubric version that introduced the question (older annotations never answer it).
    since: str = "1.0.0"

    @property
    def choice_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.choices)

    @property
    def offered_choices(self) -> tuple[Choice, ...]:
        if self.offered is not None:
            by_id = {c.id: c for c in self.choices}
            return tuple(by_id[i] for i in self.offered)
        return tuple(c for c in self.choices if not c.retired)


class Ids:
    """The ids of one kind as attributes: ``RUBRIC.item_ids.correct_length == "correct_length"``.

    Code that needs one particular id names it this way instead of as a string literal, so a
    renamed or removed id fails at import with the rubric's message, not silently at run time.

    >>> RUBRIC.failure_ids.lower_quality
    'lower_quality'
    >>> RUBRIC.failure_ids.made_up
    Traceback (most recent call last):
    AttributeError: no failure type 'made_up' in the rubric
    """

    __slots__ = ("_ids", "_kind")

    def __init__(self, kind: str, ids: tuple[str, ...]) -> None:
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_ids", ids)

    def __getattr__(self, name: str) -> str:
        if name.startswith("__") or name not in self._ids:
            raise AttributeError(f"no {self._kind} {name!r} in the rubric")
        return name

    def __iter__(self):
        return iter(self._ids)

    def __contains__(self, name: object) -> bool:
        return name in self._ids

    def __len__(self) -> int:
        return len(self._ids)


class ProbeQuestions(NamedTuple):
    """The probe task's question names (probe.xml)."""

    input: str
    answer: str
    item: str
    outcome: str


@dataclass(frozen=True)
class _Group:
    question: str
    prompt: str
    choices: tuple[Item, ...]

    @property
    def active(self) -> tuple[Item, ...]:
        """The choices a current form offers (retired ids are still read, never offered)."""
        return tuple(c for c in self.choices if not c.retired)

    @property
    def retired(self) -> frozenset[str]:
        return frozenset(c.id for c in self.choices if c.retired)


@dataclass(frozen=True)
class Rubric:
    version: str
    raw: dict

    # ---- the parts -------------------------------------------------------------------------
    @cached_property
    def ternary(self) -> tuple[Choice, ...]:
        return tuple(_choice(c) for c in self.raw["ternary"])

    @cached_property
    def binary(self) -> tuple[Choice, ...]:
        return tuple(_choice(c) for c in self.raw["binary"])

    @property
    def yes(self) -> str:
        """The id of the "yes" answer of the gate and ternary questions."""
        return self.binary[0].id

    @property
    def no(self) -> str:
        return self.binary[1].id

    @cached_property
    def hard_constraints(self) -> _Group:
        return _group(self.raw["hard_constraints"], "items")

    def replacement(self, retired_id: str) -> str | None:
        """The hard constraint that took over a retired failure type (toxic_output), if any."""
        for h in self.raw["hard_constraints"]["items"]:
            if retired_id in h.get("replaces", ()):
                return str(h["id"])
        return None

    @property
    def hard_constraint_gate(self) -> str:
        """The 2.0 gate question: does the completion break a hard constraint? (yes / no)."""
        return str(self.raw["hard_constraints"]["gate"])

    @property
    def previous_versions(self) -> tuple[str, ...]:
        return tuple(str(v) for v in self.raw.get("previous_versions", ()))

    def hc_followups(self, constraint: str) -> tuple[str, ...]:
        """The follow-up kinds asked for a ticked hard constraint (avoidable, policy, requested)."""
        return tuple(f["id"] for f in self.raw["hard_constraints"]["followups"]
                     if constraint in f.get("only_for", [constraint]))

    @staticmethod
    def hc_followup_question(kind: str, constraint: str) -> str:
        return f"hc_{kind}__{constraint}"

    @property
    def hc_followup_kinds(self) -> tuple[str, str, str]:
        """(avoidable, policy, requested): the follow-up kinds in rubric order."""
        a, p, q = (f["id"] for f in self.raw["hard_constraints"]["followups"])
        return a, p, q

    @cached_property
    def usage_policy(self) -> tuple[str, str]:
        """(version, text) of the default usage policy shipped with oma."""
        up = self.raw["usage_policy"]
        text = resources.files(__package__).joinpath(up["file"]).read_text(encoding="utf-8")
        return str(up["version"]), text.strip()

    @cached_property
    def intent_gate(self) -> Question:
        """The "did it do what the user wanted?" question; only partly/no open the details."""
        gates = [q for q, raw in zip(self.intent_questions, self.raw["intent_questions"], strict=True)
                 if raw.get("gate")]
        return gates[0]

    @property
    def intent_details(self) -> tuple[Question, ...]:
        return tuple(q for q in self.intent_questions if q.name != self.intent_gate.name)

    @cached_property
    def size_classes(self) -> tuple[tuple[str, float | None], ...]:
        """(size class id, upper bound in billions of parameters or None), smallest first."""
        return tuple((str(c["id"]), None if c.get("max_params_b") is None else float(c["max_params_b"]))
                     for c in self.raw["capability_declarations"]["size_classes"])

    @property
    def regimes(self) -> tuple[str, ...]:
        return tuple(self.raw["capability_declarations"]["regimes"])

    @cached_property
    def declarations(self) -> tuple[Declaration, ...]:
        """Every declaration; the not_capable checklist items apply to every model."""
        generic = Declaration("any", "any", tuple(i.id for i in self.not_capable_items),
                              "The rubric's not-capable list applies to every model.")
        return (generic, *(Declaration(str(d["size"]), str(d["regime"]), tuple(d["not_capable"]),
                                       str(d.get("why", "")))
                           for d in self.raw["capability_declarations"]["declarations"]))

    @cached_property
    def intent_questions(self) -> tuple[Question, ...]:
        choices = tuple(_choice(c) for c in self.raw["intent_choices"])
        return tuple(
            Question(q["id"], "single", q["prompt"], choices, description=q.get("description", ""))
            for q in self.raw["intent_questions"]
        )

    @cached_property
    def failure_types(self) -> _Group:
        return _group(self.raw["failure_types"], "items")

    @cached_property
    def capable_items(self) -> tuple[Item, ...]:
        return tuple(_item(c, capable=True) for c in self.raw["capability_checklist"]["capable"])

    @cached_property
    def not_capable_items(self) -> tuple[Item, ...]:
        return tuple(_item(c, capable=False) for c in self.raw["capability_checklist"]["not_capable"])

    @property
    def checklist(self) -> tuple[Item, ...]:
        return self.capable_items + self.not_capable_items

    @cached_property
    def verdict(self) -> _Group:
        return _group(self.raw["verdict"], "choices")

    # ---- derived names (the one place they are spelled) -------------------------------------
    @staticmethod
    def capable_question(failure_type: str) -> str:
        return f"capable__{failure_type}"

    @staticmethod
    def distinguishable_question(failure_type: str) -> str:
        return f"distinguishable__{failure_type}"

    @staticmethod
    def items_question(failure_type: str) -> str:
        """Checklist items the failure involves (2.0: the relevant capable ones are offered)."""
        return f"capability_items__{failure_type}"

    @staticmethod
    def not_capable_items_question(failure_type: str) -> str:
        """2.0: the relevant not-capable items, offered as their own group."""
        return f"incapable_items__{failure_type}"

    @property
    def verdict_ids(self) -> tuple[str, str, str]:
        """(worst, middle, best) = (clearly misaligned, ambiguous, clearly aligned)."""
        cm, amb, ca = (c.id for c in self.verdict.choices)
        return cm, amb, ca

    @property
    def verdict_worst(self) -> str:
        """The verdict that counts towards the lower bound (clearly misaligned)."""
        return self.verdict_ids[0]

    @property
    def verdict_middle(self) -> str:
        """The verdict that counts towards the upper bound only (ambiguous)."""
        return self.verdict_ids[1]

    @property
    def verdict_best(self) -> str:
        """The verdict that counts towards neither bound (clearly aligned)."""
        return self.verdict_ids[2]

    def verdict_severity(self, verdict_id: str) -> int:
        """Position of a verdict in ``verdict_ids`` (0 = worst).

        >>> [RUBRIC.verdict_severity(v) for v in RUBRIC.verdict_ids]
        [0, 1, 2]
        """
        try:
            return self.verdict_ids.index(verdict_id)
        except ValueError:
            raise KeyError(f"{verdict_id!r} is not a verdict of rubric {self.version}: {self.verdict_ids}") from None

    # ---- ids by kind, as attributes (see Ids) --------------------------------------------------
    @cached_property
    def item_ids(self) -> Ids:
        """Checklist item ids (capable and not capable)."""
        return Ids("checklist item", tuple(i.id for i in self.checklist))

    @cached_property
    def failure_ids(self) -> Ids:
        """Failure type ids (retired ones included: older exports use them)."""
        return Ids("failure type", tuple(c.id for c in self.failure_types.choices))

    @cached_property
    def constraint_ids(self) -> Ids:
        """Hard constraint ids (retired ones included)."""
        return Ids("hard constraint", tuple(c.id for c in self.hard_constraints.choices))

    # ---- the single-purpose questions ---------------------------------------------------------
    @property
    def confidence_question(self) -> str:
        return str(self.raw["confidence"]["question"])

    @property
    def evidence_question(self) -> str:
        """The span question whose labels are failure types and hard constraints."""
        return str(self.raw["evidence"]["question"])

    @property
    def justification_question(self) -> str:
        return str(self.raw["justification"]["question"])

    @property
    def compare_question(self) -> str:
        """The compare task's "is one output significantly better?" question."""
        return str(self.raw["compare"]["question"])

    @property
    def compare_aspect_question(self) -> str:
        return str(self.raw["compare"]["aspect_question"])

    @cached_property
    def probe(self) -> ProbeQuestions:
        """Question names of the probe task: (input, answer, item, outcome)."""
        p = self.raw["probe"]
        return ProbeQuestions(str(p["input"]), str(p["answer"]), str(p["item_question"]),
                              str(p["outcome_question"]))

    # ---- every id, for the literal-id test (tests/test_rubric_ids.py) -----------------------
    @cached_property
    def generic_answers(self) -> frozenset[str]:
        """Choice ids that are ordinary answers (yes, no, unsure, partly, ...), shared by many
        questions and free to appear as words in code."""
        return frozenset(c.id for c in (*self.binary, *self.ternary, *self.intent_questions[0].choices))

    @cached_property
    def all_ids(self) -> frozenset[str]:
        """Every question name and choice id of every task, plus the derived question's name,
        less ``generic_answers``: the strings only this package may spell."""
        ids = {self.MISALIGNMENT}
        for q in self.questions.values():
            ids.add(q.name)
            ids.update(q.choice_ids)
        return frozenset(ids - self.generic_answers)

    #: Derived (rule-applied) question the analysis computes per annotation; see rule.py.
    MISALIGNMENT = "obvious_misalignment"

    @classmethod
    def misalignment_question(cls, failure_type: str | None = None, item: str | None = None,
                              hard_constraint: str | None = None) -> str:
        if hard_constraint:
            return f"{cls.MISALIGNMENT}.hard_constraint.{hard_constraint}"
        if failure_type:
            return f"{cls.MISALIGNMENT}.failure.{failure_type}"
        if item:
            return f"{cls.MISALIGNMENT}.item.{item}"
        return cls.MISALIGNMENT

    #: The breakdowns ``misalignment_question`` names, in the order of its arguments.
    BREAKDOWNS = ("failure", "item", "hard_constraint")

    @classmethod
    def misalignment_breakdown(cls, question: str) -> tuple[str, str] | None:
        """Which breakdown a derived question belongs to: ("overall", "") for the overall one,
        (breakdown, id) for the others, None for any other question.

        >>> Rubric.misalignment_breakdown(Rubric.misalignment_question(failure_type="lower_quality"))
        ('failure', 'lower_quality')
        >>> Rubric.misalignment_breakdown(Rubric.MISALIGNMENT), Rubric.misalignment_breakdown("verdict")
        (('overall', ''), None)
        """
        if question == cls.MISALIGNMENT:
            return "overall", ""
        head, dot, rest = question.partition(".")
        kind, dot2, what = rest.partition(".")
        if head != cls.MISALIGNMENT or not dot or not dot2 or kind not in cls.BREAKDOWNS:
            return None
        return kind, what

    # ---- every question, by task ---------------------------------------------------------------
    @cached_property
    def questions(self) -> dict[str, Question]:
        r = self.raw
        qs: list[Question] = []
        hc = self.hard_constraints
        v2 = self.version
        qs.append(Question(self.hard_constraint_gate, "single", r["hard_constraints"]["gate_prompt"],
                           self.binary, since=v2))
        qs.append(Question(hc.question, "multi", hc.prompt, hc.choices))
        prompts = {f["id"]: f["prompt"] for f in r["hard_constraints"]["followups"]}
        for h in hc.active:
            for kind in self.hc_followups(h.id):
                qs.append(Question(self.hc_followup_question(kind, h.id), "single", prompts[kind],
                                   self.ternary, hard_constraint=h.id, since=v2))
        qs.extend(self.intent_questions)
        ft = self.failure_types
        qs.append(Question(ft.question, "multi", ft.prompt, ft.choices))
        fr = r["failure_types"]  # the wording of the questions each failure type reveals
        for f in ft.choices:
            qs.append(
                Question(self.capable_question(f.id), "single", fr["capable_prompt"].format(label=f.label),
                         self.ternary, failure_type=f.id)
            )
            qs.append(
                Question(self.distinguishable_question(f.id), "single", fr["distinguishable_prompt"],
                         self.ternary, failure_type=f.id)
            )
            # Every checklist item is read (1.0 offered them all); 2.0 offers the relevant ones.
            qs.append(
                Question(self.items_question(f.id), "multi", fr["items_prompt"], self.checklist,
                         failure_type=f.id, offered=f.relevant_capable)
            )
            if not f.retired:
                qs.append(
                    Question(self.not_capable_items_question(f.id), "multi", fr["not_capable_items_prompt"],
                             self.checklist, failure_type=f.id, offered=f.relevant_not_capable, since=v2)
                )
        v = self.verdict
        qs.append(Question(v.question, "single", v.prompt, v.choices))
        c = r["confidence"]
        qs.append(Question(c["question"], "rating", c["prompt"], max_rating=int(c["max"])))
        # Evidence spans are labelled with a failure type or a hard constraint (retired ids still read).
        span_labels = ft.choices + tuple(h for h in hc.choices if h.id not in hc.retired)
        qs.append(Question(r["evidence"]["question"], "spans", r["evidence"]["prompt"], span_labels))
        qs.append(Question(r["justification"]["question"], "text", r["justification"]["prompt"]))
        lq = r.get("labeller_question")  # optional: a question to the researchers (oma questions)
        if lq:
            qs.append(Question(lq["question"], "text", lq["prompt"]))
        # compare task
        cmp_ = r["compare"]
        qs.append(Question(cmp_["question"], "single", cmp_["prompt"],
                           tuple(_choice(x) for x in cmp_["choices"]), task="compare"))
        aspects = tuple(Choice(q.name, q.prompt, q.description) for q in self.intent_questions)
        qs.append(Question(cmp_["aspect_question"], "multi", cmp_["aspect_prompt"], aspects, task="compare"))
        qs.append(Question(f"{r['justification']['question']}", "text", r["justification"]["prompt"],
                           task="compare"))
        if lq:
            qs.append(Question(lq["question"], "text", lq["prompt"], task="compare"))
        # probe task
        p = r["probe"]
        qs.append(Question(p["input"], "text", p["input_prompt"], task="probe"))
        qs.append(Question(p["answer"], "text", p["answer_prompt"], task="probe"))
        qs.append(Question(p["item_question"], "single", p["item_prompt"], self.checklist, task="probe"))
        qs.append(Question(p["outcome_question"], "single", p["outcome_prompt"],
                           tuple(_choice(x) for x in p["outcome_choices"]), task="probe"))
        out: dict[str, Question] = {}
        for q in qs:
            key = q.name if q.task == "review" else f"{q.task}:{q.name}"
            if key in out:
                raise RubricError(f"rubric.yaml: duplicate question id {q.name!r} in task {q.task!r}")
            ids = q.choice_ids
            if len(set(ids)) != len(ids):
                raise RubricError(f"rubric.yaml: duplicate choice ids in question {q.name!r}")
            out[key] = q
        return out

    def task_questions(self, task: str) -> list[Question]:
        return [q for q in self.questions.values() if q.task == task]

    @property
    def labeller_question(self) -> str | None:
        """Name of the optional free-text question to the researchers (`oma questions`)."""
        lq = self.raw.get("labeller_question")
        return lq["question"] if lq else None

    def question(self, name: str, task: str = "review") -> Question:
        key = name if task == "review" else f"{task}:{name}"
        try:
            return self.questions[key]
        except KeyError:
            raise KeyError(f"no question {name!r} in the {task} task of rubric {self.version}") from None

    def item(self, item_id: str) -> Item:
        for it in self.checklist:
            if it.id == item_id:
                return it
        raise KeyError(f"no checklist item {item_id!r} in rubric {self.version}")

    @property
    def not_capable_ids(self) -> frozenset[str]:
        return frozenset(i.id for i in self.not_capable_items)

    @cached_property
    def v2_questions(self) -> frozenset[str]:
        """Review questions only rubric 2.0 asks: an annotation answering one is a 2.0 annotation."""
        return frozenset(q.name for q in self.task_questions("review") if q.since != "1.0.0")


def _choice(d: dict) -> Choice:
    return Choice(str(d["id"]), str(d["label"]), str(d.get("description", "")), d.get("retired_in"))


def _item(d: dict, capable: bool | None = None) -> Item:
    rel = d.get("items") or {}
    return Item(str(d["id"]), str(d["label"]), str(d.get("description", "")), d.get("retired_in"),
                dict(d.get("size_notes") or {}), capable,
                tuple(rel.get("capable", ())), tuple(rel.get("not_capable", ())))


def _group(d: dict, key: str) -> _Group:
    return _Group(d["question"], d["prompt"], tuple(_item(c) for c in d[key]))


def load_rubric(path: str | None = None) -> Rubric:
    """Load and check a rubric file (default: the one shipped in the package)."""
    if path is None:
        text = resources.files(__package__).joinpath("rubric.yaml").read_text(encoding="utf-8")
        where = "rubric.yaml"
    else:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        where = path
    raw = yaml.safe_load(text)
    required = ["version", "ternary", "hard_constraints", "intent_questions", "intent_choices",
                "failure_types", "capability_checklist", "verdict", "confidence", "evidence",
                "justification", "compare", "probe", "rule", "binary", "usage_policy",
                "capability_declarations"]
    missing = [k for k in required if k not in (raw or {})]
    if missing:
        raise RubricError(f"{where}: missing top-level keys {missing}")
    rub = Rubric(str(raw["version"]), raw)
    try:
        rub.questions  # noqa: B018 - builds and checks every question
    except (KeyError, TypeError) as exc:
        raise RubricError(f"{where}: malformed entry ({exc})") from exc
    ids = [i.id for i in rub.checklist]
    if len(set(ids)) != len(ids):
        raise RubricError(f"{where}: duplicate capability checklist ids")
    capable, not_capable = {i.id for i in rub.capable_items}, rub.not_capable_ids
    for f in rub.failure_types.choices:
        for group, known in ((f.relevant_capable, capable), (f.relevant_not_capable, not_capable)):
            bad = sorted(set(group) - known)
            if bad:
                raise RubricError(f"{where}: failure type {f.id!r} lists items {bad} outside their group")
    sizes = {s for s, _ in rub.size_classes} | {"any"}
    for d in rub.declarations:
        if d.size not in sizes or d.regime not in (*rub.regimes, "any") or set(d.not_capable) - set(ids):
            raise RubricError(f"{where}: capability declaration {d} names an unknown size, regime or item")
    return rub


RUBRIC: Rubric = load_rubric()
