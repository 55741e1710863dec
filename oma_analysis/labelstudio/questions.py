"""Labellers' questions, answered inside the loop (``oma questions``).

The proposal: getting labellers to do a decent job "will likely require substantial back-and-forth
with labellers to clarify the instructions -- answering specific questions about things that are
unclear". Label Studio Community has no comments API (``/api/comments`` is Enterprise; exports
only carry ``comment_count``), so the review and compare forms carry an optional free-text
question to the researchers (``RUBRIC.labeller_question``). This module:

1. gathers those questions from every workspace of a study (its merged pull), with the task, the
   labeller and their answers, and groups each under the rubric question and the manual section
   it is most about (an id named in the text wins; else TF-IDF cosine over the rubric's question
   wording and the manual's sections, scikit-learn) -> ``questions/queue.jsonl`` and ``queue.md``;
2. turns an answer into a versioned FAQ entry: ``faq-answers.jsonl`` beside the manual's sources,
   the FAQ page's generated section, the new manual version recorded on the study (so the next
   batch is labelled "after the answer") and every workspace's in-tool instructions regenerated;
3. reports, per answered question, the agreement on its rubric question before and after the
   answer's manual version (:func:`answer_effect`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from oma_analysis import OmaError
from oma_analysis.rubric import RUBRIC

BEGIN, END = "<!-- oma:answered-questions -->", "<!-- /oma:answered-questions -->"
ANSWERS_FILE = "faq-answers.jsonl"
QUEUE_COLUMNS = ["qid", "status", "question", "rubric_question", "manual_section", "task", "completion",
                 "worker", "asked_manual_version", "answer", "answered_manual_version"]


def manual_dir() -> Path:
    from oma_analysis.locations import manual_dir as _manual_dir

    return _manual_dir()


def sections(docs: Path) -> list[tuple[str, str]]:
    """(``page > heading``, text) of every heading-led section of the manual's Markdown pages."""
    out = []
    for page in sorted(docs.rglob("*.md")):
        rel = page.relative_to(docs).as_posix()
        head, buf = rel, []
        for line in page.read_text(encoding="utf-8").splitlines() + ["# <end>"]:
            m = re.match(r"#{1,4}\s+(.*)", line)
            if m:
                if buf and "".join(buf).strip():
                    out.append((head, "\n".join(buf)))
                head, buf = f"{rel} > {m.group(1).strip()}", [m.group(1)]
            else:
                buf.append(line)
    return out


def _rubric_entries() -> list[tuple[str, str]]:
    out = []
    for q in RUBRIC.questions.values():
        # the questions a labeller answers by choosing (spans, ratings and free text are not asked about)
        if q.task == "review" and q.kind in ("single", "multi"):
            words = " ".join([q.name.replace("_", " "), q.prompt, *(c.label for c in q.choices or ())])
            out.append((q.name, words))
    return out


class _Matcher:
    """TF-IDF cosine of a question against each entry's text and, weighted higher, its name (a
    section's page and heading say what it is about; a long body dilutes its own words)."""

    def __init__(self, entries: list[tuple[str, str]], name_weight: float = 0.0):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.names = [n for n, _ in entries]
        self.w = name_weight
        self.vec = TfidfVectorizer(stop_words="english", sublinear_tf=True)
        self.mat = self.vec.fit_transform([f"{n} {t}" for n, t in entries])
        self.heads = self.vec.transform([re.sub(r"[-_>./`]", " ", n) for n in self.names])

    def best(self, text: str, among: list[int] | None = None) -> tuple[str, float]:
        q = self.vec.transform([text]).T
        sims = (1 - self.w) * (self.mat @ q).toarray().ravel() + self.w * (self.heads @ q).toarray().ravel()
        if among:
            sims[[i for i in range(len(sims)) if i not in set(among)]] = -1.0
        i = int(sims.argmax())
        return self.names[i], float(sims[i])


def classify(texts: list[str], docs: Path) -> list[tuple[str, str]]:
    """(rubric question, manual section) for each question text."""
    secs = sections(docs)
    rq, ms = _Matcher(_rubric_entries()), _Matcher(secs, name_weight=0.6)
    names = sorted({n for n, _ in _rubric_entries()}, key=len, reverse=True)
    out = []
    for t in texts:
        named = next((n for n in names if re.search(rf"\b{re.escape(n)}\b", t)), None)
        q, qs = (named, 1.0) if named else rq.best(t)
        # the section: the question's words plus the wording of the rubric question it is about
        # (a question naming an id: among the sections that name it too)
        among = [i for i, (_, body) in enumerate(secs) if f"`{named}`" in body] if named else None
        s, ss = ms.best(f"{t} {RUBRIC.questions[q].prompt if q in RUBRIC.questions and qs > 0 else ''}", among)
        out.append((q if qs > 0 else "(general)", s if ss > 0 else "(no section)"))
    return out


def _qid(task: str, worker: str, text: str) -> str:
    return "q-" + hashlib.sha256(f"{task}\0{worker}\0{text}".encode()).hexdigest()[:10]


def queue_dir(st) -> Path:
    return st.dir / "questions"


def read_queue(st) -> list[dict[str, Any]]:
    p = queue_dir(st) / "queue.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []


def _write_queue(st, rows: list[dict[str, Any]]) -> Path:
    d = queue_dir(st)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / "queue.jsonl.part"
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    os.replace(tmp, d / "queue.jsonl")
    lines = [f"# Labellers' questions: study {st.name}", "",
             f"{sum(r['status'] == 'open' for r in rows)} open, {sum(r['status'] == 'answered' for r in rows)} "
             f"answered. Answer with `oma questions answer {st.name} QID --answer TEXT`.", ""]
    for (rq, sec), g in pd.DataFrame(rows, columns=QUEUE_COLUMNS).groupby(["rubric_question", "manual_section"]):
        lines += [f"## `{rq}` -- manual: {sec}", ""]
        for r in g.sort_values(["status", "qid"], ascending=[False, True]).to_dict("records"):
            lines.append(f"- **{r['qid']}** ({r['status']}, task {r['task']}, {r['worker']}): {r['question']}")
            if r["status"] == "answered":
                lines.append(f"  - answer (manual {r['answered_manual_version']}): {r['answer']}")
        lines.append("")
    (d / "queue.md").write_text("\n".join(lines))
    return d / "queue.jsonl"


def gather(st, export: str | Path, docs: Path | None = None) -> list[dict[str, Any]]:
    """Questions in a study export (``oma pull --study``), merged into the study's queue (answered
    ones keep their answer); returns the whole queue."""
    from oma_analysis.ingest import load

    name = RUBRIC.labeller_question
    if name is None:
        raise OmaError("this rubric has no labeller_question: labellers cannot ask questions in the form")
    loaded = load(export)
    texts = loaded.texts
    texts = texts[(texts["question"] == name) & texts["text"].fillna("").str.strip().ne("")]
    comp = loaded.frame.drop_duplicates("task").set_index("task")["completion"].to_dict()
    queue = {r["qid"]: r for r in read_queue(st)}
    new = texts.assign(qid=[_qid(str(t), str(w), str(x)) for t, w, x in
                            zip(texts["task"], texts["worker"], texts["text"], strict=True)])
    new = new[~new["qid"].isin(queue)]
    cls = classify([str(x) for x in new["text"]], docs or manual_dir() / "docs")
    for (_, row), (rq, sec) in zip(new.iterrows(), cls, strict=True):
        queue[row["qid"]] = {"qid": row["qid"], "status": "open", "question": str(row["text"]).strip(),
                             "rubric_question": rq, "manual_section": sec, "task": str(row["task"]),
                             "completion": comp.get(row["task"]), "worker": str(row["worker"]),
                             "asked_manual_version": st.manual_version, "answer": None,
                             "answered_manual_version": None}
    rows = sorted(queue.values(), key=lambda r: r["qid"])
    _write_queue(st, rows)
    return rows


# --- answers -> FAQ ----------------------------------------------------------------------------

def faq_entries(docs: Path) -> list[dict[str, Any]]:
    p = docs.parent / ANSWERS_FILE
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []


def faq_markdown(entries: list[dict[str, Any]]) -> str:
    out = [BEGIN, "", "## Answered questions from labellers", "",
           "Generated by `oma questions answer`; each entry says which manual revision added it.", ""]
    for i, e in enumerate(entries, 1):
        out += [f"**{e['question']}**", f"*(about `{e['rubric_question']}`; see {e['manual_section']}; "
                f"FAQ revision {i}, {e['date']})*", "", e["answer"], ""]
    return "\n".join(out + [END]) + "\n"


def render_faq(docs: Path) -> Path:
    """Regenerate the FAQ page's answered-questions section from ``faq-answers.jsonl``."""
    page = docs / "faq.md"
    text = page.read_text(encoding="utf-8") if page.exists() else "# FAQ\n"
    if BEGIN in text:
        text = text[: text.index(BEGIN)].rstrip("\n") + "\n\n" + text[text.index(END) + len(END):].lstrip("\n")
    text = text.rstrip("\n") + "\n\n" + faq_markdown(faq_entries(docs))
    page.write_text(text, encoding="utf-8")
    return page


def faq_html(docs: Path) -> str:
    import markdown

    entries = faq_entries(docs)
    if not entries:
        return ""
    body = "".join(f"<p><b>{markdown.markdown(e['question'])[3:-4]}</b><br>{markdown.markdown(e['answer'])[3:-4]}"
                   f"</p>" for e in entries)
    return f"<h2>Answered questions</h2>{body}"


def refresh_instructions(st, docs: Path) -> int:
    """Every workspace's project instructions, regenerated from this manual (FAQ answers included)."""
    from oma_analysis.labelstudio.client import with_retries
    from oma_analysis.labelstudio.instructions import instructions_html

    html = instructions_html(st.manual_url, docs) + faq_html(docs)
    n = 0
    for ws in st.team:
        if ws.project_id is None or not ws.url:
            continue
        with_retries(lambda w=ws: w.client().projects.update(id=w.project_id, expert_instruction=html,
                                                             show_instruction=True),
                     f"update instructions of project {ws.project_id} at {ws.url}")
        n += 1
    return n


@dataclass
class Answered:
    entry: dict[str, Any]
    old_version: str
    new_version: str
    faq_page: Path
    workspaces: int


def answer_question(st, qid: str, answer: str, *, docs: Path | None = None,
                    rubric_question: str | None = None) -> Answered:
    """Answer a queued question: a new FAQ entry, a new manual version, instructions regenerated."""
    from oma_analysis.labelstudio.instructions import manual_version

    docs = docs or manual_dir() / "docs"
    queue = read_queue(st)
    row = next((r for r in queue if r["qid"] == qid), None)
    if row is None:
        raise OmaError(f"study {st.name!r}: no question {qid!r} in {queue_dir(st) / 'queue.jsonl'}; "
                       f"run `oma questions {st.name}` first")
    if not answer.strip():
        raise OmaError(f"question {qid}: --answer is empty")
    if rubric_question and rubric_question not in RUBRIC.questions:
        raise OmaError(f"--about: {rubric_question!r} is not a rubric question")
    old = manual_version(docs)
    entry = {"qid": qid, "question": row["question"], "answer": answer.strip(),
             "rubric_question": rubric_question or row["rubric_question"], "manual_section": row["manual_section"],
             "study": st.name, "date": time.strftime("%Y-%m-%d"), "previous_manual_version": old}
    entries = [e for e in faq_entries(docs) if e["qid"] != qid] + [entry]
    (docs.parent / ANSWERS_FILE).write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))
    page = render_faq(docs)
    new = manual_version(docs)
    entry["manual_version"] = new
    (docs.parent / ANSWERS_FILE).write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))
    row.update(status="answered", answer=entry["answer"], answered_manual_version=new,
               rubric_question=entry["rubric_question"])
    _write_queue(st, queue)
    st.manual_version = new  # the next push records it: batches before and after the answer
    st.save()
    return Answered(entry, old, new, page, refresh_instructions(st, docs))


# --- did the answer help? ----------------------------------------------------------------------

def answer_effect(frame: pd.DataFrame, versions: pd.DataFrame, entries: list[dict[str, Any]]) -> pd.DataFrame:
    """Per answered question: percent agreement among labellers on its rubric question (and the
    rows under it, ``q.<choice>``, pooled over units) on tasks labelled with the manual version the
    answer replaced vs with the answer's version. ``versions``: :func:`stats.versions.task_versions`."""
    from oma_analysis.stats.agreement.chance_corrected import percent_agreement

    f = frame.astype({"task": str}).merge(versions, on="task", how="inner")
    f = f[~f["ground_truth"].astype(bool)]
    rows = []
    for e in entries:
        q = e["rubric_question"]
        sub = f[(f["question"] == q) | f["question"].str.startswith(q + ".")]
        res = {}
        for side, mask in (("before", sub["manual_version"] == e.get("previous_manual_version")),
                           ("after", sub["manual_version"] == e.get("manual_version"))):
            g = sub[mask]
            vals = []
            for _, gq in g.groupby("question"):
                r = percent_agreement(gq[["task", "worker", "label"]]) if gq["task"].duplicated().any() \
                    else None
                if r is not None and r.n_units:
                    vals.append((r.value, r.n_units))
            units = sum(n for _, n in vals)
            res[side] = (sum(v * n for v, n in vals) / units if units else float("nan"), units)
        rows.append({"qid": e["qid"], "rubric_question": q, "manual_version": e.get("manual_version"),
                     "agreement_before": res["before"][0], "units_before": res["before"][1],
                     "agreement_after": res["after"][0], "units_after": res["after"][1],
                     "change": res["after"][0] - res["before"][0]})
    return pd.DataFrame(rows, columns=["qid", "rubric_question", "manual_version", "agreement_before",
                                       "units_before", "agreement_after", "units_after", "change"])


def effect_markdown(table: pd.DataFrame) -> str:
    lines = ["## Questions answered in the FAQ: agreement before and after", "",
             "| question | rubric question | manual | agreement before (units) | after (units) | change |",
             "|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        lines.append(f"| {r['qid']} | `{r['rubric_question']}` | {r['manual_version']} | "
                     f"{r['agreement_before']:.3f} ({r['units_before']}) | {r['agreement_after']:.3f} "
                     f"({r['units_after']}) | {r['change']:+.3f} |")
    return "\n".join(lines) + "\n"
