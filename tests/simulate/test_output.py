"""Output files: determinism, the data contract, truth coverage, formats and the command line."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from detector.cli import app
from detector.errors import DistillguardError
from detector.simulate import simulate

REQUIRED = ("request_id", "timestamp", "account_id", "client_ip", "model", "prompt")
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_same_seed_writes_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate(a, seed=5, scale="tiny", days=3, use_packages=False)
    simulate(b, seed=5, scale="tiny", days=3, use_packages=False)
    simulate(c, seed=6, scale="tiny", days=3, use_packages=False)
    assert _files(a) == _files(b)
    assert set(_files(a)) == {"requests.jsonl", "accounts.jsonl", "truth.csv", "manifest.json"}
    for name in ("requests.jsonl", "accounts.jsonl", "truth.csv"):
        assert _files(a)[name] != _files(c)[name]


def test_every_record_follows_the_contract(tiny: Any) -> None:
    assert len(tiny.raw_lines) == tiny.summary.requests > 2000
    ids = set()
    for line in tiny.raw_lines:
        rec = json.loads(line)
        for field in REQUIRED:
            assert isinstance(rec[field], str) and rec[field], (field, rec)
        assert RFC3339_Z.match(rec["timestamp"]), rec["timestamp"]
        datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00"))
        ipaddress.ip_address(rec["client_ip"])
        for field in ("input_tokens", "output_tokens", "status_code"):
            assert isinstance(rec[field], int) and rec[field] >= 0
        if rec["messages"] is not None:
            assert len(rec["messages"]) >= 2
            assert all(
                set(m) == {"role", "content"} and isinstance(m["content"], str)
                for m in rec["messages"]
            )
            assert rec["messages"][-1] == {"role": "user", "content": rec["prompt"]}
        if rec["tools"] is not None:
            assert all(
                isinstance(t, dict) and t["name"] and "input_schema" in t for t in rec["tools"]
            )
        ids.add(rec["request_id"])
    assert len(ids) == len(tiny.raw_lines)


def test_realistic_fields(tiny: Any) -> None:
    r = tiny.requests
    assert r["ts"].is_sorted()
    assert r["ts"].min() >= datetime.fromisoformat(tiny.summary.start)
    statuses = set(r["status_code"].unique().to_list())
    assert {200, 429} <= statuses and statuses & {500, 502, 503, 529}
    assert r.filter(pl.col("status_code") != 200)["output_tokens"].max() == 0
    assert 0.1 < r["messages"].is_not_null().mean() < 0.9
    assert 0.1 < r["tools"].is_not_null().mean() < 0.9
    assert r["client_ip"].str.contains(":").any()  # some IPv6


def test_truth_covers_every_account(tiny: Any) -> None:
    truth_ids = set(tiny.truth["account_id"].to_list())
    assert set(tiny.requests["account_id"].unique().to_list()) <= truth_ids
    assert set(tiny.accounts["account_id"].to_list()) == truth_ids
    assert tiny.truth["account_id"].is_unique().all()
    labels = set(tiny.truth["label"].to_list())
    assert "benign" in labels
    assert all(lbl == "benign" or re.fullmatch(r"campaign-\d{2}", lbl) for lbl in labels)
    kinds = set(tiny.truth["kind"].to_list())
    assert {
        "casual",
        "power_user",
        "coding_agent",
        "batch_job",
        "eval_harness",
        "university_nat",
        "company_nat",
        "api_router",
        "hydra",
        "reasoning_traces",
        "low_and_slow",
        "reseller",
        "targeted",
    } <= kinds


def test_accounts_follow_contract(tiny: Any) -> None:
    a = tiny.accounts
    assert a.columns == [
        "account_id",
        "created_at",
        "email_domain",
        "payment_fingerprint",
        "country",
        "signup_ip",
        "org_id",
        "tier",
    ]
    assert a["created_at"].str.contains(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$").all()
    assert {"free", "pro", "education", "research", "startup", "enterprise", "team"} <= set(
        a["tier"].to_list()
    )
    for ip in a["signup_ip"].drop_nulls().to_list():
        ipaddress.ip_address(ip)


def test_no_request_before_its_account_signed_up(tiny: Any) -> None:
    created = tiny.accounts.select(
        "account_id",
        created=pl.col("created_at").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC"),
    )
    joined = tiny.requests.join(created, on="account_id")
    assert joined.height == tiny.requests.height
    assert (joined["ts"] >= joined["created"]).all()


def test_no_label_leaks_into_records(tiny: Any) -> None:
    text = "\n".join(tiny.raw_lines).lower()
    for word in ("campaign", "hydra", "low_and_slow", "attacker", "distill", "malicious"):
        assert word not in text
    assert tiny.requests["account_id"].str.contains(r"^acct_[0-9a-f]{16}$").all()
    assert tiny.requests["request_id"].str.contains(r"^req_[0-9a-f]{24}$").all()


def test_parquet_holds_the_same_requests(tmp_path: Path) -> None:
    simulate(tmp_path / "j", seed=3, scale="tiny", days=2, use_packages=False)
    simulate(tmp_path / "p", seed=3, scale="tiny", days=2, parquet=True, use_packages=False)
    j = pl.read_ndjson(tmp_path / "j" / "requests.jsonl")
    p = pl.read_parquet(tmp_path / "p" / "requests.parquet")
    assert p.columns == j.columns
    assert p["request_id"].to_list() == j["request_id"].to_list()
    assert p["prompt"].to_list() == j["prompt"].to_list()
    tools = p["tools"].drop_nulls()
    assert tools.len() > 0 and isinstance(json.loads(tools[0]), list)


def test_max_requests_stops_early(tmp_path: Path) -> None:
    s = simulate(tmp_path, seed=1, scale="tiny", max_requests=500, use_packages=False)
    assert s.requests == 500
    assert len((tmp_path / "requests.jsonl").read_text().splitlines()) == 500


def test_unknown_scale_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(DistillguardError):
        simulate(tmp_path, scale="huge")


def test_cli_writes_files_and_reports_bad_output(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "sim"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--out",
            str(out),
            "--scale",
            "tiny",
            "--days",
            "2",
            "--seed",
            "4",
            "--bundled-prompts",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "requests" in result.output
    assert (out / "requests.jsonl").stat().st_size > 0 and (out / "truth.csv").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    bad = runner.invoke(
        app,
        [
            "simulate",
            "--out",
            str(blocker / "sub"),
            "--scale",
            "tiny",
            "--days",
            "1",
            "--bundled-prompts",
        ],
    )
    assert bad.exit_code == 3
