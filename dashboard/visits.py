"""When each analyst last opened the queue, so campaigns that appeared since can be marked.

Kept in a small JSON file beside the store (`<store>.review-visits.json`), never in the store:
recording a visit must not take DuckDB's write lock away from a scan.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path


def visits_path(db: Path) -> Path:
    return db.with_name(db.name + ".review-visits.json")


def _load(db: Path) -> dict[str, str]:
    try:
        data = json.loads(visits_path(db).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def last_visit(db: Path, analyst: str) -> datetime | None:
    """The analyst's previous visit, or None for a first visit."""
    raw = _load(db).get(analyst)
    try:
        return datetime.fromisoformat(raw).astimezone(UTC) if raw else None
    except ValueError:
        return None


def record_visit(db: Path, analyst: str, when: datetime | None = None) -> None:
    """Remember this visit; a folder we cannot write to just means no marking next time."""
    data = _load(db)
    data[analyst] = (when or datetime.now(UTC)).isoformat()
    target = visits_path(db)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True)
        Path(tmp).replace(target)
    except OSError:
        return
