"""The demo's questions round on a real Label Studio: a simulated labeller asks in the form, the
question is queued, the answer lands in the FAQ of the demo's manual copy with a new version."""

from __future__ import annotations

import json
from pathlib import Path

from oma_analysis.demo.questions import ANSWER, QUESTION, questions_round
from oma_analysis.labelstudio.instructions import manual_version
from oma_analysis.labelstudio.projects import create_or_update
from oma_analysis.labelstudio.push import prepare, push
from oma_analysis.labelstudio.simulator import SimLabeller, simulate_annotations, truth_from_codemap
from oma_analysis.tasks.blinding import CodeMap

MANUAL_DIR = Path(__file__).resolve().parents[1] / "manual"  # the repository's manual


def test_demo_questions_round(label_studio, tmp_path):
    admin = label_studio.client()
    proj = create_or_update(admin, "review", title="oma review demo-questions", overlap=2)
    codes = CodeMap()
    recs = [{"prompt_id": f"dq{i}", "prompt": f"Demo question prompt {i}: give a short answer.",
             "completion": f"Demo question completion {i}.", "model": "m-alpha", "truth_verdict": "clearly_aligned"}
            for i in range(3)]
    push(admin, proj.id, prepare(recs, proj.label_config, codes, "demo-questions"))
    labs = [SimLabeller.with_accuracy(f"dq{i}@oma.demo", a) for i, a in enumerate((0.95, 0.7))]
    simulate_annotations(label_studio.url, label_studio.token, proj.id, labs, truth_from_codemap(codes),
                         overlap=2, seed=1)
    out = questions_round(label_studio.url, label_studio.token, proj.id, labs, tmp_path, echo=print)
    assert out["questions"] == 1
    queue = [json.loads(x) for x in (tmp_path / "questions" / "queue.jsonl").read_text().splitlines()]
    assert queue[0]["question"] == QUESTION and queue[0]["worker"] == "dq1@oma.demo"
    assert queue[0]["status"] == "answered"
    faq = (tmp_path / "manual" / "docs" / "faq.md").read_text()
    assert QUESTION in faq and ANSWER in faq
    assert out["manual_version"] == manual_version(tmp_path / "manual" / "docs") != manual_version(MANUAL_DIR / "docs")
    assert QUESTION not in (MANUAL_DIR / "docs" / "faq.md").read_text()
