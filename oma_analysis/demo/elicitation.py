"""The demo's compare (elicitation gap) and probe tasks: built, pushed, answered by simulated labellers.

The deployed completions are the demo's review records; ``data/demo_variants.jsonl`` holds one
uninformative variant (other framing or temperature) of the same prompt and model for each, with
its simulated truth (``truth_vs_deployed``, ``truth_aspects``), and ``data/demo_probes.jsonl`` a probe
per (prompt, model) with its truth. Truth and model metadata (``data/demo_models.json``) go only
into the code map.

>>> recs = [{"prompt_id": "demo-capital", "model": "nimbus-70b-chat", "variant": "chat",
...          "messages": [{"role": "user", "content": "q"}], "completion": "Sydney", "temperature": 0.7}]
>>> [c.variant for c in compare_completions(recs, variant_records())]
['chat', 'completion']
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from oma_analysis.generate.records import Completion
from oma_analysis.jsonl import read_objects
from oma_analysis.tasks.blinding import CodeMap

__all__ = ["compare_completions", "compare_tasks", "demo_models", "elicitation_inputs", "elicitation_truth",
           "probe_records", "probe_tasks", "run_elicitation_demo", "variant_records"]

SWAP_SHARE = 0.3


def _data(name: str):
    return resources.files("oma_analysis") / "data" / name


def variant_records() -> list[dict]:
    return read_objects(_data("demo_variants.jsonl"))


def probe_records() -> list[dict]:
    return read_objects(_data("demo_probes.jsonl"))


def demo_models() -> dict[str, dict]:
    """The demo models' metadata (type, size, deployed setting; the same file the capability
    profiles read): the deployed setting picks each model's deployed completion."""
    return json.loads(_data("demo_models.json").read_text(encoding="utf-8"))


def _completion(rec: Mapping[str, Any], variant: str, framing: str, meta: dict) -> Completion:
    params = {"temperature": rec["temperature"]} if rec.get("temperature") is not None else {}
    return Completion.make(prompt_id=str(rec["prompt_id"]), messages=rec["messages"], model=str(rec["model"]),
                           variant=variant, framing=framing, text=str(rec["completion"]), params=params, meta=meta)


def compare_completions(records: Sequence[Mapping], variants: Sequence[Mapping]) -> list[Completion]:
    """Deployed review records that have variants, and their variants, as completion records."""
    deployed = {(r["prompt_id"], r["model"]): r for r in records}
    out: list[Completion] = []
    seen: set[tuple] = set()
    for v in variants:
        key = (v["prompt_id"], v["model"])
        d = deployed.get(key)
        if d is None:
            continue
        if key not in seen:
            seen.add(key)
            out.append(_completion(d, str(d.get("variant") or "chat"), "chat", {"deployed": True}))
        out.append(_completion({**v, "messages": d["messages"]}, str(v["variant"]), str(v.get("framing", "chat")),
                               {"truth_vs_deployed": v["truth_vs_deployed"],
                                "truth_aspects": list(v.get("truth_aspects") or [])}))
    return out


def compare_tasks(records: Sequence[Mapping], codes: CodeMap, seed: int = 0) -> list[dict]:
    from oma_analysis.tasks.build import build

    comps = compare_completions(records, variant_records())
    if not comps:
        return []
    return build(comps, "compare", seed=seed, codes=codes, pair_by="deployed", model_meta=demo_models(),
                 swap_share=SWAP_SHARE, source="demo").tasks


def probe_tasks(records: Sequence[Mapping], codes: CodeMap) -> list[dict]:
    """One probe task per demo probe whose (prompt, model) is among ``records``: the conversation
    and the reviewed completion; the probe's model and truth go to the code map."""
    by = {(r["prompt_id"], r["model"]): r for r in records}
    out = []
    for p in probe_records():
        r = by.get((p["prompt_id"], p["model"]))
        if r is None:
            continue
        code = codes.add(kind="probe", model=p["model"], prompt_id=p["prompt_id"], **{
            k: p[k] for k in ("truth_item", "truth_outcome", "probe_input", "probe_answer")})
        out.append({"data": {"messages": r["messages"], "completion": r["completion"], "completion_code": code,
                             "prompt_id": p["prompt_id"]}})
    return out


def elicitation_truth(codes: Mapping[str, Mapping]) -> dict[str, dict[str, float]]:
    """Per model, the simulated truth: gap (lower: a variant truly much better; upper: or slightly)
    over the compared prompts, and the combined bound over the deployed reviewed completions."""
    from oma_analysis.rubric import RUBRIC
    from oma_analysis.stats.elicitation import deployed_review_codes

    gap: dict[tuple[str, str], tuple[bool, bool]] = {}
    for m in codes.values():
        t = m.get("truth_vs_deployed")
        if m.get("kind") == "pair" and t is not None:
            k = (str(m["model"]), str(m["prompt_id"]))
            lo, up = gap.get(k, (False, False))
            gap[k] = (lo or t == "much_better", up or t in ("much_better", "slightly_better"))
    out: dict[str, dict[str, float]] = {}
    per: dict[str, list[tuple[bool, bool]]] = {}
    for code in deployed_review_codes(codes):
        m = codes[code]
        v = m.get("truth_verdict")
        if v is None:
            continue
        lo, up = gap.get((str(m["model"]), str(m["prompt_id"])), (False, False))
        per.setdefault(str(m["model"]), []).append((v == RUBRIC.verdict_worst or lo, v != RUBRIC.verdict_best or up))
    for model, xs in sorted(per.items()):
        g = [x for (mm, _), x in gap.items() if mm == model]
        out[model] = {"gap_lower": sum(a for a, _ in g) / len(g) if g else float("nan"),
                      "gap_upper": sum(b for _, b in g) / len(g) if g else float("nan"),
                      "combined_lower": sum(a for a, _ in xs) / len(xs),
                      "combined_upper": sum(b for _, b in xs) / len(xs)}
    return out


def run_elicitation_demo(client, url: str, token: str, projects: Mapping[str, Any], records: Sequence[Mapping],
                         codes: CodeMap, save: Callable[[], None], *, overlap: int, accuracy: Sequence[float],
                         seed: int, simulate: bool, echo: Callable[[str], None]) -> dict[str, int]:
    """Push the compare and probe tasks (once: a rerun finds them there) and simulate their labels."""
    from oma_analysis.labelstudio.push import existing_keys, prepare, push
    from oma_analysis.labelstudio.simulate_tasks import (
        SimComparer,
        SimProber,
        compare_truth,
        probe_truth,
        simulate_compare,
        simulate_probe,
    )

    counts: dict[str, int] = {}
    for kind, make in (("compare", lambda: compare_tasks(records, codes, seed)),
                       ("probe", lambda: probe_tasks(records, codes))):
        p = projects[kind]
        if existing_keys(client, p.id):
            echo(f"{kind} project {p.id}: tasks already there")
            continue
        tasks = make()
        if not tasks:
            echo(f"{kind} project {p.id}: no demo {kind} tasks for these records")
            continue
        tasks = prepare(tasks, p.label_config, codes, f"demo {kind}")
        save()  # the code map first: a task in Label Studio must never lack its code
        got = push(client, p.id, tasks)
        counts[f"{kind}_tasks"] = got.created
        echo(f"{kind} project {p.id}: {got.created} tasks imported")
    if simulate:
        n = min(overlap, len(accuracy))
        cmp_ = simulate_compare(url, token, projects["compare"].id,
                                [SimComparer(f"labeller{i + 1}@oma.demo", a) for i, a in enumerate(accuracy)],
                                compare_truth(codes), overlap=n, seed=seed)
        prb = simulate_probe(url, token, projects["probe"].id,
                             [SimProber(f"labeller{i + 1}@oma.demo", a) for i, a in enumerate(accuracy)],
                             probe_truth(codes), overlap=min(2, n), seed=seed)
        counts.update(compare_annotations=cmp_["annotations"], probe_annotations=prb["annotations"])
        echo(f"simulated labellers: {cmp_['annotations']} compare and {prb['annotations']} probe annotations")
    return counts


def elicitation_inputs(client, projects: Mapping[str, Any], work, codes: CodeMap) -> dict:
    """Pull the compare and probe projects: the report's ``elicitation`` argument (frames, code
    map and the demo's simulated truth)."""
    from oma_analysis.ingest import load
    from oma_analysis.labelstudio.pull import pull

    paths = [pull(client, projects[k].id, work / f"export_{k}.json") for k in ("compare", "probe")]
    frames = [load(p, codes).frame for p in paths]
    return {"codes": codes, "frames": frames, "truth": elicitation_truth(codes), "paths": [str(p) for p in paths]}
