"""The evidence each campaign carries: feature values, indicators, capability mix, samples.

Indicators and volumes come from set-based queries over the member accounts' requests, all
campaigns at once; feature values come from the frames the rules read.
"""

from __future__ import annotations

import decimal
import json
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from detector.campaigns.affiliates import ANCHORS_FRAME, CARRIED_REQUESTS, FEATURE, LINKS_FRAME
from detector.campaigns.assemble import CampaignDraft
from detector.campaigns.params import CampaignParams
from detector.campaigns.profile import table_exists
from detector.rules.schema import DetectionRule

MEMBERS_VIEW = "campaign_members_v"
POINTERS_VIEW = "campaign_sample_pointers_v"

# The sample prompts of the last scan, by request: a request's prompt never changes, and most
# campaigns pick the same samples scan after scan, so only new picks cost a point lookup.
SAMPLE_CACHE_DDL = """
CREATE TABLE IF NOT EXISTS campaign_sample_cache (
    request_id   VARCHAR NOT NULL,
    "timestamp"  TIMESTAMPTZ NOT NULL,
    chars        INTEGER NOT NULL,   -- the excerpt length it was fetched with
    prompt       VARCHAR,
    model        VARCHAR
)
"""


@dataclass(frozen=True)
class CampaignEvidence:
    """What the store says about one campaign's accounts."""

    request_count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    indicators: dict[str, list[Any]] = field(default_factory=dict)
    capability_mix: dict[str, float] = field(default_factory=dict)
    sample_prompts: list[str] = field(default_factory=list)


def _round(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    return round(float(value), 4) if isinstance(value, numbers.Real | decimal.Decimal) else value


def explain(
    draft: CampaignDraft,
    accounts: pl.DataFrame,
    cluster_rows: pl.DataFrame,
    rules: Sequence[DetectionRule],
) -> dict[str, Any]:
    """Named feature values behind the fired rules: the cluster's aggregate when it has one,
    else the median over the members."""
    fired = [r for r in rules if r.id in draft.rules]
    names = sorted({f for r in fired for f in r.features()})
    values: dict[str, Any] = {}
    cluster_row: dict[str, Any] = {}
    if draft.unit.startswith("cluster:") and "cluster_id" in cluster_rows.columns:
        match = cluster_rows.filter(pl.col("cluster_id") == draft.unit.removeprefix("cluster:"))
        cluster_row = match.row(0, named=True) if match.height else {}
    members = accounts.filter(pl.col("account_id").is_in(list(draft.members)))
    for name in names:
        if cluster_row.get(name) is not None:
            values[name] = _round(cluster_row[name])
        elif name in members.columns and members.height:
            median = members.get_column(name).cast(pl.Float64).median()
            if median is not None:
                values[name] = _round(median)
    return {
        "families": list(draft.families),
        "accounts": len(draft.members),
        "anomaly_score": draft.anomaly_score,
        **values,
    }


def _top(
    con: duckdb.DuckDBPyConnection, sql: str, limit: int
) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = {}
    for campaign_id, value in con.execute(sql, [limit]).fetchall():
        result.setdefault(str(campaign_id), []).append(value)
    return result


def gather_evidence(
    con: duckdb.DuckDBPyConnection,
    drafts: Sequence[CampaignDraft],
    *,
    until: datetime | None = None,
    params: CampaignParams | None = None,
) -> dict[str, CampaignEvidence]:
    """Evidence for every draft, keyed by campaign id, from `requests`, `accounts` and
    `request_features` (when the features stage has run)."""
    if not drafts:
        return {}
    members = pl.DataFrame(
        {
            "campaign_id": [d.campaign_id for d in drafts for _ in d.members],
            "account_id": [m for d in drafts for m in d.members],
        },
        schema={"campaign_id": pl.String, "account_id": pl.String},
    )
    con.register(MEMBERS_VIEW, members.to_arrow())
    try:
        return _gather(con, drafts, until, params or CampaignParams())
    finally:
        con.unregister(MEMBERS_VIEW)
        con.execute("DROP TABLE IF EXISTS campaign_requests_tmp")
        con.execute("DROP TABLE IF EXISTS campaign_features_tmp")


def _until_clause(alias: str, until: datetime | None) -> str:
    """`WHERE <alias>."timestamp" <= ?` (one parameter) with a bound, nothing without one;
    `alias` is a code constant."""
    return f'WHERE {alias}."timestamp" <= ?' if until is not None else ""


def _gather(
    con: duckdb.DuckDBPyConnection,
    drafts: Sequence[CampaignDraft],
    until: datetime | None,
    params: CampaignParams,
) -> dict[str, CampaignEvidence]:
    featurized = table_exists(con, "request_features")
    # A join reads every column it lists for every request of the store before it keeps the
    # members' rows: request ids (long strings) only when samples are picked from here, and
    # the timestamps for a time bound only when there is one.
    request_ids = "" if featurized else "r.request_id, "
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE campaign_requests_tmp AS
        SELECT m.campaign_id, r.account_id, {request_ids}r."timestamp", r.client_ip,
               r.ip_prefix, r.asn
        FROM requests r JOIN {MEMBERS_VIEW} m ON m.account_id = r.account_id
        {_until_clause("r", until)}
        """,
        [until] if until is not None else [],
    )
    stats = {
        str(cid): (int(n), first, last)
        for cid, n, first, last in con.execute(
            'SELECT campaign_id, count(*), min("timestamp"), max("timestamp")'
            " FROM campaign_requests_tmp GROUP BY campaign_id"
        ).fetchall()
    }
    limit = params.max_indicators

    def ranked(column: str, source: str) -> str:
        # Values shared by most member accounts first, then by request count.
        return f"""
            SELECT campaign_id, {column} FROM (
                SELECT campaign_id, {column}, count(DISTINCT account_id) AS holders, count(*) AS n
                FROM {source} WHERE {column} IS NOT NULL
                GROUP BY campaign_id, {column}
            )
            QUALIFY row_number() OVER (
                PARTITION BY campaign_id ORDER BY holders DESC, n DESC, {column}
            ) <= ?
            ORDER BY campaign_id, holders DESC, n DESC, {column}
        """

    indicators: dict[str, dict[str, list[Any]]] = {
        "ips": _top(con, ranked("client_ip", "campaign_requests_tmp"), limit),
        "prefixes": _top(con, ranked("ip_prefix", "campaign_requests_tmp"), limit),
        "asns": _top(con, ranked("asn", "campaign_requests_tmp"), limit),
    }
    if table_exists(con, "accounts"):
        indicators["payment_fingerprints"] = _top(
            con,
            ranked(
                "payment_fingerprint",
                f"(SELECT m.campaign_id, a.account_id, a.payment_fingerprint FROM accounts a"
                f" JOIN {MEMBERS_VIEW} m ON m.account_id = a.account_id)",
            ),
            limit,
        )
    capability: dict[str, dict[str, float]] = {}
    samples: dict[str, list[str]] = {}
    if featurized:
        # The members' featurized requests, by account (request_features carries it): a join
        # on request_id with the requests above would read every request id of the store.
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE campaign_features_tmp AS
            SELECT m.campaign_id, f.account_id, f.request_id, f."timestamp", f.template_fp,
                   f.capability
            FROM request_features f JOIN {MEMBERS_VIEW} m ON m.account_id = f.account_id
            {_until_clause("f", until)}
            """,
            [until] if until is not None else [],
        )
        features_source = (
            "(SELECT campaign_id, account_id, request_id, template_fp FROM campaign_features_tmp)"
        )
        indicators["template_fingerprints"] = _top(con, ranked("template_fp", features_source), limit)
        for cid, label, share in con.execute(
            """
            SELECT campaign_id, coalesce(capability, 'unknown'),
                   count(*) / sum(count(*)) OVER (PARTITION BY campaign_id)
            FROM campaign_features_tmp
            GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2
            """
        ).fetchall():
            capability.setdefault(str(cid), {})[str(label)] = round(float(share), 4)
        sample_sql = f"""
            WITH top AS ({ranked("template_fp", features_source)}),
            picked AS (
                SELECT c.campaign_id, t.template_fp,
                       min_by(c.request_id, hash(c.request_id)) AS request_id,
                       min_by(c."timestamp", hash(c.request_id)) AS ts
                FROM campaign_features_tmp c
                JOIN top t ON t.campaign_id = c.campaign_id AND t.template_fp = c.template_fp
                GROUP BY 1, 2
            )
            SELECT campaign_id, request_id, ts FROM picked ORDER BY campaign_id, template_fp
        """
        pointers = con.execute(sample_sql, [params.max_samples]).fetchall()
        texts = _sample_prompts(con, [(rid, ts) for _, rid, ts in pointers], chars=params.sample_chars + 1)
        rows = [(cid, texts[rid][0]) for cid, rid, _ in pointers if rid in texts]
    else:
        pointers = con.execute(
            """
            SELECT campaign_id, request_id, "timestamp" FROM campaign_requests_tmp
            QUALIFY row_number() OVER (PARTITION BY campaign_id ORDER BY hash(request_id)) <= ?
            """,
            [4 * params.max_samples],
        ).fetchall()
        texts = _sample_prompts(con, [(rid, ts) for _, rid, ts in pointers], chars=params.sample_chars + 1)
        rows = sorted((cid, texts[rid][0]) for cid, rid, _ in pointers if rid in texts)
    for cid, prompt in rows:
        text = str(prompt)
        bucket = samples.setdefault(str(cid), [])
        if len(bucket) < params.max_samples and text not in bucket:
            bucket.append(text if len(text) <= params.sample_chars else text[: params.sample_chars] + "…")
    result: dict[str, CampaignEvidence] = {}
    for draft in drafts:
        cid = draft.campaign_id
        n, first, last = stats.get(cid, (0, None, None))
        result[cid] = CampaignEvidence(
            request_count=n,
            first_seen=first,
            last_seen=last,
            indicators={kind: values.get(cid, []) for kind, values in indicators.items()},
            capability_mix=capability.get(cid, {}),
            sample_prompts=samples.get(cid, []),
        )
    return result


def _sample_prompts(
    con: duckdb.DuckDBPyConnection, pointers: list[tuple[str, datetime]], *, chars: int
) -> dict[str, tuple[str, str]]:
    """`fetch_prompts` for the sample pointers, through `campaign_sample_cache`: cached
    excerpts are reused, the others fetched by point lookups (a join with `requests` would read
    every prompt in the store), and the cache is left holding exactly this scan's samples."""
    from detector.review.prompts import fetch_prompts  # keeps the review package off import

    con.execute(SAMPLE_CACHE_DDL)
    frame = pl.DataFrame(
        {"request_id": [p[0] for p in pointers], "timestamp": [p[1] for p in pointers]},
        schema={"request_id": pl.String, "timestamp": pl.Datetime("us", "UTC")},
    )
    con.register(POINTERS_VIEW, frame.to_arrow())
    try:
        cached = con.execute(
            f"""
            SELECT c.request_id, any_value(c.prompt), any_value(c.model)
            FROM campaign_sample_cache c
            SEMI JOIN {POINTERS_VIEW} p ON p.request_id = c.request_id AND p."timestamp" = c."timestamp"
            WHERE c.chars = ?
            GROUP BY c.request_id
            """,
            [chars],
        ).fetchall()
    finally:
        con.unregister(POINTERS_VIEW)
    found = {str(rid): (str(prompt), str(model)) for rid, prompt, model in cached}
    found.update(fetch_prompts(con, [p for p in pointers if p[0] not in found], chars=chars, threads=2))
    stamps = dict(pointers)
    ids = list(found)
    fresh = pl.DataFrame(
        {
            "request_id": ids,
            "timestamp": [stamps[rid] for rid in ids],
            "chars": [chars] * len(ids),
            "prompt": [found[rid][0] for rid in ids],
            "model": [found[rid][1] for rid in ids],
        },
        schema={"request_id": pl.String, "timestamp": pl.Datetime("us", "UTC"), "chars": pl.Int32,
                "prompt": pl.String, "model": pl.String},
    )
    con.execute("DELETE FROM campaign_sample_cache")
    con.register(POINTERS_VIEW, fresh.to_arrow())
    try:
        con.execute(f"INSERT INTO campaign_sample_cache SELECT * FROM {POINTERS_VIEW}")
    finally:
        con.unregister(POINTERS_VIEW)
    return found


def _linked_campaign(
    anchor: str, by_unit: dict[str, str], anchor_members: dict[str, set[str]],
    drafts: Sequence[CampaignDraft],
) -> str | None:
    """The campaign decided on `anchor`'s unit; failing that (its members were regrouped), the
    one holding most of the anchor's members; None when no campaign holds any."""
    if f"cluster:{anchor}" in by_unit:
        return by_unit[f"cluster:{anchor}"]
    members = anchor_members.get(anchor, set())
    overlap = [(len(members.intersection(d.members)), d.campaign_id) for d in drafts]
    best = max(overlap, default=(0, ""), key=lambda o: (o[0], o[1]))
    return best[1] if best[0] > 0 else None


def with_campaign_links(
    drafts: Sequence[CampaignDraft], frames: dict[str, pl.DataFrame], params: CampaignParams | None = None
) -> list[CampaignDraft]:
    """Drafts decided with a campaign-content link rule, with the signal `campaign_link`: the
    campaign whose exclusive content the unit carries (`campaign_id`), the share and number
    of the unit's requests on it, the content kind, and for a cluster unit the share of each
    member that carries the same campaign's content (`accounts`)."""
    params = params or CampaignParams()
    links = frames.get(LINKS_FRAME)
    if links is None or links.is_empty():
        return list(drafts)
    anchors = frames.get(ANCHORS_FRAME, pl.DataFrame(schema={"account_id": pl.String, "anchor": pl.String}))
    anchor_members: dict[str, set[str]] = {}
    for account, anchor in anchors.select("account_id", "anchor").iter_rows():
        anchor_members.setdefault(str(anchor), set()).add(str(account))
    by_unit = {d.unit: d.campaign_id for d in drafts}
    strongest = {
        (str(row["scope"]), str(row["entity_id"])): row for row in links.iter_rows(named=True)
    }
    result = []
    for draft in drafts:
        scope, _, entity = draft.unit.partition(":")
        row = strongest.get((scope, entity))
        if row is None or params.link_tag not in draft.tags:
            result.append(draft)
            continue
        link: dict[str, Any] = {
            "campaign_id": _linked_campaign(str(row["anchor"]), by_unit, anchor_members, drafts),
            FEATURE: _round(row[FEATURE]),
            CARRIED_REQUESTS: int(row[CARRIED_REQUESTS]),
            "kind": row["kind"],
        }
        if scope == "cluster":
            link["accounts"] = {
                member: _round(strongest[("account", member)][FEATURE])
                for member in draft.members
                if ("account", member) in strongest
                and strongest[("account", member)]["anchor"] == row["anchor"]
            }
        result.append(with_signals(draft, {"campaign_link": link}))
    return result


def with_signals(draft: CampaignDraft, signals: dict[str, Any]) -> CampaignDraft:
    """The draft with `signals` merged over the ones it already carries."""
    return replace(draft, signals={**draft.signals, **signals})


def to_json(value: Any) -> str:
    """JSON for the store's JSON columns: stable key order, datetimes as RFC 3339."""
    return json.dumps(value, sort_keys=True, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))
