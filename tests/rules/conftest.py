"""Fixtures for rule tests: the bundled corpus, and a writer for throw-away rule files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from detector.paths import rules_dir
from detector.rules import DetectionRule, load_rules

GOOD_RULE = """\
id: 6f1c8f4e-3f55-4a8e-9c43-0c2b8a1d9e01
title: Test rule
description: A rule used only by tests.
status: test
level: medium
scope: account
signal: cot
tags: [attack.AML.T0024.002]
falsepositives: [none]
condition:
  all:
    - {feature: cot_share, op: gte, value: 0.5}
    - any:
        - {feature: requests, op: gt, value: 10}
        - {feature: active_days, op: gte, value: 3}
fixtures:
  positive: {cot_share: 0.8, requests: 20, active_days: 1}
  negative: {cot_share: 0.8, requests: 5, active_days: 1}
"""


@pytest.fixture
def good_rule() -> str:
    """A valid rule file's text, for tests that break one part of it."""
    return GOOD_RULE


@pytest.fixture(scope="session")
def corpus() -> tuple[DetectionRule, ...]:
    return load_rules()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return rules_dir() / "detection"


@pytest.fixture
def write_rule(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
