"""Campaign: the case on one screen, and the verdict form."""

import charts
import components
import queries
import streamlit as st
from components import SEVERITY_ICON, md

from detector.review.graph_layout import GRAPH_ACCOUNTS


def render(path: str) -> None:
    table = queries.queue(path)
    if table.is_empty():
        st.info("No campaigns in the store.")
        return
    ids = table["campaign_id"].to_list()
    current = components.selected("campaign")
    if current not in ids:
        current = ids[0]
    pick = st.selectbox("Campaign", ids, index=ids.index(current),
                        format_func=lambda c: f"{c}  ·  {table.filter(table['campaign_id'] == c)['title'][0][:90]}")
    if pick != current:
        components.choose("campaign", pick)
        current = pick
    c = queries.campaign(path, current)
    if c is None:
        st.warning("This campaign is no longer in the store.")
        return

    st.subheader(md(c["title"]))
    st.caption(f"{md(c['campaign_id'])} · alert {md(c['alert_id'])} · tags {md(', '.join(c['tags']))}")
    m = st.columns(6)
    m[0].metric("Score", f"{c['score']:.2f}")
    m[1].metric("Severity", f"{SEVERITY_ICON.get(c['severity'], '')} {c['severity']}")
    m[2].metric("Status", c["status"])
    m[3].metric("Accounts", f"{c['accounts']:,}")
    m[4].metric("Requests", f"{c['request_count']:,}")
    pop_cot = queries.population_cot_share(path)
    m[5].metric("CoT elicitation", "-" if c["cot_share"] is None else f"{c['cot_share']:.0%}",
                delta=None if c["cot_share"] is None or pop_cot is None
                else f"{c['cot_share'] - pop_cot:+.0%} vs all traffic", delta_color="inverse")
    st.text(f"Active {queries.last_sighting(c['first_seen'])} → {queries.last_sighting(c['last_seen'])}")

    why, decide = st.columns([3, 2])
    with why:
        st.markdown("#### Why")
        families = c["signals"].get("families") or []
        st.text("Independent signal families that agree: " + (", ".join(families) or "-"))
        texts = queries.rule_texts()
        for rule_id in c["rules"]:
            title, signal, description = texts.get(rule_id, (rule_id, "?", ""))
            st.text(f"• [{signal}] {title} ({rule_id})")
            if description:
                st.caption(md(description.strip().splitlines()[0]))
        values = {k: v for k, v in c["signals"].items() if k not in ("families", "capability_mix")}
        if values:
            st.dataframe([{"signal": k, "value": str(v)} for k, v in sorted(values.items())],
                         hide_index=True, width="stretch")
    with decide:
        st.markdown("#### Verdict")
        components.verdict_form(path, "campaign", current, "campaign_verdict")
        trail = queries.verdict_trail(path, "campaign", current)
        if not trail.is_empty():
            st.dataframe(trail.drop("subject_type", "subject_id"), hide_index=True)
        st.page_link("app_pages/export.py", label="Export this campaign", icon="📤",
                     query_params={"campaign": current})

    st.markdown("#### Accounts")
    members = queries.campaign_members(path, current)
    st.dataframe(members, hide_index=True, height=min(400, 38 + 35 * members.height),
                 column_config={"score": st.column_config.NumberColumn(format="%.2f"),
                                "hosting_share": st.column_config.NumberColumn(format="%.2f")})
    if members.height:
        a1, a2 = st.columns([3, 1], vertical_alignment="bottom")
        account_id = a1.selectbox("Open an account", members["account_id"].to_list(), key="open_account")
        a2.page_link("app_pages/account.py", label="Open account", icon="👤",
                     query_params={"account": account_id})

    st.markdown("#### Infrastructure")
    nodes, edges = queries.graph(path, current)
    if nodes.is_empty():
        st.text("No shared infrastructure recorded.")
    else:
        counts = nodes.group_by("kind").len().sort("kind")
        st.caption("Accounts linked to the IPs, /24 prefixes, payment fingerprints and client strings "
                   "that at least two of them share"
                   + (f" (the busiest {GRAPH_ACCOUNTS} accounts). " if members.height > GRAPH_ACCOUNTS else ". ")
                   + ", ".join(f"{n} {k}" for k, n in counts.iter_rows()))
        st.altair_chart(charts.infrastructure(nodes, edges), width="stretch")

    st.markdown("#### Activity by hour")
    hourly = queries.campaign_hourly(path, current)
    if hourly.is_empty():
        st.text("No requests.")
    else:
        st.altair_chart(charts.hour_totals(queries.campaign_hour_totals(path, current)), width="stretch")
        st.altair_chart(charts.timeline(hourly), width="stretch")
        st.caption("Busiest 40 accounts. Columns lit together: synchronised accounts; "
                   "rows without gaps: 24/7 automation.")

    left, right = st.columns(2)
    with left:
        st.markdown("#### Capability mix")
        mix = queries.capability_mix(path, current)
        if mix.is_empty():
            st.text("No capability labels (the features stage has not run).")
        else:
            st.altair_chart(charts.capability_mix(mix), width="stretch")
    with right:
        st.markdown("#### Model pivot")
        models = queries.campaign_models(path, current)
        if not models.is_empty():
            st.altair_chart(charts.per_day(models), width="stretch")

    st.markdown("#### Top templates")
    templates = queries.campaign_templates(path, current)
    if templates.is_empty():
        st.text("No template fingerprints.")
    for row in templates.iter_rows(named=True):
        label = (f"{row['template_fp']} · {row['requests']:,} requests · {row['accounts']} accounts"
                 f" · {row['share']:.0%} of the campaign")
        with st.expander(md(label)):
            for sample in row["samples"] or []:
                components.prompt_box(sample)


components.guarded(render)
