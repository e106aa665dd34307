"""Analyst review: verdict writes shared by the CLI and the dashboard, and the dashboard's
precomputed tables."""

from detector.review.precompute import PRECOMPUTED_TABLES, precompute
from detector.review.verdicts import (
    SUBJECT_TYPES,
    VERDICTS,
    VerdictError,
    VerdictRecord,
    record_verdict,
    save_verdict,
    verdict_history,
)

__all__ = [
    "PRECOMPUTED_TABLES",
    "SUBJECT_TYPES",
    "VERDICTS",
    "VerdictError",
    "VerdictRecord",
    "precompute",
    "record_verdict",
    "save_verdict",
    "verdict_history",
]
