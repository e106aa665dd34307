"""Fixtures for the IP enrichment tests."""

from __future__ import annotations

import pytest

from detector.enrich import lookup_ips


@pytest.fixture(scope="session")
def enriched():
    """Look up a list of IPs and return the rows as dicts keyed by input string."""

    def run(ips: list[str | None]) -> list[dict]:
        return lookup_ips(ips).to_pylist()

    return run
