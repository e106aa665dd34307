"""Token hashes and one-permutation MinHash sketches of normalized texts, compiled with numba.

One pass over the UTF-8 bytes of a batch of texts gives, per text, a stable 64-bit hash of its
token sequence (the exact template) and a MinHash signature over the set of its words and
word bigrams (the near-duplicate sketch): words keep paraphrases close (swapped or reordered
words), bigrams keep unrelated texts on one topic apart. Tokens are runs of ASCII letters and
digits, `#` (the slot mask) and non-ASCII bytes; everything else separates tokens, so
punctuation and spacing do not matter.
One-permutation hashing puts each shingle in one of `SIGNATURE_BINS` bins by its hash and
keeps the minimum per bin; empty bins borrow from the next full bin (rotation densification,
Shrivastava & Li 2014), so a signature costs one hash per shingle whatever its width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit, prange

from detector.features.blobs import value_buffers

SIGNATURE_BINS = 30
BANDS = 10
ROWS_PER_BAND = SIGNATURE_BINS // BANDS

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOW32 = np.uint64(0xFFFFFFFF)
_EMPTY = np.uint32(0xFFFFFFFF)


@dataclass(frozen=True)
class Sketches:
    """Per text: `template_hash` (exact token sequence) and `signature` (n x SIGNATURE_BINS)."""

    template_hash: np.ndarray
    signature: np.ndarray


@njit(inline="always")
def _mix(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(parallel=True, nogil=True, cache=True)
def _sketch_kernel(
    data: np.ndarray, offsets: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    n = offsets.shape[0] - 1
    hashes = np.empty(n, np.uint64)
    signature = np.empty((n, bins), np.uint32)
    for i in prange(n):
        row = signature[i]
        for j in range(bins):
            row[j] = _EMPTY
        sequence = _FNV_OFFSET
        previous = np.uint64(0)
        count = 0
        token = _FNV_OFFSET
        in_token = False
        end = offsets[i + 1]
        position = offsets[i]
        while position <= end:
            word_byte = False
            if position < end:
                byte = np.uint64(data[position])
                if byte >= 128 or (48 <= byte <= 57) or (97 <= byte <= 122) or byte == 35:
                    word_byte = True
                elif 65 <= byte <= 90:
                    byte = byte | np.uint64(32)
                    word_byte = True
                if word_byte:
                    token = (token ^ byte) * _FNV_PRIME
                    in_token = True
            if not word_byte and in_token:
                sequence = (sequence ^ token) * _GOLDEN
                unigram = _mix(token)
                slot = np.int64(((unigram >> np.uint64(32)) * np.uint64(bins)) >> np.uint64(32))
                value = np.uint32(unigram & _LOW32)
                if value < row[slot]:
                    row[slot] = value
                if count > 0:
                    bigram = _mix(previous * _GOLDEN + token + _GOLDEN)
                    slot = np.int64(((bigram >> np.uint64(32)) * np.uint64(bins)) >> np.uint64(32))
                    value = np.uint32(bigram & _LOW32)
                    if value < row[slot]:
                        row[slot] = value
                previous = token
                count += 1
                token = _FNV_OFFSET
                in_token = False
            position += 1
        hashes[i] = _mix(sequence + np.uint64(count))
        if count == 0:
            for j in range(bins):
                row[j] = np.uint32(0)
            continue
        for j in range(bins):
            if row[j] == _EMPTY:
                distance = 1
                while row[(j + distance) % bins] == _EMPTY:
                    distance += 1
                source = np.uint64(row[(j + distance) % bins])
                row[j] = np.uint32(_mix(source + np.uint64(distance) * _GOLDEN) & _LOW32)
    return hashes, signature


def _utf8_buffers(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The bytes and int64 offsets of a string column, without copying text into Python objects."""
    return value_buffers(texts.fill_null(""), pa.large_string())


def sketch_texts(texts: pl.Series) -> Sketches:
    """Template hash and MinHash signature of each (already masked and lower-cased) text."""
    if texts.len() == 0:
        return Sketches(np.empty(0, np.uint64), np.empty((0, SIGNATURE_BINS), np.uint32))
    data, offsets = _utf8_buffers(texts)
    hashes, signature = _sketch_kernel(data, offsets, SIGNATURE_BINS)
    return Sketches(hashes, signature)


def band_keys(signature: np.ndarray) -> np.ndarray:
    """(n x BANDS) uint32 LSH keys: a hash of each band's rows, salted by the band index.

    32-bit keys may collide by chance across millions of texts; every band match is verified
    against the signatures, so a chance collision costs a comparison, not a wrong merge.
    """
    rows = signature.reshape(len(signature), BANDS, ROWS_PER_BAND).astype(np.uint64)
    key = np.broadcast_to(np.arange(BANDS, dtype=np.uint64) * _GOLDEN, rows.shape[:2]).copy()
    for r in range(ROWS_PER_BAND):
        key = mix64((key ^ rows[:, :, r]) * _GOLDEN)
    return (key >> np.uint64(32)).astype(np.uint32)


def signature_digest(signature: np.ndarray) -> np.ndarray:
    """(n x SIGNATURE_BINS) uint8: the low byte of each bin, enough to estimate similarity.

    Two different bins agree by chance with probability 1/256, so the estimate of a Jaccard
    similarity J reads about J + (1 - J) / 256.
    """
    return (signature & np.uint32(0xFF)).astype(np.uint8)


def digest_similarity(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise share of agreeing bins between two digest matrices: an estimate of Jaccard."""
    if len(left) == 0:
        return np.empty(0, np.float64)
    return np.asarray((left == right).mean(axis=1), dtype=np.float64)


def mix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer over a uint64 array (wrapping arithmetic)."""
    z = values.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex16(values: np.ndarray) -> pl.Series:
    """Each uint64 as 16 lower-case hex characters, vectorized."""
    values = np.ascontiguousarray(values, dtype=np.uint64)
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    nibbles = ((values[:, None] >> shifts[None, :]) & np.uint64(0xF)).astype(np.intp)
    text = np.ascontiguousarray(_HEX[nibbles]).view("S16").ravel()
    return pl.Series(text.astype("U16"), dtype=pl.String)
