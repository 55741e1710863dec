"""Assemble report.json and report.html from a loaded input."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from oma_analysis import __version__
from oma_analysis.report.records import frame_records as _records
from oma_analysis.report.records import jsonable as _clean
from oma_analysis.report.records import labeller_records, rates_records
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.aggregate import POLICIES, aggregate, rule_questions, split_verdict_rows
from oma_analysis.stats.certify import certify
from oma_analysis.stats.compare import compare_models
from oma_analysis.stats.crowd import gold_labels
from oma_analysis.stats.labellers import calibration, labeller_table, verdict_ds
from oma_analysis.stats.rates import bounded_rates

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


def _agreement(frame: pd.DataFrame) -> dict:
    """Every rating of every question, gold included, as ``oma agreement`` and the notebooks count them
    (one computation: :mod:`oma_analysis.report.agreement`)."""
    from oma_analysis.report.agreement import agreement_table, headline_agreement
    from oma_analysis.stats.agreement import agreement_by_category

    overall = frame[frame["question"].to_numpy() == RUBRIC.MISALIGNMENT]
    head = headline_agreement(frame) if len(overall) else {}
    return {"source": "oma_analysis.report.agreement (all ratings, gold included)", "headline": head,
            "by_question": _records(agreement_table(frame, known=head or None)),
            "by_category": _records(agreement_by_category(overall[["task", "worker", "question", "label"]],
                                                          RUBRIC.MISALIGNMENT))
            if len(overall) else []}


def _one_per_cluster(rec: dict) -> dict:
    """A prompt-clustered interval where every prompt has one completion is no clustered interval
    (it comes out narrower than the exact one): drop it and say why."""
    if rec.get("n_prompts") is not None and rec["n_prompts"] >= rec["n"]:
        for k in ("lower_ci_cluster", "upper_ci_cluster"):
            rec[k] = None
            rec[f"{k}_reason"] = "one item per cluster"
    return rec


def _gold_ci(screen: pd.DataFrame, confidence: float, threshold: float = 0.75) -> pd.DataFrame:
    """Exact (Clopper–Pearson) interval of each labeller's gold accuracy, and the decision in words:
    a labeller who passes on the point estimate while the interval reaches below the threshold is
    not yet shown to be good (5–8 gold items cannot tell 0.70 from 0.90)."""
    from statsmodels.stats.proportion import proportion_confint

    n = screen["n_gold"].fillna(0).astype(int).to_numpy()
    k = np.rint(screen["accuracy_gold"].fillna(0).to_numpy(dtype=float) * n).astype(int)
    lo, hi = proportion_confint(k, np.maximum(n, 1), 1 - confidence, method="beta")
    decision = []
    for flagged, reason, low, m in zip(screen["flagged"], screen["reason"], lo, n, strict=True):
        if flagged:
            decision.append(f"flagged: {reason}")
        elif m == 0:
            decision.append("kept on agreement with the majority (no gold items)")
        elif low < threshold:
            decision.append(f"kept, but unproven: the gold interval reaches {low:.2f} < {threshold:.2f}; "
                            "add gold items")
        else:
            decision.append(f"kept: even the interval's lower end {low:.2f} is above {threshold:.2f}")
    return screen.assign(accuracy_gold_ci=[[float(a), float(b)] if m > 0 else None
                                           for a, b, m in zip(lo, hi, n, strict=True)], decision=decision)


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
    from oma_analysis.report.browser import browser_data, write_browser
    from oma_analysis.report.html import render
    from oma_analysis.report.items import task_texts, verdict_disagreements
    from oma_analysis.report.profiles import apply_profiles

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    inputs = {"export": str(input_path), "codemap": str(codemap) if isinstance(codemap, (str, Path)) else None,
              "also": [str(x) for x in (elicitation or {}).get("paths", ())]}
    prof = apply_profiles(loaded, codemap, elicitation, evidence, known, confidence)
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
    g = gold_labels(frame, gold)
    ds = verdict_ds(frame, g, overall)  # one fit: the labeller table's and the dawid-skene policy's
    aggs = {p: aggregate(rows, p, qs, fitted={overall: ds}) for p in POLICIES}
    step("aggregation")
    main_agg = aggs[policy]
    rates = bounded_rates(main_agg, confidence)
    recs = rates_records(rates)
    for r in recs:
        r["policy"] = policy
        _one_per_cluster(r)
    sens = pd.concat([bounded_rates(a[a["question"] == overall], confidence, cluster=False).assign(policy=p)
                      for p, a in aggs.items()], ignore_index=True)
    cert = certify(rates[rates["question"] == overall], threshold, confidence)
    step("rates")
    comparison = compare_models(main_agg, confidence=confidence)
    step("comparison")
    agreement = _agreement(frame)
    step("agreement")
    step("dawid-skene")
    lab_df = labeller_table(frame, g, overall, ds=ds)
    labs = labeller_records(lab_df)
    screen = lab_df[["worker", "reference", "n", "accuracy", "n_gold", "accuracy_gold", "n_majority",
                     "accuracy_majority", "flagged", "reason"]]
    screen = _gold_ci(screen, confidence)
    calib = calibration(frame, g, overall)
    step("labellers")
    texts = task_texts(input_path)
    dis = verdict_disagreements(frame, texts, 25, gold=g)
    step("disagreements")
    # figures
    figs = {}
    main_rates = rates[rates["question"] == overall]
    figs["forest"] = plots.forest(main_rates)
    heat_cols = ["accuracy_gold", "accuracy_majority", "sensitivity", "specificity"] + [
        f"ds_{c}" for c in RUBRIC.verdict_ids]
    heat = lab_df.set_index("worker")[heat_cols].astype(float)
    heat = heat.loc[heat.mean(axis=1).sort_values().index[:60]]  # the 60 weakest labellers at most
    figs["labellers"] = plots.heatmap(heat, "labeller quality (weakest first)")
    errs = ds.errors  # [worker, label, true]
    order = np.argsort(lab_df.set_index("worker").reindex(ds.workers)["ds_accuracy"].to_numpy())
    mats = [("all labellers (mean)", errs.mean(axis=0).T)] + [
        (str(ds.workers[i]), errs[i].T) for i in order[:7]]
    figs["confusion"] = plots.confusion_grid(mats, RUBRIC.verdict_ids)
    step("figures")
    report = {
        "provenance": provenance(frame, input_path),
        "input": {**_clean(loaded.summary()), "labels_not_verdicts": len(bad)},
        "settings": {"policy": policy, "confidence": confidence, "threshold": threshold, "inputs": inputs,
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
        "dawid_skene": {"question": overall, "classes": list(RUBRIC.verdict_ids), "priors": _clean(list(ds.priors)),
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
    from oma_analysis.report.style import style_comparison

    report["comparison_style"] = _clean(style_comparison(main_agg, frame, texts, confidence))
    timings["style"] = round(time.perf_counter() - t0, 2)
    write_browser(browser_data(frame, texts, report["rates"], main_agg, getattr(loaded, "spans", None),
                               run_frames=(elicitation or {}).get("frames"), codes=(elicitation or {}).get("codes")),
                  out / "browser.html")
    timings["browser"] = round(time.perf_counter() - t0, 2)
    report["browser"] = "browser.html"
    report.update(_clean(sections or {}))  # caller-computed sections: versions, trend (versions_section.py, trend.py)
    report["provenance"]["timings_s"] = timings
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    (out / "report.html").write_text(render(report, figs), encoding="utf-8")
    step("written")
    steps.close()
    return report
