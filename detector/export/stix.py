"""STIX 2.1 bundle built with `stix2`: producer identity, ATLAS attack pattern, a campaign per
alert, indicators for its network and template indicators, and the accounts as `user-account`.

Ids are uuid5 of a fixed namespace and a content key (stamped as v4), times come from the store: the
same campaigns export to the same ids, and an unchanged store to the same bytes, every time.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import stix2
from stix2.serialization import STIXJSONEncoder

from detector.export import atlas
from detector.export.alerts import Alert

# Fixed forever: changing it changes every exported id.
NAMESPACE = uuid.UUID("6f0f6e3c-5d0b-5c2e-9b51-0d15711d9a7d")
PRODUCER_CREATED = datetime(2026, 1, 1, tzinfo=UTC)
TEMPLATE_FP_TYPE = "x-distillguard-template-fingerprint"
INDICATOR_WORDS = {
    "ip": "Client IP address",
    "prefix": "Client network prefix",
    "asn": "Client autonomous system",
    "template": "Prompt-template fingerprint (a hash; no prompt text)",
}
CONFIDENCE = {"low": 30, "medium": 50, "high": 75, "critical": 90}


def stix_id(kind: str, *key: str) -> str:
    """`kind--<uuid>` from uuid5(NAMESPACE, kind|key...), re-stamped as version 4: STIX 2.1 wants
    v4-shaped ids for SDOs and SROs, and the bits stay a pure function of the key."""
    digest = uuid.uuid5(NAMESPACE, "|".join((kind, *key)))
    return f"{kind}--{uuid.UUID(bytes=digest.bytes, version=4)}"


def _quote(value: str) -> str:
    """A STIX pattern string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


PRODUCER = stix2.Identity(
    id=stix_id("identity", "distillguard"),
    created=PRODUCER_CREATED,
    modified=PRODUCER_CREATED,
    name="distillguard",
    identity_class="system",
    description="Detector of distillation (model extraction) campaigns in LLM API request logs.",
)
EXTENSION = stix2.ExtensionDefinition(
    id=stix_id("extension-definition", "distillguard-campaign", "1.0"),
    created=PRODUCER_CREATED,
    modified=PRODUCER_CREATED,
    created_by_ref=PRODUCER.id,
    name="distillguard campaign properties",
    description="Campaign id, alert id, severity, score and analyst status from distillguard.",
    schema="https://github.com/distillguard/distillguard/blob/main/README.md#export",
    version="1.0",
    extension_types=["toplevel-property-extension"],
    extension_properties=[
        "x_distillguard_campaign_id", "x_distillguard_alert_id", "x_distillguard_severity",
        "x_distillguard_score", "x_distillguard_status",
    ],
)
ATLAS_REFERENCE = {
    "source_name": "mitre-atlas",
    "external_id": atlas.TECHNIQUE_ID,
    "url": atlas.TECHNIQUE_URL,
}
KILL_CHAIN = [{"kill_chain_name": atlas.KILL_CHAIN_NAME, "phase_name": atlas.KILL_CHAIN_PHASE}]
ATTACK_PATTERN = stix2.AttackPattern(
    id=stix_id("attack-pattern", atlas.TECHNIQUE_ID),
    created=PRODUCER_CREATED,
    modified=PRODUCER_CREATED,
    created_by_ref=PRODUCER.id,
    name=atlas.TECHNIQUE_NAME,
    external_references=[ATLAS_REFERENCE],
    kill_chain_phases=KILL_CHAIN,
)


def _patterns(alert: Alert) -> Iterator[tuple[str, str, str]]:
    """(kind, value, STIX pattern) for every indicator worth sharing; payment fingerprints stay home."""
    for ip in alert.indicators.get("ips", []):
        try:
            version = ipaddress.ip_address(str(ip)).version
        except ValueError:
            continue
        yield "ip", str(ip), f"[ipv{version}-addr:value = {_quote(str(ip))}]"
    for prefix in alert.indicators.get("prefixes", []):
        try:
            net = ipaddress.ip_network(str(prefix), strict=False)
        except ValueError:
            continue
        yield "prefix", str(net), f"[ipv{net.version}-addr:value ISSUBSET {_quote(str(net))}]"
    for asn in alert.indicators.get("asns", []):
        if isinstance(asn, int) or str(asn).isdigit():
            yield "asn", str(int(asn)), f"[autonomous-system:number = {int(asn)}]"
    for fp in alert.indicators.get("template_fingerprints", []):
        yield "template", str(fp), f"[{TEMPLATE_FP_TYPE}:value = {_quote(str(fp))}]"


def _campaign_objects(alert: Alert) -> list[Any]:
    created = alert.created_at
    modified = max(alert.updated_at, created)
    valid_from = alert.first_seen or created
    campaign = stix2.Campaign(
        id=stix_id("campaign", alert.campaign_id),
        created=created,
        modified=modified,
        created_by_ref=PRODUCER.id,
        name=alert.title,
        description=(f"{len(alert.accounts)} accounts, {alert.request_count} requests; "
                     f"rules: {', '.join(alert.rules) or 'none'}"),
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        confidence=CONFIDENCE.get(alert.severity),
        labels=list(alert.tags),
        external_references=[
            ATLAS_REFERENCE,
            {"source_name": "distillguard", "external_id": alert.alert_id},
        ],
        extensions={EXTENSION.id: {"extension_type": "toplevel-property-extension"}},
        allow_custom=True,
        **{
            "x_distillguard_campaign_id": alert.campaign_id,
            "x_distillguard_alert_id": alert.alert_id,
            "x_distillguard_severity": alert.severity,
            "x_distillguard_score": alert.score,
            "x_distillguard_status": alert.status,
        },
    )
    objects: list[Any] = [
        campaign,
        stix2.Relationship(
            id=stix_id("relationship", alert.campaign_id, "uses", ATTACK_PATTERN.id),
            created=created, modified=modified, created_by_ref=PRODUCER.id,
            relationship_type="uses", source_ref=campaign.id, target_ref=ATTACK_PATTERN.id,
        ),
    ]
    for kind, value, pattern in _patterns(alert):
        indicator = stix2.Indicator(
            id=stix_id("indicator", alert.campaign_id, kind, value),
            created=created, modified=modified, created_by_ref=PRODUCER.id,
            name=f"{kind} {value}",
            description=f"{INDICATOR_WORDS[kind]} seen in campaign {alert.campaign_id}",
            indicator_types=["malicious-activity"],
            pattern=pattern, pattern_type="stix", valid_from=valid_from,
            kill_chain_phases=KILL_CHAIN,
            allow_custom=kind == "template",
        )
        objects += [
            indicator,
            stix2.Relationship(
                id=stix_id("relationship", alert.campaign_id, "indicates", indicator.id),
                created=created, modified=modified, created_by_ref=PRODUCER.id,
                relationship_type="indicates", source_ref=indicator.id, target_ref=campaign.id,
            ),
        ]
    for account in alert.accounts:
        user = stix2.UserAccount(user_id=account)  # SCO id: uuid5 of user_id, per the spec
        objects += [
            user,
            stix2.Relationship(
                id=stix_id("relationship", alert.campaign_id, "related-to", user.id),
                created=created, modified=modified, created_by_ref=PRODUCER.id,
                relationship_type="related-to", source_ref=campaign.id, target_ref=user.id,
                description="account operated in this campaign",
            ),
        ]
    return objects


def objects(alerts: Sequence[Alert]) -> list[Any]:
    """Every STIX object for these alerts; shared ones (identity, attack pattern, accounts) once."""
    seen: dict[str, Any] = {
        PRODUCER.id: PRODUCER, EXTENSION.id: EXTENSION, ATTACK_PATTERN.id: ATTACK_PATTERN
    }
    for alert in alerts:
        for obj in _campaign_objects(alert):
            seen.setdefault(obj.id, obj)
    return list(seen.values())


def bundle_id(alerts: Sequence[Alert]) -> str:
    """Same alerts in the same state, same bundle id."""
    return stix_id("bundle", "|".join(f"{a.campaign_id}@{a.updated_at.isoformat()}" for a in alerts))


def stix_chunks(alerts: Iterable[Alert]) -> Iterator[str]:
    """The bundle as indented JSON with sorted keys, so two exports compare byte for byte.

    Each object is built (and checked) by `stix2`; the bundle envelope is written here, since
    `stix2.Bundle` would check every object a second time."""
    chosen = list(alerts)
    body = json.loads(json.dumps(objects(chosen), cls=STIXJSONEncoder))
    envelope = {"type": "bundle", "id": bundle_id(chosen), "objects": body}
    yield json.dumps(envelope, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
