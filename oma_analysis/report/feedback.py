"""A per-labeller feedback page: where they disagreed with gold or with the other labellers'
majority, the completion, their answer, the expected answer, and the manual section to reread.

Pure on the loader's frame plus the export's task data (for the completion text); writes one
self-contained HTML file (no external assets), fit to send to the labeller: it names no other
labeller and no model.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from oma_analysis import OmaError
from oma_analysis.rubric import RUBRIC

DEFAULT_MANUAL_URL = "http://127.0.0.1:8000"


def _slug(title: str) -> str:
    from markdown.extensions.toc import slugify

    return slugify(title.replace("`", ""), "-")


def _worked_example_heading(failure: str) -> str | None:
    """The worked-examples heading that names ``failure`` (``## Toxic output [`toxic_output`]``)."""
    from oma_analysis.locations import manual_dir

    page = manual_dir() / "docs" / "worked-examples.md"
    if not page.exists():
        return None
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("## ") and f"[`{failure}`]" in line:
            return line[3:].strip()
    return None


def manual_section(expected: str, given: str, expected_failures: set[str], given_failures: set[str],
                   given_raw: str | None) -> tuple[str, str]:
    """(title, path) of the manual section that explains the difference."""
    if given_raw is not None and given_raw != given:
        return "The decision tree: keep answers and verdict consistent", "decision-tree/"
    missed = sorted(expected_failures - given_failures) or sorted(given_failures - expected_failures)
    if missed:
        ft = missed[0]
        heading = _worked_example_heading(ft)
        if heading:
            return f"Worked examples: {ft}", f"worked-examples/#{_slug(heading)}"
    if RUBRIC.verdict_middle in (expected, given):
        return "Ambiguous cases", "ambiguous/"
    return "The decision tree", "decision-tree/"


def _failures(frame: pd.DataFrame) -> dict[tuple[str, str], set[str]]:
    q = RUBRIC.failure_types.question + "."
    f = frame[frame["question"].str.startswith(q) & (frame["label"] == "yes")]
    out: dict[tuple[str, str], set[str]] = {}
    for (task, worker), g in f.groupby(["task", "worker"], observed=True):
        out[(str(task), str(worker))] = {s[len(q):] for s in g["question"]}
    return out


def disagreements(frame: pd.DataFrame, labeller: str) -> pd.DataFrame:
    """The labeller's tasks where their verdict (rule applied) differs from gold, or (no gold) from
    the strict majority of the other labellers."""
    from oma_analysis.stats.crowd import crowd_rows
    from oma_analysis.stats.qualify import gold_answers

    v = frame[frame["question"] == RUBRIC.MISALIGNMENT].astype({"task": str, "worker": str, "label": str})
    crowd = crowd_rows(v)
    mine = crowd[crowd["worker"] == labeller].drop_duplicates("task").set_index("task")["label"]
    if mine.empty:
        raise OmaError(f"oma feedback: no annotations by {labeller!r} in this export")
    gold = gold_answers(frame, RUBRIC.MISALIGNMENT)
    others = crowd[crowd["worker"] != labeller]
    raw = frame[(frame["question"] == RUBRIC.verdict.question) & (frame["worker"] == labeller)]
    raw = raw.astype({"task": str}).drop_duplicates("task").set_index("task")["label"]
    fails = _failures(frame)
    rows = []
    for task, given in mine.items():
        if task in gold.index:
            expected, source = str(gold[task]), "gold"
            exp_f = set().union(*[fs for (t, w), fs in fails.items() if t == task and
                                  w in set(frame.loc[frame["ground_truth"] & (frame["task"] == task),
                                                     "worker"])] or [set()])
        else:
            counts = others.loc[others["task"] == task, "label"].value_counts()
            if counts.empty or (len(counts) > 1 and counts.iloc[0] == counts.iloc[1]):
                continue
            expected, source = str(counts.index[0]), f"majority of {int(counts.sum())} other labellers"
            exp_f = set()
        if expected == given:
            continue
        title, path = manual_section(expected, given, exp_f, fails.get((task, labeller), set()), raw.get(task))
        rows.append({"task": task, "given": given, "given_raw": raw.get(task), "expected": expected,
                     "source": source, "section": title, "path": path})
    return pd.DataFrame(rows, columns=["task", "given", "given_raw", "expected", "source", "section", "path"])


def task_texts(export: str | Path) -> dict[str, dict]:
    """task id -> its data, from a Label Studio JSON export (a study pull or a single project)."""
    try:
        data = json.loads(Path(export).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise OmaError(f"{export}: cannot read the JSON export ({exc})") from None
    return {str(t.get("id")): t.get("data") or {} for t in data if isinstance(t, dict)}


def write_page(frame: pd.DataFrame, export: str | Path, labeller: str, out: str | Path,
               manual_url: str | None = None) -> tuple[Path, int]:
    """Write the labeller's page; (path, number of disagreements shown)."""
    d = disagreements(frame, labeller)
    texts = task_texts(export)
    base = (manual_url or DEFAULT_MANUAL_URL).rstrip("/")
    e = html.escape
    n_tasks = frame.loc[(frame["worker"] == labeller) & ~frame["ground_truth"], "task"].nunique()
    parts = [f"<!doctype html><meta charset='utf-8'><title>Feedback for {e(labeller)}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
             ".c{white-space:pre-wrap;background:#f6f6f6;padding:.6em}td,th{padding:.3em .6em;text-align:left}</style>",
             f"<h1>Feedback for {e(labeller)}</h1>",
             f"<p>You labelled {n_tasks} tasks; on {len(d)} your verdict differed from the expected one "
             "(a researcher's answer where there is one, otherwise the other labellers' majority). "
             "Reread the manual section named under each.</p>"]
    for _, r in d.iterrows():
        data = texts.get(r["task"], {})
        msgs = data.get("messages") or []
        prompt = "\n".join(str(m.get("content", "")) for m in msgs if isinstance(m, dict))
        parts.append(f"<h2>Completion {e(str(data.get('completion_code', r['task'])))}</h2>"
                     f"<p><b>Request</b></p><div class='c'>{e(prompt)}</div>"
                     f"<p><b>Completion</b></p><div class='c'>{e(str(data.get('completion', '')))}</div>"
                     "<table><tr><th>your verdict</th><td>" + e(r["given"])
                     + (f" (you chose {e(str(r['given_raw']))})" if r["given_raw"] not in (None, r["given"]) else "")
                     + f"</td></tr><tr><th>expected</th><td>{e(r['expected'])} ({e(r['source'])})</td></tr>"
                     f"<tr><th>reread</th><td><a href='{e(base)}/{e(r['path'])}'>{e(r['section'])}</a>"
                     "</td></tr></table>")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts), encoding="utf-8")
    return out, len(d)
