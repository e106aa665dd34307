"""A progress bar over a file's bytes on a terminal, nothing otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


@contextmanager
def file_progress(label: str, total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A callback taking the byte position reached; draws on stderr only when enabled and a TTY."""
    if not enabled or not sys.stderr.isatty():
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
