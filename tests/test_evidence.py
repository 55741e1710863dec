"""Probe and variant evidence rows (the contract with the capability profile), through the real loader."""

from __future__ import annotations

import json
import zlib

import pandas as pd
import pytest

from oma_analysis.ingest import load
from oma_analysis.labelstudio.simulate_tasks import result_items
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.elicitation import compare_question, pair_table
from oma_analysis.stats.evidence import (
    EVIDENCE_COLUMNS,
    aspect_items,
    known_facts,
    probe_evidence,
    probe_questions,
    run_evidence,
    variant_evidence,
)
from oma_analysis.tasks.blinding import CodeMap

ITEM_Q, OUTCOME_Q = probe_questions()
CAN, CANNOT, INCONCLUSIVE = OUTCOME_Q.choice_ids
CMP = compare_question()
ASPECT_Q = next(q for q in RUBRIC.task_questions("compare") if q.kind == "multi")


def _ann(i, who, answers, kind, to):
    return {"id": i, "completed_by": {"id": zlib.crc32(who.encode()), "email": who},
            "result": result_items(answers, kind, to), "created_at": "2026-01-05T10:00:00Z"}


def _export(tmp_path, tasks, codes):
    p = tmp_path / "export.json"
    p.write_text(json.dumps([{"id": i + 1, **t} for i, t in enumerate(tasks)]))
    cm = codes.save(tmp_path / "codemap.json")
    return load(p, cm)


def test_probe_evidence_joins_the_model_and_counts_tries(tmp_path):
    codes = CodeMap()
    item = RUBRIC.capable_items[-1].id  # any checklist item
    other = RUBRIC.not_capable_items[0].id
    plan = [("m1", "p1", item, [CAN, CAN, CANNOT]), ("m1", "p2", item, [INCONCLUSIVE]),
            ("m2", "p1", item, [CANNOT, CANNOT]), ("m2", "p3", other, [CAN])]
    tasks, n = [], 0
    for model, prompt, it, outcomes in plan:
        code = codes.add(model=model, prompt_id=prompt, kind="probe")
        anns = []
        for j, o in enumerate(outcomes):
            n += 1
            anns.append(_ann(n, f"w{j}@x", {ITEM_Q.name: it, OUTCOME_Q.name: o},
                             "probe", "completion"))
        tasks.append({"data": {"messages": [{"role": "user", "content": "q"}], "completion": "a",
                               "completion_code": code, "prompt_id": prompt}, "annotations": anns})
    loaded = _export(tmp_path, tasks, codes)
    assert loaded.n_used == 7
    ev = probe_evidence(loaded.frame)
    assert list(ev.columns) == EVIDENCE_COLUMNS
    got = {(r.model, r.item): (r.k, r.n) for r in ev.itertuples()}
    # independent count straight from the plan
    want: dict = {}
    for model, _, it, outcomes in plan:
        k, n_ = want.get((model, it), (0, 0))
        want[(model, it)] = (k + outcomes.count(CAN), n_ + len(outcomes))
    assert got == want
    assert set(ev["source"]) == {"probe"}
    byp = probe_evidence(loaded.frame, by_prompt=True)
    assert {(r.model, r.prompt, r.item): (r.k, r.n) for r in byp.itertuples()}[("m1", "p1", item)] == (2, 3)
    # wrong_but_knows: the prompts where a probe showed the model knows (at least one "can do it")
    kf = known_facts(loaded.frame)
    assert {(r.model, r.prompt) for r in kf.itertuples()} == {(m, p) for m, p, _, o in plan if CAN in o}


def test_variant_evidence_ties_significantly_better_aspects_to_items(tmp_path):
    mapping = aspect_items()
    aspect, items = next(iter(mapping.items()))
    unmapped = next(c for c in ASPECT_Q.choice_ids if c not in mapping)
    lm, ls, same, rs, rm = CMP.choice_ids
    codes = CodeMap()
    tasks, n = [], 0
    # (deployed side, [(compare answer, aspects)]): variant on the other side
    plan = [("left", [(rm, [aspect]), (rm, [aspect]), (same, [])]),       # variant much better on aspect: shows
            ("right", [(lm, [aspect, unmapped]), (ls, [aspect]), (lm, [])]),  # much better (2 of 3) + aspect 2/2
            ("left", [(rs, [aspect]), (same, []), (same, [])]),           # only slightly: a try, not shown
            ("right", [(rm, [aspect]), (lm, [unmapped]), (lm, [])])]  # better, but not on the aspect
    for i, (side, answers) in enumerate(plan):
        pc = codes.add(kind="pair", pair_by="deployed", model="m", prompt_id=f"p{i}", variant="temp:1.0",
                       deployed_variant="chat", deployed_side=side, swap_of=None)
        anns = []
        for j, (choice, asp) in enumerate(answers):
            n += 1
            a = {CMP.name: choice, **({ASPECT_Q.name: asp} if asp else {})}
            anns.append(_ann(n, f"w{j}@x", a, "compare", "left"))
        tasks.append({"data": {"messages": [{"role": "user", "content": "q"}], "left": "A", "right": "B",
                               "left_code": "x", "right_code": "y", "prompt_id": f"p{i}", "pair_code": pc},
                      "annotations": anns})
    loaded = _export(tmp_path, tasks, codes)
    ev = variant_evidence(loaded.frame, pair_table(codes))
    assert list(ev.columns) == EVIDENCE_COLUMNS
    got = {r.item: (r.k, r.n) for r in ev.itertuples()}
    # the aspect was ticked in all four comparisons; the variant is significantly better on it in the first two
    assert got == {it: (2, 4) for it in items}
    assert set(ev["source"]) == {"variant"} and "temp:1.0" in ev["detail"].iloc[0]
    assert run_evidence(loaded.frame, codes).equals(ev)  # no probes here: the run's evidence is the variant rows


def test_aspect_items_are_rubric_ids():
    checklist = {i.id for i in RUBRIC.checklist}
    assert aspect_items() and all(set(v) <= checklist for v in aspect_items().values())
    assert set(aspect_items()) <= set(ASPECT_Q.choice_ids)


def test_no_probe_rows_give_an_empty_frame_with_the_contract_columns():
    ev = probe_evidence(pd.DataFrame({"task": ["1"], "worker": ["w"], "question": ["verdict"],
                                      "label": ["x"], "model": ["m"], "prompt": ["p"]}))
    assert list(ev.columns) == EVIDENCE_COLUMNS and ev.empty


@pytest.mark.parametrize("by_prompt", [False, True])
def test_gold_probe_annotations_count_as_evidence(by_prompt):
    f = pd.DataFrame({"task": ["1", "1"], "worker": "r", "annotation": [1, 1], "model": "m", "prompt": "p",
                      "question": [ITEM_Q.name, OUTCOME_Q.name], "label": [ITEM_Q.choice_ids[0], CAN],
                      "ground_truth": True})
    assert probe_evidence(f, by_prompt=by_prompt)[["k", "n"]].values.tolist() == [[1, 1]]
