"""Labelled traffic simulator: benign populations and distillation campaigns in the contract's form.

`simulate(out_dir, seed=..., scale=..., days=..., parquet=...)` writes `requests.jsonl` (or
`requests.parquet`), `accounts.jsonl`, `truth.csv` and `manifest.json` (the drawn parameters),
deterministically for a seed, one simulated day at a time so memory stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from detector.errors import DistillguardError
from detector.simulate import campaigns, populations
from detector.simulate.core import Clock, Tables
from detector.simulate.groups import DayContext, Group, World
from detector.simulate.pools import build_pools
from detector.simulate.rhythm import DAY_MS, HOUR_MS
from detector.simulate.scales import SCALES, SHARES, Scale
from detector.simulate.text import load_library
from detector.simulate.writer import RequestWriter, write_accounts, write_manifest, write_truth

__all__ = ["SCALES", "CampaignKnobs", "SimulationSummary", "simulate"]

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
OLD_MODELS = ("lyra-2-mini", "lyra-2", "lyra-2-pro")
NEW_MODEL = "lyra-3-pro"
# Rows generated for local day d can land up to 12 h before UTC day d+1 starts (UTC+12).
MAX_TZ_AHEAD_MS = 12 * HOUR_MS


@dataclass
class SimulationSummary:
    """What was written, and the parameters drawn for this seed."""

    out_dir: Path
    seed: int
    scale: str
    days: int
    requests: int
    accounts: int
    requests_path: Path
    accounts_path: Path
    truth_path: Path
    seconds: float
    start: str
    release: str
    new_model: str
    prompt_sources: dict[str, str]
    requests_by_kind: dict[str, int] = field(default_factory=dict)
    accounts_by_label: dict[str, int] = field(default_factory=dict)
    groups: list[dict[str, object]] = field(default_factory=list)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CampaignKnobs:
    """Variation of the campaigns for robustness checks (defaults: the scale as specified).

    `size_factor` multiplies each campaign's nominal number of accounts and `share_factor`
    its share of all requests, before the per-seed stretch; `reseller_own_system_prompts`
    gives resellers their own paraphrased system prompts instead of the hydra's.
    """

    size_factor: float = 1.0
    share_factor: float = 1.0
    # Resellers draw their own paraphrases of the operation's system prompts instead of
    # reusing the hydra's (a front that shares no exact content with the operation).
    reseller_own_system_prompts: bool = False


def _build_world(
    seed: int, scale: Scale, days: int, use_packages: bool, knobs: CampaignKnobs | None = None
) -> tuple[World, list[Group]]:
    knobs = knobs or CampaignKnobs()
    rng = np.random.default_rng([seed, 0])
    tables = Tables()
    old = tuple(int(i) for i in tables.models.add_many(list(OLD_MODELS)))
    new = tables.models.add(NEW_MODEL)
    start_ms = int(START.timestamp() * 1000)
    release_ms = start_ms + int(rng.uniform(0.35, 0.65) * days * DAY_MS)
    clock = Clock(
        start_ms=start_ms,
        days=days,
        start_weekday=START.weekday(),
        release_ms=release_ms,
        old_models=(old[0], old[1], old[2]),
        new_model=new,
    )
    library = load_library(use_packages)
    pools = build_pools(rng, tables, library, scale.transcripts)
    world = World(
        rng=rng,
        tables=tables,
        pools=pools,
        clock=clock,
        total_requests=scale.total_requests * days / scale.days,
    )
    pops = scale.populations
    groups: list[Group] = [
        populations.casual_users(world, pops["casual"], SHARES["casual"]),
        populations.power_users(world, pops["power_user"], SHARES["power_user"]),
        populations.coding_agents(world, pops["coding_agent"], SHARES["coding_agent"]),
        populations.BatchJobs(world, pops["batch_job"], SHARES["batch_job"]),
        populations.EvalHarness(world, pops["eval_harness"], SHARES["eval_harness"]),
        populations.university(world, pops["university_nat"], SHARES["university_nat"]),
        populations.company(world, pops["company_nat"], SHARES["company_nat"]),
        populations.Router(world, pops["api_router"], SHARES["api_router"]),
    ]
    # Campaign ids are shuffled so that an id says nothing about the archetype.
    plan = [(kind, size) for kind, sizes in scale.campaigns.items() for size in sizes]
    ids = rng.permutation(len(plan)) + 1
    hydra: campaigns.Hydra | None = None
    for (kind, nominal), number in sorted(
        zip(plan, ids, strict=True), key=lambda x: x[0][0] != "hydra"
    ):
        label = f"campaign-{int(number):02d}"
        size = max(1 if kind == "reseller" else 3, round(nominal * knobs.size_factor * rng.uniform(0.6, 1.5)))
        share = SHARES[kind] * knobs.share_factor * rng.uniform(0.7, 1.3)
        if kind == "hydra":
            new_hydra = campaigns.Hydra(world, label, size, share)
            hydra = hydra or new_hydra
            g: Group = new_hydra
        elif kind == "reasoning_traces":
            g = campaigns.ReasoningTraces(world, label, size, share)
        elif kind == "low_and_slow":
            g = campaigns.LowAndSlow(world, label, size, share)
        elif kind == "reseller":
            assert hydra is not None
            g = campaigns.MixedReseller(
                world, label, size, share, hydra, knobs.reseller_own_system_prompts
            )
        else:
            g = campaigns.Targeted(world, label, size, share)
        groups.append(g)
    return world, groups


def simulate(
    out_dir: Path | str,
    *,
    seed: int = 0,
    scale: str = "small",
    days: int | None = None,
    parquet: bool = False,
    max_requests: int | None = None,
    use_packages: bool = True,
    progress: Callable[[int, int, int], None] | None = None,
    knobs: CampaignKnobs | None = None,
) -> SimulationSummary:
    """Write labelled synthetic traffic into `out_dir`; same seed, same bytes.

    `max_requests` stops early (for benchmarks of the large scale); `use_packages=False` uses
    only the bundled prompts; `progress(day, days, rows_written)` is called after each day;
    `knobs` varies the campaigns' sizes and volumes (robustness checks).
    """
    began = time.perf_counter()
    if scale not in SCALES:
        raise DistillguardError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    spec = SCALES[scale]
    n_days = spec.days if days is None else days
    if n_days < 1:
        raise DistillguardError("--days must be at least 1")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DistillguardError(f"cannot create output directory {out}: {exc}") from exc

    world, groups = _build_world(seed, spec, n_days, use_packages, knobs)
    tables, clock = world.tables, world.clock
    writer = RequestWriter(out, tables, parquet=parquet, seed=seed)
    kind_of_group = np.array([g.kind for g in groups])
    carry = pl.DataFrame()
    by_group = np.zeros(len(groups), dtype=np.int64)
    seen = np.zeros(len(tables.accounts), dtype=bool)
    try:
        for d in range(-1, n_days + 1):
            frames = []
            for gi, group in enumerate(groups):
                ctx = DayContext(
                    day=d,
                    rng=np.random.default_rng([seed, 1, gi, d + 1]),
                    clock=clock,
                    tables=tables,
                )
                frame = group.day(ctx)
                if frame.height:
                    frames.append(frame.with_columns(pl.lit(gi, dtype=pl.Int32).alias("grp")))
            if carry.height:
                frames.insert(0, carry)
            if not frames:
                continue
            day_rows = pl.concat(frames).filter(
                (pl.col("ts") >= clock.start_ms) & (pl.col("ts") < clock.end_ms)
            )
            cut = clock.day_start(d + 1) - MAX_TZ_AHEAD_MS if d < n_days else clock.end_ms
            ready = day_rows.filter(pl.col("ts") < cut).sort(
                ["ts", "acct", "p1"], maintain_order=True
            )
            carry = day_rows.filter(pl.col("ts") >= cut)
            if max_requests is not None:
                ready = ready.head(max(0, max_requests - writer.rows))
            if ready.height:
                by_group += np.bincount(ready["grp"].to_numpy(), minlength=len(groups))
                seen[np.unique(ready["acct"].to_numpy())] = True
                writer.write(ready.drop("grp"))
            if progress is not None:
                progress(d + 1, n_days + 1, writer.rows)
            if max_requests is not None and writer.rows >= max_requests:
                break
    finally:
        writer.close()

    # Accounts: everyone signed up before the end; truth for every one of them.
    created = np.asarray(tables.accounts.created_ms, dtype=np.int64)
    keep = (created < clock.end_ms) | seen
    accounts_path, truth_path = out / "accounts.jsonl", out / "truth.csv"
    n_accounts = write_accounts(accounts_path, tables, keep)
    write_truth(truth_path, tables, keep)
    labels = np.asarray(tables.accounts.label)[keep]
    values, counts = np.unique(labels, return_counts=True)
    group_info = [
        {"label": g.name, "kind": g.kind, "requests": int(by_group[i]), **g.params}
        for i, g in enumerate(groups)
    ]
    requests_by_kind = {
        k: int(by_group[kind_of_group == k].sum()) for k in sorted(set(kind_of_group))
    }
    summary = SimulationSummary(
        out_dir=out,
        seed=seed,
        scale=scale,
        days=n_days,
        requests=writer.rows,
        accounts=n_accounts,
        requests_path=writer.path,
        accounts_path=accounts_path,
        truth_path=truth_path,
        seconds=round(time.perf_counter() - began, 3),
        start=_iso(clock.start_ms),
        release=_iso(clock.release_ms),
        new_model=NEW_MODEL,
        prompt_sources=load_library(use_packages).sources,
        requests_by_kind=requests_by_kind,
        accounts_by_label={str(v): int(c) for v, c in zip(values, counts, strict=True)},
        groups=group_info,
    )
    write_manifest(
        out / "manifest.json",
        {
            "seed": seed,
            "scale": scale,
            "days": n_days,
            "start": summary.start,
            "model_release": summary.release,
            "new_model": NEW_MODEL,
            "requests": summary.requests,
            "accounts": n_accounts,
            "prompt_sources": summary.prompt_sources,
            "groups": group_info,
        },
    )
    return summary
