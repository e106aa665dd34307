"""Detection rules: YAML files in `rules/detection/`, loaded into typed objects and evaluated
over account or cluster features."""

from detector.rules.evaluate import condition_expr, fires, missing_features, rule_hits
from detector.rules.loader import RuleError, RuleLoadError, load_rule_file, load_rules
from detector.rules.schema import (
    ATLAS_TAG,
    ATLAS_TECHNIQUE,
    LEVEL_RANK,
    AllOf,
    AnyOf,
    Condition,
    DetectionRule,
    Fixtures,
    Predicate,
)

__all__ = [
    "ATLAS_TAG",
    "ATLAS_TECHNIQUE",
    "LEVEL_RANK",
    "AllOf",
    "AnyOf",
    "Condition",
    "DetectionRule",
    "Fixtures",
    "Predicate",
    "RuleError",
    "RuleLoadError",
    "condition_expr",
    "fires",
    "load_rule_file",
    "load_rules",
    "missing_features",
    "rule_hits",
]
