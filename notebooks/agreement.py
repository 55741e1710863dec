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
# (the *kappa paradox*), so AC1 and positive agreement are shown beside them.
#
# Set `OMA_EXPORT` (and optionally `OMA_CODEMAP`) to the export to analyse; `make demo` writes one to
# `.oma/demo/export.json`.

# %%
import os

import pandas as pd

from oma_analysis.stats.agreement import agreement, agreement_by_question, pairwise_agreement, pairwise_matrix
from oma_analysis.ingest import load
from oma_analysis.rubric import RUBRIC

EXPORT = os.environ.get("OMA_EXPORT", ".oma/demo/export.json")
loaded = load(EXPORT, os.environ.get("OMA_CODEMAP"))
frame = loaded.frame
print(loaded.summary())

# %% [markdown]
# ## The headline: agreement on the rule-applied verdict

# %%
rows = []
for metric in ("percent", "fleiss", "alpha", "ac1", "bp"):
    r = agreement(frame, metric, "nominal", question=RUBRIC.MISALIGNMENT, n_boot=500, seed=0)
    rows.append({"metric": metric, "value": r.value, "ci_low": r.ci_low, "ci_high": r.ci_high,
                 "units": r.n_units, "kappa paradox": r.kappa_paradox})
headline = pd.DataFrame(rows)
headline

# %%
assert headline["value"].notna().any(), "no agreement could be computed"
ordinal = agreement(frame, "alpha", "ordinal", question=RUBRIC.MISALIGNMENT)
print(f"alpha (ordinal, misaligned < ambiguous < aligned): {ordinal.value:.3f}")

# %% [markdown]
# ## Every rubric question
# Questions with a paradox flag have a rare category: read AC1 beside kappa/alpha there.

# %%
by_q = agreement_by_question(frame)
by_q.sort_values("question").head(40)

# %% [markdown]
# ## Labeller x labeller
# Cohen's kappa for every pair of labellers on the tasks they share.

# %%
pairs = pairwise_agreement(frame, question=RUBRIC.MISALIGNMENT)
pairwise_matrix(pairs, value="kappa").round(2)
