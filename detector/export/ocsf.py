"""OCSF 1.8 Detection Finding (class 2004): one finding per campaign alert, as JSON Lines.

A finding is created (activity 1) when the campaign is new and untouched since its first scan,
updated (2) after a later scan or a confirming verdict, and closed (3) once dismissed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from detector import __version__
from detector.export import atlas
from detector.export.alerts import Alert
from detector.export.jsonl import dumps

OCSF_VERSION = "1.8.0"
CLASS_UID = 2004
CLASS_NAME = "Detection Finding"
CATEGORY_UID = 2
CATEGORY_NAME = "Findings"
ACTIVITY = {"create": (1, "Create"), "update": (2, "Update"), "close": (3, "Close")}
SEVERITY_ID = {"low": 2, "medium": 3, "high": 4, "critical": 5}
RISK_LEVEL_ID = {"low": 1, "medium": 2, "high": 3, "critical": 4}
STATUS = {"new": (1, "New"), "confirmed": (2, "In Progress"), "dismissed": (3, "Suppressed")}
# Observable type ids from the OCSF `observable.type_id` enum.
OBSERVABLE_IP = (2, "IP Address")
OBSERVABLE_USER_NAME = (4, "User Name")
OBSERVABLE_OTHER = (99, "Other")
ANALYTIC_BEHAVIORAL = (2, "Behavioral")
ANALYTIC_RULE = (1, "Rule")
PRODUCT = {"name": "distillguard", "vendor_name": "distillguard", "version": __version__}


def epoch_ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _activity(alert: Alert) -> tuple[int, str]:
    if alert.status == "dismissed":
        return ACTIVITY["close"]
    return ACTIVITY["create"] if alert.is_new_finding else ACTIVITY["update"]


def _observables(alert: Alert) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def add(name: str, kind: tuple[int, str], values: Iterable[Any]) -> None:
        found.extend({"name": name, "type_id": kind[0], "type": kind[1], "value": str(v)} for v in values)

    add("actor.user.uid", OBSERVABLE_USER_NAME, alert.accounts)
    add("src_endpoint.ip", OBSERVABLE_IP, alert.indicators.get("ips", []))
    add("unmapped.ip_prefix", OBSERVABLE_OTHER, alert.indicators.get("prefixes", []))
    add("src_endpoint.autonomous_system.number", OBSERVABLE_OTHER, alert.indicators.get("asns", []))
    add("unmapped.template_fingerprint", OBSERVABLE_OTHER, alert.indicators.get("template_fingerprints", []))
    return found


def _evidences(alert: Alert) -> list[dict[str, Any]]:
    summary = {"data": {"signals": alert.signals, "rules": list(alert.rules),
                        "request_count": alert.request_count, "account_count": len(alert.accounts)}}
    per_account = [{"actor": {"user": {"uid": account, "type_id": 1, "type": "User"}}}
                   for account in alert.accounts]
    per_ip = [{"src_endpoint": {"ip": str(ip)}} for ip in alert.indicators.get("ips", [])]
    return [summary, *per_account, *per_ip]


def finding(alert: Alert) -> dict[str, Any]:
    """The Detection Finding for one alert; every time is epoch milliseconds (UTC)."""
    activity_id, activity_name = _activity(alert)
    status_id, status_name = STATUS.get(alert.status, (99, "Other"))
    severity_id = SEVERITY_ID.get(alert.severity, 99)
    return {
        "activity_id": activity_id,
        "activity_name": activity_name,
        "category_uid": CATEGORY_UID,
        "category_name": CATEGORY_NAME,
        "class_uid": CLASS_UID,
        "class_name": CLASS_NAME,
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": f"{CLASS_NAME}: {activity_name}",
        "severity_id": severity_id,
        "severity": alert.severity.capitalize() if severity_id != 99 else "Other",
        "time": epoch_ms(alert.updated_at),
        "message": alert.title,
        "status_id": status_id,
        "status": status_name,
        "confidence_score": round(alert.score * 100),
        "risk_score": round(alert.score * 100),
        "risk_level_id": RISK_LEVEL_ID.get(alert.severity, 99),
        "risk_level": alert.severity.capitalize(),
        "metadata": {
            "product": PRODUCT,
            "version": OCSF_VERSION,
            "uid": alert.alert_id,
            "correlation_uid": alert.campaign_id,
            "labels": list(alert.tags),
            "created_time": epoch_ms(alert.created_at),
            "modified_time": epoch_ms(alert.updated_at),
        },
        "finding_info": {
            "uid": alert.alert_id,
            "title": alert.title,
            "desc": (f"{len(alert.accounts)} accounts, {alert.request_count} requests; "
                     f"rules: {', '.join(alert.rules) or 'none'}"),
            "types": ["Model Extraction", "Distillation Campaign"],
            "analytic": {"name": "distillguard campaign assembly", "uid": "distillguard.campaign",
                         "type_id": ANALYTIC_BEHAVIORAL[0], "type": ANALYTIC_BEHAVIORAL[1]},
            "related_analytics": [{"name": rule, "uid": rule, "type_id": ANALYTIC_RULE[0],
                                   "type": ANALYTIC_RULE[1]} for rule in alert.rules],
            "first_seen_time": epoch_ms(alert.first_seen),
            "last_seen_time": epoch_ms(alert.last_seen),
            "created_time": epoch_ms(alert.created_at),
            "modified_time": epoch_ms(alert.updated_at),
            "attacks": [{
                "technique": {"uid": atlas.TECHNIQUE_ID, "name": atlas.TECHNIQUE_NAME,
                              "src_url": atlas.TECHNIQUE_URL},
                "tactic": {"uid": atlas.TACTIC_ID, "name": atlas.TACTIC_NAME},
            }],
        },
        "observables": _observables(alert),
        "evidences": _evidences(alert),
        "unmapped": {"campaign_id": alert.campaign_id, "score": alert.score,
                     "indicators": alert.indicators, "tags": list(alert.tags)},
    }


def ocsf_lines(alerts: Iterable[Alert]) -> Iterator[str]:
    """One Detection Finding per line."""
    for alert in alerts:
        yield dumps(finding(alert)) + "\n"
