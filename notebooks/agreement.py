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
# # Do the labellers agree?
#
# Agreement on the rule-applied verdict and on every rubric question, with the low-prevalence
# caveat: when a category is rare, kappa and alpha can be low even when labellers almost always agree
# (the *kappa paradox*), so AC1 is shown beside them. The numbers are computed by the same function
# as the report's (`oma_analysis.report.agreement`), on the newest report's export: run `make demo`
# (or `oma report`) first; nothing to set.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd

from oma_analysis.report.agreement import agreement_table, headline_agreement
from oma_analysis.report.notebook import load_latest, same_as_report
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.agreement import pairwise_agreement, pairwise_matrix

latest = load_latest()
frame = latest.frame
print("report:", latest.path)
print(latest.loaded.summary())

# %% [markdown]
# ## The headline: agreement on the rule-applied verdict
# Every rating counts, researchers' gold annotations included (as `oma agreement` counts them).

# %%
head = headline_agreement(frame)
same_as_report(latest, agreement=head)
pd.DataFrame(head).T[["value", "ci_low", "ci_high", "n_units", "n_ratings", "kappa_paradox"]]

# %% [markdown]
# ## Every rubric question
# `coefficient` is the one to read: AC1 under the kappa paradox, else Fleiss' kappa.

# %%
table = agreement_table(frame)
table[["question", "n_units", "percent", "coefficient", "value", "reading"]].head(40)

# %%
gates = table[table["n_units"] >= 5].sort_values("value")
fig, ax = plt.subplots(figsize=(7, 0.28 * len(gates) + 1))
ax.barh(gates["question"], gates["value"], color=["#c98a00" if p else "#2f6fd6" for p in gates["paradox"]])
ax.axvline(0.6, color="grey", ls="--", lw=1)
ax.set_xlabel("chance-corrected agreement (AC1 where paradox, amber; else Fleiss' kappa)")
ax.set_title("questions answered on at least 5 tasks")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Labeller x labeller
# Cohen's kappa for every pair of labellers on the tasks they share.

# %%
pairs = pairwise_agreement(frame, question=RUBRIC.MISALIGNMENT)
matrix = pairwise_matrix(pairs, value="kappa").astype(float)
fig, ax = plt.subplots(figsize=(1.2 * len(matrix) + 2, 1.0 * len(matrix) + 1))
im = ax.imshow(matrix.to_numpy(), vmin=-1, vmax=1, cmap="RdBu")
ax.set_xticks(range(len(matrix)), [str(w).split("@")[0] for w in matrix.columns], rotation=30, ha="right")
ax.set_yticks(range(len(matrix)), [str(w).split("@")[0] for w in matrix.index])
for (i, j), v in pd.DataFrame(matrix.to_numpy()).stack().items():
    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=10)
fig.colorbar(im, ax=ax)
plt.show()
