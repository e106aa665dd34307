"""Point lookups of sample prompts split over threads give what one connection gives."""

from datetime import UTC, datetime, timedelta

import pytest

from detector import store
from detector.review.prompts import MIN_LOOKUPS_PER_THREAD, fetch_prompts


@pytest.fixture
def con(tmp_path):
    con = store.connect(tmp_path / "prompts.duckdb")
    start = datetime(2026, 5, 1, tzinfo=UTC)
    rows = [
        (f"req-{i:04d}", start + timedelta(minutes=i), f"acct-{i % 7}", "10.0.0.1",
         f"model-{i % 3}", f"prompt number {i} " + "x" * (i % 50), 1)
        for i in range(300)
    ]
    con.executemany(
        'INSERT INTO requests (request_id, "timestamp", account_id, client_ip, model, prompt,'
        " ingest_run_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    yield con, rows
    con.close()


def test_threaded_lookups_match_serial_ones_in_pointer_order(con):
    con, rows = con
    pointers = [(r[0], r[1]) for r in rows[::-3]]  # out of store order
    pointers.append(("req-missing", rows[0][1]))    # a pointer that finds nothing
    pointers.append(pointers[0])                    # and a repeated one
    assert len(pointers) >= 2 * MIN_LOOKUPS_PER_THREAD
    serial = fetch_prompts(con, pointers, chars=20)
    threaded = fetch_prompts(con, pointers, chars=20, threads=2)
    assert threaded == serial
    assert list(threaded) == list(serial)
    assert "req-missing" not in threaded and len(threaded) == len(rows[::-3])
    rid = pointers[1][0]
    index = int(rid.removeprefix("req-"))
    assert threaded[rid] == ((f"prompt number {index} " + "x" * (index % 50))[:20], f"model-{index % 3}")


def test_few_lookups_stay_on_the_callers_connection(con):
    con, rows = con
    pointers = [(r[0], r[1]) for r in rows[:5]]
    assert fetch_prompts(con, pointers, threads=4) == fetch_prompts(con, pointers)
