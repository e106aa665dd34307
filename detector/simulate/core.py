"""Shared state of a simulation: lookup tables, the account registry and compact request batches.

Requests are generated in a compact form (integer indices into lookup tables) and only turned
into strings by the writer, a chunk at a time, so memory stays bounded at any scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from detector.simulate.rhythm import DAY_MS

# Compact request columns (all integers; -1 means "none").
COMPACT_SCHEMA: dict[str, type[pl.DataType]] = {
    "ts": pl.Int64,
    "acct": pl.Int32,
    "key": pl.Int32,
    "ip": pl.Int32,
    "ua": pl.Int32,
    "model": pl.Int32,
    "sys": pl.Int32,
    "p0": pl.Int32,
    "p1": pl.Int32,
    "p2": pl.Int32,
    "hist": pl.Int32,
    "tools": pl.Int32,
    "out_tok": pl.Int32,
    "status": pl.Int32,
}


class Interner:
    """Strings stored once and referred to by index."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, value: str) -> int:
        idx = self._index.get(value)
        if idx is None:
            idx = len(self.values)
            self.values.append(value)
            self._index[value] = idx
        return idx

    def add_many(self, values: list[str]) -> np.ndarray:
        return np.array([self.add(v) for v in values], dtype=np.int32)

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class AccountRegistry:
    """Every simulated account: metadata (contract section 2) and its ground-truth label."""

    account_id: list[str] = field(default_factory=list)
    created_ms: list[int] = field(default_factory=list)
    email_domain: list[str | None] = field(default_factory=list)
    payment_fingerprint: list[str | None] = field(default_factory=list)
    country: list[str | None] = field(default_factory=list)
    signup_ip: list[str | None] = field(default_factory=list)
    org_id: list[str | None] = field(default_factory=list)
    tier: list[str] = field(default_factory=list)
    label: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    first_key: list[int] = field(default_factory=list)
    n_keys: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.account_id)


@dataclass
class Tables:
    """Lookup tables the compact batches index into."""

    fragments: Interner = field(default_factory=Interner)
    ips: Interner = field(default_factory=Interner)
    uas: Interner = field(default_factory=Interner)
    models: Interner = field(default_factory=Interner)
    keys: list[str] = field(default_factory=list)
    accounts: AccountRegistry = field(default_factory=AccountRegistry)

    def __post_init__(self) -> None:
        self.fragments.add("")  # index 0: the empty fragment

    def add_accounts(
        self,
        *,
        ids: list[str],
        created_ms: np.ndarray,
        email_domain: Sequence[str | None],
        payment: Sequence[str | None],
        country: Sequence[str | None],
        signup_ip: Sequence[str | None],
        org: Sequence[str | None],
        tier: Sequence[str],
        label: Sequence[str] | str,
        kind: str,
        key_ids: list[list[str]],
    ) -> np.ndarray:
        """Register accounts; returns their global indices."""
        reg = self.accounts
        start = len(reg)
        n = len(ids)
        labels = [label] * n if isinstance(label, str) else list(label)
        for i in range(n):
            reg.account_id.append(ids[i])
            reg.created_ms.append(int(created_ms[i]))
            reg.email_domain.append(email_domain[i])
            reg.payment_fingerprint.append(payment[i])
            reg.country.append(country[i])
            reg.signup_ip.append(signup_ip[i])
            reg.org_id.append(org[i])
            reg.tier.append(tier[i])
            reg.label.append(labels[i])
            reg.kind.append(kind)
            reg.first_key.append(len(self.keys))
            reg.n_keys.append(len(key_ids[i]))
            self.keys.extend(key_ids[i])
        return np.arange(start, start + n, dtype=np.int32)

    def key_for(self, rng: np.random.Generator, accts: np.ndarray) -> np.ndarray:
        """An API key of each request's account (the first key is the busiest)."""
        first = np.asarray(self.accounts.first_key, dtype=np.int64)[accts]
        count = np.asarray(self.accounts.n_keys, dtype=np.int64)[accts]
        pick = np.minimum((rng.random(len(accts)) ** 2.0 * count).astype(np.int64), count - 1)
        return (first + pick).astype(np.int32)


@dataclass(frozen=True)
class Clock:
    """The simulated period and the model release inside it."""

    start_ms: int
    days: int
    start_weekday: int
    release_ms: int
    old_models: tuple[int, ...]  # indices in Tables.models: mini, standard, pro
    new_model: int

    def day_start(self, day: int) -> int:
        return self.start_ms + day * DAY_MS

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.days * DAY_MS


def choose_models(
    rng: np.random.Generator,
    ts: np.ndarray,
    clock: Clock,
    base: tuple[float, float, float],
    adopt_max: float | np.ndarray,
    adopt_days: float | np.ndarray,
) -> np.ndarray:
    """Model per request: `base` mix of the old models, drifting to the new one after release.

    `adopt_max` and `adopt_days` may be per-request arrays (early adopters switch within hours).
    """
    n = len(ts)
    p = np.asarray(base, dtype=float) / sum(base)
    old = np.asarray(clock.old_models, dtype=np.int32)[rng.choice(3, size=n, p=p)]
    since = (ts - clock.release_ms) / DAY_MS
    p_new = np.where(since > 0, adopt_max * (1.0 - np.exp(-np.maximum(since, 0) / adopt_days)), 0.0)
    return np.where(rng.random(n) < p_new, clock.new_model, old).astype(np.int32)


def outcomes(
    rng: np.random.Generator,
    n: int,
    out_median: float,
    out_sigma: float,
    p429: float,
    p5xx: float = 0.004,
) -> tuple[np.ndarray, np.ndarray]:
    """(output tokens, status code) per request: lognormal lengths, some throttling and errors."""
    out = np.minimum(rng.lognormal(np.log(out_median), out_sigma, size=n), 16000).astype(np.int32)
    u = rng.random(n)
    status = np.full(n, 200, dtype=np.int32)
    status[u < p429] = 429
    err = (u >= p429) & (u < p429 + p5xx)
    status[err] = rng.choice(np.array([500, 502, 503, 529], dtype=np.int32), size=int(err.sum()))
    out[status != 200] = 0
    return out, status


def batch(n: int, **columns: np.ndarray | int) -> pl.DataFrame:
    """A compact batch of `n` requests; missing columns are -1."""
    data: dict[str, np.ndarray] = {}
    for name, dtype in COMPACT_SCHEMA.items():
        value = columns.get(name, -1)
        arr = np.full(n, value) if np.isscalar(value) else np.asarray(value)
        data[name] = arr.astype(np.int64 if dtype is pl.Int64 else np.int32, copy=False)
    return pl.DataFrame(data)


def empty_batch() -> pl.DataFrame:
    return batch(0)


def ragged_pick(
    rng: np.random.Generator, starts: np.ndarray, lengths: np.ndarray, skew: float = 1.0
) -> np.ndarray:
    """For each row, an index in `[start, start + length)`; `skew > 1` favours the first entries."""
    u = rng.random(len(starts)) ** skew
    return (starts + np.minimum((u * lengths).astype(np.int64), lengths - 1)).astype(np.int64)
