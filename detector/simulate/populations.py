"""Benign populations, including the hard negatives of DOMAIN.md.

Casual users, power users, developers running coding agents, a university and a company behind
NATs (one class of people with different knobs), enterprise batch jobs, evaluation harnesses,
and an API router carrying many end users.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from detector.simulate import content, rhythm
from detector.simulate import infrastructure as infra
from detector.simulate.core import batch, choose_models, outcomes, ragged_pick
from detector.simulate.groups import (
    DayContext,
    Group,
    World,
    choose,
    created_before,
    first_active_day,
    heavy_tail_weights,
    ip_pools,
    key_lists,
    region_country,
    region_tz,
)
from detector.simulate.pools import compose, pick
from detector.simulate.rhythm import DAY_MS


@dataclass
class PeopleSpec:
    """Knobs of a population of people (each account a person or a small team)."""

    kind: str
    n_accounts: int
    share: float  # of all requests
    profile: np.ndarray = field(default_factory=lambda: rhythm.HUMAN)
    week: np.ndarray = field(default_factory=lambda: rhythm.WEEK_HUMAN)
    p_active: tuple[float, float] = (0.15, 0.6)  # range of daily activity probabilities
    volume_sigma: float = 1.1
    per_session: float = 4.0
    session_minutes: float = 25.0
    mix: tuple[float, float, float, float, float] = (0.55, 0.15, 0.22, 0.08, 0.0)
    cot_p: float = 0.04
    sys_p: float = 0.08
    assistant_tools_p: float = 0.02
    uas: tuple[str, ...] = infra.BROWSER_UAS + infra.SDK_UAS
    ips_per_account: tuple[int, int] = (1, 4)
    v6_share: float = 0.15
    models: tuple[float, float, float] = (0.3, 0.55, 0.15)
    adopt_max: float = 0.3
    adopt_days: float = 4.0
    out_median: float = 350.0
    p429: float = 0.002
    tiers: tuple[str, ...] = ("free", "free", "pro")
    new_share: float = 0.08


@dataclass
class Site:
    """What the people of one institution share: NAT addresses, time zone, domain, card, org."""

    ips: list[str] = field(default_factory=list)  # shared egress addresses; empty: home networks
    tz: int | None = None  # one time zone for everyone; None: by each user's region
    country: str | None = None
    email_domain: str | None = None
    payment: str | None = None  # one card for everyone; None: each pays their own
    no_payment: bool = False  # programmes without a payment method (education)
    org: str | None = None
    created_ms: np.ndarray | None = None  # sign-up times; None: spread over the past
    agent_uas: tuple[str, ...] = ()  # user agents of coding-agent products


class PeopleGroup(Group):
    """People on their own schedules, in their own time zones, from their own networks."""

    def __init__(self, world: World, spec: PeopleSpec, site: Site | None = None) -> None:
        rng, tables, clock = world.rng, world.tables, world.clock
        self.name, self.kind, self.spec = "benign", spec.kind, spec
        n = spec.n_accounts
        self.pools = world.pools
        self.clock = clock
        site = site or Site()
        if site.tz is not None:
            self.tz = np.full(n, site.tz, dtype=np.int64)
            countries: list[str | None] = [site.country] * n
        else:
            regions = infra.pick_region(rng, n)
            self.tz = region_tz(rng, regions)
            countries = region_country(rng, regions)
        # Networks: home addresses, or a shared NAT pool plus some home access.
        per_account: list[list[str]] = []
        lo, hi = spec.ips_per_account
        nat_ips = site.ips
        home_regions = infra.pick_region(rng, n) if site.tz is not None else regions
        k = rng.integers(lo, hi + 1, size=n) if not nat_ips else np.ones(n, dtype=np.int64)
        homes = infra.residential_hosts_by_region(rng, np.repeat(home_regions, k), spec.v6_share)
        bounds = np.concatenate([[0], np.cumsum(k)])
        for i in range(n):
            home = homes[bounds[i] : bounds[i + 1]]
            if nat_ips:
                # Mostly behind the NAT (listed first, so it is picked most), sometimes from home.
                shared = [
                    nat_ips[j]
                    for j in rng.choice(len(nat_ips), size=min(len(nat_ips), 3), replace=False)
                ]
                per_account.append(shared + home)
            else:
                per_account.append(home)
        self.ip_flat, self.ip_start, self.ip_len = ip_pools(tables, per_account)
        self.ip_skew = 2.5 if nat_ips else 1.6
        ua_pool = tables.uas.add_many(list(spec.uas))
        self.ua = ua_pool[rng.integers(0, len(ua_pool), size=n)]
        self.ua2 = ua_pool[rng.integers(0, len(ua_pool), size=n)]
        # Coding agents: each developer uses one product (tool set and system prompt).
        product = rng.integers(0, len(world.pools.coding_tools), size=n)
        self.agent_tools = world.pools.coding_tools[product]
        self.agent_sys = world.pools.coding_sys[product]
        if site.agent_uas:
            agent_ua = tables.uas.add_many(list(site.agent_uas))
            self.ua = np.where(
                rng.random(n) < 0.8, agent_ua[rng.integers(0, len(agent_ua), size=n)], self.ua
            )

        created_ms = (
            site.created_ms
            if site.created_ms is not None
            else created_before(rng, clock, n, 700, spec.new_share)
        )
        self.first_day = first_active_day(clock, created_ms)
        self.p_active = rng.uniform(*spec.p_active, size=n)
        # Early adopters move (almost) wholly to a new model within hours of its release.
        eager = rng.random(n) < 0.12
        self.adopt_max = np.where(eager, 0.95, spec.adopt_max)
        self.adopt_days = np.where(eager, 0.25, spec.adopt_days)
        self.weights = heavy_tail_weights(rng, n, spec.volume_sigma)
        mean_week = float(spec.week.mean())
        self.rate = (
            world.daily_target(spec.share)
            * self.weights
            / (self.p_active * mean_week).clip(0.05)
            / n
        )

        emails: list[str | None] = (
            [site.email_domain] * n
            if site.email_domain
            else list(choose(rng, content.PUBLIC_MAIL, n))
        )
        payments: list[str | None]
        if site.no_payment:
            payments = [None] * n
        elif site.payment is not None:
            payments = [site.payment] * n
        else:
            payments = list(infra.payment_fingerprints(rng, n))
        orgs: list[str | None] = [site.org] * n
        signup = [tables.ips.values[int(self.ip_flat[s])] for s in self.ip_start]
        self.accounts = tables.add_accounts(
            ids=infra.hex_ids(rng, n, 8, "acct_"),
            created_ms=created_ms,
            email_domain=emails,
            payment=payments,
            country=countries,
            signup_ip=list(signup),
            org=orgs,
            tier=choose(rng, spec.tiers, n),
            label="benign",
            kind=spec.kind,
            key_ids=key_lists(rng, n, 2),
        )
        self.params = {"accounts": n, "share": spec.share}
        if site.ips:
            self.params.update(
                {"nat_ips": len(site.ips), "org": site.org, "email_domain": site.email_domain}
            )

    def day(self, ctx: DayContext) -> pl.DataFrame:
        spec, rng = self.spec, ctx.rng
        wd = rhythm.weekday(ctx.day, ctx.clock.start_weekday)
        active = (rng.random(len(self.accounts)) < self.p_active * spec.week[wd]) & (
            self.first_day <= ctx.day
        )
        expected = self.rate * active * rng.lognormal(0, 0.3)
        counts = rhythm.poisson_counts(rng, expected)
        actor, ts = rhythm.session_times(
            rng, ctx.start_ms, counts, spec.per_session, spec.session_minutes, spec.profile, self.tz
        )
        n = len(actor)
        if n == 0:
            return batch(0)
        accts = self.accounts[actor]
        ip = self.ip_flat[ragged_pick(rng, self.ip_start[actor], self.ip_len[actor], self.ip_skew)]
        ua = np.where(rng.random(n) < 0.9, self.ua[actor], self.ua2[actor])
        cols = compose(
            rng,
            self.pools,
            n,
            spec.mix,
            cot_p=spec.cot_p,
            sys_p=spec.sys_p,
            assistant_tools_p=spec.assistant_tools_p,
            agent_tools=self.agent_tools[actor],
            agent_sys=self.agent_sys[actor],
        )
        out, status = outcomes(rng, n, spec.out_median, 0.9, spec.p429)
        return batch(
            n,
            ts=ts,
            acct=accts,
            key=ctx.tables.key_for(rng, accts),
            ip=ip,
            ua=ua,
            model=choose_models(
                rng, ts, ctx.clock, spec.models, self.adopt_max[actor], self.adopt_days[actor]
            ),
            out_tok=out,
            status=status,
            **cols,
        )


def casual_users(world: World, n: int, share: float) -> PeopleGroup:
    return PeopleGroup(world, PeopleSpec(kind="casual", n_accounts=n, share=share))


def power_users(world: World, n: int, share: float) -> PeopleGroup:
    spec = PeopleSpec(
        kind="power_user",
        n_accounts=n,
        share=share,
        p_active=(0.6, 0.95),
        volume_sigma=0.9,
        per_session=12,
        session_minutes=70,
        mix=(0.35, 0.2, 0.3, 0.12, 0.03),
        cot_p=0.1,
        sys_p=0.3,
        uas=infra.SDK_UAS + infra.BROWSER_UAS[:2],
        models=(0.1, 0.5, 0.4),
        adopt_max=0.5,
        adopt_days=5.0,
        out_median=600,
        p429=0.01,
        tiers=("pro", "pro", "team"),
    )
    return PeopleGroup(world, spec)


def coding_agents(world: World, n: int, share: float) -> PeopleGroup:
    """Developers whose agent tools send bursts of tool-laden, multi-turn requests."""
    spec = PeopleSpec(
        kind="coding_agent",
        n_accounts=n,
        share=share,
        profile=rhythm.WORKDAY,
        week=rhythm.WEEK_WORK,
        p_active=(0.3, 0.9),
        volume_sigma=1.0,
        per_session=60,
        session_minutes=50,
        mix=(0.04, 0.08, 0.03, 0.0, 0.85),
        cot_p=0.01,
        sys_p=0.0,
        uas=infra.SDK_UAS[:6],
        models=(0.05, 0.45, 0.5),
        adopt_max=0.6,
        adopt_days=5.0,
        out_median=500,
        p429=0.02,
        tiers=("pro", "team", "pro", "startup"),
        new_share=0.1,
    )
    return PeopleGroup(world, spec, Site(agent_uas=infra.AGENT_UAS))


def university(world: World, n: int, share: float) -> PeopleGroup:
    """Students behind a campus NAT: one e-mail domain, a class signing up in the same week."""
    rng, clock = world.rng, world.clock
    campus = infra.CAMPUS[int(rng.integers(0, len(infra.CAMPUS)))]
    nat_ips = infra.random_hosts(rng, campus, int(rng.integers(3, 7)))
    week_start = clock.start_ms + int(rng.integers(-20, 3)) * DAY_MS
    created = week_start + (rng.random(n) * 7 * DAY_MS).astype(np.int64)
    domain = "berkeley.edu" if "Berkeley" in campus.as_name else "stanford.edu"
    spec = PeopleSpec(
        kind="university_nat",
        n_accounts=n,
        share=share,
        p_active=(0.1, 0.55),
        mix=(0.4, 0.25, 0.15, 0.2, 0.0),
        cot_p=0.12,
        tiers=("education",),
        ips_per_account=(1, 1),
        v6_share=0.0,
        models=(0.5, 0.45, 0.05),
    )
    return PeopleGroup(
        world,
        spec,
        Site(
            ips=nat_ips,
            tz=-8,
            country="US",
            email_domain=domain,
            no_payment=True,
            org=infra.hex_ids(rng, 1, 8, "org_")[0],
            created_ms=created,
        ),
    )


def company(world: World, n: int, share: float) -> PeopleGroup:
    """Employees behind a corporate NAT on one organisation, paying with one company card."""
    rng = world.rng
    block = infra.BUSINESS[int(rng.integers(0, len(infra.BUSINESS)))]
    nat_ips = infra.slash24_hosts(rng, block, 1, int(rng.integers(2, 5)))
    domain = str(
        rng.choice(["northwind-logistics.com", "brightpath-health.com", "veridian-systems.io"])
    )
    spec = PeopleSpec(
        kind="company_nat",
        n_accounts=n,
        share=share,
        profile=rhythm.WORKDAY,
        week=rhythm.WEEK_WORK,
        p_active=(0.3, 0.8),
        mix=(0.35, 0.2, 0.15, 0.05, 0.25),
        sys_p=0.2,
        ips_per_account=(1, 1),
        v6_share=0.0,
        tiers=("team",),
        models=(0.2, 0.6, 0.2),
    )
    return PeopleGroup(
        world,
        spec,
        Site(
            ips=nat_ips,
            tz=-5,
            country="US",
            email_domain=domain,
            payment=infra.payment_fingerprints(rng, 1)[0],
            org=infra.hex_ids(rng, 1, 8, "org_")[0],
            created_ms=created_before(rng, world.clock, n, 400),
        ),
    )


class BatchJobs(Group):
    """Enterprise batch jobs: one fixed template per job, huge nightly volume from cloud IPs."""

    def __init__(self, world: World, n_orgs: int, share: float) -> None:
        rng, tables, pools = world.rng, world.tables, world.pools
        self.name, self.kind = "benign", "batch_job"
        self.pools = pools
        jobs = rng.integers(0, len(content.BATCH_JOBS), size=n_orgs)
        accts_per_org = rng.integers(1, 3, size=n_orgs)
        n = int(accts_per_org.sum())
        self.org_of = np.repeat(np.arange(n_orgs), accts_per_org)
        job = jobs[self.org_of]
        self.sys = np.array(
            [tables.fragments.add(content.BATCH_JOBS[j][0]) for j in job], dtype=np.int32
        )
        self.p0 = np.array(
            [tables.fragments.add(content.BATCH_JOBS[j][1]) for j in job], dtype=np.int32
        )
        self.p2 = np.array(
            [tables.fragments.add(content.BATCH_JOBS[j][2]) for j in job], dtype=np.int32
        )
        self.tz = rng.choice(np.array([-8, -5, 0, 1]), size=n_orgs)[self.org_of]
        # A NAT gateway of a few addresses in one cloud region per organisation.
        per_account = []
        org_ips = [
            infra.random_hosts(
                rng,
                infra.MAJOR_CLOUD[int(rng.integers(0, len(infra.MAJOR_CLOUD)))],
                int(rng.integers(2, 6)),
            )
            for _ in range(n_orgs)
        ]
        for o in self.org_of:
            per_account.append(org_ips[o])
        self.ip_flat, self.ip_start, self.ip_len = ip_pools(tables, per_account)
        self.ua = tables.uas.add_many([str(rng.choice(infra.SDK_UAS[:8])) for _ in range(n_orgs)])[
            self.org_of
        ]
        weights = heavy_tail_weights(rng, n, 0.6)
        self.rate = world.daily_target(share) * weights / n
        self.model = np.asarray(world.clock.old_models, dtype=np.int32)[
            rng.choice([0, 1], size=n, p=[0.7, 0.3])
        ]
        org_ids = infra.hex_ids(rng, n_orgs, 8, "org_")
        pays = infra.payment_fingerprints(rng, n_orgs)
        domains = [
            f"{w}.com"
            for w in rng.choice(
                [
                    "globex",
                    "initech",
                    "umbrella-retail",
                    "hooli-data",
                    "soylent-foods",
                    "stark-analytics",
                    "wayne-logistics",
                ],
                size=n_orgs,
            )
        ]
        self.accounts = tables.add_accounts(
            ids=infra.hex_ids(rng, n, 8, "acct_"),
            created_ms=created_before(rng, world.clock, n, 500),
            email_domain=[domains[o] for o in self.org_of],
            payment=[pays[o] for o in self.org_of],
            country=["US"] * n,
            signup_ip=[None] * n,
            org=[org_ids[o] for o in self.org_of],
            tier=["enterprise"] * n,
            label="benign",
            kind=self.kind,
            key_ids=key_lists(rng, n, 1),
        )
        self.params = {"orgs": n_orgs, "accounts": n, "share": share}

    def day(self, ctx: DayContext) -> pl.DataFrame:
        rng = ctx.rng
        counts = rhythm.poisson_counts(rng, self.rate * rng.lognormal(0, 0.15, size=len(self.rate)))
        actor = np.repeat(np.arange(len(counts)), counts)
        n = len(actor)
        if n == 0:
            return batch(0)
        ts = rhythm.sample_times(rng, ctx.start_ms, n, rhythm.NIGHTLY, self.tz[actor])
        accts = self.accounts[actor]
        out, status = outcomes(rng, n, 60, 0.5, 0.015)
        return batch(
            n,
            ts=ts,
            acct=accts,
            key=ctx.tables.key_for(rng, accts),
            ip=self.ip_flat[ragged_pick(rng, self.ip_start[actor], self.ip_len[actor])],
            ua=self.ua[actor],
            model=self.model[actor],
            sys=self.sys[actor],
            p0=self.p0[actor],
            p1=pick(rng, self.pools.chat_other, n),
            p2=self.p2[actor],
            out_tok=out,
            status=status,
        )


class EvalHarness(Group):
    """Benchmark sweeps: public items, CoT formats, several models, bursts over a few days."""

    def __init__(self, world: World, n_orgs: int, share: float) -> None:
        rng, tables, clock, pools = world.rng, world.tables, world.clock, world.pools
        self.name, self.kind = "benign", "eval_harness"
        self.pools = pools
        per_org = rng.integers(1, 3, size=n_orgs)
        n = int(per_org.sum())
        self.org_of = np.repeat(np.arange(n_orgs), per_org)
        # Each organisation runs on a few days; one of them right after the model release.
        release_day = int((clock.release_ms - clock.start_ms) // DAY_MS)
        self.run_days: list[set[int]] = []
        for o in range(n_orgs):
            days = {
                int(d)
                for d in rng.choice(
                    clock.days, size=min(clock.days, int(rng.integers(2, 4))), replace=False
                )
            }
            if o == 0 and release_day < clock.days:
                days.add(release_day)
            self.run_days.append(days)
        self.formats = [
            (tables.fragments.add(a), tables.fragments.add(b)) for a, b in content.EVAL_FORMATS
        ]
        org_ips = [
            infra.random_hosts(
                rng, infra.MAJOR_CLOUD[int(rng.integers(0, len(infra.MAJOR_CLOUD)))], 2
            )
            for _ in range(n_orgs)
        ]
        self.ip_flat, self.ip_start, self.ip_len = ip_pools(
            tables, [org_ips[o] for o in self.org_of]
        )
        self.ua = tables.uas.add_many([str(rng.choice(infra.SDK_UAS[:4])) for _ in range(n_orgs)])[
            self.org_of
        ]
        self.per_run = (
            world.daily_target(share) * clock.days / max(1, sum(len(d) for d in self.run_days))
        )
        self.release_day = release_day
        org_ids = infra.hex_ids(rng, n_orgs, 8, "org_")
        pays = infra.payment_fingerprints(rng, n_orgs)
        self.accounts = tables.add_accounts(
            ids=infra.hex_ids(rng, n, 8, "acct_"),
            created_ms=created_before(rng, clock, n, 300),
            email_domain=[
                str(rng.choice(["eval-lab.ai", "benchmarks.org", "aisafety-institute.org"]))
            ]
            * n,
            payment=[pays[o] for o in self.org_of],
            country=["US"] * n,
            signup_ip=[None] * n,
            org=[org_ids[o] for o in self.org_of],
            tier=["research"] * n,
            label="benign",
            kind=self.kind,
            key_ids=key_lists(rng, n, 1),
        )
        self.params = {
            "orgs": n_orgs,
            "accounts": n,
            "run_days": [sorted(d) for d in self.run_days],
        }

    def day(self, ctx: DayContext) -> pl.DataFrame:
        rng, clock = ctx.rng, ctx.clock
        frames = []
        for o, days in enumerate(self.run_days):
            if ctx.day not in days:
                continue
            members = np.flatnonzero(self.org_of == o)
            n = int(rng.poisson(self.per_run))
            actor = members[rng.integers(0, len(members), size=n)]
            # One sweep of a few hours at high concurrency.
            start = ctx.start_ms + int(rng.integers(1, 20)) * rhythm.HOUR_MS
            if ctx.day == self.release_day:  # a new model can only be evaluated once it is out
                start = max(start, clock.release_ms + int(rng.integers(1, 4)) * rhythm.HOUR_MS)
            ts = start + np.sort(rng.integers(0, int(rng.uniform(1.5, 5)) * rhythm.HOUR_MS, size=n))
            fmt = rng.integers(0, len(self.formats), size=n)
            is_code = fmt <= 1
            body = np.where(
                is_code, pick(rng, self.pools.code_task, n), pick(rng, self.pools.reasoning, n)
            )
            fmts = np.array(self.formats, dtype=np.int32)
            # Sweeps cover several models; the release-day run targets the new model.
            if ctx.day == self.release_day:
                model = np.full(n, clock.new_model, dtype=np.int32)
            else:
                model = np.asarray(clock.old_models, dtype=np.int32)[rng.integers(0, 3, size=n)]
            out, status = outcomes(rng, n, 450, 0.7, 0.03)
            accts = self.accounts[actor]
            frames.append(
                batch(
                    n,
                    ts=ts,
                    acct=accts,
                    key=ctx.tables.key_for(rng, accts),
                    ip=self.ip_flat[ragged_pick(rng, self.ip_start[actor], self.ip_len[actor])],
                    ua=self.ua[actor],
                    model=model,
                    p0=fmts[fmt, 0],
                    p1=body,
                    p2=fmts[fmt, 1],
                    out_tok=out,
                    status=status,
                )
            )
        return pl.concat(frames) if frames else batch(0)


class Router(Group):
    """A legitimate API router or reseller: many end users' diverse traffic from datacenter IPs."""

    def __init__(self, world: World, n_accounts: int, share: float) -> None:
        rng, tables, pools = world.rng, world.tables, world.pools
        self.name, self.kind = "benign", "api_router"
        self.pools = pools
        n = n_accounts
        per_account = [
            infra.random_hosts(
                rng,
                infra.HOSTING[int(rng.integers(0, len(infra.HOSTING)))],
                int(rng.integers(3, 9)),
            )
            for _ in range(n)
        ]
        self.ip_flat, self.ip_start, self.ip_len = ip_pools(tables, per_account)
        self.ua_pool = tables.uas.add_many(list(infra.ROUTER_UAS))
        self.rate = world.daily_target(share) * heavy_tail_weights(rng, n, 0.5) / n
        self.agent_tools = pools.coding_tools
        self.accounts = tables.add_accounts(
            ids=infra.hex_ids(rng, n, 8, "acct_"),
            created_ms=created_before(rng, world.clock, n, 600),
            email_domain=[
                str(rng.choice(["routerly.ai", "llmgateway.io", "unifiedapi.dev"]))
                for _ in range(n)
            ],
            payment=list(infra.payment_fingerprints(rng, n)),
            country=["US"] * n,
            signup_ip=[None] * n,
            org=infra.hex_ids(rng, n, 8, "org_"),
            tier=["enterprise"] * n,
            label="benign",
            kind=self.kind,
            key_ids=key_lists(rng, n, 8, min_keys=3),
        )
        self.params = {"accounts": n, "share": share}

    def day(self, ctx: DayContext) -> pl.DataFrame:
        rng = ctx.rng
        counts = rhythm.poisson_counts(rng, self.rate * rng.lognormal(0, 0.2))
        actor = np.repeat(np.arange(len(counts)), counts)
        n = len(actor)
        if n == 0:
            return batch(0)
        ts = rhythm.sample_times(rng, ctx.start_ms, n, rhythm.GLOBAL)
        k = len(self.pools.coding_tools)
        cols = compose(
            rng,
            self.pools,
            n,
            (0.45, 0.15, 0.2, 0.08, 0.12),
            cot_p=0.06,
            sys_p=0.45,
            assistant_tools_p=0.1,
            agent_tools=self.pools.coding_tools[rng.integers(0, k, size=n)],
            agent_sys=self.pools.coding_sys[rng.integers(0, k, size=n)],
        )
        out, status = outcomes(rng, n, 400, 0.9, 0.02)
        accts = self.accounts[actor]
        return batch(
            n,
            ts=ts,
            acct=accts,
            key=ctx.tables.key_for(rng, accts),
            ip=self.ip_flat[ragged_pick(rng, self.ip_start[actor], self.ip_len[actor])],
            ua=self.ua_pool[rng.integers(0, len(self.ua_pool), size=n)],
            model=choose_models(rng, ts, ctx.clock, (0.3, 0.5, 0.2), 0.35, 2.0),
            out_tok=out,
            status=status,
            **cols,
        )
