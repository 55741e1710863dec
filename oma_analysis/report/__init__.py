"""``oma report``: one self-contained HTML page and a JSON twin with the metric and its evidence.

Sections, headline first: bounded rates per model with what lower/upper mean and whether the
certification threshold holds (forest plot, exact intervals, clustered intervals only where prompts
repeat), elicitation gap, policy sensitivity, agreement on every rubric question (agreement.py, shared
with the notebooks and counted as `oma agreement` counts), capability profiles, labellers (gold accuracy
with exact intervals, the screening decision in words), the tasks labellers split on with their texts
(items.py), model comparison raw and length/format-controlled (style.py), input and provenance. Plots
are matplotlib (Agg) PNGs embedded as base64, so the page needs nothing beside it. ``browser.html``
beside it (browser.py, served by `oma view`) goes from each rate to its items and their answers;
notebook.py lets the notebooks find the newest report and recompute its numbers.
"""

from oma_analysis.report.build import build_report, provenance

__all__ = ["build_report", "provenance"]
