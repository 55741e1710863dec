"""A study: one rubric and manual version, a team of labellers, one isolated workspace each.

The study is the unit push, pull, retraining and snapshots work on. It lives as JSON in
``$OMA_HOME/studies/<name>/study.json`` (no secrets: each workspace's admin token stays in that
workspace's own 0600 ``credentials.json``). Layout::

    researcher's Label Studio (oma ls up)   gold project "oma <kind> gold <study>": the answers
    labeller 1's Label Studio (own DB)      project "oma <kind> <study>": their queue, gold unmarked
    labeller 2's Label Studio ...

``push_study`` gives each task to ``overlap`` labellers (balanced, seeded), shuffles each queue,
interleaves the gold tasks (without answers) and keeps tasks of one prompt apart; ``pull_study``
exports every workspace and the gold project concurrently and merges them into ONE Label Studio
JSON export the loader reads as a single project's: tasks are keyed by ``task_key`` (the same in
every workspace), the worker is the labeller's e-mail, gold answers come only from the researcher.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from oma_analysis import OmaError
from oma_analysis.labelstudio.client import with_retries
from oma_analysis.labelstudio.push import TASK_KEY
from oma_analysis.labelstudio.workspaces import Workspace, slug, start_all
from oma_analysis.lifecycle import oma_home
from oma_analysis.lifecycle.procs import free_port
from oma_analysis.rubric import RUBRIC
from oma_analysis.rubric.xml import KINDS

STUDY_FILE = "study.json"


def studies_dir(home: Path | None = None) -> Path:
    return (home or oma_home()) / "studies"


@dataclass
class Study:
    name: str
    kind: str = "review"
    overlap: int = 2
    seed: int = 0
    rubric_version: str = ""
    manual_version: str = ""
    manual_url: str | None = None
    researcher_url: str = ""
    gold_project_id: int | None = None
    team: list[Workspace] = field(default_factory=list)
    # task_key -> the labellers it was given to (gold: every labeller), kept so a re-push is stable
    assignments: dict[str, list[str]] = field(default_factory=dict)
    gold_keys: list[str] = field(default_factory=list)
    # every push: source, count, rubric and manual version at the time (the batch a task belongs to)
    batches: list[dict] = field(default_factory=list)
    task_batch: dict[str, int] = field(default_factory=dict)
    home: str = ""

    @property
    def dir(self) -> Path:
        return Path(self.home) if self.home else studies_dir() / self.name

    @property
    def title(self) -> str:
        return f"oma {self.kind} {self.name}"

    @property
    def gold_title(self) -> str:
        return f"oma {self.kind} gold {self.name}"

    def workspace(self, email: str) -> Workspace:
        for w in self.team:
            if w.email == email:
                return w
        raise OmaError(f"study {self.name!r}: no labeller {email!r} (team: {[w.email for w in self.team]})")

    def save(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / STUDY_FILE
        tmp = path.with_suffix(".part")
        d = asdict(self)
        tmp.write_text(json.dumps(d, indent=1))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, name: str, home: Path | None = None) -> Study:
        path = studies_dir(home) / name / STUDY_FILE
        if not path.exists():
            raise OmaError(f"no study {name!r} (looked for {path}); create it with `oma study create {name}`")
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise OmaError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        d["team"] = [Workspace(**w) for w in d.get("team", [])]
        return cls(**d)


def _researcher():
    from oma_analysis.labelstudio.client import connect

    return connect()


def create_study(name: str, *, kind: str = "review", overlap: int = 2, seed: int = 0,
                 manual_url: str | None = None, researcher=None, home: Path | None = None) -> Study:
    """Create (or load and update) the study and its gold project on the researcher's server."""
    from oma_analysis.labelstudio.instructions import manual_version
    from oma_analysis.labelstudio.projects import create_or_update

    if kind not in KINDS:
        raise OmaError(f"--kind: unknown project kind {kind!r}; expected one of {KINDS}")
    if not name or slug(name) != name.lower():
        raise OmaError(f"study name {name!r}: use letters, digits, '.', '_' or '-'")
    path = studies_dir(home) / name / STUDY_FILE
    st = Study.load(name, home) if path.exists() else Study(name=name, kind=kind, overlap=overlap, seed=seed,
                                                           home=str(studies_dir(home) / name))
    st.manual_url = manual_url or st.manual_url
    st.rubric_version, st.manual_version = RUBRIC.version, manual_version()
    client = researcher or _researcher()
    gold = create_or_update(client, st.kind, title=st.gold_title, overlap=1)
    st.gold_project_id = gold.id
    st.researcher_url = str(client._client_wrapper.get_base_url()) if hasattr(client, "_client_wrapper") else ""
    st.save()
    return st


def configure_project(st: Study, ws: Workspace):
    """The labeller's project in their workspace: the study's config, one annotation per task,
    instructions from the manual shown before labelling."""
    from oma_analysis.labelstudio.instructions import instructions_html
    from oma_analysis.labelstudio.projects import create_or_update

    client = ws.client()
    proj = create_or_update(client, st.kind, title=st.title, overlap=1)
    html = instructions_html(st.manual_url)
    if proj.expert_instruction != html or not proj.show_instruction:
        with_retries(lambda: client.projects.update(id=proj.id, expert_instruction=html, show_instruction=True),
                     f"set instructions of project {proj.id} at {ws.url}")
    ws.project_id = proj.id
    return proj


def add_team(st: Study, emails: Iterable[str], *, start: bool = True) -> list[Workspace]:
    """Give each new labeller a workspace (own Label Studio, own database) with the study's
    project; start them all concurrently. Returns the new workspaces (the researcher sends each
    labeller their workspace's invite link, see :func:`workspaces.invite_url`)."""
    known = {w.email for w in st.team}
    new = []
    for email in emails:
        email = email.strip()
        if "@" not in email:
            raise OmaError(f"oma team add: {email!r} is not an e-mail address")
        if email in known:
            continue
        known.add(email)
        new.append(Workspace(email=email, home=str(st.dir / "workspaces" / slug(email)), port=free_port()))
    st.team += new
    st.save()
    if start:
        up(st)
    return new


def up(st: Study, emails: Sequence[str] | None = None) -> list[Workspace]:
    """Start the team's workspaces (all, or ``emails``) and make sure each has the study's project."""
    wss = [w for w in st.team if emails is None or w.email in emails]
    start_all(wss)
    with ThreadPoolExecutor(max_workers=max(1, len(wss))) as pool:
        list(pool.map(lambda w: configure_project(st, w), wss))
    st.save()
    return wss


# --- distribution ---------------------------------------------------------------------------

def _spread(queue: list[str], prompt_of: Mapping[str, str]) -> list[str]:
    """Reorder so no two neighbours share a prompt where that is possible: greedily take the
    earliest remaining task whose prompt differs from the previous one (keeps the shuffle's order
    otherwise)."""
    rest, out = list(queue), []
    while rest:
        prev = prompt_of.get(out[-1]) if out else None
        i = next((i for i, k in enumerate(rest) if prev is None or prompt_of.get(k) != prev), 0)
        out.append(rest.pop(i))
    return out


def distribute(keys: Sequence[str], labellers: Sequence[str], overlap: int, *, seed: int = 0,
               gold: Sequence[str] = (), prompt_of: Mapping[str, str] | None = None,
               load: Mapping[str, int] | None = None) -> dict[str, list[str]]:
    """Each labeller's queue: every task in ``keys`` goes to ``overlap`` labellers, always the
    least loaded so far (ties broken at random, seeded), every gold task to everyone; each queue
    shuffled, then spread so tasks of one prompt are not served back to back.

    >>> q = distribute([f"t{i}" for i in range(10)], ["a", "b", "c"], 2, gold=["g1", "g2"])
    >>> sorted(len(v) for v in q.values()), all({"g1", "g2"} <= set(v) for v in q.values())
    ([8, 9, 9], True)
    """
    if overlap < 1 or overlap > len(labellers):
        raise OmaError(f"overlap {overlap} needs between 1 and {len(labellers)} labellers in the team")
    rng = np.random.default_rng(seed)
    count = Counter({lab: (load or {}).get(lab, 0) for lab in labellers})
    queues: dict[str, list[str]] = {lab: [] for lab in labellers}
    order = list(keys)
    rng.shuffle(order)
    for k in order:
        tie = dict(zip(labellers, rng.random(len(labellers)), strict=True))
        chosen = sorted(labellers, key=lambda lab, t=tie: (count[lab], t[lab]))
        for lab in chosen[:overlap]:
            queues[lab].append(k)
            count[lab] += 1
    for lab in labellers:
        q = queues[lab] + list(gold)
        rng.shuffle(q)
        queues[lab] = _spread(q, prompt_of or {})
    return queues


# --- push -----------------------------------------------------------------------------------

@dataclass
class StudyPush:
    created: dict[str, int]
    skipped: dict[str, int]
    gold_created: int = 0
    batch: int = 0


def push_study(st: Study, tasks: Sequence[dict], *, gold: bool = False, source: str = "",
               researcher=None) -> StudyPush:
    """Push prepared tasks (:func:`push.prepare`, same config) to the study.

    Regular tasks go to ``overlap`` labellers each. Gold tasks (``gold=True``) go with their
    answers (the records' ``annotations``) to the researcher's gold project only, and without
    answers or predictions into every labeller's queue. Already pushed tasks keep their labellers,
    so a rerun sends only what is missing."""
    from oma_analysis.labelstudio.push import push

    if not st.team:
        raise OmaError(f"study {st.name!r} has no team yet: run `oma team add --study {st.name} EMAIL...`")
    if any(w.project_id is None or not w.url for w in st.team):
        raise OmaError(f"study {st.name!r}: workspaces not set up; run `oma study up {st.name}`")
    emails = [w.email for w in st.team]
    by_key = {t["data"][TASK_KEY]: t for t in tasks}
    prompt_of = {k: str(t["data"].get("prompt_id", "")) for k, t in by_key.items()}
    st.batches.append({"batch": len(st.batches) + 1, "source": source, "n": len(by_key), "gold": gold,
                       "rubric_version": RUBRIC.version, "manual_version": st.manual_version,
                       "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
    batch = st.batches[-1]["batch"]
    for k in by_key:
        st.task_batch.setdefault(k, batch)
    gold_created = 0
    new = [k for k in by_key if k not in st.assignments]
    if gold:
        client = researcher or _researcher()
        gold_created = push(client, st.gold_project_id, [_gold_task(by_key[k]) for k in by_key]).created
        for k in new:
            st.assignments[k] = list(emails)
            st.gold_keys.append(k)
        queues = distribute([], emails, 1, seed=st.seed + batch, gold=new, prompt_of=prompt_of)
    else:
        load = Counter(e for labs in st.assignments.values() for e in labs)
        queues = distribute(new, emails, st.overlap, seed=st.seed + batch, prompt_of=prompt_of, load=load)
        for lab, q in queues.items():
            for k in q:
                st.assignments.setdefault(k, []).append(lab)
    # Labellers who were given an already pushed task but lack it (an interrupted push) get it too.
    for k in by_key:
        for lab in st.assignments.get(k, []):
            if k not in queues.get(lab, []):
                queues.setdefault(lab, []).append(k)
    st.save()

    def one(ws: Workspace) -> tuple[str, int, int]:
        q = [_labeller_task(by_key[k]) for k in queues.get(ws.email, [])]
        res = push(ws.client(), ws.project_id, q, batch_size=len(q) or 1)  # one batch keeps the order
        return ws.email, res.created, res.skipped

    with ThreadPoolExecutor(max_workers=len(st.team)) as pool:
        got = list(pool.map(one, st.team))
    return StudyPush({e: c for e, c, _ in got}, {e: s for e, _, s in got}, gold_created, batch)


def _labeller_task(task: dict) -> dict:
    # Only the data: a labeller never receives answers, and a gold task must look like any other.
    return {"data": task["data"]}


def _gold_task(task: dict) -> dict:
    anns = [{**a, "ground_truth": True} for a in task.get("annotations") or []]
    return {"data": task["data"], **({"annotations": anns} if anns else {})}


# --- pull -----------------------------------------------------------------------------------

@dataclass
class StudyPull:
    out: Path
    tasks: int
    annotations: dict[str, int]
    gold_annotations: int
    foreign: list[dict]  # annotations in a workspace by someone other than its labeller (left out)
    resumed: list[str]


def _export_one(url: str, token: str, project_id: int, part: Path, resume: bool) -> bool:
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.pull import pull

    if resume and part.exists():
        return True
    pull(connect(url, token), project_id, part)
    return False


def pull_study(st: Study, out: str | Path, *, resume: bool = True, researcher_token: str | None = None,
               on_part: Callable[[str, Path], None] | None = None) -> StudyPull:
    """Export every workspace and the gold project concurrently into ``OUT.parts/`` and merge them
    into ``out``. An interrupted pull leaves the finished parts, which a rerun reuses; a finished
    pull removes them. ``on_part(name, path)`` is called for every part (e.g. to snapshot it)."""
    from oma_analysis.labelstudio.server import ServerState, load_credentials

    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    url = st.researcher_url or (ServerState.load().url if ServerState.load() else "")
    token = researcher_token or os.environ.get("OMA_LS_TOKEN") or load_credentials().token
    jobs = [("researcher", url, token, st.gold_project_id)]
    for w in st.team:
        if w.project_id is None:
            raise OmaError(f"study {st.name!r}: {w.email} has no project yet; run `oma study up {st.name}`")
        jobs.append((slug(w.email), w.url, w.admin_token(), w.project_id))
    with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
        resumed = [name for (name, *_), was in zip(jobs, pool.map(
            lambda j: _export_one(j[1], j[2], j[3], parts / f"{j[0]}.json", resume), jobs), strict=True) if was]
    if on_part:
        for name, *_ in jobs:
            on_part(name, parts / f"{name}.json")
    merged, summary = merge_exports(st, parts)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps(merged, ensure_ascii=False))
    os.replace(tmp, out)
    shutil.rmtree(parts)
    return StudyPull(out=out, resumed=resumed, **summary)


def _read_part(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise OmaError(f"{path}: not valid JSON ({exc.msg}); delete it and pull again") from None
    if not isinstance(data, list):
        raise OmaError(f"{path}: expected a Label Studio JSON export (a list of tasks)")
    return data


def merge_exports(st: Study, parts: Path) -> tuple[list[dict], dict]:
    """One export from the parts: a task per ``task_key``; annotation ids renumbered (each
    workspace counts from 1), each annotation keeps where it came from in ``oma_source``."""
    merged: dict[str, dict] = {}
    counts: dict[str, int] = {}
    foreign: list[dict] = []
    next_id = 1
    sources = [("researcher", None)] + [(slug(w.email), w.email) for w in st.team]
    gold_n = 0
    for name, email in sources:
        for t in _read_part(parts / f"{name}.json"):
            data = t.get("data") or {}
            key = data.get(TASK_KEY)
            if not key:
                raise OmaError(f"{parts / (name + '.json')}: task {t.get('id')} has no {TASK_KEY}; "
                               "was it pushed by oma?")
            # the versions of the batch the task was pushed in (the manual may have changed since)
            b = next((x for x in st.batches if x.get("batch") == st.task_batch.get(key)), {})
            m = merged.setdefault(key, {"id": key, "data": data, "annotations": [], "predictions": [],
                                        "oma": {"batch": st.task_batch.get(key), "gold": key in st.gold_keys,
                                                "rubric_version": b.get("rubric_version", st.rubric_version),
                                                "manual_version": b.get("manual_version", st.manual_version)}})
            for a in t.get("annotations") or []:
                who = (a.get("completed_by") or {}).get("email") if isinstance(a.get("completed_by"), dict) else None
                if email is not None and who != email:
                    foreign.append({"workspace": email, "task": key, "annotation": a.get("id"), "by": who})
                    continue
                a = {**a, "oma_source": {"workspace": name, "annotation": a.get("id"), "task": t.get("id")},
                     "id": next_id}
                next_id += 1
                if email is None:
                    a["ground_truth"] = True  # everything in the gold project is the researcher's answer
                    gold_n += 1
                else:
                    a["ground_truth"] = False  # a labeller cannot make gold
                    counts[email] = counts.get(email, 0) + 1
                m["annotations"].append(a)
            seen = {json.dumps(p.get("result"), sort_keys=True) for p in m["predictions"]}
            for p in t.get("predictions") or []:
                if json.dumps(p.get("result"), sort_keys=True) not in seen:
                    m["predictions"].append(p)
    return list(merged.values()), {"tasks": len(merged), "annotations": counts, "gold_annotations": gold_n,
                                   "foreign": foreign}
