"""Stable campaign ids: re-scans keep the id while a campaign grows; ids are content hashes."""

from detector.campaigns import Candidate, alert_id_for, assign_ids, campaign_id_for


def cand(key, members, core=None):
    members = frozenset(members)
    return Candidate(key=key, members=members, core=tuple(core or sorted(members)[:3]))


def test_new_campaign_id_is_a_hash_of_its_core_members():
    a = assign_ids([cand("k", ["a1", "a2", "a3", "a4"])], {})
    assert a == {"k": campaign_id_for(("a1", "a2", "a3"))}
    assert campaign_id_for(("a2", "a1")) == campaign_id_for(("a1", "a2"))
    assert campaign_id_for(("a1", "a2")) != campaign_id_for(("a1", "a3"))
    assert alert_id_for("cmp-x") == alert_id_for("cmp-x") != alert_id_for("cmp-y")


def test_growing_campaign_keeps_its_id_even_below_jaccard():
    old = {"cmp-old": frozenset({"a1", "a2", "a3", "a4"})}
    grown = cand("k", [f"a{i}" for i in range(1, 21)])  # Jaccard 4/20, but all old members
    assert assign_ids([grown], old) == {"k": "cmp-old"}


def test_partial_overlap_keeps_id_and_unrelated_cluster_gets_a_new_one():
    old = {"cmp-old": frozenset({"a1", "a2", "a3", "a4", "a5", "a6"})}
    shifted = cand("k1", ["a2", "a3", "a4", "a5", "a6", "a7", "a8"])  # J = 5/8
    unrelated = cand("k2", ["b1", "b2", "a1"])  # one old member only
    ids = assign_ids([shifted, unrelated], old)
    assert ids["k1"] == "cmp-old"
    assert ids["k2"] not in ("cmp-old",) and ids["k2"].startswith("cmp-")


def test_a_split_campaign_gives_its_id_to_the_larger_part_only():
    old = {"cmp-old": frozenset(f"a{i}" for i in range(10))}
    big = cand("big", [f"a{i}" for i in range(7)])
    small = cand("small", [f"a{i}" for i in range(7, 10)])
    ids = assign_ids([big, small], old)
    assert ids["big"] == "cmp-old"
    assert ids["small"] != "cmp-old"


def test_reserved_ids_are_never_handed_to_a_new_campaign():
    c = cand("k", ["x1", "x2"])
    natural = campaign_id_for(c.core)
    ids = assign_ids([c], {}, reserved=frozenset({natural}))
    assert ids["k"] != natural
