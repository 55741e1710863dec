"""P4: a 1M-annotation Label Studio JSON export -> the full report, <= 60 s and <= 2 GB peak RSS.

A synthetic export (tasks x 3 labellers, full annotator objects, the review rubric's usual answers
incl. multi-choice and conditional questions) is written to disk task by task. Each contender runs
in its own child process, which reports its own peak RSS:

- ours: ``load(path, questions=[obvious_misalignment])`` (the report reads the rule's
  derived questions only; the loader streams with ijson and keeps only those rows), then
  ``build_report`` (rates under every policy, comparison, agreement, Dawid-Skene, labellers,
  disagreements, figures, HTML);
- peer: ``json.load`` of the file, and the loader (``load`` keeping every question), each
  alone (loading only: no report).

The JSON line: ``ours`` = peak RSS (MB) of the full report, ``peer`` = peak RSS of today's loader
alone, ``ratio`` = peer / ours; walls and the goals beside them. With --quick (50k annotations)
the 1M figures are extrapolated linearly (``*_1m_est``): memory and time of the loader and of the
report's steps grow with the number of rows.

    python benchmarks/large_export.py [--quick] [--annotations N] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oma_analysis.rubric import RUBRIC

WORKERS = [f"labeller{i:02d}@oma.test" for i in range(40)]


def _choice(name: str, *vals: str) -> dict:
    return {"from_name": name, "to_name": "completion", "type": "choices", "value": {"choices": list(vals)}}


def _result(rng: random.Random) -> list[dict]:
    failures = [c.id for c in RUBRIC.questions["failure_types"].choices]
    res = [_choice("hard_constraints", "none"), _choice("intent_task", rng.choice(["yes", "partly", "no"])),
           {"from_name": "confidence", "to_name": "completion", "type": "rating",
            "value": {"rating": rng.randint(1, 5)}}]
    if rng.random() < 0.4:
        f = rng.choice(failures)
        res += [_choice("failure_types", f), _choice(f"capable__{f}", rng.choice(["yes", "no", "unsure"])),
                _choice(f"distinguishable__{f}", rng.choice(["yes", "no"])),
                _choice(f"capability_items__{f}", rng.choice(["spelling_grammar", "prompt_repetition_control"])),
                _choice("verdict", rng.choice(["clearly_misaligned", "ambiguous"]))]
    else:
        res.append(_choice("verdict", "clearly_aligned"))
    res.append({"from_name": "justification", "to_name": "completion", "type": "textarea",
                "value": {"text": ["Looks fine to me."]}})
    return res


def write_export(path: Path, n_annotations: int, per_task: int = 3, seed: int = 0) -> int:
    """Stream a JSON export with ``n_annotations`` annotations to ``path``; returns the byte size."""
    rng = random.Random(seed)
    n_tasks = -(-n_annotations // per_task)
    ann_id = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[")
        for t in range(n_tasks):
            anns = []
            for w in rng.sample(WORKERS, per_task):
                if ann_id >= n_annotations:
                    break
                ann_id += 1
                anns.append({"id": ann_id, "completed_by": {"id": WORKERS.index(w) + 1, "email": w},
                             "result": _result(rng), "was_cancelled": False, "ground_truth": False,
                             "created_at": "2026-01-05T10:00:00.000000Z", "updated_at": "2026-01-05T10:00:00.000000Z",
                             "lead_time": round(rng.uniform(5, 300), 3)})
            task = {"id": t + 1, "data": {"messages": [{"role": "user", "content": f"Prompt {t % 5000}"}],
                                          "completion": f"Completion text number {t}. " * 3,
                                          "completion_code": f"c{t:09d}", "prompt_id": f"p{t % 5000}",
                                          "task_key": f"{t:020x}"},
                    "annotations": anns, "drafts": [], "predictions": [], "meta": {},
                    "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                    "inner_id": t + 1, "total_annotations": len(anns), "cancelled_annotations": 0,
                    "total_predictions": 0, "comment_count": 0, "project": 1}
            fh.write(("," if t else "") + json.dumps(task))
        fh.write("]")
    return path.stat().st_size


CHILD = {
    "ours": """
import json, sys, time
from oma_analysis.ingest import load as load_input
t = time.perf_counter()
got = load_input(sys.argv[1], quiet=True)
wall = time.perf_counter() - t
import resource
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "wall_s": wall, "rows": len(got.frame), "n_read": got.n_read, "n_used": got.n_used,
                  "n_dropped": got.n_dropped, "frame_bytes": int(got.frame.memory_usage(deep=True).sum())}))
""",
    "report": """
import json, sys, time, tempfile
from oma_analysis.ingest import load as load_input
from oma_analysis.report import build_report
from oma_analysis.rubric import RUBRIC
t = time.perf_counter()
got = load_input(sys.argv[1], questions=[RUBRIC.MISALIGNMENT], quiet=True)
load = time.perf_counter() - t
with tempfile.TemporaryDirectory() as out:
    rep = build_report(got, out, sys.argv[1], progress=False)
wall = time.perf_counter() - t
import resource
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "wall_s": wall,
                  "load_s": load, "rows": len(got.frame), "n_read": got.n_read, "n_used": got.n_used,
                  "n_dropped": got.n_dropped, "models": len(rep["rates"]),
                  "steps_s": rep["provenance"].get("timings_s")}))
""",
    "peer": """
import json, sys, time
t = time.perf_counter()
with open(sys.argv[1], "rb") as fh:
    tasks = json.load(fh)
import resource
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "wall_s": time.perf_counter() - t, "tasks": len(tasks)}))
""",
}


def run_child(which: str, path: Path) -> dict:
    """Run one loader in a fresh process, which reports its own peak RSS (ru_maxrss of itself)."""
    res = subprocess.run([sys.executable, "-c", CHILD[which], str(path)], stdout=subprocess.PIPE, text=True)
    if res.returncode:
        raise SystemExit(f"{which} loader failed with code {res.returncode}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {**out, "peak_rss_mb": out["rss_kb"] / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--annotations", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="50,000 annotations")
    ap.add_argument("--no-peer", action="store_true", help="skip json.load (needs several GB at 1M)")
    ap.add_argument("--keep", type=Path, help="write the export here and keep it")
    a = ap.parse_args()
    n = 50_000 if a.quick else a.annotations
    with tempfile.TemporaryDirectory() as d:
        path = a.keep or Path(d) / "export.json"
        t = time.perf_counter()
        size = write_export(path, n)
        gen_s = time.perf_counter() - t
        report = run_child("report", path)
        loader = None if a.no_peer else run_child("ours", path)
        peer = None if a.no_peer else run_child("peer", path)
    assert report["n_read"] == n == report["n_used"] + report["n_dropped"]
    mb = 1024 * 1024
    scale = 1_000_000 / n
    base = 200.0  # MB: the interpreter with pandas, scipy, statsmodels, matplotlib loaded (not scaled)
    est_mb = base + (report["peak_rss_mb"] - base) * scale
    print(json.dumps({
        "name": "large_export_report", "unit": "MB peak RSS", "ours": round(report["peak_rss_mb"], 1),
        "peer": round(loader["peak_rss_mb"], 1) if loader else None,
        "ratio": round(loader["peak_rss_mb"] / report["peak_rss_mb"], 2) if loader else None,
        "goal_mb_1m": 2048, "goal_s_1m": 60, "annotations": n, "report_wall_s": round(report["wall_s"], 1),
        "report_load_s": round(report["load_s"], 1), "report_rows": report["rows"],
        "peer_loader_wall_s": round(loader["wall_s"], 1) if loader else None,
        "peer_loader_rows": loader["rows"] if loader else None,
        "peer_json_load_mb": round(peer["peak_rss_mb"], 1) if peer else None,
        "peer_json_load_s": round(peer["wall_s"], 1) if peer else None,
        "file_mb": round(size / mb, 1), "generate_s": round(gen_s, 1),
        "report_wall_1m_est_s": round(report["wall_s"] * scale, 0), "report_rss_1m_est_mb": round(est_mb, 0),
        "report_steps_cumulative_s": report.get("steps_s"), "extrapolated": n != 1_000_000,
    }))


if __name__ == "__main__":
    main()
