"""Which members of a suspicious cluster carry the campaign, and which only touch it.

A community detector may attach a benign account to an attack cluster through one shared
attribute (a widely used agent template, a cloud prefix). Such an account has no evidence of
its own for the campaign, so it is not alerted with it. A member is kept when either

- most of its traffic carries the cluster's *characteristic* values — prompt templates,
  system prompts, IPs or /24 prefixes used by at least two members and held mostly by members
  (a hydra's proxies and templates; a reseller mixing them into its customers' traffic), or
- it is tied to at least two other members by links of two independent families each
  (network, payment, sign-up, e-mail, synchrony, client software), or to one member that
  is itself kept by the two tests above (a straggler of a proxy-rotating cluster).

User agent and prompt content count as one family, *client software*: one agent framework
sets both, so they are not independent evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import polars as pl

from detector.campaigns.profile import query_frame, table_columns, table_exists
from detector.campaigns.value_sums import account_values_sql, totals_match_day_rows

UNIT_MEMBERS_VIEW = "campaign_unit_members_v"
SUPPORT_SCHEMA = pl.Schema([
    ("unit", pl.String()), ("account_id", pl.String()), ("affinity", pl.Float64()),
    ("strong_partners", pl.Int64()), ("partners", pl.List(pl.String())),
])
# Attribute kinds whose shared values tie an account's traffic to a cluster.
AFFINITY_KINDS: tuple[str, ...] = ("template", "system_fp", "ip", "prefix")
# Independent link families of `account_edges`; columns in one tuple are one family.
LINK_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("network",), ("payment",), ("signup",), ("email",), ("synchrony",), ("client", "content"),
)


@dataclass(frozen=True)
class MemberSupport:
    """Thresholds of member support (see the module docstring)."""

    min_affinity: float = 0.2
    link_evidence: float = 0.5  # a family counts on an edge from this evidence up
    min_link_families: int = 2
    min_strong_partners: int = 2


def characteristic_values_ctes(
    kinds: Sequence[str], members_view: str, unit: str, *, from_totals: bool = False
) -> str:
    """CTEs `a` (requests per account and attribute value), `holders` and `characteristic`:
    the values of each unit held by two or more of its members and by more members than
    non-members. `kinds`, `members_view` and `unit` are code constants, never user input;
    `from_totals` reads `a` from the running totals (`value_sums`)."""
    return f"""
        WITH a AS ({account_values_sql(kinds, from_totals=from_totals)}),
        holders AS (SELECT kind, value, count(*) AS h FROM a GROUP BY kind, value),
        inside AS (
            SELECT m.{unit}, a.kind, a.value, count(*) AS k
            FROM a JOIN {members_view} m USING (account_id)
            GROUP BY m.{unit}, a.kind, a.value
        ),
        characteristic AS (
            SELECT i.{unit}, i.kind, i.value FROM inside i JOIN holders h USING (kind, value)
            WHERE i.k >= 2 AND i.k * 2 > h.h
        )"""


def _affinity_sql(*, from_totals: bool) -> str:
    ctes = characteristic_values_ctes(AFFINITY_KINDS, UNIT_MEMBERS_VIEW, "unit", from_totals=from_totals)
    return ctes + f""",
        per_kind AS (
            SELECT m.unit, m.account_id, a.kind,
                   sum(a.n) FILTER (WHERE c.value IS NOT NULL) / sum(a.n) AS share
            FROM {UNIT_MEMBERS_VIEW} m
            JOIN a USING (account_id)
            LEFT JOIN characteristic c ON c.unit = m.unit AND c.kind = a.kind AND c.value = a.value
            GROUP BY m.unit, m.account_id, a.kind
        )
        SELECT unit, account_id, coalesce(max(share), 0.0) AS affinity
        FROM per_kind GROUP BY unit, account_id
    """


def _links_sql(columns: set[str]) -> str:
    families = [
        "greatest(" + ", ".join(f"e.{c}" for c in family if c in columns) + ")"
        for family in LINK_FAMILIES if any(c in columns for c in family)
    ]
    strong = " + ".join(f"CASE WHEN {f} >= $evidence THEN 1 ELSE 0 END" for f in families) or "0"
    return f"""
        WITH edges AS (
            SELECT account_a, account_b, {strong} AS families FROM account_edges e
        ),
        pairs AS (
            SELECT account_a AS x, account_b AS y, families FROM edges
            UNION ALL SELECT account_b AS x, account_a AS y, families FROM edges
        )
        SELECT mx.unit, mx.account_id, p.y AS partner
        FROM pairs p
        JOIN {UNIT_MEMBERS_VIEW} mx ON mx.account_id = p.x
        JOIN {UNIT_MEMBERS_VIEW} my ON my.account_id = p.y AND my.unit = mx.unit
        WHERE p.families >= $min_families
    """


def member_support(
    con: duckdb.DuckDBPyConnection,
    units: Sequence[tuple[str, Sequence[str]]],
    support: MemberSupport | None = None,
    *,
    from_totals: bool | None = None,
) -> pl.DataFrame:
    """(unit, account_id, affinity, strong_partners, partners) for every member of every unit given.

    Missing graph or feature tables give zeros, which the caller reads as "no support".
    `from_totals`: whether the running totals match the day rows (`value_sums`); None checks.
    """
    support = support or MemberSupport()
    members = pl.DataFrame(
        {"unit": [u for u, m in units for _ in m], "account_id": [a for _, m in units for a in m]},
        schema={"unit": pl.String, "account_id": pl.String},
    )
    if members.is_empty():
        return pl.DataFrame(schema=SUPPORT_SCHEMA)
    con.register(UNIT_MEMBERS_VIEW, members.to_arrow())
    try:
        result = members
        if table_exists(con, "account_day_attributes"):
            result = result.join(
                query_frame(con, _affinity_sql(
                    from_totals=totals_match_day_rows(con) if from_totals is None else from_totals
                )),
                on=["unit", "account_id"], how="left",
            )
        if table_exists(con, "account_edges"):
            links = query_frame(
                con,
                _links_sql(set(table_columns(con, "account_edges"))),
                {"evidence": support.link_evidence, "min_families": support.min_link_families},
            )
            result = result.join(
                links.group_by("unit", "account_id").agg(pl.col("partner").alias("partners")),
                on=["unit", "account_id"], how="left",
            )
    finally:
        con.unregister(UNIT_MEMBERS_VIEW)
    if "affinity" not in result.columns:
        result = result.with_columns(pl.lit(0.0).alias("affinity"))
    if "partners" not in result.columns:
        result = result.with_columns(pl.lit(None, dtype=pl.List(pl.String)).alias("partners"))
    partners = pl.col("partners").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    return result.select(
        "unit", "account_id",
        pl.col("affinity").cast(pl.Float64).fill_null(0.0),
        partners.list.len().cast(pl.Int64).alias("strong_partners"),
        partners.alias("partners"),
    )


def supported(frame: pl.DataFrame, unit_sizes: dict[str, int], support: MemberSupport) -> pl.DataFrame:
    """The rows of `member_support` output whose member carries the campaign.

    Directly supported: affinity, or enough strong partners (at most n - 1 in a unit of n, so
    a pair needs one). Then one step of propagation: a member strongly tied to a directly
    supported member is kept too (a straggler of a proxy-rotating cluster), but two benign
    accounts tied only to each other are not.
    """
    sizes = pl.DataFrame(
        {"unit": list(unit_sizes), "size": list(unit_sizes.values())},
        schema={"unit": pl.String, "size": pl.Int64},
    )
    needed = pl.min_horizontal(pl.lit(support.min_strong_partners), pl.col("size") - 1)
    direct = frame.join(sizes, on="unit").with_columns(
        ((pl.col("affinity") >= support.min_affinity) | (pl.col("strong_partners") >= needed))
        .alias("direct")
    )
    anchors = direct.filter("direct").select("unit", pl.col("account_id").alias("partner"), pl.lit(True).alias("anchor"))
    anchored = (
        direct.select("unit", "account_id", "partners").explode("partners")
        .rename({"partners": "partner"})
        .join(anchors, on=["unit", "partner"])
        .select("unit", "account_id").unique()
    )
    keep = pl.concat([direct.filter("direct").select("unit", "account_id"), anchored]).unique()
    return frame.join(keep, on=["unit", "account_id"])
