"""Score stored scan results against ground truth, beside naive baselines (`distillguard evaluate`)."""

from detector.evaluate.baselines import COT_PHRASES, BaselineConfig
from detector.evaluate.evaluation import NOT_IN_TRUTH_KIND, build_universe, evaluate
from detector.evaluate.report import REPORT_SCHEMA, EvaluationReport, render_text
from detector.evaluate.truth import BENIGN, TruthError, load_truth, truth_frame

__all__ = [
    "BENIGN",
    "COT_PHRASES",
    "NOT_IN_TRUTH_KIND",
    "REPORT_SCHEMA",
    "BaselineConfig",
    "EvaluationReport",
    "TruthError",
    "build_universe",
    "evaluate",
    "load_truth",
    "render_text",
    "truth_frame",
]
