"""Simulated labellers for compare (elicitation gap) and probe tasks, in a real Label Studio.

Like :mod:`oma_analysis.labelstudio.simulator` (review tasks): each labeller signs up through the
invite link and submits annotations with their own token. Truth lives only in the code map:

- compare pair codes carry ``truth_vs_deployed`` (one of :data:`TRUTH_SCORES`: how the variant
  compares with the deployed completion) and optionally ``truth_aspects`` (compare aspect ids);
- probe completion codes carry ``truth_item`` (checklist item), ``truth_outcome`` (outcome choice
  id) and the texts ``probe_input`` / ``probe_answer`` that stand in for the labeller's probe and
  the ML backend's answer.

A compare labeller gives the true 5-point answer with probability ``accuracy`` (else one of the
other four at random) and, with probability ``left_bias``, just picks "left slightly better"
(position bias). The answer is written for the side the variant is on, so the analysis must undo
the randomisation to get the truth back.

>>> lab = SimComparer("a@x", accuracy=1.0)
>>> rng = np.random.default_rng(0)
>>> a = lab.answer(2, "right", ["x"], rng)  # the variant, on the left, is truly much better
>>> a[compare_question().name] == compare_question().choice_ids[0], a[_aspect_question()]
(True, ['x'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from oma_analysis import OmaError
from oma_analysis.labelstudio.client import with_retries
from oma_analysis.labelstudio.simulator import answers_to_result
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.elicitation import compare_question
from oma_analysis.stats.evidence import probe_questions

# The simulation's truth vocabulary for a variant against the deployed completion (score of the
# variant on the compare question's 5-point scale).
TRUTH_SCORES = {"much_better": 2, "slightly_better": 1, "same": 0, "slightly_worse": -1, "much_worse": -2}


def _aspect_question() -> str:
    return next(q.name for q in RUBRIC.task_questions("compare") if q.kind == "multi")


def _choice_for_left_score(left_score: int) -> str:
    ids = compare_question().choice_ids
    return ids[len(ids) // 2 - left_score]


@dataclass(frozen=True)
class SimComparer:
    email: str
    accuracy: float = 0.9
    left_bias: float = 0.0
    password: str = "oma-sim-pass-1"

    def answer(self, true_score: int, deployed_side: str, aspects: Sequence[str], rng: np.random.Generator) -> dict:
        """Raw compare answers: the variant's true score, seen from the side it is on."""
        h = len(compare_question().choice_ids) // 2
        if rng.random() < self.left_bias:
            left = 1
        else:
            score = true_score
            if rng.random() >= self.accuracy:
                score = int(rng.choice([s for s in range(-h, h + 1) if s != true_score]))
            left = score if deployed_side == "right" else -score
        out: dict[str, object] = {compare_question().name: _choice_for_left_score(left)}
        if left != 0:
            aq = _aspect_question()
            out[aq] = list(aspects) or [RUBRIC.question(aq, "compare").choice_ids[0]]
        return out


@dataclass(frozen=True)
class SimProber:
    email: str
    accuracy: float = 0.9
    password: str = "oma-sim-pass-1"

    def answer(self, item: str, outcome: str, probe_input: str, probe_answer: str,
               rng: np.random.Generator) -> dict:
        item_q, outcome_q = probe_questions()
        given = outcome
        if rng.random() >= self.accuracy:
            given = str(rng.choice([c for c in outcome_q.choice_ids if c != outcome]))
        texts = {q.name: t for q, t in zip([q for q in RUBRIC.task_questions("probe") if q.kind == "text"],
                                           (probe_input, probe_answer), strict=False)}
        return {**texts, item_q.name: item, outcome_q.name: given}


def result_items(answers: Mapping[str, object], task: str, to_name: str) -> list[dict]:
    """Label Studio ``result`` items for raw answers of a compare or probe task."""
    return answers_to_result(answers, to_name, task)


def compare_truth(codes: Mapping[str, Mapping]) -> dict[str, tuple[int, str, list[str]]]:
    """pair code -> (variant's true score, deployed side, true aspects) for pairs that carry truth."""
    out = {}
    for code, m in codes.items():
        t = m.get("truth_vs_deployed")
        if m.get("kind") != "pair" or t is None:
            continue
        if t not in TRUTH_SCORES:
            raise OmaError(f"code map: pair {code}: truth_vs_deployed {t!r} is not one of {list(TRUTH_SCORES)}")
        out[code] = (TRUTH_SCORES[t], str(m["deployed_side"]), list(m.get("truth_aspects") or []))
    return out


def probe_truth(codes: Mapping[str, Mapping]) -> dict[str, tuple[str, str, str, str]]:
    """probe code -> (item, outcome, probe input, probe answer)."""
    item_q, outcome_q = probe_questions()
    out = {}
    for code, m in codes.items():
        if m.get("truth_item") is None:
            continue
        item, outcome = m["truth_item"], m.get("truth_outcome")
        if item not in item_q.choice_ids or outcome not in outcome_q.choice_ids:
            raise OmaError(f"code map: probe {code}: truth_item {item!r} / truth_outcome {outcome!r} not in the rubric")
        out[code] = (str(item), str(outcome), str(m.get("probe_input", "")), str(m.get("probe_answer", "")))
    return out


def _simulate(url: str, admin_token: str, project_id: int, labellers: Sequence, overlap: int, seed: int,
              code_field: str, to_name: str, task_kind: str,
              answer: Callable[[object, str, np.random.Generator], dict]) -> dict:
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.users import signup_annotator

    if overlap > len(labellers):
        raise OmaError(f"--overlap {overlap} is more than the {len(labellers)} simulated labellers")
    rng = np.random.default_rng(seed)
    admin = connect(url, admin_token)
    users = {lab.email: signup_annotator(url, admin_token, lab.email, lab.password) for lab in labellers}
    clients = {e: u.client(url) for e, u in users.items()}
    tasks = sorted(with_retries(lambda: list(admin.tasks.list(project=project_id, fields="all")),
                                f"list tasks of project {project_id}"), key=lambda t: t.id)
    created = {"annotations": 0, "skipped_existing": 0}
    for t in tasks:
        code = (t.data or {}).get(code_field)
        done = {a.get("completed_by") if isinstance(a, dict) else getattr(a, "completed_by", None)
                for a in (t.annotations or [])}
        chosen = rng.choice(len(labellers), size=overlap, replace=False)
        answers = {i: answer(labellers[i], code, rng) for i in chosen}  # drawn even when skipped: reruns repeat
        lead = {i: float(rng.uniform(20, 120)) for i in chosen}
        for i in chosen:
            lab = labellers[i]
            if users[lab.email].user_id in done:
                created["skipped_existing"] += 1
                continue
            with_retries(lambda c=clients[lab.email], tid=t.id, a=answers[i], lt=lead[i]: c.annotations.create(
                id=tid, result=result_items(a, task_kind, to_name), lead_time=lt),
                f"annotate {task_kind} task {t.id} as {lab.email}")
            created["annotations"] += 1
    return created


def simulate_compare(url: str, admin_token: str, project_id: int, labellers: Sequence[SimComparer],
                     truth: Mapping[str, tuple[int, str, list[str]]], *, overlap: int = 3, seed: int = 0) -> dict:
    """Annotate every compare task (by ``pair_code``) by ``overlap`` labellers; idempotent on rerun."""
    def answer(lab: SimComparer, code: object, rng: np.random.Generator) -> dict:
        if code not in truth:
            raise OmaError(f"compare task: pair code {code!r} has no truth in the code map")
        score, side, aspects = truth[code]  # type: ignore[index]
        return lab.answer(score, side, aspects, rng)

    return _simulate(url, admin_token, project_id, labellers, overlap, seed, "pair_code", "left", "compare", answer)


def simulate_probe(url: str, admin_token: str, project_id: int, labellers: Sequence[SimProber],
                   truth: Mapping[str, tuple[str, str, str, str]], *, overlap: int = 2, seed: int = 0) -> dict:
    """Annotate every probe task (by ``completion_code``) by ``overlap`` labellers; idempotent on rerun."""
    def answer(lab: SimProber, code: object, rng: np.random.Generator) -> dict:
        if code not in truth:
            raise OmaError(f"probe task: completion code {code!r} has no truth in the code map")
        return lab.answer(*truth[code], rng)  # type: ignore[index]

    return _simulate(url, admin_token, project_id, labellers, overlap, seed, "completion_code", "completion",
                     "probe", answer)
