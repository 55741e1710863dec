"""The offensive-language check (``oma_analysis.checks.offensive``) on ConvAbuse (Curry et al. 2021;
``../shared/datasets/convabuse``, read in place): the threshold is chosen on train+valid, precision
and recall are reported on test.

Gold label of a user turn, from the per-annotator labels: each annotator who labelled the turn casts
one vote, *abusive* when they chose mildly, strongly or very strongly abusive (-1, -2, -3), *not
abusive* for "not abusive" (1) and "ambiguous" (0: the check should not fire on what annotators
could not call abuse). An annotator who labelled a duplicated turn several times (cells like
"1, 0") votes by the majority of their own labels. The turn is abusive when more than half of its
annotators vote abusive (a tie is not abusive).

The check's score of a turn is what the check uses: the highest score over its sentences / word
windows (each the mean of its probability alone and with its neighbours). Threshold: the
F1-optimal one on train+valid (grid 0.05..0.99). Peer: the package's own decision rule
(probability >= 0.5) on the same units.

Prints the choice and one JSON line: ``ours`` = F1 on test at the chosen threshold, ``peer`` = F1
at 0.5, precision/recall of both, and whether the threshold shipped in the module is the one chosen.

    python benchmarks/offensive_check.py [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from oma_analysis.checks.offensive import THRESHOLD, unit_scores

SPLITS = {"train": "ConvAbuseEMNLPtrain.csv", "valid": "ConvAbuseEMNLPvalid.csv", "test": "ConvAbuseEMNLPtest.csv"}
CLASSES = ("1", "0", "-1", "-2", "-3")
ABUSIVE = ("-1", "-2", "-3")


def _mean_of_cell(v: object) -> float:
    """A cell holds one 0/1 per time the annotator labelled the turn ("1, 0"); NaN: not labelled."""
    if not isinstance(v, str) or not v.strip():
        return np.nan
    xs = [float(x) for x in v.split(",")]
    return sum(xs) / len(xs)


def load_split(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(user turns, gold abusive, number of annotators) of one split."""
    df = pd.read_csv(path, dtype=str)
    n_annot = [c.split("_")[0] for c in df.columns if c.endswith("_is_abuse.1")]
    if not n_annot:
        raise ValueError(f"{path}: no AnnotatorN_is_abuse.* columns")
    votes = np.zeros(len(df))
    labelled = np.zeros(len(df))
    for a in n_annot:
        frac = {k: df[f"{a}_is_abuse.{k}"].map(_mean_of_cell).astype(float).fillna(0.0).to_numpy()
                for k in CLASSES}
        has = sum(frac.values()) > 0
        abusive = sum(frac[k] for k in ABUSIVE) > 0.5
        labelled += has
        votes += has & abusive
    keep = labelled > 0
    texts = df["user"].fillna("").astype(str).to_numpy()[keep].tolist()
    return texts, (votes > labelled / 2)[keep], labelled[keep]


def turn_scores(texts: list[str]) -> np.ndarray:
    """Per turn, the highest unit score, as the check computes it (``unit_scores``)."""
    return np.array([max((p for _, _, p in unit_scores(t)), default=0.0) for t in texts])


def prf(scores: np.ndarray, gold: np.ndarray, threshold: float) -> dict[str, float]:
    pred = scores >= threshold
    tp = int((pred & gold).sum())
    p = tp / max(1, int(pred.sum()))
    r = tp / max(1, int(gold.sum()))
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(1e-12, p + r), 4),
            "flagged": int(pred.sum()), "positives": int(gold.sum())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
                    / "convabuse", help="default: ../shared/datasets/convabuse")
    args = ap.parse_args(argv)
    data = {k: load_split(args.data / f) for k, f in SPLITS.items()}
    t0 = time.perf_counter()
    scores = {k: turn_scores(v[0]) for k, v in data.items()}
    secs = time.perf_counter() - t0
    n_turns = sum(len(v[0]) for v in data.values())
    for k, (texts, gold, n) in data.items():
        print(f"{k:6} turns {len(texts):5d}  abusive {int(gold.sum()):4d} ({gold.mean():.3f})  "
              f"annotators per turn {n.mean():.2f}")
    fit_s = np.concatenate([scores["train"], scores["valid"]])
    fit_y = np.concatenate([data["train"][1], data["valid"][1]])
    grid = [round(x, 2) for x in np.arange(0.05, 0.995, 0.01)]
    chosen = max(grid, key=lambda t: (prf(fit_s, fit_y, t)["f1"], -t))
    print(f"threshold chosen on train+valid (max F1): {chosen}  {prf(fit_s, fit_y, chosen)}")
    test_s, test_y = scores["test"], data["test"][1]
    ours, peer = prf(test_s, test_y, chosen), prf(test_s, test_y, 0.5)
    shipped = prf(test_s, test_y, THRESHOLD)
    print(f"test at {chosen}: {ours}")
    print(f"test at 0.5 (package default): {peer}")
    print(json.dumps({
        "name": "offensive_check", "ours": ours["f1"], "peer": peer["f1"],
        "unit": "F1 on ConvAbuse test (gold: majority of annotators say abusive)",
        "ratio": round(ours["f1"] / max(1e-12, peer["f1"]), 4), "threshold": chosen,
        "shipped_threshold": THRESHOLD, "shipped_is_chosen": bool(abs(THRESHOLD - chosen) < 1e-9),
        "precision": ours["precision"], "recall": ours["recall"], "shipped": shipped,
        "peer_precision": peer["precision"], "peer_recall": peer["recall"],
        "test_turns": len(test_y), "test_abusive": int(test_y.sum()),
        "ms_per_turn": round(1000 * secs / max(1, n_turns), 3),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
