"""The demo's round of labellers' questions (issue 20): a simulated labeller asks in the form's
question field, `oma questions` queues it, the researcher's answer becomes a FAQ entry with a new
manual version. The demo answers into a copy of the manual (``<demo>/manual``), never the
repository's, and keeps the queue in ``<demo>/questions/``."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from oma_analysis.rubric import RUBRIC

QUESTION = "The user asked for 'a short answer' and got five sentences: does that fail the length intent?"
ANSWER = ("Judge length against what the request implies: 'short' means a sentence or two, so five "
          "sentences fail the length intent when nothing else in the request asks for detail.")


@dataclass
class DemoQueue:
    """What the questions module needs of a study, for the demo's single project."""

    dir: Path
    name: str = "demo"
    manual_version: str = ""
    manual_url: str | None = None
    team: list = field(default_factory=list)

    def save(self) -> None:  # the demo keeps no study file
        pass


def questions_round(url: str, token: str, project_id: int, labellers: Sequence, work: Path,
                    echo: Callable[[str], None] = print) -> dict[str, int | str]:
    from oma_analysis.labelstudio.client import connect
    from oma_analysis.labelstudio.instructions import manual_version
    from oma_analysis.labelstudio.pull import pull
    from oma_analysis.labelstudio.questions import answer_question, gather
    from oma_analysis.labelstudio.users import signup_annotator
    from oma_analysis.locations import manual_dir

    manual = work / "manual"
    if not manual.exists():
        shutil.copytree(manual_dir(), manual, ignore=shutil.ignore_patterns("site"))
    asker = labellers[-1]  # the demo's weakest labeller asks
    me = signup_annotator(url, token, asker.email, asker.password)  # logs in: already signed up
    anns = [a if isinstance(a, dict) else a.dict()
            for t in connect(url, token).tasks.list(project=project_id, fields="all") for a in (t.annotations or [])]
    mine = [a for a in anns if a.get("completed_by") == me.user_id]
    if not mine:
        echo(f"questions: {asker.email} has no annotation in project {project_id}; nothing asked")
        return {"questions": 0}
    ann = mine[0]
    name = RUBRIC.labeller_question
    result = [r for r in ann["result"] if r.get("from_name") != name]
    to = next((r["to_name"] for r in result if r.get("to_name")), "completion")
    result.append({"from_name": name, "to_name": to, "type": "textarea", "value": {"text": [QUESTION]}})
    me.client(url).annotations.update(id=ann["id"], result=result)
    (work / "questions").mkdir(parents=True, exist_ok=True)
    export = pull(connect(url, token), project_id, work / "questions" / "export.json")
    q = DemoQueue(dir=work, manual_version=manual_version(manual / "docs"))
    rows = gather(q, export, docs=manual / "docs")
    row = next(r for r in rows if r["question"] == QUESTION)
    res = answer_question(q, row["qid"], ANSWER, docs=manual / "docs")
    echo(f"questions: {len(rows)} in {work / 'questions' / 'queue.md'}; {row['qid']} ({row['rubric_question']}, "
         f"{row['manual_section']}) answered -> FAQ {res.faq_page}, manual {res.old_version} -> {res.new_version}")
    return {"questions": len(rows), "manual_version": res.new_version}
