"""Run a generator over a prompt set × variants × samples, resumably.

The output JSONL is also the cache: a completion whose key (prompt × model × variant × seed ×
sample) is already in it is skipped, so an interrupted run is finished by running it again.
Records are appended and flushed one by one.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oma_analysis import OmaError
from oma_analysis.generate.backends import Generator, GenParams, Output, make_generator, parse_model
from oma_analysis.generate.framing import Variant
from oma_analysis.generate.records import Completion, cache_key, read_completions
from oma_analysis.prompts.records import PromptRecord


@dataclass(frozen=True)
class Job:
    prompt: PromptRecord
    variant: Variant
    sample: int
    key: str


@dataclass
class RunResult:
    generated: int
    skipped: int
    out: Path


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from the run seed and what is being generated (no global RNG state).

    >>> derive_seed(0, "a") == derive_seed(0, "a") != derive_seed(1, "a")
    True
    """
    return int.from_bytes(hashlib.sha256(json.dumps(parts).encode()).digest()[:4], "big") >> 1


def plan(prompts: list[PromptRecord], model: str, variants: list[Variant], samples: int, seed: int,
         done: set[str]) -> tuple[list[Job], int]:
    """Jobs still to run, and how many were found done.

    >>> from oma_analysis.prompts.records import core_prompts
    >>> from oma_analysis.generate.framing import parse_variants
    >>> jobs, skipped = plan(core_prompts()[:2], "m", parse_variants("chat,temp:0"), 3, 0, set())
    >>> len(jobs), skipped
    (12, 0)
    """
    jobs, skipped = [], 0
    for p in prompts:
        for v in variants:
            for s in range(samples):
                k = cache_key(p.id, p.messages, model, v.name, seed, s)
                if k in done:
                    skipped += 1
                else:
                    jobs.append(Job(p, v, s, k))
    return jobs, skipped


def _record(job: Job, model: str, o: Output, params: dict[str, Any], seed: int, item_seed: int, backend: str,
            elapsed: float) -> Completion:
    return Completion(
        key=job.key, prompt_id=job.prompt.id, messages=job.prompt.messages, model=model, variant=job.variant.name,
        text=o.text, sample=job.sample, seed=seed, framing=job.variant.framing,
        params={**params, "sampling_seed": item_seed, "backend": backend,
                **({"stop": o.extra["stop"]} if "stop" in o.extra else {})},
        created="", content_hash="", source="generate",
        meta={"input_text": o.input_text, "finish_reason": o.finish_reason, "truncated": o.truncated,
              "elapsed_s": round(elapsed, 4),
              **{k: v for k, v in o.extra.items() if k != "stop"}},
    )


def run(prompts: list[PromptRecord], model_spec: str, out: str | Path, variants: list[Variant],
        samples: int = 1, seed: int = 0, concurrency: int = 4, params: GenParams | None = None,
        batch_size: int = 8, progress: bool = True, model_name: str | None = None,
        generator: Any = None) -> RunResult:
    """Generate every missing completion and append it to ``out``."""
    from datetime import UTC, datetime

    from tqdm import tqdm

    from oma_analysis.generate.records import content_hash

    params = params or GenParams()
    if samples < 1 or concurrency < 1 or batch_size < 1:
        raise OmaError("--samples, --concurrency and --batch-size must be at least 1")
    backend, _, name = parse_model(model_spec)
    model = model_name or model_spec
    out = Path(out)
    done = {c.key for c in read_completions(out)} if out.exists() else set()
    jobs, skipped = plan(prompts, model, variants, samples, seed, done)
    if not jobs:
        return RunResult(0, skipped, out)
    lock = threading.Lock()
    bar = tqdm(total=len(jobs), desc=f"generate {name}", unit="completion", disable=not progress)
    fh = open(out, "a", encoding="utf-8")

    def emit(c: Completion) -> None:
        c = Completion(**{**c.to_dict(), "created": datetime.now(UTC).isoformat(),
                          "content_hash": content_hash(c.text)})
        with lock:
            fh.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
            fh.flush()
            bar.update(1)

    try:
        gen = generator or make_generator(model_spec)
        if backend == "hf":
            _run_hf(gen, jobs, model, params, seed, batch_size, emit)
        else:
            _run_api(gen, jobs, model, params, seed, concurrency, emit)
    finally:
        fh.close()
        bar.close()
    return RunResult(len(jobs), skipped, out)


def _run_hf(gen: Generator, jobs: list[Job], model: str, params: GenParams, seed: int, batch_size: int,
            emit: Callable[[Completion], None]) -> None:
    by_variant: dict[str, list[Job]] = {}
    for j in jobs:
        by_variant.setdefault(j.variant.name, []).append(j)
    for group in by_variant.values():
        v = group[0].variant
        p = params.for_variant(v)
        for i in range(0, len(group), batch_size):
            batch = group[i:i + batch_size]
            bseed = derive_seed(seed, [j.key for j in batch])
            t0 = time.perf_counter()
            outs = gen.generate([j.prompt.messages for j in batch], v, p, bseed)
            el = (time.perf_counter() - t0) / len(batch)
            for j, o in zip(batch, outs, strict=True):
                emit(_record(j, model, o, p, seed, bseed, gen.backend, el))


def _run_api(gen: Any, jobs: list[Job], model: str, params: GenParams, seed: int, concurrency: int,
             emit: Callable[[Completion], None]) -> None:
    def one(j: Job) -> Completion:
        p = params.for_variant(j.variant)
        s = derive_seed(seed, j.key)
        t0 = time.perf_counter()
        o = gen.generate_one(j.prompt.messages, j.variant, p, s)
        return _record(j, model, o, p, seed, s, gen.backend, time.perf_counter() - t0)

    # Bounded concurrency: at most `concurrency` requests in flight.
    with ThreadPoolExecutor(max_workers=concurrency) as ex:
        futs = [ex.submit(one, j) for j in jobs]
        for f in as_completed(futs):
            emit(f.result())
