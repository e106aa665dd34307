"""One scan at a time: a lock file next to the store, created with O_EXCL and holding the PID.

A lock left by a killed scan is detected by checking whether its PID is still alive, and
taken over. DuckDB's own file lock additionally stops any second writer process while the
scan's connection is open; the lock file gives the clear message and covers the whole run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from detector.errors import StoreLockedError


class ScanLockedError(StoreLockedError):
    """Another scan holds the lock."""


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".scan.lock")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _holder(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def acquire(db_path: Path) -> Path:
    """Create the lock file or raise `ScanLockedError` naming the live holder."""
    path = lock_path(db_path)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid = _holder(path)
            if pid is not None and pid != os.getpid() and _pid_alive(pid):
                raise ScanLockedError(
                    f"another scan is running on {db_path} (pid {pid}); lock file {path}"
                ) from None
            if pid == os.getpid():
                raise ScanLockedError(f"this process already holds the scan lock {path}") from None
            # Stale: its scan was killed. Remove it and try once more (another process may win).
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")
        return path
    raise ScanLockedError(f"another scan took the lock {path} first")


def release(path: Path) -> None:
    """Remove the lock file if this process still owns it."""
    if _holder(path) == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def scan_lock(db_path: Path) -> Iterator[Path]:
    """Hold the scan lock of `db_path` for the duration of the block."""
    path = acquire(db_path)
    try:
        yield path
    finally:
        release(path)
