"""A per-user disk cache for range tables derived from the packages' data files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CACHE_ENV = "DISTILLGUARD_CACHE_DIR"


def cache_dir() -> Path:
    """``$DISTILLGUARD_CACHE_DIR``, else ``$XDG_CACHE_HOME/distillguard``, else ``~/.cache/...``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "distillguard"


def cached_arrays(
    name: str, key: str, build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Arrays stored under ``enrich/<name>-<key>.npz``, built and written on first use.

    ``key`` must change whenever the source data changes (package versions). A cache that
    cannot be read or written is rebuilt in memory rather than failing the lookup.
    """
    path = cache_dir() / "enrich" / f"{name}-{_safe(key)}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {k: stored[k] for k in stored.files}
    except (OSError, ValueError, KeyError):
        pass
    arrays = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
            named: dict[str, Any] = dict(arrays)
            np.savez(tmp, **named)
        Path(tmp.name).replace(path)
    except OSError:
        pass
    return arrays


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in key)
