"""OCSF 1.8 Detection Finding export checked against the schema's required attributes."""

from __future__ import annotations

import json

from export_store import ATTACK, CONFIRMED, DISMISSED

from detector.export import Format, render

# Required attributes of the OCSF `detection_finding` class (2004) and of the objects it
# requires, as the OCSF 1.x schema browser (https://schema.ocsf.io/classes/detection_finding)
# marks them: base event activity_id, category_uid, class_uid, metadata, severity_id, time,
# type_uid; finding class finding_info; metadata product and version; product vendor_name;
# finding_info uid; analytic type_id. The schema JSON is not available offline here (no PyPI
# package ships 1.8), so this list is committed by hand and was not diffed against 1.8.0.
REQUIRED = {
    "": {"activity_id", "category_uid", "class_uid", "finding_info", "metadata", "severity_id",
         "time", "type_uid"},
    "metadata": {"product", "version"},
    "metadata.product": {"vendor_name"},
    "finding_info": {"uid"},
    "finding_info.analytic": {"type_id"},
}
ENUMS = {"activity_id": {0, 1, 2, 3, 99}, "severity_id": {0, 1, 2, 3, 4, 5, 6, 99},
         "status_id": {0, 1, 2, 3, 4, 5, 6, 99}, "risk_level_id": {0, 1, 2, 3, 4, 99}}
OBSERVABLE_TYPE_IDS = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 99}


def missing_required(finding: dict) -> list[str]:
    missing = []
    for path, names in REQUIRED.items():
        node = finding
        for part in filter(None, path.split(".")):
            node = node.get(part, {})
        missing += [f"{path}.{n}".lstrip(".") for n in names if node.get(n) in (None, "", [])]
    return missing


def findings(con) -> dict[str, dict]:
    return {f["unmapped"]["campaign_id"]: f for f in map(json.loads, "".join(render(con, Format.ocsf)).splitlines())}


def test_every_finding_has_the_required_attributes(con):
    got = findings(con)
    assert len(got) == 3
    for finding in got.values():
        assert missing_required(finding) == []
        assert finding["class_uid"] == 2004 and finding["category_uid"] == 2
        assert finding["type_uid"] == 2004 * 100 + finding["activity_id"]
        assert finding["metadata"]["version"] == "1.8.0"
        assert finding["metadata"]["product"]["name"] == "distillguard"
        for name, allowed in ENUMS.items():
            assert finding[name] in allowed, name
        assert all(o["type_id"] in OBSERVABLE_TYPE_IDS for o in finding["observables"])


def test_finding_content_matches_the_alert(con):
    f = findings(con)[ATTACK.campaign_id]
    assert f["finding_info"]["uid"] == ATTACK.alert_id and f["finding_info"]["title"] == ATTACK.title
    assert f["severity_id"] == 4  # high
    assert f["time"] == int(ATTACK.updated_at.timestamp()) * 1000
    assert f["finding_info"]["first_seen_time"] == int(ATTACK.first_seen.timestamp()) * 1000
    assert f["finding_info"]["last_seen_time"] == int(ATTACK.last_seen.timestamp()) * 1000
    assert f["risk_score"] == 91
    users = {o["value"] for o in f["observables"] if o["type_id"] == 4}
    ips = {o["value"] for o in f["observables"] if o["type_id"] == 2}
    assert users == set(ATTACK.accounts)
    assert ips == set(ATTACK.indicators["ips"])
    assert [a["technique"]["uid"] for a in f["finding_info"]["attacks"]] == ["AML.T0024.002"]
    assert {r["uid"] for r in f["finding_info"]["related_analytics"]} == set(ATTACK.rules)
    assert {e["actor"]["user"]["uid"] for e in f["evidences"] if "actor" in e} == set(ATTACK.accounts)


def test_activity_and_status_follow_the_alert_lifecycle(con):
    got = findings(con)
    # untouched new alert: Create; confirmed after a later scan: Update; dismissed: Close
    assert (got[ATTACK.campaign_id]["activity_id"], got[ATTACK.campaign_id]["status_id"]) == (1, 1)
    assert (got[CONFIRMED.campaign_id]["activity_id"], got[CONFIRMED.campaign_id]["status_id"]) == (2, 2)
    assert (got[DISMISSED.campaign_id]["activity_id"], got[DISMISSED.campaign_id]["status_id"]) == (3, 3)
    assert got[CONFIRMED.campaign_id]["severity_id"] == 5 and got[DISMISSED.campaign_id]["severity_id"] == 3
