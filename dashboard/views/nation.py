"""Nation and states: who reports, the share of population their full-year reporters
cover, a state's agencies, and national counts and clearance rates by year."""

import streamlit as st

from dashboard import charts, queries
from dashboard.data import constant_only, fetch, nibrs_years, table

st.title("Nation and states")
years = nibrs_years()
constant = constant_only()
year = st.selectbox("Data year", years, key="nation-year")

coverage = fetch(queries.STATE_COVERAGE, year=year, constant=constant)
coverage["participation"] = coverage["reporting_agencies"] / coverage["agencies"]
coverage["full_year_population_share"] = (
    coverage["full_year_population"]
    / coverage["population_served"].where(coverage["population_served"] > 0)
).astype(float)
measure = st.radio(
    "Map", ["participation", "full_year_population_share"], horizontal=True,
    format_func={
        "participation": "Agencies reporting any month",
        "full_year_population_share": "Population covered by full-year reporters",
    }.get,
)  # fmt: skip
st.plotly_chart(
    charts.state_tiles(coverage, measure, f"{year}: {measure.replace('_', ' ')}"),
    key="state-map",
)
st.caption(
    "Shares of the agencies in the master file and of the population they serve; agencies "
    "absent from the file (SRS-only, non-participating) are not counted here."
)
table(coverage, f"states-{year}")

state = st.selectbox("A state's agencies", coverage["state_abbreviation"].tolist(), key="state")
if state:
    agencies = fetch(queries.STATE_AGENCIES, year=year, state=state, constant=constant)
    st.subheader(f"{state}, {year}: {len(agencies)} agencies")
    table(agencies, f"agencies-{state}-{year}")

st.subheader("National counts and clearance rates")
national = fetch(queries.NATIONAL_BY_YEAR, constant=constant)
left, right = st.columns(2)
left.plotly_chart(
    charts.line(national, "data_year", ["incidents", "offenses"], "Incidents and offenses"),
    key="national-counts",
)
right.plotly_chart(
    charts.line(
        national, "data_year", ["arrest_clearance_rate", "exceptional_clearance_rate"],
        "Clearance rates (cleared incidents / incidents)",
    ),
    key="national-clearance",
)  # fmt: skip
if constant:
    st.caption(queries.CONSTANT_REPORTERS_HELP)
table(national, "national-by-year")
