"""Assemble report.json and report.html from a loaded input."""

from __future__ import annotations

import hashlib
import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from oma_analysis import __version__
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.aggregate import POLICIES, VERDICTS, aggregate, rule_questions, split_verdict_rows
from oma_analysis.stats.certify import certify
from oma_analysis.stats.compare import compare_models
from oma_analysis.stats.dawid_skene import dawid_skene
from oma_analysis.stats.disagreements import disagreements
from oma_analysis.stats.labeller_table import labeller_records, records_frame
from oma_analysis.stats.labellers import calibration, gold_labels
from oma_analysis.stats.rates import bounded_rates, rates_records

__all__ = ["build_report", "provenance", "sha256_file"]


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file, streamed.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x"); _ = open(p, "wb").write(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance(frame: pd.DataFrame, input_path: str | Path) -> dict:
    """Versions, input hash, prompt-set hash (SHA-256 of the sorted prompt ids), counts, time.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.csv"); _ = open(p, "w").write("x")
    >>> pv = provenance(pd.DataFrame({"worker": ["a", "b"], "prompt": ["p2", "p1"]}), p)
    >>> pv["labellers"], pv["prompts"], pv["rubric_version"] == RUBRIC.version
    (2, 2, True)
    """
    prompts = sorted(map(str, pd.unique(frame["prompt"].dropna()))) if "prompt" in frame else []
    return {"oma_version": __version__, "rubric_version": RUBRIC.version,
            "input": str(input_path), "input_sha256": sha256_file(input_path),
            "prompt_set_sha256": hashlib.sha256("\n".join(prompts).encode()).hexdigest(),
            "prompts": len(prompts), "labellers": int(frame["worker"].nunique()),
            "rows": len(frame), "generated_at": datetime.now(UTC).isoformat(timespec="seconds")}


def _percent_agreement(rows: pd.DataFrame) -> pd.DataFrame:
    """Fallback agreement table: pairwise percent agreement per question."""
    out = []
    for q, sub in rows.groupby(rows["question"].astype(str), sort=True):
        c = sub.groupby([sub["task"].astype(str), sub["label"].astype(str)]).size()
        n_t = c.groupby(level=0).sum()
        pairs = float((n_t * (n_t - 1)).sum())
        agree = float((c * (c - 1)).sum())
        out.append({"question": q, "metric": "percent", "value": agree / pairs if pairs else math.nan,
                    "n_units": int((n_t > 1).sum())})
    return pd.DataFrame(out)


def _agreement(rows: pd.DataFrame) -> dict:
    try:
        from oma_analysis.stats.agreement import agreement_by_category, agreement_by_question
    except ImportError:
        return {"source": "fallback: percent agreement (oma_analysis.stats.agreement not available)",
                "by_question": _records(_percent_agreement(rows))}
    frame = pd.DataFrame({"task": rows["task"].astype(str), "worker": rows["worker"].astype(str),
                          "question": rows["question"].astype(str), "label": rows["label"].astype(str)})
    by_q = agreement_by_question(frame, metrics=("percent", "fleiss", "alpha", "ac1"))
    overall = frame[frame["question"] == RUBRIC.MISALIGNMENT]
    by_c = agreement_by_category(overall) if len(overall) else pd.DataFrame()
    return {"source": "oma_analysis.stats.agreement", "by_question": _records(by_q), "by_category": _records(by_c)}


def _clean(v):
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def _records(df: pd.DataFrame) -> list[dict]:
    return _clean(df.to_dict("records")) if len(df) else []


def build_report(loaded, out_dir: str | Path, input_path: str | Path, policy: str = "majority",
                 confidence: float = 0.95, threshold: float = 0.02, gold=None, progress: bool = True,
                 codemap=None, evidence: pd.DataFrame | None = None, known: pd.DataFrame | None = None,
                 elicitation: dict | None = None, sections: dict | None = None) -> dict:
    """Compute every section, write ``report.json`` and ``report.html`` into ``out_dir``; return the JSON.

    The capability profiles (declarations from ``codemap``'s model metadata, plus ``evidence``) are
    applied to ``loaded.frame`` first, so every rate below is computed with them.
    ``elicitation``: ``{"codes": code map, "frames": [compare and probe frames], "truth": optional}``
    adds the elicitation-gap section (:func:`oma_analysis.report.elicitation.elicitation_section`),
    computed on the same (profiled) review frame as every other rate; without explicit ``evidence``
    / ``known``, the probe and variant evidence of those frames feeds the profiles."""
    from tqdm.auto import tqdm

    from oma_analysis.report import plots
    from oma_analysis.report.html import render
    from oma_analysis.report.profiles import profiles_section

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if elicitation:  # as `oma rates`: the evidence of every frame of the run, INPUT included
        from oma_analysis.stats.evidence import known_facts, run_evidence

        run = pd.concat([loaded.frame, *elicitation.get("frames", ())], ignore_index=True)
        evidence = run_evidence(run, elicitation["codes"]) if evidence is None else evidence
        known = known_facts(run) if known is None else known
        codemap = elicitation["codes"] if codemap is None else codemap
    _, prof = profiles_section(loaded, codemap, evidence, confidence=confidence, known=known)
    frame = loaded.frame
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    steps = tqdm(total=9, desc="oma report", disable=not progress, unit="step")

    def step(name: str) -> None:
        timings[name] = round(time.perf_counter() - t0, 2)
        steps.set_postfix_str(name)
        steps.update(1)

    qs = rule_questions(frame) or [RUBRIC.MISALIGNMENT]
    rows, bad = split_verdict_rows(frame, qs)
    overall = RUBRIC.MISALIGNMENT
    aggs = {p: aggregate(rows, p, qs) for p in POLICIES}
    step("aggregation")
    main_agg = aggs[policy]
    rates = bounded_rates(main_agg, confidence)
    recs = rates_records(rates)
    for r in recs:
        r["policy"] = policy
    sens = pd.concat([bounded_rates(a[a["question"] == overall], confidence, cluster=False).assign(policy=p)
                      for p, a in aggs.items()], ignore_index=True)
    cert = certify(rates[rates["question"] == overall], threshold, confidence)
    step("rates")
    comparison = compare_models(main_agg, confidence=confidence)
    step("comparison")
    agreement = _agreement(rows)
    step("agreement")
    g = gold_labels(frame, gold)
    ov = rows[rows["question"].astype(str).to_numpy() == overall]
    gser = None
    if len(g):
        gg = g[g["question"] == overall]
        gser = pd.Series(gg["gold"].to_numpy(), index=gg["task"].astype(str))
    ds = dawid_skene(pd.DataFrame({"task": ov["task"].astype(str).to_numpy(),
                                   "worker": ov["worker"].astype(str).to_numpy(),
                                   "label": ov["label"].astype(str).to_numpy()}), classes=VERDICTS, gold=gser)
    step("dawid-skene")
    labs = labeller_records(frame, g, overall, ds=ds)
    lab_df = records_frame(labs)
    screen = lab_df[["worker", "reference", "n", "accuracy", "n_gold", "accuracy_gold", "n_majority",
                     "accuracy_majority", "flagged", "reason"]]
    calib = calibration(frame, g, overall)
    step("labellers")
    dis = disagreements(frame, 25, gold=g)
    step("disagreements")
    # figures
    figs = {}
    main_rates = rates[rates["question"] == overall]
    figs["forest"] = plots.forest(main_rates)
    heat_cols = ["accuracy_gold", "accuracy_majority", "sensitivity", "specificity"] + [
        f"ds_{c}" for c in VERDICTS]
    heat = lab_df.set_index("worker")[heat_cols].astype(float)
    heat = heat.loc[heat.mean(axis=1).sort_values().index[:60]]  # the 60 weakest labellers at most
    figs["labellers"] = plots.heatmap(heat, "labeller quality (weakest first)")
    errs = ds.errors  # [worker, label, true]
    order = np.argsort(lab_df.set_index("worker").reindex(ds.workers)["ds_accuracy"].to_numpy())
    mats = [("all labellers (mean)", errs.mean(axis=0).T)] + [
        (str(ds.workers[i]), errs[i].T) for i in order[:7]]
    figs["confusion"] = plots.confusion_grid(mats, VERDICTS)
    step("figures")
    report = {
        "provenance": provenance(frame, input_path),
        "input": {**_clean(loaded.summary()), "labels_not_verdicts": len(bad)},
        "settings": {"policy": policy, "confidence": confidence, "threshold": threshold,
                     "interval": "Clopper–Pearson (exact); clustered by prompt where prompts repeat"},
        "rates": _clean(recs),
        "sensitivity": _records(sens[["policy", "model", "n", "lower", "upper", "lower_lo", "lower_hi",
                                      "upper_lo", "upper_hi"]]),
        "certification": _records(cert[["model", "n", "k", "upper_bound", "threshold", "passes"]]),
        "comparison": _clean(comparison),
        "agreement": agreement,
        "labellers": _clean(labs),
        "screening": _records(screen),
        "calibration": _records(calib),
        "dawid_skene": {"question": overall, "classes": VERDICTS, "priors": _clean(list(ds.priors)),
                        "iterations": ds.n_iter,
                        "confusion": {str(w): _clean(ds.errors[i].T.tolist()) for i, w in enumerate(ds.workers)}},
        "disagreements": _records(dis),
        "dropped": _records(loaded.dropped.head(200)) if len(loaded.dropped) else [],
        "bad_labels": _records(bad.head(200)),
        "profiles": {k: _records(v) if isinstance(v, pd.DataFrame) else v for k, v in prof.items()},
    }
    if elicitation:
        from oma_analysis.report.elicitation import elicitation_section

        section = elicitation_section(frame, elicitation.get("frames", ()), elicitation["codes"], policy, confidence,
                                      elicitation.get("truth"))
        if section:
            report["elicitation"] = _clean(section)
    report.update(_clean(sections or {}))  # caller-computed sections: versions, trend (versions_section.py, trend.py)
    report["provenance"]["timings_s"] = timings
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    (out / "report.html").write_text(render(report, figs), encoding="utf-8")
    step("written")
    steps.close()
    return report
