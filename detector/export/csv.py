"""CSV: account scores exactly as contract §7 says, or campaign alerts flattened one per row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence

import polars as pl

from detector.export.alerts import INDICATOR_KINDS, Alert, rfc3339

ACCOUNT_HEADER = ("account_id", "score", "campaign_id", "flagged")
# List-valued fields are joined with this separator; `signals` stays a JSON object.
LIST_SEPARATOR = ";"
CAMPAIGN_HEADER = (
    "alert_id", "campaign_id", "title", "severity", "score", "status", "first_seen", "last_seen",
    "request_count", "account_count", "accounts", "rules", "tags", *INDICATOR_KINDS, "signals",
)
_BATCH = 10_000


def _rows_to_text(rows: Iterable[Sequence[object]], header: Sequence[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    pending = 0
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending >= _BATCH:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def _score(value: float) -> str:
    return repr(float(value))


def account_csv(scores: pl.DataFrame, batch: int = 200_000) -> Iterator[str]:
    """Header `account_id,score,campaign_id,flagged`, written by polars in batches (millions of accounts)."""
    frame = scores.select(ACCOUNT_HEADER)
    yield ",".join(ACCOUNT_HEADER) + "\n"
    for start in range(0, frame.height, batch):
        yield frame.slice(start, batch).write_csv(include_header=False, line_terminator="\n")


def _joined(values: Iterable[object]) -> str:
    return LIST_SEPARATOR.join(str(v) for v in values)


def campaign_csv(alerts: Iterable[Alert]) -> Iterator[str]:
    """One row per alert; lists joined with `;`, signals as compact JSON."""
    return _rows_to_text(
        (
            (
                a.alert_id, a.campaign_id, a.title, a.severity, _score(a.score), a.status,
                rfc3339(a.first_seen) or "", rfc3339(a.last_seen) or "", a.request_count,
                len(a.accounts), _joined(a.accounts), _joined(a.rules), _joined(a.tags),
                *(_joined(a.indicators.get(kind, [])) for kind in INDICATOR_KINDS),
                json.dumps(a.signals, sort_keys=True, separators=(",", ":")),
            )
            for a in alerts
        ),
        CAMPAIGN_HEADER,
    )
