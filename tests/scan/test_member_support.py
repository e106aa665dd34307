"""Members of a suspicious cluster must carry the campaign; a weak link does not pull one in."""

import duckdb
import pytest
from attribute_rows import add_attribute_rows

from detector.campaigns.membership import MemberSupport, member_support, supported

FAMILIES = ("network", "client", "payment", "signup", "email", "content", "synchrony")


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE account_edges (account_a VARCHAR, account_b VARCHAR, score DOUBLE, "
        + ", ".join(f"{f} DOUBLE" for f in FAMILIES) + ")"
    )
    attrs = []
    # h1..h4: a hydra sharing proxy IPs; h5 rotates through its own addresses (a straggler).
    for i in range(1, 5):
        attrs += [(f"h{i}", "ip", "10.0.0.1", 40), (f"h{i}", "template", "tplX", 40)]
    attrs += [("h5", "ip", f"10.9.9.{i}", 1) for i in range(40)]
    # router: datacenter IPs and a widely used agent template shared with everyone.
    attrs += [("router", "ip", "52.1.1.1", 500), ("router2", "ip", "52.1.1.2", 500)]
    for a in ("router", "router2", "h1", "x1", "x2", "x3"):
        attrs.append((a, "system_fp", "agent-template", 100))
    add_attribute_rows(con, attrs)

    def edge(a, b, **families):
        row = [a, b, 1.0] + [families.get(f, 0.0) for f in FAMILIES]
        con.execute(f"INSERT INTO account_edges VALUES ({', '.join('?' * len(row))})", row)

    for i in range(1, 5):
        for j in range(i + 1, 5):
            edge(f"h{i}", f"h{j}", network=1.0, payment=0.9)
    edge("h4", "h5", payment=0.9, signup=0.8)       # the straggler's one strong tie
    edge("h1", "router", content=1.0, client=0.6)   # one software family only
    edge("router", "router2", content=1.0, client=0.9, email=1.0)  # two benign accounts, one org
    return con


def test_weakly_linked_accounts_are_dropped_and_the_campaign_kept(con):
    members = ["h1", "h2", "h3", "h4", "h5", "router", "router2"]
    frame = member_support(con, [("cluster:k", members)])
    rows = {r["account_id"]: r for r in frame.iter_rows(named=True)}
    assert rows["h1"]["affinity"] == 1.0  # all its IP traffic on the hydra's proxy
    assert rows["h2"]["affinity"] == 1.0 and rows["h2"]["strong_partners"] == 3
    # the agent template is held by as many outsiders as members: not the campaign's
    assert rows["router"]["affinity"] == 0.0 and rows["router"]["strong_partners"] == 1
    assert rows["h5"]["affinity"] == 0.0 and rows["h5"]["strong_partners"] == 1
    kept = set(supported(frame, {"cluster:k": len(members)}, MemberSupport()).get_column("account_id"))
    assert kept == {"h1", "h2", "h3", "h4", "h5"}


def test_a_pair_needs_one_strong_partner(con):
    frame = member_support(con, [("cluster:p", ["router", "router2"])])
    kept = supported(frame, {"cluster:p": 2}, MemberSupport())
    assert kept.height == 2  # a two-account unit is judged by its cluster rules, not pruned away


def test_without_graph_or_feature_tables_nobody_has_support():
    frame = member_support(duckdb.connect(), [("cluster:k", ["a", "b", "c"])])
    assert frame.get_column("affinity").to_list() == [0.0] * 3
    assert frame.get_column("strong_partners").to_list() == [0] * 3
