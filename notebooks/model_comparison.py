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
# with a model effect clustered by prompt, Holm-corrected across pairs.

# %%
import os

from oma_analysis.stats.aggregate import aggregate
from oma_analysis.stats.compare import compare_models, gee_model_effect
from oma_analysis.ingest import load
from oma_analysis.rubric import RUBRIC

EXPORT = os.environ.get("OMA_EXPORT", ".oma/demo/export.json")
CODEMAP = os.environ.get("OMA_CODEMAP", ".oma/demo/codemap.json")
frame = load(EXPORT, CODEMAP if os.path.exists(CODEMAP) else None).frame
agg = aggregate(frame, "majority", [RUBRIC.MISALIGNMENT])
print(agg["model"].value_counts())

# %%
result = compare_models(agg, count="upper")
sorted(result)

# %%
for key, value in result.items():
    print(f"--- {key}")
    print(value)

# %%
gee_model_effect(agg, count="upper")
