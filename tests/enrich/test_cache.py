"""The on-disk cache of derived range tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector.enrich.cache import CACHE_ENV, cached_arrays


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    return tmp_path


def test_builds_once_then_reads(cache_home: Path) -> None:
    calls: list[int] = []

    def build() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"a": np.arange(5), "s": np.array([b"x", b"yz"])}

    first = cached_arrays("t", "v1", build)
    second = cached_arrays("t", "v1", build)
    assert len(calls) == 1
    assert second["a"].tolist() == first["a"].tolist() == [0, 1, 2, 3, 4]
    assert second["s"].tolist() == [b"x", b"yz"]
    cached_arrays("t", "v2/other", build)  # a new key (new package version) rebuilds
    assert len(calls) == 2
    assert len(list((cache_home / "enrich").glob("*.npz"))) == 2


def test_corrupt_cache_is_rebuilt(cache_home: Path) -> None:
    (cache_home / "enrich").mkdir()
    (cache_home / "enrich" / "t-v1.npz").write_bytes(b"not an npz")
    out = cached_arrays("t", "v1", lambda: {"a": np.ones(3)})
    assert out["a"].tolist() == [1.0, 1.0, 1.0]
    assert np.load(cache_home / "enrich" / "t-v1.npz")["a"].tolist() == [1.0, 1.0, 1.0]


def test_unwritable_cache_still_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    assert cached_arrays("t", "v1", lambda: {"a": np.zeros(2)})["a"].tolist() == [0.0, 0.0]
