"""Campaigns: clusters, scores and rule hits assembled into alerts with evidence and stable ids."""

from detector.campaigns.assemble import (
    CampaignDraft,
    assemble_campaigns,
    evidence_strength,
    severity_for,
)
from detector.campaigns.evidence import CampaignEvidence, explain, gather_evidence
from detector.campaigns.identity import Candidate, alert_id_for, assign_ids, campaign_id_for
from detector.campaigns.params import CampaignParams
from detector.campaigns.profile import account_frame, cluster_frame, cluster_membership
from detector.campaigns.publish import KnownCampaigns, ensure_tables, known_campaigns, publish
from detector.campaigns.scores import account_scores

__all__ = [
    "CampaignDraft",
    "CampaignEvidence",
    "CampaignParams",
    "Candidate",
    "KnownCampaigns",
    "account_frame",
    "account_scores",
    "alert_id_for",
    "assemble_campaigns",
    "assign_ids",
    "campaign_id_for",
    "cluster_frame",
    "cluster_membership",
    "ensure_tables",
    "evidence_strength",
    "explain",
    "gather_evidence",
    "known_campaigns",
    "publish",
    "severity_for",
]
