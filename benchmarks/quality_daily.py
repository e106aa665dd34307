"""Daily incremental scans of one simulated world: detection latency per campaign, and the final
daily result compared with one full scan of the same traffic.

The simulation is cut into one Parquet file per UTC day (`incremental.py`'s `simulate_once`
and `split_days`, same files). One store ingests a day and is scanned (`run_scan`, in this
process), day after day; after each scan the script records which true campaigns have an
account flagged and which have an alert holding any of their accounts. A second store then
ingests every day at once and is scanned once. Printed as JSON (also written to
`ROOT/daily_check.json`): per campaign its first day of traffic, the day it was first flagged
and first alerted (1 = the first simulated day); the two results compared on campaign member
sets with their alert flags and statuses, campaign ids and flagged accounts (the accounts
that differ, with their true label).

    .venv/bin/python benchmarks/quality_daily.py --scale small --days 10 --seed 1 --root DIR
    .venv/bin/python benchmarks/quality_daily.py --scale tiny --seed 4 --root DIR
    .venv/bin/python benchmarks/quality_daily.py --sim SIMDIR --root DIR   # an existing simulation
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from incremental import simulate_once, split_days


@dataclass(frozen=True)
class ScanState:
    """What a scanned store holds: campaigns (members, alerted, status) and flagged accounts."""

    campaigns: dict[str, tuple[frozenset[str], bool, str]]
    flagged: frozenset[str]

    def alerted_members(self) -> set[str]:
        return {a for members, alerted, _ in self.campaigns.values() if alerted for a in members}


def read_state(db: Path) -> ScanState:
    """The campaigns and flagged accounts of the store's last scan."""
    from detector import store

    con = store.connect(db, read_only=True)
    try:
        campaigns = con.execute("SELECT campaign_id, alerted, status FROM campaigns").fetchall()
        members = con.execute("SELECT campaign_id, account_id FROM campaign_accounts").fetchall()
        flagged = con.execute("SELECT account_id FROM account_scores WHERE flagged").fetchall()
    finally:
        con.close()
    by_campaign: dict[str, set[str]] = {}
    for campaign_id, account_id in members:
        by_campaign.setdefault(campaign_id, set()).add(account_id)
    return ScanState(
        campaigns={
            cid: (frozenset(by_campaign.get(cid, ())), bool(alerted), str(status))
            for cid, alerted, status in campaigns
        },
        flagged=frozenset(r[0] for r in flagged),
    )


def labels_hit(accounts: set[str] | frozenset[str], label_of: dict[str, str]) -> set[str]:
    """The true campaign labels (not benign) with at least one of `accounts`."""
    return {label_of[a] for a in accounts if a in label_of}


def campaign_starts(requests: Path, truth: Path, first_day: date) -> dict[str, tuple[str, int]]:
    """Per true campaign label: its kind and the day (1 = `first_day`) of its first request."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            """
            SELECT t.label, any_value(t.kind),
                   min(CAST(CAST(r."timestamp" AS TIMESTAMPTZ) AS DATE))
            FROM read_parquet(?) r JOIN read_csv(?, header = true) t USING (account_id)
            WHERE t.label <> 'benign'
            GROUP BY 1
            """,
            [str(requests), str(truth)],
        ).fetchall()
    finally:
        con.close()
    return {label: (kind, (day - first_day).days + 1) for label, kind, day in rows}


def latency_rows(
    starts: dict[str, tuple[str, int]], first_flagged: dict[str, int], first_alerted: dict[str, int]
) -> list[dict[str, Any]]:
    """Per campaign: start day, first flagged and alerted day, days of data when alerted."""
    rows = []
    for label in sorted(starts):
        kind, start = starts[label]
        alerted = first_alerted.get(label)
        rows.append({
            "campaign": label, "kind": kind, "start_day": start,
            "first_flagged_day": first_flagged.get(label), "first_alerted_day": alerted,
            "days_of_data_when_alerted": None if alerted is None else alerted - start + 1,
        })
    return rows


def compare(daily: ScanState, full: ScanState, truth_of: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The final daily result against the full scan's."""
    def shapes(state: ScanState) -> set[tuple[frozenset[str], bool, str]]:
        return set(state.campaigns.values())

    differ = sorted(daily.flagged ^ full.flagged)
    return {
        "campaigns_daily": len(daily.campaigns), "campaigns_full": len(full.campaigns),
        "same_campaign_member_sets_and_alerts": {(m, a) for m, a, _ in shapes(daily)}
        == {(m, a) for m, a, _ in shapes(full)},
        "same_campaign_statuses": shapes(daily) == shapes(full),
        "same_campaign_ids": set(daily.campaigns) == set(full.campaigns),
        "flagged_daily": len(daily.flagged), "flagged_full": len(full.flagged),
        "same_flagged_accounts": daily.flagged == full.flagged,
        "flagged_accounts_that_differ": [
            {"account_id": a, "flagged_by": "daily" if a in daily.flagged else "full",
             "label": truth_of.get(a, ("?", "?"))[0], "kind": truth_of.get(a, ("?", "?"))[1]}
            for a in differ[:50]
        ],
    }


def _reset(db: Path) -> None:
    db.unlink(missing_ok=True)
    db.with_name(db.name + ".wal").unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "large"])
    parser.add_argument("--days", type=int, default=None, help="days to simulate (default: the scale's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sim", type=Path, default=None,
                        help="use this simulation (requests.parquet, accounts.jsonl, truth.csv) "
                             "instead of simulating")
    parser.add_argument("--root", type=Path, default=Path("/tmp/quality-daily"))
    parser.add_argument("--nice", type=int, default=10, help="niceness of this process")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    import polars as pl

    from detector import store
    from detector.ingest import ingest_accounts, ingest_files
    from detector.scan import run_scan
    from detector.simulate.scales import SCALES

    args.root.mkdir(parents=True, exist_ok=True)
    if args.sim is not None:
        directory = args.sim
    else:
        directory = simulate_once(args.root, args.scale, args.days or SCALES[args.scale].days, args.seed)
    days = split_days(directory / "requests.parquet", args.root / f"{directory.name}-days")
    truth = pl.read_csv(directory / "truth.csv")
    attack = truth.filter(pl.col("label") != "benign")
    label_of = dict(attack.select("account_id", "label").iter_rows())
    truth_of = {a: (lab, kind) for a, lab, kind in truth.select("account_id", "label", "kind").iter_rows()}

    daily_db, full_db = args.root / "daily.duckdb", args.root / "full.duckdb"
    _reset(daily_db)
    _reset(full_db)
    first_flagged: dict[str, int] = {}
    first_alerted: dict[str, int] = {}
    per_day = []
    for number, (day, path) in enumerate(days, start=1):
        con = store.connect(daily_db)
        try:
            ingest_files(con, [path])
            if number == 1:
                ingest_accounts(con, directory / "accounts.jsonl")
        finally:
            con.close()
        started = time.perf_counter()
        run_scan(daily_db)
        state = read_state(daily_db)
        flagged, alerted = labels_hit(state.flagged, label_of), labels_hit(state.alerted_members(), label_of)
        for label in flagged:
            first_flagged.setdefault(label, number)
        for label in alerted:
            first_alerted.setdefault(label, number)
        per_day.append({
            "day": number, "date": str(day), "scan_s": round(time.perf_counter() - started, 1),
            "flagged_accounts": len(state.flagged), "alerted": sorted(alerted),
        })
        print(json.dumps(per_day[-1]), file=sys.stderr, flush=True)

    con = store.connect(full_db)
    try:
        ingest_files(con, [p for _, p in days])
        ingest_accounts(con, directory / "accounts.jsonl")
    finally:
        con.close()
    run_scan(full_db)
    starts = campaign_starts(directory / "requests.parquet", directory / "truth.csv", days[0][0])
    result = {
        "simulation": str(directory), "days": len(days),
        "latency": latency_rows(starts, first_flagged, first_alerted),
        **compare(read_state(daily_db), read_state(full_db), truth_of),
        "per_day": per_day,
    }
    (args.root / "daily_check.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "per_day"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
