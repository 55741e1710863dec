"""oma selfprobe: fine-tune the evaluated model as an intent classifier and let it judge its own outputs."""

from __future__ import annotations

import json
from pathlib import Path

import click


def register(group: click.Group) -> None:
    group.add_command(selfprobe)


@click.command()
@click.option("--model", "model_spec", required=True,
              help="The evaluated model: local:NAME, hf:PATH or gguf:FILE (its weights are tuned).")
@click.option("--data", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Labelled JSONL/CSV: prompt, completion, label (1/0, not_met/met or a verdict choice).")
@click.option("--completions", type=click.Path(path_type=Path, dir_okay=False),
              help="The model's own completions (oma generate JSONL) to classify; default: the held-out rows.")
@click.option("--epochs", type=float, default=3.0, show_default=True)
@click.option("--learning-rate", type=float, default=5e-5, show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--max-length", type=int, default=256, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--train", "train_mode", type=click.Choice(["all", "head"]), default="all", show_default=True,
              help="Tune all weights, or only the classification head on the frozen model's states (fast on CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def selfprobe(model_spec: str, data: Path, completions: Path | None, epochs: float, learning_rate: float,
              batch_size: int, max_length: int, seed: int, train_mode: str, as_json: bool) -> None:
    """Fine-tune the evaluated model itself on (prompt, completion) -> met / not met and report how
    often it classifies its own completions as not meeting the user's intent."""
    from transformers.utils import logging as hf_logging

    from oma_analysis.classifier.export import last_user_turn
    from oma_analysis.classifier.selfprobe import run
    from oma_analysis.commands.train import read_training_file

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # keep --json output one clean line
    df = read_training_file(data)
    rows = list(zip(df["text_a"], df["text_b"], df["label"].astype(int), strict=True))
    own = None
    if completions is not None:
        from oma_analysis.generate.records import read_completions

        own = [(last_user_turn(c.messages) or "", c.text) for c in read_completions(completions)]
    rep = run(model_spec, rows, own, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
              max_length=max_length, seed=seed, train=train_mode)
    if as_json:
        click.echo(json.dumps(rep.to_dict()))
        return
    acc = "-" if rep.held_out_accuracy is None else f"{rep.held_out_accuracy:.2f}"
    lo, hi = rep.not_met_ci95
    click.echo(f"{rep.model}: trained on {rep.n_train} rows (held-out accuracy {acc} on {rep.n_held_out}); "
               f"classifies {rep.not_met}/{rep.n_classified} of its {rep.source} as NOT meeting intent "
               f"({rep.not_met_rate:.1%}, 95% CI {lo:.1%}-{hi:.1%}) in {rep.seconds:.0f}s")
