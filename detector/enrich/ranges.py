"""Sorted, non-overlapping address ranges searched for many addresses at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RangeTable:
    """Ranges ``[starts[i], ends[i]]`` sorted by start, each carrying an integer label.

    Keys are uint32 for IPv4 and 16-byte big-endian ``S16`` for IPv6; both sort and compare
    as the addresses do.
    """

    starts: np.ndarray
    ends: np.ndarray
    labels: np.ndarray

    @classmethod
    def build(cls, starts: np.ndarray, ends: np.ndarray, labels: np.ndarray) -> RangeTable:
        """Sort the ranges by start (stable, so a later duplicate start does not win)."""
        order = np.argsort(starts, kind="stable")
        return cls(starts[order], ends[order], labels[order])

    def find(self, keys: np.ndarray, missing: int = -1) -> np.ndarray:
        """The label of the range holding each key, or ``missing`` where none does.

        Keys may come in any order; sorted keys search faster (the table walk stays in
        cache), so callers searching several tables sort once and pass sorted keys.
        """
        out = np.full(len(keys), missing, dtype=np.int64)
        if len(keys) == 0 or len(self.starts) == 0:
            return out
        at = np.searchsorted(self.starts, keys, side="right") - 1
        inside = at >= 0
        inside[inside] = keys[inside] <= self.ends[at[inside]]
        out[inside] = self.labels[at[inside]]
        return out

    def __len__(self) -> int:
        return len(self.starts)
