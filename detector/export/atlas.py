"""The MITRE ATLAS technique every distillguard alert maps to, for formats that want more than a tag."""

from __future__ import annotations

from detector.rules.schema import ATLAS_TECHNIQUE

TECHNIQUE_ID = ATLAS_TECHNIQUE  # AML.T0024.002
TECHNIQUE_NAME = "Extract ML Model"
TECHNIQUE_URL = f"https://atlas.mitre.org/techniques/{TECHNIQUE_ID}"
TACTIC_ID = "AML.TA0010"
TACTIC_NAME = "Exfiltration"
KILL_CHAIN_NAME = "mitre-atlas"
KILL_CHAIN_PHASE = "exfiltration"
