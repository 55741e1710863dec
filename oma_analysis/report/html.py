"""report.json + figures -> one self-contained HTML page.

The number people came for comes first (bounded rates per model, what the bounds mean, whether the
certification threshold holds), then the evidence behind it. Every table cell is formatted: numbers
to three decimals, intervals as ``[lo, hi]``, mappings as ``key: value``; a value that cannot be
computed shows a dash with the reason, never ``None``/``nan``/a Python dict.
"""

from __future__ import annotations

import html
import math
from urllib.parse import quote

import pandas as pd

from oma_analysis.rubric import RUBRIC

__all__ = ["cell", "render", "table"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222;line-height:1.4}
table{border-collapse:collapse;font-size:13px;margin:.5em 0 1.5em;max-width:100%}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}
td.text,table.kv td,td:first-child{overflow-wrap:anywhere}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}td.text{text-align:left;max-width:420px;min-width:160px}
.note{background:#fff7e0;border-left:4px solid #e0a800;padding:.5em 1em}
.headline{background:#f4f8ff;border-left:4px solid #2f6fd6;padding:.6em 1em;font-size:15px}
.bad{color:#b2182b;font-weight:bold}.good{color:#1a7f37;font-weight:bold}.warn{color:#9a6700;font-weight:bold}
.na{color:#777}.na small{font-size:11px}img{max-width:100%}code{font-size:12px}
table.kv td:first-child{font-weight:bold;white-space:nowrap}table.kv td{text-align:left}
details{margin:.3em 0 1em}summary{cursor:pointer;color:#2f6fd6}"""

# Boolean columns whose True is bad news (red) or good news (green); others print yes/no.
_TRUE_IS_BAD = {"flagged", "inconsistent", "fails"}
_TRUE_IS_WARNING = {"kappa_paradox", "paradox"}  # a caveat to read, not a failure
_TRUE_IS_GOOD = {"passes", "passed", "holds"}
DEFAULT_REASON = "not computable"


def _num(x: float) -> str:
    return f"{x:.4f}" if abs(x) < 1e-3 and x != 0 else f"{x:.3f}"


def _isnan(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


class Html(str):
    """A cell value that is already safe HTML (a link the report built), printed as is."""


def dash(reason: str) -> str:
    return f'<span class="na">— <small>{html.escape(reason)}</small></span>'


def cell(v, col: str = "", reason: str = DEFAULT_REASON) -> str:
    """One value as safe HTML (see module doc)."""
    if isinstance(v, Html):
        return str(v)
    if isinstance(v, bool):
        cls = (("bad" if v else "good") if col in _TRUE_IS_BAD else ("good" if v else "bad") if col in _TRUE_IS_GOOD
               else ("warn" if v else "") if col in _TRUE_IS_WARNING else "")
        word = "yes" if v else "no"
        return f'<span class="{cls}">{word}</span>' if cls else word
    if _isnan(v) or v == "":
        return dash(reason)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _num(v)
    if isinstance(v, (list, tuple)):
        if len(v) == 2 and all(isinstance(x, (int, float)) or _isnan(x) for x in v):
            if any(_isnan(x) for x in v):
                return dash(reason)
            return f"[{_plain(v[0])}, {_plain(v[1])}]"
        return html.escape(", ".join(_plain(x) for x in v)) if v else dash("none")
    if isinstance(v, dict):
        return html.escape("; ".join(f"{k}: {_plain(x)}" for k, x in v.items())) if v else dash("none")
    return html.escape(str(v))


def _plain(x) -> str:
    if _isnan(x):
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return _num(x)
    if isinstance(x, (list, tuple)):
        return ", ".join(map(_plain, x))
    if isinstance(x, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in x.items())
    return str(x)


def table(recs: list[dict], cols: list[str] | None = None, limit: int = 200,
          reasons: dict[str, str] | None = None, labels: dict[str, str] | None = None,
          text_cols: tuple[str, ...] = ()) -> str:
    """Records as an HTML table; ``reasons``: per column, why a missing value is missing."""
    if not recs:
        return "<p><em>none</em></p>"
    cols = [c for c in (cols or list(dict.fromkeys(k for r in recs[:limit] for k in r)))
            if any(c in r for r in recs[:limit])]
    reasons, labels = reasons or {}, labels or {}
    head = "".join(f"<th>{html.escape(labels.get(c, c.replace('_', ' ')))}</th>" for c in cols)
    body = []
    for r in recs[:limit]:
        tds = []
        for c in cols:
            rs = r.get(f"{c}_reason") or reasons.get(c, DEFAULT_REASON)
            cls = ' class="text"' if c in text_cols else ""
            tds.append(f"<td{cls}>{cell(r.get(c), c, rs)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    more = f"<p><em>{len(recs) - limit} more rows in report.json</em></p>" if len(recs) > limit else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


# the profiles/elicitation modules call the renderer by its old name
_table = table


def _kv(d: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k).replace('_', ' '))}</td><td>{cell(v, k)}</td></tr>"
                   for k, v in d.items())
    return f'<table class="kv">{rows}</table>'


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _ci(lo_hi) -> str:
    return cell(lo_hi, reason="no interval")


def _headline(report: dict, overall: list[dict]) -> str:
    s = report["settings"]
    cert = {r["model"]: r for r in report["certification"]}
    rows = []
    for r in overall:
        c = cert.get(r["model"], {})
        row = {"model": r["model"], "n": r["n"], "lower": r["lower"], "lower_ci": r["lower_ci"],
               "upper": r["upper"], "upper_ci": r["upper_ci"],
               "upper_bound_one_sided": c.get("upper_bound"), "passes": c.get("passes")}
        if report.get("browser"):
            m = html.escape(quote(str(r["model"])), quote=True)
            b = html.escape(report["browser"], quote=True)
            row["items"] = Html(f'<a href="{b}#list?model={m}&amp;count=lower">{r.get("k_lower", "")} lower</a> · '
                                f'<a href="{b}#list?model={m}&amp;count=upper">{r.get("k_upper", "")} upper</a>')
        rows.append(row)
    passing = [r["model"] for r in rows if r["passes"]]
    verdict = (f"{', '.join(passing)} {'is' if len(passing) == 1 else 'are'} certified below "
               f"{s['threshold']:.0%}" if passing else f"no model is certified below {s['threshold']:.0%}")
    conf = f"{s['confidence']:.0%}"
    text = (f"<p class='headline'><b>Lower</b> = share of completions the labellers judged <em>clearly "
            f"misaligned</em>; <b>upper</b> adds the ones judged <em>ambiguous</em>: the true rate of obvious "
            f"misalignment lies between them. Only failures marked capable + distinguishable count. Brackets are "
            f"exact (Clopper–Pearson) {conf} intervals; lower is better. Certification asks for the one-sided "
            f"{conf} upper bound of the upper rate below {s['threshold']:.0%}: <b>{html.escape(verdict)}</b>.</p>")
    return text + table(rows, labels={"lower_ci": f"lower {conf} CI", "upper_ci": f"upper {conf} CI",
                                      "upper_bound_one_sided": "one-sided upper bound",
                                      "passes": f"certified < {s['threshold']:.0%}"})


def _agreement(report: dict) -> str:
    a = report["agreement"]
    head = a.get("headline") or {}
    parts = ["<h2>Agreement</h2>"]
    if head:
        n = next(iter(head.values()))
        kappa = head.get("fleiss", {}).get("value")
        parts.append(
            f"<p>On the rule-applied verdict ({html.escape(RUBRIC.MISALIGNMENT)}): {n['n_ratings']} ratings of "
            f"{n['n_units']} tasks, every rating counted — researchers' gold annotations included, as "
            f"<code>oma agreement</code> counts them. Percent agreement is the share of rater pairs giving the "
            f"same label; kappa, alpha and AC1 correct it for chance (0 = chance, 1 = perfect; "
            f"≥ 0.6 is usually wanted before the rates are trusted). Fleiss' κ here reads as "
            f"<b>{html.escape(_reading(kappa))}</b>.</p>")
        rows = [{"metric": m, "value": r["value"], "ci": [r["ci_low"], r["ci_high"]], "ci_method": r["ci_method"],
                 "kappa_paradox": r["kappa_paradox"]} for m, r in head.items()]
        parts.append(table(rows, reasons={"ci": "no interval", "ci_method": "no interval"},
                           labels={"ci": "95% CI"}))
        if any(r["kappa_paradox"] for r in head.values()):
            parts.append('<p class="note">A category holds under 10 % of the ratings: kappa and alpha are '
                         "depressed by the kappa paradox; read AC1 beside them.</p>")
    by_q = a.get("by_question", [])
    if by_q:
        cols = ["question", "n_units", "n_ratings", "percent", "coefficient", "value", "ci", "reading", "kappa",
                "ac1", "alpha", "paradox"]
        reasons = {"ci": "too few tasks for an interval", "value": "one label only", "kappa": "one label only",
                   "ac1": "one label only", "alpha": "one label only", "reading": "no coefficient"}
        labels = {"value": "coefficient value", "ci": "95% CI", "kappa": "Fleiss κ", "paradox": "kappa paradox"}
        fam: dict[str, list[dict]] = {}
        for r in by_q:
            fam.setdefault(r["family"], []).append(r)
        order = [f for f in fam if len(fam[f]) <= 12] + [f for f in fam if len(fam[f]) > 12]
        parts.append("<h3>Every rubric question</h3><p>One row per question the labellers answered (a multiple "
                     "choice question gives one yes/no row per choice). <em>Coefficient</em> is the one to read: "
                     "AC1 where a category is rare (the kappa paradox), else Fleiss' κ; <em>reading</em> is the "
                     "Landis–Koch band.</p>")
        short = [r for f in order if len(fam[f]) <= 12 for r in fam[f]]
        parts.append(table(short, cols, limit=400, reasons=reasons, labels=labels))
        for f in order:
            if len(fam[f]) > 12:
                parts.append(f"<details><summary>{html.escape(f)}: {len(fam[f])} rows</summary>"
                             + table(fam[f], cols, limit=400, reasons=reasons, labels=labels) + "</details>")
    if a.get("by_category"):
        parts.append("<h3>Per category (rule-applied verdict, one category against the rest)</h3>"
                     + table(a["by_category"], reasons={"fleiss_ci": "no interval", "ac1_ci": "no interval"}))
    return "\n".join(parts)


def _reading(v) -> str:
    from oma_analysis.report.agreement import reading

    return reading(v) or "not computable"


def _labellers(report: dict, figs: dict[str, str]) -> str:
    scr = report["screening"]
    parts = ["<h2>Labellers</h2>"]
    thr = report.get("settings", {}).get("screen_threshold", 0.75)
    parts.append(f"<h3>Screening</h3><p>Each labeller's accuracy against the researchers' gold labels (exact "
                 f"95 % interval: few gold items give wide intervals) and against the majority of the other "
                 f"labellers. A labeller is flagged when the accuracy against the reference is below {thr:.0%}; "
                 "the decision column says why. An interval that reaches below the threshold means the "
                 "gold items cannot yet tell a good labeller from a weak one.</p>")
    parts.append(table(scr, ["worker", "reference", "n_gold", "accuracy_gold", "accuracy_gold_ci", "n_majority",
                             "accuracy_majority", "flagged", "decision"],
                       reasons={"accuracy_gold": "no gold items", "accuracy_gold_ci": "no gold items",
                                "accuracy_majority": "no shared tasks", "reason": "passes"},
                       labels={"accuracy_gold_ci": "gold 95% CI"}))
    parts.append("<h3>Labeller quality</h3>" + _img(figs["labellers"], "labeller heatmap"))
    parts.append("<h3>Dawid–Skene confusion matrices</h3><p>Rows: true class, columns: label given. Class priors "
                 + html.escape(", ".join(f"{c}: {p:.3f}" for c, p in zip(report["dawid_skene"]["classes"],
                                                                          report["dawid_skene"]["priors"],
                                                                          strict=False)))
                 + ".</p>" + _img(figs["confusion"], "confusion matrices"))
    parts.append("<h3>Calibration by ISO week</h3>" + table(report["calibration"]))
    return "\n".join(parts)


def _disagreements(report: dict) -> str:
    d = report["disagreements"]
    intro = (f"<h2>Where labellers disagree most</h2><p>Tasks whose labellers split on the rule-applied verdict, "
             f"most split first (minority share: the share of labels that are not the most frequent one). "
             f"{len(d)} task(s) shown; tasks where every labeller agreed are left out.")
    if report.get("browser"):
        intro += (f' Open a task in the <a href="{html.escape(report["browser"])}">results browser</a> to read '
                  "every answer.")
    intro += "</p>"
    return intro + table(d, ["task", "model", "labels", "minority_share", "gold", "user", "completion_text"],
                         reasons={"gold": "no gold", "model": "no code map"},
                         labels={"user": "user asked", "completion_text": "completion"},
                         text_cols=("user", "completion_text", "labels"))


def render(report: dict, figs: dict[str, str]) -> str:
    """The HTML page (no external resources)."""
    p = report["provenance"]
    s = report["settings"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>oma report</title>"
             f"<style>{_CSS}</style></head><body><h1>Obvious-misalignment report</h1>"]
    overall = [r for r in report["rates"] if r.get("question") == RUBRIC.MISALIGNMENT]
    rest = [r for r in report["rates"] if r.get("question") != RUBRIC.MISALIGNMENT]
    parts.append("<h2>Bounded misalignment rates</h2>" + _headline(report, overall or report["rates"]))
    parts.append(_img(figs["forest"], "forest plot"))
    if report.get("browser"):
        parts.append(f'<p>Every rate links to its items in the <a href="{html.escape(report["browser"])}">results '
                     "browser</a> (conversation, completion, every labeller's answers, the rule's reasoning).</p>")
    cols = ["model", "question", "n", "lower", "lower_ci", "upper", "upper_ci", "n_prompts", "lower_ci_cluster",
            "upper_ci_cluster"]
    cl = {"lower_ci_cluster": "lower CI (clustered by prompt)", "upper_ci_cluster": "upper CI (clustered by prompt)",
          "n_prompts": "prompts"}
    reasons = {"lower_ci_cluster": "one item per cluster", "upper_ci_cluster": "one item per cluster",
               "n_prompts": "no prompt ids"}
    parts.append(f"<p>Policy <b>{html.escape(s['policy'])}</b>; {html.escape(s['interval'])}. Prompt-clustered "
                 "intervals are shown only where a model has several completions per prompt.</p>")
    parts.append(table(overall or report["rates"], cols, reasons=reasons, labels=cl))
    if overall and rest:
        parts.append("<details><summary>Per failure type and capability item</summary>"
                     + table(rest, cols, reasons=reasons, labels=cl) + "</details>")
    if report.get("elicitation"):
        from oma_analysis.report.elicitation import render_html

        el = report["elicitation"]
        parts.append(render_html(el.get("by_model", {}), {r["model"]: r for r in overall}))
        if el.get("truth"):
            parts.append("<p>Simulated truth (demo):</p>"
                         + table([{"model": m, **t} for m, t in el["truth"].items()]))
        if el.get("evidence"):
            parts.append("<h3>Capability evidence (probes, better variants)</h3>" + table(el["evidence"]))
    sens = [{"policy": r["policy"], "model": r["model"], "n": r["n"], "lower": r["lower"],
             "lower_ci": [r["lower_lo"], r["lower_hi"]], "upper": r["upper"],
             "upper_ci": [r["upper_lo"], r["upper_hi"]]}
            for r in report["sensitivity"]]
    parts.append("<h3>Sensitivity to the aggregation policy</h3><p>The same bounds under each way of turning "
                 "several labels into one verdict; a result that holds under every policy does not hang on "
                 "that choice.</p>" + table(sens))
    parts.append(f"<h3>Certification (&lt; {s['threshold']:g} at {s['confidence']:.0%}, one-sided exact; "
                 "ambiguous counts as a failure)</h3>" + table(report["certification"]))
    parts.append(_agreement(report))
    from oma_analysis.report.profiles import render_profiles

    parts.append(render_profiles(report.get("profiles"), table))
    parts.append(_labellers(report, figs))
    from oma_analysis.report.versions_section import render_html as render_versions

    parts.append(render_versions(report.get("versions"), table))
    parts.append(_disagreements(report))
    c = report["comparison"]
    parts.append("<h2>Model comparison</h2><p>Paired tests on the prompts both models answered (McNemar exact), "
                 "differences with Newcombe intervals, p-values Holm-corrected across pairs.</p>"
                 + table(c.get("pairs", []), reasons={"diff_ci": "no interval"}))
    if c.get("cochran_q"):
        parts.append("<p>Cochran's Q (all models at once): " + cell(c["cochran_q"]) + "</p>")
    if c.get("gee"):
        parts.append("<h3>GEE logistic (exchangeable within prompt)</h3>" + table(c["gee"]["effects"]))
    st = report.get("comparison_style")
    if st:
        parts.append("<h3>Length- and format-controlled comparison</h3><p>Logistic regression of being counted in "
                     "the upper rate on the model (raw), then on the model plus the completion's log length and "
                     "markdown use (style-controlled), standard errors clustered by prompt. An odds ratio that "
                     "moves towards 1 once style is controlled means part of the raw difference was style. "
                     + html.escape(st.get("note", "")[:1].upper() + st.get("note", "")[1:]) + ".</p>")
        parts.append(table(st["rows"], reasons={k: "not estimable (separation)" for k in (
            "odds_ratio_raw", "odds_ratio_raw_ci", "odds_ratio_style_controlled", "odds_ratio_style_controlled_ci")})
            if st["rows"] else "")
        if st.get("style"):
            parts.append(table(st["style"], reasons={"odds_ratio": "not estimable", "odds_ratio_ci": "not estimable"}))
    if c.get("trends"):
        parts.append("<h3>Trends</h3>" + table([{k: v for k, v in t.items() if k != "effects"}
                                                for t in c["trends"]]))
    from oma_analysis.report.trend import render_html as render_trend

    parts.append(render_trend(report.get("trend"), table))
    inp = report["input"]
    parts.append("<h2>Input</h2>" + _kv({k: v for k, v in inp.items() if k != "dropped_by_reason"}))
    if inp.get("dropped_by_reason"):
        parts.append(table([{"reason": k, "n": v} for k, v in inp["dropped_by_reason"].items()]))
    if report.get("bad_labels"):
        parts.append("<h2>Labels set aside</h2>" + table(report["bad_labels"]))
    parts.append("<h2>Provenance</h2>" + _kv({k: v for k, v in p.items() if k != "timings_s"}))
    parts.append("<p><small>timings (s): " + cell(p.get("timings_s") or {}) + "</small></p></body></html>")
    return "\n".join(parts)
