"""Every query the dashboard runs: parameterized SQL over the marts and ``ml``, nothing else.

No value a user types or puts in the URL becomes SQL text: each query is a constant with
``%(name)s`` placeholders, and the driver sends the values apart from it. Names (tables,
columns) are never taken from input either. The functions here know nothing of Streamlit,
so the tests and ``make bench`` run exactly what the pages run.

The connection is the analyst's (``CRIMEWH_ANALYST_URL``, or the embedded stack's analyst
role): read-only by grant, and read-only again by session setting, so a bug here cannot write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

STATEMENT_TIMEOUT_MS = 15_000
CONSTANT_REPORTERS_HELP = (
    "Only agencies that reported all twelve months in every year the warehouse holds "
    "(Kaplan's rule, reference §4), so that a trend is not a change in who reports."
)


class DashboardError(Exception):
    """What a page cannot show, said the way a reader can act on it."""


@dataclass(frozen=True)
class Query:
    name: str
    sql: str


# A constant-reporters filter every NIBRS trend shares: agencies that were full-year
# reporters in every year the warehouse holds. With %(constant)s false it keeps everyone.
_CONSTANT = """
constant_reporters as (
    select ori
    from marts.fct_nibrs_agency_years
    group by ori
    having bool_and(is_full_year)
        and count(*) = (select count(distinct data_year) from marts.fct_nibrs_agency_years)
)"""
_KEEP = "(not %(constant)s or {alias}.ori in (select ori from constant_reporters))"


def _q(name: str, sql: str) -> Query:
    return Query(name, sql.strip())


# -- the warehouse's state ----------------------------------------------------------------------
WAREHOUSE_CONTENTS = _q(
    "warehouse_contents",
    """
    select
        to_regclass('marts.fct_nibrs_agency_years') is not null as has_nibrs_marts,
        to_regclass('marts.agg_chicago_arrests') is not null as has_chicago_marts,
        current_user as role_name,
        coalesce((
            select has_schema_privilege(oid, 'create') from pg_namespace where nspname = 'marts'
        ), false) as can_write_marts
    """,
)
NIBRS_YEARS = _q(
    "nibrs_years",
    "select distinct data_year from marts.fct_nibrs_agency_years order by data_year desc",
)
CHICAGO_YEARS = _q(
    "chicago_years",
    "select distinct year from marts.agg_chicago_arrests order by year desc",
)

# -- 1. nation and states -----------------------------------------------------------------------
STATE_COVERAGE = _q(
    "state_coverage",
    f"""
    with {_CONSTANT},
    agencies as (
        select * from marts.fct_nibrs_agency_years as a
        where a.data_year = %(year)s and {_KEEP.format(alias="a")}
    )
    select
        state_abbreviation,
        count(*) as agencies,
        count(*) filter (where months_reported > 0) as reporting_agencies,
        count(*) filter (where is_full_year) as full_year_agencies,
        -- a covered agency's people are in its covering agency's population_served
        sum(population_served) filter (where not is_covered_by_another_agency)
            as population_served,
        sum(population_served) filter (where is_full_year and not is_covered_by_another_agency)
            as full_year_population,
        sum(incident_count) as incidents
    from agencies
    group by state_abbreviation
    order by state_abbreviation
    """,
)
NATIONAL_BY_YEAR = _q(
    "national_by_year",
    f"""
    with {_CONSTANT}
    select
        t.data_year,
        count(*) as agencies,
        sum(t.incident_count) as incidents,
        sum(t.offense_count) as offenses,
        sum(t.cleared_by_arrest_count) as cleared_by_arrest,
        sum(t.cleared_exceptionally_count) as cleared_exceptionally,
        round(sum(t.cleared_by_arrest_count)::numeric / nullif(sum(t.incident_count), 0), 4)
            as arrest_clearance_rate,
        round(sum(t.cleared_exceptionally_count)::numeric / nullif(sum(t.incident_count), 0), 4)
            as exceptional_clearance_rate
    from marts.agg_nibrs_agency_year_offenses as t
    where t.category_type = 'all' and {_KEEP.format(alias="t")}
    group by t.data_year
    order by t.data_year
    """,
)
STATE_AGENCIES = _q(
    "state_agencies",
    f"""
    with {_CONSTANT}
    select
        a.ori,
        a.agency_name,
        a.population_group,
        a.population_served,
        a.months_reported,
        a.is_full_year,
        a.incident_count as incidents,
        t.offense_count as offenses,
        t.clearance_rate,
        t.arrest_clearance_rate,
        t.incidents_per_100k
    from marts.fct_nibrs_agency_years as a
    left join marts.agg_nibrs_agency_year_offenses as t
        on t.data_year = a.data_year and t.ori = a.ori and t.category_type = 'all'
    where a.data_year = %(year)s and a.state_abbreviation = %(state)s
        and {_KEEP.format(alias="a")}
    order by a.incident_count desc, a.ori
    """,
)

# -- 2. agency ----------------------------------------------------------------------------------
AGENCY_SEARCH = _q(
    "agency_search",
    """
    select ori, agency_name, state_abbreviation, state_name, population_group_name,
        first_data_year, last_data_year
    from marts.dim_nibrs_agencies
    where ori ilike %(pattern)s or agency_name ilike %(pattern)s
        or state_name ilike %(pattern)s or state_abbreviation = upper(%(text)s)
    order by (ori = upper(%(text)s)) desc, population desc nulls last, ori
    limit 50
    """,
)
AGENCY = _q(
    "agency",
    """
    select ori, agency_name, state_abbreviation, state_name, agency_type_name,
        population_group, population_group_name, population, covered_by_ori,
        first_data_year, last_data_year, years_in_file
    from marts.dim_nibrs_agencies
    where ori = %(ori)s
    """,
)
AGENCY_YEARS = _q(
    "agency_years",
    """
    select
        a.data_year,
        a.months_reported,
        a.is_full_year,
        a.is_covered_by_another_agency,
        a.covered_by_ori,
        a.population_served,
        a.incident_count as incidents,
        t.offense_count as offenses,
        t.cleared_by_arrest_count as cleared_by_arrest,
        t.cleared_exceptionally_count as cleared_exceptionally,
        t.arrest_clearance_rate,
        t.exceptional_clearance_rate,
        t.is_rate_eligible,
        t.incidents_per_100k,
        t.offenses_per_100k
    from marts.fct_nibrs_agency_years as a
    left join marts.agg_nibrs_agency_year_offenses as t
        on t.data_year = a.data_year and t.ori = a.ori and t.category_type = 'all'
    where a.ori = %(ori)s
    order by a.data_year
    """,
)
AGENCY_CATEGORIES = _q(
    "agency_categories",
    """
    select data_year, category_name as offense_category, offense_count, incident_count,
        clearance_rate, arrest_clearance_rate, exceptional_clearance_rate, offenses_per_100k
    from marts.agg_nibrs_agency_year_offenses
    where ori = %(ori)s and category_type = 'offense_category'
    order by data_year, offense_count desc
    """,
)
AGENCY_MONTHS = _q(
    "agency_months",
    """
    select month_number, zero_report_submitted, group_a_b_submitted, is_reported,
        incident_count, has_incidents
    from marts.fct_nibrs_agency_months
    where data_year = %(year)s and ori = %(ori)s
    order by month_number
    """,
)
AGENCY_PEERS = _q(
    "agency_peers",
    """
    with me as (
        select population_group, state_abbreviation
        from marts.agg_nibrs_agency_year_offenses
        where data_year = %(year)s and ori = %(ori)s and category_type = 'all'
    ),
    peers as (
        select t.*, t.state_abbreviation = me.state_abbreviation as in_state
        from marts.agg_nibrs_agency_year_offenses as t, me
        where t.data_year = %(year)s and t.category_type = 'all'
            and t.population_group = me.population_group
    )
    select
        scope,
        count(*) as agencies,
        count(*) filter (where is_rate_eligible) as rate_eligible_agencies,
        -- Σ incidents / Σ population over the same eligible agencies (reference §5.1)
        round(sum(incident_count) filter (where is_rate_eligible) * 100000.0
            / nullif(sum(population_served) filter (where is_rate_eligible), 0), 1)
            as incidents_per_100k,
        round(sum(cleared_by_arrest_count)::numeric / nullif(sum(incident_count), 0), 4)
            as arrest_clearance_rate,
        round(sum(cleared_exceptionally_count)::numeric / nullif(sum(incident_count), 0), 4)
            as exceptional_clearance_rate
    from (
        select 'agency' as scope, * from peers where ori = %(ori)s
        union all select 'state peers', * from peers where in_state
        union all select 'national peers', * from peers
    ) as scoped
    group by scope
    order by min(case scope when 'agency' then 1 when 'state peers' then 2 else 3 end)
    """,
)

# -- 3. reporting compliance --------------------------------------------------------------------
STATES = _q(
    "states",
    """
    select distinct state_abbreviation from marts.fct_nibrs_agency_years
    where data_year = %(year)s order by state_abbreviation
    """,
)
COMPLIANCE_GRID = _q(
    "compliance_grid",
    f"""
    with {_CONSTANT},
    agencies as (
        select a.ori, a.agency_name from marts.fct_nibrs_agency_years as a
        where a.data_year = %(year)s and a.state_abbreviation = %(state)s
            and {_KEEP.format(alias="a")}
    )
    select a.ori, a.agency_name, m.month_number, m.is_reported, m.has_incidents,
        m.incident_count
    from agencies as a
    join marts.fct_nibrs_agency_months as m on m.data_year = %(year)s and m.ori = a.ori
    order by a.ori, m.month_number
    """,
)

# -- 4. Chicago ---------------------------------------------------------------------------------
CHICAGO_BY_YEAR = _q(
    "chicago_by_year",
    """
    select year, sum(crime_count) as crimes, sum(arrest_count) as arrests,
        round(sum(arrest_count)::numeric / nullif(sum(crime_count), 0), 4) as arrest_rate,
        round(sum(citizen_reported_arrest_count)::numeric
            / nullif(sum(citizen_reported_count), 0), 4) as citizen_reported_arrest_rate
    from marts.agg_chicago_arrests
    group by year
    order by year
    """,
)
CHICAGO_BY_DISTRICT = _q(
    "chicago_by_district",
    """
    select district, sum(crime_count) as crimes, sum(arrest_count) as arrests,
        round(sum(arrest_count)::numeric / nullif(sum(crime_count), 0), 4) as arrest_rate
    from marts.agg_chicago_arrests
    where year = %(year)s
    group by district
    order by district
    """,
)
CHICAGO_BY_COMMUNITY_AREA = _q(
    "chicago_by_community_area",
    """
    select community_area, sum(crime_count) as crimes, sum(arrest_count) as arrests,
        round(sum(arrest_count)::numeric / nullif(sum(crime_count), 0), 4) as arrest_rate
    from marts.agg_chicago_arrests
    where year = %(year)s
    group by community_area
    order by crimes desc
    """,
)
CHICAGO_BY_TYPE = _q(
    "chicago_by_type",
    """
    select primary_type, count(*) as crimes, count(*) filter (where arrest) as arrests,
        round(avg(arrest::int), 4) as arrest_rate
    from marts.fct_chicago_crimes
    where year = %(year)s
    group by primary_type
    order by crimes desc
    """,
)
CHICAGO_HOUR_WEEKDAY = _q(
    "chicago_hour_weekday",
    """
    select day_of_week, hour, count(*) as crimes
    from marts.fct_chicago_crimes
    where year = %(year)s
    group by day_of_week, hour
    order by day_of_week, hour
    """,
)
CHICAGO_POINTS = _q(
    "chicago_points",
    """
    select latitude, longitude, primary_type, arrest
    from marts.fct_chicago_crimes
    where year = %(year)s and month = %(month)s and latitude is not null
        and longitude is not null
    limit %(limit)s
    """,
)

# -- 5. models ----------------------------------------------------------------------------------
SCORE_TABLES = _q(
    "score_tables",
    """
    select model, to_regclass('ml.' || model || '_scores') is not null as has_scores
    from (values ('clearance'), ('arrest')) as m (model)
    """,
)
# The table name is one of two constants, chosen in Python, never from input.
SCORE_DISTRIBUTION = {
    model: _q(
        f"{model}_score_distribution",
        f"""
        select s.scored_partition, p.model_version, p.scored_at,
            least(width_bucket(s.probability, 0, 1, 20), 20) as bucket, count(*) as rows
        from ml.{model}_scores as s
        join ml.{model}_score_partitions as p using (scored_partition)
        group by 1, 2, 3, 4
        order by 1, 4
        """,
    )
    for model in ("clearance", "arrest")
}

QUERIES: dict[str, Query] = {
    q.name: q
    for q in (
        WAREHOUSE_CONTENTS, NIBRS_YEARS, CHICAGO_YEARS, STATE_COVERAGE, NATIONAL_BY_YEAR,
        STATE_AGENCIES, AGENCY_SEARCH, AGENCY, AGENCY_YEARS, AGENCY_CATEGORIES,
        AGENCY_MONTHS, AGENCY_PEERS, STATES, COMPLIANCE_GRID, CHICAGO_BY_YEAR,
        CHICAGO_BY_DISTRICT, CHICAGO_BY_COMMUNITY_AREA, CHICAGO_BY_TYPE,
        CHICAGO_HOUR_WEEKDAY, CHICAGO_POINTS, SCORE_TABLES, *SCORE_DISTRIBUTION.values(),
    )
}  # fmt: skip


# -- running them -------------------------------------------------------------------------------
# read-only twice: by the analyst's grants, and by the session's own setting
CONNECT_OPTIONS = {
    "application_name": "crimewh-dashboard",
    "options": f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS}",
}


def connect(url: str):
    """A read-only session, each query its own snapshot (no transaction left idle)."""
    import psycopg2

    connection = psycopg2.connect(url, **CONNECT_OPTIONS)
    connection.autocommit = True
    return connection


def run(connection, query: Query, params: Mapping[str, object] | None = None) -> pd.DataFrame:
    with connection.cursor() as cur:
        cur.execute(query.sql, dict(params or {}))
        names = [column.name for column in cur.description]
        return pd.DataFrame.from_records(cur.fetchall(), columns=names)


def search_pattern(text: str) -> str:
    """``%text%`` for ILIKE, with the user's own % and _ matched literally."""
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def check_role(contents: Mapping[str, object]) -> None:
    """The dashboard reads as the analyst; a role that can write the marts is refused."""
    if contents["can_write_marts"]:
        raise DashboardError(
            f"the dashboard connected as {contents['role_name']!r}, which can write the marts; "
            "it reads only as the read-only analyst role: unset CRIMEWH_ANALYST_URL to use "
            "the embedded stack's analyst, or point it at a role with SELECT only"
        )
