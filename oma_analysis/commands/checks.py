"""``oma checks FILE --json``: run the automatic capability checks on JSONL records.

Each input line is ``{"prompt": str, "response": str}`` with optional IFEval
``instruction_id_list`` + ``kwargs``. With ``--json`` each output line is
``{"checks": [{check_id, item, passed, evidence: [{start, end, text, note}], ...}],
"instructions": [{"instruction_id", "followed"}]}`` (``instructions`` only when the record lists
instruction ids; ``followed`` is null where no check covers the type: every IFEval type is covered,
with the official checker's semantics). ``item`` is a capable checklist id, except for
``offensive.language``, whose ``item`` is the rubric's hard constraint on unrequested toxic/NSFW
content (whether it was requested is the labeller's call). Output order = input order.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


def register(group: click.Group) -> None:
    @group.command("checks")
    @click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per record (the stable contract).")
    def checks(file: Path, as_json: bool) -> None:
        """Run the automatic capability checks on FILE (JSONL of {prompt, response})."""
        from ..checks import check_record
        from ..jsonl import iter_jsonl

        for no, rec in iter_jsonl(file):
            where = f"{file} line {no}"
            report = check_record(rec, where=where)
            if as_json:
                out = report.to_dict(with_instructions=isinstance(rec, dict) and "instruction_id_list" in rec)
                click.echo(json.dumps(out, ensure_ascii=False))
                continue
            failed = report.failed
            status = "ok" if not failed else "FAILED " + ", ".join(c.check_id for c in failed)
            click.echo(f"line {no}: {len(report.checks)} checks, {status}")
            for c in failed:
                for s in c.evidence[:3]:
                    click.echo(f"    {c.check_id} [{s.start}:{s.end}] {s.note}: {s.text[:70]!r}")
