"""Scales: how many accounts and requests each population and campaign gets."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scale:
    """Nominal sizes; campaign sizes are then stretched by a per-seed factor."""

    name: str
    days: int
    total_requests: int
    populations: dict[str, int]  # accounts (or organisations for batch/eval) per benign population
    campaigns: dict[str, tuple[int, ...]]  # archetype -> nominal accounts of each campaign
    transcripts: int = 2000
    shares: dict[str, float] = field(default_factory=dict)


# Share of all requests per population or campaign archetype (per campaign of that archetype).
SHARES: dict[str, float] = {
    "casual": 0.14,
    "power_user": 0.08,
    "coding_agent": 0.25,
    "batch_job": 0.14,
    "eval_harness": 0.05,
    "university_nat": 0.06,
    "company_nat": 0.06,
    "api_router": 0.07,
    "hydra": 0.08,
    "reasoning_traces": 0.035,
    "low_and_slow": 0.012,
    "reseller": 0.03,
    "targeted": 0.008,
}

SCALES: dict[str, Scale] = {
    "tiny": Scale(
        name="tiny",
        days=7,
        total_requests=4_000,
        populations={
            "casual": 60,
            "power_user": 4,
            "coding_agent": 8,
            "batch_job": 1,
            "eval_harness": 1,
            "university_nat": 30,
            "company_nat": 15,
            "api_router": 1,
        },
        campaigns={
            "hydra": (24,),
            "reasoning_traces": (8,),
            "low_and_slow": (10,),
            "reseller": (1,),
            "targeted": (3,),
        },
        transcripts=200,
    ),
    "small": Scale(
        name="small",
        days=28,
        total_requests=250_000,
        populations={
            "casual": 1800,
            "power_user": 60,
            "coding_agent": 150,
            "batch_job": 3,
            "eval_harness": 2,
            "university_nat": 350,
            "company_nat": 150,
            "api_router": 2,
        },
        campaigns={
            "hydra": (220,),
            "reasoning_traces": (35,),
            "low_and_slow": (60,),
            "reseller": (2,),
            "targeted": (5,),
        },
        transcripts=2000,
    ),
    "large": Scale(
        name="large",
        days=42,
        total_requests=10_500_000,
        populations={
            "casual": 70_000,
            "power_user": 2_000,
            "coding_agent": 6_000,
            "batch_job": 12,
            "eval_harness": 6,
            "university_nat": 3_000,
            "company_nat": 1_200,
            "api_router": 6,
        },
        campaigns={
            "hydra": (2_500, 1_200),
            "reasoning_traces": (300, 120),
            "low_and_slow": (500,),
            "reseller": (3,),
            "targeted": (6, 8),
        },
        transcripts=8000,
    ),
}
