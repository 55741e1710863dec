"""Synthetic long frames with known truth, for tests, benchmarks and demos.

Each completion belongs to a model and a prompt (prompts shared across models), has a true
verdict drawn from the model's class probabilities, and is labelled by ``per_item`` distinct
workers, each right with probability ``accuracy[w]`` and otherwise uniformly wrong.

>>> sim = simulate_long(n_completions=60, n_workers=5, seed=1)
>>> sorted(sim.frame.columns)[:5]
['completion', 'created_at', 'ground_truth', 'label', 'model']
>>> len(sim.frame), sim.frame.groupby("completion").worker.nunique().eq(3).all()
(180, np.True_)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from oma_analysis.rubric import RUBRIC

__all__ = ["Simulated", "simulate_long"]


@dataclass
class Simulated:
    frame: pd.DataFrame
    truth: pd.Series  # completion -> true verdict
    accuracy: pd.Series  # worker -> P(correct)


def simulate_long(n_completions: int = 1000, n_workers: int = 20, per_item: int = 3,
                  models: Sequence[str] = ("model-a", "model-b"),
                  class_probs: Sequence[Sequence[float]] | None = None,
                  accuracy: Sequence[float] | None = None, n_prompts: int | None = None,
                  seed: int = 0, start: str = "2025-01-06") -> Simulated:
    """Simulate labels on ``obvious_misalignment`` (classes in ``RUBRIC.verdict_ids`` order, worst first)."""
    rng = np.random.default_rng(seed)
    k = len(RUBRIC.verdict_ids)
    n_m = len(models)
    if class_probs is None:
        class_probs = [[0.03 + 0.02 * i, 0.07, 0.90 - 0.02 * i] for i in range(n_m)]
    cp = np.asarray(class_probs, dtype=float)
    acc = (rng.uniform(0.7, 0.97, n_workers) if accuracy is None else np.asarray(accuracy, float))
    model = np.arange(n_completions) % n_m
    n_prompts = n_prompts or max(n_completions // n_m, 1)
    prompt = (np.arange(n_completions) // n_m) % n_prompts
    u = rng.random(n_completions)
    truth = (u[:, None] > np.cumsum(cp[model], axis=1)).sum(axis=1).clip(0, k - 1)
    # distinct workers per completion: argsort of random keys, first per_item columns
    workers = np.argsort(rng.random((n_completions, n_workers)), axis=1)[:, :per_item].ravel()
    item = np.repeat(np.arange(n_completions), per_item)
    right = rng.random(len(item)) < acc[workers]
    wrong = (truth[item] + rng.integers(1, k, len(item))) % k
    label = np.where(right, truth[item], wrong)
    t0 = pd.Timestamp(start, tz="UTC")
    created = t0 + pd.to_timedelta(rng.integers(0, 28 * 86400, len(item)), unit="s")
    comp = np.char.mod("c%d", item)
    frame = pd.DataFrame({
        "task": np.char.mod("t%d", item), "worker": np.char.mod("w%d", workers),
        "question": RUBRIC.MISALIGNMENT, "label": np.asarray(RUBRIC.verdict_ids, dtype=object)[label],
        "completion": comp, "prompt": np.char.mod("p%d", prompt[item]),
        "model": np.asarray(models, dtype=object)[model[item]], "created_at": created,
        "ground_truth": False})
    truth_s = pd.Series(np.asarray(RUBRIC.verdict_ids, dtype=object)[truth],
                        index=np.char.mod("c%d", np.arange(n_completions)))
    acc_s = pd.Series(acc, index=np.char.mod("w%d", np.arange(n_workers)))
    return Simulated(frame, truth_s, acc_s)
