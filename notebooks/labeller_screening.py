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
# Accuracy against researchers' gold annotations and against the majority of the other labellers,
# Dawid–Skene confusion matrices, calibration by week, and the screening flags (default: below 75 %
# agreement with researchers).

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from oma_analysis.stats.dawid_skene import dawid_skene
from oma_analysis.ingest import load
from oma_analysis.stats.labellers import calibration, screening, worker_quality
from oma_analysis.rubric import RUBRIC

EXPORT = os.environ.get("OMA_EXPORT", ".oma/demo/export.json")
frame = load(EXPORT).frame
verdicts = frame[frame["question"] == RUBRIC.MISALIGNMENT]
print(verdicts["worker"].value_counts())

# %%
quality = worker_quality(frame, question=RUBRIC.MISALIGNMENT)
quality.round(3)

# %%
flags = screening(quality, threshold=0.75)
flags

# %%
ds = dawid_skene(verdicts[~verdicts["ground_truth"]], classes=[c.id for c in RUBRIC.verdict.choices])
print("class priors:", dict(zip(ds.classes, ds.priors.round(3), strict=True)))
print("iterations:", ds.n_iter)

# %% [markdown]
# Each labeller's estimated confusion matrix: rows = what the labeller said, columns = true class.

# %%
fig, axes = plt.subplots(1, len(ds.workers), figsize=(2.6 * len(ds.workers), 2.8))
for ax, worker, m in zip(axes, ds.workers, ds.errors, strict=True):
    ax.imshow(m, vmin=0, vmax=1, cmap="Blues")
    ax.set_title(str(worker).split("@")[0], fontsize=8)
    ax.set_xticks(range(3), ["CM", "A", "CA"])
    ax.set_yticks(range(3), ["CM", "A", "CA"])
fig.tight_layout()

# %%
calibration(frame, question=RUBRIC.MISALIGNMENT)
