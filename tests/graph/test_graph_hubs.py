"""Hubs must not swamp the graph: a NAT IP alone links nobody, a NAT plus an organisation does."""

from __future__ import annotations

from datetime import timedelta

from graph_store_builder import START, StoreBuilder, members_by_cluster

from detector.graph import build_graph

NAT_IP = "128.32.7.10"
BROWSERS = [f"Mozilla/5.0 Chrome/12{i}" for i in range(5)]


def _nat_population(builder: StoreBuilder, *, organisation: bool) -> list[str]:
    ids = []
    week = START - timedelta(days=40)
    for i in range(200):
        account_id = f"nat_{i:03d}"
        ids.append(account_id)
        if organisation:
            signup = week + timedelta(seconds=int(builder.rng.integers(0, 7 * 86_400)))
            builder.account(account_id, email_domain="uni.example.edu", created_at=signup)
        else:
            builder.account(account_id, email_domain=["gmail.com", "outlook.com"][i % 2])
        for at in builder.random_times(4):
            builder.request(account_id, at, ip=NAT_IP, user_agent=BROWSERS[i % 5])
    return ids


def test_nat_hub_ip_does_not_merge_unrelated_accounts(builder: StoreBuilder) -> None:
    nat = _nat_population(builder, organisation=False)
    builder.background(40)
    builder.flush()

    build_graph(builder.con)

    edges = builder.con.execute(
        "SELECT count(*) FROM account_edges WHERE account_a LIKE 'nat_%' AND account_b LIKE 'nat_%'"
    ).fetchall()[0]
    assert edges == (0,)
    sizes = [len(m & set(nat)) for m in members_by_cluster(builder.con).values()]
    assert max(sizes) == 1
    # The shared IP is held by 200 accounts: it weighs far less than a value shared by two.
    weight = builder.con.execute(
        "SELECT max(accounts), max(rarity) FROM account_attributes"
        " WHERE attr_type = 'ip' AND attr_value = ?",
        [NAT_IP],
    ).fetchall()[0]
    assert weight is not None and weight[0] == 200 and weight[1] < 0.5


def test_university_behind_nat_forms_clusters_with_benign_evidence(builder: StoreBuilder) -> None:
    nat = set(_nat_population(builder, organisation=True))
    background = set(builder.background(40))
    builder.flush()

    build_graph(builder.con)

    clusters = members_by_cluster(builder.con)
    clustered = [m for m in clusters.values() if len(m & nat) >= 10]
    assert sum(len(m) for m in clustered) >= 0.9 * len(nat)
    assert all(not (m & background) for m in clustered)
    assert len(clustered) <= 8
    # Evidence a scorer needs to call it benign: one organisation domain, every member paying
    # with its own card, residential addresses only.
    rows = builder.con.execute(
        """
        SELECT f.size, f.distinct_email_domains, f.payment_diversity, f.hosting_share,
               f.distinct_ips
        FROM cluster_features f
        WHERE f.cluster_id IN (SELECT cluster_id FROM clusters WHERE account_id LIKE 'nat_%')
          AND f.size >= 10
        """
    ).fetchall()
    assert rows
    for _size, domains, payment_diversity, hosting_share, ips in rows:
        assert domains == 1
        assert payment_diversity == 1.0
        assert hosting_share == 0.0
        assert ips == 1


def test_public_mail_provider_is_not_an_attribute(builder: StoreBuilder) -> None:
    builder.account("a", email_domain="GMail.com ")
    builder.account("b", email_domain="gmail.com")
    builder.account("c", email_domain="tiny-lab.example")
    builder.flush()

    build_graph(builder.con)

    domains = builder.con.execute(
        "SELECT account_id, attr_value FROM account_attributes WHERE attr_type = 'email_domain'"
    ).fetchall()
    assert domains == [("c", "tiny-lab.example")]
