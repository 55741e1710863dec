# ruff: noqa: E501  (the embedded page keeps its JavaScript lines whole)
"""The results browser: ``browser.html`` beside report.html, one self-contained page (data embedded as
JSON, vanilla JavaScript, no network) that goes from a rate to its items and from an item to
everything behind it: the conversation, the completion, every labeller's answers side by side, the
evidence spans, and the rule's reasoning (which failure counted, and why). ``oma view REPORT_DIR``
serves the folder locally.

Hash routes: ``#`` (rates), ``#list?model=M&count=lower|upper&failure=F&item=I&disagree=1``,
``#item?task=T``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from oma_analysis.rubric import RUBRIC

__all__ = ["MAX_ITEMS", "browser_data", "write_browser"]

MAX_ITEMS = 5000  # items embedded in the page; beyond that the page would be too heavy to open
MAX_CHECKED = 2000  # items the automatic checks run on (tens of ms each)


def _auto_checks(messages: list, text: str) -> list[dict]:
    """The automatic checks (``oma checks``) on the completion: which passed, which failed and the
    checklist item each gives evidence for; the quoted evidence spans of failures."""
    from oma_analysis import OmaError
    from oma_analysis.checks.runner import prompt_from_messages, run_checks

    try:
        rep = run_checks(prompt_from_messages(messages), text)
    except OmaError as exc:
        return [{"check_id": "error", "item": "", "passed": False, "evidence": str(exc)}]
    return [{"check_id": c.check_id, "item": c.item, "passed": bool(c.passed),
             "evidence": "; ".join(sp.text[:120] for sp in c.evidence[:3]) if not c.passed else ""}
            for c in rep.checks]


def _answers(pairs: list[tuple[str, str]]) -> dict[str, object]:
    """One labeller's raw answers on one task: ``q.choice`` yes/no rows fold back into ``q: [choices]``."""
    out: dict[str, object] = {}
    for q, lab in pairs:
        base, dot, choice = q.partition(".")
        if dot and base in RUBRIC.questions and RUBRIC.questions[base].kind == "multi":
            picked = out.setdefault(base, [])
            if lab == RUBRIC.yes:
                picked.append(choice)  # type: ignore[union-attr]
        else:
            out[q] = lab
    return out


def _reasons(answers: dict, derived: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """The rule's reasoning for one annotation: per failure ticked (and hard constraint named), what the
    rule made of it; plus the failures and checklist items that counted."""
    worst, middle, best = RUBRIC.verdict_ids
    counted_f, counted_i, lines = [], [], []
    for h in answers.get(RUBRIC.hard_constraints.question, []) or []:
        lab = derived.get(RUBRIC.misalignment_question(hard_constraint=h))
        lines.append(f"hard constraint {h}: {'counts as ' + lab if lab and lab != best else 'does not count'}")
    for ft in answers.get(RUBRIC.failure_types.question, []) or []:
        lab = derived.get(RUBRIC.misalignment_question(failure_type=ft))
        cap = answers.get(RUBRIC.capable_question(ft), "—")
        dist = answers.get(RUBRIC.distinguishable_question(ft), "—")
        its = answers.get(RUBRIC.items_question(ft), []) or []
        why = f"capable: {cap}, can tell: {dist}, items: {', '.join(its) or 'none'}"
        if lab and lab != best:
            counted_f.append(ft)
            lines.append(f"failure {ft} counts as {lab} ({why})")
        else:
            lines.append(f"failure {ft} does not count ({why}; the rule needs capable + distinguishable, "
                         "and the model's capability profile may overrule the labeller)")
    for q, lab in derived.items():
        prefix = RUBRIC.misalignment_question(item="")
        if q.startswith(prefix) and lab != best:
            counted_i.append(q[len(prefix):])
    final = derived.get(RUBRIC.MISALIGNMENT)
    raw = answers.get(RUBRIC.verdict.question)
    lines.append(f"rule-applied verdict: {final}" + (f" (verdict given: {raw})" if raw and raw != final else ""))
    return lines, counted_f, counted_i


def _run_extras(frames, codes) -> dict[tuple[str, str], list[dict]]:
    """(model, prompt) -> the run's compare and probe annotations on it: per annotation the variant
    judged against the deployed completion (from the code map's pair entry) or the probed item, and
    the labeller's answers."""
    out: dict[tuple[str, str], list[dict]] = {}
    for fr in frames or ():
        if not len(fr) or "model" not in fr or "prompt" not in fr:
            continue
        f = fr[fr["model"].notna() & fr["prompt"].notna()]
        keys = zip(f["model"], f["prompt"], f["task"], f["worker"],
                   f["completion"], strict=True)
        ann: dict[tuple, dict] = {}
        for (m, p, t, w, c), q, lab in zip(keys, f["question"], f["label"], strict=True):
            a = ann.get((m, p, t, w))
            if a is None:
                meta = {}
                try:
                    meta = dict(codes[c]) if codes is not None else {}
                except KeyError:
                    pass
                kind = meta.get("kind") or "annotation"
                what = (f"variant {meta.get('variant')} vs deployed {meta.get('deployed_variant')} "
                        f"(deployed on the {meta.get('deployed_side')})") if kind == "pair" else kind
                a = ann[(m, p, t, w)] = {"task": t, "worker": w, "what": what, "answers": {}}
                out.setdefault((m, p), []).append(a)
            base, dot, choice = q.partition(".")
            if dot:  # multi-choice rows: keep the ticked choices
                if lab == RUBRIC.yes:
                    a["answers"].setdefault(base, []).append(choice)
            else:
                a["answers"][q] = lab
    return out


def browser_data(frame: pd.DataFrame, texts: dict[str, dict], rates: list[dict], agg: pd.DataFrame,
                 spans: pd.DataFrame | None = None, max_items: int = MAX_ITEMS, run_frames=None,
                 codes=None) -> dict:
    """Everything the page shows, JSON-ready. ``agg``: the report's aggregation of the rule questions
    (one row per completion and question); ``rates``: the report's rate records; ``run_frames``
    (+ ``codes``, the code map): the run's compare and probe frames, shown with the items of the same
    model and prompt (variants judged against the deployed completion, probe answers)."""
    extras = _run_extras(run_frames, codes)
    worst, middle, _ = RUBRIC.verdict_ids
    ov = agg[agg["question"] == RUBRIC.MISALIGNMENT]
    by_completion = {str(c): r for c, r in zip(ov["completion"], ov.to_dict("records"), strict=True)}
    f = frame[frame["completion"].notna()] if "completion" in frame else frame.iloc[:0]
    tasks = pd.unique(f["task"])[:max_items]
    f = f[f["task"].isin(set(tasks)).to_numpy()]
    sp = {}
    if spans is not None and len(spans):
        for t, s in spans.groupby("task"):  # the loader writes span tasks as str
            sp[t] = [{"worker": str(w), "label": str(lab), "text": str(x)}
                     for w, lab, x in zip(s["worker"], s["label"], s["text"], strict=True)]
    # one pass over plain arrays (a groupby per task and worker is far too slow at 1M annotations)
    task_a = f["task"].to_numpy()
    worker_a = f["worker"].to_numpy()
    q_a = f["question"].to_numpy()
    lab_a = f["label"].to_numpy()
    gt_a = (f["ground_truth"].fillna(False).astype(bool).to_numpy() if "ground_truth" in f
            else np.zeros(len(f), bool))
    first_row: dict[str, int] = {}
    per: dict[str, dict[str, list[int]]] = {}
    for i, (t, w) in enumerate(zip(task_a, worker_a, strict=True)):
        first_row.setdefault(t, i)
        per.setdefault(t, {}).setdefault(w, []).append(i)
    comp_a, prompt_a = f["completion"].to_numpy(), f["prompt"].to_numpy() if "prompt" in f else None
    model_a = f["model"].to_numpy() if "model" in f else None
    items, failures, checklist = [], set(), set()
    for task, workers in per.items():
        r0 = first_row[task]
        comp = str(comp_a[r0])
        a = by_completion.get(comp, {})
        labellers = []
        for worker in sorted(workers):
            idx = workers[worker]
            derived = {q_a[i]: lab_a[i] for i in idx if q_a[i].startswith(RUBRIC.MISALIGNMENT)}
            answers = _answers([(q_a[i], lab_a[i]) for i in idx if not q_a[i].startswith(RUBRIC.MISALIGNMENT)])
            reasons, fs, its = _reasons(answers, derived)
            failures.update(fs)
            checklist.update(its)
            labellers.append({"worker": worker, "gold": bool(gt_a[idx].any()), "answers": answers, "reasons": reasons,
                              "verdict": derived.get(RUBRIC.MISALIGNMENT), "failures": fs, "items": its})
        counts = {v: int(a.get(f"n_{v}", 0) or 0) for v in RUBRIC.verdict_ids}
        verdict = a.get("label")
        t = texts.get(task, {})
        model = None if model_a is None else model_a[r0]
        prompt = None if prompt_a is None else prompt_a[r0]
        items.append({
            "task": task, "completion": comp, "prompt": None if pd.isna(prompt) else str(prompt),
            "model": None if model is None or pd.isna(model) else str(model),
            "messages": t.get("messages", []), "text": t.get("completion", ""),
            "verdict": None if verdict is None or pd.isna(verdict) else str(verdict), "counts": counts,
            "lower": verdict == worst, "upper": verdict in (worst, middle),
            "disagree": sum(1 for n in counts.values() if n) > 1,
            "failures": sorted({x for lab in labellers for x in lab["failures"]}),
            "items": sorted({x for lab in labellers for x in lab["items"]}),
            "labellers": labellers, "spans": sp.get(task, []),
            "run": extras.get((str(model), str(prompt)), []) if model is not None and prompt is not None else [],
            "checks": _auto_checks(t.get("messages", []), t["completion"])
            if t.get("completion") and len(items) < MAX_CHECKED else None})
    order = [q.name for q in RUBRIC.questions.values()]
    return {"rates": [r for r in rates if r.get("question") == RUBRIC.MISALIGNMENT], "items": items,
            "n_tasks": int(frame["task"].nunique()) if len(frame) else 0, "max_items": max_items,
            "failure_types": sorted(failures), "checklist": sorted(checklist), "question_order": order,
            "verdicts": list(RUBRIC.verdict_ids)}


def write_browser(data: dict, path: str | Path) -> Path:
    """Write the page; the JSON is embedded in a script tag (``</`` escaped so no text can close it)."""
    blob = json.dumps(data, default=str).replace("</", "<\\/")
    page = _PAGE.replace("__DATA__", blob).replace("__TITLE__", html.escape("oma results browser"))
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


_PAGE = r"""<!doctype html><html><head><meta charset="utf-8"><title>__TITLE__</title><style>
body{font-family:system-ui,sans-serif;max-width:1300px;margin:1.5em auto;color:#222;line-height:1.4}
table{border-collapse:collapse;font-size:13px;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 7px;
vertical-align:top;text-align:left}th{background:#f3f3f3}a{color:#2f6fd6}.num{text-align:right}
.msg{background:#f6f6f6;border-radius:6px;padding:.5em .8em;margin:.3em 0;white-space:pre-wrap}
.completion{background:#f4f8ff;border-left:4px solid #2f6fd6;padding:.5em .8em;white-space:pre-wrap}
.cm{color:#b2182b;font-weight:bold}.am{color:#9a6700;font-weight:bold}.ca{color:#1a7f37}
.filters label{margin-right:1em}nav{margin-bottom:1em}small{color:#666}ul.reasons{margin:0;padding-left:1.1em}
</style></head><body><nav><a href="#">rates</a> · <a href="#list">all items</a> · <a href="report.html">report</a></nav>
<div id="app"></div><script type="application/json" id="data">__DATA__</script><script>
const D = JSON.parse(document.getElementById("data").textContent);
const app = document.getElementById("app");
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const [WORST, MIDDLE, BEST] = D.verdicts;
const vcls = v => v === WORST ? "cm" : v === MIDDLE ? "am" : v === BEST ? "ca" : "";
const f3 = x => x == null ? "—" : Number(x).toFixed(3);
const ci = c => c && c[0] != null ? `[${f3(c[0])}, ${f3(c[1])}]` : "—";
function params() { const q = location.hash.split("?")[1] || ""; return Object.fromEntries(new URLSearchParams(q)); }
function rates() {
  let h = `<h1>Rates</h1><p>Lower = share of completions whose aggregated verdict is ${esc(WORST)}; upper adds
  ${esc(MIDDLE)}. Click a rate to see the completions it counts.</p><table id="rates"><tr><th>model</th><th>n</th>
  <th>lower</th><th>lower CI</th><th>upper</th><th>upper CI</th></tr>`;
  for (const r of D.rates) {
    const m = encodeURIComponent(r.model);
    h += `<tr><td>${esc(r.model)}</td><td class="num">${r.n}</td>
      <td class="num"><a class="rate" data-model="${esc(r.model)}" data-count="lower" href="#list?model=${m}&count=lower">${f3(r.lower)}</a> <small>(${r.k_lower})</small></td>
      <td class="num">${ci(r.lower_ci)}</td>
      <td class="num"><a class="rate" data-model="${esc(r.model)}" data-count="upper" href="#list?model=${m}&count=upper">${f3(r.upper)}</a> <small>(${r.k_upper})</small></td>
      <td class="num">${ci(r.upper_ci)}</td></tr>`;
  }
  h += `</table><p><small>${D.items.length} of ${D.n_tasks} tasks in this page${D.items.length < D.n_tasks ? " (the first " + D.max_items + ")" : ""}.</small></p>`;
  app.innerHTML = h;
}
function select(name, values, cur) {
  return `<label>${name} <select data-f="${name}"><option value="">any</option>` +
    values.map(v => `<option ${v === cur ? "selected" : ""}>${esc(v)}</option>`).join("") + `</select></label>`;
}
function list() {
  const p = params();
  const models = [...new Set(D.items.map(i => i.model).filter(Boolean))].sort();
  const rows = D.items.filter(i => (!p.model || i.model === p.model) && (!p.count || i[p.count]) &&
    (!p.failure || i.failures.includes(p.failure)) && (!p.item || i.items.includes(p.item)) && (!p.disagree || i.disagree));
  let h = `<h1>Items</h1><div class="filters">${select("model", models, p.model)}
    ${select("count", ["lower", "upper"], p.count)}${select("failure", D.failure_types, p.failure)}
    ${select("item", D.checklist, p.item)}<label><input type="checkbox" data-f="disagree" ${p.disagree ? "checked" : ""}>
    labellers disagree</label></div><p id="count">${rows.length} item(s)</p><table id="items"><tr><th>task</th><th>model</th>
    <th>verdict</th><th>labels</th><th>failures counted</th><th>completion</th></tr>`;
  for (const i of rows) {
    const labels = Object.entries(i.counts).filter(e => e[1]).map(e => `${esc(e[0])}: ${e[1]}`).join(", ");
    h += `<tr><td><a class="item" href="#item?task=${encodeURIComponent(i.task)}">${esc(i.task)}</a></td><td>${esc(i.model ?? "—")}</td>
      <td class="${vcls(i.verdict)}">${esc(i.verdict ?? "—")}</td><td>${labels}</td><td>${esc(i.failures.join(", ") || "—")}</td>
      <td>${esc((i.text || "").slice(0, 120))}</td></tr>`;
  }
  app.innerHTML = h + "</table>";
  app.querySelectorAll("[data-f]").forEach(el => el.addEventListener("change", () => {
    const q = {...params()};
    const k = el.dataset.f, v = el.type === "checkbox" ? (el.checked ? "1" : "") : el.value;
    if (v) q[k] = v; else delete q[k];
    location.hash = "list?" + new URLSearchParams(q).toString();
  }));
}
function fmt(v) { return Array.isArray(v) ? (v.length ? v.join(", ") : "—") : (v ?? "—"); }
function item() {
  const i = D.items.find(x => x.task === params().task);
  if (!i) { app.innerHTML = "<p>No such item in this page.</p>"; return; }
  let h = `<h1>Task ${esc(i.task)}</h1><p>model <b>${esc(i.model ?? "—")}</b> · prompt ${esc(i.prompt ?? "—")} ·
    completion ${esc(i.completion)} · aggregated verdict <span id="verdict" class="${vcls(i.verdict)}">${esc(i.verdict ?? "—")}</span>
    ${i.lower ? "(counts in the lower and upper rate)" : i.upper ? "(counts in the upper rate)" : "(counts in neither rate)"}</p>
    <h2>Conversation</h2>` + i.messages.map(m => `<div class="msg"><b>${esc(m.role)}</b>: ${esc(m.content)}</div>`).join("") +
    `<h2>Completion</h2><div class="completion" id="completion">${esc(i.text || "(text not in the export)")}</div>`;
  const qs = [...new Set(i.labellers.flatMap(l => Object.keys(l.answers)))];
  const order = q => { const k = D.question_order.indexOf(q); return k < 0 ? 1e6 : k; };
  qs.sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  h += `<h2>Every labeller's answers</h2><table id="answers"><tr><th>question</th>` +
    i.labellers.map(l => `<th>${esc(l.worker)}${l.gold ? " (gold)" : ""}</th>`).join("") + "</tr>";
  for (const q of qs) h += `<tr><td>${esc(q)}</td>` + i.labellers.map(l => `<td>${esc(fmt(l.answers[q]))}</td>`).join("") + "</tr>";
  h += `<tr><th>rule's reasoning</th>` + i.labellers.map(l => `<td><ul class="reasons">` +
    l.reasons.map(r => `<li>${esc(r)}</li>`).join("") + `</ul></td>`).join("") + "</tr></table>";
  h += `<h2>Automatic checks</h2>` + (i.checks == null ? "<p><small>not run (no completion text, or beyond the first items)</small></p>" :
    `<table id="checks"><tr><th>check</th><th>checklist item</th><th>result</th><th>evidence</th></tr>` +
    i.checks.map(c => `<tr><td>${esc(c.check_id)}</td><td>${esc(c.item)}</td><td class="${c.passed ? "ca" : "cm"}">${c.passed ? "passed" : "failed"}</td><td>${esc(c.evidence || "—")}</td></tr>`).join("") + "</table>");
  h += `<h2>Variants and probes of this model on this prompt</h2>` + (i.run.length ?
    `<table id="run"><tr><th>task</th><th>what</th><th>labeller</th><th>answers</th></tr>` + i.run.map(r =>
      `<tr><td>${esc(r.task)}</td><td>${esc(r.what)}</td><td>${esc(r.worker)}</td><td>${Object.entries(r.answers).map(e => esc(e[0] + ": " + fmt(e[1]))).join("<br>")}</td></tr>`).join("") + "</table>"
    : "<p><small>none in this run</small></p>");
  h += `<h2>Evidence spans marked by labellers</h2>` + (i.spans.length ? "<ul>" + i.spans.map(s => `<li>${esc(s.worker)}: ${esc(s.label)} — “${esc(s.text)}”</li>`).join("") + "</ul>"
    : "<p><small>none marked</small></p>");
  app.innerHTML = h;
}
function route() { const r = location.hash.slice(1).split("?")[0]; (r === "list" ? list : r === "item" ? item : rates)(); }
window.addEventListener("hashchange", route); route();
</script></body></html>
"""
