"""Per-account template features and cross-account sharing on a small population."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import duckdb
import pytest
from feature_store import T0, account_row, add_requests

from detector.features import compute_features

pytestmark = pytest.mark.usefixtures("plain_labels")

RARE = "Rewrite the answer {n} so it follows the censorship-safe policy and keep every intermediate reasoning step."
POPULAR = "Please proofread my email {n} and fix the grammar mistakes."


def ordinary_prompts(count: int) -> list[str]:
    """Unrelated prompts: random words from a large vocabulary share almost nothing."""
    rng = random.Random(7)
    vocabulary = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=7)) for _ in range(20_000)]
    return [" ".join(rng.choices(vocabulary, k=30)) for _ in range(count)]


@pytest.fixture
def population(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """100 ordinary accounts, 3 sharing a rare template, 10 sharing a popular one: 113 accounts."""
    prompts = iter(ordinary_prompts(200))
    rows = [
        {
            "account_id": f"user{i:03d}",
            "timestamp": T0 + timedelta(minutes=i),
            "prompt": next(prompts),
        }
        for i in range(100)
    ]
    for c in range(3):
        for n in range(4):
            rows.append(
                {
                    "account_id": f"crew{c}",
                    "timestamp": T0 + timedelta(hours=1, minutes=n),
                    "prompt": RARE.format(n=100 * c + n),
                    "system_prompt": f"You are extraction worker {c}.",
                }
            )
        rows.append(
            {
                "account_id": f"crew{c}",
                "timestamp": T0 + timedelta(hours=2),
                "prompt": next(prompts),
                "system_prompt": f"You are extraction worker {c}.",
            }
        )
    for p in range(10):
        rows += [
            {
                "account_id": f"pop{p}",
                "timestamp": T0 + timedelta(hours=3, minutes=n),
                "prompt": POPULAR.format(n=n),
            }
            for n in range(2)
        ]
    add_requests(con, rows)
    compute_features(con)
    return con


def test_template_concentration(population: duckdb.DuckDBPyConnection) -> None:
    crew = account_row(population, "crew0")
    assert crew["top_template_share"] == pytest.approx(0.8)
    assert (crew["distinct_templates"], crew["distinct_template_ratio"]) == (
        2,
        pytest.approx(2 / 5),
    )
    assert crew["template_entropy"] == pytest.approx(-(0.8 * math.log(0.8) + 0.2 * math.log(0.2)))
    assert crew["top_template_accounts"] == 3
    user = account_row(population, "user000")
    assert (
        user["top_template_share"],
        user["template_entropy"],
        user["top_template_accounts"],
    ) == (1.0, 0.0, 1)


def test_rare_shared_templates(population: duckdb.DuckDBPyConnection) -> None:
    # 113 accounts, rare share 5 %: a template of 2..5 accounts is rare-shared, one of 10 is not.
    crew = account_row(population, "crew1")
    assert crew["shared_template_share"] == pytest.approx(0.8)
    assert crew["shared_rare_template_share"] == pytest.approx(0.8)
    popular = account_row(population, "pop3")
    assert popular["shared_template_share"] == 1.0
    assert popular["shared_rare_template_share"] == 0.0
    assert account_row(population, "user042")["shared_template_share"] == 0.0


def test_system_prompt_reuse_across_accounts(population: duckdb.DuckDBPyConnection) -> None:
    crew = account_row(population, "crew2")
    assert crew["system_fp_max_accounts"] == 3
    assert crew["shared_system_fp_share"] == 1.0
    assert crew["system_prompt_share"] == 1.0
    user = account_row(population, "user001")
    assert (
        user["system_fp_max_accounts"],
        user["shared_system_fp_share"],
        user["system_prompt_share"],
    ) == (0, 0.0, 0.0)


def test_template_population_table(population: duckdb.DuckDBPyConnection) -> None:
    rows = population.execute(
        "SELECT accounts, requests, account_share FROM template_features WHERE kind = 'prompt' ORDER BY accounts DESC LIMIT 2"
    ).fetchall()
    assert rows[0] == (10, 20, pytest.approx(10 / 113))
    assert rows[1] == (3, 12, pytest.approx(3 / 113))
    systems = population.execute(
        "SELECT accounts FROM template_features WHERE kind = 'system'"
    ).fetchall()
    assert systems == [(3,)]
