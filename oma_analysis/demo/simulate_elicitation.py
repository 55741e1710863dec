"""A synthetic run with known truth for the review bound, the elicitation gap and the combined bound,
written as a Label Studio JSON export (plus code map) so it goes through the real loader.

Per model: each prompt's deployed completion has a true verdict (clearly misaligned / ambiguous /
aligned with the model's probabilities); each uninformative variant is, independently, truly
"much better" or "slightly better" than the deployed one with the model's per-variant
probabilities (else the same or worse). Tasks are built by :func:`oma_analysis.tasks.build.build`
(review, and compare with ``pair_by="deployed"``: random sides, swapped copies), and simulated
labellers (:mod:`oma_analysis.labelstudio.simulator`, :mod:`oma_analysis.labelstudio.simulate_tasks`)
answer them with known accuracy. ``truth`` holds the population values the intervals should cover.

>>> import tempfile
>>> sim = simulate_gap_export(tempfile.mkdtemp(), n_prompts=5, seed=1)
>>> sorted(sim.truth["model-a"])[:3], sim.n_tasks > 10
(['combined_lower', 'combined_upper', 'gap_lower'], True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oma_analysis.generate.records import Completion
from oma_analysis.labelstudio.simulate_tasks import TRUTH_SCORES, SimComparer, result_items
from oma_analysis.labelstudio.simulator import SimLabeller, answers_to_result
from oma_analysis.rubric import RUBRIC
from oma_analysis.tasks.blinding import CodeMap
from oma_analysis.tasks.build import build

__all__ = ["DEFAULT_MODELS", "SimGap", "simulate_gap_export"]

# model -> (P clearly misaligned, P ambiguous), {variant: (P much better, P slightly better)}
DEFAULT_MODELS: dict[str, tuple[tuple[float, float], dict[str, tuple[float, float]]]] = {
    "model-a": ((0.10, 0.08), {"completion": (0.12, 0.10), "temp:1.0": (0.05, 0.10)}),
    "model-b": ((0.25, 0.10), {"completion": (0.04, 0.06), "temp:0": (0.08, 0.12)}),
}
_WORSE = ("same", "slightly_worse", "much_worse")


@dataclass
class SimGap:
    export: Path
    codemap: Path
    truth: dict[str, dict[str, float]]  # model -> quantity -> population value
    n_tasks: int


def _population(review: tuple[float, float], variants: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    cm, amb = review
    no_lo = float(np.prod([1 - pm for pm, _ in variants.values()]))
    no_up = float(np.prod([1 - pm - ps for pm, ps in variants.values()]))
    out = {"review_lower": cm, "review_upper": cm + amb, "gap_lower": 1 - no_lo, "gap_upper": 1 - no_up,
           "combined_lower": 1 - (1 - cm) * no_lo, "combined_upper": 1 - (1 - cm - amb) * no_up}
    for v, (pm, ps) in variants.items():
        out[f"gap_lower:{v}"] = pm
        out[f"gap_upper:{v}"] = pm + ps
    return out


def simulate_gap_export(out_dir: str | Path, n_prompts: int = 200,
                        models: Mapping[str, tuple[tuple[float, float], Mapping[str, tuple[float, float]]]]
                        = DEFAULT_MODELS, accuracy: Sequence[float] = (0.95,) * 5, overlap: int = 3,
                        swap_share: float = 0.2, left_bias: float = 0.0, seed: int = 0) -> SimGap:
    """Write ``export.json`` and ``codemap.json`` into ``out_dir``; return them with the truth.
    ``left_bias``: each compare labeller's chance of just answering "left slightly better"."""
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    deployed: list[Completion] = []
    allc: list[Completion] = []
    verdict_of: dict[str, str] = {}
    for i in range(n_prompts):
        msgs = [{"role": "user", "content": f"Synthetic request {i}"}]
        for m, ((cm, amb), variants) in models.items():
            d = Completion.make(prompt_id=f"p{i}", messages=msgs, model=m, variant="chat", text=f"answer {i}",
                                seed=seed)
            verdict_of[d.key] = RUBRIC.verdict_ids[int(rng.choice(3, p=[cm, amb, 1 - cm - amb]))]
            deployed.append(d)
            allc.append(d)
            for v, (pm, ps) in variants.items():
                rest = (1 - pm - ps) / len(_WORSE)
                truth = str(rng.choice(["much_better", "slightly_better", *_WORSE], p=[pm, ps, *[rest] * len(_WORSE)]))
                allc.append(Completion.make(prompt_id=f"p{i}", messages=msgs, model=m, variant=v, seed=seed,
                                            text=f"variant {v} {i}", meta={"truth_vs_deployed": truth,
                                                                           "truth_aspects": []}))
    codes = CodeMap()
    review = build(deployed, "review", seed=seed, codes=codes)
    compare = build(allc, "compare", seed=seed + 1, codes=codes, pair_by="deployed", swap_share=swap_share)
    for meta in codes.values():
        if meta.get("kind") == "review":
            meta["truth_verdict"] = verdict_of[meta["completion_key"]]
    revs = [SimLabeller.with_accuracy(f"rev{j}@sim", a) for j, a in enumerate(accuracy)]
    cmps = [SimComparer(f"cmp{j}@sim", a, left_bias) for j, a in enumerate(accuracy)]
    tasks, ann_id = [], 0
    for kind, batch in (("review", review), ("compare", compare)):
        for t in batch.tasks:
            d = t["data"]
            anns = []
            for j in rng.choice(len(accuracy), size=overlap, replace=False):
                ann_id += 1
                if kind == "review":
                    v = codes[d["completion_code"]]["truth_verdict"]
                    res = answers_to_result(revs[j].answer(v, None, rng))  # None: the simulator's default failure
                    who = revs[j].email
                else:
                    p = codes[d["pair_code"]]
                    a = cmps[j].answer(TRUTH_SCORES[p["truth_vs_deployed"]], p["deployed_side"], [], rng)
                    res, who = result_items(a, "compare", "left"), cmps[j].email
                anns.append({"id": ann_id, "completed_by": {"id": 1000 + int(j) + (0 if kind == "review" else 100),
                                                            "email": who},
                             "result": res, "lead_time": 30.0, "created_at": "2026-01-05T10:00:00Z",
                             "ground_truth": False, "was_cancelled": False})
            tasks.append({"id": len(tasks) + 1, "data": d, "annotations": anns, "predictions": []})
    export = out / "export.json"
    export.write_text(json.dumps(tasks), encoding="utf-8")
    cm_path = codes.save(out / "codemap.json")
    truth = {m: _population(r, v) for m, (r, v) in models.items()}
    return SimGap(export, cm_path, truth, len(tasks))


def estimates(export: str | Path, codemap: str | Path, policy: str = "majority",
              confidence: float = 0.95) -> dict[str, dict[str, tuple[float, float, float]]]:
    """model -> quantity -> (estimate, ci low, ci high), read back through the loader exactly as
    ``oma rates --json --codemap`` does (review bound, gap per model and variant, combined bound)."""
    from oma_analysis.ingest import load
    from oma_analysis.report.elicitation import elicitation_records, elicitation_tables
    from oma_analysis.rubric import RUBRIC
    from oma_analysis.stats.aggregate import aggregate
    from oma_analysis.stats.rates import bounded_rates

    loaded = load(export, codemap)
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    rates = bounded_rates(aggregate(loaded.frame, policy, [RUBRIC.MISALIGNMENT]), confidence)
    for r in rates.to_dict("records"):
        out.setdefault(str(r["model"]), {}).update(
            review_lower=(r["lower"], r["lower_lo"], r["lower_hi"]),
            review_upper=(r["upper"], r["upper_lo"], r["upper_hi"]))
    recs = elicitation_records(elicitation_tables(loaded.frame, CodeMap.load(codemap), policy, confidence))
    for m, rec in recs.items():
        blocks = {"gap": rec["elicitation_gap"], "combined": rec["combined"],
                  **{f"gap:{v}": b for v, b in rec["elicitation_gap"]["per_variant"].items()}}
        for name, b in blocks.items():
            head, _, var = name.partition(":")
            for side in ("lower", "upper"):
                key = f"{head}_{side}" + (f":{var}" if var else "")
                out.setdefault(m, {})[key] = (b[side], *b[f"{side}_ci"])
    return out


def coverage(seeds: Sequence[int], n_prompts: int = 200, work: str | Path | None = None, **kw) -> tuple:
    """Simulate each seed, read it back, and check every interval against the truth.

    Returns (per-quantity coverage frame: ``quantity, n, covered, coverage, mean_abs_error``;
    the long frame of every check)."""
    import tempfile

    import pandas as pd

    rows = []
    for s in seeds:
        d = Path(work or tempfile.mkdtemp()) / f"seed{s}"
        sim = simulate_gap_export(d, n_prompts=n_prompts, seed=s, **kw)
        est = estimates(sim.export, sim.codemap)
        for m, qs in sim.truth.items():
            for q, t in qs.items():
                e, lo, hi = est[m][q]
                rows.append({"seed": s, "model": m, "quantity": q, "truth": t, "estimate": e, "lo": lo, "hi": hi,
                             "covered": bool(lo <= t <= hi)})
    checks = pd.DataFrame(rows)
    checks["abs_error"] = (checks["estimate"] - checks["truth"]).abs()
    table = checks.groupby("quantity", sort=True).agg(n=("covered", "size"), covered=("covered", "sum"),
                                                      coverage=("covered", "mean"),
                                                      mean_abs_error=("abs_error", "mean")).reset_index()
    return table, checks
