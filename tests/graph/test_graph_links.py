"""What should tie accounts together does: rare shared payment + prefix, synchrony, templates."""

from __future__ import annotations

from datetime import timedelta

from graph_store_builder import START, StoreBuilder, cluster_of, members_by_cluster

from detector.graph import build_graph


def test_rare_payment_and_prefix_merge_a_prefix_alone_does_not(builder: StoreBuilder) -> None:
    background = set(builder.background(40))
    # both: share a card and a /24 (different addresses inside it)
    for i in range(4):
        builder.account(f"both_{i}", payment="card_shared")
        for at in builder.random_times(6):
            builder.request(
                f"both_{i}", at, ip=f"45.61.2.{10 + i}", network_class="hosting", asn=64500
            )
    # card only: one card for two accounts, unrelated residential addresses
    for i in range(2):
        builder.account(f"card_{i}", payment="card_family")
        for at in builder.random_times(6):
            builder.request(f"card_{i}", at, ip=f"77.{i}.3.4")
    # prefix only: same /24, own cards
    for i in range(2):
        builder.account(f"pfx_{i}")
        for at in builder.random_times(6):
            builder.request(f"pfx_{i}", at, ip=f"81.20.30.{i + 1}")
    builder.flush()

    build_graph(builder.con)

    clusters = cluster_of(builder.con)
    group = {clusters[f"both_{i}"] for i in range(4)}
    assert len(group) == 1
    members = members_by_cluster(builder.con)[group.pop()]
    assert members == {f"both_{i}" for i in range(4)}
    assert not members & background
    # One card paying for two accounts is the same payer: a (small) cluster of its own.
    assert clusters["card_0"] == clusters["card_1"]
    assert clusters["pfx_0"] != clusters["pfx_1"]


def test_synchrony_links_accounts_without_shared_infrastructure(builder: StoreBuilder) -> None:
    background = set(builder.background(40, requests=30))
    burst_minutes = sorted(int(m) for m in builder.rng.choice(7 * 1440, size=30, replace=False))
    synced = [f"sync_{i}" for i in range(6)]
    for i, account_id in enumerate(synced):
        builder.account(account_id)
        ip = f"{100 + i}.{10 * i}.{i}.7"
        for minute in burst_minutes:
            at = START + timedelta(minutes=minute, seconds=int(builder.rng.integers(0, 50)))
            builder.request(account_id, at, ip=ip, user_agent=f"agent-{i}")
    builder.flush()

    build_graph(builder.con)

    clusters = cluster_of(builder.con)
    assert len({clusters[a] for a in synced}) == 1
    members = members_by_cluster(builder.con)[clusters[synced[0]]]
    assert members == set(synced)
    assert not members & background
    edges = builder.con.execute(
        "SELECT min(synchrony), max(network + payment + client + email + signup + content)"
        " FROM account_edges WHERE account_a LIKE 'sync_%' AND account_b LIKE 'sync_%'"
    ).fetchall()[0]
    assert edges is not None and edges[0] > 0.9 and edges[1] == 0.0


def test_always_on_accounts_are_not_synchronized_by_chance(builder: StoreBuilder) -> None:
    # Two accounts active in nearly every minute of a day overlap massively, by chance.
    for i in range(2):
        builder.account(f"busy_{i}")
        for minute in range(0, 1440):
            if builder.rng.random() < 0.9:
                builder.request(f"busy_{i}", START + timedelta(minutes=minute), ip=f"90.{i}.1.1")
    builder.flush()

    build_graph(builder.con)

    edges = builder.con.execute("SELECT count(*) FROM account_edges").fetchall()[0]
    assert edges == (0,)


def test_template_fingerprints_from_request_features_link_accounts(builder: StoreBuilder) -> None:
    background = builder.background(30)
    signup = START - timedelta(days=3)
    crew = [f"crew_{i}" for i in range(5)]
    for i, account_id in enumerate(crew):
        builder.account(account_id, created_at=signup + timedelta(minutes=7 * i))
        for at in builder.random_times(10):
            builder.request(account_id, at, ip=f"{120 + i}.1.2.3")
    builder.flush()
    con = builder.con

    build_graph(con)
    without = cluster_of(con)
    assert len({without[a] for a in crew}) == len(crew)  # sign-up hour alone is not enough

    con.execute(
        """
        CREATE TABLE request_features AS
        SELECT request_id, account_id, "timestamp",
               CASE WHEN account_id LIKE 'crew_%' THEN 'tpl_rare_' || (hash(request_id) % 3)
                    ELSE 'tpl_' || account_id END AS template_fp,
               CASE WHEN account_id LIKE 'crew_%' THEN 'sys_crew' END AS system_fp
        FROM requests
        """
    )
    stats = build_graph(con)
    assert stats.used_templates
    with_templates = cluster_of(con)
    assert len({with_templates[a] for a in crew}) == 1
    assert not members_by_cluster(con)[with_templates[crew[0]]] & set(background)
