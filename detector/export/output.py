"""Where an export goes: stdout, or a file replaced atomically so readers never see half of it."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from detector.errors import DistillguardError


def write_chunks(chunks: Iterable[str], out: Path | None) -> None:
    """Write text chunks to `out` via a temporary file in the same folder and a rename,
    or to stdout when `out` is None."""
    if out is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    folder = out.parent
    if not folder.is_dir():
        raise DistillguardError(f"cannot write {out}: folder {folder} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
