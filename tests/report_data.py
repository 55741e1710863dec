"""A demo-like Label Studio export written without a server (for the report and notebook tests):
three models answer the same prompts, three simulated labellers of known accuracy review every
completion with consistent rubric-2.0 answers, a researcher adds gold annotations, and the code map
joins completion codes to models. The demo itself (tests/test_demo_e2e.py) runs the real thing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from oma_analysis.labelstudio.simulator import SimLabeller, answers_to_result, consistent_answers
from oma_analysis.rubric import RUBRIC

MODELS = {"m-small": (0.35, 0.15), "m-mid": (0.2, 0.1), "m-large": (0.05, 0.1)}  # P(misaligned), P(ambiguous)
LABELLERS = {"ann@lab.example": 0.95, "bob@lab.example": 0.85, "cat@lab.example": 0.6}


def demo_like_export(directory: Path, seed: int = 0, n_prompts: int = 12, samples: int = 1, n_gold: int = 8
                     ) -> tuple[Path, Path]:
    """Write ``export.json`` and ``codemap.json`` into ``directory``; return their paths."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    tasks, codes, ann_id = [], {}, 1
    labellers = [SimLabeller.with_accuracy(e, a) for e, a in LABELLERS.items()]
    for p in range(n_prompts):
        for model, (pm, pa) in MODELS.items():
            for s in range(samples):
                tid = 100 + len(tasks)
                code = f"c{tid:05d}"
                codes[code] = {"model": model, "prompt_id": f"p{p}", "sample": s}
                truth = RUBRIC.verdict_ids[rng.choice(3, p=[pm, pa, 1 - pm - pa])]
                anns = []
                for w, lab in enumerate(labellers):
                    anns.append({"id": ann_id, "completed_by": {"id": w + 1, "email": lab.email},
                                 "result": answers_to_result(lab.answer(truth, "lower_quality", rng)),
                                 "ground_truth": False, "was_cancelled": False, "lead_time": 30.0 + w,
                                 "created_at": f"2026-11-{2 + w:02d}T10:00:00Z"})
                    ann_id += 1
                if len(tasks) < n_gold:
                    anns.append({"id": ann_id, "completed_by": {"id": 99, "email": "researcher@lab.example"},
                                 "result": answers_to_result(consistent_answers(truth, "lower_quality", rng)),
                                 "ground_truth": True, "was_cancelled": False, "lead_time": 60.0,
                                 "created_at": "2026-11-02T09:00:00Z"})
                    ann_id += 1
                tasks.append({"id": tid, "annotations": anns, "data": {
                    "messages": [{"role": "user", "content": f"Question {p}: explain topic {p} briefly."}],
                    "completion": f"Answer {s} to question {p} (task {tid}).", "completion_code": code,
                    "prompt_id": f"p{p}"}})
    export, codemap = directory / "export.json", directory / "codemap.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")
    codemap.write_text(json.dumps(codes), encoding="utf-8")
    return export, codemap
