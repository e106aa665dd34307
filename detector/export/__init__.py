"""Alert exports for the systems users already run: JSONL, CSV, OCSF, STIX 2.1 and a webhook."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum

import duckdb

from detector.export.alerts import (
    Alert,
    load_account_scores,
    load_alerts,
    new_alerts,
)
from detector.export.csv import account_csv, campaign_csv
from detector.export.jsonl import frame_lines, jsonl_lines
from detector.export.ocsf import ocsf_lines


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    ocsf = "ocsf"
    stix = "stix"


class Level(StrEnum):
    campaign = "campaign"
    account = "account"


# Formats that describe findings, not per-account scores.
CAMPAIGN_ONLY = frozenset({Format.ocsf, Format.stix})


def render(
    con: duckdb.DuckDBPyConnection,
    fmt: Format,
    level: Level = Level.campaign,
    *,
    since: datetime | None = None,
    status: str | None = None,
) -> Iterator[str]:
    """The export as text chunks; the store is read before the first chunk is returned."""
    if level is Level.account:
        if fmt in CAMPAIGN_ONLY:
            raise ValueError(f"--format {fmt} exports campaigns only; use --level campaign")
        scores = load_account_scores(con)
        return account_csv(scores) if fmt is Format.csv else frame_lines(scores)
    alerts = load_alerts(con, since=since, status=status)
    if fmt is Format.stix:
        from detector.export.stix import stix_chunks  # stix2 is slow to import: only when asked

        return stix_chunks(alerts)
    writers = {
        Format.jsonl: jsonl_lines,
        Format.csv: campaign_csv,
        Format.ocsf: ocsf_lines,
    }
    return writers[fmt](alerts)


__all__ = [
    "Alert",
    "Format",
    "Level",
    "load_account_scores",
    "load_alerts",
    "new_alerts",
    "render",
]
