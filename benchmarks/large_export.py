"""Loading a 1M-annotation Label Studio JSON export: wall time and peak RSS.

A synthetic export (tasks x 3 labellers, full annotator objects, the review rubric's usual answers
incl. multi-choice and conditional questions) is written to disk task by task, then loaded with
``read_input`` in a child process so its peak RSS is measured alone. Peak RSS is compared with the
file size and with the frame's own memory: the loader streams (ijson), so the raw file is never
held, and the rows are built column-wise. The peer is ``json.load`` of the same file (what a
non-streaming loader would at least need), run the same way; ratio = peer RSS / ours.

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
from oma_analysis.ingest import read_input
t = time.perf_counter()
got = read_input(sys.argv[1])
wall = time.perf_counter() - t
import resource
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "wall_s": wall, "rows": len(got.frame), "n_read": got.n_read, "n_used": got.n_used,
                  "n_dropped": got.n_dropped, "frame_bytes": int(got.frame.memory_usage(deep=True).sum())}))
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
        ours = run_child("ours", path)
        peer = None if a.no_peer else run_child("peer", path)
    assert ours["n_read"] == n == ours["n_used"] + ours["n_dropped"]
    mb = 1024 * 1024
    print(json.dumps({
        "name": "large_export_load", "unit": "MB peak RSS", "ours": round(ours["peak_rss_mb"], 1),
        "peer": round(peer["peak_rss_mb"], 1) if peer else None,
        "ratio": round(peer["peak_rss_mb"] / ours["peak_rss_mb"], 2) if peer else None,
        "annotations": n, "rows": ours["rows"], "file_mb": round(size / mb, 1), "generate_s": round(gen_s, 1),
        "load_wall_s": round(ours["wall_s"], 1), "frame_mb": round(ours["frame_bytes"] / mb, 1),
        "rss_over_file": round(ours["peak_rss_mb"] * mb / size, 2),
        "rss_over_frame": round(ours["peak_rss_mb"] * mb / ours["frame_bytes"], 2),
        "peer_wall_s": round(peer["wall_s"], 1) if peer else None,
    }))


if __name__ == "__main__":
    main()
