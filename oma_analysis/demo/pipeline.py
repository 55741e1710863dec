"""The main job on the embedded default: the whole loop, from completions to report, in one call.

Label Studio (SQLite) -> review/compare/probe projects -> blinded demo completions -> ML backend
pre-annotations -> simulated labellers (real users, real annotations) -> export -> report.
Everything is idempotent: a rerun reuses the server, projects, tasks and annotations.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from oma_analysis import OmaError
from oma_analysis.rubric import RUBRIC
from oma_analysis.tasks.blinding import CodeMap

DEFAULT_ACCURACY = (0.95, 0.9, 0.85, 0.7)
# Synthetic truth for the Self-Instruct predictions (no human labels exist for them): per-model
# rates of (clearly misaligned, ambiguous), by training regime. They drive the simulation only and
# are not a judgement of those models.
SELF_INSTRUCT_RATES = {"davinci": (0.45, 0.15), "text-davinci-001": (0.2, 0.1), "text-davinci-002": (0.12, 0.08),
                       "text-davinci-003": (0.06, 0.06)}
SELF_INSTRUCT_DEFAULT_RATES = (0.3, 0.12)


@dataclass
class DemoResult:
    url: str
    username: str
    projects: dict[str, int]
    codemap: Path
    export: Path | None = None
    report: Path | None = None
    true_rates: dict[str, dict[str, float]] = field(default_factory=dict)
    estimated: list[dict] = field(default_factory=list)
    backend: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    elicitation: dict = field(default_factory=dict)  # gap + combined bound per model, evidence, truth
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per phase (timings.json)


def demo_records() -> list[dict]:
    from oma_analysis.labelstudio.push import read_jsonl

    return read_jsonl(resources.files("oma_analysis") / "data" / "demo_completions.jsonl")


def demo_models() -> dict[str, dict]:
    """Model metadata of the demo's models (size, regime, deployed setting): goes to the code map."""
    return json.loads((resources.files("oma_analysis") / "data" / "demo_models.json").read_text(encoding="utf-8"))


def self_instruct_records(path: str | Path, limit: int, seed: int = 0) -> list[dict]:
    """Completion records for the eight Self-Instruct models on the first ``limit`` instructions,
    each with a synthetic ``truth_verdict`` drawn from SELF_INSTRUCT_RATES."""
    from oma_analysis.prompts.importers import import_self_instruct

    imported = import_self_instruct(path)
    keep = {p.id for p in imported.prompts[:limit]}
    rng = np.random.default_rng(seed)
    out = []
    for c in imported.completions:
        if c.prompt_id not in keep:
            continue
        cm, amb = SELF_INSTRUCT_RATES.get(c.model, SELF_INSTRUCT_DEFAULT_RATES)
        verdict = RUBRIC.verdict_ids[int(rng.choice(3, p=[cm, amb, 1 - cm - amb]))]
        rec = {"prompt_id": c.prompt_id, "messages": c.messages, "completion": c.text, "model": c.model,
               "variant": c.variant, "truth_verdict": verdict, "truth_source": "synthetic", "source": "self-instruct"}
        if verdict != RUBRIC.verdict_best:
            rec["truth_failure"] = RUBRIC.failure_ids.lower_quality
        out.append(rec)
    if not out:
        raise OmaError(f"{path}: no Self-Instruct predictions found")
    return out


def true_rates(codes: CodeMap) -> dict[str, dict[str, float]]:
    """Per model: the simulated true lower (clearly misaligned) and upper (+ ambiguous) rates.

    The truth in the code map is what a blinded labeller sees; the metric's truth also applies the
    model's declared capability profile (e.g. a base model is not expected to say "I don't know"),
    exactly as the report does: the rule on the simulated answers with that profile."""
    from oma_analysis.labelstudio.simulator import consistent_answers
    from oma_analysis.rubric import effective_verdict
    from oma_analysis.stats.profiles import capability_map, declarations_profile

    prof = declarations_profile(codes)
    # A probe on the same prompt that truly shows the model can do an item is evidence about this
    # model on this item (it beats a declaration), as the report reads the probe annotations.
    from oma_analysis.stats.evidence import probe_questions

    shows_capable = probe_questions()[1].choice_ids[0]
    shown: dict[tuple[str, str], set[str]] = {}
    for meta in codes.values():
        if meta.get("kind") == "probe" and meta.get("truth_outcome") == shows_capable:
            shown.setdefault((str(meta["model"]), str(meta["prompt_id"])), set()).add(str(meta["truth_item"]))
    rng = np.random.default_rng(0)
    per: dict[str, list[str]] = {}
    for meta in codes.values():
        if "truth_verdict" in meta:
            v = meta["truth_verdict"]
            if v != RUBRIC.verdict_best:
                answers = consistent_answers(v, meta.get("truth_failure") or RUBRIC.failure_ids.lower_quality, rng)
                cap = {**capability_map(prof, str(meta["model"])),
                       **dict.fromkeys(shown.get((str(meta["model"]), str(meta.get("prompt_id"))), ()), "capable")}
                v = effective_verdict(answers, capability=cap)
            per.setdefault(str(meta["model"]), []).append(v)
    return {m: {"n": len(v), "lower": sum(x == RUBRIC.verdict_worst for x in v) / len(v),
                "upper": sum(x != RUBRIC.verdict_best for x in v) / len(v)} for m, v in sorted(per.items())}


def run_demo(*, port: int = 8080, records: list[dict] | None = None, source: str = "demo", overlap: int = 3,
             accuracy: tuple[float, ...] = DEFAULT_ACCURACY, gold_rate: float = 0.2, seed: int = 0,
             simulate: bool = True, report: bool = True, backend: bool = True, backend_port: int | None = None,
             echo: Callable[[str], None] = print, real_models: bool = False) -> DemoResult:
    from oma_analysis.lifecycle import oma_home

    home = oma_home()
    work = home / "demo"
    work.mkdir(parents=True, exist_ok=True)
    # The real models run as `oma run` in their own process while Label Studio starts and the
    # simulated labellers work: model loading and generation overlap the server work.
    real = _start_real_models(work, echo) if real_models else None
    try:
        return _run_demo(work, port, records, source, overlap, accuracy, gold_rate, seed, simulate, report,
                         backend, backend_port, echo, real)
    finally:
        if real is not None:
            from oma_analysis.lifecycle.procs import terminate_group

            terminate_group(real[0].pid)  # a no-op when it finished; stops it when the demo failed


def _run_demo(work: Path, port: int, records, source: str, overlap: int, accuracy, gold_rate: float, seed: int,
              simulate: bool, report: bool, backend: bool, backend_port: int | None, echo: Callable[[str], None],
              real) -> DemoResult:
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.projects import create_or_update
    from oma_analysis.labelstudio.push import prepare, push
    from oma_analysis.labelstudio.server import load_credentials, start

    mark = _Phases()
    echo("starting Label Studio (the first start runs database migrations, about a minute) ...")
    state = start(port=port)
    mark("Label Studio up")
    creds = load_credentials()
    client = connect(state.url, creds.token)
    projects = {kind: create_or_update(client, kind, overlap=overlap + 1) for kind in ("review", "compare", "probe")}
    review = projects["review"]
    records = records if records is not None else demo_records()
    codemap_path = work / "codemap.json"
    codes = CodeMap.load(codemap_path) if codemap_path.exists() else CodeMap()
    tasks = prepare(records, review.label_config, codes, source)
    from oma_analysis.stats.profiles import attach_model_metadata

    attach_model_metadata(codes, demo_models())
    codes.save(codemap_path)
    pushed = push(client, review.id, tasks, progress=True)
    echo(f"review project {review.id}: {pushed.created} tasks imported, {pushed.skipped} already there")
    mark("projects + review tasks")
    res = DemoResult(url=state.url, username=creds.username, projects={k: p.id for k, p in projects.items()},
                     codemap=codemap_path, true_rates=true_rates(codes),
                     counts={"tasks": len(tasks), "created": pushed.created})
    if backend:
        from oma_analysis.classifier import no_training_reason

        no_train = next((w for w in (no_training_reason(r.get("source")) for r in records) if w), None)
        res.backend = _preannotate(client, review.id, backend_port or port + 10, echo, no_training=no_train)
        mark("ML backend + pre-annotations")
    from oma_analysis.demo.elicitation import run_elicitation_demo  # compare + probe tasks (elicitation gap, probes)

    res.counts.update(run_elicitation_demo(client, state.url, creds.token, projects, records, codes,
                                           lambda: codes.save(codemap_path), overlap=overlap, accuracy=accuracy,
                                           seed=seed, simulate=simulate, echo=echo))
    res.true_rates = true_rates(codes)  # now with the probes' truth in the code map
    mark("compare + probe tasks, simulated")
    if simulate:
        from oma_analysis.labelstudio.simulator import SimLabeller, simulate_annotations, truth_from_codemap

        labellers = [SimLabeller.with_accuracy(f"labeller{i + 1}@oma.demo", a) for i, a in enumerate(accuracy)]
        got = simulate_annotations(state.url, creds.token, review.id, labellers, truth_from_codemap(codes),
                                   overlap=overlap, seed=seed, researcher="researcher@oma.demo",
                                   gold_rate=gold_rate, progress=True)
        res.counts.update(got)
        echo(f"simulated labellers: {got['annotations']} annotations, {got['gold']} gold "
             f"({got['skipped_existing']} already there)")
        mark("simulated review labels")
    if report:
        from oma_analysis.ingest import load
        from oma_analysis.labelstudio.pull import pull
        from oma_analysis.report import build_report
        from oma_analysis.report.records import rates_records
        from oma_analysis.stats.aggregate import aggregate
        from oma_analysis.stats.rates import bounded_rates

        res.export = pull(client, review.id, work / "export.json")
        loaded = load(res.export, codemap_path)
        mark("export + load")
        from oma_analysis.demo.elicitation import elicitation_inputs

        sections: dict = {}
        if simulate:  # qualification (`oma qualify`, `oma feedback`), then the per-version tables
            got, qual_export = _qualification_round(client, state.url, creds.token, records, codes, labellers,
                                                    work, seed, echo)
            res.counts.update(got)
            from oma_analysis.report.versions_section import project_versions, versions_records

            both = pd.concat([loaded.frame, load(qual_export, codemap_path).frame], ignore_index=True)
            sections["versions"] = versions_records(both, project_versions(
                {"1 review": res.export, "2 qualification": qual_export}))
            mark("qualification + feedback + per-version")
        if real is not None:
            sections["trend"] = _finish_real_models(real, work, echo)
            mark("waiting for the real models")
        rep = build_report(loaded, work / "report", res.export, progress=True, codemap=codemap_path,
                           elicitation=elicitation_inputs(client, projects, work, codes), sections=sections)
        mark("report")
        res.elicitation = rep.get("elicitation", {})
        res.report = work / "report" / "report.html"
        # The same numbers the report shows, kept to compare with the simulated truth.
        res.estimated = rates_records(bounded_rates(aggregate(loaded.frame, "majority", [RUBRIC.MISALIGNMENT])))
        (work / "truth.json").write_text(json.dumps(res.true_rates, indent=1))
        if simulate:
            from oma_analysis.demo.questions import questions_round  # labellers' questions -> FAQ (issue 20)

            res.counts.update(questions_round(state.url, creds.token, review.id, labellers, work, echo))
            mark("labellers' questions")
    elif real is not None:
        _finish_real_models(real, work, echo)
    res.timings = mark.done(work / "timings.json", echo)
    return res


class _Phases:
    """Wall time per demo phase (seconds), to see where a cold run spends its time."""

    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter
        self.t0 = self.last = self._clock()
        self.times: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        now = self._clock()
        self.times[name] = round(now - self.last, 1)
        self.last = now

    def done(self, path: Path, echo: Callable[[str], None]) -> dict[str, float]:
        self.times["total"] = round(self._clock() - self.t0, 1)
        path.write_text(json.dumps(self.times, indent=1), encoding="utf-8")
        echo("phases (s): " + ", ".join(f"{k} {v:g}" for k, v in self.times.items()))
        return self.times


def _start_real_models(work: Path, echo: Callable[[str], None]):
    """Start `oma run` on the demo's real-model spec (cached under $OMA_HOME/runs, nothing committed)
    in its own process group; (process, spec path, log path)."""
    import subprocess
    import sys

    from oma_analysis.report.trend import write_spec

    out = work / "real_models"
    spec = write_spec(out)
    log = out / "run.log"
    echo(f"real local models: `oma run {spec}` started in the background (log: {log})")
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "oma_analysis", "run", str(spec)], stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return proc, spec, log


def _finish_real_models(real, work: Path, echo: Callable[[str], None]) -> list[dict]:
    """Wait for `oma run`; the trend rows across the real models and the eight GPT-3-family models
    (automatic checks: real), also written to ``work/real_models/trend.md``."""
    from oma_analysis.report.trend import trend_rows, write_trend

    proc, spec, log = real
    if proc.wait() != 0:
        raise OmaError(f"oma run {spec} failed (exit {proc.returncode}); see {log}:\n"
                       + "\n".join(log.read_text(encoding="utf-8").splitlines()[-15:]))
    for line in log.read_text(encoding="utf-8").splitlines():  # the run's summary, not its progress bars
        if "\r" not in line and ("automatic lower bound" in line or line.startswith("manifest:")
                                  or " generated, " in line):
            echo(line)
    rows = trend_rows(spec)
    path = write_trend(rows, work / "real_models")
    echo(f"trend across the real local models and the GPT-3 family (real automatic checks): {path}")
    return rows


def _preannotate(client, project_id: int, port: int, echo: Callable[[str], None],
                 no_training: str | None = None) -> str | None:
    """Start the ML backend (gunicorn), connect it to the review project, and have Label Studio
    retrieve its predictions (evidence from the automatic checks, never a verdict) for every task.
    ``no_training``: why the project's data must never be trained on (e.g. Self-Instruct)."""
    from oma_analysis.labelstudio.client import with_retries
    from oma_analysis.lifecycle.backend import connect, start

    state = start(port=port)
    ml = connect(client, project_id, state.url, no_training=no_training)
    with_retries(lambda: client.actions.create(id="retrieve_tasks_predictions", project=project_id,
                                               selected_items={"all": True, "excluded": []}),
                 f"retrieve predictions for project {project_id}")
    n = sum(1 for t in client.tasks.list(project=project_id, fields="all") if t.predictions)
    echo(f"ML backend at {state.url} ({getattr(ml, 'model_version', None) or 'connected'}): "
         f"{n} tasks pre-annotated")
    return state.url


# --- qualification and feedback (issue 12) ----------------------------------------------------

def _qualification_round(client, url: str, token: str, records: list[dict], codes: CodeMap, labellers,
                         work: Path, seed: int, echo: Callable[[str], None]) -> tuple[dict[str, int], Path]:
    """`oma qualify` and `oma feedback` on a qualification batch: every simulated labeller answers
    the demo completions not shown in the manual (project "oma review qualification"), the
    researcher answers them all as gold; decisions go to qualification.csv, pages to feedback/."""
    from oma_analysis.labelstudio.projects import create_or_update
    from oma_analysis.labelstudio.pull import pull
    from oma_analysis.labelstudio.push import prepare, push
    from oma_analysis.labelstudio.simulator import simulate_annotations, truth_from_codemap
    from oma_analysis.labelstudio.workspaces import slug
    from oma_analysis.locations import manual_dir
    from oma_analysis.stats.qualify import PASS, held_back

    recs = held_back([r for r in records if "truth_verdict" in r], manual_dir() / "docs")[:40]
    proj = create_or_update(client, "review", title="oma review qualification", overlap=len(labellers) + 1)
    push(client, proj.id, prepare(recs, proj.label_config, codes, "qualification"))
    simulate_annotations(url, token, proj.id, labellers, truth_from_codemap(codes), overlap=len(labellers),
                         seed=seed + 1, researcher="researcher@oma.demo", gold_rate=1.0)
    export = pull(client, proj.id, work / "qualification.json")
    # Through the CLI, as a researcher runs them: `oma qualify score`, then `oma feedback` per labeller.
    from oma_analysis.cli import main

    cm = str(work / "codemap.json")
    main.main(["qualify", "score", str(export), "--codemap", cm, "--out", str(work / "qualification.csv")],
              standalone_mode=False)
    table = pd.read_csv(work / "qualification.csv")
    for r in table.itertuples():
        page = work / "feedback" / f"{slug(r.worker)}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        main.main(["feedback", r.worker, str(export), "--codemap", cm, "--out", str(page)], standalone_mode=False)
        echo(f"qualification {r.worker}: {r.decision} after {r.items_used} items (accuracy {r.correct}/{r.n}); "
             f"feedback: {page}")
    return {"qualified": int((table["decision"] == PASS).sum()), "qualification_items": len(recs)}, export
