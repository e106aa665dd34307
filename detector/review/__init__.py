"""Analyst review: verdict writes shared by the CLI and the dashboard, and the dashboard's
precomputed tables."""

from detector.review.precompute import (
    PRECOMPUTED_TABLES,
    STATE_TABLES,
    drop_review_tables,
    is_current,
    precompute,
)
from detector.review.prompts import fetch_prompts
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
    "STATE_TABLES",
    "SUBJECT_TYPES",
    "VERDICTS",
    "VerdictError",
    "VerdictRecord",
    "drop_review_tables",
    "fetch_prompts",
    "is_current",
    "precompute",
    "record_verdict",
    "save_verdict",
    "verdict_history",
]
