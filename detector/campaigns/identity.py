"""Stable campaign and alert ids: a campaign keeps its id across re-scans as it grows."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """A unit about to be published: its key within this scan and its core members."""

    key: str
    members: frozenset[str]
    core: tuple[str, ...]  # earliest members by first activity, then id


def campaign_id_for(core: Sequence[str]) -> str:
    """A content hash of the campaign's earliest members."""
    digest = hashlib.sha256("\x1f".join(sorted(core)).encode("utf-8")).hexdigest()
    return f"cmp-{digest[:16]}"


def alert_id_for(campaign_id: str) -> str:
    """The alert of a campaign is derived from its id, so re-exports repeat it."""
    digest = hashlib.sha256(f"alert\x1f{campaign_id}".encode()).hexdigest()
    return f"alr-{digest[:16]}"


def assign_ids(
    candidates: Sequence[Candidate],
    existing: Mapping[str, frozenset[str]],
    *,
    match_jaccard: float = 0.5,
    reserved: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Map each candidate key to a campaign id, reusing existing ids by member overlap.

    Pairs are matched greedily by overlap (best Jaccard first); a pair matches when Jaccard
    reaches `match_jaccard` or the candidate holds a majority of the old campaign's members.
    Each existing id is reused at most once; unmatched candidates get a hash of their core
    that is not in `reserved` (ids of old campaigns kept for their verdicts).
    """
    owner: dict[str, list[str]] = {}
    for cid, members in existing.items():
        for account in members:
            owner.setdefault(account, []).append(cid)
    pairs: list[tuple[float, int, str, str]] = []
    for cand in candidates:
        overlaps: dict[str, int] = {}
        for account in cand.members:
            for cid in owner.get(account, ()):
                overlaps[cid] = overlaps.get(cid, 0) + 1
        for cid, shared in overlaps.items():
            old = existing[cid]
            jaccard = shared / len(cand.members | old)
            if jaccard >= match_jaccard or shared * 2 > len(old):
                pairs.append((jaccard, shared, cand.key, cid))
    pairs.sort(key=lambda p: (-p[0], -p[1], p[2], p[3]))
    result: dict[str, str] = {}
    used: set[str] = set()
    for _, _, key, cid in pairs:
        if key in result or cid in used:
            continue
        result[key] = cid
        used.add(cid)
    used |= reserved
    for cand in sorted(candidates, key=lambda c: c.key):
        if cand.key in result:
            continue
        cid = campaign_id_for(cand.core)
        n = 1
        while cid in used:
            n += 1
            cid = campaign_id_for((*cand.core, f"#{n}"))
        result[cand.key] = cid
        used.add(cid)
    return result
