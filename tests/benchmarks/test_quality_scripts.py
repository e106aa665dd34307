"""The quality benchmark scripts' pure parts: world specs, the per-world table, daily latency."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

X = "\N{MULTIPLICATION SIGN}"  # "size X 0.3" in the knobs column


@pytest.fixture(scope="module")
def worlds(quality_worlds_script: ModuleType) -> ModuleType:
    return quality_worlds_script


@pytest.fixture(scope="module")
def daily(quality_daily_script: ModuleType) -> ModuleType:
    return quality_daily_script


# --- world specs ---------------------------------------------------------------------------


def test_parse_world_defaults(worlds: ModuleType) -> None:
    spec = worlds.parse_world("s1:1")
    assert (spec.name, spec.seed, spec.size, spec.share, spec.own, spec.days, spec.packages) == (
        "s1", 1, 1.0, 1.0, False, None, True
    )
    assert spec.describe() == "default"


def test_parse_world_every_knob(worlds: ModuleType) -> None:
    spec = worlds.parse_world("n71:71:share=2, own=true,days=21,packages=false")
    assert spec.seed == 71 and spec.share == 2.0 and spec.size == 1.0
    assert spec.own is True and spec.days == 21 and spec.packages is False
    # The wording of the knobs column of docs/quality.md.
    assert spec.describe() == f"share {X}2, resellers' own system prompts, 21 days, bundled prompts only"
    assert worlds.parse_world("n67:67:size=0.3,share=0.3").describe() == f"size {X}0.3, share {X}0.3"


@pytest.mark.parametrize(
    "text",
    [
        "s1",  # no seed
        "s1:one",  # seed not a number
        ":1",  # no name
        "a/b:1",  # a path, not a directory name
        "s1:1:size",  # not KEY=VALUE
        "s1:1:colour=red",  # unknown key
        "s1:1:own=maybe",  # not a boolean
        "s1:1:size=0",  # not positive
        "s1:1:days=0",
        "s1:1:size=2,size=3",  # twice
    ],
)
def test_parse_world_rejects(worlds: ModuleType, text: str) -> None:
    with pytest.raises(ValueError):
        worlds.parse_world(text)


# --- the per-world table -------------------------------------------------------------------


def _population(kind: str, accounts: int, flagged: int) -> dict[str, Any]:
    return {"kind": kind, "accounts": accounts, "flagged": flagged,
            "false_positive_rate": flagged / accounts}


def _report() -> dict[str, Any]:
    """The shape of `distillguard evaluate --json` (distillguard.evaluate/1), cut down.

    300 attack accounts: 270 flagged (30 missed), 10 benign flagged (6 of 8 batch jobs, 4 of
    1,000 casual users). Precision 270/280, recall 270/300.
    """
    precision, recall = 270 / 280, 270 / 300
    return {
        "schema": "distillguard.evaluate/1",
        "scan": {
            "method": "scan", "flagged": 280, "true_positives": 270, "false_positives": 10,
            "false_negatives": 30, "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall),
            "populations": [
                _population("casual", 1000, 4),
                _population("batch_job", 8, 6),
                _population("api_router", 2, 0),
            ],
        },
        "campaigns": [
            {"label": "campaign-01", "kind": "hydra", "accounts": 280, "alerted": True},
            {"label": "campaign-02", "kind": "reseller", "accounts": 1, "alerted": False},
            {"label": "campaign-03", "kind": "targeted", "accounts": 19, "alerted": True},
        ],
        "alert_summary": {"alerts": 3, "purity_min": 0.8, "campaigns": 3, "campaigns_alerted": 2},
        "baselines": [
            {"method": "top_k_volume", "f1": 0.25},
            {"method": "isolation_forest", "f1": 0.4},
            {"method": "cot_keyword", "f1": None},  # undefined figures are null in the JSON
        ],
    }


def test_table_row_from_evaluate_json(worlds: ModuleType) -> None:
    row = worlds.table_row("w9", f"size {X}2", "after", _report())
    assert len(row) == len(worlds.TABLE_HEADER)
    cells = dict(zip(worlds.TABLE_HEADER, row, strict=True))
    # P = 270/280 = 0.964, R = 0.9, F1 = 2PR/(P+R) = 0.931.
    assert cells["P / R / F1"] == "0.964 / 0.900 / 0.931"
    assert cells["campaigns alerted"] == "2/3 (missed campaign-02: reseller, 1 account)"
    # 6 of 8 batch jobs (75 %) is worse than 4 of 1,000 casual users (0.4 %).
    assert cells["worst benign FPR"] == "75.0 % (batch_job 6/8)"
    assert cells["min alert purity"] == "0.800"
    # (1 - 0.931) / (1 - 0.4): the isolation forest is the best baseline.
    f1 = 2 * (270 / 280) * 0.9 / (270 / 280 + 0.9)
    assert cells["errors ÷ best baseline"] == f"{(1 - f1) / 0.6:.3f}" == "0.115"
    assert cells["FP / FN"] == "10 / 30"


def test_table_row_edge_cases(worlds: ModuleType) -> None:
    report = _report()
    for population in report["scan"]["populations"]:
        population.update(flagged=0, false_positive_rate=0.0)
    report["alert_summary"]["purity_min"] = None
    report["baselines"][2]["f1"] = 1.0
    cells = dict(zip(worlds.TABLE_HEADER, worlds.table_row("w", "default", "r", report), strict=True))
    assert cells["worst benign FPR"] == "0.0 %"
    assert cells["min alert purity"] == "n/a (no alert)"
    assert cells["errors ÷ best baseline"] == "n/a (cot_keyword has F1 1.0)"


def test_quality_table_reads_the_world_folders(worlds: ModuleType, tmp_path: Path) -> None:
    recorded = {"scale": "small", "name": "n67", "seed": 67, "size": 0.3, "share": 0.3,
                "own": True, "days": None, "packages": True}
    (tmp_path / "n67").mkdir()
    (tmp_path / "n67" / "world.json").write_text(json.dumps(recorded))
    (tmp_path / "n67" / "after.json").write_text(json.dumps(_report()))
    (tmp_path / "s1").mkdir()  # simulated but not evaluated: skipped
    table = worlds.quality_table(tmp_path, ["n67", "s1"], "after").splitlines()
    assert len(table) == 3  # header, alignment, one world
    assert table[2].startswith(
        f"| n67 | size {X}0.3, share {X}0.3, resellers' own system prompts | after | 0.964 / 0.900 / 0.931 |"
    )


# --- daily scans ---------------------------------------------------------------------------


def test_latency_counts_days_of_data(daily: ModuleType) -> None:
    starts = {"campaign-01": ("hydra", 1), "campaign-04": ("reseller", 3), "campaign-05": ("targeted", 2)}
    rows = daily.latency_rows(starts, {"campaign-01": 1, "campaign-04": 3}, {"campaign-01": 1, "campaign-04": 4})
    by_label = {r["campaign"]: r for r in rows}
    assert [r["campaign"] for r in rows] == ["campaign-01", "campaign-04", "campaign-05"]
    assert by_label["campaign-01"]["days_of_data_when_alerted"] == 1  # alerted on its first day
    # Starts on day 3, alerted after the scan of day 4: two days of its traffic.
    assert by_label["campaign-04"]["days_of_data_when_alerted"] == 2
    assert by_label["campaign-04"]["first_flagged_day"] == 3
    assert by_label["campaign-05"]["first_alerted_day"] is None
    assert by_label["campaign-05"]["days_of_data_when_alerted"] is None


def test_compare_daily_with_full(daily: ModuleType) -> None:
    members = frozenset({"a1", "a2"})
    full = daily.ScanState(campaigns={"cmp-1": (members, True, "new")}, flagged=frozenset({"a1", "a2"}))
    same = daily.ScanState(campaigns={"cmp-1": (members, True, "new")}, flagged=frozenset({"a1", "a2"}))
    result = daily.compare(same, full, {})
    assert result["same_campaign_member_sets_and_alerts"] and result["same_campaign_statuses"]
    assert result["same_campaign_ids"] and result["same_flagged_accounts"]

    # Same members under another id, closed, and one more flagged account (a benign user).
    renamed = daily.ScanState(
        campaigns={"cmp-9": (members, True, "closed")}, flagged=frozenset({"a1", "a2", "b7"})
    )
    result = daily.compare(renamed, full, {"b7": ("benign", "casual")})
    assert result["same_campaign_member_sets_and_alerts"]
    assert not result["same_campaign_statuses"]
    assert not result["same_campaign_ids"]
    assert not result["same_flagged_accounts"]
    assert result["flagged_accounts_that_differ"] == [
        {"account_id": "b7", "flagged_by": "daily", "label": "benign", "kind": "casual"}
    ]
    assert renamed.alerted_members() == {"a1", "a2"}
    assert daily.labels_hit({"a1", "b7"}, {"a1": "campaign-01"}) == {"campaign-01"}
