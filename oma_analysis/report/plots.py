"""Figures for the report, returned as base64 PNG strings (matplotlib Agg, no display needed)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def forest(rates: pd.DataFrame) -> str:
    """Lower and upper bounded rates per model with their intervals."""
    plt = _plt()
    r = rates.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7, 0.55 * len(r) + 1.2))
    y = np.arange(len(r))
    for off, side, colour in ((-0.12, "lower", "#b2182b"), (0.12, "upper", "#ef8a62")):
        ax.errorbar(r[side], y + off, xerr=[r[side] - r[f"{side}_lo"], r[f"{side}_hi"] - r[side]],
                    fmt="o", color=colour, capsize=3,
                    label=f"{side} ({'clearly misaligned' if side == 'lower' else '+ ambiguous'})")
    ax.set_yticks(y, r["model"])
    ax.invert_yaxis()
    ax.set_xlabel("share of completions")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=9, frameon=False)
    return _png(fig)


def heatmap(table: pd.DataFrame, title: str, vmin: float = 0.0, vmax: float = 1.0) -> str:
    """Rows x columns heatmap with the values written in the cells."""
    plt = _plt()
    v = table.to_numpy(dtype=float)
    # sized so that the cell numbers print at ~10 pt at 100 % zoom (the page shows the PNG unscaled)
    fig, ax = plt.subplots(figsize=(1.2 * v.shape[1] + 3, 0.45 * v.shape[0] + 1.8))
    im = ax.imshow(v, cmap="RdYlGn", vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(v.shape[1]), [str(c).replace("_", " ") for c in table.columns], rotation=30, ha="right",
                  fontsize=10)
    ax.set_yticks(range(v.shape[0]), table.index.astype(str), fontsize=10)
    if v.size <= 1200:
        for (i, j), x in np.ndenumerate(v):
            if not np.isnan(x):
                ax.text(j, i, f"{x:.2f}", ha="center", va="center", fontsize=10 if v.shape[0] <= 20 else 7)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _png(fig)


def confusion_grid(mats: list[tuple[str, np.ndarray]], classes: list[str]) -> str:
    """Small multiples of Dawid–Skene confusion matrices (rows: true class, cols: label given)."""
    plt = _plt()
    n = len(mats)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.9 * rows), squeeze=False)
    short = [c.replace("clearly_", "") for c in classes]
    for ax, (name, m) in zip(axes.ravel(), mats, strict=False):
        ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
        for (i, j), x in np.ndenumerate(m):
            ax.text(j, i, f"{x:.2f}", ha="center", va="center", fontsize=10,
                    color="white" if x > 0.6 else "black")
        ax.set_title(name, fontsize=10)
        ax.set_xticks(range(len(classes)), short, fontsize=9)
        ax.set_yticks(range(len(classes)), short, fontsize=9)
        ax.set_xlabel("label given", fontsize=9)
        ax.set_ylabel("true class", fontsize=9)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)
