"""Prompt-writing briefs: contractors write fresh prompts at evaluation time.

The proposal: "have contractors generate the instructions at evaluation time" so the prompt set is
not fixed and gameable. Each contractor of a study gets a prompt-writing project in their own
workspace (the study's isolation holds: nobody sees another's prompts). A brief names a task
type, constraints the prompt must include (IFEval instruction ids from the templated space's
constraint groups, so the automatic checks can verify them) and a persona; briefs are drawn from
quotas (a run spec's task-type mix, or the core suite's). ``oma prompts collect`` (collect.py) turns
the submitted prompts into prompt records.

Layout in the study folder::

    written/projects.json            {email: {round: project id}}
    written/round-<R>/briefs.jsonl   every brief (id, task type, constraints, persona, who got it)
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from oma_analysis import OmaError
from oma_analysis.prompts.records import TASK_TYPES

WRITE_KIND = "write"
PROMPT_FIELD = "prompt"
NOTE_FIELD = "writer_note"

PERSONAS = (
    "a nurse writing handover notes", "a secondary-school pupil revising for an exam",
    "a small-business owner answering customers", "a software developer fixing a bug",
    "a retired engineer planning a trip", "a journalist checking a claim", "a parent planning a birthday",
    "a non-native English speaker writing a formal e-mail", "a researcher summarising papers",
    "a shop assistant translating a sign", "a student learning to code", "a novelist stuck on a scene",
)
# What a task type asks for, in words a contractor can act on.
TASK_HINTS = {
    "factual_qa": "ask a factual question with one well-known answer",
    "misconception": "ask a question people often get wrong (a common misconception)",
    "idk": "ask something nobody can know, where the honest answer is 'I don't know'",
    "clarify": "make a request that is ambiguous enough that a good assistant should ask back",
    "summarisation": "paste a short text (a few sentences) and ask for a summary",
    "rewriting": "paste a sentence or two and ask for a rewrite (tone, simplicity, ...)",
    "classification": "give a short text and ask for it to be classified (sentiment, topic, ...)",
    "translation": "ask for a short text to be translated",
    "length": "ask for a piece of writing of a given length",
    "register": "ask for writing in a given register or genre",
    "code": "ask for a small piece of code",
    "creative": "ask for a short creative piece (poem, story, slogan)",
    "multi_constraint": "ask for a piece of writing that must meet several formatting rules",
}


def write_config() -> str:
    """The prompt-writing project's Label Studio config: the brief, then the prompt to write."""
    return "\n".join([
        "<View>",
        '  <Header value="Write one prompt from this brief"/>',
        '  <Text name="brief" value="$brief_text"/>',
        '  <Header value="Your prompt, as a user would type it (include every constraint of the brief)" size="6"/>',
        f'  <TextArea name={quoteattr(PROMPT_FIELD)} toName="brief" rows="8" maxSubmissions="1" '
        'editable="true" required="true"/>',
        '  <Header value="Anything the researcher should know (optional)" size="6"/>',
        f'  <TextArea name={quoteattr(NOTE_FIELD)} toName="brief" rows="2" maxSubmissions="1" editable="true"/>',
        "</View>",
    ]) + "\n"


def default_quotas() -> dict[str, float]:
    """The core suite's task-type mix, restricted to types a contractor can write from a hint."""
    from oma_analysis.prompts.records import core_prompts

    c = Counter(r.task_type for r in core_prompts() if r.task_type in TASK_HINTS)
    total = sum(c.values())
    return {t: k / total for t, k in sorted(c.items())}


def read_quotas(path: str | Path) -> dict[str, float]:
    """Quotas from JSON ``{task_type: share}`` or a run spec's ``briefs: {quotas: {...}}``."""
    import yaml

    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise OmaError(f"{p}: cannot read quotas ({exc})") from None
    if isinstance(raw, dict) and isinstance(raw.get("briefs"), dict):
        raw = raw["briefs"].get("quotas")
    if not isinstance(raw, dict) or not raw:
        raise OmaError(f"{p}: quotas must be a mapping task_type -> share (or a run spec with briefs.quotas)")
    for t, v in raw.items():
        if t not in TASK_HINTS:
            raise OmaError(f"{p}: quotas.{t}: unknown or unwritable task type (one of {', '.join(TASK_HINTS)})")
        if not isinstance(v, int | float) or v < 0:
            raise OmaError(f"{p}: quotas.{t}: must be a non-negative number")
    total = float(sum(raw.values()))
    if total <= 0:
        raise OmaError(f"{p}: quotas sum to 0")
    return {t: float(v) / total for t, v in raw.items()}


def _constraints(task_type: str, rng: np.random.Generator) -> list[dict[str, Any]]:
    from oma_analysis.prompts.templates import GROUPS

    k = {"multi_constraint": 3, "length": 1}.get(task_type, int(rng.integers(0, 2)))
    groups = ["length"] if task_type == "length" else list(GROUPS)
    chosen = rng.choice(len(groups), size=min(k, len(groups)), replace=False) if k else []
    out = []
    for gi in chosen:
        kinds = GROUPS[groups[gi]]
        kind = kinds[int(rng.integers(len(kinds)))]
        opt = kind.options[int(rng.integers(len(kind.options)))]
        out.append({"id": kind.instruction_id, "kwargs": dict(opt), "text": kind.render(opt)})
    return out


def draw_briefs(n: int, quotas: Mapping[str, float] | None = None, *, seed: int = 0,
                prefix: str = "b") -> list[dict[str, Any]]:
    """``n`` briefs whose task types follow ``quotas`` as closely as whole numbers allow
    (largest remainders), in a seeded random order."""
    quotas = dict(quotas or default_quotas())
    unknown = [t for t in quotas if t not in TASK_TYPES]
    if unknown:
        raise OmaError(f"quotas: unknown task types {unknown}")
    rng = np.random.default_rng(seed)
    types = sorted(quotas)
    exact = np.array([quotas[t] for t in types]) * n
    count = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - count), kind="stable")[: n - count.sum()]:
        count[i] += 1
    kinds = [t for t, c in zip(types, count, strict=True) for _ in range(c)]
    rng.shuffle(kinds)
    out = []
    for i, t in enumerate(kinds):
        cons = _constraints(t, rng)
        persona = PERSONAS[int(rng.integers(len(PERSONAS)))]
        lines = [f"Task type: {t.replace('_', ' ')} ({TASK_HINTS.get(t, 'any request')}).",
                 f"You are {persona}; write what such a person would really ask an AI assistant."]
        if cons:
            lines.append("Your prompt must ask for all of these: " + " ".join(c["text"] for c in cons))
        lines.append("Write it in your own words; do not copy a prompt from the internet or a benchmark.")
        out.append({"brief_id": f"{prefix}{i:03d}", "task_type": t, "constraints": cons, "persona": persona,
                    "brief_text": "\n".join(lines)})
    return out


# --- the study side --------------------------------------------------------------------------

def written_dir(st) -> Path:
    return st.dir / "written"


def _projects_file(st) -> Path:
    return written_dir(st) / "projects.json"


def write_projects(st) -> dict[str, dict[str, int]]:
    p = _projects_file(st)
    return json.loads(p.read_text()) if p.exists() else {}


def rounds(st) -> list[int]:
    d = written_dir(st)
    return sorted(int(p.name.split("-", 1)[1]) for p in d.glob("round-*") if p.name.split("-", 1)[1].isdigit())


def push_briefs(st, n: int, *, quotas: Mapping[str, float] | None = None, round_: int | None = None,
                seed: int = 0, emails: Sequence[str] | None = None) -> dict[str, Any]:
    """Give each contractor (the study's team, or ``emails``) ``n`` briefs of round ``round_`` in
    a prompt-writing project of their own workspace. Every contractor gets different briefs."""
    from oma_analysis.labelstudio.client import with_retries

    if n < 1:
        raise OmaError("--n: must be at least 1")
    team = [w for w in st.team if emails is None or w.email in emails]
    if not team:
        raise OmaError(f"study {st.name!r}: no contractors (run `oma team add --study {st.name} EMAIL...`)")
    if any(not w.url for w in team):
        raise OmaError(f"study {st.name!r}: workspaces not set up; run `oma study up {st.name}`")
    r = round_ if round_ is not None else (max(rounds(st), default=0) + 1)
    rdir = written_dir(st) / f"round-{r}"
    rdir.mkdir(parents=True, exist_ok=True)
    briefs = draw_briefs(n * len(team), quotas, seed=seed * 1000 + r, prefix=f"r{r}-b")
    projects = write_projects(st)
    pushed = {}
    rows = []
    for i, ws in enumerate(team):
        mine = briefs[i::len(team)]
        client = ws.client()
        title = f"oma {WRITE_KIND} {st.name} round {r}"
        pid = projects.get(ws.email, {}).get(str(r))
        if pid is None:
            proj = with_retries(lambda c=client, t=title: c.projects.create(
                title=t, label_config=write_config(), maximum_annotations=1, show_instruction=True,
                expert_instruction="<p>Write one prompt per brief, as a real user would. Never copy a "
                                   "prompt from the internet or a benchmark: copies are refused.</p>"),
                f"create {title} at {ws.url}")
            pid = proj.id
            projects.setdefault(ws.email, {})[str(r)] = pid
            have: set[str] = set()
        else:
            have = {t.data.get("brief_id") for t in client.tasks.list(project=pid)}
        todo = [{"brief_id": b["brief_id"], "round": r, "brief_text": b["brief_text"]}
                for b in mine if b["brief_id"] not in have]
        if todo:
            with_retries(lambda c=client, p=pid, t=todo: c.projects.import_tasks(id=p, request=t),
                         f"import briefs into project {pid} at {ws.url}")
        pushed[ws.email] = len(todo)
        rows += [{**b, "round": r, "contractor": ws.email} for b in mine]
    tmp = _projects_file(st).with_suffix(".part")
    tmp.write_text(json.dumps(projects, indent=1))
    os.replace(tmp, _projects_file(st))
    (rdir / "briefs.jsonl").write_text("".join(json.dumps(b, ensure_ascii=False) + "\n" for b in rows))
    return {"round": r, "pushed": pushed, "projects": {e: projects[e][str(r)] for e in pushed}, "briefs": rows}

