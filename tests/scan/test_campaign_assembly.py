"""Campaign decisions: several independent families, never one; lone accounts need more."""

import polars as pl

from detector.campaigns import assemble_campaigns, evidence_strength, severity_for
from detector.rules import load_rules
from detector.scoring import Verdicts

RULES = load_rules()


def rule_of(scope, signal):
    return next(r for r in RULES if r.scope == scope and r.signal == signal)


def frames(cluster_signals, lone_signals):
    accounts = pl.DataFrame({
        "account_id": ["c1", "c2", "c3", "lone"],
        "requests": [100, 100, 100, 5000],
        "anomaly_score": [0.9, 0.9, 0.9, 0.95],
    })
    membership = pl.DataFrame({"account_id": ["c1", "c2", "c3", "lone"], "cluster_id": ["k", "k", "k", "solo"]})
    clusters = pl.DataFrame({"cluster_id": ["k", "solo"], "anomaly_score": [0.8, 0.5]})
    cluster_hits = pl.DataFrame(
        {"entity_id": ["k"] * len(cluster_signals), "rule_id": [rule_of("cluster", s).id for s in cluster_signals]},
        schema={"entity_id": pl.String, "rule_id": pl.String},
    )
    account_hits = pl.DataFrame(
        {"entity_id": ["lone"] * len(lone_signals), "rule_id": [rule_of("account", s).id for s in lone_signals]},
        schema={"entity_id": pl.String, "rule_id": pl.String},
    )
    return accounts, membership, clusters, account_hits, cluster_hits


def test_one_family_is_not_enough_for_a_cluster():
    drafts = assemble_campaigns(*frames(["cot"], []), RULES)
    assert drafts == []


def test_two_families_make_a_cluster_campaign():
    (draft,) = assemble_campaigns(*frames(["cot", "metadata"], []), RULES)
    assert draft.members == ("c1", "c2", "c3") and draft.families == ("cot", "metadata")
    assert draft.alerted and draft.status == "new" and "AML.T0024.002" in draft.tags
    assert draft.unit == "cluster:k"


def test_lone_account_needs_three_families():
    assert assemble_campaigns(*frames([], ["cot", "capability"]), RULES) == []
    (draft,) = assemble_campaigns(*frames([], ["cot", "capability", "volume"]), RULES)
    assert draft.members == ("lone",) and draft.unit == "account:lone"


def test_more_and_stronger_evidence_scores_higher():
    two = assemble_campaigns(*frames(["cot", "metadata"], []), RULES)[0]
    four = assemble_campaigns(*frames(["cot", "capability", "metadata", "infrastructure"], []), RULES)[0]
    assert four.score > two.score
    weights = {"low": 0.3, "medium": 0.5, "high": 0.7, "critical": 0.85}
    low = next(r for r in RULES if r.level == "low")
    high = next(r for r in RULES if r.level == "high")
    assert evidence_strength([low], weights) < evidence_strength([high], weights)
    assert evidence_strength([low, high], weights) > evidence_strength([high], weights)
    assert severity_for([low], 1, 0.3) == "low" and severity_for([high], 4, 0.3) == "critical"


def test_dismissed_campaign_is_kept_but_not_alerted():
    (draft,) = assemble_campaigns(*frames(["cot", "metadata"], []), RULES)
    verdicts = Verdicts(dismissed_campaigns=frozenset({draft.campaign_id}))
    (again,) = assemble_campaigns(*frames(["cot", "metadata"], []), RULES, verdicts=verdicts,
                                  existing={draft.campaign_id: frozenset(draft.members)})
    assert again.campaign_id == draft.campaign_id
    assert (again.alerted, again.status) == (False, "dismissed")


def test_allowlisted_org_members_are_removed():
    verdicts = Verdicts(allowlisted_orgs=frozenset({"org-a"}))
    (draft,) = assemble_campaigns(*frames(["cot", "metadata"], []), RULES, verdicts=verdicts,
                                  account_orgs={"c1": "org-a"})
    assert draft.members == ("c2", "c3")


def test_a_cluster_without_coordination_is_judged_like_one_account():
    # Behaviour alone (an evaluation team pivoting to a new model on high-value tasks) is not
    # coordination: two behavioural families do not make a cluster campaign, three do.
    assert assemble_campaigns(*frames(["capability", "volume"], []), RULES) == []
    (draft,) = assemble_campaigns(*frames(["capability", "volume", "cot"], []), RULES)
    assert draft.unit == "cluster:k"
    (coordinated,) = assemble_campaigns(*frames(["capability", "infrastructure"], []), RULES)
    assert coordinated.families == ("capability", "infrastructure")
