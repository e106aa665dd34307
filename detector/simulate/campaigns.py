"""Attack campaigns, one class per archetype of DOMAIN.md; sizes, timing and knobs drawn per seed.

Each campaign overlaps benign behaviour somewhere (agent user agents and tool sets, residential
networks, ordinary per-account volume, prompts without CoT words), so that detection needs
several independent signals.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from detector.simulate import content, rhythm
from detector.simulate import infrastructure as infra
from detector.simulate.core import batch, choose_models, outcomes
from detector.simulate.groups import DayContext, Group, World, choose, key_lists
from detector.simulate.paraphrase import Template, variants
from detector.simulate.pools import compose, pick
from detector.simulate.rhythm import DAY_MS, HOUR_MS

CAMPAIGN_COUNTRIES = ("US", "US", "SG", "HK", "GB", "JP", "CA", "DE")
CAMPAIGN_MAIL = content.PUBLIC_MAIL[:8]


def template_fragments(world: World, template: Template, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Intern `k` paraphrased variants; returns (prefix ids, suffix ids)."""
    pairs = variants(world.rng, template, k)
    pre = world.tables.fragments.add_many([p for p, _ in pairs])
    suf = world.tables.fragments.add_many([s for _, s in pairs])
    return pre, suf


def signup_waves(
    rng: np.random.Generator, start_ms: int, n: int, n_waves: int, spread_days: float
) -> np.ndarray:
    """Sign-up times in bursts: `n_waves` waves of a few hours, spread over `spread_days` from `start_ms`."""
    wave_starts = start_ms + (np.sort(rng.random(n_waves)) * spread_days * DAY_MS).astype(np.int64)
    wave = rng.integers(0, n_waves, size=n)
    return wave_starts[wave] + (rng.random(n) * rng.uniform(1, 6) * HOUR_MS).astype(np.int64)


class Campaign(Group):
    """Shared set-up of campaign accounts."""

    def _register(
        self,
        world: World,
        label: str,
        kind: str,
        created_ms: np.ndarray,
        *,
        tiers: tuple[str, ...],
        n_payments: int,
        signup_ips: list[str],
        emails: tuple[str, ...] = CAMPAIGN_MAIL,
        max_keys: int = 1,
        min_keys: int = 1,
    ) -> None:
        rng, tables = world.rng, world.tables
        n = len(created_ms)
        self.name, self.kind = label, kind
        pays = infra.payment_fingerprints(rng, max(1, n_payments))
        # Most accounts reuse a shared card; a few pay with their own to blur the link.
        own = rng.random(n) < 0.15
        own_pays = infra.payment_fingerprints(rng, n)
        shared = choose(rng, pays, n)
        payment: list[str | None] = [own_pays[i] if own[i] else shared[i] for i in range(n)]
        self.accounts = tables.add_accounts(
            ids=infra.hex_ids(rng, n, 8, "acct_"),
            created_ms=created_ms,
            email_domain=list(choose(rng, emails, n)),
            payment=payment,
            country=list(choose(rng, CAMPAIGN_COUNTRIES, n)),
            signup_ip=list(choose(rng, signup_ips, n)),
            org=[None] * n,
            tier=choose(rng, tiers, n),
            label=label,
            kind=kind,
            key_ids=key_lists(rng, n, max_keys, min_keys),
        )


class Hydra(Campaign):
    """A proxy service's hydra cluster: agentic coding and tool use load-balanced over many
    rotating accounts through a few rented /24s, pivoting to the new model within a day."""

    def __init__(self, world: World, label: str, n_accounts: int, share: float) -> None:
        rng, clock, tables, pools = world.rng, world.clock, world.tables, world.pools
        self.pools = pools
        self.start_day = int(rng.integers(0, max(1, clock.days // 4)))
        n = n_accounts
        # Accounts arrive in sign-up waves and are retired after a few days (banned or rotated).
        created = signup_waves(
            rng,
            clock.day_start(self.start_day) - DAY_MS,
            n,
            int(rng.integers(3, 8)),
            max(1.0, (clock.days - self.start_day) * 0.7),
        )
        self.lifespan = rng.integers(4, 13, size=n)
        self.first = np.maximum(self.start_day, (created - clock.start_ms) // DAY_MS + 1)
        n_blocks = int(rng.integers(2, 6))
        hosts = rng.choice(len(infra.VPS_HOSTING), size=n_blocks, replace=True)
        proxy: list[str] = []
        for h in hosts:
            proxy += infra.slash24_hosts(
                rng, infra.VPS_HOSTING[int(h)], 1, int(rng.integers(15, 60))
            )
        self.proxy = tables.ips.add_many(proxy)
        self._register(
            world,
            label,
            "hydra",
            created,
            tiers=("free", "pro", "startup", "pro"),
            n_payments=max(2, n // int(rng.integers(8, 20))),
            signup_ips=proxy[: max(3, len(proxy) // 6)],
        )
        # Client disguise: the same agent user agents and tool sets developers use.
        self.uas = tables.uas.add_many(
            [str(u) for u in rng.choice(infra.AGENT_UAS, size=2, replace=False)]
            + ["python-httpx/0.27.2"]
        )
        self.tools = np.concatenate(
            [pools.coding_tools[: int(rng.integers(1, 3))], [pools.data_tools]]
        )
        self.sys_pre, _ = template_fragments(world, content.HYDRA_SYSTEM, 12)
        self.task_pre, self.task_suf = template_fragments(
            world, content.HYDRA_TASK, int(rng.integers(25, 80))
        )
        self.template_share = float(rng.uniform(0.45, 0.8))
        active_days = max(1, clock.days - self.start_day)
        self.per_day = world.daily_target(share) * clock.days / active_days
        self.pivot_share = float(rng.uniform(0.4, 0.65))
        self.pivot_delay_ms = int(rng.uniform(2, 20) * HOUR_MS)
        self.params = {
            "accounts": n,
            "start_day": self.start_day,
            "proxy_blocks": n_blocks,
            "proxy_ips": len(proxy),
            "template_variants": len(self.task_pre),
            "template_share": round(self.template_share, 3),
            "pivot_share": round(self.pivot_share, 3),
            "pivot_delay_h": round(self.pivot_delay_ms / HOUR_MS, 1),
        }

    def day(self, ctx: DayContext) -> pl.DataFrame:
        rng, clock = ctx.rng, ctx.clock
        live = np.flatnonzero((self.first <= ctx.day) & (ctx.day < self.first + self.lifespan))
        if ctx.day < self.start_day or len(live) == 0:
            return batch(0)
        n = int(rng.poisson(self.per_day * rng.lognormal(0, 0.1)))
        accts = self.accounts[live[rng.integers(0, len(live), size=n)]]  # load balancer
        ts = rhythm.sample_times(rng, ctx.start_ms, n, rhythm.GLOBAL)
        templ = rng.random(n) < self.template_share
        cols = compose(
            rng,
            self.pools,
            n,
            (0.0, 0.1, 0.0, 0.0, 0.9),
            sys_p=0.0,
            agent_tools=pick(rng, self.tools, n),
            agent_sys=pick(rng, self.sys_pre, n),
        )
        k = int(templ.sum())
        v = rng.integers(0, len(self.task_pre), size=k)
        body = np.where(
            rng.random(k) < 0.6,
            pick(rng, self.pools.code_task, k),
            pick(rng, self.pools.chat_code, k),
        )
        cols["p0"][templ], cols["p1"][templ], cols["p2"][templ] = (
            self.task_pre[v],
            body,
            self.task_suf[v],
        )
        cols["hist"][templ] = np.where(rng.random(k) < 0.3, pick(rng, self.pools.agent_hist, k), -1)
        cols["tools"][templ] = pick(rng, self.tools, k)
        cols["sys"][templ] = pick(rng, self.sys_pre, k)
        model = choose_models(rng, ts, clock, (0.0, 0.35, 0.65), 0.0, 1.0)
        pivoted = (ts >= clock.release_ms + self.pivot_delay_ms) & (
            rng.random(n) < self.pivot_share
        )
        model[pivoted] = clock.new_model
        out, status = outcomes(rng, n, 900, 0.6, 0.03)
        return batch(
            n,
            ts=ts,
            acct=accts,
            key=ctx.tables.key_for(rng, accts),
            ip=pick(rng, self.proxy, n),
            ua=pick(rng, self.uas, n),
            model=model,
            out_tok=out,
            status=status,
            **cols,
        )


class ReasoningTraces(Campaign):
    """Reasoning-trace harvesting: CoT elicitation, reasoning reconstruction, rubric grading and
    sensitive rewrites, sent in synchronized bursts by accounts from abused research/education tiers."""

    def __init__(self, world: World, label: str, n_accounts: int, share: float) -> None:
        rng, clock, tables, pools = world.rng, world.clock, world.tables, world.pools
        self.pools = pools
        n = n_accounts
        self.start_day = int(rng.integers(0, max(1, clock.days // 3)))
        self.end_day = int(
            rng.integers(min(clock.days, self.start_day + max(3, clock.days // 2)), clock.days + 1)
        )
        created = signup_waves(
            rng, clock.day_start(self.start_day) - 3 * DAY_MS, n, int(rng.integers(1, 3)), 2.0
        )
        cloud = infra.slash24_hosts(
            rng,
            infra.MAJOR_CLOUD[int(rng.integers(0, len(infra.MAJOR_CLOUD)))],
            2,
            int(rng.integers(6, 20)),
        )
        resi = infra.residential_hosts(rng, "asia", 40) + infra.residential_hosts(
            rng, "americas", 40
        )
        self.cloud, self.resi = tables.ips.add_many(cloud), tables.ips.add_many(resi)
        self.hosting_share = float(rng.uniform(0.4, 0.9))
        self._register(
            world,
            label,
            "reasoning_traces",
            created,
            tiers=("research", "education", "research"),
            n_payments=max(1, n // int(rng.integers(5, 15))),
            signup_ips=cloud[:4],
            emails=("gmail.com", "outlook.com", "research-mail.org", "scholar-inbox.net"),
        )
        self.uas = tables.uas.add_many(
            [str(rng.choice(infra.SDK_UAS[:6])), "python-requests/2.32.3"]
        )
        # Template families and their paraphrases; mix and size by seed.
        families = [
            content.REASONING_COT,
            content.REASONING_RECONSTRUCT,
            content.REASONING_RUBRIC,
            content.REASONING_REWRITE,
        ]
        self.family_p = rng.dirichlet([4.0, 2.5, 2.0, 0.8])
        self.fams = [template_fragments(world, f, int(rng.integers(15, 50))) for f in families]
        # Bodies: a problem, or a problem with an answer to reconstruct, or an answer to grade.
        reasoning = [tables.fragments.values[int(i)] for i in pools.reasoning]
        chat = [tables.fragments.values[int(i)] for i in pick(rng, pools.chat, 400)]
        self.recon_body = tables.fragments.add_many(
            [
                f"{reasoning[int(rng.integers(0, len(reasoning)))]}\n\nAnswer: {int(rng.integers(2, 5000))}"
                for _ in range(400)
            ]
        )
        self.rubric_body = tables.fragments.add_many(
            [
                f"Question: {reasoning[int(rng.integers(0, len(reasoning)))]}\n\nResponse:\n{c}"
                for c in chat
            ]
        )
        self.sys = tables.fragments.add_many(
            [
                "You are an expert tutor who writes complete worked solutions.",
                "You are a meticulous teacher. Your explanations are used to train students.",
                "You are a grader for a question-answering dataset.",
            ]
        )
        self.bursts = (int(rng.integers(3, 9)), float(rng.uniform(4, 15)))  # per day, minutes each
        active = max(1, self.end_day - self.start_day)
        self.per_day = world.daily_target(share) * clock.days / active
        self.params = {
            "accounts": n,
            "start_day": self.start_day,
            "end_day": self.end_day,
            "bursts_per_day": self.bursts[0],
            "burst_minutes": round(self.bursts[1], 1),
            "family_mix": [round(float(x), 3) for x in self.family_p],
            "hosting_share": round(self.hosting_share, 3),
        }

    def day(self, ctx: DayContext) -> pl.DataFrame:
        rng = ctx.rng
        if not self.start_day <= ctx.day < self.end_day:
            return batch(0)
        n_bursts, minutes = self.bursts
        n_acc = len(self.accounts)
        starts = ctx.start_ms + np.sort(rng.integers(0, DAY_MS - HOUR_MS, size=n_bursts))
        # Each burst: most accounts of the cluster take part, each sending a few requests.
        joins = rng.random((n_bursts, n_acc)) < 0.85
        burst_of, member = np.nonzero(joins)
        per_member = max(0.0, 0.85 * self.per_day / max(1, len(member)) - 1.0)
        reps = 1 + rng.poisson(per_member, size=len(member))
        burst_of, member = np.repeat(burst_of, reps), np.repeat(member, reps)
        burst_ts = starts[burst_of] + (rng.random(len(member)) * minutes * 60_000).astype(np.int64)
        # The rest trickles in between bursts.
        n_trickle = int(rng.poisson(0.15 * self.per_day))
        ts = np.concatenate([burst_ts, ctx.start_ms + rng.integers(0, DAY_MS, size=n_trickle)])
        accts = self.accounts[np.concatenate([member, rng.integers(0, n_acc, size=n_trickle)])]
        n = len(ts)
        fam = rng.choice(4, size=n, p=self.family_p)
        v = np.zeros(n, dtype=np.int64)
        p0 = np.zeros(n, dtype=np.int32)
        p2 = np.zeros(n, dtype=np.int32)
        for f, (pre, suf) in enumerate(self.fams):
            m = fam == f
            v[m] = rng.integers(0, len(pre), size=int(m.sum()))
            p0[m], p2[m] = pre[v[m]], suf[v[m]]
        body = pick(rng, self.pools.reasoning, n)
        body = np.where(fam == 1, pick(rng, self.recon_body, n), body)
        body = np.where(fam == 2, pick(rng, self.rubric_body, n), body)
        body = np.where(fam == 3, pick(rng, self.pools.chat_other, n), body)
        ip = np.where(
            rng.random(n) < self.hosting_share, pick(rng, self.cloud, n), pick(rng, self.resi, n)
        )
        sys = np.where(rng.random(n) < 0.5, pick(rng, self.sys, n), -1)
        out, status = outcomes(rng, n, 1800, 0.5, 0.02)
        model = choose_models(rng, ts, ctx.clock, (0.0, 0.3, 0.7), 0.3, 3.0)
        return batch(
            n,
            ts=ts,
            acct=accts,
            key=ctx.tables.key_for(rng, accts),
            ip=ip,
            ua=pick(rng, self.uas, n),
            model=model,
            sys=sys,
            p0=p0,
            p1=body,
            p2=p2,
            out_tok=out,
            status=status,
        )


class LowAndSlow(Campaign):
    """An evasive campaign: ordinary per-account volume and hours, a residential proxy network
    rotating addresses per request, plain wording without CoT phrases; linked only by shared
    payment methods, sign-up waves and its (paraphrased) templates."""

    def __init__(self, world: World, label: str, n_accounts: int, share: float) -> None:
        rng, clock, tables, pools = world.rng, world.clock, world.tables, world.pools
        self.pools = pools
        n = n_accounts
        self.start_day = int(rng.integers(0, max(1, clock.days // 5)))
        created = signup_waves(
            rng, clock.day_start(self.start_day) - 10 * DAY_MS, n, int(rng.integers(2, 4)), 9.0
        )
        resi: list[str] = []
        for region in ("americas", "europe", "asia"):
            resi += infra.residential_hosts(rng, region, 150, v6_share=0.1)
        self.resi = tables.ips.add_many(resi)
        self._register(
            world,
            label,
            "low_and_slow",
            created,
            tiers=("pro", "free", "pro"),
            n_payments=max(2, n // int(rng.integers(6, 12))),
            signup_ips=resi[:20],
        )
        ua_pool = tables.uas.add_many(list(infra.BROWSER_UAS + infra.SDK_UAS))
        self.ua = ua_pool[rng.integers(0, len(ua_pool), size=n)]
        self.tz = np.full(n, int(rng.choice([8, 9, -5, 1])), dtype=np.int64)
        self.task = template_fragments(world, content.LOWSLOW_TASK, int(rng.integers(30, 90)))
        self.reason = template_fragments(world, content.LOWSLOW_REASON, int(rng.integers(20, 60)))
        self.p_active = rng.uniform(0.45, 0.85, size=n)
        active = max(1, clock.days - self.start_day)
        self.rate = (
            world.daily_target(share) * clock.days / active / (n * float(self.p_active.mean()))
        )
        self.template_share = float(rng.uniform(0.55, 0.85))
        self.params = {
            "accounts": n,
            "start_day": self.start_day,
            "per_account_daily": round(self.rate, 2),
            "template_share": round(self.template_share, 3),
            "tz": int(self.tz[0]),
        }

    def day(self, ctx: DayContext) -> pl.DataFrame:
        rng = ctx.rng
        if ctx.day < self.start_day:
            return batch(0)
        active = rng.random(len(self.accounts)) < self.p_active
        counts = rhythm.poisson_counts(
            rng, self.rate * active * rng.lognormal(0, 0.4, size=len(active))
        )
        actor, ts = rhythm.session_times(
            rng, ctx.start_ms, counts, 3.0, 20.0, rhythm.HUMAN, self.tz
        )
        n = len(actor)
        if n == 0:
            return batch(0)
        cols = compose(rng, self.pools, n, (0.3, 0.5, 0.1, 0.1, 0.0), cot_p=0.0, sys_p=0.05)
        templ = rng.random(n) < self.template_share
        code = rng.random(n) < 0.65
        for mask, (pre, suf), pool in (
            (templ & code, self.task, self.pools.code_task),
            (templ & ~code, self.reason, self.pools.reasoning),
        ):
            k = int(mask.sum())
            v = rng.integers(0, len(pre), size=k)
            cols["p0"][mask], cols["p1"][mask], cols["p2"][mask] = (
                pre[v],
                pick(rng, pool, k),
                suf[v],
            )
            cols["hist"][mask] = -1
        accts = self.accounts[actor]
        out, status = outcomes(rng, n, 700, 0.6, 0.004)
        return batch(
            n,
            ts=ts,
            acct=accts,
            key=ctx.tables.key_for(rng, accts),
            ip=pick(rng, self.resi, n),
            ua=self.ua[actor],
            model=choose_models(rng, ts, ctx.clock, (0.1, 0.5, 0.4), 0.3, 3.0),
            out_tok=out,
            status=status,
            **cols,
        )


class MixedReseller(Campaign):
    """A reseller that mixes extraction traffic with ordinary customer requests."""

    def __init__(
        self, world: World, label: str, n_accounts: int, share: float, hydra: Hydra,
        own_system_prompts: bool = False,
    ) -> None:
        rng, clock, tables, pools = world.rng, world.clock, world.tables, world.pools
        self.pools = pools
        n = n_accounts
        dc = infra.random_hosts(
            rng, infra.VPS_HOSTING[int(rng.integers(0, len(infra.VPS_HOSTING)))], 6
        )
        self.ips = tables.ips.add_many(dc)
        created = clock.start_ms - rng.integers(20, 200, size=n) * DAY_MS
        self._register(
            world,
            label,
            "reseller",
            created,
            tiers=("enterprise", "startup"),
            n_payments=1,
            signup_ips=dc,
            emails=("api-relay.net", "cheapllm.shop"),
            max_keys=8,
            min_keys=3,
        )
        self.ua_pool = tables.uas.add_many(list(infra.ROUTER_UAS))
        self.extraction_share = float(rng.uniform(0.3, 0.6))
        own = template_fragments(world, content.HYDRA_TASK, int(rng.integers(10, 30)))
        cot = template_fragments(world, content.REASONING_COT, int(rng.integers(10, 30)))
        self.templates = (own, cot)
        self.sys = hydra.sys_pre
        if own_system_prompts:  # a front with its own paraphrases of the operation's prompts
            self.sys, _ = template_fragments(world, content.HYDRA_SYSTEM, 12)
        self.per_day = world.daily_target(share)
        self.params = {"accounts": n, "extraction_share": round(self.extraction_share, 3)}

    def day(self, ctx: DayContext) -> pl.DataFrame:
        rng = ctx.rng
        n = int(rng.poisson(self.per_day * rng.lognormal(0, 0.2)))
        ts = rhythm.sample_times(rng, ctx.start_ms, n, rhythm.GLOBAL)
        cols = compose(
            rng,
            self.pools,
            n,
            (0.45, 0.15, 0.2, 0.08, 0.12),
            cot_p=0.05,
            sys_p=0.4,
            assistant_tools_p=0.1,
        )
        ext = rng.random(n) < self.extraction_share
        code = rng.random(n) < 0.6
        for mask, (pre, suf), pool in (
            (ext & code, self.templates[0], self.pools.code_task),
            (ext & ~code, self.templates[1], self.pools.reasoning),
        ):
            k = int(mask.sum())
            v = rng.integers(0, len(pre), size=k)
            cols["p0"][mask], cols["p1"][mask], cols["p2"][mask] = (
                pre[v],
                pick(rng, pool, k),
                suf[v],
            )
            cols["hist"][mask] = -1
        m = ext & code
        cols["tools"][m] = pick(rng, self.pools.coding_tools, int(m.sum()))
        cols["sys"][m] = pick(rng, self.sys, int(m.sum()))
        accts = self.accounts[rng.integers(0, len(self.accounts), size=n)]
        out, status = outcomes(rng, n, 600, 0.8, 0.02)
        return batch(
            n,
            ts=ts,
            acct=accts,
            key=ctx.tables.key_for(rng, accts),
            ip=pick(rng, self.ips, n),
            ua=pick(rng, self.ua_pool, n),
            model=choose_models(rng, ts, ctx.clock, (0.2, 0.4, 0.4), 0.4, 1.5),
            out_tok=out,
            status=status,
            **cols,
        )


class Targeted(Campaign):
    """A small campaign after one capability, from one cloud /24 during one time zone's workday."""

    def __init__(self, world: World, label: str, n_accounts: int, share: float) -> None:
        rng, clock, tables, pools = world.rng, world.clock, world.tables, world.pools
        self.pools = pools
        n = n_accounts
        self.capability = str(rng.choice(sorted(content.TARGETED_TEMPLATES)))
        self.start_day = int(rng.integers(0, max(1, clock.days // 2)))
        created = signup_waves(rng, clock.day_start(self.start_day) - DAY_MS, n, 1, 0.5)
        block = infra.slash24_hosts(
            rng,
            infra.MAJOR_CLOUD[int(rng.integers(0, len(infra.MAJOR_CLOUD)))],
            1,
            int(rng.integers(2, 6)),
        )
        self.ips = tables.ips.add_many(block)
        self._register(
            world,
            label,
            "targeted",
            created,
            tiers=("startup",),
            n_payments=int(rng.integers(1, 3)),
            signup_ips=block,
            emails=("gmail.com", "proton.me", "outlook.com"),
        )
        self.ua = tables.uas.add(str(rng.choice(infra.SDK_UAS[:6])))
        self.pre, self.suf = template_fragments(
            world, content.TARGETED_TEMPLATES[self.capability], int(rng.integers(10, 40))
        )
        if self.capability == "data_analysis":
            self.bodies = tables.fragments.add_many(list(content.DATA_SCHEMAS))
            self.tools = pools.data_tools
        elif self.capability == "computer_use":
            self.bodies = tables.fragments.add_many(list(content.COMPUTER_TASKS))
            self.tools = pools.computer_tools
        else:
            self.bodies = pools.chat_other
            self.tools = -1
        self.tz = int(rng.choice([8, 3, -3]))
        self.per_day = world.daily_target(share) * clock.days / max(1, clock.days - self.start_day)
        self.params = {"accounts": n, "capability": self.capability, "start_day": self.start_day}

    def day(self, ctx: DayContext) -> pl.DataFrame:
        rng = ctx.rng
        if ctx.day < self.start_day:
            return batch(0)
        wd = rhythm.weekday(ctx.day, ctx.clock.start_weekday)
        n = int(rng.poisson(self.per_day * rhythm.WEEK_WORK[wd] * 1.35))
        ts = rhythm.sample_times(rng, ctx.start_ms, n, rhythm.WORKDAY, self.tz)
        v = rng.integers(0, len(self.pre), size=n)
        accts = self.accounts[rng.integers(0, len(self.accounts), size=n)]
        out, status = outcomes(rng, n, 1100, 0.5, 0.01)
        return batch(
            n,
            ts=ts,
            acct=accts,
            key=ctx.tables.key_for(rng, accts),
            ip=pick(rng, self.ips, n),
            ua=self.ua,
            model=choose_models(rng, ts, ctx.clock, (0.0, 0.4, 0.6), 0.2, 3.0),
            p0=self.pre[v],
            p1=pick(rng, self.bodies, n),
            p2=self.suf[v],
            tools=self.tools,
            out_tok=out,
            status=status,
        )
