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
# # Comparing models on the same prompts
#
# Paired tests (McNemar, Cochran's Q), Newcombe intervals for differences, and a GEE logistic model
# with a model effect clustered by prompt, Holm-corrected across pairs. Reads the newest report's
# inputs (profiled as the report did): run `make demo` (or `oma report`) first; nothing to set.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd

from oma_analysis.report.notebook import load_latest
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.aggregate import aggregate, split_verdict_rows
from oma_analysis.stats.compare import compare_models, gee_model_effect

latest = load_latest()
rows, _ = split_verdict_rows(latest.frame, [RUBRIC.MISALIGNMENT])
agg = aggregate(rows, latest.settings["policy"], [RUBRIC.MISALIGNMENT])
print(agg["model"].value_counts())

# %%
result = compare_models(agg, count="upper")
pairs = pd.DataFrame(result["pairs"])
pairs

# %%
fig, ax = plt.subplots(figsize=(7, 0.6 * len(pairs) + 1.2))
lo = pairs["diff"] - pairs["diff_ci"].str[0]
hi = pairs["diff_ci"].str[1] - pairs["diff"]
ax.errorbar(pairs["diff"], range(len(pairs)), xerr=[lo, hi], fmt="o", capsize=3)
ax.axvline(0, color="grey", lw=1)
ax.set_yticks(range(len(pairs)), pairs["model_a"] + " − " + pairs["model_b"])
ax.set_xlabel("difference in upper rate (Newcombe 95% CI)")
fig.tight_layout()
plt.show()

# %%
print("Cochran's Q:", result.get("cochran_q"))
gee_model_effect(agg, count="upper")
