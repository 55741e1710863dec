"""A raw annotation's answers checked against the rubric -> (question, label) rows.

Answers are validated (known question for the task kind, known choices, one choice for a
single-choice question, ratings in range, contradictions per :func:`rubric.rule.contradictions`),
multi-choice questions become one ``yes``/``no`` row per choice (``failure_types.lower_quality``),
and the capable + distinguishable rule (:func:`rubric.rule.derived_labels`) adds the derived
``obvious_misalignment...`` questions. Text answers and evidence spans go to side tables. What
can't be used is reported to the sink with its reason, never silently lost.
"""

from __future__ import annotations

from typing import Protocol

from oma_analysis.ingest.formats import Raw, text_of
from oma_analysis.rubric import Question, Rubric
from oma_analysis.rubric.rule import contradictions, derived_labels, version_of

KINDS = ("review", "compare", "probe")


class Sink(Protocol):
    texts: list[tuple]
    spans: list[tuple]

    def drop(self, level: str, task, annotation, worker, fld, reason: str) -> None: ...


def _s(v) -> str | None:
    return None if v is None else str(v)


class Answers:
    """The rubric's view of annotations: which task kind, which questions, which rows."""

    def __init__(self, rubric: Rubric, derived: bool = True) -> None:
        self.rubric = rubric
        self.derived = derived  # compute the rule's derived questions (only when asked for)
        self.questions: dict[str, dict[str, Question]] = {
            k: {q.name: q for q in rubric.task_questions(k)} for k in KINDS}
        # A probe task is told by its own questions (a review task never answers them).
        self.probe_names = frozenset(self.questions["probe"]) - frozenset(self.questions["review"])
        self.names = frozenset(q.name for q in rubric.questions.values())
        self.multi = frozenset(q.name for q in rubric.questions.values() if q.kind == "multi")
        self.yes, self.no = rubric.yes, rubric.no

    def kind(self, data: dict, answered: set[str]) -> str:
        if "left" in data and "right" in data:
            return "compare"
        return "probe" if answered & self.probe_names else "review"

    def rows(self, raw: Raw, kind: str, sink: Sink) -> tuple[list[tuple[str, str]], str | None] | None:
        """``(rows, rubric version)`` of one annotation (version None for non-review tasks), or
        None when nothing in it is usable (reported to ``sink``)."""
        r = self.rubric
        qs = self.questions[kind]
        task_id, ann_id, worker = raw.task_id, raw.ann_id, raw.worker
        clean: dict[str, object] = {}
        for name, value in raw.answers.items():
            q = qs.get(name)
            if q is None:
                sink.drop("result", task_id, ann_id, worker, name, f"unknown question {name!r} for a {kind} task")
                continue
            if q.kind in ("single", "multi"):
                if not isinstance(value, str | list):
                    sink.drop("result", task_id, ann_id, worker, name,
                              f"{type(value).__name__} value is not a choice for {name!r}")
                    continue
                vals = [value] if isinstance(value, str) else value
                bad = [v for v in vals if v not in q.choice_ids]
                if bad:
                    sink.drop("result", task_id, ann_id, worker, name, f"unknown choice(s) {bad} for {name!r}")
                    vals = [v for v in vals if v in q.choice_ids]
                    if not vals:
                        continue
                if q.kind == "single" and len(vals) != 1:
                    sink.drop("result", task_id, ann_id, worker, name,
                              f"{len(vals)} choices for single-choice {name!r}")
                    continue
                clean[name] = vals[0] if q.kind == "single" else vals
            elif q.kind == "rating":
                try:
                    if isinstance(value, float) and not value.is_integer():
                        raise ValueError  # 2.5 stars is not a rating (and int() would truncate it)
                    rating = int(value)  # type: ignore[arg-type]
                except (TypeError, ValueError, OverflowError):
                    sink.drop("result", task_id, ann_id, worker, name, f"rating {value!r} is not an integer")
                    continue
                if not 1 <= rating <= (q.max_rating or rating):
                    sink.drop("result", task_id, ann_id, worker, name, f"rating {rating} outside 1..{q.max_rating}")
                    continue
                clean[name] = str(rating)
            elif q.kind == "text":
                sink.texts.append((_s(task_id), worker, ann_id, name, text_of(value)))
            elif q.kind == "spans":
                for sp in value if isinstance(value, list) else [value]:
                    labels = sp.get("labels") if isinstance(sp, dict) else None
                    if not isinstance(labels, list):
                        sink.drop("result", task_id, ann_id, worker, name, "span without a list of labels")
                        continue
                    for lab in labels:
                        if lab not in q.choice_ids:
                            sink.drop("result", task_id, ann_id, worker, name, f"unknown span label {lab!r}")
                            continue
                        sink.spans.append((_s(task_id), worker, ann_id, lab, sp.get("start"), sp.get("end"),
                                           sp.get("text")))
        if not any(qs[n].kind in ("single", "multi", "rating") for n in clean):
            sink.drop("annotation", task_id, ann_id, worker, "result", "no usable answer to any rubric question")
            return None
        version = None
        if kind == "review":
            # Label Studio enforces `required` only on visible controls and API submissions bypass
            # it: answers that contradict each other are reported, never counted.
            version = version_of(clean, r)
            why = contradictions(clean, r)
            if why:
                sink.drop("annotation", task_id, ann_id, worker, why[0].split(":")[0].split(" ")[0],
                          f"contradictory answers (rubric {version}): " + "; ".join(why))
                return None
        return self.expand(clean, qs, kind), version

    def expand(self, clean: dict[str, object], qs: dict[str, Question], kind: str) -> list[tuple[str, str]]:
        """Validated answers -> rows: multi-choice as one yes/no row per choice, plus the rule."""
        r = self.rubric
        out: list[tuple[str, str]] = []
        for name, q in qs.items():
            if q.kind == "single" or q.kind == "rating":
                if name in clean:
                    out.append((name, clean[name]))  # type: ignore[arg-type]
            elif q.kind == "multi":
                # A conditional question (revealed by a failure type) is only asked when revealed;
                # an unconditional multi-choice with nothing ticked means "none of these".
                if name in clean or q.failure_type is None or q.failure_type in clean.get(
                        r.failure_types.question, ()):  # type: ignore[operator]
                    chosen = set(clean.get(name, ()))  # type: ignore[arg-type]
                    out += [(f"{name}.{c}", self.yes if c in chosen else self.no) for c in q.choice_ids]
        if kind == "review" and self.derived:
            out += list(derived_labels(clean, r).items())
        return out
