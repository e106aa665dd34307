"""Dispersed hubs: a system prompt or template shared by many otherwise unrelated accounts (a
popular agent product's) must not tie them together, nor tie them to a crew that uses it too."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest
from graph_store_builder import START, StoreBuilder, cluster_of, members_by_cluster

from detector.graph import GraphParams, build_graph
from detector.graph.weighting import dispersion_factor

AGENT_UA = "agent-cli/2.1"


def _developers(builder: StoreBuilder, count: int) -> list[str]:
    """Unrelated developers of one agent product: own network, own card, sign-ups over a year."""
    ids = []
    for i in range(count):
        account_id = f"dev_{i:03d}"
        ids.append(account_id)
        builder.account(account_id, created_at=START - timedelta(days=5 + 9 * i, hours=i % 24))
        ip = f"{70 + i % 20}.{i}.{(7 * i) % 250}.9"
        for at in builder.random_times(12):
            builder.request(account_id, at, ip=ip, user_agent=AGENT_UA)
    return ids


def _crew(builder: StoreBuilder, count: int) -> list[str]:
    """An operator's accounts: two rented hosting /24s, a few cards, one sign-up burst."""
    ids = []
    burst = START - timedelta(days=4)
    for i in range(count):
        account_id = f"crew_{i:03d}"
        ids.append(account_id)
        builder.account(
            account_id,
            payment=f"card_op_{i % 4}",
            created_at=burst + timedelta(minutes=3 * i),
            signup_ip=f"45.77.{i % 2}.{10 + i}",
        )
        for j, at in enumerate(builder.random_times(12)):
            builder.request(
                account_id,
                at,
                ip=f"45.77.{j % 2}.{20 + (i + j) % 30}",
                user_agent=AGENT_UA,
                network_class="hosting",
                asn=64501,
            )
    return ids


def _agent_request_features(builder: StoreBuilder) -> None:
    """Everyone sends the agent product's system prompt and its handful of templates."""
    builder.con.execute(
        """
        CREATE TABLE request_features AS
        SELECT request_id, account_id, "timestamp",
               CASE WHEN account_id LIKE 'dev_%' OR account_id LIKE 'crew_%'
                    THEN 'agent_tpl_' || (hash(request_id) % 4)
                    ELSE 'tpl_' || account_id END AS template_fp,
               CASE WHEN account_id LIKE 'dev_%' OR account_id LIKE 'crew_%'
                    THEN 'sys_agent_product' END AS system_fp
        FROM requests
        """
    )


def test_product_prompt_shared_by_unrelated_accounts_is_a_hub(builder: StoreBuilder) -> None:
    developers = set(_developers(builder, 40))
    crew = set(_crew(builder, 16))
    background = set(builder.background(40))
    builder.flush()
    _agent_request_features(builder)

    build_graph(builder.con)

    spread, pruned = builder.con.execute(
        "SELECT max(spread), bool_and(pruned) FROM account_attributes"
        " WHERE attr_type = 'system_fp' AND attr_value = 'sys_agent_product'"
    ).fetchall()[0]
    assert spread > GraphParams().dispersion_high
    assert pruned
    groups = members_by_cluster(builder.con)
    crew_clusters = [m for m in groups.values() if m & crew]
    # the crew still clusters through its own infrastructure (cards, /24s, sign-up burst) ...
    assert len(crew_clusters) <= 2 and all(len(m) >= 4 for m in crew_clusters)
    # ... and no developer or bystander is pulled in through the shared product
    assert all(m <= crew for m in crew_clusters)
    assert not any(m & background for m in groups.values() if len(m) > 1)
    developer_clusters = [m for m in groups.values() if m & developers]
    assert max(len(m) for m in developer_clusters) <= 2


def test_an_operators_own_prompt_keeps_its_weight(builder: StoreBuilder) -> None:
    crew = _crew(builder, 16)
    builder.background(60)
    builder.flush()
    builder.con.execute(
        """
        CREATE TABLE request_features AS
        SELECT request_id, account_id, "timestamp", 'tpl_' || account_id AS template_fp,
               CASE WHEN account_id LIKE 'crew_%' THEN 'sys_crew' END AS system_fp
        FROM requests
        """
    )

    build_graph(builder.con)

    rows = builder.con.execute(
        "SELECT DISTINCT spread, pruned, weight, rarity FROM account_attributes"
        " WHERE attr_type = 'system_fp' AND attr_value = 'sys_crew'"
    ).fetchall()
    assert len(rows) == 1
    spread, pruned, weight, rarity = rows[0]
    # 16 accounts from two /24s and one sign-up day: far more concentrated than chance
    params = GraphParams()
    assert spread < params.dispersion_low
    assert not pruned and weight > 0.5
    factor = dispersion_factor(builder.con, spread, params.dispersion_low, params.dispersion_high)
    assert weight == pytest.approx(params.type_weights["system_fp"] * rarity * factor)
    assert len({cluster_of(builder.con)[a] for a in crew}) == 1


def test_university_behind_nat_still_clusters_with_a_shared_prompt(builder: StoreBuilder) -> None:
    # A class behind one NAT that all uses the same course assistant prompt: concentrated in
    # the network, so the prompt is not a dispersed hub and the group still forms clusters.
    week = START - timedelta(days=30)
    students = []
    for i in range(60):
        account_id = f"stu_{i:03d}"
        students.append(account_id)
        builder.account(
            account_id,
            email_domain="uni.example.edu",
            created_at=week + timedelta(hours=int(builder.rng.integers(0, 7 * 24))),
        )
        for at in builder.random_times(6):
            builder.request(account_id, at, ip=f"128.32.7.{i % 3}")
    builder.background(40)
    builder.flush()
    builder.con.execute(
        """
        CREATE TABLE request_features AS
        SELECT request_id, account_id, "timestamp", 'tpl_' || request_id AS template_fp,
               CASE WHEN account_id LIKE 'stu_%' THEN 'sys_course' END AS system_fp
        FROM requests
        """
    )

    build_graph(builder.con)

    spread = builder.con.execute(
        "SELECT max(spread) FROM account_attributes WHERE attr_value = 'sys_course'"
    ).fetchall()[0][0]
    assert spread < GraphParams().dispersion_low
    clustered = [m for m in members_by_cluster(builder.con).values() if len(m) >= 5]
    assert sum(len(m & set(students)) for m in clustered) >= 0.9 * len(students)


@pytest.mark.parametrize(
    ("spread", "expected"),
    [(None, 1.0), (0.0, 1.0), (0.3, 1.0), (0.45, 0.5), (0.6, 0.0), (1.2, 0.0)],
)
def test_dispersion_factor_ramps_from_low_to_high(spread: float | None, expected: float) -> None:
    con = duckdb.connect()
    assert dispersion_factor(con, spread, 0.3, 0.6) == pytest.approx(expected)
