"""Reporting compliance: every agency of a state, month by month, for a year; the monthly
flags the agency sent against the months in which it has incidents."""

import pandas as pd
import streamlit as st

from dashboard import charts, queries
from dashboard.data import constant_only, fetch, nibrs_years, stop_with, table

# what a cell shows: the flag and the incidents, together
STATUS = {
    0: "not reported, no incidents",
    1: "reported, no incidents (zero report)",
    2: "reported, with incidents",
    3: "incidents, but not flagged as reported",
}
COLOURS = [[0, "#eeeeee"], [0.33, "#eeeeee"], [0.34, "#9ecae1"], [0.66, "#2b6cb0"],
           [0.67, "#2b6cb0"], [1, "#d9534f"]]  # fmt: skip

st.title("Reporting compliance")
years = nibrs_years()
left, right = st.columns(2)
year = left.selectbox("Data year", years, key="compliance-year")
states = fetch(queries.STATES, year=year)["state_abbreviation"].tolist()
state = right.selectbox("State", states, key="compliance-state")
if not state:
    stop_with(f"No agency reported in {year}.")

grid = fetch(queries.COMPLIANCE_GRID, year=year, state=state, constant=constant_only())
if grid.empty:
    stop_with(
        f"No {state} agency is a constant reporter: turn the toggle off to see them all."
        if constant_only() else f"No {state} agency is in the {year} file."
    )  # fmt: skip
reported = grid["is_reported"].fillna(False).astype(bool)
grid["status"] = (reported * 2 + grid["has_incidents"].astype(int)).map({0: 0, 1: 3, 2: 1, 3: 2})
wide = grid.pivot(index="ori", columns="month_number", values="status").sort_index()
names = grid.drop_duplicates("ori").set_index("ori")["agency_name"]
labels = [f"{names[o]} ({o})" for o in wide.index]
months = [pd.Timestamp(2000, m, 1).strftime("%b") for m in wide.columns]
st.plotly_chart(
    charts.heatmap(
        wide.values, months, labels, f"{state}, {year}: {len(wide)} agencies by month",
        colorscale=COLOURS, zmin=0, zmax=3,
        text=[[STATUS.get(v, "") for v in row] for row in wide.fillna(0).astype(int).values],
        height=max(300, 22 * len(wide) + 120),
        yaxis={"autorange": "reversed"},
    ),
    key="compliance-heatmap",
)  # fmt: skip
st.caption(" · ".join(f"{k}: {v}" for k, v in STATUS.items()))
summary = (
    grid.assign(reported=reported)
    .groupby(["ori", "agency_name"], as_index=False)
    .agg(months_reported=("reported", "sum"), months_with_incidents=("has_incidents", "sum"),
         incidents=("incident_count", "sum"))
)  # fmt: skip
table(summary, f"compliance-{state}-{year}")
