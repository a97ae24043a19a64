"""Agency: find one by name (its city), ORI or state; its trend, offenses by category, clearance by
arrest and exceptionally, rates only where allowed, its months, and its peers. The URL keeps
the selection (``?ori=…&year=…``) so that a view can be shared."""

import pandas as pd
import streamlit as st

from dashboard import charts, queries
from dashboard.data import constant_only, fetch, nibrs_years, stop_with, table

st.title("Agency")
years = nibrs_years()

text = st.text_input(
    "Search by name or city, ORI or state",
    key="agency-search",
    # NIBRS names an agency by one field, its city or jurisdiction ("CHICAGO", "ADAMS
    # COUNTY"), so searching the name is searching the city
    help="The FBI's files name each agency by its city or jurisdiction; an ORI or a state "
    "name or abbreviation works too.",
)
ori = st.query_params.get("ori")
if text.strip():
    found = fetch(queries.AGENCY_SEARCH, pattern=queries.search_pattern(text), text=text.strip())
    if found.empty:
        st.info(f"No agency matches {text.strip()!r}.")
    else:
        labels = {
            row.ori: f"{row.agency_name} ({row.ori}, {row.state_abbreviation})"
            for row in found.itertuples()
        }
        choice = st.selectbox("Agencies found", list(labels), format_func=labels.get)
        if choice and choice != ori:
            ori = choice
            st.query_params["ori"] = ori
            st.query_params.pop("year", None)

if not ori:
    stop_with("Search for an agency above, or open a link with ?ori=… to see one.")

agency = fetch(queries.AGENCY, ori=ori)
if agency.empty:
    stop_with(
        f"No agency with ORI {ori!r} is in the warehouse. Check the link, or search for "
        "the agency above.",
        kind="warning",
    )
agency = agency.iloc[0]
history = fetch(queries.AGENCY_YEARS, ori=ori)
held = history["data_year"].astype(int).tolist()
requested = st.query_params.get("year")
if requested is not None and (not requested.isdigit() or int(requested) not in held):
    stop_with(
        f"{agency.agency_name} ({ori}) has no data for year {requested!r}; it has "
        f"{', '.join(map(str, held)) or 'none'}. Pick one below or drop &year= from the link.",
        kind="warning",
    )
year = st.selectbox(
    "Data year", sorted(held, reverse=True),
    index=sorted(held, reverse=True).index(int(requested)) if requested else 0,
)  # fmt: skip
st.query_params["year"] = str(year)

st.header(f"{agency.agency_name} · {ori}")
population = f"; population {agency.population:,}" if pd.notna(agency.population) else ""
st.caption(
    f"{agency.agency_type_name or 'Agency'} in {agency.state_name or agency.state_abbreviation}; "
    f"population group {agency.population_group_name or agency.population_group}{population}"
)
if constant_only():
    st.caption("The constant-reporters toggle changes the national and state figures, not "
               "one agency's own history.")  # fmt: skip

left, right = st.columns(2)
left.plotly_chart(
    charts.line(history, "data_year", ["incidents", "offenses"], "Incidents and offenses"),
    key="agency-counts",
)
right.plotly_chart(
    charts.line(
        history, "data_year", ["arrest_clearance_rate", "exceptional_clearance_rate"],
        "Clearance by arrest and by exceptional means",
    ),
    key="agency-clearance",
)  # fmt: skip


def rate_reason(row) -> str:
    """Why a rate is shown or not (reference §5.2)."""
    if row.is_rate_eligible:
        return "full year, reports for itself"
    if row.is_covered_by_another_agency:
        return f"reported by {row.covered_by_ori or 'another agency'}: its crimes are there"
    if not row.is_full_year:
        return f"{row.months_reported} of 12 months reported: a rate would undercount"
    if not row.population_served:
        return "no population is assigned to this agency"
    return "not eligible"


history["rate_note"] = [rate_reason(row) for row in history.itertuples()]
st.subheader("Rates per 100 000")
table(
    history[["data_year", "months_reported", "population_served", "incidents_per_100k",
             "offenses_per_100k", "rate_note"]],
    f"rates-{ori}",
)  # fmt: skip

st.subheader(f"Months reported, {year}")
months = fetch(queries.AGENCY_MONTHS, ori=ori, year=year)
if months.empty:
    st.info(f"No monthly flags for {ori} in {year}.")
else:
    grid = [
        [1 if flag else 0 for flag in months["is_reported"].fillna(False)],
        [1 if flag else 0 for flag in months["has_incidents"]],
    ]
    names = [pd.Timestamp(2000, m, 1).strftime("%b") for m in months["month_number"]]
    st.plotly_chart(
        charts.heatmap(
            grid, names, ["monthly flag: reported", "has incidents"], "Flags against incidents",
            colorscale=[[0, "#f4f4f4"], [1, "#2b6cb0"]], zmin=0, zmax=1,
            text=[["yes" if v else "no" for v in r] for r in grid], height=220,
        ),
        key="agency-months",
    )  # fmt: skip
    table(months, f"months-{ori}-{year}")

st.subheader(f"Peers, {year}: the same population group in the state and the nation")
peers = fetch(queries.AGENCY_PEERS, ori=ori, year=year)
if peers.empty:
    st.info(f"No peer figures for {ori} in {year}.")
else:
    mine = peers.iloc[0]
    scopes = [
        ("this agency", 1, mine.clearance_rate, mine.clearance_rate, mine.clearance_rate,
         mine.incidents_per_100k, mine.incidents_per_100k, mine.incidents_per_100k),
        *(
            (f"{scope} peers", mine[f"{scope}_peer_count"],
             mine[f"{scope}_peer_clearance_rate_p25"], mine[f"{scope}_peer_clearance_rate_median"],
             mine[f"{scope}_peer_clearance_rate_p75"], mine[f"{scope}_peer_incidents_per_100k_p25"],
             mine[f"{scope}_peer_incidents_per_100k_median"],
             mine[f"{scope}_peer_incidents_per_100k_p75"])
            for scope in ("state", "national")
        ),
    ]  # fmt: skip
    compared = pd.DataFrame(scopes, columns=[
        "who", "agencies", "clearance_rate_p25", "clearance_rate_median", "clearance_rate_p75",
        "incidents_per_100k_p25", "incidents_per_100k_median", "incidents_per_100k_p75",
    ])  # fmt: skip
    st.caption(
        f"Peer group {mine.peer_group}: full-year agencies reporting for themselves. "
        + ("" if mine.is_peer else "This agency-year is not among them itself. ")
        + (f"No rate: {mine.rate_unavailable_reason}." if mine.rate_unavailable_reason else "")
    )
    table(compared, f"peers-{ori}-{year}")

st.subheader(f"SRS-comparable counts beside the NIBRS counts, {year}")
srs = fetch(queries.AGENCY_SRS, ori=ori, year=year)
if srs.empty:
    st.info(f"No SRS-comparable counts for {ori} in {year}.")
else:
    st.caption(
        "SRS counts one offense per incident, the most serious by the hierarchy rule (person "
        "crimes per victim); the NIBRS count is every offense of the kind."
    )
    table(srs, f"srs-{ori}-{year}")

st.subheader(f"Caveats for {ori}, {year}")
caveats = fetch(queries.CAVEATS, year=year, state=agency.state_abbreviation, ori=ori)
table(caveats, f"caveats-{ori}-{year}")

st.subheader("Offenses by category")
categories = fetch(queries.AGENCY_CATEGORIES, ori=ori)
this_year = categories[categories["data_year"] == year]
st.plotly_chart(
    charts.bar(this_year, "offense_category", "offense_count", f"Offenses by category, {year}"),
    key="agency-categories",
)
table(categories, f"categories-{ori}")
