"""Policies over the whole rule corpus, reported together (elastic/detection-rules style)."""

import re
import uuid

from detector.rules import ATLAS_TAG, LEVEL_RANK, load_rule_file
from detector.rules.loader import parse_rule
from detector.rules.schema import LEVELS, SIGNALS, STATUSES
from detector.rules_yaml import LocatedDocument


def test_corpus_policies(corpus, corpus_dir):
    problems: list[str] = []
    files = sorted(corpus_dir.glob("*.y*ml"))
    if len(files) != len(corpus):
        problems.append(f"{len(files)} files but {len(corpus)} rules")
    ids = [r.id for r in corpus]
    if len(set(ids)) != len(ids):
        problems.append("duplicate rule ids")
    titles = [r.title.lower() for r in corpus]
    if len(set(titles)) != len(titles):
        problems.append("duplicate titles")
    for rule in corpus:
        where = rule.source
        if str(uuid.UUID(rule.id)) != rule.id:
            problems.append(f"{where}: id not in canonical lower-case UUID form")
        if ATLAS_TAG not in rule.tags:
            problems.append(f"{where}: lacks tag {ATLAS_TAG}")
        if rule.level not in LEVELS or rule.status not in STATUSES:
            problems.append(f"{where}: bad level or status")
        if len(rule.description) < 80:
            problems.append(f"{where}: description too short to explain the rule")
        if not rule.falsepositives:
            problems.append(f"{where}: no falsepositives")
        if not rule.fixtures.positive or not rule.fixtures.negative:
            problems.append(f"{where}: needs positive and negative fixtures")
        stem = rule.source.rsplit("/", 1)[-1]
        if not re.fullmatch(rf"{rule.scope}_[a-z0-9_]+\.yaml", stem):
            problems.append(f"{where}: file name should start with the scope `{rule.scope}_`")
        if not any(t.startswith("distillguard.") for t in rule.tags):
            problems.append(f"{where}: no distillguard.* tag naming what it detects")
    assert not problems, "\n".join(problems)


def test_every_evidence_family_has_a_rule(corpus):
    # Campaigns need several independent families; each must be reachable by some rule.
    assert {r.signal for r in corpus} == set(SIGNALS)
    assert {r.scope for r in corpus} == {"account", "cluster"}


def test_sharing_evidence_is_only_judged_on_clusters(corpus):
    # One account on cloud IPs is a batch job or a router; sharing needs several accounts.
    assert all("hosting_share" not in r.features() for r in corpus if r.scope == "account")
    assert all(r.scope == "cluster" for r in corpus if r.signal == "metadata")


def test_coordination_rules_exclude_single_organisations(corpus):
    # Shared cards, templates, networks or timing inside one organisation are its own business.
    guarded = [r for r in corpus if (r.scope == "cluster" and r.signal in ("metadata", "template"))
               or r.id in {"f28443c2-01d9-4457-a6b9-5e2eda421e08", "21d05cee-fa2c-46fe-af0a-a8e28be972be"}]
    assert guarded
    for rule in guarded:
        assert {"org_member_share", "org_diversity", "distinct_orgs"} <= rule.features(), rule.source


def test_no_single_low_rule_reaches_high_severity(corpus):
    assert all(LEVEL_RANK[r.level] <= LEVEL_RANK["high"] for r in corpus)


def test_rules_round_trip_through_plain_data(corpus_dir):
    for path in sorted(corpus_dir.glob("*.yaml")):
        rule, errors = load_rule_file(path)
        assert rule is not None and not errors
        again, errors = parse_rule(LocatedDocument(source=rule.source, value=rule.to_dict()))
        assert not errors
        assert again == rule
