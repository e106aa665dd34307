"""Account: its requests over time, networks, capabilities, sample prompts and campaign."""

import charts
import components
import queries
import streamlit as st
from components import md


def render(path: str) -> None:
    st.title("Account")
    current = components.selected("account")
    typed = st.text_input("Account id", value=current or "", key="account_search")
    if typed and typed != current:
        components.choose("account", typed)
        current = typed
    if not current:
        st.caption("Most suspicious accounts")
        st.dataframe(queries.top_accounts(path), hide_index=True,
                     column_config={"score": st.column_config.NumberColumn(format="%.3f")})
        return
    a = queries.account(path, current)
    if a is None:
        st.warning("No such account in the store.")
        return
    st.subheader(md(a["account_id"]))
    m = st.columns(5)
    m[0].metric("Score", "-" if a["score"] is None else f"{a['score']:.3f}")
    m[1].metric("Flagged", "yes" if a["flagged"] else "no")
    m[2].metric("Requests", f"{a['requests']:,}")
    m[3].metric("Active days", a["active_days"])
    m[4].metric("Distinct IPs", a["distinct_ips"])
    st.text(f"Seen {queries.last_sighting(a['first_seen'])} → {queries.last_sighting(a['last_seen'])}")
    details = {k: a[k] for k in ("org_id", "email_domain", "payment_fingerprint", "country", "tier",
                                 "created_at", "signup_ip", "hosting_share") if a.get(k) is not None}
    if details:
        st.dataframe([{"field": k, "value": str(v)} for k, v in details.items()], hide_index=True)
    if a["campaign_id"]:
        st.text(f"Member of campaign {a['campaign_id']}")
        st.page_link("app_pages/campaign.py", label="Open its campaign", icon="🕸️",
                     query_params={"campaign": a["campaign_id"]})
    else:
        st.text("In no campaign.")

    st.markdown("#### Requests over time")
    daily = queries.account_daily(path, current)
    if not daily.is_empty():
        st.altair_chart(charts.per_day(daily), width="stretch")
    hourly = queries.account_hourly(path, current)
    if not hourly.is_empty():
        st.altair_chart(charts.hourly_line(hourly), width="stretch")

    left, right = st.columns(2)
    with left:
        st.markdown("#### IPs and networks")
        st.dataframe(queries.account_networks(path, current), hide_index=True)
    with right:
        st.markdown("#### Capabilities")
        st.dataframe(queries.account_capability(path, current), hide_index=True)

    st.markdown("#### Sample prompts")
    samples = queries.account_samples(path, current)
    for row in samples.iter_rows(named=True):
        st.caption(md(f"{row['request_id']} · {queries.last_sighting(row['timestamp'])} · {row['model']}"
                      f" · {row['capability'] or '-'}"))
        components.prompt_box(row["prompt"])

    st.markdown("#### Verdict on this account")
    st.caption("Allowlisting (or dismissing) an account removes it from every campaign at the next scan.")
    components.verdict_form(path, "account", current, "account_verdict")


components.guarded(render)
