"""The rules stage reports as missing only the features no stage provides: rules reading what
the campaigns stage adds (kit-group and campaign-link features) are listed as evaluated there."""

from dataclasses import replace

import duckdb
import polars as pl

from detector.campaigns.affiliates import CAMPAIGN_STAGE_FEATURES, split_missing
from detector.rules import Predicate
from detector.scan_stages import ScanContext, ScanOptions, rules_stage


def _context(rules, *, account_columns, cluster_columns) -> ScanContext:
    def frame(id_column, columns):
        return pl.DataFrame({id_column: ["x"], **{c: [0.0] for c in sorted(columns)}})

    ctx = ScanContext(con=duckdb.connect(), options=ScanOptions(), rules=tuple(rules),
                      since=None, until=None, new_requests=0)
    ctx.frames["accounts"] = frame("account_id", account_columns)
    ctx.frames["clusters"] = frame("cluster_id", cluster_columns)
    return ctx


def _features(rules, scope):
    return set().union(*(r.features() for r in rules if r.scope == scope))


def test_the_corpus_misses_nothing_once_late_features_are_set_aside(corpus):
    late = set(CAMPAIGN_STAGE_FEATURES)
    ctx = _context(
        corpus,
        account_columns=_features(corpus, "account") - late,
        cluster_columns=_features(corpus, "cluster") - late,
    )
    stats = rules_stage(ctx)
    assert stats["rules_missing_features"] == {}
    readers = {r.id for r in corpus if not r.features().isdisjoint(late)}
    assert readers and set(stats["rules_evaluated_in_campaigns_stage"]) == readers
    link_rules = [r for r in corpus if "distillguard.campaign_link" in r.tags]
    assert len(link_rules) == 2
    assert all(stats["rules_evaluated_in_campaigns_stage"][r.id] == ["campaign_links"] for r in link_rules)


def test_a_genuinely_missing_feature_is_still_reported(corpus):
    link = next(r for r in corpus if r.scope == "account" and "distillguard.campaign_link" in r.tags)
    # the same link rule with a typo in one predicate, and a plain rule on an unknown feature
    typo = replace(link, id="typo", condition=replace(
        link.condition, parts=(*link.condition.parts, Predicate("campaign_kit_sahre", "gte", 0.1)),
    ))
    unknown = replace(link, id="unknown", condition=Predicate("no_such_feature", "gt", 0.0))
    ctx = _context([link, typo, unknown], account_columns={"requests"}, cluster_columns={"members"})
    stats = rules_stage(ctx)
    assert stats["rules_missing_features"] == {"typo": ["campaign_kit_sahre"], "unknown": ["no_such_feature"]}
    assert stats["rules_evaluated_in_campaigns_stage"] == {link.id: ["campaign_links"], "typo": ["campaign_links"]}


def test_split_missing_names_each_later_step():
    absent, later = split_missing({
        "kit": ["exclusive_content_share"],
        "both": ["campaign_kit_share", "exclusive_content_share", "velocity"],
    })
    assert absent == {"both": ["velocity"]}
    assert later == {"kit": ["kit_groups"], "both": ["campaign_links", "kit_groups"]}
