"""Simulated labellers annotate the demo set in a REAL Label Studio; known truth comes back out."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

from oma_analysis.ingest import load
from oma_analysis.labelstudio.projects import create_or_update
from oma_analysis.labelstudio.pull import pull
from oma_analysis.labelstudio.push import prepare, push, read_jsonl
from oma_analysis.labelstudio.simulator import SimLabeller, consistent_answers, simulate_annotations, truth_from_codemap
from oma_analysis.rubric import RUBRIC, contradictions, effective_verdict, version_of
from oma_analysis.tasks.blinding import CodeMap


def test_consistent_answers_map_back_through_the_rule():
    rng = np.random.default_rng(1)
    for verdict in ("clearly_misaligned", "ambiguous", "clearly_aligned"):
        for f in RUBRIC.failure_types.choices + RUBRIC.hard_constraints.active:
            a = consistent_answers(verdict, f.id, rng)
            assert effective_verdict(a) == verdict, (verdict, f.id, a)
            assert not contradictions(a) and version_of(a) == RUBRIC.version


def test_simulated_labellers_in_label_studio(label_studio, tmp_path):
    admin = label_studio.client()
    proj = create_or_update(admin, "review", title="sim review")
    src = str(resources.files("oma_analysis") / "data" / "demo_completions.jsonl")
    codes = CodeMap()
    push(admin, proj.id, prepare(read_jsonl(src), proj.label_config, codes, src))
    truth = truth_from_codemap(codes)
    assert len(truth) == 48
    labellers = [SimLabeller.with_accuracy(f"sim{i}@oma.test", 1.0) for i in range(3)]
    labellers.append(SimLabeller.with_accuracy("noisy@oma.test", 0.34))
    got = simulate_annotations(label_studio.url, label_studio.token, proj.id, labellers, truth, overlap=3, seed=5,
                               researcher="researcher@oma.test", gold_rate=0.3)
    assert got["annotations"] == 144 and got["gold"] > 0
    again = simulate_annotations(label_studio.url, label_studio.token, proj.id, labellers, truth, overlap=3, seed=5,
                                 researcher="researcher@oma.test", gold_rate=0.3)
    assert again["annotations"] == 0 and again["skipped_existing"] == 144  # idempotent rerun

    export = pull(admin, proj.id, tmp_path / "sim.json")
    loaded = load(export, codemap=codes)
    assert loaded.n_read == loaded.n_used == 144 + got["gold"]
    f = loaded.frame
    v = f[f["question"] == RUBRIC.MISALIGNMENT]
    assert v.groupby("task")["worker"].nunique().min() >= 3
    want = {c: t[0] for c, t in truth.items()}
    perfect = v[v["worker"].str.startswith("sim") | v["ground_truth"]]
    assert (perfect["label"].astype(str) == perfect["completion"].astype(str).map(want)).all()
    noisy = v[v["worker"] == "noisy@oma.test"]
    if len(noisy) >= 10:
        assert (noisy["label"].astype(str) == noisy["completion"].astype(str).map(want)).mean() < 0.9
    assert set(v.loc[v["ground_truth"], "worker"]) == {"researcher@oma.test"}
    assert json.dumps(dict(codes)).count("truth_verdict") == 48
    # Every hard constraint and every failure type of rubric 2.0 is exercised by the demo truth.
    answered = set(f.loc[f["label"].astype(str) == "yes", "question"].astype(str))
    for h in RUBRIC.hard_constraints.active:
        assert f"{RUBRIC.hard_constraints.question}.{h.id}" in answered, h.id
    # (the code and image failure types are exercised by the code and image review round trips,
    # tests/test_code_review_ls.py and tests/test_image_review_ls.py: the demo's completions are text)
    from oma_analysis.code.humaneval import code_ids

    other_media = set(code_ids()["failure_types"].values()) | {"image_worse_than_capable"}
    for ft in [f for f in RUBRIC.failure_types.active if f.id not in other_media]:
        assert f"{RUBRIC.failure_types.question}.{ft.id}" in answered, ft.id
