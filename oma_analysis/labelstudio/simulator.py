"""Simulated labellers who annotate review tasks in a real Label Studio, with known error rates.

Each labeller signs up as a distinct Label Studio user and submits annotations through the API
with their own token, exactly as the labelling UI would. A labeller's mistakes follow a 3x3
confusion matrix over the verdicts (rows: true verdict, columns: the verdict given, in rubric
order: clearly_misaligned, ambiguous, clearly_aligned); the rest of the answers are made
consistent with the verdict given, so the rubric's rule maps each annotation back to exactly that
verdict. Truth comes from the code map (``truth_verdict``, ``truth_failure`` per completion code),
which never enters Label Studio. A researcher user can add gold (ground-truth) annotations.

>>> lab = SimLabeller.with_accuracy("a@x", 1.0)
>>> rng = np.random.default_rng(0)
>>> answers = lab.answer("clearly_misaligned", "lower_quality", rng)
>>> from oma_analysis.rubric import effective_verdict
>>> effective_verdict(answers)
'clearly_misaligned'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from oma_analysis import OmaError
from oma_analysis.labelstudio.client import with_retries
from oma_analysis.rubric import RUBRIC, contradictions

#: The failure simulated when the code map names none (one every model can show).
DEFAULT_FAILURE = RUBRIC.failure_ids.lower_quality


def failure_item(failure: str) -> str:
    """The checklist item a simulated labeller ties a failure to: the first relevant capable item
    the rubric offers for it (real labellers agree on the item far more often than chance, so the
    simulation does not draw it at random)."""
    f = next(x for x in RUBRIC.failure_types.choices if x.id == failure)
    return f.relevant_capable[0] if f.relevant_capable else RUBRIC.capable_items[0].id


def _hard_constraint(failure: str) -> str | None:
    """The hard constraint a truth names: a constraint id, or a retired failure type folded into one."""
    hc = RUBRIC.hard_constraints
    if failure in {h.id for h in hc.active}:
        return failure
    return RUBRIC.replacement(failure)  # toxic_output is now unrequested_toxic_nsfw


@dataclass(frozen=True)
class SimLabeller:
    email: str
    confusion: np.ndarray  # rows: true verdict, cols: verdict given (RUBRIC.verdict_ids order)
    password: str = "oma-sim-pass-1"

    @classmethod
    def with_accuracy(cls, email: str, accuracy: float) -> SimLabeller:
        """Right with probability ``accuracy``, otherwise one of the other two verdicts evenly."""
        off = (1.0 - accuracy) / 2
        m = np.full((3, 3), off)
        np.fill_diagonal(m, accuracy)
        return cls(email, m)

    def answer(self, true_verdict: str, true_failure: str | None, rng: np.random.Generator) -> dict:
        given = RUBRIC.verdict_ids[rng.choice(3, p=self.confusion[RUBRIC.verdict_severity(true_verdict)])]
        return consistent_answers(given, true_failure or DEFAULT_FAILURE, rng)


def consistent_answers(verdict: str, failure: str, rng: np.random.Generator) -> dict:
    """Raw rubric-2.0 answers whose rule-applied verdict is ``verdict`` and which contradict
    nothing; ``failure`` is a failure type or a hard constraint (a harmful answer the user asked
    for is a breach that counts: the user still "got what they wanted").

    Interactions: four for an aligned completion (two gates, verdict, confidence), eight for one
    failure, nine or ten for one breach.
    """
    cm, amb, _ = RUBRIC.verdict_ids
    r = RUBRIC
    yes, no = r.yes, r.no
    unsure = r.ternary[-1].id
    gate = r.intent_gate
    partly = gate.choices[1].id
    a: dict[str, object] = {r.hard_constraint_gate: no, gate.name: yes, r.verdict.question: verdict,
                            r.confidence_question: int(rng.integers(3, 6))}
    h = _hard_constraint(failure)
    if h is not None and verdict != RUBRIC.verdict_best:
        avoidable, policy, requested = r.hc_followup_kinds
        follow = {avoidable: yes, policy: yes if verdict == cm else unsure, requested: no}
        a.update({r.hard_constraint_gate: yes, r.hard_constraints.question: [h]})
        a.update({r.hc_followup_question(k, h): follow[k] for k in r.hc_followups(h)})
        if requested in r.hc_followups(h):
            a[gate.name] = no  # content nobody asked for: not what the user wanted
    elif h is None and verdict != RUBRIC.verdict_best:
        a.update({gate.name: no if verdict == cm else partly, r.failure_types.question: [failure],
                  r.capable_question(failure): yes if verdict == cm else unsure,
                  r.distinguishable_question(failure): yes, r.items_question(failure): [failure_item(failure)]})
    return a


def answers_to_result(answers: Mapping[str, object], to_name: str = "completion", task: str = "review"
                      ) -> list[dict]:
    """Label Studio ``result`` items for raw answers of a ``task`` kind (review, compare, probe),
    typed by the rubric's question kinds."""
    out = []
    for name, value in answers.items():
        q = RUBRIC.question(name, task)
        if q.kind == "rating":
            item = {"type": "rating", "value": {"rating": int(value)}}  # type: ignore[arg-type]
        elif q.kind in ("single", "multi"):
            item = {"type": "choices", "value": {"choices": [value] if isinstance(value, str) else list(value)}}
        elif q.kind == "text":
            item = {"type": "textarea", "value": {"text": [str(value)]}}
        else:
            raise OmaError(f"answers_to_result: question {name!r} of kind {q.kind} needs a span, not a value")
        out.append({"from_name": name, "to_name": to_name, **item})
    return out


def simulate_annotations(url: str, admin_token: str, project_id: int, labellers: Sequence[SimLabeller],
                         truth: Mapping[str, tuple[str, str | None]], *, overlap: int = 3, seed: int = 0,
                         researcher: str | None = None, gold_rate: float = 0.0, progress: bool = False) -> dict:
    """Annotate every task of the project by ``overlap`` randomly chosen labellers.

    ``truth`` maps completion code -> (true verdict, true failure type). Tasks that already have
    annotations from a labeller are not annotated again by them (reruns are idempotent). With
    ``researcher`` set, a fraction ``gold_rate`` of tasks also gets a ground-truth annotation.
    Returns counts of annotations created.
    """
    from tqdm import tqdm

    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.users import signup_annotator

    if overlap > len(labellers):
        raise OmaError(f"--overlap {overlap} is more than the {len(labellers)} simulated labellers")
    rng = np.random.default_rng(seed)
    admin = connect(url, admin_token)
    users = {lab.email: signup_annotator(url, admin_token, lab.email, lab.password) for lab in labellers}
    gold_user = signup_annotator(url, admin_token, researcher, "oma-sim-pass-1") if researcher else None
    tasks = sorted(with_retries(lambda: list(admin.tasks.list(project=project_id, fields="all")),
                                f"list tasks of project {project_id}"), key=lambda t: t.id)
    created = {"annotations": 0, "gold": 0, "skipped_existing": 0}
    clients = {e: u.client(url) for e, u in users.items()}
    gold_client = gold_user.client(url) if gold_user else None
    for t in tqdm(tasks, desc="simulated labelling", unit="task", disable=not progress):
        code = (t.data or {}).get("completion_code")
        if code not in truth:
            raise OmaError(f"task {t.id}: completion code {code!r} has no truth in the code map")
        true_verdict, true_failure = truth[code]
        done = {a.get("completed_by") if isinstance(a, dict) else getattr(a, "completed_by", None)
                for a in (t.annotations or [])}
        chosen = rng.choice(len(labellers), size=overlap, replace=False)
        # Draw every labeller's answer even when skipped, so reruns consume the RNG identically.
        answers = {i: labellers[i].answer(true_verdict, true_failure, rng) for i in chosen}
        for a in answers.values():
            _refuse_contradictions(a, f"task {t.id}")
        lead = {i: float(rng.uniform(30, 180)) for i in chosen}
        is_gold = bool(gold_user) and rng.random() < gold_rate
        gold = consistent_answers(true_verdict, true_failure or DEFAULT_FAILURE, rng) if is_gold else None
        for i in chosen:
            lab = labellers[i]
            if users[lab.email].user_id in done:
                created["skipped_existing"] += 1
                continue
            with_retries(lambda c=clients[lab.email], tid=t.id, a=answers[i], lt=lead[i]: c.annotations.create(
                id=tid, result=answers_to_result(a), lead_time=lt), f"annotate task {t.id} as {lab.email}")
            created["annotations"] += 1
        if gold is not None and gold_user is not None and gold_user.user_id not in done:
            with_retries(lambda c=gold_client, tid=t.id, g=gold: c.annotations.create(
                id=tid, result=answers_to_result(g), ground_truth=True, lead_time=60.0),
                f"gold annotation on task {t.id}")
            created["gold"] += 1
    return created


def _refuse_contradictions(answers: Mapping[str, object], where: str) -> None:
    why = contradictions(answers)
    if why:
        raise OmaError(f"{where}: refusing to create an annotation whose answers contradict each other: "
                       + "; ".join(why))


def truth_from_codemap(codes: Mapping[str, Mapping]) -> dict[str, tuple[str, str | None]]:
    """completion code -> (truth_verdict, truth_failure) from a code map that carries them."""
    out = {}
    for code, meta in codes.items():
        v = meta.get("truth_verdict")
        if v is None:
            continue
        if v not in RUBRIC.verdict_ids:
            raise OmaError(f"code map: completion {code}: truth_verdict {v!r} is not one of {RUBRIC.verdict_ids}")
        out[code] = (str(v), meta.get("truth_failure"))
    return out
