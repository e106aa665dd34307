"""Cluster features computed on a hand-made cluster whose every figure is known."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from graph_store_builder import START, StoreBuilder, cluster_of

from detector.graph import build_graph

CREW = [f"crew_{i}" for i in range(4)]


@pytest.fixture
def crew_store(builder: StoreBuilder) -> StoreBuilder:
    builder.background(20)
    signup = START - timedelta(days=2, minutes=50)
    for i, account_id in enumerate(CREW):
        builder.account(
            account_id,
            payment="card_x",
            tier="pro" if i == 3 else "free",
            created_at=signup + timedelta(minutes=3 * i),
        )
        for at in builder.random_times(5):
            builder.request(account_id, at, ip=f"45.9.9.{i + 1}", network_class="hosting")
    for at in builder.random_times(5):
        builder.request("crew_0", at, ip="81.1.1.1")  # 25 requests, 20 from hosting
    builder.flush()
    return builder


def _features(builder: StoreBuilder) -> dict[str, object]:
    cluster = cluster_of(builder.con)["crew_0"]
    cursor = builder.con.execute("SELECT * FROM cluster_features WHERE cluster_id = ?", [cluster])
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))


def test_infrastructure_payment_signup_and_volume_features(crew_store: StoreBuilder) -> None:
    build_graph(crew_store.con)
    assert len({cluster_of(crew_store.con)[a] for a in CREW}) == 1
    f = _features(crew_store)

    assert f["size"] == 4
    assert f["internal_edges"] == 6 and f["density"] == pytest.approx(1.0)
    assert f["distinct_payment_methods"] == 1 and f["payment_diversity"] == pytest.approx(0.25)
    assert f["distinct_ips"] == 5 and f["distinct_prefixes"] == 2
    assert f["distinct_tiers"] == 2 and f["top_tier_share"] == pytest.approx(0.75)
    assert f["signup_span_hours"] == pytest.approx(9 / 60)
    assert f["signup_peak_day_share"] == pytest.approx(1.0)
    assert f["hosting_share"] == pytest.approx(20 / 25)
    assert f["requests"] == 25 and f["requests_per_account"] == pytest.approx(25 / 4)
    assert f["input_tokens"] == 250
    # without request_features / account_features those columns stay empty
    assert f["template_diversity"] is None and f["capability_entropy"] is None
    assert f["cot_share"] is None


def test_template_capability_and_cot_features(crew_store: StoreBuilder) -> None:
    con = crew_store.con
    con.execute(
        """
        CREATE TABLE request_features AS
        SELECT request_id, account_id, "timestamp",
               CASE WHEN account_id LIKE 'crew_%' THEN 'T1' ELSE 'T_' || request_id END
                   AS template_fp,
               NULL::VARCHAR AS system_fp,
               CASE WHEN account_id = 'crew_0' AND client_ip = '81.1.1.1' THEN 'math'
                    ELSE 'coding' END AS capability
        FROM requests
        """
    )
    con.execute(
        """
        CREATE TABLE account_features AS
        SELECT * FROM (VALUES ('crew_0', 10, 1.0), ('crew_1', 5, 1.0), ('crew_2', 5, 0.0),
                              ('crew_3', 5, 0.0)) AS t(account_id, requests, cot_share)
        """
    )
    build_graph(con)
    f = _features(crew_store)

    assert f["template_overlap"] == pytest.approx(1 - 1 / 4)
    assert f["template_diversity"] == pytest.approx(1 / 25)
    assert f["top_template_share"] == pytest.approx(1.0)
    expected_entropy = -(0.8 * math.log2(0.8) + 0.2 * math.log2(0.2))
    assert f["capability_entropy"] == pytest.approx(expected_entropy)
    assert f["cot_share"] == pytest.approx(15 / 25)  # request-weighted
    assert f["high_value_share"] is None  # column absent from account_features


def test_every_account_gets_a_cluster_and_singletons_have_no_density(
    crew_store: StoreBuilder,
) -> None:
    stats = build_graph(crew_store.con)
    clusters = cluster_of(crew_store.con)
    assert len(clusters) == 24 == stats.accounts
    singleton = crew_store.con.execute(
        "SELECT density, internal_edges, size FROM cluster_features WHERE cluster_id = ?",
        [clusters["bg_000"]],
    ).fetchall()
    assert singleton == [(None, 0, 1)]


def test_empty_store_builds_empty_tables(builder: StoreBuilder) -> None:
    stats = build_graph(builder.con)
    assert stats.accounts == 0 and stats.edges == 0 and stats.clusters == 0
    assert builder.con.execute("SELECT count(*) FROM cluster_features").fetchall() == [(0,)]
