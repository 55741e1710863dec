"""P6: push 10,000 review tasks with predictions into a real Label Studio in <= 60 s.

A Label Studio (SQLite) is started in a temporary home on a free port, as the tests do. Tasks carry
a pre-annotation each (the checks' verdict and capability items, as the ML backend would give),
go through ``prepare`` (validation against the label config, blinding check, task keys) and
``push`` (batched, resumable import). The peer is the same 10k tasks without predictions, pushed the
same way into a second project in the same run. Also timed: a second push of the same tasks (all
skipped: the resumable path) and ``prepare`` from completion records (``{prompt, completion,
model}``), which fills the code map.

The JSON line: ``ours`` = seconds for prepare + push with predictions, ``peer`` = seconds without,
``ratio`` = peer / ours; ``goal_s`` = 60.

    python benchmarks/push_10k.py [--quick] [--tasks N] [--batch-size B]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from oma_analysis.lifecycle.procs import free_port

GOAL_S = 60.0


def make_tasks(n: int, with_predictions: bool):
    from oma_analysis.tasks.blinding import CodeMap

    codes = CodeMap()
    tasks = []
    verdicts = ("clearly_aligned", "ambiguous", "clearly_misaligned")
    for i in range(n):
        code = codes.add(model=f"model-{i % 4}", prompt_id=f"p{i // 4}")
        t = {"data": {"messages": [{"role": "user", "content": f"Prompt number {i // 4}: explain tides briefly."}],
                      "completion": f"Tides are caused by the moon's gravity. Answer {i}. " * 4,
                      "completion_code": code, "prompt_id": f"p{i // 4}"}}
        if with_predictions:
            t["predictions"] = [{"model_version": "oma-checks", "score": 0.5 + (i % 50) / 100, "result": [
                {"from_name": "verdict", "to_name": "completion", "type": "choices",
                 "value": {"choices": [verdicts[i % 3]]}}]}]
        tasks.append(t)
    return tasks, codes


def timed_push(client, title: str, n: int, with_predictions: bool, batch_size: int) -> dict:
    from oma_analysis.labelstudio.projects import create_or_update
    from oma_analysis.labelstudio.push import prepare, push

    proj = create_or_update(client, "review", title=title)
    tasks, codes = make_tasks(n, with_predictions)
    t = time.perf_counter()
    prepared = prepare(tasks, proj.label_config, codes, title)
    t_prep = time.perf_counter() - t
    res = push(client, proj.id, prepared, batch_size=batch_size)
    total = time.perf_counter() - t
    assert res.created == n and res.skipped == 0, res
    t2 = time.perf_counter()
    again = push(client, proj.id, prepared, batch_size=batch_size)
    assert again.created == 0 and again.skipped == n
    stored = client.projects.get(id=proj.id)
    n_pred = getattr(stored, "total_predictions_number", None)
    return {"s": total, "prepare_s": t_prep, "repush_s": time.perf_counter() - t2,
            "tasks_in_project": getattr(stored, "task_number", None), "predictions_in_project": n_pred}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="2,000 tasks")
    ap.add_argument("--batch-size", type=int, default=250)
    a = ap.parse_args()
    n = 2_000 if a.quick else a.tasks
    from label_studio_sdk import LabelStudio

    from oma_analysis.labelstudio import server
    from oma_analysis.labelstudio.push import prepare

    with tempfile.TemporaryDirectory() as home:
        home = Path(home)
        os.environ["OMA_HOME"] = str(home)
        state = server.start(port=free_port(), home=home, timeout=300)
        try:
            client = LabelStudio(base_url=state.url, api_key=server.load_credentials(home).token, timeout=300)
            ours = timed_push(client, "p6 with predictions", n, True, a.batch_size)
            peer = timed_push(client, "p6 without predictions", n, False, a.batch_size)
        finally:
            server.stop(home)
    from oma_analysis.rubric.xml import render
    from oma_analysis.tasks.blinding import CodeMap

    recs = [{"prompt": f"Prompt {i // 4}", "completion": f"Answer {i}", "model": f"model-{i % 4}",
             "prompt_id": f"p{i // 4}"} for i in range(n)]
    t = time.perf_counter()
    prepare(recs, render("review"), CodeMap(), "completions")
    prep_completions = time.perf_counter() - t
    print(json.dumps({
        "name": "push_10k", "unit": "s", "ours": round(ours["s"], 1), "peer": round(peer["s"], 1),
        "ratio": round(peer["s"] / ours["s"], 2), "goal_s": GOAL_S, "tasks": n, "batch_size": a.batch_size,
        "tasks_per_s": round(n / ours["s"], 1), "prepare_s": round(ours["prepare_s"], 2),
        "repush_all_skipped_s": round(ours["repush_s"], 1), "peer_prepare_s": round(peer["prepare_s"], 2),
        "prepare_from_completion_records_s": round(prep_completions, 2),
        "tasks_in_project": ours["tasks_in_project"], "predictions_in_project": ours["predictions_in_project"],
        "extrapolated_10k_s": round(ours["s"] * 10_000 / n, 1), "load_avg": round(os.getloadavg()[0], 1),
    }))


if __name__ == "__main__":
    main()
