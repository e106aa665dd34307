"""Altair charts of the campaign and account pages, built from the precomputed frames."""

from __future__ import annotations

import altair as alt
import polars as pl

KIND_COLORS = {
    "account": "#d62728", "ip": "#1f77b4", "prefix": "#17becf", "payment": "#9467bd",
    "user_agent": "#7f7f7f",
}


def infrastructure(nodes: pl.DataFrame, edges: pl.DataFrame) -> alt.LayerChart:
    """Accounts (red) linked to the IPs, prefixes, payment fingerprints and clients they share."""
    axis = alt.Axis(labels=False, ticks=False, title=None, grid=False, domain=False)
    links = alt.Chart(edges.to_pandas()).mark_rule(opacity=0.3, strokeWidth=0.8, color="#888888").encode(
        x=alt.X("x:Q", axis=axis), y=alt.Y("y:Q", axis=axis), x2="x2:Q", y2="y2:Q",
    )
    points = alt.Chart(nodes.to_pandas()).mark_circle(opacity=0.9, stroke="white", strokeWidth=0.5).encode(
        x=alt.X("x:Q", axis=axis), y=alt.Y("y:Q", axis=axis),
        size=alt.Size("degree:Q", scale=alt.Scale(range=[30, 400]), legend=None),
        color=alt.Color("kind:N", title="node",
                        scale=alt.Scale(domain=list(KIND_COLORS), range=list(KIND_COLORS.values()))),
        tooltip=[alt.Tooltip("kind:N"), alt.Tooltip("label:N"), alt.Tooltip("degree:Q", title="links")],
    )
    return (links + points).properties(height=520).interactive()


def timeline(hourly: pl.DataFrame) -> alt.Chart:
    """Requests per hour and account: rows that light up together are synchronised."""
    return alt.Chart(hourly.to_pandas()).mark_rect().encode(
        x=alt.X("hour:T", title="hour (UTC)"), x2="hour_end:T",
        y=alt.Y("account_id:N", title=None),
        color=alt.Color("requests:Q", scale=alt.Scale(scheme="oranges"), title="requests"),
        tooltip=["account_id:N", alt.Tooltip("hour:T", format="%Y-%m-%d %H:00"), "requests:Q"],
    ).properties(height=max(160, 18 * hourly["account_id"].n_unique()))


def hour_totals(totals: pl.DataFrame) -> alt.Chart:
    return alt.Chart(totals.to_pandas()).mark_area(opacity=0.6, interpolate="step-after").encode(
        x=alt.X("hour:T", title="hour (UTC)"),
        y=alt.Y("active_accounts:Q", title="active accounts"),
        tooltip=[alt.Tooltip("hour:T", format="%Y-%m-%d %H:00"), "requests:Q", "active_accounts:Q"],
    ).properties(height=140)


def capability_mix(mix: pl.DataFrame) -> alt.Chart:
    return alt.Chart(mix.to_pandas()).mark_bar().encode(
        y=alt.Y("capability:N", title=None, sort="-x"),
        x=alt.X("share:Q", axis=alt.Axis(format="%"), title="share of requests"),
        yOffset="population:N",
        color=alt.Color("population:N", title=None),
        tooltip=["population:N", "capability:N", alt.Tooltip("share:Q", format=".1%"), "requests:Q"],
    ).properties(height=max(160, 36 * mix["capability"].n_unique()))


def per_day(frame: pl.DataFrame, color: str = "model") -> alt.Chart:
    """Requests per day stacked by model: a pivot to a new model shows as a colour change."""
    return alt.Chart(frame.to_pandas()).mark_bar().encode(
        x=alt.X("day:T", title="day (UTC)"),
        y=alt.Y("sum(requests):Q", title="requests"),
        color=alt.Color(f"{color}:N"),
        tooltip=["day:T", f"{color}:N", "sum(requests):Q"],
    ).properties(height=220)


def hourly_line(frame: pl.DataFrame) -> alt.Chart:
    return alt.Chart(frame.to_pandas()).mark_bar().encode(
        x=alt.X("hour:T", title="hour (UTC)"), y=alt.Y("requests:Q"),
        tooltip=[alt.Tooltip("hour:T", format="%Y-%m-%d %H:00"), "requests:Q"],
    ).properties(height=160)
