"""Benign populations have the shapes that make them hard negatives."""

from __future__ import annotations

from typing import Any

import polars as pl

COT = r"(?i)step by step|reasoning|walk me through"


def _slash24(col: str = "client_ip") -> pl.Expr:
    return pl.col(col).str.extract(r"^(\d+\.\d+\.\d+)\.", 1)


def test_university_nat_shares_a_handful_of_ips(tiny: Any) -> None:
    uni = tiny.kind("university_nat")
    accounts = uni["account_id"].n_unique()
    behind_nat = (
        uni.group_by("client_ip")
        .agg(pl.col("account_id").n_unique().alias("n"))
        .filter(pl.col("n") >= 3)
    )
    assert accounts >= 15
    assert 2 <= behind_nat.height <= 6  # a few NAT addresses ...
    assert behind_nat["n"].max() >= accounts // 3  # ... each shared by many students
    assert (
        uni.filter(pl.col("client_ip").is_in(behind_nat["client_ip"].implode()))["account_id"].len()
        / uni.height
        > 0.6
    )
    meta = tiny.accounts.join(
        tiny.truth.filter(pl.col("kind") == "university_nat"), on="account_id"
    )
    assert meta["email_domain"].n_unique() == 1 and meta["email_domain"][0].endswith(".edu")
    assert set(meta["tier"].to_list()) == {"education"}
    created = meta["created_at"].str.to_datetime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        created.max() - created.min()
    ).total_seconds() <= 7 * 86400  # a class signs up in one week


def test_company_nat_one_org_one_card(tiny: Any) -> None:
    meta = tiny.accounts.join(tiny.truth.filter(pl.col("kind") == "company_nat"), on="account_id")
    assert meta["org_id"].n_unique() == 1 and meta["payment_fingerprint"].n_unique() == 1
    comp = tiny.kind("company_nat")
    top = comp["client_ip"].value_counts(sort=True)["count"].head(4).sum()
    assert top / comp.height > 0.6  # the office egress addresses carry most of the traffic


def test_batch_job_is_one_template_at_night_from_the_cloud(tiny: Any) -> None:
    batch = tiny.kind("batch_job")
    assert batch.height > 200
    per_account = batch.group_by("account_id").agg(
        top=pl.col("prompt").str.slice(0, 60).value_counts(sort=True).first().struct.field("count")
        / pl.len()
    )
    assert per_account["top"].min() >= 0.99  # one fixed template
    hours = batch.group_by("account_id", pl.col("ts").dt.hour().alias("h")).len()
    top6 = (
        hours.sort("len", descending=True)
        .group_by("account_id")
        .agg(pl.col("len").head(6).sum() / pl.col("len").sum())
    )
    assert top6["len"].min() >= 0.8  # nightly window
    assert batch["system_prompt"].n_unique() <= batch["account_id"].n_unique()


def test_eval_harness_bursts_over_few_days_with_cot(tiny: Any) -> None:
    ev = tiny.kind("eval_harness")
    days = ev.group_by(pl.col("ts").dt.date()).len()
    assert 1 <= days.height <= 4
    per_hour = ev.group_by(pl.col("ts").dt.truncate("1h")).len()
    assert per_hour["len"].max() >= 20
    cot_share = ev["prompt"].str.contains(COT).mean()
    casual_share = tiny.kind("casual")["prompt"].str.contains(COT).mean()
    assert cot_share > 0.15 > casual_share
    assert ev["org_id"].n_unique() == 1


def test_coding_agents_carry_tools_and_transcripts(tiny: Any) -> None:
    dev = tiny.kind("coding_agent")
    assert dev["tools"].is_not_null().mean() > 0.7
    with_msgs = dev.filter(pl.col("messages").is_not_null())
    roles = with_msgs["messages"].list.eval(pl.element().struct.field("role")).explode()
    assert {"user", "assistant", "tool"} <= set(roles.to_list())
    # Bursts: a busy developer sends dozens of requests in an hour.
    per_hour = dev.group_by("account_id", pl.col("ts").dt.truncate("1h")).len()
    assert per_hour["len"].max() >= 30


def test_router_is_diverse_datacenter_traffic(tiny: Any) -> None:
    router = tiny.kind("api_router")
    assert router["prompt"].n_unique() >= 50  # end users' diverse requests, unlike a batch job
    assert router["api_key_id"].n_unique() >= 2
    assert router["client_ip"].n_unique() <= 10


def test_volume_is_heavy_tailed(tiny: Any) -> None:
    casual = tiny.kind("casual").group_by("account_id").len()["len"]
    assert casual.max() >= 4 * casual.median()


def test_people_follow_their_local_day(tiny: Any) -> None:
    uni = tiny.kind("university_nat")  # a US west-coast campus: few requests at local 2-6 am
    local = (uni["ts"].dt.hour() - 8) % 24
    assert local.is_between(2, 5).mean() < 0.08
