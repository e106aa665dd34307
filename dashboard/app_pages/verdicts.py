"""Verdicts: record a decision on any campaign, account or organisation; the audit trail."""

import components
import queries
import streamlit as st

SUBJECTS = ("campaign", "account", "org")


def render(path: str) -> None:
    st.title("Verdicts")
    st.caption("Every decision is kept; the newest per subject wins. The next scan applies them: "
               "a dismissed or allowlisted campaign stops alerting, an allowlisted account or "
               "organisation leaves every campaign.")
    left, right = st.columns([2, 3])
    with left:
        subject_type = st.selectbox("Subject", SUBJECTS, key="v_subject_type")
        default = components.selected(subject_type) or ""
        subject_id = st.text_input("Id", value=default, key=f"v_subject_id_{subject_type}").strip()
        if subject_id:
            components.verdict_form(path, subject_type, subject_id, "verdicts_page_form")
    with right:
        st.markdown("#### Audit trail")
        kind = st.selectbox("Show", ["all", *SUBJECTS], key="v_trail_filter")
        trail = queries.verdict_trail(path, None if kind == "all" else kind)
        if trail.is_empty():
            st.text("No verdicts yet.")
        else:
            st.dataframe(trail, hide_index=True)


components.guarded(render)
