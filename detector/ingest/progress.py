"""A progress bar over a file's bytes on a terminal, nothing otherwise."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import duckdb
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

POLL_SECONDS = 0.25
_SETTINGS = ("enable_progress_bar", "enable_progress_bar_print")


def shows_progress(enabled: bool) -> bool:
    """Whether a bar is drawn: asked for, and stderr is a terminal."""
    return enabled and sys.stderr.isatty()


@contextmanager
def file_progress(label: str, total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A callback taking the byte position reached; draws on stderr only when enabled and a TTY."""
    if not shows_progress(enabled):
        yield lambda position: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=max(total, 1))
        yield lambda position: bar.update(task, completed=position)


@contextmanager
def _progress_tracking(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB tracks query progress without drawing its own bar; the old settings come back
    after the block, unless it failed (a failed statement leaves its transaction refusing any
    SET until the rollback; these settings only concern progress, so they are left as set)."""
    names = ", ".join(f"current_setting('{name}')" for name in _SETTINGS)
    before = con.execute(f"SELECT {names}").fetchall()[0]
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    yield
    for name, value in zip(_SETTINGS, before, strict=True):
        con.execute(f"SET {name} = ?", [value])


@contextmanager
def statement_progress(
    con: duckdb.DuckDBPyConnection, label: str, total: int, enabled: bool
) -> Iterator[None]:
    """A bar over `total` bytes fed by DuckDB's `query_progress()` of the statement run on `con`
    inside the block, polled from a thread (DuckDB answers it while the statement runs)."""
    if not shows_progress(enabled):
        yield
        return
    with _progress_tracking(con), file_progress(label, total, True) as advance:
        stop = threading.Event()
        reached = 0

        def poll() -> None:
            nonlocal reached
            while not stop.wait(POLL_SECONDS):
                percent = con.query_progress()
                if percent >= 0:  # -1 until the statement reports progress
                    reached = max(reached, int(total * min(percent, 100.0) / 100))
                    advance(reached)

        poller = threading.Thread(target=poll, name="ingest-progress", daemon=True)
        poller.start()
        try:
            yield
        finally:
            stop.set()
            poller.join()
        advance(total)
