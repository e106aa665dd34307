"""Accounts outside a campaign that carry its exclusive prompts are linked to it; content the
campaign shares with many outsiders links nobody; a linked unit needs two families, not three."""

import duckdb
import polars as pl
import pytest
from attribute_rows import add_attribute_rows

from detector.campaigns.affiliates import (
    AffiliateParams,
    add_affiliates,
    anchor_units,
    carried_content,
)
from detector.campaigns.assemble import assemble_campaigns
from detector.campaigns.kits import KIT_PREFIX
from detector.campaigns.params import CampaignParams
from detector.rules import load_rules

HYDRA = [f"h{i:02d}" for i in range(10)]
FRONT = "front"            # a reseller: its customers' diverse traffic plus the hydra's kit
ROUTER = "router"          # a legitimate router: diverse traffic only
FAN = [f"fan{i}" for i in range(6)]  # users of the open agent the hydra also runs
RULES = load_rules()
BY_TITLE = {r.title: r for r in RULES}


def _first(scope, signal):
    return next(r for r in RULES if r.scope == scope and r.signal == signal and "campaign_link" not in str(r.tags))


@pytest.fixture
def con():
    con = duckdb.connect()
    rows = []
    for a in HYDRA:
        rows += [(a, "system_fp", "sys-hydra", 40), (a, "system_fp", "open-agent", 10),
                 (a, "template", "tpl-hydra", 50)]
    rows += [(FRONT, "system_fp", "sys-hydra", 300), (FRONT, "template", "mixed", 700),
             (FRONT, "template", "tpl-hydra", 20)]
    rows += [(ROUTER, "template", "mixed", 1000), (ROUTER, "system_fp", "popular", 400)]
    rows += [(a, "system_fp", "open-agent", 200) for a in FAN]  # 6 outside holders > allowance
    add_attribute_rows(con, rows)
    return con


def _frames(*, anchor_fires: bool = True):
    everyone = [*HYDRA, FRONT, ROUTER, *FAN]
    membership = pl.DataFrame({
        "account_id": everyone,
        "cluster_id": ["cl_hydra"] * len(HYDRA) + [f"cl_{a}" for a in everyone[len(HYDRA):]],
    })
    rule_ids = [_first("cluster", "infrastructure").id, _first("cluster", "template").id]
    return {
        "accounts": pl.DataFrame({
            "account_id": everyone,
            "requests": [50] * len(HYDRA) + [1000, 1400] + [200] * len(FAN),
            "anomaly_score": 0.6,
        }),
        "membership": membership,
        "clusters": pl.DataFrame({"cluster_id": ["cl_hydra"], "members": [len(HYDRA)],
                                  "org_member_share": [0.0]}),
        "cluster_hits": pl.DataFrame({
            "entity_id": ["cl_hydra"] * (2 if anchor_fires else 1),
            "rule_id": rule_ids[: 2 if anchor_fires else 1],
        }),
        "account_hits": pl.DataFrame(schema={"entity_id": pl.String, "rule_id": pl.String}),
    }


def test_only_coordinated_units_anchor():
    params = CampaignParams()
    frames = _frames()
    anchors = anchor_units(frames["membership"], frames["cluster_hits"], RULES, params)
    assert sorted(anchors.get_column("account_id")) == HYDRA
    weak = _frames(anchor_fires=False)  # one family only: not a campaign, links nobody
    assert anchor_units(weak["membership"], weak["cluster_hits"], RULES, params).is_empty()


def test_the_front_carries_the_hydra_kit_and_nobody_else_does(con):
    frames = _frames()
    anchors = anchor_units(frames["membership"], frames["cluster_hits"], RULES, CampaignParams())
    carried = carried_content(con, anchors)
    # open-agent is held by 10 members and 6 outsiders (> max(2, 0.1 * 10)): not the hydra's own
    assert set(carried.get_column("account_id")) == {FRONT}
    by_kind = dict(carried.select("kind", "carried").iter_rows())
    assert by_kind == {"system_fp": 300.0, "template": 20.0}
    # a laxer exclusivity lets the popular agent link its ordinary users
    lax = carried_content(con, anchors, AffiliateParams(outside_ratio=1.0))
    assert set(lax.get_column("account_id")) == {FRONT, *FAN}


def test_add_affiliates_sets_the_share_and_fires_the_link_rule(con):
    frames = _frames()
    stats = add_affiliates(con, frames, RULES)
    assert (stats["anchors"], stats["affiliated_accounts"]) == (1, 1)
    # this cluster frame has no organisation aggregates: the cluster link rule's guard cannot
    # hold, and the statistics say so (the link features themselves are present)
    cluster_link = next(r for r in RULES if r.scope == "cluster" and "distillguard.campaign_link" in r.tags)
    assert stats["link_rules_missing_features"] == {cluster_link.id: ["distinct_orgs", "org_diversity"]}
    share = dict(frames["accounts"].select("account_id", "campaign_kit_share").iter_rows())
    assert share[FRONT] == pytest.approx(300 / 1000)  # the larger of its two kinds
    assert share[ROUTER] == 0.0 and share[HYDRA[0]] == 0.0  # members are not their own carriers
    link = BY_TITLE["Account carrying a detected campaign's exclusive prompts"]
    hits = frames["account_hits"].filter(pl.col("rule_id") == link.id)
    assert hits.get_column("entity_id").to_list() == [FRONT]
    # the hydra's own cluster does not carry "another" campaign's content
    assert frames["clusters"].row(0, named=True)["campaign_kit_share"] == 0.0


def test_a_linked_lone_account_needs_two_families_not_three():
    link = BY_TITLE["Account carrying a detected campaign's exclusive prompts"]
    volume = _first("account", "volume")
    cot = _first("account", "cot")
    accounts = pl.DataFrame({"account_id": [FRONT, ROUTER], "anomaly_score": 0.9, "requests": 1000})
    membership = pl.DataFrame({"account_id": [FRONT, ROUTER], "cluster_id": ["c1", "c2"]})
    no_clusters = pl.DataFrame(schema={"cluster_id": pl.String, "anomaly_score": pl.Float64})
    no_hits = pl.DataFrame(schema={"entity_id": pl.String, "rule_id": pl.String})

    def decided(account_rules):
        hits = pl.DataFrame({"entity_id": [a for a, _ in account_rules], "rule_id": [r.id for _, r in account_rules]})
        return {d.members for d in assemble_campaigns(accounts, membership, no_clusters, hits, no_hits, RULES)}

    assert decided([(FRONT, link), (FRONT, volume)]) == {(FRONT,)}
    assert decided([(ROUTER, volume), (ROUTER, cot)]) == set()  # unlinked: three needed
    assert decided([(FRONT, link)]) == set()  # the link alone is one family


def test_a_member_of_an_undecided_kit_group_is_judged_alone():
    link = BY_TITLE["Account carrying a detected campaign's exclusive prompts"]
    volume = _first("account", "volume")
    kit = f"{KIT_PREFIX}loose"
    members = [FRONT, *FAN]
    accounts = pl.DataFrame({"account_id": members, "anomaly_score": 0.9, "requests": 1000})
    membership = pl.DataFrame({"account_id": members, "cluster_id": kit})
    clusters = pl.DataFrame({"cluster_id": [kit], "anomaly_score": [0.9]})
    account_hits = pl.DataFrame({"entity_id": [FRONT, FRONT], "rule_id": [link.id, volume.id]})
    weak_kit = pl.DataFrame({"entity_id": [kit], "rule_id": [_first("cluster", "template").id]})
    found = assemble_campaigns(accounts, membership, clusters, account_hits, weak_kit, RULES)
    assert [d.members for d in found] == [(FRONT,)]
    # when the kit group is itself a campaign, its member is not alerted twice
    strong_kit = pl.DataFrame({"entity_id": [kit] * 3, "rule_id": [
        _first("cluster", s).id for s in ("template", "cot", "infrastructure")]})
    found = assemble_campaigns(accounts, membership, clusters, account_hits, strong_kit, RULES)
    assert [set(d.members) for d in found] == [set(members)]
