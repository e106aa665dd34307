"""A pair of accounts is judged like one account: two families are not enough, three are;
sign-up features tell an operator's hosting registrations from a campus pair."""

import duckdb
import polars as pl
import pytest

from detector.campaigns.assemble import assemble_campaigns
from detector.campaigns.profile import group_frame
from detector.rules import load_rules
from detector.rules.evaluate import rule_hits

RULES = load_rules()


def _cluster_rule(signal: str):
    return next(r for r in RULES if r.scope == "cluster" and r.signal == signal)


def _drafts(members: list[str], signals: list[str]):
    accounts = pl.DataFrame({"account_id": members, "anomaly_score": 0.9, "requests": 3000})
    membership = pl.DataFrame({"account_id": members, "cluster_id": "cl_x"})
    clusters = pl.DataFrame({"cluster_id": ["cl_x"], "anomaly_score": [0.9]})
    hits = pl.DataFrame({"entity_id": "cl_x", "rule_id": [_cluster_rule(s).id for s in signals]})
    no_hits = pl.DataFrame(schema={"entity_id": pl.String, "rule_id": pl.String})
    return assemble_campaigns(accounts, membership, clusters, no_hits, hits, RULES)


def test_a_pair_needs_three_families_where_a_larger_cluster_needs_two():
    two = ["volume", "infrastructure"]  # infrastructure is a coordination family
    assert _drafts(["a", "b"], two) == []
    assert len(_drafts(["a", "b", "c"], two)) == 1
    found = _drafts(["a", "b"], [*two, "metadata"])
    assert len(found) == 1 and found[0].members == ("a", "b")


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE TABLE account_features (account_id VARCHAR, requests BIGINT)")
    con.execute(
        "CREATE TABLE accounts (account_id VARCHAR, payment_fingerprint VARCHAR, org_id VARCHAR,"
        " created_at TIMESTAMPTZ, signup_ip VARCHAR, signup_network_class VARCHAR)"
    )
    rows = [
        # an operator: two accounts registered from one server, different cards
        ("r1", "card-1", None, "45.32.75.185", "hosting"),
        ("r2", "card-2", None, "45.32.75.185", "hosting"),
        # two students behind the campus NAT
        ("s1", "card-3", None, "130.1.2.3", "residential"),
        ("s2", "card-4", None, "130.1.2.3", "residential"),
        # an operator with two servers paying with one card
        ("q1", "card-9", None, "139.162.40.99", "hosting"),
        ("q2", "card-9", None, "139.162.234.59", "hosting"),
    ]
    con.executemany(
        "INSERT INTO accounts VALUES (?, ?, ?, TIMESTAMPTZ '2026-01-01 00:00:00+00', ?, ?)", rows
    )
    con.executemany("INSERT INTO account_features VALUES (?, 1000)", [(r[0],) for r in rows])
    return con


def test_signup_features_and_the_hosting_signup_rule(con):
    membership = pl.DataFrame({
        "account_id": ["r1", "r2", "s1", "s2", "q1", "q2"],
        "cluster_id": ["op", "op", "campus", "campus", "op2", "op2"],
    })
    frame = group_frame(con, membership)
    rows = {r["cluster_id"]: r for r in frame.iter_rows(named=True)}
    assert rows["op"]["signup_ip_reuse"] == pytest.approx(0.5)
    assert rows["op"]["signup_hosting_share"] == pytest.approx(1.0)
    assert rows["campus"]["signup_ip_reuse"] == pytest.approx(0.5)
    assert rows["campus"]["signup_hosting_share"] == pytest.approx(0.0)
    assert rows["op2"]["signup_ip_reuse"] == pytest.approx(0.0)
    assert rows["op2"]["payment_reuse"] == pytest.approx(0.5)
    rule = next(r for r in RULES if r.title.startswith("Unaffiliated accounts registered from hosting"))
    fired = set(rule_hits(frame, [rule], id_column="cluster_id").get_column("entity_id"))
    assert fired == {"op", "op2"}
