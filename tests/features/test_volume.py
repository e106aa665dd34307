"""Query-volume features per account, key and organisation, on hand-made request logs."""

from __future__ import annotations

import math
from datetime import timedelta

import duckdb
import pytest
from feature_store import T0, account_row, add_requests

from detector.features import compute_features

pytestmark = pytest.mark.usefixtures("plain_labels")


def test_round_the_clock_account_has_maximal_hour_entropy(con: duckdb.DuckDBPyConnection) -> None:
    add_requests(
        con, [{"account_id": "bot", "timestamp": T0 + timedelta(hours=h)} for h in range(48)]
    )
    add_requests(
        con,
        [
            {"account_id": "human", "timestamp": T0 + timedelta(hours=9, minutes=m)}
            for m in (0, 10, 20)
        ],
    )
    compute_features(con)
    bot, human = account_row(con, "bot"), account_row(con, "human")
    assert bot["hour_entropy"] == pytest.approx(math.log(24))
    assert (bot["active_hours"], bot["active_days"], bot["requests_per_active_hour"]) == (
        48,
        2,
        1.0,
    )
    assert human["hour_entropy"] == pytest.approx(0.0)
    assert (human["active_hours"], human["requests_per_active_hour"]) == (1, 3.0)


def test_interarrival_regularity_and_burstiness(con: duckdb.DuckDBPyConnection) -> None:
    add_requests(
        con, [{"account_id": "uneven", "timestamp": T0 + timedelta(seconds=s)} for s in (0, 10, 40)]
    )
    add_requests(
        con,
        [{"account_id": "metronome", "timestamp": T0 + timedelta(minutes=m)} for m in range(10)],
    )
    # One request a day: no gap inside a day, so no regularity to measure.
    add_requests(
        con, [{"account_id": "daily", "timestamp": T0 + timedelta(days=d)} for d in range(3)]
    )
    compute_features(con)
    uneven = account_row(con, "uneven")
    # gaps 10 s and 30 s: mean 20, population sd 10
    assert uneven["interarrival_mean"] == pytest.approx(20.0)
    assert uneven["interarrival_cv"] == pytest.approx(0.5)
    assert uneven["burstiness"] == pytest.approx((10 - 20) / (10 + 20))
    metronome = account_row(con, "metronome")
    assert metronome["interarrival_cv"] == pytest.approx(0.0)
    assert metronome["burstiness"] == pytest.approx(-1.0)
    assert account_row(con, "daily")["interarrival_cv"] is None


def test_peak_per_minute_tokens_and_status_rates(con: duckdb.DuckDBPyConnection) -> None:
    statuses = [200] * 6 + [429, 429, 500, 400]
    add_requests(
        con,
        [
            {
                "account_id": "a",
                "timestamp": T0 + timedelta(seconds=s),
                "status_code": code,
                "input_tokens": 50,
                "output_tokens": 150,
            }
            for s, code in zip([1, 2, 3, 4, 5, 61, 62, 200, 300, 400], statuses, strict=True)
        ],
    )
    compute_features(con)
    row = account_row(con, "a")
    assert row["requests"] == 10
    assert row["peak_per_minute"] == 5
    assert (row["input_tokens"], row["output_tokens"], row["output_input_ratio"]) == (
        500,
        1500,
        3.0,
    )
    assert row["error_rate"] == pytest.approx(0.2)  # 500 and 400; 429 counts apart
    assert row["rate_limited_rate"] == pytest.approx(0.2)


def test_infrastructure_diversity_and_hosting_share(con: duckdb.DuckDBPyConnection) -> None:
    rows = [
        {
            "client_ip": "203.0.113.1",
            "ip_prefix": "203.0.113.0/24",
            "asn": 1,
            "user_agent": "curl/8",
            "network_class": "hosting",
        },
        {
            "client_ip": "203.0.113.1",
            "ip_prefix": "203.0.113.0/24",
            "asn": 1,
            "user_agent": "curl/8",
            "network_class": "vpn",
        },
        {
            "client_ip": "198.51.100.9",
            "ip_prefix": "198.51.100.0/24",
            "asn": 1,
            "user_agent": "ua-2",
            "network_class": "residential",
        },
        {
            "client_ip": "198.51.100.10",
            "ip_prefix": "198.51.100.0/24",
            "asn": 2,
            "user_agent": None,
            "network_class": None,
        },
    ]
    add_requests(
        con,
        [
            {"account_id": "a", "timestamp": T0 + timedelta(hours=i), **r}
            for i, r in enumerate(rows)
        ],
    )
    compute_features(con)
    row = account_row(con, "a")
    assert (
        row["distinct_ips"],
        row["distinct_prefixes"],
        row["distinct_asns"],
        row["distinct_user_agents"],
    ) == (3, 2, 2, 2)
    assert row["hosting_share"] == pytest.approx(0.5)


def test_model_pivot_counts_traffic_to_a_new_model_within_48_hours(
    con: duckdb.DuckDBPyConnection,
) -> None:
    release = T0 + timedelta(days=5)
    add_requests(
        con,
        [
            {"account_id": "steady", "timestamp": T0 + timedelta(hours=h), "model": "old"}
            for h in range(10)
        ],
    )
    pivot = [
        {"account_id": "pivot", "timestamp": T0 + timedelta(days=4, hours=h), "model": "old"}
        for h in range(5)
    ]
    pivot += [
        {"account_id": "pivot", "timestamp": release + timedelta(hours=h), "model": "new"}
        for h in (0, 5, 30, 47)
    ]
    pivot += [{"account_id": "pivot", "timestamp": release + timedelta(hours=49), "model": "new"}]
    add_requests(con, pivot)
    compute_features(con)
    assert account_row(con, "pivot")["model_pivot_share"] == pytest.approx(4 / 10)
    assert account_row(con, "pivot")["distinct_models"] == 2
    # "old" was there when the store began: traffic to it in the first 48 h is not a pivot.
    assert account_row(con, "steady")["model_pivot_share"] == 0.0


def test_key_and_org_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    add_requests(
        con,
        [
            {
                "account_id": "a1",
                "api_key_id": "k1",
                "org_id": "o1",
                "timestamp": T0,
                "network_class": "hosting",
            },
            {
                "account_id": "a1",
                "api_key_id": "k1",
                "org_id": "o1",
                "timestamp": T0 + timedelta(days=1),
                "status_code": 429,
            },
            {"account_id": "a2", "api_key_id": "k2", "org_id": "o1", "timestamp": T0},
            {"account_id": "a3", "api_key_id": None, "org_id": None, "timestamp": T0},
        ],
    )
    compute_features(con)
    keys = {
        row[0]: row
        for row in con.execute(
            "SELECT api_key_id, accounts, requests, active_days, rate_limited_rate, hosting_share FROM key_features"
        ).fetchall()
    }
    assert keys["k1"][1:] == (1, 2, 2, 0.5, 0.5)
    assert keys["k2"][1:3] == (1, 1)
    org = con.execute(
        "SELECT accounts, api_keys, requests, hosting_share FROM org_features WHERE org_id = 'o1'"
    ).fetchall()[0]
    assert org == (2, 2, 3, pytest.approx(1 / 3))
