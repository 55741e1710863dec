"""report.json + figures -> one self-contained HTML page."""

from __future__ import annotations

import html

import pandas as pd

from oma_analysis.rubric import RUBRIC

_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.note{background:#fff7e0;border-left:4px solid #e0a800;padding:.5em 1em}.fail{color:#b2182b;font-weight:bold}
.pass{color:#1a7f37;font-weight:bold}img{max-width:100%}code{font-size:12px}"""


def _table(recs: list[dict], cols: list[str] | None = None, limit: int = 200) -> str:
    if not recs:
        return "<p><em>none</em></p>"
    df = pd.DataFrame(recs[:limit])
    if cols:
        df = df[[c for c in cols if c in df.columns]]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                s = f"{v:.4f}"
            elif isinstance(v, bool):
                s = f'<span class="{"pass" if v else "fail"}">{v}</span>'
                cells.append(f"<td>{s}</td>")
                continue
            elif isinstance(v, list):
                s = "[" + ", ".join(f"{x:.4f}" if isinstance(x, float) else str(x) for x in v) + "]"
            else:
                s = "" if v is None else str(v)
            cells.append(f"<td>{html.escape(s)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p><em>{len(recs) - limit} more rows in report.json</em></p>" if len(recs) > limit else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def render(report: dict, figs: dict[str, str]) -> str:
    """The HTML page (no external resources)."""
    p = report["provenance"]
    s = report["settings"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>oma report</title>"
             f"<style>{_CSS}</style></head><body><h1>Obvious-misalignment report</h1>"]
    parts.append("<h2>Provenance</h2>" + _table([{k: v for k, v in p.items() if k != "timings_s"}]))
    inp = report["input"]
    parts.append("<h2>Input</h2>" + _table([{k: v for k, v in inp.items() if k != "dropped_by_reason"}]))
    if inp.get("dropped_by_reason"):
        parts.append(_table([{"reason": k, "n": v} for k, v in inp["dropped_by_reason"].items()]))
    parts.append(f"<h2>Bounded misalignment rates</h2><p>Policy <b>{html.escape(s['policy'])}</b>; "
                 f"{html.escape(s['interval'])}; {s['confidence']:.0%} intervals. Lower = clearly misaligned, "
                 "upper = clearly misaligned or ambiguous; only failures marked capable + distinguishable "
                 "count.</p>" + _img(figs["forest"], "forest plot"))
    # Headline (the overall rule-applied verdict) first; the per-failure and per-item breakdown,
    # which is long, folds away so the number people came for is on the first screen.
    cols = ["model", "question", "n", "lower", "lower_ci", "upper", "upper_ci", "lower_ci_cluster",
            "upper_ci_cluster", "n_prompts"]
    overall = [r for r in report["rates"] if r.get("question") == RUBRIC.MISALIGNMENT]
    rest = [r for r in report["rates"] if r.get("question") != RUBRIC.MISALIGNMENT]
    parts.append(_table(overall or report["rates"], cols))
    if overall and rest:
        parts.append("<details><summary>Per failure type and capability item</summary>" + _table(rest, cols)
                     + "</details>")
    if report.get("elicitation"):
        from oma_analysis.report.elicitation import render_html

        el = report["elicitation"]
        parts.append(render_html(el.get("by_model", {}), {r["model"]: r for r in overall}))
        if el.get("truth"):
            parts.append("<p>Simulated truth (demo): " + _table([{"model": m, **t} for m, t in el["truth"].items()]))
        if el.get("evidence"):
            parts.append("<h3>Capability evidence (probes, better variants)</h3>" + _table(el["evidence"]))
    parts.append("<h3>Sensitivity to the aggregation policy</h3>" + _table(report["sensitivity"]))
    parts.append(f"<h3>Certification (&lt; {s['threshold']:g} at {s['confidence']:.0%}, one-sided exact; "
                 "ambiguous counts as a failure)</h3>" + _table(report["certification"]))
    c = report["comparison"]
    parts.append("<h2>Model comparison</h2>" + _table(c.get("pairs", [])))
    if c.get("cochran_q"):
        parts.append("<p>Cochran's Q: " + html.escape(str(c["cochran_q"])) + "</p>")
    if c.get("gee"):
        parts.append("<h3>GEE logistic (exchangeable within prompt)</h3>" + _table(c["gee"]["effects"]))
    if c.get("trends"):
        parts.append("<h3>Trends</h3>" + _table([{k: v for k, v in t.items() if k != "effects"}
                                                  for t in c["trends"]]))
    from oma_analysis.report.trend import render_html as render_trend

    parts.append(render_trend(report.get("trend"), _table))
    a = report["agreement"]
    parts.append(f"<h2>Agreement</h2><p>Source: {html.escape(a['source'])}</p>")
    if a["source"].startswith("fallback"):
        parts.append('<p class="note">Only percent agreement is shown: the agreement module was not '
                     "available when this report was built.</p>")
    acols = ["question", "metric", "value", "ci_low", "ci_high", "n_units", "kappa_paradox", "companions"]
    head = [r for r in a["by_question"] if r.get("question") == RUBRIC.MISALIGNMENT]
    others = [r for r in a["by_question"] if r.get("question") != RUBRIC.MISALIGNMENT]
    parts.append(_table(head or a["by_question"], acols))
    if head and others:
        parts.append("<details><summary>Every rubric question</summary>" + _table(others, acols) + "</details>")
    if a.get("by_category"):
        parts.append("<h3>Per category (overall question)</h3>" + _table(a["by_category"]))
    if any(r.get("kappa_paradox") for r in a["by_question"]):
        parts.append('<p class="note">Prevalence below 10 %: kappa and alpha are depressed by the kappa '
                     "paradox; read AC1 and positive agreement beside them.</p>")
    from oma_analysis.report.profiles import render_profiles

    parts.append(render_profiles(report.get("profiles"), _table))
    parts.append("<h2>Labellers</h2>" + _img(figs["labellers"], "labeller heatmap"))
    parts.append("<h3>Screening</h3>" + _table(report["screening"]))
    parts.append("<h3>Dawid–Skene confusion matrices</h3><p>Rows: true class, columns: label given. "
                 f"Class priors {html.escape(str([round(x, 4) for x in report['dawid_skene']['priors']]))}.</p>"
                 + _img(figs["confusion"], "confusion matrices"))
    parts.append("<h3>Calibration by ISO week</h3>" + _table(report["calibration"]))
    from oma_analysis.report.versions_section import render_html as render_versions

    parts.append(render_versions(report.get("versions"), _table))
    parts.append("<h2>Where labellers disagree most</h2>" + _table(report["disagreements"]))
    if report.get("bad_labels"):
        parts.append("<h2>Labels set aside</h2>" + _table(report["bad_labels"]))
    parts.append(f"<p><small>timings (s): {html.escape(str(p.get('timings_s')))}</small></p></body></html>")
    return "\n".join(parts)
