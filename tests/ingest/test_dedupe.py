"""Idempotence: request ids are unique in the store; accounts follow latest-wins."""

from __future__ import annotations

import json

from ingest_records import assert_balanced, good_record

from detector.ingest import ingest_accounts, ingest_files


def test_same_file_twice_stores_nothing_new(con, write_jsonl):
    path = write_jsonl("a.jsonl", [good_record(i) for i in range(20)] + ["junk"])
    [first] = ingest_files(con, [path])
    [second] = ingest_files(con, [path])
    assert (first.stored, first.duplicates, first.quarantined) == (20, 0, 1)
    assert (second.stored, second.duplicates, second.quarantined) == (0, 20, 1)
    assert con.execute("SELECT count(*), count(DISTINCT request_id) FROM requests").fetchone() == (
        20,
        20,
    )
    runs = con.execute("SELECT stored, duplicates FROM ingest_runs ORDER BY run_id").fetchall()
    assert runs == [(20, 0), (0, 20)]


def test_duplicates_inside_one_file_keep_the_first_line(con, write_jsonl):
    records = [
        good_record(1, prompt="first"),
        good_record(2),
        good_record(1, prompt="second"),
        good_record(2),
    ]
    [result] = ingest_files(con, [write_jsonl("d.jsonl", records)])
    assert (result.read, result.stored, result.duplicates) == (4, 2, 2)
    assert con.execute(
        "SELECT prompt FROM requests WHERE request_id = 'req-000001'"
    ).fetchone() == ("first",)


def test_duplicates_across_files_in_one_call(con, write_jsonl):
    a = write_jsonl("a.jsonl", [good_record(i) for i in range(0, 10)])
    b = write_jsonl("b.jsonl", [good_record(i) for i in range(5, 15)])
    first, second = ingest_files(con, [a, b])
    assert (first.stored, second.stored, second.duplicates) == (10, 5, 5)
    assert_balanced(second)
    assert con.execute("SELECT count(DISTINCT request_id), count(*) FROM requests").fetchone() == (
        15,
        15,
    )


def test_a_bad_copy_of_a_stored_id_is_quarantined_not_a_duplicate(con, write_jsonl):
    ingest_files(con, [write_jsonl("a.jsonl", [good_record(1)])])
    [result] = ingest_files(con, [write_jsonl("b.jsonl", [good_record(1, output_tokens=-1)])])
    assert (result.stored, result.duplicates, result.quarantined) == (0, 0, 1)


def account(account_id, **fields):
    record = {
        "account_id": account_id,
        "created_at": "2026-01-05T09:30:00Z",
        "email_domain": "example.edu",
        "payment_fingerprint": "pf-1",
        "country": "DE",
        "signup_ip": "198.51.100.20",
        "org_id": "org-1",
        "tier": "education",
    }
    record.update(fields)
    return {k: v for k, v in record.items() if v is not None}


def test_accounts_are_validated_enriched_and_latest_wins(con, write_jsonl):
    first = write_jsonl(
        "acc1.jsonl",
        [
            account("a1"),
            account("a2", tier="pro"),
            account("a2", tier="team"),
            account("a3", signup_ip="nope"),
            account("a4", created_at="soon"),
            {"tier": "free"},
        ],
    )
    result = ingest_accounts(con, first)
    assert (result.kind, result.read, result.stored, result.duplicates, result.quarantined) == (
        "accounts",
        6,
        2,
        1,
        3,
    )
    reasons = sorted(r for (r,) in con.execute("SELECT reason FROM quarantine").fetchall())
    assert reasons == [
        "invalid signup_ip",
        "missing account_id",
        "unparseable created_at (want RFC 3339 with offset, or epoch seconds or ms)",
    ]
    assert con.execute(
        "SELECT tier, signup_prefix, country FROM accounts WHERE account_id = 'a2'"
    ).fetchone() == ("team", "198.51.100.0/24", "DE")

    second = write_jsonl(
        "acc2.jsonl", [account("a1"), account("a2", tier="enterprise", extra_field=1)]
    )
    again = ingest_accounts(con, second)
    assert (again.stored, again.duplicates) == (1, 1)  # a1 unchanged, a2 updated
    rows = con.execute(
        "SELECT account_id, tier, extra FROM accounts ORDER BY account_id"
    ).fetchall()
    assert [(a, t) for a, t, _ in rows] == [("a1", "education"), ("a2", "enterprise")]
    assert json.loads(rows[1][2]) == {"extra_field": 1}


def test_account_without_signup_ip_is_stored(con, write_jsonl):
    result = ingest_accounts(
        con, write_jsonl("a.jsonl", [account("solo", signup_ip=None, created_at=None)])
    )
    assert result.stored == 1
    assert con.execute("SELECT signup_prefix, created_at FROM accounts").fetchone() == (None, None)
