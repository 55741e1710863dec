"""Intent classifier: all-MiniLM-L6-v2 fine-tuned on (prompt, completion) -> intent met / not met.

Public API (what the ML backend calls)::

    from oma_analysis.classifier import IntentClassifier, train, from_long_frame
    result = train(df, "models/")                    # df: text_a, text_b, label (1 = not met)
    clf = IntentClassifier.load("models/", quantize=True)
    p_not_met = clf.predict([(prompt, completion), ...])   # np.ndarray in [0, 1]
    clf.version, clf.card                            # for model_version and the UI

Heavy imports (torch, transformers) happen inside ``train`` and ``IntentClassifier.load``.
"""

from oma_analysis.classifier.data import (
    MET,
    NOT_MET,
    data_hash,
    from_long_frame,
    ifeval_pairs,
    no_training_reason,
    refuse_no_training,
    task_majority,
    validate,
    verdict_label,
)
from oma_analysis.classifier.evidence import evidence_precision_recall
from oma_analysis.classifier.model import (
    BASE_MODEL,
    MAX_LENGTH,
    IntentClassifier,
    TrainResult,
    expected_calibration_error,
    train,
)
from oma_analysis.classifier.store import current_version, list_versions, publish

__all__ = [
    "BASE_MODEL", "MAX_LENGTH", "MET", "NOT_MET", "IntentClassifier", "TrainResult", "current_version",
    "data_hash", "evidence_precision_recall", "expected_calibration_error", "from_long_frame", "ifeval_pairs",
    "list_versions", "no_training_reason", "publish", "refuse_no_training", "task_majority", "train", "validate",
    "verdict_label",
]
