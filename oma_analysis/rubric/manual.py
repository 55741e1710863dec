"""Generate the manual's reference tables from the rubric (never edit them by hand).

>>> pages = render_pages()
>>> sorted(pages)
['capability-checklist.md', 'failure-types.md', 'questions.md', 'usage-policy.md']
>>> "`clearly_misaligned`" in pages["questions.md"]
True
"""

from __future__ import annotations

from pathlib import Path

from oma_analysis.rubric import RUBRIC, Rubric

HEADER = "<!-- generated from oma_analysis/rubric/rubric.yaml by `oma manual tables`; do not edit -->\n\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _questions(r: Rubric) -> str:
    retired_ft = r.failure_types.retired
    out = [HEADER, f"# Questions and choices (rubric {r.version})\n",
           "Every question of the three Label Studio tasks, with the id that appears in exports and "
           "analyses. *Conditional* questions appear only after you tick the answer they belong to: the "
           f"hard-constraint list after `{r.hard_constraint_gate}` = `{r.yes}`, a constraint's follow-ups "
           "after you tick it, the details after the intent gate is *partly* or *no*, and a failure's "
           "questions after you tick the failure. *Retired* ids are still read from older exports but "
           "are no longer offered.\n"]
    for task, title in (("review", "Review task"), ("compare", "Compare task"), ("probe", "Probe task")):
        out += [f"\n## {title}\n", "| question id | kind | what you are asked | choices (id: label) |",
                "|---|---|---|---|"]
        for q in r.task_questions(task):
            if q.failure_type in retired_ft:
                continue  # the questions of a retired failure type are listed on the failure-types page
            conditional = q.failure_type or q.hard_constraint or q.name == r.hard_constraints.question or (
                q in r.intent_details)
            kind = q.kind + (" (conditional)" if conditional else "")
            if q.kind == "rating":
                choices = f"1 to {q.max_rating}"
            elif q.failure_type and q.kind == "multi":
                choices = ", ".join(f"`{c.id}`" for c in q.offered_choices) + " (see the checklist page)"
            else:
                choices = "<br>".join(f"`{c.id}`: {_cell(c.label)}" + (" *(retired)*" if c.retired else "")
                                      for c in q.choices)
            out.append(f"| `{q.name}` | {kind} | {_cell(q.prompt)} | {choices} |")
    v = r.verdict
    out += ["\n## Verdicts\n", "| verdict id | label | when to use it |", "|---|---|---|"]
    out += [f"| `{c.id}` | {_cell(c.label)} | {_cell(c.description)} |" for c in v.choices]
    hc = r.hard_constraints
    out += ["\n## Hard constraints\n", "| id | label | meaning |", "|---|---|---|"]
    out += [f"| `{c.id}` | {_cell(c.label)}{' *(retired in ' + c.retired_in + ')*' if c.retired else ''} | "
            f"{_cell(c.description)} |" for c in hc.choices]
    out += ["\nFor each ticked constraint: " + "; ".join(
        f"`{r.hc_followup_question(f['id'], '<constraint>')}`: {_cell(f['prompt'])}"
        + (f" (only for {', '.join('`' + x + '`' for x in f['only_for'])})" if f.get("only_for") else "")
        for f in r.raw["hard_constraints"]["followups"]) + "."]
    out += ["\n## Intent questions\n", "| id | question | what it covers |", "|---|---|---|"]
    out += [f"| `{q.name}` | {_cell(q.prompt)} | {_cell(q.description)} |" for q in r.intent_questions]
    return "\n".join(out) + "\n"


def _failures(r: Rubric) -> str:
    out = [HEADER, "# Failure types\n",
           "Tick every failure the completion shows. Each one then asks whether the model is **capable** "
           "of avoiding it and could **tell** the user did not want it.\n",
           "| id | label | description |", "|---|---|---|"]
    out = out[:-2] + ["| id | label | description | checklist items offered (capable / not capable) |",
                      "|---|---|---|---|"]
    for f in r.failure_types.choices:
        if f.retired:
            qs = ", ".join(f"`{q.name}`" for q in r.task_questions("review") if q.failure_type == f.id)
            items = f"retired in {f.retired_in}: read from older exports (with {qs}), never offered"
        else:
            items = (", ".join(f"`{i}`" for i in f.relevant_capable) + " / "
                     + ", ".join(f"`{i}`" for i in f.relevant_not_capable))
        out.append(f"| `{f.id}` | {_cell(f.label)} | {_cell(f.description)} | {items} |")
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
    sizes = ", ".join(f"*{c}* (up to {b:g}B parameters)" if b is not None else f"*{c}* (larger)"
                      for c, b in r.size_classes)
    out += ["\n## Declarations by model size and type (for researchers)\n",
            "You never see which model wrote a completion. Researchers declare, per size class and "
            "training regime, which items models of that kind are *not capable of*; the analysis "
            "applies these declarations with the model's metadata, after you label. Evidence about a "
            f"model (a probe, a better variant) can only show it *is* capable. Size classes: {sizes}; "
            f"regimes: {', '.join('*' + g + '*' for g in r.regimes)}.\n",
            "| size class | regime | declared not capable of | why |", "|---|---|---|---|"]
    for d in r.declarations:
        out.append(f"| {d.size} | {d.regime} | {', '.join('`' + i + '`' for i in d.not_capable)} | {_cell(d.why)} |")
    return "\n".join(out) + "\n"


def _policy(r: Rubric) -> str:
    version, text = r.usage_policy
    return (HEADER + f"# Usage policy (default, version {version})\n\n"
            "Judge *prohibited use* against this policy, not against what you imagine a model developer's "
            "terms say. A run may replace it (`oma config generate --usage-policy FILE`); the review form "
            "always shows the policy of its run, under the hard-constraint question.\n\n" + text + "\n")


def render_pages(r: Rubric = RUBRIC) -> dict[str, str]:
    return {"questions.md": _questions(r), "failure-types.md": _failures(r), "capability-checklist.md": _checklist(r),
            "usage-policy.md": _policy(r)}


def write_pages(directory: str | Path, r: Rubric = RUBRIC) -> list[Path]:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render_pages(r).items():
        (d / name).write_text(text, encoding="utf-8")
        paths.append(d / name)
    return paths
