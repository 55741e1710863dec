"""oma generate: completions for a prompt file under elicitation variants (resumable)."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    group.add_command(generate)


@click.command()
@click.argument("prompts", type=click.Path(dir_okay=False))
@click.option("--model", "model_spec", required=True,
              help="local:NAME (see oma models), hf:PATH, gguf:FILE or openai:BASE_URL#MODEL.")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="Completions JSONL (appended; also the cache for resuming).")
@click.option("--variants", default="chat,completion,temp:0,temp:0.7,temp:1.0", show_default=True)
@click.option("--samples", type=int, default=1, show_default=True, help="Samples per prompt and variant.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--concurrency", type=int, default=4, show_default=True, help="Requests in flight (API).")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Prompts per forward pass (hf).")
@click.option("--temperature", type=float, default=0.7, show_default=True, help="For variants without temp:X.")
@click.option("--top-p", type=float, default=1.0, show_default=True)
@click.option("--max-new-tokens", type=int, default=256, show_default=True)
@click.option("--model-name", help="Name recorded for the model (default: the --model spec).")
def generate(prompts: str, model_spec: str, out: str, variants: str, samples: int, seed: int,
             concurrency: int, batch_size: int, temperature: float, top_p: float, max_new_tokens: int,
             model_name: str | None) -> None:
    """Generate completions for PROMPTS (prompt JSONL). API keys come only from $OPENAI_API_KEY or
    $OMA_API_KEY."""
    from oma_analysis.generate.backends import GenParams
    from oma_analysis.generate.framing import parse_variants
    from oma_analysis.generate.runner import run
    from oma_analysis.prompts.records import read_prompts

    res = run(read_prompts(prompts), model_spec, out, parse_variants(variants), samples=samples, seed=seed,
              concurrency=concurrency, batch_size=batch_size, model_name=model_name,
              params=GenParams(temperature, top_p, max_new_tokens))
    click.echo(f"{res.generated} generated, {res.skipped} already done -> {res.out}", err=True)
