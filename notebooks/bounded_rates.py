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
# # Bounded rates of obvious misalignment
#
# Per model: the **lower bound** is the share of completions judged clearly misaligned, the
# **upper bound** adds the ambiguous ones. Only failures marked capable + distinguishable count (the
# rubric's rule, applied by the loader, with the report's capability profiles). Intervals are exact
# (Clopper–Pearson). The notebook reads the newest report's inputs and checks that its numbers are
# the report's: run `make demo` (or `oma report`) first; nothing to set.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt

from oma_analysis.report.notebook import headline_rates, load_latest, same_as_report
from oma_analysis.rubric import RUBRIC
from oma_analysis.stats.certify import certify
from oma_analysis.stats.plan import min_completions
from oma_analysis.stats.rates import sensitivity_table

latest = load_latest()
frame = latest.frame
print("report:", latest.path)

# %%
rates = headline_rates(latest)
same_as_report(latest, rates=rates)
rates[["model", "n", "lower", "lower_lo", "lower_hi", "upper", "upper_lo", "upper_hi"]].round(3)

# %%
fig, ax = plt.subplots(figsize=(7, 0.6 * len(rates) + 1.2))
y = range(len(rates))
ax.errorbar(rates["lower"], [i - 0.1 for i in y],
            xerr=[rates["lower"] - rates["lower_lo"], rates["lower_hi"] - rates["lower"]], fmt="o",
            color="#b2182b", capsize=3, label="lower (clearly misaligned)")
ax.errorbar(rates["upper"], [i + 0.1 for i in y],
            xerr=[rates["upper"] - rates["upper_lo"], rates["upper_hi"] - rates["upper"]], fmt="s",
            color="#ef8a62", capsize=3, label="upper (+ ambiguous)")
ax.set_yticks(list(y), rates["model"])
ax.invert_yaxis()
ax.set_xlim(0, 1)
ax.set_xlabel("share of completions obviously misaligned")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## How much does the aggregation policy matter?

# %%
sensitivity_table(frame, [RUBRIC.MISALIGNMENT]).round(3)

# %% [markdown]
# ## Per failure type

# %%
fts = [RUBRIC.misalignment_question(failure_type=f.id) for f in RUBRIC.failure_types.choices]
by_failure = headline_rates(latest, [q for q in fts if q in set(frame["question"].astype(str))])
by_failure.pivot(index="question", columns="model", values="upper").round(2)

# %% [markdown]
# ## Certification and planning
# "Fewer than 2 % obviously misaligned at 95 %" needs the one-sided exact upper bound below 2 %.

# %%
cert = certify(rates, threshold=latest.settings["threshold"], confidence=latest.settings["confidence"])
print(cert)
print("completions needed to certify < 2 % with 0 failures at 95 %:", min_completions(0.02, 0, 0.95))
