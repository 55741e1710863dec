"""``oma checks FILE --json``: run the automatic capability checks on JSONL records.

Each input line is ``{"prompt": str, "response": str}`` with optional IFEval
``instruction_id_list`` + ``kwargs``. With ``--json`` each output line is
``{"checks": [{check_id, item, passed, evidence: [{start, end, text, note}], ...}],
"instructions": [{"instruction_id", "followed"}]}`` (``instructions`` only when the record lists
instruction ids; ``followed`` is null where no check covers the type: every IFEval type is covered,
with the official checker's semantics). ``item`` is a capable checklist id, except for
``offensive.language``, whose ``item`` is the rubric's hard constraint on unrequested toxic/NSFW
content (whether it was requested is the labeller's call). Output order = input order.

Usage logs at scale: ``oma checks --shards 'logs/*.jsonl' --out results/ [--ray [--ray-address
ray://head:10001] [--workers N]]`` checks every shard (JSONL or Parquet) and writes Parquet result
rows partitioned by model and date, resumable by shard (see ``oma_analysis.scale.shards``).
Without ``--ray`` the shards run in this process (the default; best for small inputs).
"""

from __future__ import annotations

import json
from pathlib import Path

import click


def register(group: click.Group) -> None:
    @group.command("checks")
    @click.argument("file", type=click.Path(path_type=Path, dir_okay=False), required=False)
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per record (the stable contract).")
    @click.option("--shards", help="Glob of JSONL/Parquet shards (quote it); results go to --out.")
    @click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
                  help="With --shards: folder of Parquet results, partitioned model=/date=.")
    @click.option("--ray", "use_ray", is_flag=True, help="With --shards: map the batches on Ray Data.")
    @click.option("--ray-address", help="An existing Ray cluster (e.g. ray://head:10001 or auto); "
                  "default: a local Ray on this machine.")
    @click.option("--workers", type=int, help="With --ray and a local Ray: CPUs to use (default: all).")
    @click.option("--classifier", type=click.Path(path_type=Path, file_okay=False, exists=True),
                  help="With --shards: also score each record with the intent classifier under this "
                  "model root (column p_not_met).")
    def checks(file: Path | None, as_json: bool, shards: str | None, out_dir: Path | None, use_ray: bool,
               ray_address: str | None, workers: int | None, classifier: Path | None) -> None:
        """Run the automatic capability checks on FILE (JSONL of {prompt, response}), or on --shards."""
        from oma_analysis import OmaError

        if shards or out_dir:
            if file is not None or not (shards and out_dir):
                raise OmaError("--shards GLOB and --out DIR go together, without FILE")
            from oma_analysis.scale.shards import run_shards

            run = run_shards(shards, out_dir, ray=use_ray or bool(ray_address), ray_address=ray_address,
                             workers=workers, classifier=classifier)
            click.echo(json.dumps({"processed": len(run.processed), "skipped": len(run.skipped),
                                   "records": run.records, "out": str(out_dir)}))
            return
        if file is None:
            raise OmaError("give FILE, or --shards GLOB --out DIR")
        from oma_analysis.checks import check_record
        from oma_analysis.jsonl import iter_jsonl

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
