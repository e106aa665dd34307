"""Reading py-spy's collapsed stacks and attributing samples to the project's own frames."""

from __future__ import annotations

from collections import Counter
from types import ModuleType

import pytest

RAW = """\
<module> (bench.py:10);main (/work/main/detector/scan.py:150);build_graph (/work/main/detector/graph/build.py:80);execute (duckdb/_seam.py:99) 30
<module> (bench.py:10);main (/work/main/detector/scan.py:150);build_graph (/work/main/detector/graph/build.py:80) 10
<module> (bench.py:10);_find_and_load (<frozen importlib._bootstrap>:1176) 5
<module> (bench.py:10);compute (detector/features/pipeline.py:20);collect (polars/lazyframe/engine.py:410) 15
not a stack line
"""


def test_parse_collapsed_sums_counts(profile_summary: ModuleType) -> None:
    stacks = profile_summary.parse_collapsed(RAW)
    assert sum(stacks.values()) == 60  # the malformed line is skipped
    assert len(stacks) == 4


def test_own_frame_is_the_deepest_project_frame(profile_summary: ModuleType) -> None:
    stacks = profile_summary.parse_collapsed(RAW)
    owners: Counter[str] = Counter()
    for stack, n in stacks.items():
        owners[profile_summary.own_frame(stack)] += n
    # DuckDB time (30) is charged to the project line that called it, with its own 10.
    assert owners["graph/build.py:80 build_graph"] == 40
    assert owners["features/pipeline.py:20 compute"] == 15  # a relative path counts too
    assert "(outside detector/: start-up, imports)" in owners


def test_summary_percentages(profile_summary: ModuleType) -> None:
    text = profile_summary.summarize(profile_summary.parse_collapsed(RAW), top=3)
    # graph/build.py build_graph holds 40 of 60 samples (30 in DuckDB + 10 of its own).
    assert "66.7 %  graph/build.py build_graph" in text
    assert "samples: 60" in text


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("f (/x/site-packages/polars/frame.py:3)", "polars/frame.py:3 f"),
        ("f (/work/main/detector/store.py:229)", "store.py:229 f"),
        ("weird frame", "weird frame"),
    ],
)
def test_short(profile_summary: ModuleType, frame: str, expected: str) -> None:
    assert profile_summary.short(frame) == expected
