"""What the analyst notebooks start from: the newest report on this machine and its inputs, loaded
and profiled exactly as the report loaded them, so a notebook's numbers are the report's.

A notebook runs from its own folder with no environment variables: the report is looked for in
``$OMA_HOME`` (when set), then in ``.oma`` in the working directory and every folder above it
(``make demo`` writes ``.oma/demo/report/report.json`` at the repository root).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from oma_analysis import OmaError

__all__ = ["Latest", "find_report", "load_latest"]

_PATTERNS = ("report.json", "*/report.json", "*/*/report.json", "*/*/*/report.json")


def _homes(start: Path) -> list[Path]:
    homes = [Path(os.environ["OMA_HOME"])] if os.environ.get("OMA_HOME") else []
    return homes + [d / ".oma" for d in (start, *start.parents)]


def find_report(start: str | Path | None = None) -> Path:
    """The newest ``report.json`` (by modification time) in the homes of the module doc."""
    start = Path(start or Path.cwd()).resolve()
    homes = _homes(start)
    found = [p for h in homes if h.is_dir() for pat in _PATTERNS for p in h.glob(pat)]
    if not found:
        raise OmaError("no report.json found in " + ", ".join(str(h) for h in homes[:4])
                       + ", ...: run `make demo` or `oma report INPUT --out .oma/NAME/report` first")
    return max(found, key=lambda p: p.stat().st_mtime)


@dataclass
class Latest:
    path: Path  # report.json
    report: dict
    loaded: object  # ingest.loader.Loaded, profiles applied
    codemap: str | None
    also: list[str]

    @property
    def frame(self) -> pd.DataFrame:
        return self.loaded.frame

    @property
    def settings(self) -> dict:
        return self.report["settings"]


def load_latest(start: str | Path | None = None) -> Latest:
    """Find the newest report, read its export (and code map, and the run's compare/probe exports)
    and apply the capability profiles as the report did."""
    from oma_analysis.ingest import load
    from oma_analysis.report.profiles import apply_profiles

    path = find_report(start)
    report = json.loads(path.read_text(encoding="utf-8"))
    inputs = report.get("settings", {}).get("inputs") or {"export": report["provenance"]["input"]}
    export, codemap, also = inputs["export"], inputs.get("codemap"), list(inputs.get("also") or [])
    for p in [export, codemap, *also]:
        if p and not Path(p).exists():
            raise OmaError(f"{path}: the report's input {p} is gone; rebuild the report")
    loaded = load(export, codemap)
    elicitation = None
    if codemap:
        from oma_analysis.tasks.blinding import CodeMap

        elicitation = {"codes": CodeMap.load(codemap), "frames": [load(p, codemap).frame for p in also]}
    apply_profiles(loaded, codemap, elicitation, confidence=report["settings"]["confidence"])
    return Latest(path, report, loaded, codemap, also)


def headline_rates(latest: Latest, questions: list[str] | None = None) -> pd.DataFrame:
    """Bounded rates per model as the report computes them (its policy and confidence)."""
    from oma_analysis.rubric import RUBRIC
    from oma_analysis.stats.aggregate import aggregate, split_verdict_rows
    from oma_analysis.stats.rates import bounded_rates

    qs = questions or [RUBRIC.MISALIGNMENT]
    rows, _ = split_verdict_rows(latest.frame, qs)
    return bounded_rates(aggregate(rows, latest.settings["policy"], qs), latest.settings["confidence"])


def same_as_report(latest: Latest, rates: pd.DataFrame | None = None, agreement: dict | None = None) -> bool:
    """Raise unless the notebook's headline numbers equal the report's (to 1e-12)."""
    from oma_analysis.rubric import RUBRIC

    if rates is not None:
        rep = {r["model"]: r for r in latest.report["rates"] if r.get("question") == RUBRIC.MISALIGNMENT}
        for r in rates.to_dict("records"):
            want = rep[r["model"]]
            got = (r["lower"], r["upper"], r["lower_lo"], r["lower_hi"], r["upper_lo"], r["upper_hi"])
            exp = (want["lower"], want["upper"], *want["lower_ci"], *want["upper_ci"])
            if any(abs(a - b) > 1e-12 for a, b in zip(got, exp, strict=True)):
                raise OmaError(f"{latest.path}: {r['model']}: notebook rates {got} != report {exp}")
    if agreement is not None:
        rep = latest.report["agreement"]["headline"]
        for m, r in agreement.items():
            a, b = r["value"], rep[m]["value"]
            if (a is None) != (b is None) or (a is not None and abs(a - b) > 1e-12):
                raise OmaError(f"{latest.path}: {m}: notebook agreement {a} != report {b}")
    return True
