"""Analysts' verdicts as the scan applies them: the latest verdict per subject wins."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Verdicts:
    """Subjects suppressed or confirmed by analysts."""

    dismissed_campaigns: frozenset[str] = frozenset()
    confirmed_campaigns: frozenset[str] = frozenset()
    allowlisted_accounts: frozenset[str] = frozenset()
    allowlisted_orgs: frozenset[str] = frozenset()
    confirmed_accounts: frozenset[str] = frozenset()

    def campaign_status(self, campaign_id: str) -> str:
        if campaign_id in self.dismissed_campaigns:
            return "dismissed"
        if campaign_id in self.confirmed_campaigns:
            return "confirmed"
        return "new"


def load_verdicts(con: duckdb.DuckDBPyConnection) -> Verdicts:
    """Read the `verdicts` table, keeping each subject's most recent decision."""
    rows = con.execute(
        """
        SELECT subject_type, subject_id, lower(verdict)
        FROM verdicts
        QUALIFY row_number() OVER (
            PARTITION BY subject_type, subject_id ORDER BY decided_at DESC
        ) = 1
        """
    ).fetchall()
    by: dict[tuple[str, str], set[str]] = {}
    for subject_type, subject_id, verdict in rows:
        by.setdefault((str(subject_type).lower(), str(verdict)), set()).add(str(subject_id))

    def pick(subject: str, *verdicts: str) -> frozenset[str]:
        return frozenset().union(*(by.get((subject, v), set()) for v in verdicts))

    return Verdicts(
        dismissed_campaigns=pick("campaign", "dismissed", "allowlisted"),
        confirmed_campaigns=pick("campaign", "confirmed"),
        allowlisted_accounts=pick("account", "allowlisted", "dismissed"),
        allowlisted_orgs=pick("org", "allowlisted", "dismissed"),
        confirmed_accounts=pick("account", "confirmed"),
    )
