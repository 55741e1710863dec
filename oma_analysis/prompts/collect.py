"""Submitted prompts of a writing round -> prompt records (``oma prompts collect STUDY``).

Each contractor's prompt-writing project is exported from their own workspace. A submitted
prompt becomes a :class:`PromptRecord` with the brief's task type and constraints, its split and
canary from the secret key (``OMA_SPLIT_KEY``, :mod:`secret`), and ``source`` naming the study
and round. Who wrote it stays outside the record (``authors.json``, 0600, in the study folder), so
nothing downstream -- completions, tasks, Label Studio -- carries the author.

Refused, each with its reason in ``refused.jsonl``: empty prompts, prompts by someone other than
the workspace's contractor, exact copies (after whitespace/case normalisation) and near copies
(character 3-5-gram TF-IDF cosine >= ``near``, scikit-learn) of an earlier round's prompt, of this
round's, or of a public suite (the core suite, IFEval, Self-Instruct): a copied benchmark prompt
would leak into the secret split and can be memorised.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oma_analysis import OmaError
from oma_analysis.prompts.briefs import NOTE_FIELD, PROMPT_FIELD, rounds, write_projects, written_dir
from oma_analysis.prompts.importers import normalise
from oma_analysis.prompts.records import Constraints, PromptRecord, read_prompts, write_prompts

NEAR = 0.8


@dataclass
class Collected:
    round: int
    path: Path
    records: list[PromptRecord] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)


def public_suites() -> list[tuple[str, str]]:
    """(where, text) of every public prompt a contractor might copy (IFEval and Self-Instruct from the
    shared data folder, ``$OMA_SHARED_DIR``: an OmaError naming it when unset, so no copy slips through
    unchecked)."""
    from oma_analysis.prompts.importers import ifeval_dir, import_ifeval, import_self_instruct, self_instruct_dir
    from oma_analysis.prompts.records import core_prompts

    out = [(f"the core suite ({r.id})", r.user_text) for r in core_prompts()]
    ifeval, self_instruct = ifeval_dir(), self_instruct_dir()
    if ifeval.exists():
        out += [(f"IFEval ({r.id})", r.user_text) for r in import_ifeval(ifeval, responses=False).prompts]
    if self_instruct.exists():
        out += [(f"Self-Instruct ({r.id})", r.user_text)
                for r in import_self_instruct(self_instruct, predictions=False).prompts]
    return out


def round_path(st, r: int) -> Path:
    return written_dir(st) / f"round-{r}" / "prompts.jsonl"


def written_prompts(study: str, r: int, home: Path | None = None) -> list[PromptRecord]:
    """The collected records of a round (the run spec's ``written: {study, round}`` source)."""
    from oma_analysis.labelstudio.study import studies_dir

    path = studies_dir(home) / study / "written" / f"round-{r}" / "prompts.jsonl"
    if not path.exists():
        raise OmaError(f"study {study!r} round {r}: no collected prompts at {path}; run `oma prompts collect {study}`")
    return read_prompts(path)


class _Index:
    """Near-duplicate look-up over reference texts (TF-IDF on character n-grams, cosine)."""

    def __init__(self, refs: list[tuple[str, str]]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.where = [w for w, _ in refs]
        self.exact = {normalise(t): w for w, t in refs}
        if refs:
            self.vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
            self.mat = self.vec.fit_transform([normalise(t) for _, t in refs])

    def match(self, text: str, near: float) -> str | None:
        key = normalise(text)
        if key in self.exact:
            return f"copy of {self.exact[key]}"
        if not self.where:
            return None
        sims = (self.mat @ self.vec.transform([key]).T).toarray().ravel()
        i = int(sims.argmax())
        return f"near-duplicate of {self.where[i]} (cosine {sims[i]:.2f} >= {near})" if sims[i] >= near else None


def _export(ws, pid: int) -> list[dict]:
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.pull import pull

    with tempfile.TemporaryDirectory() as d:
        path = pull(connect(ws.url, ws.admin_token()), pid, Path(d) / "export.json")
        return json.loads(path.read_text())


def _text(results: list[dict], name: str) -> str:
    for res in results or []:
        if res.get("from_name") == name:
            t = (res.get("value") or {}).get("text") or []
            return "\n".join(t) if isinstance(t, list) else str(t)
    return ""


def collect_round(st, *, round_: int | None = None, test_fraction: float = 0.3, near: float = NEAR,
                  key: bytes | None = None, public: list[tuple[str, str]] | None = None) -> Collected:
    from oma_analysis.prompts.secret import split_key, split_records

    done = rounds(st)
    if not done:
        raise OmaError(f"study {st.name!r}: no writing round yet; run `oma prompts brief {st.name} --n N`")
    r = round_ if round_ is not None else max(done)
    if r not in done:
        raise OmaError(f"study {st.name!r}: no round {r} (rounds: {done})")
    key = key or split_key()
    briefs = {}
    for line in (written_dir(st) / f"round-{r}" / "briefs.jsonl").read_text().splitlines():
        b = json.loads(line)
        briefs[b["brief_id"]] = b
    refs = public if public is not None else public_suites()
    for earlier in done:
        if earlier < r and round_path(st, earlier).exists():
            refs += [(f"round {earlier} prompt {p.id}", p.user_text) for p in read_prompts(round_path(st, earlier))]
    index = _Index(refs)
    kept: list[tuple[PromptRecord, str]] = []
    refused: list[dict[str, Any]] = []
    this_round: list[tuple[str, str]] = []
    projects = write_projects(st)
    for ws in st.team:
        pid = projects.get(ws.email, {}).get(str(r))
        if pid is None:
            continue
        for task in _export(ws, pid):
            bid = (task.get("data") or {}).get("brief_id")
            brief = briefs.get(bid)
            for ann in task.get("annotations") or []:
                if ann.get("was_cancelled"):
                    continue
                by = ann.get("completed_by")
                by = by.get("email") if isinstance(by, dict) else by
                where = {"brief": bid, "task": task.get("id"), "annotation": ann.get("id"),
                         "author_ref": _author_ref(ws.email)}
                text = _text(ann.get("result"), PROMPT_FIELD).strip()
                reason = None
                if brief is None:
                    reason = f"task {task.get('id')}: brief {bid!r} is not in round {r}'s briefs"
                elif by != ws.email:
                    reason = f"written by {by!r}, not by the workspace's contractor"
                elif not text:
                    reason = f"field {PROMPT_FIELD!r} is empty"
                else:
                    reason = index.match(text, near) or _Index(this_round).match(text, near)
                if reason:
                    refused.append({**where, "reason": reason})
                    continue
                rid = f"w{r}-" + hashlib.sha256(normalise(text).encode()).hexdigest()[:12]
                rec = PromptRecord(
                    id=rid, messages=[{"role": "user", "content": text}], task_type=brief["task_type"],
                    constraints=Constraints([c["id"] for c in brief["constraints"]],
                                            [dict(c["kwargs"]) for c in brief["constraints"]]),
                    source=f"written:{st.name}:round-{r}", licence="written for this study",
                    meta={"brief": bid, "round": r, "persona": brief["persona"],
                          **({"writer_note": n} if (n := _text(ann.get("result"), NOTE_FIELD).strip()) else {})})
                this_round.append((f"round {r} prompt {rid}", text))
                kept.append((rec, ws.email))
    split = split_records([rec for rec, _ in kept], key, test_fraction)
    records = sorted(split.dev + split.test, key=lambda x: x.id)
    path = round_path(st, r)
    write_prompts(records, path)
    (path.parent / "refused.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in refused))
    _write_private(path.parent / "authors.json", {rec.id: email for rec, email in kept})
    return Collected(r, path, records, refused)


def _author_ref(email: str) -> str:
    # refusals are shown to the researcher; a short stable reference is enough to follow up
    return "contractor-" + hashlib.sha256(email.encode()).hexdigest()[:8]


def _write_private(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(obj, fh, indent=1)
    os.replace(tmp, path)
