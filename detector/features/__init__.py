"""The feature stage: per-request and per-account signals of distillation (issue 4).

`compute_features(con)` featurizes what is new in the store and refreshes the all-time
tables; see `detector.features.pipeline` for the order of the work.
"""

from detector.features.pipeline import FeatureConfig, FeatureRunStats, compute_features

__all__ = ["FeatureConfig", "FeatureRunStats", "compute_features"]
