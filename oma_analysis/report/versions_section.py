"""The report's per-version section: per rubric/manual version and batch, agreement on every
question (raw answers and derived), ambiguous share, gold accuracy per labeller, and the questions
of lowest agreement (the list a researcher rewrites instructions from). The numbers are
:func:`oma_analysis.stats.versions.per_version`'s; this module only feeds and shows them.

A study pull records each task's batch and versions (``task_versions``); a single-project export
does not, so :func:`project_versions` records them per project: each project one batch, with the
rubric and manual versions its config was generated from (this installation's).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from oma_analysis.stats.versions import KEYS, per_version

TABLES = {"lowest": "Questions of lowest agreement (rewrite these instructions first)",
          "agreement": "Agreement per question (percent agreement between labellers; raw and derived questions)",
          "ambiguous": "Ambiguous share of the rule-applied verdicts", "gold": "Gold accuracy per labeller"}


def project_versions(exports: Mapping[str, str | Path], rubric_version: str | None = None,
                     manual_version: str | None = None) -> pd.DataFrame:
    """``task, batch, rubric_version, manual_version`` for single-project JSON exports
    (``{batch name: export path}``); versions default to this installation's."""
    import json

    from oma_analysis.labelstudio.instructions import manual_version as current_manual
    from oma_analysis.rubric import RUBRIC

    rv, mv = rubric_version or RUBRIC.version, manual_version or current_manual()
    rows = [{"task": str(t["id"]), "batch": batch, "rubric_version": rv, "manual_version": mv}
            for batch, path in exports.items() for t in json.loads(Path(path).read_text(encoding="utf-8"))]
    return pd.DataFrame(rows, columns=["task", *KEYS])


def versions_records(frame: pd.DataFrame, versions: pd.DataFrame) -> dict[str, list[dict]]:
    """report.json's ``versions``: each table of ``per_version`` as records."""
    return {name: t.astype(object).where(t.notna(), None).to_dict("records")
            for name, t in per_version(frame, versions).items()}


def render_html(section: Mapping[str, list[dict]] | None, table: Callable[[list[dict]], str]) -> str:
    if not section:
        return ""
    parts = ["<h2>Per rubric/manual version and batch</h2><p>Every batch records the rubric and manual version "
             "it was labelled under; compare them to see whether a rewrite helped.</p>"]
    for name, title in TABLES.items():
        parts.append(f"<h3>{html.escape(title)}</h3>" + table(list(section.get(name) or [])))
    return "\n".join(parts)
