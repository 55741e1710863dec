"""Inter-rater agreement on the long frame (``task, worker, label[, question]``).

Modules: ratings (frame -> codes), alpha (Krippendorff, sparse coincidences), chance_corrected
(percent, Fleiss with unequal raters, Gwet AC1/AC2, Brennan-Prediger), cohen (two raters,
weighted), specific (positive/negative agreement), pairwise (labeller x labeller), bootstrap
(vectorised over units), tables (metric dispatch, per question / per category).

>>> import pandas as pd
>>> df = pd.DataFrame({"task": list("aabb"), "worker": list("xyxy"), "label": list("1122")})
>>> agreement(df, "fleiss").value
1.0
"""

from oma_analysis.stats.agreement.alpha import LEVELS, alpha_from_counts, coincidence_matrix, krippendorff_alpha
from oma_analysis.stats.agreement.bootstrap import bootstrap_sums, percentile_ci
from oma_analysis.stats.agreement.chance_corrected import (
    brennan_prediger,
    fleiss_kappa,
    gwet_ac,
    multirater_agreement,
    percent_agreement,
)
from oma_analysis.stats.agreement.cohen import cohen_kappa, kappa_from_table
from oma_analysis.stats.agreement.pairwise import pairwise_agreement, pairwise_matrix
from oma_analysis.stats.agreement.ratings import Ratings, ratings_from_frame
from oma_analysis.stats.agreement.result import PARADOX_PREVALENCE, AgreementResult, is_kappa_paradox
from oma_analysis.stats.agreement.specific import negative_agreement, positive_agreement
from oma_analysis.stats.agreement.tables import METRICS, agreement, agreement_by_category, agreement_by_question
from oma_analysis.stats.agreement.weights import LEVEL_WEIGHTS, agreement_weights

__all__ = [
    "LEVELS", "LEVEL_WEIGHTS", "METRICS", "PARADOX_PREVALENCE", "AgreementResult", "Ratings", "agreement",
    "agreement_by_category", "agreement_by_question", "agreement_weights", "alpha_from_counts",
    "bootstrap_sums", "brennan_prediger", "cohen_kappa", "coincidence_matrix", "fleiss_kappa", "gwet_ac",
    "is_kappa_paradox", "kappa_from_table", "krippendorff_alpha", "multirater_agreement",
    "negative_agreement", "pairwise_agreement", "pairwise_matrix", "percent_agreement", "percentile_ci",
    "positive_agreement", "ratings_from_frame",
]
