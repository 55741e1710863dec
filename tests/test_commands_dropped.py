"""Every command that reads an analysis input says on stderr what the loader set aside (issue 10):
they all load through ``oma_analysis.ingest.load``, which reports the dropped rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from oma_analysis.cli import main
from oma_analysis.rubric import RUBRIC

COMMANDS = Path(__file__).resolve().parents[1] / "oma_analysis" / "commands"


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory) -> Path:
    verdicts = [c.id for c in RUBRIC.verdict.choices]
    lines = ["task,worker,label"]
    for t in range(12):
        for w in range(3):
            lines.append(f"t{t},w{w},{verdicts[(t + (w == 2)) % 3]}")
    lines.append("t0,,ambiguous")  # no worker: set aside, and said so
    p = tmp_path_factory.mktemp("dropped") / "long.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.mark.parametrize("args", [["agreement", "--metric", "percent"], ["rates"], ["labellers"], ["disagreements"],
                                  ["qualify", "score"], ["certify"], ["compare"]])
def test_command_reports_dropped_rows(long_csv: Path, args: list[str]) -> None:
    res = CliRunner().invoke(main, [*args, str(long_csv)])
    # The command may refuse this tiny input (a clean click/OmaError), but never with a traceback.
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert f"oma: {long_csv}: 1 annotation(s) set aside: missing task, worker or label" in res.stderr


def test_commands_load_through_the_one_entry_point() -> None:
    """No command reaches past ``load`` into the loader, and only ``oma load`` (which prints the
    same counts in its own summary) silences the report."""
    for path in sorted(COMMANDS.glob("*.py")):
        src = path.read_text()
        for m in re.finditer(r"from oma_analysis\.ingest(\.\w+)? import ([\w, ]+)", src):
            module, names = m.group(1), {n.strip().split(" as ")[0] for n in m.group(2).split(",")}
            assert module in (None, ".formats"), f"{path.name}: imports from oma_analysis.ingest{module}"
            assert module or names <= {"load", "report_dropped"}, f"{path.name}: imports {names}"
        assert ("quiet=True" in src) == (path.name == "load.py"), path.name
