"""Chicago: crimes and arrest rates by year, type, district and community area; an hour by
weekday heatmap; and a chosen month's crimes at their coordinates."""

import streamlit as st

from dashboard import charts, queries
from dashboard.data import chicago_years, fetch, table

POINTS_LIMIT = 20_000  # enough to see the city; more only slows the browser
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]  # day_of_week: ISO day - 1

st.title("Chicago")
years = chicago_years()
by_year = fetch(queries.CHICAGO_BY_YEAR)
left, right = st.columns(2)
left.plotly_chart(charts.bar(by_year, "year", "crimes", "Crimes by year"), key="chicago-crimes")
right.plotly_chart(
    charts.line(by_year, "year", ["arrest_rate", "citizen_reported_arrest_rate"], "Arrest rates"),
    key="chicago-arrest-rates",
)
table(by_year, "chicago-by-year")

year = st.selectbox("Year", years, key="chicago-year")
by_type = fetch(queries.CHICAGO_BY_TYPE, year=year)
st.plotly_chart(
    charts.bar(by_type.head(20), "primary_type", "crimes", f"{year}: crimes by type",
               color="arrest_rate"),
    key="chicago-types",
)  # fmt: skip
table(by_type, f"chicago-types-{year}")

left, right = st.columns(2)
district = fetch(queries.CHICAGO_BY_DISTRICT, year=year)
left.plotly_chart(
    charts.bar(district, "district", "arrest_rate", f"{year}: arrest rate by district"),
    key="chicago-districts",
)
with left:
    table(district, f"chicago-districts-{year}")
area = fetch(queries.CHICAGO_BY_COMMUNITY_AREA, year=year)
right.plotly_chart(
    charts.bar(area.head(25), "community_area", "crimes",
               f"{year}: the 25 community areas with most crimes", color="arrest_rate"),
    key="chicago-areas",
)  # fmt: skip
with right:
    table(area, f"chicago-community-areas-{year}")

hours = fetch(queries.CHICAGO_HOUR_WEEKDAY, year=year)
wide = hours.pivot(index="day_of_week", columns="hour", values="crimes").fillna(0)
st.plotly_chart(
    charts.heatmap(
        wide.values, [f"{h:02d}" for h in wide.columns], [WEEKDAYS[d] for d in wide.index],
        f"{year}: crimes by hour and weekday", text=wide.values.astype(int), height=320,
    ),
    key="chicago-hours",
)  # fmt: skip
table(hours, f"chicago-hour-weekday-{year}")

month = st.selectbox("Month to map", list(range(1, 13)), key="chicago-month")
points = fetch(queries.CHICAGO_POINTS, year=year, month=month, limit=POINTS_LIMIT)
if points.empty:
    st.info(f"No crime with coordinates in {year}-{month:02d}.")
else:
    st.plotly_chart(
        charts.points(points, f"{year}-{month:02d}: {len(points):,} crimes"
                      + (f" (the first {POINTS_LIMIT:,})" if len(points) == POINTS_LIMIT else "")),
        key="chicago-map",
    )  # fmt: skip
    table(points, f"chicago-points-{year}-{month:02d}")
