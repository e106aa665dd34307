"""Campaigns have the structure of DOMAIN.md, and their parameters change with the seed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from detector.simulate import simulate


def _campaign(tiny: Any, kind: str) -> pl.DataFrame:
    return tiny.kind(kind)


def _slash24(ip: pl.Expr) -> pl.Expr:
    return ip.str.extract(r"^(\d+\.\d+\.\d+)\.", 1)


def test_hydra_spreads_over_many_accounts_through_few_blocks(tiny: Any) -> None:
    hydra = _campaign(tiny, "hydra")
    per_account = hydra.group_by("account_id").agg(
        pl.len(), pl.col("client_ip").n_unique().alias("ips")
    )
    assert per_account.height >= 10
    blocks = hydra.select(_slash24(pl.col("client_ip"))).to_series().n_unique()
    assert blocks <= 5
    assert per_account["ips"].median() >= 2  # rotating proxies
    # Load-balanced: no account carries a large share.
    assert per_account["len"].max() / hydra.height < 0.25
    assert hydra["tools"].is_not_null().mean() > 0.8


def test_hydra_moves_to_the_new_model_within_a_day(tiny: Any) -> None:
    release = datetime.fromisoformat(tiny.summary.release)
    new = tiny.summary.new_model
    window = (pl.col("ts") >= release + timedelta(hours=20)) & (
        pl.col("ts") < release + timedelta(hours=44)
    )
    hydra = _campaign(tiny, "hydra").filter(window)
    casual = tiny.kind("casual").filter(window)
    assert hydra.height > 20
    hydra_share = (hydra["model"] == new).mean()
    assert hydra_share >= 0.3
    assert hydra_share > 2 * (casual["model"] == new).mean()
    before = _campaign(tiny, "hydra").filter(pl.col("ts") < release)
    assert (before["model"] == new).sum() == 0


def test_reasoning_campaign_elicits_traces_in_synchronized_bursts(tiny: Any) -> None:
    rt = _campaign(tiny, "reasoning_traces")
    assert rt.height > 50
    n_accounts = rt["account_id"].n_unique()
    windows = rt.group_by(pl.col("ts").dt.truncate("15m")).agg(
        pl.col("account_id").n_unique(), pl.len()
    )
    together = windows.filter(pl.col("account_id") >= max(2, n_accounts // 2))
    assert (
        together["len"].sum() / rt.height > 0.6
    )  # most traffic in windows shared by most accounts
    busiest = windows
    assert (
        rt["prompt"].str.contains(r"(?i)reason|step|rubric|grade|score|derivation|working").mean()
        > 0.7
    )
    assert rt["output_tokens"].median() > tiny.kind("casual")["output_tokens"].median()
    assert busiest.height < rt.height  # requests cluster in shared minutes
    tiers = tiny.accounts.join(
        tiny.truth.filter(pl.col("kind") == "reasoning_traces"), on="account_id"
    )["tier"]
    assert set(tiers.to_list()) <= {"research", "education"}


def test_low_and_slow_looks_ordinary_per_account_but_shares_payment(tiny: Any) -> None:
    ls = _campaign(tiny, "low_and_slow")
    daily = ls.group_by("account_id", pl.col("ts").dt.date()).len()["len"]
    casual_daily = tiny.kind("casual").group_by("account_id", pl.col("ts").dt.date()).len()["len"]
    assert daily.median() <= casual_daily.quantile(0.9)
    assert ls.select(_slash24(pl.col("client_ip"))).to_series().n_unique() > 0.5 * ls.height
    meta = tiny.accounts.join(tiny.truth.filter(pl.col("kind") == "low_and_slow"), on="account_id")
    shared = meta.with_columns(n=pl.len().over("payment_fingerprint"))
    assert (shared["n"] >= 2).mean() >= 0.5  # most accounts share a card with another account
    assert not ls["prompt"].str.contains(r"(?i)step by step|chain of thought|<thinking>").any()


def test_reseller_mixes_extraction_with_customer_traffic(tiny: Any) -> None:
    rs = _campaign(tiny, "reseller")
    assert rs["prompt"].n_unique() / rs.height > 0.4
    assert rs["system_prompt"].n_unique() >= 3


def test_targeted_campaign_is_small_and_narrow(tiny: Any) -> None:
    tg = _campaign(tiny, "targeted")
    assert 2 <= tg["account_id"].n_unique() <= 8
    assert tg.select(_slash24(pl.col("client_ip"))).to_series().n_unique() == 1


def test_templates_are_paraphrased(tiny: Any) -> None:
    hydra = _campaign(tiny, "hydra").filter(pl.col("messages").is_null())
    openings = hydra["prompt"].str.slice(0, 60)
    top = openings.value_counts(sort=True)["count"][0]
    assert openings.n_unique() >= 10 and top / hydra.height < 0.3


def test_campaign_parameters_change_with_the_seed(tmp_path: Path) -> None:
    def campaigns(seed: int) -> dict[str, dict[str, object]]:
        out = tmp_path / str(seed)
        simulate(out, seed=seed, scale="tiny", days=4, use_packages=False)
        manifest = json.loads((out / "manifest.json").read_text())
        return {g["kind"]: g for g in manifest["groups"] if g["label"] != "benign"}, manifest[
            "model_release"
        ]

    (a, release_a), (b, release_b) = campaigns(21), campaigns(22)
    assert release_a != release_b
    assert (
        a["hydra"]["accounts"] != b["hydra"]["accounts"]
        or a["hydra"]["proxy_ips"] != b["hydra"]["proxy_ips"]
    )
    assert a["reasoning_traces"]["family_mix"] != b["reasoning_traces"]["family_mix"]
    assert {g["label"] for g in a.values()} == {f"campaign-{i:02d}" for i in range(1, 6)}
