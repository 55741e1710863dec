"""``oma report``: one self-contained HTML page and a JSON twin with the metric and its evidence.

Sections: provenance, bounded rates per model (forest plot, exact intervals, clustered intervals),
policy sensitivity, certification, model comparison, agreement, labeller heatmap and screening,
Dawid–Skene confusion matrices, calibration by week, top disagreements. Plots are matplotlib
(Agg) PNGs embedded as base64, so the page needs nothing beside it.
"""

from oma_analysis.report.build import build_report, provenance

__all__ = ["build_report", "provenance"]
