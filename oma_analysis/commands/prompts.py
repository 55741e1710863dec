"""oma prompts: sample the templated space, split dev/test secretly, scan for canaries, import."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from oma_analysis import OmaError


def register(group: click.Group) -> None:
    group.add_command(prompts)


@click.group()
def prompts() -> None:
    """Prompt suites: core suite, templated space, secret split, importers."""


@prompts.command()
@click.option("--seed", type=int, required=True, help="Same seed, same prompts.")
@click.option("--n", "n", type=int, required=True, help="How many prompts to draw.")
def sample(seed: int, n: int) -> None:
    """Write N prompts drawn from the templated space as JSONL to stdout."""
    from oma_analysis.prompts.templates import sample as draw

    if n < 0:
        raise OmaError("--n: must be at least 0")
    for r in draw(n, seed=seed):
        sys.stdout.write(r.to_json() + "\n")


@prompts.command()
@click.option("--json", "as_json", is_flag=True, help="Per-template sizes as JSON.")
def space(as_json: bool) -> None:
    """Print the size of the templated prompt space."""
    from oma_analysis.prompts.templates import space_report

    rep = space_report()
    click.echo(json.dumps(rep, indent=1) if as_json else str(rep["total"]))


@prompts.command()
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def core(out: str | None) -> None:
    """Write the team's core suite (validated) as JSONL."""
    from oma_analysis.prompts.records import core_prompts

    lines = "".join(r.to_json() + "\n" for r in core_prompts())
    if out:
        Path(out).write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)


@prompts.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check a prompt JSONL file; errors name the line and field."""
    from oma_analysis.prompts.records import read_prompts

    click.echo(f"{file}: {len(read_prompts(file))} valid prompt records")


@prompts.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out-dev", type=click.Path(dir_okay=False), help="Where the dev prompts go.")
@click.option("--out-test", type=click.Path(dir_okay=False), help="Where the test prompts go (needs --release-test).")
@click.option("--release-test", "run_id", help="The run that receives the test prompts (recorded).")
@click.option("--test-fraction", type=float, default=0.3, show_default=True)
@click.option("--releases", type=click.Path(dir_okay=False),
              help="Release log (default: test_releases.jsonl beside --out-test).")
def split(file: str, out_dev: str | None, out_test: str | None, run_id: str | None, test_fraction: float,
          releases: str | None) -> None:
    """Assign FILE's prompts to dev/test with the keyed hash (key from $OMA_SPLIT_KEY).

    Test prompts are written only with --release-test RUN_ID, and each release is logged."""
    from oma_analysis.prompts.records import read_prompts, write_prompts
    from oma_analysis.prompts.secret import record_release, split_key, split_records

    if out_test and not run_id:
        raise OmaError("--out-test: refusing to write test prompts without --release-test RUN_ID "
                       "(test prompts go only to the run that uses them)")
    if run_id and not out_test:
        raise OmaError("--release-test: needs --out-test FILE")
    if not out_dev and not out_test:
        raise OmaError("give --out-dev and/or --out-test")
    key = split_key()
    s = split_records(read_prompts(file), key, test_fraction)
    if out_dev:
        write_prompts(s.dev, out_dev)
    msg = f"{len(s.dev)} dev" + (f" -> {out_dev}" if out_dev else " (not written)")
    if out_test and run_id:
        write_prompts(s.test, out_test)
        log = Path(releases) if releases else Path(out_test).resolve().parent / "test_releases.jsonl"
        record_release(log, run_id, out_test, s.test, key, test_fraction)
        msg += f"; {len(s.test)} test -> {out_test} (release {run_id!r} logged in {log})"
    else:
        msg += f"; {len(s.test)} test (not written)"
    click.echo(msg, err=True)


@prompts.command("canary-scan")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--canaries", type=click.Path(dir_okay=False),
              help="Test prompt JSONL or canary list; without it any canary-shaped string is reported.")
def canary_scan(file: str, canaries: str | None) -> None:
    """Find test-set canaries in FILE (model outputs, training data). Exit 1 if any is found."""
    from oma_analysis.prompts.secret import load_canaries, scan_file

    known = load_canaries(canaries) if canaries else None
    hits = scan_file(file, known)
    for h in hits:
        click.echo(f"{file}:{h.line}:{h.column}: {h.canary}")
    click.echo(f"{len(hits)} canary hit(s) in {file}", err=True)
    if hits:
        sys.exit(1)


@prompts.command("import")
@click.option("--format", "fmt", type=click.Choice(["ifeval", "self-instruct", "logs"]), required=True)
@click.argument("path", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), help="Prompt JSONL (default: stdout).")
@click.option("--completions", "completions_out", type=click.Path(dir_okay=False),
              help="Also write the imported completions (model responses) here.")
@click.option("--skip-bad-rows", is_flag=True, help="Logs: skip bad rows (listed on stderr) instead of stopping.")
def import_(fmt: str, path: str, out: str | None, completions_out: str | None, skip_bad_rows: bool) -> None:
    """Import prompts (and their completions) from IFEval, Self-Instruct or usage logs."""
    from oma_analysis.generate.records import write_completions
    from oma_analysis.prompts.importers import import_any, import_logs

    res = import_logs(path, on_error="skip") if fmt == "logs" and skip_bad_rows else import_any(fmt, path)
    lines = "".join(r.to_json() + "\n" for r in res.prompts)
    if out:
        Path(out).write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
    if completions_out:
        write_completions(res.completions, completions_out)
    for s in res.skipped:
        click.echo(f"skipped: {s}", err=True)
    click.echo(f"{len(res.prompts)} prompts, {len(res.completions)} completions, "
               f"{res.duplicates} duplicates dropped, {len(res.skipped)} skipped", err=True)
