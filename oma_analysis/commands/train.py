"""``oma train --data FILE | --export FILE --out MODELS_DIR``: fine-tune the intent classifier offline.

FILE is JSONL or CSV with ``prompt``, ``completion``, ``label``; label is 1/0, ``not_met``/``met``,
or a rubric verdict choice (the worst -> not met, the best -> met; the middle one is skipped).
"""

from __future__ import annotations

from pathlib import Path

import click

from oma_analysis import OmaError


def _label(v: object, where: str) -> int:
    from oma_analysis.classifier import verdict_label

    s = str(v).strip().lower()
    if s in ("1", "1.0", "not_met", "true"):
        return 1
    if s in ("0", "0.0", "met", "false"):
        return 0
    y = verdict_label(s)
    if y is None:
        raise OmaError(f"{where}: field 'label' must be 0/1, met/not_met or a verdict choice, got {v!r}")
    return y


def read_training_file(path: Path):  # noqa: ANN201 - pd.DataFrame (pandas imported lazily)
    """Read prompt/completion/label rows into the classifier's ``text_a, text_b, label`` frame."""
    import pandas as pd

    from oma_analysis.rubric import RUBRIC

    rows: list[tuple[str, str, int, str]] = []
    if not path.is_file():
        raise OmaError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise OmaError(f"{path}: not a readable CSV ({exc})") from exc
        recs = [(i + 2, r) for i, r in enumerate(df.to_dict("records"))]  # line 1 is the header
    else:
        from oma_analysis.jsonl import iter_jsonl

        recs = list(iter_jsonl(path))
    middle = RUBRIC.verdict_middle
    for no, r in recs:
        where = f"{path} line {no}"
        if not isinstance(r, dict):
            raise OmaError(f"{where}: expected an object with prompt, completion, label")
        for key in ("prompt", "completion"):
            if not isinstance(r.get(key), str):
                raise OmaError(f"{where}: field {key!r} must be a string")
        if "label" not in r or r["label"] is None:
            raise OmaError(f"{where}: field 'label' is missing")
        if str(r["label"]).strip().lower() == middle:
            continue  # ambiguous: no label
        rows.append((r["prompt"], r["completion"], _label(r["label"], where), str(r.get("source") or "")))
    # ``source`` travels with the rows so training refuses data whose licence forbids it.
    return pd.DataFrame(rows, columns=["text_a", "text_b", "label", "source"])


def register(group: click.Group) -> None:
    @group.command("train")
    @click.option("--data", "data", type=click.Path(path_type=Path, dir_okay=False),
                  help="JSONL or CSV with prompt, completion, label.")
    @click.option("--export", "export", type=click.Path(path_type=Path, dir_okay=False),
                  help="A Label Studio export of the review project (labels aggregated per task).")
    @click.option("--codemap", type=click.Path(path_type=Path, dir_okay=False), help="With --export: code map.")
    @click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
                  help="Models root: a new version directory is added and 'current' points at it.")
    @click.option("--epochs", type=float, default=3.0, show_default=True)
    @click.option("--batch-size", type=int, default=16, show_default=True)
    @click.option("--learning-rate", type=float, default=1e-4, show_default=True)
    @click.option("--test-size", type=float, default=0.2, show_default=True, help="Held-out fraction.")
    @click.option("--max-length", type=int, default=256, show_default=True)
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--gate/--no-gate", default=True, show_default=True,
                  help="Publish only if the held-out AUROC CI lower bound beats chance and the served model.")
    def train_cmd(data: Path | None, export: Path | None, codemap: Path | None, out: Path, epochs: float,
                  batch_size: int, learning_rate: float, test_size: float, max_length: int, seed: int,
                  gate: bool) -> None:
        """Fine-tune the intent classifier (all-MiniLM-L6-v2) and publish a new model version."""
        from transformers.utils import logging as hf_logging

        from oma_analysis.classifier import train

        if (data is None) == (export is None):
            raise OmaError("give exactly one of --data FILE or --export FILE")
        hf_logging.set_verbosity_error()
        if export is not None:
            from oma_analysis.classifier.export import training_frame

            df = training_frame(export, codemap)
        else:
            df = read_training_file(data)
        res = train(df, out, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                    test_size=test_size, max_length=max_length, seed=seed, gate=gate)
        c = res.card
        where = f"model {res.path} (current)" if res.served else f"not served ({c['gate']['reason']})"
        click.echo(f"{where}: held-out n={c['held_out_n']} auroc={c['auroc']} accuracy={c['accuracy']} "
                   f"ece={c['ece']} (temperature {c['temperature']}) train {c['train_seconds']}s")
