"""Daily and weekly rhythm: when people, cron jobs and machines send requests."""

from __future__ import annotations

import numpy as np

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def _normalized(weights: list[float]) -> np.ndarray:
    arr = np.asarray(weights, dtype=float)
    return arr / arr.sum()


# Local-hour profiles (index = hour 0..23).
HUMAN = _normalized(
    [
        1.2,
        0.7,
        0.4,
        0.3,
        0.3,
        0.4,
        0.9,
        1.8,
        3.0,
        4.0,
        4.6,
        4.8,
        4.4,
        4.7,
        4.9,
        4.8,
        4.5,
        4.2,
        4.0,
        4.3,
        4.6,
        4.3,
        3.2,
        2.0,
    ]
)
WORKDAY = _normalized(
    [
        0.2,
        0.1,
        0.1,
        0.1,
        0.1,
        0.2,
        0.5,
        1.5,
        4.0,
        6.0,
        6.5,
        6.2,
        4.0,
        5.5,
        6.5,
        6.5,
        6.0,
        5.0,
        3.0,
        2.0,
        1.8,
        1.5,
        1.0,
        0.5,
    ]
)
NIGHTLY = _normalized(
    [
        2.0,
        8.0,
        10.0,
        10.0,
        9.0,
        5.0,
        1.0,
        0.1,
        0.05,
        0.05,
        0.05,
        0.05,
        0.05,
        0.05,
        0.05,
        0.05,
        0.05,
        0.05,
        0.05,
        0.05,
        0.05,
        0.05,
        0.1,
        0.5,
    ]
)
FLAT = _normalized([1.0] * 24)
# Many end users over the world's time zones: almost flat, a shallow trough.
GLOBAL = _normalized(
    [
        3.2,
        3.0,
        2.9,
        3.0,
        3.2,
        3.3,
        3.4,
        3.6,
        3.9,
        4.1,
        4.2,
        4.3,
        4.5,
        4.7,
        4.9,
        5.0,
        4.9,
        4.7,
        4.4,
        4.1,
        3.9,
        3.7,
        3.5,
        3.3,
    ]
)

# Weekday factors, Monday first.
WEEK_HUMAN = np.array([1.0, 1.02, 1.0, 0.98, 0.92, 0.72, 0.70])
WEEK_WORK = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.15, 0.1])
WEEK_FLAT = np.ones(7)


def weekday(day_index: int, start_weekday: int) -> int:
    return (start_weekday + day_index) % 7


def sample_times(
    rng: np.random.Generator,
    day_start_ms: int,
    n: int,
    profile: np.ndarray,
    tz_hours: np.ndarray | int = 0,
) -> np.ndarray:
    """Epoch-ms times of `n` events on one local day, hour drawn from `profile`, shifted to UTC."""
    hours = rng.choice(24, size=n, p=profile)
    within = rng.integers(0, HOUR_MS, size=n)
    return (
        day_start_ms
        + hours.astype(np.int64) * HOUR_MS
        + within
        - np.asarray(tz_hours, dtype=np.int64) * HOUR_MS
    )


def session_times(
    rng: np.random.Generator,
    day_start_ms: int,
    counts: np.ndarray,
    per_session: float,
    session_minutes: float,
    profile: np.ndarray,
    tz_hours: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bursty activity: each actor's requests grouped into sessions.

    `counts[i]` requests for actor i, in about `counts[i] / per_session` sessions whose starts
    follow `profile` in the actor's local time; each session lasts about `session_minutes`.
    Returns (actor index per request, epoch ms per request).
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_sessions = np.maximum(1, np.ceil(counts / per_session).astype(np.int64)) * (counts > 0)
    session_actor = np.repeat(np.arange(len(counts)), n_sessions)
    starts = sample_times(rng, day_start_ms, len(session_actor), profile, tz_hours[session_actor])
    lengths = rng.gamma(2.0, session_minutes / 2.0, size=len(session_actor)) * 60_000
    # Assign each actor's requests to one of its sessions.
    actor = np.repeat(np.arange(len(counts)), counts)
    first_session = np.concatenate([[0], np.cumsum(n_sessions)[:-1]])
    pick = first_session[actor] + (rng.random(len(actor)) * n_sessions[actor]).astype(np.int64)
    offsets = (rng.random(len(actor)) ** 1.3 * lengths[pick]).astype(np.int64)
    return actor, starts[pick] + offsets


def poisson_counts(rng: np.random.Generator, expected: np.ndarray) -> np.ndarray:
    return rng.poisson(np.maximum(expected, 0.0)).astype(np.int64)
