"""Parameters of the account graph: attribute types, their weights, pruning and clustering knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AttributeType = Literal[
    "ip",
    "prefix",
    "hosting_asn",
    "user_agent",
    "payment",
    "signup_ip",
    "signup_prefix",
    "signup_hour",
    "email_domain",
    "system_fp",
    "template_fp",
]

# Each attribute type belongs to one evidence family. Inside a family, shared values combine as a
# noisy-OR (a second shared IP of the same proxy pool adds less than the first); across families
# the contributions add up, so an edge needs either one strong family or several weak ones.
ATTRIBUTE_FAMILIES: dict[str, str] = {
    "ip": "network",
    "prefix": "network",
    "hosting_asn": "network",
    "user_agent": "client",
    "payment": "payment",
    "signup_ip": "signup",
    "signup_prefix": "signup",
    "signup_hour": "signup",
    "email_domain": "email",
    "system_fp": "content",
    "template_fp": "content",
}

FAMILIES: tuple[str, ...] = ("network", "client", "payment", "signup", "email", "content")


def _default_type_weights() -> dict[str, float]:
    return {
        "ip": 1.0,
        "prefix": 0.6,
        "hosting_asn": 0.4,
        "user_agent": 0.6,
        "payment": 1.0,
        "signup_ip": 1.0,
        "signup_prefix": 0.6,
        "signup_hour": 0.3,
        "email_domain": 1.0,
        "system_fp": 1.0,
        "template_fp": 0.6,
    }


def _default_family_weights() -> dict[str, float]:
    return {
        "network": 0.6,
        "client": 0.3,
        "payment": 0.8,
        "signup": 0.5,
        "email": 1.0,
        "content": 0.6,
        "synchrony": 1.0,
    }


def _default_type_caps() -> dict[str, int]:
    # Only rare templates link accounts: a template used by hundreds of accounts is a popular
    # task, not a shared operator. Browser builds are shared by whole populations.
    return {"template_fp": 30, "user_agent": 200}


@dataclass(frozen=True)
class GraphParams:
    """Every knob of the graph stage, with the defaults the stage was tuned with.

    Weight of one shared attribute value held by `d` accounts (inverse-degree IDF against a
    fixed reference population, so the same value weighs the same in a small or a large store):

        rarity(d) = clip(ln(R / d) / ln(R / 2), 0, 1),   R = idf_reference_accounts

    A value held by 2 accounts weighs 1; by 200 accounts 0.46; by 1,000 accounts 0.27. Values
    held by more than `max_accounts_per_value` accounts (a campus NAT, a browser build, a big
    cloud ASN) are pruned: they create no edge and cost no pair; `max_accounts_by_type` lowers
    that cap per type. A value of a `dispersion_types` type held by `dispersion_min_accounts` or
    more accounts is also weighed by how its holders spread over home networks and sign-up days
    compared with a random sample of the population (`spread`, about 1 for a popular agent
    product's system prompt, far below for an operator's rented blocks and sign-up waves): its
    weight is multiplied by 1 - clip((spread - dispersion_low) / (dispersion_high -
    dispersion_low)), and it is pruned from `dispersion_high` on. Within a type, values are admitted rarest first until the pairs they
    create reach `max_pairs_per_type`, which bounds the edge self-join on any data.

    Pair score = sum over families f of family_weights[f] * noisy_or(type_weights[t] * rarity)
    * coverage ** coverage_exponent, where coverage is the shared weight over the larger of the
    two accounts' total weight in that family (a router with 2,000 templates sharing 20 with a
    casual user is not tied to it)
    plus family_weights["synchrony"] * clip((synchrony - synchrony_floor) / (synchrony_saturation
    - synchrony_floor), 0, 1): a faint co-activity (below the floor) is no independent tie. The content
    family takes the larger of its shared rare values and min(1, template-set Jaccard /
    template_set_saturation): both read the same prompts, so they do not add up. Content alone
    (0.6) stays under the threshold (0.7): sharing a task mix is not enough without a second,
    independent tie. An edge is
    kept when its score reaches `edge_threshold`; each account then keeps its `top_k_edges`
    strongest edges (an edge survives if either end keeps it), which stops chaining through
    accounts that touch several groups.

    Look-back window: the graph reads the request-level evidence (addresses, user agents,
    templates, system prompts, active minutes, daily volume) of the last `lookback_days` UTC
    days, ending with the day of the newest stored request; an account is in the graph when it
    made a request in that window or signed up in it. An account idle for longer leaves the
    graph (no attributes, edges or cluster) until it is active again; its own features and
    scores are untouched. None reads the whole history.
    """

    # look-back window in UTC days (None: the whole history)
    lookback_days: int | None = 90

    # attribute weighting and hub pruning
    type_weights: dict[str, float] = field(default_factory=_default_type_weights)
    family_weights: dict[str, float] = field(default_factory=_default_family_weights)
    idf_reference_accounts: int = 10_000
    max_accounts_per_value: int = 400
    max_accounts_by_type: dict[str, int] = field(default_factory=_default_type_caps)
    max_pairs_per_type: int = 5_000_000
    coverage_exponent: float = 0.25
    # dispersed hubs: content and client values whose holders look like a random sample of the
    # population (spread over home networks and sign-up days) lose weight, to 0 at the top
    dispersion_types: tuple[str, ...] = ("system_fp", "template_fp", "user_agent", "email_domain")
    dispersion_min_accounts: int = 5
    dispersion_low: float = 0.3
    dispersion_high: float = 0.6
    hosting_network_classes: tuple[str, ...] = ("hosting", "vpn", "tor")
    signup_bucket_seconds: int = 3600
    public_email_domains: frozenset[str] | None = None  # None: rules/public_email_domains.yaml

    # synchrony (SynchroTrap-style co-activity)
    bucket_seconds: int = 60
    min_active_buckets: int = 5
    min_co_buckets: int = 5
    minhash_hashes: int = 32
    minhash_band_rows: int = 2
    max_band_accounts: int = 50
    crowded_band_neighbours: int = 4
    synchrony_saturation: float = 0.5
    synchrony_floor: float = 0.05

    # template-set similarity (needs request_features)
    min_template_set: int = 3
    max_accounts_per_template_set_item: int = 5_000
    template_set_saturation: float = 0.5

    # edges and communities
    edge_threshold: float = 0.7
    top_k_edges: int = 30
    resolution: float = 0.3
    seed: int = 42
    algorithm: Literal["leiden", "louvain"] = "leiden"

    def __post_init__(self) -> None:
        if self.lookback_days is not None and self.lookback_days < 1:
            raise ValueError("lookback_days must be at least 1 (or None for the whole history)")
        if self.bucket_seconds < 1 or 86_400 % self.bucket_seconds:
            # active-minute sketches are kept per UTC day: a bucket must not straddle midnight
            raise ValueError("bucket_seconds must divide a day (86,400 s)")

    def sketch_key(self) -> str:
        """The knobs that define the stored per-day activity sketches; another key rebuilds them."""
        bins = max(1, self.minhash_hashes // self.minhash_band_rows) * self.minhash_band_rows
        hosting = ",".join(sorted(self.hosting_network_classes))
        return f"bucket={self.bucket_seconds};bins={bins};seed={self.seed};hosting={hosting};v=2"
