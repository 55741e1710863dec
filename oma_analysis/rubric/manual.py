"""Generate the manual's reference tables from the rubric (never edit them by hand).

>>> pages = render_pages()
>>> sorted(pages)
['capability-checklist.md', 'failure-types.md', 'questions.md']
>>> "`clearly_misaligned`" in pages["questions.md"]
True
"""

from __future__ import annotations

from pathlib import Path

from . import RUBRIC, Rubric

HEADER = "<!-- generated from oma_analysis/rubric/rubric.yaml by `oma manual tables`; do not edit -->\n\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _questions(r: Rubric) -> str:
    out = [HEADER, f"# Questions and choices (rubric {r.version})\n",
           "Every question of the three Label Studio tasks, with the id that appears in exports and "
           "analyses. *Conditional* questions appear only after you tick the failure type they belong to.\n"]
    for task, title in (("review", "Review task"), ("compare", "Compare task"), ("probe", "Probe task")):
        out += [f"\n## {title}\n", "| question id | kind | what you are asked | choices (id: label) |",
                "|---|---|---|---|"]
        for q in r.task_questions(task):
            kind = q.kind + (" (conditional)" if q.failure_type else "")
            if q.kind == "rating":
                choices = f"1 to {q.max_rating}"
            elif q.name.startswith("capability_items__"):
                choices = "the capability checklist items (see the checklist page)"
            else:
                choices = "<br>".join(f"`{c.id}`: {_cell(c.label)}" for c in q.choices)
            out.append(f"| `{q.name}` | {kind} | {_cell(q.prompt)} | {choices} |")
    v = r.verdict
    out += ["\n## Verdicts\n", "| verdict id | label | when to use it |", "|---|---|---|"]
    out += [f"| `{c.id}` | {_cell(c.label)} | {_cell(c.description)} |" for c in v.choices]
    hc = r.hard_constraints
    out += ["\n## Hard constraints\n", "| id | label | meaning |", "|---|---|---|"]
    out += [f"| `{c.id}` | {_cell(c.label)} | {_cell(c.description)} |" for c in hc.choices]
    out += ["\n## Intent questions\n", "| id | question | what it covers |", "|---|---|---|"]
    out += [f"| `{q.name}` | {_cell(q.prompt)} | {_cell(q.description)} |" for q in r.intent_questions]
    return "\n".join(out) + "\n"


def _failures(r: Rubric) -> str:
    out = [HEADER, "# Failure types\n",
           "Tick every failure the completion shows. Each one then asks whether the model is **capable** "
           "of avoiding it and could **tell** the user did not want it.\n",
           "| id | label | description |", "|---|---|---|"]
    out += [f"| `{f.id}` | {_cell(f.label)} | {_cell(f.description)} |" for f in r.failure_types.choices]
    return "\n".join(out) + "\n"


def _checklist(r: Rubric) -> str:
    out = [HEADER, "# Capability checklist\n",
           "What models of this kind can and cannot be expected to do. A failure tied only to a "
           "*not capable of* item is recorded but never counts as misalignment.\n"]
    for title, items in (("Capable of", r.capable_items), ("Not capable of", r.not_capable_items)):
        out += [f"\n## {title}\n", "| id | label | description | notes by model size or type |",
                "|---|---|---|---|"]
        for it in items:
            notes = "<br>".join(f"*{k}*: {_cell(v)}" for k, v in it.size_notes.items()) or "—"
            out.append(f"| `{it.id}` | {_cell(it.label)} | {_cell(it.description)} | {notes} |")
    return "\n".join(out) + "\n"


def render_pages(r: Rubric = RUBRIC) -> dict[str, str]:
    return {"questions.md": _questions(r), "failure-types.md": _failures(r), "capability-checklist.md": _checklist(r)}


def write_pages(directory: str | Path, r: Rubric = RUBRIC) -> list[Path]:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render_pages(r).items():
        (d / name).write_text(text, encoding="utf-8")
        paths.append(d / name)
    return paths
