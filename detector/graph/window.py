"""The graph's look-back window: which UTC days of request evidence a build reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import duckdb

from detector.graph.params import GraphParams
from detector.graph.sql import scalar


@dataclass(frozen=True)
class GraphWindow:
    """Days `first_day` to `last_day` (inclusive, UTC) of request evidence.

    `first_day` is None when the window reaches back over the whole history; `last_day` is the
    day of the newest stored request (None on an empty store).
    """

    first_day: date | None
    last_day: date | None

    @property
    def start(self) -> datetime:
        """The first instant inside the window (the distant past for the whole history)."""
        day = self.first_day or date(1, 1, 2)  # one day of slack for any time-zone arithmetic
        return datetime.combine(day, time(0), tzinfo=UTC)

    @property
    def start_day(self) -> date:
        """`first_day`, or the distant past for the whole history."""
        return self.first_day or date(1, 1, 2)

    def describe(self) -> str:
        first = self.first_day.isoformat() if self.first_day else "start"
        last = self.last_day.isoformat() if self.last_day else "empty"
        return f"{first}..{last}"


def graph_window(con: duckdb.DuckDBPyConnection, params: GraphParams) -> GraphWindow:
    """The window a build reads: the last `params.lookback_days` days up to the newest request."""
    newest = scalar(con, 'SELECT CAST(max("timestamp") AS DATE) FROM requests')
    if newest is None:
        return GraphWindow(None, None)
    if params.lookback_days is None:
        return GraphWindow(None, newest)
    return GraphWindow(newest - timedelta(days=params.lookback_days - 1), newest)
