"""Anomaly scoring of accounts and clusters, and the analysts' verdicts the scan respects."""

from detector.scoring.calibration import calibrated_threshold
from detector.scoring.ensemble import DETECTORS, AnomalyEnsemble, NotFittedError
from detector.scoring.entities import feature_columns, score_entities
from detector.scoring.verdicts import Verdicts, load_verdicts

__all__ = [
    "DETECTORS",
    "AnomalyEnsemble",
    "NotFittedError",
    "Verdicts",
    "calibrated_threshold",
    "feature_columns",
    "load_verdicts",
    "score_entities",
]
