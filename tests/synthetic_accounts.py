"""Synthetic account populations shared by the scan and dashboard tests: per-kind feature
values drawn so that attack, evaluation-harness, NAT and ordinary accounts differ the way the
domain says they do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

START = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class Population:
    attack: list[str]
    nat: list[str]
    evals: list[str]
    benign: list[str]


def account_feature_values(rng: np.random.Generator, n: int, kind: str) -> dict[str, np.ndarray]:
    if kind == "attack":
        return {
            "requests": rng.integers(300, 900, n), "active_days": rng.integers(10, 20, n),
            "cot_share": rng.uniform(0.6, 0.9, n), "high_value_share": rng.uniform(0.85, 1.0, n),
            "shared_rare_template_share": rng.uniform(0.6, 0.95, n),
            "hosting_share": rng.uniform(0.9, 1.0, n), "model_pivot_share": rng.uniform(0.0, 0.1, n),
            "top_template_share": rng.uniform(0.3, 0.6, n),
        }
    if kind == "eval":
        return {
            "requests": rng.integers(500, 2000, n), "active_days": rng.integers(1, 3, n),
            "cot_share": rng.uniform(0.5, 0.8, n), "high_value_share": rng.uniform(0.3, 0.6, n),
            "shared_rare_template_share": rng.uniform(0.6, 0.9, n),
            "hosting_share": rng.uniform(0.9, 1.0, n), "model_pivot_share": np.zeros(n),
            "top_template_share": rng.uniform(0.05, 0.2, n),
        }
    return {
        "requests": rng.integers(5, 400, n), "active_days": rng.integers(1, 25, n),
        "cot_share": rng.uniform(0.0, 0.1, n), "high_value_share": rng.uniform(0.1, 0.6, n),
        "shared_rare_template_share": rng.uniform(0.0, 0.1, n),
        "hosting_share": rng.uniform(0.0, 0.2, n) if kind == "nat" else rng.uniform(0.0, 0.5, n),
        "model_pivot_share": rng.uniform(0.0, 0.1, n),
        "top_template_share": rng.uniform(0.05, 0.4, n),
    }
