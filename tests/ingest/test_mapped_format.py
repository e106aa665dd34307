"""Column mappings: `--map`, `--map-file`, derived request ids, and the Glasswally peer dataset."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from detector import store
from detector.cli import app
from detector.errors import InputError
from detector.evaluate.stored_truth import truth_from_store
from detector.ingest.mapping import load_mapping, parse_map_options
from detector.ingest.sources import SourceOptions, ingest_sources
from detector.paths import data_dir

GLASSWALLY = (
    Path(__file__).resolve().parents[3] / "shared" / "external" / "glasswally" / "labeled_5k.jsonl"
)
MAPPING = data_dir() / "mappings" / "glasswally.yaml"


def _peer_rows() -> list[dict[str, object]]:
    """Records shaped like Glasswally's (no request id, a per-request campaign label)."""
    rows = []
    for i in range(6):
        rows.append(
            {
                "account_id": f"sk-{i % 3}",
                "timestamp": f"2026-02-27T20:08:{10 + i:02d}.5+00:00",
                "model": "gpt-4o",
                "prompt": f"Think step by step: question {i}",
                "system_prompt": None,
                "token_count": 10 + i,
                "client_ip": f"203.0.113.{i + 1}",
                "asn_number": 16509,
                "user_agent": "aiohttp/3.9.1",
                "campaign_label": "campaign_0001" if i % 3 == 0 else None,
            }
        )
    return rows


def test_glasswally_mapping_ingests_with_derived_ids_and_labels(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "peer.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _peer_rows()))
    options = SourceOptions(mapping=load_mapping(MAPPING))
    first = ingest_sources(con, [path], options)[0].result
    assert (first.format, first.stored, first.quarantined) == ("jsonl+map", 6, 0)
    ids = [row[0] for row in con.sql("SELECT request_id FROM requests").fetchall()]
    assert all(i.startswith("dg-") and len(i) == 35 for i in ids) and len(set(ids)) == 6
    again = ingest_sources(con, [path], options)[0].result  # derived ids are stable: a no-op
    assert (again.stored, again.duplicates) == (0, 6)
    assert con.sql("SELECT sum(input_tokens) FROM requests").fetchall() == [(75,)]
    truth = truth_from_store(con, "campaign_label")
    labels = dict(zip(truth["account_id"], truth["label"], strict=True))
    assert labels == {"sk-0": "campaign_0001", "sk-1": "benign", "sk-2": "benign"}


def test_derived_id_follows_the_identifying_fields(tmp_path: Path) -> None:
    rows = _peer_rows()[:2]
    moved = dict(rows[0], asn_number=1)  # not an identifying field: same id
    path = tmp_path / "peer.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*rows, moved]))
    con = store.connect(tmp_path / "s.duckdb")
    try:
        result = ingest_sources(con, [path], SourceOptions(mapping=load_mapping(MAPPING)))[0].result
    finally:
        con.close()
    assert (result.stored, result.duplicates) == (2, 1)


def test_map_options_on_csv_and_parquet(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["r1", "r2"],
            "ts": ["2026-03-01T12:00:00Z", "2026-03-01T12:00:05Z"],
            "customer": ["c1", "c2"],
            "ip": ["198.51.100.1", "198.51.100.2"],
            "engine": ["m", "m"],
            "text": ["hello", "world"],
            "prompt": ["not the prompt", "neither"],
            "tokens_in": [3, 4],
        }
    )
    mapping = parse_map_options(
        [
            "request_id=id",
            "timestamp=ts",
            "account_id=customer",
            "client_ip=ip",
            "model=engine",
            "prompt=text",
            "input_tokens=tokens_in",
        ]
    )
    pq.write_table(table, tmp_path / "logs.parquet")
    table.to_pandas().to_csv(tmp_path / "logs.csv", index=False)
    parquet = ingest_sources(con, [tmp_path / "logs.parquet"], SourceOptions(mapping=mapping))[
        0
    ].result
    assert (parquet.format, parquet.stored, parquet.quarantined) == ("parquet+map", 2, 0)
    rows = con.sql(
        "SELECT request_id, prompt, input_tokens, extra FROM requests ORDER BY request_id"
    ).fetchall()
    assert [r[:3] for r in rows] == [("r1", "hello", 3), ("r2", "world", 4)]
    assert json.loads(rows[0][3]) == {"original_prompt": "not the prompt"}
    csv = ingest_sources(con, [tmp_path / "logs.csv"], SourceOptions(mapping=mapping))[0].result
    # the same requests as CSV: read through the same mapping, they are duplicates
    assert (csv.format, csv.stored, csv.duplicates, csv.quarantined) == ("csv+map", 0, 2, 0)


def test_bad_mappings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a canonical field"):
        parse_map_options(["promt=text"])
    with pytest.raises(InputError, match="FIELD=COLUMN"):
        parse_map_options(["prompt"])
    bad = tmp_path / "m.yaml"
    bad.write_text("fields: {prompt: text}\nderive_request_id: 3\n")
    with pytest.raises(InputError, match="derive_request_id"):
        load_mapping(bad)


@pytest.mark.skipif(not GLASSWALLY.exists(), reason="peer dataset not present")
def test_glasswally_peer_dataset_through_the_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "gw.duckdb")
    outcome = CliRunner().invoke(
        app, ["ingest", str(GLASSWALLY), "--map-file", str(MAPPING), "--db", db]
    )
    assert outcome.exit_code == 0, outcome.output
    assert "read 5,000  stored 5,000  duplicates 0  quarantined 0" in outcome.output
    con = store.connect(db, read_only=True)
    try:
        truth = truth_from_store(con, "campaign_label")
    finally:
        con.close()
    # loggen.py: 5 campaigns of up to 6 accounts each, benign traffic from about 200 accounts
    assert truth.filter(truth["is_attack"]).height == 30
    assert truth["label"].n_unique() == 6


def test_evaluate_reads_truth_from_the_stored_label(tmp_path: Path) -> None:
    path = tmp_path / "peer.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _peer_rows()))
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    ingest = ["ingest", str(path), "--map", "input_tokens=token_count"]
    derive = ["--map", "request_id=@derive:account_id,timestamp,prompt", "--db", db]
    assert runner.invoke(app, [*ingest, *derive]).exit_code == 0
    assert runner.invoke(app, ["scan", "--db", db]).exit_code == 0
    both = runner.invoke(
        app, ["evaluate", "--truth", "t.csv", "--truth-from-store", "x", "--db", db]
    )
    assert both.exit_code == 2
    missing = runner.invoke(app, ["evaluate", "--truth-from-store", "no_such_label", "--db", db])
    assert missing.exit_code == 3
    outcome = runner.invoke(
        app,
        [
            "evaluate",
            "--truth-from-store",
            "campaign_label",
            "--json",
            str(tmp_path / "e.json"),
            "--db",
            db,
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    figures = json.loads((tmp_path / "e.json").read_text())
    assert figures["truth_source"] == "store:campaign_label"
    coverage = figures["coverage"]
    assert (coverage["attack_accounts"], coverage["benign_accounts"]) == (1, 2)
    assert [c["label"] for c in figures["campaigns"]] == ["campaign_0001"]
