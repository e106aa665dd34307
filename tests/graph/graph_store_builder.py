"""Tiny hand-made stores for the graph stage: accounts and requests written straight in.

A uniquely named module (not `conftest`) so that test folders importing helpers from their
own conftest cannot shadow each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

START = datetime(2026, 3, 2, tzinfo=UTC)


@dataclass
class StoreBuilder:
    """Collects accounts and requests, then writes them into the store in one go."""

    con: duckdb.DuckDBPyConnection
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(11))
    accounts: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def account(
        self,
        account_id: str,
        *,
        payment: str | None = None,
        email_domain: str = "gmail.com",
        created_at: datetime | None = None,
        signup_ip: str | None = None,
        tier: str = "free",
    ) -> None:
        created = created_at or START - timedelta(
            days=int(self.rng.integers(30, 365)), seconds=int(self.rng.integers(0, 86_400))
        )
        self.accounts.append(
            {
                "account_id": account_id,
                "created_at": created,
                "email_domain": email_domain,
                "payment_fingerprint": payment if payment is not None else f"card_{account_id}",
                "signup_ip": signup_ip,
                "signup_prefix": None
                if signup_ip is None
                else signup_ip.rsplit(".", 1)[0] + ".0/24",
                "tier": tier,
                "ingest_run_id": 1,
            }
        )

    def request(
        self,
        account_id: str,
        at: datetime,
        *,
        ip: str,
        user_agent: str = "Mozilla/5.0 Chrome/124",
        network_class: str = "residential",
        asn: int = 7922,
    ) -> None:
        self.requests.append(
            {
                "request_id": f"r{len(self.requests)}",
                "timestamp": at,
                "account_id": account_id,
                "client_ip": ip,
                "user_agent": user_agent,
                "model": "model-a",
                "prompt": "hello",
                "input_tokens": 10,
                "output_tokens": 20,
                "ip_prefix": ip.rsplit(".", 1)[0] + ".0/24",
                "asn": asn,
                "network_class": network_class,
                "ingest_run_id": 1,
            }
        )

    def random_times(self, count: int, days: int = 7) -> list[datetime]:
        seconds = self.rng.integers(0, days * 86_400, count)
        return [START + timedelta(seconds=int(s)) for s in seconds]

    def background(self, count: int, prefix: str = "bg", requests: int = 8) -> list[str]:
        """Ordinary accounts: own residential IP, own card, public mail, scattered activity."""
        ids = []
        for i in range(count):
            account_id = f"{prefix}_{i:03d}"
            ids.append(account_id)
            self.account(account_id)
            ip = f"{int(self.rng.integers(60, 90))}.{i % 250}.{int(self.rng.integers(0, 250))}.{i % 200 + 1}"
            for at in self.random_times(requests):
                self.request(account_id, at, ip=ip, user_agent=f"Mozilla/5.0 Firefox/{i % 40}")
        return ids

    def flush(self) -> None:
        """Write everything collected so far and start empty again."""
        if self.accounts:
            table = pa.Table.from_pylist(self.accounts)
            self.con.register("new_accounts", table)
            self.con.execute("INSERT INTO accounts BY NAME SELECT * FROM new_accounts")
            self.con.unregister("new_accounts")
        if self.requests:
            table = pa.Table.from_pylist(self.requests)
            self.con.register("new_requests", table)
            self.con.execute("INSERT INTO requests BY NAME SELECT * FROM new_requests")
            self.con.unregister("new_requests")
        self.accounts, self.requests = [], []


def cluster_of(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """account_id -> cluster_id after a build."""
    return dict(con.execute("SELECT account_id, cluster_id FROM clusters").fetchall())


def members_by_cluster(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """cluster_id -> its accounts."""
    groups: dict[str, set[str]] = {}
    for account, cluster in cluster_of(con).items():
        groups.setdefault(cluster, set()).add(account)
    return groups


# The feature stage's per-account-day tables the graph reads (the columns it uses), built
# straight from `requests`.
DAILY = """
CREATE OR REPLACE TABLE account_daily_features AS
SELECT account_id, CAST("timestamp" AS DATE) AS day, count(*) AS requests,
       count(*) FILTER (WHERE network_class IN ('hosting', 'vpn', 'tor')) AS hosting_requests,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       min("timestamp") AS first_seen, max("timestamp") AS last_seen
FROM requests GROUP BY ALL
"""
PER_DAY = """
CREATE OR REPLACE TABLE account_day_attributes AS
SELECT account_id, CAST("timestamp" AS DATE) AS day, 'ip' AS kind, client_ip AS value,
       count(*) AS requests
FROM requests GROUP BY ALL
UNION ALL
SELECT account_id, CAST("timestamp" AS DATE), 'prefix', ip_prefix, count(*)
FROM requests GROUP BY ALL
UNION ALL
SELECT account_id, CAST("timestamp" AS DATE), 'user_agent', user_agent, count(*)
FROM requests GROUP BY ALL
"""
FEATURE_PARTIALS = (DAILY, PER_DAY)
