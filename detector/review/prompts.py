"""Sample prompts for the review pages, fetched by point lookups instead of copied at scan time.

The review tables keep (request_id, timestamp) pointers. A lookup filters `requests` on the
timestamp first: the store is appended in arrival order, so DuckDB's zone maps on the timestamp
skip all but a row group or two, and the prompt column is read only there (about 10 ms a
request on a 10 M-request store, where copying every account's samples meant reading every
prompt of the store at each scan).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import duckdb

SAMPLE_CHARS = 600  # prompt excerpt length shown per sample
MIN_LOOKUPS_PER_THREAD = 16  # fewer lookups than this per extra thread run on the caller's

_LOOKUP_SQL = """
SELECT left(prompt, $chars), model FROM requests
WHERE "timestamp" = $ts AND request_id = $id
LIMIT 1
"""


def fetch_prompts(
    con: duckdb.DuckDBPyConnection,
    pointers: Iterable[tuple[str, datetime]],
    *,
    chars: int = SAMPLE_CHARS,
    threads: int = 1,
) -> dict[str, tuple[str, str]]:
    """Request id -> (first `chars` characters of the prompt, model) for each
    (request_id, timestamp) found, in the pointers' order.

    `threads` > 1 splits many lookups over that many connections (each lookup decompresses a
    row group on one core); call it outside an open transaction, whose writes they would not see.
    """
    pointers = list(pointers)
    threads = min(threads, len(pointers) // MIN_LOOKUPS_PER_THREAD)
    if threads <= 1:
        return _lookup(con, pointers, chars)
    cursors = [con.cursor() for _ in range(threads)]
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="dg-prompts") as pool:
            parts = list(pool.map(
                lambda i: _lookup(cursors[i], pointers[i::threads], chars), range(threads)
            ))
    finally:
        for cursor in cursors:
            cursor.close()
    merged = {rid: found for part in parts for rid, found in part.items()}
    return {rid: merged[rid] for rid, _ in pointers if rid in merged}


def _lookup(
    con: duckdb.DuckDBPyConnection, pointers: Sequence[tuple[str, datetime]], chars: int
) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for request_id, ts in pointers:
        rows = con.execute(_LOOKUP_SQL, {"chars": chars, "ts": ts, "id": request_id}).fetchall()
        if rows:
            found[request_id] = (str(rows[0][0]), str(rows[0][1]))
    return found
