"""Nation and states: who reports, the share of population their full-year reporters
cover, a state's agencies, and national counts and clearance rates by year."""

import streamlit as st

from dashboard import charts, queries
from dashboard.data import constant_only, fetch, nibrs_years, table

st.title("Nation and states")
years = nibrs_years()
constant = constant_only()
year = st.selectbox("Data year", years, key="nation-year")

coverage = fetch(queries.STATE_COVERAGE, year=year)
for column in ("participation", "full_year_population_share", "coverage_indicator"):
    coverage[column] = coverage[column].astype(float)
MEASURES = {
    "participation": "Agencies reporting any month",
    "full_year_population_share": "Population covered by full-year reporters",
    "coverage_indicator": "Coverage indicator (tier 1: 100, tier 2: at least 80, tier 3: below)",
}
measure = st.radio("Map", list(MEASURES), horizontal=True, format_func=MEASURES.get)
st.plotly_chart(
    charts.state_tiles(coverage, measure, f"{year}: {MEASURES[measure].lower()}"),
    key="state-map",
)
st.caption(
    "Shares of the agencies in the master file and of the population they serve (a state's "
    "tier is in the table); agencies absent from the file (SRS-only, non-participating) are "
    "not counted here. The map shows who reports, so the constant-reporters toggle leaves it."
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

st.subheader(f"Caveats, {year}")
table(fetch(queries.CAVEATS, year=year, state=None, ori=None), f"caveats-{year}")
