"""Word tokens of lowercased texts and their seeded polars hashes, compiled with numba.

The capability model hashes the tokens of `str.replace_many(SPLIT_FROM, SPLIT_TO).str.split(" ")`
with `Series.hash(seed)`. Exploding millions of tokens into a polars column cost more than the
model itself, so one numba pass over the UTF-8 bytes splits the tokens the same way (ASCII space,
tab and line breaks separate; each punctuation mark is a token of its own; digits 1-9 read as 0)
and looks each token up in a vocabulary: a table from a 128-bit key of the token's bytes (two
independent 64-bit hashes) to its polars hash. Only tokens the vocabulary lacks are hashed by
polars, once; prompts share a small vocabulary (about 50 k tokens in a million requests), so
after the first batch nearly every token is a table hit. The polars hash stays the source of
truth, so the fitted model's hash buckets keep their meaning.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

from detector.features.blobs import value_buffers

# Byte classes of the tokenizer: part of a token, a digit read as 0 (both below _SEPARATOR: word
# bytes), a separator, a one-byte token.
_PART, _DIGIT, _SEPARATOR, _MARK = 0, 1, 2, 3

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_POLY_SEED = np.uint64(0x243F6A8885A308D3)
_POLY_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_ZERO = np.uint64(48)
# The vocabulary is emptied past this many tokens (it is a cache: results do not change).
VOCABULARY_LIMIT = 4_000_000


def byte_classes(separators: list[str], marks: list[str], digits: list[str]) -> np.ndarray:
    """A 256-entry table of the class of each byte; every listed character must be ASCII."""
    table = np.full(256, _PART, dtype=np.uint8)
    for characters, kind in ((separators, _SEPARATOR), (marks, _MARK), (digits, _DIGIT)):
        for character in characters:
            if len(character) != 1 or ord(character) > 127:
                raise ValueError(f"tokenizer characters must be single ASCII characters, got {character!r}")
            table[ord(character)] = kind
    table[ord(" ")] = _SEPARATOR
    return table


@njit(inline="always")
def _byte_of(byte: np.uint64, kind: np.uint8) -> np.uint64:  # pragma: no cover - compiled
    return _ZERO if kind == _DIGIT else byte


@njit(inline="always")
def _slot(first: np.uint64, mask: np.uint64) -> np.int64:  # pragma: no cover - compiled
    return np.int64((first ^ (first >> np.uint64(29))) & mask)


@njit(inline="always")
def _find(
    first: np.uint64, second: np.uint64, table_first: np.ndarray, table_second: np.ndarray
) -> np.int64:  # pragma: no cover - compiled
    """The slot holding the key pair, or the empty slot where it would go (the table is never full)."""
    mask = np.int64(table_first.shape[0] - 1)
    slot = _slot(first, np.uint64(mask))
    while True:
        stored = table_first[slot]
        if stored == first and table_second[slot] == second:
            return slot
        if stored == 0 and table_second[slot] == 0:
            return slot
        slot = (slot + 1) & mask


@njit(inline="always")
def _next_token(
    data: np.ndarray, position: np.int64, end: np.int64, classes: np.ndarray
) -> tuple[np.int64, np.int64, np.uint64, np.uint64]:  # pragma: no cover - compiled
    """The next token at or after `position`: its start (end when none is left), the position
    after it, and its two keys."""
    while position < end and classes[data[position]] == _SEPARATOR:
        position += 1
    if position == end:
        return end, end, np.uint64(0), np.uint64(0)
    start = position
    first = _FNV_OFFSET
    second = _POLY_SEED
    if classes[data[position]] == _MARK:
        byte = np.uint64(data[position])
        first = (first ^ byte) * _FNV_PRIME
        second = (second + byte + np.uint64(1)) * _POLY_MULTIPLIER
        position += 1
    else:
        while position < end:
            kind = classes[data[position]]
            if kind >= _SEPARATOR:  # a separator or a mark ends the word
                break
            byte = _byte_of(np.uint64(data[position]), kind)
            first = (first ^ byte) * _FNV_PRIME
            second = (second + byte + np.uint64(1)) * _POLY_MULTIPLIER
            position += 1
    return start, position, first, second ^ np.uint64(position - start)


@njit(inline="always")
def _probe(
    first: np.uint64, second: np.uint64, table_first: np.ndarray, table_second: np.ndarray, table_hash: np.ndarray
) -> tuple[bool, np.uint64]:  # pragma: no cover - compiled
    slot = _find(first, second, table_first, table_second)
    if table_first[slot] == 0 and table_second[slot] == 0:
        return False, np.uint64(0)
    return True, table_hash[slot]


@njit(nogil=True, cache=True)
def _lookup_tokens(
    data: np.ndarray,
    offsets: np.ndarray,
    classes: np.ndarray,
    table_first: np.ndarray,
    table_second: np.ndarray,
    table_hash: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per token its polars hash from the table, the first token of each text, and per text
    whether a token was missing from the table (the hashes of such a text are incomplete).

    One flat pass per byte: a text has at most one token per byte, so the output is sized by
    the bytes (untouched pages of `np.empty` cost nothing) and trimmed.
    """
    n = offsets.shape[0] - 1
    hashes = np.empty(offsets[n] - offsets[0], np.uint64)
    starts = np.empty(n + 1, np.int64)
    incomplete = np.zeros(n, np.bool_)
    t = 0
    for i in range(n):
        starts[i] = t
        first = _FNV_OFFSET
        second = _POLY_SEED
        length = 0
        end = offsets[i + 1]
        byte = np.uint64(0)
        for position in range(offsets[i], end + 1):
            kind = _SEPARATOR
            if position < end:
                byte = np.uint64(data[position])
                kind = classes[data[position]]
            if kind < _SEPARATOR:  # a word byte
                value = _ZERO if kind == _DIGIT else byte
                first = (first ^ value) * _FNV_PRIME
                second = (second + value + np.uint64(1)) * _POLY_MULTIPLIER
                length += 1
                continue
            if length > 0:
                found, hashes[t] = _probe(first, second ^ np.uint64(length), table_first, table_second, table_hash)
                incomplete[i] |= not found
                t += 1
                first = _FNV_OFFSET
                second = _POLY_SEED
                length = 0
            if kind == _MARK:
                mark_first = (_FNV_OFFSET ^ byte) * _FNV_PRIME
                mark_second = ((_POLY_SEED + byte + np.uint64(1)) * _POLY_MULTIPLIER) ^ np.uint64(1)
                found, hashes[t] = _probe(mark_first, mark_second, table_first, table_second, table_hash)
                incomplete[i] |= not found
                t += 1
    starts[n] = t
    return hashes[:t], starts, incomplete


@njit(nogil=True, cache=True)
def _add_missing(
    data: np.ndarray,
    offsets: np.ndarray,
    classes: np.ndarray,
    starts: np.ndarray,
    texts: np.ndarray,
    hashes: np.ndarray,
    table_first: np.ndarray,
    table_second: np.ndarray,
    table_hash: np.ndarray,
    room: int,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Enter the tokens of `texts` the table lacks, stopping before a text that might take more
    than `room` new entries in all.

    Returns how many texts were done; per new entry, its slot and the start and length of its
    first token; and the tokens waiting for the hash of a new entry (token, entry). Tokens of
    known entries get their hash.
    """
    capacity = 0
    for i in texts:
        capacity += starts[i + 1] - starts[i]
    capacity = min(capacity, room)
    slots = np.empty(capacity, np.int64)
    first_start = np.empty(capacity, np.int64)
    length = np.empty(capacity, np.int64)
    waits_capacity = 0
    for i in texts:
        waits_capacity += starts[i + 1] - starts[i]
    waiting = np.empty(waits_capacity, np.int64)
    waiting_entry = np.empty(waits_capacity, np.int64)
    entries = 0
    waits = 0
    done = 0
    for i in texts:
        if entries + starts[i + 1] - starts[i] > room:
            break
        done += 1
        position, end = offsets[i], offsets[i + 1]
        for k in range(starts[i], starts[i + 1]):
            start, position, first, second = _next_token(data, position, end, classes)
            slot = _find(first, second, table_first, table_second)
            if table_first[slot] == 0 and table_second[slot] == 0:
                table_first[slot] = first
                table_second[slot] = second
                # until polars hashes it, a new entry's hash field holds its entry number
                table_hash[slot] = np.uint64(entries)
                slots[entries] = slot
                first_start[entries] = start
                length[entries] = position - start
                entries += 1
                waiting[waits] = k
                waiting_entry[waits] = entries - 1
                waits += 1
            elif _is_new(slot, slots, entries, table_hash):
                waiting[waits] = k
                waiting_entry[waits] = np.int64(table_hash[slot])
                waits += 1
            else:
                hashes[k] = table_hash[slot]
    return done, slots[:entries], first_start[:entries], length[:entries], waiting[:waits], waiting_entry[:waits]


@njit(inline="always")
def _is_new(slot: np.int64, slots: np.ndarray, entries: int, table_hash: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Whether `slot` was entered by this call (its hash field then holds its entry number)."""
    number = table_hash[slot]
    return number < np.uint64(entries) and slots[np.int64(number)] == slot


@njit(nogil=True, cache=True)
def _token_bytes(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, classes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The bytes of the given tokens as the tokenizer reads them (digits 1-9 as 0), with offsets."""
    offsets = np.zeros(starts.shape[0] + 1, np.int64)
    for k in range(starts.shape[0]):
        offsets[k + 1] = offsets[k] + lengths[k]
    out = np.empty(offsets[-1], np.uint8)
    for k in range(starts.shape[0]):
        for j in range(lengths[k]):
            byte = data[starts[k] + j]
            out[offsets[k] + j] = 48 if classes[byte] == _DIGIT else byte
    return out, offsets


@dataclass
class _Vocabulary:
    """Open-addressing table (power-of-two size, at most half full) of token keys to polars hashes."""

    first: np.ndarray
    second: np.ndarray
    hash: np.ndarray
    size: int = 0


@dataclass(frozen=True)
class TokenHashes:
    """Polars hashes of the tokens of each text, in order: text i owns `hashes[starts[i]:starts[i + 1]]`."""

    hashes: np.ndarray
    starts: np.ndarray


_VOCABULARIES: dict[tuple[bytes, int], _Vocabulary] = {}
_LOCK = threading.Lock()


def token_hashes(texts: pl.Series, classes: np.ndarray, seed: int) -> TokenHashes:
    """The `Series.hash(seed)` of each token of each text (nulls read as empty), split by `classes`."""
    data, offsets = value_buffers(texts.fill_null(""), pa.large_string())
    with _LOCK:
        vocabulary = _VOCABULARIES.setdefault((classes.tobytes(), seed), _Vocabulary(*_empty_tables(1 << 16)))
        hashes, starts, incomplete = _lookup_tokens(
            data, offsets, classes, vocabulary.first, vocabulary.second, vocabulary.hash
        )
        counts = np.diff(starts)
        texts_missing = np.flatnonzero(incomplete)
        while len(texts_missing):
            longest = int(counts[texts_missing].max())
            _reserve(vocabulary, max(longest, vocabulary.size, 1 << 15))
            room = len(vocabulary.first) // 2 - vocabulary.size
            done, slots, first_start, length, waiting, entry = _add_missing(
                data, offsets, classes, starts, texts_missing, hashes,
                vocabulary.first, vocabulary.second, vocabulary.hash, room,
            )
            token_data, token_offsets = _token_bytes(data, first_start, length, classes)
            array = pa.LargeStringArray.from_buffers(len(slots), pa.py_buffer(token_offsets), pa.py_buffer(token_data))
            new_hashes = pl.Series(values=array, dtype=pl.String).hash(seed=seed).to_numpy()
            vocabulary.hash[slots] = new_hashes
            vocabulary.size += len(slots)
            hashes[waiting] = new_hashes[entry]
            texts_missing = texts_missing[done:]
    return TokenHashes(hashes, starts)


def _empty_tables(capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(capacity, np.uint64), np.zeros(capacity, np.uint64), np.zeros(capacity, np.uint64)


def _reserve(vocabulary: _Vocabulary, tokens: int) -> None:
    """Room for `tokens` more entries at most half filling the table; emptied past the limit."""
    if vocabulary.size + tokens > VOCABULARY_LIMIT:
        vocabulary.first, vocabulary.second, vocabulary.hash = _empty_tables(1 << 16)
        vocabulary.size = 0
    needed = 2 * (vocabulary.size + tokens)
    if needed <= len(vocabulary.first):
        return
    used = np.flatnonzero((vocabulary.first != 0) | (vocabulary.second != 0))
    old = (vocabulary.first[used], vocabulary.second[used], vocabulary.hash[used])
    vocabulary.first, vocabulary.second, vocabulary.hash = _empty_tables(1 << int(needed).bit_length())
    _put(*old, vocabulary.first, vocabulary.second, vocabulary.hash)


@njit(nogil=True, cache=True)
def _put(
    first: np.ndarray,
    second: np.ndarray,
    hashes: np.ndarray,
    table_first: np.ndarray,
    table_second: np.ndarray,
    table_hash: np.ndarray,
) -> None:  # pragma: no cover - compiled
    for k in range(first.shape[0]):
        slot = _find(first[k], second[k], table_first, table_second)
        table_first[slot] = first[k]
        table_second[slot] = second[k]
        table_hash[slot] = hashes[k]
