"""Accounts outside the graph's clusters that run one content kit form a group; shared popular
content and a single shared kind do not; a kit group needs the evidence of a lone account."""

import duckdb
import polars as pl
import pytest
from attribute_rows import add_attribute_rows

from detector.campaigns.assemble import assemble_campaigns
from detector.campaigns.kits import KIT_PREFIX, add_kit_groups, kit_frame, kit_groups
from detector.rules import load_rules

KIT = [f"k{i}" for i in range(6)]
CROWD = [f"u{i:02d}" for i in range(30)]
PAIR = ["p1", "p2"]  # share a user agent only


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE account_features (account_id VARCHAR, requests BIGINT, cot_share DOUBLE,"
        " high_value_share DOUBLE, distinct_prefixes BIGINT, distinct_asns BIGINT)"
    )
    attrs, feats = [], []
    for a in KIT:
        # every kit member runs both system prompts and the same four templates, one client
        attrs += [(a, "system_fp", "sys-A", 10), (a, "system_fp", "sys-B", 10),
                  (a, "user_agent", "kit-client/1.0", 20)]
        attrs += [(a, "template", f"tpl-{t}", 5) for t in range(4)]
        feats.append((a, 20, 0.3, 0.4, 20, 12))
    for i, a in enumerate(CROWD):
        # the population's norm: one popular client and popular templates, no system prompt
        attrs += [(a, "user_agent", "popular-client/2", 20), (a, "template", f"pop-{i % 3}", 20)]
        feats.append((a, 20, 0.0, 0.1, 3, 2))
    for a in PAIR:
        attrs += [(a, "user_agent", "rare-client/0.1", 20), (a, "template", f"own-{a}", 20)]
        feats.append((a, 20, 0.0, 0.1, 2, 1))
    add_attribute_rows(con, attrs)
    con.executemany("INSERT INTO account_features VALUES (?, ?, ?, ?, ?, ?)", feats)
    return con


def test_kit_members_form_one_group_and_nobody_else_does(con):
    everyone = KIT + CROWD + PAIR
    groups = kit_groups(con, everyone)
    assert groups.get_column("cluster_id").n_unique() == 1
    assert sorted(groups.get_column("account_id")) == KIT
    assert groups.get_column("cluster_id")[0].startswith(KIT_PREFIX)


def test_only_candidates_are_grouped(con):
    assert kit_groups(con, KIT[:1] + CROWD).is_empty()  # one kit member left: no pair


def test_kit_features(con):
    groups = kit_groups(con, KIT + CROWD + PAIR)
    row = kit_frame(con, groups).row(0, named=True)
    assert row["members"] == 6
    assert row["exclusive_content_share"] == pytest.approx(1.0)
    # 4 distinct templates over 6 members x 4 templates each
    assert row["template_overlap"] == pytest.approx(1 - 4 / 24)
    assert row["cot_share"] == pytest.approx(0.3)


def test_kit_groups_join_the_scan_frames_and_fire_cluster_rules(con):
    accounts = pl.DataFrame({"account_id": KIT + CROWD + PAIR, "anomaly_score": 0.5})
    membership = pl.DataFrame({"account_id": KIT + CROWD + PAIR,
                               "cluster_id": [f"cl_{a}" for a in KIT + CROWD + PAIR]})
    frames = {
        "accounts": accounts, "membership": membership,
        "clusters": pl.DataFrame(schema={"cluster_id": pl.String, "members": pl.Int64}),
        "cluster_hits": pl.DataFrame(schema={"entity_id": pl.String, "rule_id": pl.String}),
    }
    stats = add_kit_groups(con, frames, load_rules())
    assert stats == {"kit_groups": 1, "kit_accounts": 6}
    kit_id = frames["clusters"].get_column("cluster_id")[0]
    assert frames["membership"].filter(pl.col("cluster_id") == kit_id).height == 6
    assert frames["membership"].height == len(KIT + CROWD + PAIR)  # singletons replaced
    fired = set(frames["cluster_hits"].filter(pl.col("entity_id") == kit_id).get_column("rule_id"))
    titles = {r.id: r.title for r in load_rules()}
    assert any("content kit" in titles[r] for r in fired)
    assert any("Steady chain-of-thought" in titles[r] for r in fired)


def test_a_kit_group_is_judged_like_a_lone_account():
    rules = load_rules()
    by_signal = {}
    for r in rules:
        if r.scope == "cluster":
            by_signal.setdefault(r.signal, r)
    members = pl.DataFrame({"account_id": KIT, "cluster_id": f"{KIT_PREFIX}x"})
    accounts = pl.DataFrame({"account_id": KIT, "anomaly_score": 0.8, "requests": 20})
    clusters = pl.DataFrame({"cluster_id": [f"{KIT_PREFIX}x"], "anomaly_score": [0.8]})
    empty_hits = pl.DataFrame(schema={"entity_id": pl.String, "rule_id": pl.String})

    def drafts(signals):
        hits = pl.DataFrame({"entity_id": f"{KIT_PREFIX}x", "rule_id": [by_signal[s].id for s in signals]})
        return assemble_campaigns(accounts, members, clusters, empty_hits, hits, rules)

    assert drafts(["template", "cot"]) == []  # a graph cluster would need only these two
    found = drafts(["template", "cot", "infrastructure"])
    assert len(found) == 1 and set(found[0].members) == set(KIT)


def test_pair_budget_admits_rarest_values_first(con):
    from detector.campaigns.kits import KitParams

    # each kit value is held by 6 candidates (15 pairs): a budget of 14 admits none of them
    assert kit_groups(con, KIT + CROWD + PAIR, KitParams(max_pairs=14)).is_empty()
    assert not kit_groups(con, KIT + CROWD + PAIR, KitParams(max_pairs=15 * 7)).is_empty()


def test_ordinary_accounts_are_not_candidates(con):
    accounts = pl.DataFrame({"account_id": KIT + CROWD, "anomaly_score": 0.2})
    frames = {
        "accounts": accounts,
        "membership": pl.DataFrame({"account_id": KIT + CROWD, "cluster_id": KIT + CROWD}),
        "clusters": pl.DataFrame(schema={"cluster_id": pl.String, "members": pl.Int64}),
        "cluster_hits": pl.DataFrame(schema={"entity_id": pl.String, "rule_id": pl.String}),
    }
    assert add_kit_groups(con, frames, load_rules()) == {"kit_groups": 0, "kit_accounts": 0}
