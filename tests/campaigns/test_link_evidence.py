"""A front linked by campaign content names the campaign it carries content of: its campaign
id, the share and number of its requests on that campaign's exclusive content, and the kind."""

import json

import duckdb
import polars as pl
import pytest
from attribute_rows import add_attribute_rows

from detector.campaigns.affiliates import ANCHORS_FRAME, LINKS_FRAME, add_affiliates
from detector.campaigns.assemble import CampaignDraft, assemble_campaigns
from detector.campaigns.evidence import to_json, with_campaign_links
from detector.campaigns.params import CampaignParams
from detector.rules import load_rules

RULES = load_rules()
LINK_TAG = CampaignParams().link_tag
HYDRA = [f"h{i:02d}" for i in range(8)]
FRONTS = ["front_a", "front_b"]     # a reseller running two accounts
ROUTER = "router"                   # diverse traffic, none of the hydra's kit


def _rule(scope: str, signal: str, *, link: bool = False):
    return next(
        r for r in RULES
        if r.scope == scope and r.signal == signal and (LINK_TAG in r.tags) == link
    )


@pytest.fixture
def con():
    con = duckdb.connect()
    rows = []
    for a in HYDRA:
        rows += [(a, "system_fp", "sys-hydra", 60), (a, "template", "tpl-hydra", 60)]
    rows += [("front_a", "system_fp", "sys-hydra", 250), ("front_a", "template", "mixed", 750)]
    rows += [("front_b", "template", "tpl-hydra", 150), ("front_b", "template", "mixed", 850)]
    rows += [(ROUTER, "template", "mixed", 1000)]
    add_attribute_rows(con, rows)
    return con


def _frames(*, fronts_clustered: bool) -> dict[str, pl.DataFrame]:
    everyone = [*HYDRA, *FRONTS, ROUTER]
    front_clusters = ["cl_front"] * 2 if fronts_clustered else ["cl_a", "cl_b"]
    clusters = ["cl_hydra"] * len(HYDRA) + front_clusters + ["cl_router"]
    cluster_ids = ["cl_hydra", "cl_front"] if fronts_clustered else ["cl_hydra"]
    return {
        "accounts": pl.DataFrame({
            "account_id": everyone,
            "requests": [120] * len(HYDRA) + [1000, 1000, 1000],
            "anomaly_score": 0.8,
        }),
        "membership": pl.DataFrame({"account_id": everyone, "cluster_id": clusters}),
        "clusters": pl.DataFrame({
            "cluster_id": cluster_ids, "members": [len(HYDRA), 2][: len(cluster_ids)],
            "org_member_share": 0.0, "anomaly_score": 0.8,
        }),
        "cluster_hits": pl.DataFrame({
            "entity_id": ["cl_hydra", "cl_hydra"],
            "rule_id": [_rule("cluster", "infrastructure").id, _rule("cluster", "template").id],
        }),
        "account_hits": pl.DataFrame(schema={"entity_id": pl.String, "rule_id": pl.String}),
    }


def _decide(frames: dict[str, pl.DataFrame], extra_hits: pl.DataFrame, scope: str) -> list[CampaignDraft]:
    account_hits, cluster_hits = frames["account_hits"], frames["cluster_hits"]
    if scope == "account":
        account_hits = pl.concat([account_hits, extra_hits])
    else:
        cluster_hits = pl.concat([cluster_hits, extra_hits])
    drafts = assemble_campaigns(
        frames["accounts"], frames["membership"], frames["clusters"], account_hits, cluster_hits, RULES,
    )
    return with_campaign_links(drafts, frames)


def test_a_linked_lone_front_names_the_campaign_it_carries(con):
    frames = _frames(fronts_clustered=False)
    add_affiliates(con, frames, RULES)
    links = frames[LINKS_FRAME]
    # front_a: 250 of 1000 requests on the hydra's system prompt; front_b: 150 on its template
    assert dict(links.filter(pl.col("scope") == "account").select("entity_id", "kind").iter_rows()) == {
        "front_a": "system_fp", "front_b": "template",
    }
    volume = pl.DataFrame({"entity_id": ["front_a"], "rule_id": [_rule("account", "volume").id]})
    drafts = _decide(frames, volume, "account")
    hydra = next(d for d in drafts if d.unit == "cluster:cl_hydra")
    front = next(d for d in drafts if d.members == ("front_a",))
    assert front.signals["campaign_link"] == {
        "campaign_id": hydra.campaign_id,
        "campaign_kit_share": 0.25,
        "campaign_kit_requests": 250,
        "kind": "system_fp",
    }
    assert "campaign_link" not in hydra.signals  # the anchor carries no other campaign's content
    # the signal survives the store's JSON column as plain data
    assert json.loads(to_json(front.signals))["campaign_link"]["campaign_id"] == hydra.campaign_id


def test_a_linked_cluster_names_the_campaign_and_each_carrying_member(con):
    frames = _frames(fronts_clustered=True)
    add_affiliates(con, frames, RULES)
    link_rule = _rule("cluster", "template", link=True)
    assert (frames["cluster_hits"].filter(pl.col("entity_id") == "cl_front")
            .get_column("rule_id").to_list() == [link_rule.id])
    volume = pl.DataFrame({"entity_id": ["cl_front"], "rule_id": [_rule("cluster", "volume").id]})
    drafts = _decide(frames, volume, "cluster")
    hydra = next(d for d in drafts if d.unit == "cluster:cl_hydra")
    front = next(d for d in drafts if d.unit == "cluster:cl_front")
    link = front.signals["campaign_link"]
    assert link["campaign_id"] == hydra.campaign_id
    # the cluster's strongest kind over its members together: 250 system-prompt requests of 2000
    assert (link["kind"], link["campaign_kit_share"], link["campaign_kit_requests"]) == ("system_fp", 0.125, 250)
    assert link["accounts"] == {"front_a": 0.25, "front_b": 0.15}


def _draft(cid: str, unit: str, members: tuple[str, ...], tags: tuple[str, ...] = ()) -> CampaignDraft:
    return CampaignDraft(
        campaign_id=cid, alert_id=f"alr-{cid}", unit=unit, members=members, families=("template",),
        rules=(), score=0.7, anomaly_score=0.7, severity="high", alerted=True, status="new", tags=tags,
    )


def _link_frames(anchor_members: list[str]) -> dict[str, pl.DataFrame]:
    return {
        LINKS_FRAME: pl.DataFrame({
            "scope": ["account"], "entity_id": ["front_a"], "anchor": ["cl_hydra"], "kind": ["template"],
            "campaign_kit_share": [0.3], "campaign_kit_requests": [300.0],
        }),
        ANCHORS_FRAME: pl.DataFrame({"account_id": anchor_members, "anchor": "cl_hydra"}),
    }


def test_the_linked_campaign_is_found_by_members_when_its_unit_changed():
    frames = _link_frames(HYDRA)
    front = _draft("cmp-front", "account:front_a", ("front_a",), (LINK_TAG,))
    elsewhere = _draft("cmp-other", "cluster:cl_other", ("x1", "x2"))
    regrouped = _draft("cmp-hydra", "cluster:kit_abc", tuple(HYDRA[:5]))
    found = with_campaign_links([front, elsewhere, regrouped], frames)
    assert found[0].signals["campaign_link"]["campaign_id"] == "cmp-hydra"
    # no campaign holds the anchor's accounts (all allowlisted, say): the link names none
    alone = with_campaign_links([front, elsewhere], frames)
    assert alone[0].signals["campaign_link"]["campaign_id"] is None


def test_only_units_decided_with_a_link_rule_get_the_signal():
    frames = _link_frames(HYDRA)
    untagged = _draft("cmp-front", "account:front_a", ("front_a",), ("distillguard.signal.volume",))
    hydra = _draft("cmp-hydra", "cluster:cl_hydra", tuple(HYDRA))
    assert all("campaign_link" not in d.signals for d in with_campaign_links([untagged, hydra], frames))
    # without the links frame (a scan that never reached the link step) nothing changes
    tagged = _draft("cmp-front", "account:front_a", ("front_a",), (LINK_TAG,))
    assert with_campaign_links([tagged], {}) == [tagged]
