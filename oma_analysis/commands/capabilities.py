"""oma capabilities: per-model capability evidence table from targeted probes."""

from __future__ import annotations

from pathlib import Path

import click


def register(group: click.Group) -> None:
    group.add_command(capabilities)


@click.command()
@click.option("--model", "models", multiple=True, required=True, help="hf:PATH or openai:BASE_URL#MODEL (repeat).")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Table CSV.")
@click.option("--completions", type=click.Path(dir_okay=False),
              help="Probe completions JSONL (cache; default: OUT with .completions.jsonl).")
@click.option("--variants", default="chat,completion,temp:0", show_default=True)
@click.option("--samples", type=int, default=2, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="Demonstrated when the Wilson lower bound under the best variant reaches this.")
@click.option("--max-new-tokens", type=int, default=200, show_default=True)
@click.option("--concurrency", type=int, default=4, show_default=True)
def capabilities(models: tuple[str, ...], out: str, completions: str | None, variants: str, samples: int,
                 seed: int, threshold: float, max_new_tokens: int, concurrency: int) -> None:
    """Run the capability probes for each model and write the evidence table."""
    from oma_analysis.generate.backends import GenParams
    from oma_analysis.generate.framing import parse_variants
    from oma_analysis.generate.records import read_completions
    from oma_analysis.generate.runner import run
    from oma_analysis.stats.capabilities import evaluate, probe_prompts, write_table

    probes = probe_prompts()
    cpath = Path(completions or Path(out).with_suffix(".completions.jsonl"))
    for m in models:
        run(probes, m, cpath, parse_variants(variants), samples=samples, seed=seed, concurrency=concurrency,
            params=GenParams(max_new_tokens=max_new_tokens))
    rows = evaluate(read_completions(cpath), probes, threshold)
    rows = [r for r in rows if r.model in models]
    write_table(rows, out)
    shown = sum(r.demonstrated for r in rows)
    click.echo(f"{len(rows)} model x item rows ({shown} demonstrated) -> {out}", err=True)
