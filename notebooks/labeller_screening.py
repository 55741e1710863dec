# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Screening labellers
#
# Accuracy against researchers' gold annotations (with exact intervals: a handful of gold items
# cannot tell a 0.70 labeller from a 0.90 one) and against the majority of the other labellers,
# Dawid–Skene confusion matrices, calibration by week, and the report's screening decisions.
# Reads the newest report: run `make demo` (or `oma report`) first; nothing to set.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd

from oma_analysis.report.notebook import load_latest
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.dawid_skene import dawid_skene
from oma_analysis.stats.labellers import calibration, worker_quality

latest = load_latest()
frame = latest.frame
verdicts = frame[frame["question"] == RUBRIC.MISALIGNMENT]
print(verdicts["worker"].value_counts())

# %%
quality = worker_quality(frame, question=RUBRIC.MISALIGNMENT)
quality.round(3)

# %% [markdown]
# The report's screening: flag, gold interval and the decision in words.

# %%
screen = pd.DataFrame(latest.report["screening"])
screen[["worker", "n_gold", "accuracy_gold", "accuracy_gold_ci", "flagged", "decision"]]

# %%
ds = dawid_skene(verdicts[~verdicts["ground_truth"].fillna(False).astype(bool)],
                 classes=[c.id for c in RUBRIC.verdict.choices])
print("class priors:", dict(zip(ds.classes, ds.priors.round(3), strict=True)))

# %% [markdown]
# Each labeller's estimated confusion matrix: rows = true class, columns = label given.

# %%
short = [c.split("_")[-1] for c in ds.classes]
fig, axes = plt.subplots(1, len(ds.workers), figsize=(3 * len(ds.workers), 3.2), squeeze=False)
for ax, worker, m in zip(axes[0], ds.workers, ds.errors, strict=True):
    ax.imshow(m.T, vmin=0, vmax=1, cmap="Blues")
    for i in range(3):
        for j in range(3):
            ax.text(j, i, f"{m.T[i, j]:.2f}", ha="center", va="center", color="white" if m.T[i, j] > 0.6 else "black")
    ax.set_title(str(worker).split("@")[0], fontsize=10)
    ax.set_xticks(range(3), short, rotation=30)
    ax.set_yticks(range(3), short)
fig.tight_layout()
plt.show()

# %%
calibration(frame, question=RUBRIC.MISALIGNMENT)
