"""Build Label Studio review and compare tasks from completion records.

Task data follows docs/CONTRACTS.md exactly; models, variants and generation parameters go only
to the code map (random codes from :class:`oma_analysis.tasks.blinding.CodeMap`), which stays outside
Label Studio. A manifest records what the batch was built from.

>>> from oma_analysis.generate.records import Completion
>>> m = [{"role": "user", "content": "Hi"}]
>>> cs = [Completion.make(prompt_id="p", messages=m, model=x, variant=v, text=f"{x} {v}")
...       for x in ("m1", "m2") for v in ("chat", "temp:1.0")]
>>> b = build(cs, kind="compare", seed=0)
>>> len(b.tasks), sorted(b.tasks[0]["data"])
(2, ['left', 'left_code', 'messages', 'pair_code', 'prompt_id', 'right', 'right_code'])
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oma_analysis import OmaError, __version__
from oma_analysis.generate.records import Completion
from oma_analysis.prompts.records import set_hash
from oma_analysis.rubric import RUBRIC
from oma_analysis.tasks.blinding import FREE_TEXT, CodeMap, find_leaks
from oma_analysis.tasks.blinding import data_field as _data_field

KINDS = ("review", "compare")
PAIR_BY = ("variant", "model", "deployed")
# Task-data fields holding free text (the prompt and the completions): a variant name like
# "chat" may legitimately occur there; everywhere else it would be a leak.


@dataclass
class Batch:
    tasks: list[dict[str, Any]]
    codes: CodeMap
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _code_meta(c: Completion, **extra: Any) -> dict[str, Any]:
    return {"model": c.model, "variant": c.variant, "framing": c.framing, "prompt_id": c.prompt_id,
            "completion_key": c.key, "sample": c.sample, "seed": c.seed, "params": dict(c.params),
            "content_hash": c.content_hash, "source": c.source, **extra}


def _review_task(c: Completion, codes: CodeMap, gold: bool = False, gold_in_data: bool = False) -> dict:
    code = codes.add(**_code_meta(c, kind="review", gold=gold))
    data: dict[str, Any] = {"messages": [dict(m) for m in c.messages], "completion": c.text,
                            "completion_code": code, "prompt_id": c.prompt_id}
    if gold and gold_in_data:
        data["gold"] = True
    task: dict[str, Any] = {"data": data}
    anns = c.meta.get("annotations") if gold else None
    if anns:  # ground-truth answers supplied with the gold record (LS result format)
        task["annotations"] = [{**a, "ground_truth": True} for a in anns]
    return task


def gold_positions(n_real: int, n_gold: int, rng: random.Random) -> list[int]:
    """Where gold tasks go: one random slot in each of ``n_gold`` equal stretches of the batch,
    so every part of a labeller's queue holds gold, not just a random clump.

    >>> gold_positions(8, 2, random.Random(0))
    [3, 8]
    """
    total = n_real + n_gold
    out = []
    for i in range(n_gold):
        lo, hi = (i * total) // n_gold, ((i + 1) * total) // n_gold
        out.append(rng.randrange(lo, max(hi, lo + 1)))
    return out


def build_review(completions: list[Completion], codes: CodeMap, rng: random.Random,
                 gold: list[Completion] = (), gold_rate: float = 0.0, gold_in_data: bool = False
                 ) -> list[dict]:
    """One review task per completion, shuffled, with gold tasks interleaved so that about
    ``gold_rate`` of the batch is gold (the gold pool is cycled if it is small).

    >>> from oma_analysis.generate.records import Completion
    >>> cs = [Completion.make(prompt_id=str(i), messages=[{"role": "user", "content": "q"}], model="m",
    ...                       variant="chat", text="a") for i in range(9)]
    >>> g = [Completion.make(prompt_id="g", messages=[{"role": "user", "content": "q"}], model="gold",
    ...                      variant="chat", text="b")]
    >>> len(build_review(cs, CodeMap(), random.Random(0), g, 0.25))
    12
    """
    if not 0.0 <= gold_rate < 1.0:
        raise OmaError(f"--gold-rate {gold_rate}: must be in [0, 1)")
    if gold_rate > 0 and not gold:
        raise OmaError("--gold-rate: needs --gold FILE with at least one gold completion")
    real = [_review_task(c, codes) for c in completions]
    rng.shuffle(real)
    n_gold = round(gold_rate / (1 - gold_rate) * len(real)) if gold_rate else 0
    pool: list[Completion] = []
    while len(pool) < n_gold:
        chunk = list(gold)
        rng.shuffle(chunk)
        pool.extend(chunk)
    gold_tasks = [_review_task(c, codes, gold=True, gold_in_data=gold_in_data) for c in pool[:n_gold]]
    out = list(real)
    for pos, t in zip(gold_positions(len(real), n_gold, rng), gold_tasks, strict=True):
        out.insert(pos, t)
    return out


def _pairs(group: list[Completion], axis: str, baseline: str | None) -> Iterator[tuple[Completion, Completion]]:
    by = sorted(group, key=lambda c: (getattr(c, axis), c.key))
    base = [c for c in by if getattr(c, axis) == baseline] if baseline else []
    if base:
        for b in base:
            for o in by:
                if getattr(o, axis) != baseline:
                    yield b, o
    else:
        for a, b in itertools.combinations(by, 2):
            if getattr(a, axis) != getattr(b, axis):
                yield a, b


def build_compare(completions: list[Completion], codes: CodeMap, rng: random.Random, pair_by: str = "variant",
                  baseline: str | None = None) -> list[dict]:
    """Side-by-side tasks: two completions of the same prompt that differ in variant (same model
    and sample index) or, with ``pair_by="model"``, in model (same variant). Left/right is a coin
    flip per pair; only the code map knows which is which.

    With ``baseline`` (e.g. ``chat``) each other variant is paired with it; otherwise all pairs.

    >>> from oma_analysis.generate.records import Completion
    >>> cs = [Completion.make(prompt_id="p", messages=[{"role": "user", "content": "q"}], model="m",
    ...                       variant=v, text=v) for v in ("chat", "completion", "temp:0")]
    >>> len(build_compare(cs, CodeMap(), random.Random(0))), len(build_compare(cs, CodeMap(), random.Random(0),
    ...                                                                         baseline="chat"))
    (3, 2)
    """
    if pair_by not in ("variant", "model"):
        raise OmaError(f"--pair-by {pair_by!r}: must be 'variant', 'model' or 'deployed'")
    groups: dict[tuple, list[Completion]] = defaultdict(list)
    for c in completions:
        other = c.model if pair_by == "variant" else c.variant
        groups[(c.prompt_id, other, c.sample)].append(c)
    tasks = []
    for key in sorted(groups, key=lambda k: tuple(map(str, k))):
        for a, b in _pairs(groups[key], pair_by, baseline):
            left, right = (a, b) if rng.random() < 0.5 else (b, a)
            lc = codes.add(**_code_meta(left, kind="compare_side"))
            rc = codes.add(**_code_meta(right, kind="compare_side"))
            pc = codes.add(kind="pair", prompt_id=left.prompt_id, left_code=lc, right_code=rc, pair_by=pair_by,
                           left={"model": left.model, "variant": left.variant},
                           right={"model": right.model, "variant": right.variant})
            tasks.append({"data": {"messages": [dict(m) for m in left.messages], "left": left.text,
                                   "right": right.text, "left_code": lc, "right_code": rc,
                                   "prompt_id": left.prompt_id, "pair_code": pc}})
    rng.shuffle(tasks)
    return tasks


def _temperature(c: Completion) -> float | None:
    t = c.params.get("temperature")
    if t is None and c.variant:  # "temp:0.7" / "completion+temp:0" name their temperature
        for part in c.variant.split("+"):
            if part.startswith("temp:"):
                try:
                    return float(part[5:])
                except ValueError:
                    return None
    return None if t is None else float(t)


def deployed_setting(model: str, meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """How ``model`` is deployed, from its metadata (the code map's side, never Label Studio's).

    ``meta["deployed"]`` may name a variant (``{"variant": "chat"}``) or a framing and a
    temperature (``{"framing": "completion", "temperature": 0.7}``). Without it the framing follows
    the model type: ``completion`` for a base model (``type: base``), ``chat`` otherwise, at the run's
    default temperature (the variant named just by its framing).

    >>> deployed_setting("m", {"type": "base"})
    {'framing': 'completion', 'variant': 'completion'}
    >>> deployed_setting("m", {"deployed": {"framing": "chat", "temperature": 0.7}})
    {'framing': 'chat', 'temperature': 0.7}
    """
    meta = dict(meta or {})
    dep = meta.get("deployed")
    if dep is not None:
        if not isinstance(dep, Mapping) or not ({"variant", "framing", "temperature"} & set(dep)):
            raise OmaError(f"models metadata: model {model!r}: field 'deployed' needs 'variant' or "
                           "'framing'/'temperature'")
        return dict(dep)
    framing = "completion" if str(meta.get("type", "")).lower() == "base" else "chat"
    return {"framing": framing, "variant": framing}


def _is_deployed(c: Completion, setting: Mapping[str, Any]) -> bool:
    if "variant" in setting and c.variant != setting["variant"]:
        return False
    if "framing" in setting and c.framing != setting["framing"] and c.variant != setting.get("variant"):
        return False
    if "temperature" in setting and _temperature(c) != float(setting["temperature"]):
        return False
    return True


def build_elicitation(completions: list[Completion], codes: CodeMap, rng: random.Random,
                      models: Mapping[str, Mapping[str, Any]] | None = None, swap_share: float = 0.0,
                      variant_set: Sequence[str] | None = None) -> tuple[list[dict], dict[str, Any]]:
    """Compare tasks for the elicitation gap: per prompt, model and sample, the deployed completion
    against each uninformative variant of the SAME prompt and model (other framing, other
    temperature). Left/right is a coin flip; a share ``swap_share`` of the pairs is asked again
    (chosen at random) with the sides swapped (``swap_of`` in the code map) to measure position bias.

    Which completion is deployed comes from ``completion.meta["deployed"]`` (true) or the model's
    metadata (:func:`deployed_setting`). The pair's code-map entry carries everything the
    analysis needs to undo the randomisation: ``model, prompt_id, variant`` (the non-deployed one),
    ``deployed_variant, deployed_setting, deployed_side`` and, when the records carry it, the simulation truth
    (``truth_vs_deployed``, ``truth_aspects``). Returns the tasks and the manifest's additions
    (the fixed variant set per model, the deployed settings, the swapped share).

    ``variant_set`` fixes the variants in advance (the rate is for that set: more variants, more
    chances): others are left out (``n_left_out``), and each (prompt, model) lacking one of them is
    counted in ``n_missing``.

    >>> m = [{"role": "user", "content": "q"}]
    >>> cs = [Completion.make(prompt_id=str(i), messages=m, model="m", variant=v, text=v + str(i))
    ...       for i in range(10) for v in ("chat", "completion", "temp:1.0")]
    >>> tasks, man = build_elicitation(cs, CodeMap(), random.Random(0), swap_share=0.5)
    >>> len(tasks), man["variant_set"], man["n_swapped"]
    (30, {'m': ['completion', 'temp:1.0']}, 10)
    """
    if not 0.0 <= swap_share <= 1.0:
        raise OmaError(f"--swap-share {swap_share}: must be in [0, 1]")
    models = models or {}
    groups: dict[tuple, list[Completion]] = defaultdict(list)
    for c in completions:
        groups[(c.prompt_id, c.model, c.sample)].append(c)
    settings = {m: deployed_setting(m, models.get(m)) for m in sorted({c.model for c in completions})}
    pairs: list[tuple[Completion, Completion]] = []
    used: dict[str, set[str]] = defaultdict(set)
    wanted = set(variant_set) if variant_set else None
    n_left_out = n_missing = 0
    for key in sorted(groups, key=lambda k: tuple(map(str, k))):
        group = sorted(groups[key], key=lambda c: (c.variant, c.key))
        marked = [c for c in group if c.meta.get("deployed") is True]
        dep = marked or [c for c in group if _is_deployed(c, settings[key[1]])]
        if len(dep) != 1:
            raise OmaError(f"prompt {key[0]!r}, model {key[1]!r}, sample {key[2]}: {len(dep)} completions match "
                           f"the deployed setting {settings[key[1]]} (need exactly one; set it in the models "
                           "metadata or mark one record with meta.deployed)")
        others = [o for o in group if o is not dep[0]]
        if wanted is not None:
            n_left_out += sum(o.variant not in wanted for o in others)
            others = [o for o in others if o.variant in wanted]
            n_missing += len(wanted - {o.variant for o in others} - {dep[0].variant})
        for o in others:
            pairs.append((dep[0], o))
            used[key[1]].add(o.variant)
    tasks: list[dict] = []
    n_swapped = 0
    swapped = set(rng.sample(range(len(pairs)), round(swap_share * len(pairs))))  # an exact share
    for i, (d, v) in enumerate(pairs):
        flip = rng.random() < 0.5
        swap = i in swapped
        dc = codes.add(**_code_meta(d, kind="compare_side", deployed=True))
        vc = codes.add(**_code_meta(v, kind="compare_side", deployed=False))
        truth = {k: v.meta[k] for k in ("truth_vs_deployed", "truth_aspects") if k in v.meta}
        first = None
        for copy in ((False, True) if swap else (False,)):
            left_dep = flip != copy
            lc, rc = (dc, vc) if left_dep else (vc, dc)
            left, right = (d, v) if left_dep else (v, d)
            pc = codes.add(kind="pair", pair_by="deployed", model=d.model, prompt_id=d.prompt_id, sample=d.sample,
                           variant=v.variant, deployed_variant=d.variant, deployed_setting=settings[d.model],
                           deployed_side="left" if left_dep else "right", left_code=lc, right_code=rc,
                           swap_of=first, **truth)
            first = first or pc
            n_swapped += copy
            tasks.append({"data": {"messages": [dict(m) for m in d.messages], "left": left.text,
                                   "right": right.text, "left_code": lc, "right_code": rc,
                                   "prompt_id": d.prompt_id, "pair_code": pc}})
    rng.shuffle(tasks)
    manifest = {"deployed": settings, "variant_set": {m: sorted(v) for m, v in sorted(used.items())},
                "variant_set_fixed": sorted(wanted) if wanted is not None else None, "n_left_out": n_left_out,
                "n_missing": n_missing, "swap_share": swap_share, "n_pairs": len(pairs), "n_swapped": n_swapped}
    return tasks, manifest


def build(completions: list[Completion], kind: str, seed: int | None = None, overlap: int = 1,
          gold: list[Completion] = (), gold_rate: float = 0.0, codes: CodeMap | None = None,
          pair_by: str = "variant", baseline: str | None = None, gold_in_data: bool = False,
          source: str = "", model_meta: Mapping[str, Mapping[str, Any]] | None = None,
          swap_share: float = 0.0, variant_set: Sequence[str] | None = None) -> Batch:
    """Tasks, code map and manifest for one batch. Refuses to return tasks that name a model
    (or a variant outside the free text)."""
    if kind not in KINDS:
        raise OmaError(f"--kind {kind!r}: must be one of {KINDS}")
    if pair_by not in PAIR_BY:
        raise OmaError(f"--pair-by {pair_by!r}: must be one of {PAIR_BY}")
    if overlap < 1:
        raise OmaError(f"--overlap {overlap}: must be at least 1")
    if not completions:
        raise OmaError(f"{source or 'completions'}: no completions to build tasks from")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    codes = codes if codes is not None else CodeMap()
    elicit: dict[str, Any] = {}
    if kind == "review":
        tasks = build_review(completions, codes, rng, list(gold), gold_rate, gold_in_data)
    elif pair_by == "deployed":
        tasks, elicit = build_elicitation(completions, codes, rng, model_meta, swap_share, variant_set)
        if not tasks:
            raise OmaError(f"{source or 'completions'}: no prompt has a variant beside the deployed completion; "
                           "nothing to compare")
    else:
        tasks = build_compare(completions, codes, rng, pair_by, baseline)
        if not tasks:
            raise OmaError(f"{source or 'completions'}: no two completions of one prompt differ in {pair_by}; "
                           "nothing to compare")
    models = sorted({c.model for c in [*completions, *gold]})
    variants = sorted({c.variant for c in [*completions, *gold]})
    leaks = find_leaks(tasks, models, variants)
    structural = [x for x in leaks if _data_field(x[1]) not in FREE_TEXT]
    if structural:
        i, path, name = structural[0]
        raise OmaError(f"task #{i}: field {path!r} would reveal {name!r} to labellers")
    warnings = [f"task #{i}: field {p} mentions model name {n!r} in its text" for i, p, n in leaks]
    manifest = {
        "batch_id": "b" + "".join(random.SystemRandom().choice("0123456789abcdef") for _ in range(12)),
        "kind": kind, "created": datetime.now(UTC).isoformat(), "oma_version": __version__,
        "rubric_version": RUBRIC.version, "source": source,
        "prompt_set_hash": set_hash((c.prompt_id, c.messages) for c in completions),
        "n_prompts": len({c.prompt_id for c in completions}), "n_completions": len(completions),
        "n_tasks": len(tasks), "n_gold_tasks": sum(1 for t in tasks if _is_gold(t, codes)),
        "models": models, "variants": variants,
        "generation_seeds": sorted({c.seed for c in completions if c.seed is not None}),
        "samples": sorted({c.sample for c in completions}),
        "build_seed": seed, "overlap": overlap, "gold_rate": gold_rate if kind == "review" else 0.0,
        "pair_by": pair_by if kind == "compare" else None, "baseline": baseline if kind == "compare" else None,
        **elicit,
    }
    return Batch(tasks, codes, manifest, warnings)


def _is_gold(task: dict, codes: CodeMap) -> bool:
    code = task["data"].get("completion_code")
    return bool(code and codes[code].get("gold"))
