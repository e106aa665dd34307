"""What every population and campaign shares: the per-day generation interface and account set-up."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import polars as pl

from detector.simulate import infrastructure as infra
from detector.simulate.core import Clock, Tables
from detector.simulate.pools import Pools
from detector.simulate.rhythm import DAY_MS


@dataclass
class World:
    """Everything a group needs to set itself up."""

    rng: np.random.Generator
    tables: Tables
    pools: Pools
    clock: Clock
    total_requests: float

    def daily_target(self, share: float) -> float:
        return share * self.total_requests / self.clock.days


@dataclass
class DayContext:
    day: int
    rng: np.random.Generator
    clock: Clock
    tables: Tables

    @property
    def start_ms(self) -> int:
        return self.clock.day_start(self.day)


class Group(ABC):
    """A benign population or an attack campaign: a set of accounts and their daily traffic."""

    name: str  # benign population name or campaign id
    kind: str  # population name or campaign archetype
    accounts: np.ndarray
    params: dict[str, object]

    @abstractmethod
    def day(self, ctx: DayContext) -> pl.DataFrame:
        """Compact requests (see `core.COMPACT_SCHEMA`) whose activity belongs to local day `ctx.day`."""


def created_before(
    rng: np.random.Generator, clock: Clock, n: int, max_days: float, new_share: float = 0.0
) -> np.ndarray:
    """Sign-up times: most accounts long before the period, `new_share` during it."""
    ages = rng.exponential(max_days / 3, size=n).clip(1, max_days) * DAY_MS
    created = clock.start_ms - ages.astype(np.int64)
    new = rng.random(n) < new_share
    created[new] = clock.start_ms + (rng.random(int(new.sum())) * clock.days * 0.8 * DAY_MS).astype(
        np.int64
    )
    return created


def first_active_day(clock: Clock, created_ms: np.ndarray) -> np.ndarray:
    """First local day an account can be active (-1: the evening before the period, for UTC-)."""
    return np.maximum(-1, np.ceil((created_ms - clock.start_ms) / DAY_MS)).astype(np.int64)


def heavy_tail_weights(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Per-account volume weights: lognormal, mean 1."""
    w = rng.lognormal(0.0, sigma, size=n)
    return w / w.mean()


def region_tz(rng: np.random.Generator, regions: np.ndarray) -> np.ndarray:
    """A UTC offset (hours) per user, from the time zones of the user's region."""
    out = np.zeros(len(regions), dtype=np.int64)
    for region, zones in infra.REGION_TZ.items():
        mine = regions == region
        out[mine] = np.asarray(zones)[rng.integers(0, len(zones), size=int(mine.sum()))]
    return out


def region_country(rng: np.random.Generator, regions: np.ndarray) -> list[str | None]:
    out = np.empty(len(regions), dtype=object)
    for region, countries in infra.REGION_COUNTRY.items():
        mine = regions == region
        out[mine] = np.asarray(countries)[rng.integers(0, len(countries), size=int(mine.sum()))]
    return [str(c) for c in out]


def choose(rng: np.random.Generator, options: tuple[str, ...] | list[str], n: int) -> list[str]:
    """`n` draws from `options`, vectorized."""
    return np.asarray(options)[rng.integers(0, len(options), size=n)].tolist()


def key_lists(
    rng: np.random.Generator, n: int, max_keys: int, min_keys: int = 1
) -> list[list[str]]:
    """API key ids per account: most accounts have one key, some a few."""
    counts = min_keys + (rng.random(n) ** 3 * (max_keys - min_keys + 1)).astype(int)
    ids = infra.hex_ids(rng, int(counts.sum()), 10, "key_")
    out: list[list[str]] = []
    pos = 0
    for c in counts:
        out.append(ids[pos : pos + int(c)])
        pos += int(c)
    return out


def ip_pools(
    tables: Tables, per_account: list[list[str]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intern each account's addresses; returns (flat ip ids, start per account, length per account)."""
    lengths = np.array([len(x) for x in per_account], dtype=np.int64)
    flat = tables.ips.add_many([ip for ips in per_account for ip in ips])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return flat, starts, lengths
