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
    "Only agencies that reported all twelve months for themselves in every year of the "
    "constant-reporters range (marts.fct_nibrs_constant_reporters; Kaplan's rule), so that a "
    "trend is not a change in who reports."
)


class DashboardError(Exception):
    """What a page cannot show, said the way a reader can act on it."""


@dataclass(frozen=True)
class Query:
    name: str
    sql: str


# The constant-reporters filter every NIBRS trend shares: the agencies the constant-reporters
# mart flags (twelve months for themselves in every year of its range). With %(constant)s
# false it keeps everyone.
_CONSTANT = """
constant_reporters as (
    select distinct ori from marts.fct_nibrs_constant_reporters where is_constant_reporter
)"""
_KEEP = "(not %(constant)s or {alias}.ori in (select ori from constant_reporters))"


def _q(name: str, sql: str) -> Query:
    return Query(name, sql.strip())


# -- the warehouse's state ----------------------------------------------------------------------
WAREHOUSE_CONTENTS = _q(
    "warehouse_contents",
    """
    select
        to_regclass('marts.fct_nibrs_agency_years') is not null
            and to_regclass('marts.agg_nibrs_coverage_state_years') is not null
            as has_nibrs_marts,
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
CONSTANT_RANGE = _q(
    "constant_range",
    """
    select min(first_year) as first_year, max(last_year) as last_year,
        count(distinct ori) filter (where is_constant_reporter) as agencies
    from marts.fct_nibrs_constant_reporters
    """,
)
# Shares as fractions (the mart keeps percents), for one colour scale from 0 to 1
STATE_COVERAGE = _q(
    "state_coverage",
    """
    select
        state_abbreviation,
        agency_count as agencies,
        agencies_reporting_any_month,
        agencies_reporting_full_year,
        pct_agencies_reporting_any / 100 as participation,
        pct_population_full_year / 100 as full_year_population_share,
        coverage_indicator / 100 as coverage_indicator,
        coverage_tier,
        population_total,
        population_full_year,
        incidents_per_100k,
        rate_unavailable_reason
    from marts.agg_nibrs_coverage_state_years
    where data_year = %(year)s
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
    select peer_group, is_peer, incident_count, clearance_rate, incidents_per_100k,
        rate_unavailable_reason,
        state_peer_count, state_peer_clearance_rate_p25, state_peer_clearance_rate_median,
        state_peer_clearance_rate_p75, state_peer_incidents_per_100k_p25,
        state_peer_incidents_per_100k_median, state_peer_incidents_per_100k_p75,
        national_peer_count, national_peer_clearance_rate_p25,
        national_peer_clearance_rate_median, national_peer_clearance_rate_p75,
        national_peer_incidents_per_100k_p25, national_peer_incidents_per_100k_median,
        national_peer_incidents_per_100k_p75
    from marts.agg_nibrs_agency_peers
    where data_year = %(year)s and ori = %(ori)s
    """,
)
AGENCY_SRS = _q(
    "agency_srs",
    """
    select srs_offense_name as srs_offense, index_class, count_unit,
        hierarchy_offense_count as srs_comparable_count, all_offense_count as nibrs_count,
        offense_record_count as nibrs_offense_records, hierarchy_offenses_per_100k,
        rate_unavailable_reason
    from marts.agg_nibrs_srs_offense_counts
    where data_year = %(year)s and ori = %(ori)s
    order by hierarchy_rank
    """,
)
CAVEATS = _q(
    "caveats",
    """
    select scope, kind, note, source
    from marts.dim_nibrs_comparability_caveats
    where data_year = %(year)s
        and (state_abbreviation = %(state)s or state_abbreviation is null or %(state)s is null)
        and (ori = %(ori)s or ori is null)
        and (%(state)s is not null or scope = 'nation')
    group by scope, kind, note, source
    order by case scope when 'agency' then 1 when 'state' then 2 else 3 end, kind
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
    select primary_type, sum(crime_count) as crimes, sum(arrest_count) as arrests,
        round(sum(arrest_count)::numeric / nullif(sum(crime_count), 0), 4) as arrest_rate
    from marts.agg_chicago_type_hours
    where year = %(year)s
    group by primary_type
    order by crimes desc
    """,
)
CHICAGO_HOUR_WEEKDAY = _q(
    "chicago_hour_weekday",
    """
    select day_of_week, hour, sum(crime_count) as crimes
    from marts.agg_chicago_type_hours
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
# The table name is one of two constants, chosen in Python, never from input. Shares of each
# partition's rows per twentieth of probability, from a repeatable block sample of about
# SCORE_SAMPLE_ROWS rows: a full count read every score (2.6 s for 2 M rows).
SCORE_SAMPLE_ROWS = 20_000
SCORE_DISTRIBUTION = {
    model: _q(
        f"{model}_score_distribution",
        f"""
        with sampled as (
            select s.scored_partition,
                least(width_bucket(s.probability, 0, 1, 20), 20) as bucket, count(*) as rows
            from ml.{model}_scores as s
            tablesample system (least(100, 100.0 * {SCORE_SAMPLE_ROWS} / greatest(
                (select sum(rows) from ml.{model}_score_partitions), 1))) repeatable (0)
            group by 1, 2
        )
        select sampled.scored_partition, p.model_version, p.scored_at, p.rows as partition_rows,
            sampled.bucket,
            round(sampled.rows::numeric
                / sum(sampled.rows) over (partition by sampled.scored_partition), 5) as share
        from sampled
        join ml.{model}_score_partitions as p using (scored_partition)
        order by 1, 5
        """,
    )
    for model in ("clearance", "arrest")
}

# Drift: each feature's distribution in the champion's training window against the latest
# scored partition, from a block sample of about DRIFT_SAMPLE_ROWS rows (repeatable, so the
# page is stable). Numbers are compared as their values: hours, months, flags, small counts.
DRIFT_SAMPLE_ROWS = 20_000  # PSI noise about 0.003 for 50 values; more only slows the page
MART_ROWS = _q(
    "mart_rows",
    """
    select mart, coalesce(
        (select sum(c.reltuples) from pg_inherits as i join pg_class as c on c.oid = i.inhrelid
         where i.inhparent = to_regclass('marts.' || mart)),
        (select reltuples from pg_class where oid = to_regclass('marts.' || mart))
    )::bigint as estimated_rows
    from (values ('fct_chicago_crimes'), ('fct_nibrs_incidents')) as m (mart)
    """,
)
LATEST_SCORED = {
    model: _q(
        f"{model}_latest_scored",
        f"""
        select max(scored_partition::integer) as latest
        from ml.{model}_score_partitions
        """,
    )
    for model in ("clearance", "arrest")
}
# One pass over the sample, a grouping set per feature (rather than a row per feature and
# crime, which was four times slower).
DRIFT = {
    "arrest": _q(
        "arrest_drift",
        """
        with sampled as (
            select
            case when s.year = %(latest)s then 'latest' else 'training' end as sample,
            s.primary_type as primary_type,
            s.fbi_code as fbi_code,
            s.location_group as location_group,
            s.district as district,
            s.hour::text as hour,
            s.day_of_week::text as day_of_week,
            s.month::text as month,
            s.is_night::text as is_night,
            s.is_weekend::text as is_weekend,
            s.domestic::text as domestic,
            (s.latitude is not null)::text as has_coordinates
            from marts.fct_chicago_crimes as s tablesample system (%(percent)s) repeatable (0)
            where s.year = %(latest)s
                or (s.occurred_date >= %(train_start)s and s.occurred_date < %(train_end)s)
        )
        select
            case
            when grouping(primary_type) = 0 then 'primary_type'
            when grouping(fbi_code) = 0 then 'fbi_code'
            when grouping(location_group) = 0 then 'location_group'
            when grouping(district) = 0 then 'district'
            when grouping(hour) = 0 then 'hour'
            when grouping(day_of_week) = 0 then 'day_of_week'
            when grouping(month) = 0 then 'month'
            when grouping(is_night) = 0 then 'is_night'
            when grouping(is_weekend) = 0 then 'is_weekend'
            when grouping(domestic) = 0 then 'domestic'
            when grouping(has_coordinates) = 0 then 'has_coordinates'
            end as feature,
            coalesce(
            case when grouping(primary_type) = 0 then primary_type end,
            case when grouping(fbi_code) = 0 then fbi_code end,
            case when grouping(location_group) = 0 then location_group end,
            case when grouping(district) = 0 then district end,
            case when grouping(hour) = 0 then hour end,
            case when grouping(day_of_week) = 0 then day_of_week end,
            case when grouping(month) = 0 then month end,
            case when grouping(is_night) = 0 then is_night end,
            case when grouping(is_weekend) = 0 then is_weekend end,
            case when grouping(domestic) = 0 then domestic end,
            case when grouping(has_coordinates) = 0 then has_coordinates end
            ) as value,
            sample,
            count(*) as rows
        from sampled
        group by grouping sets (
            (sample, primary_type),
            (sample, fbi_code),
            (sample, location_group),
            (sample, district),
            (sample, hour),
            (sample, day_of_week),
            (sample, month),
            (sample, is_night),
            (sample, is_weekend),
            (sample, domestic),
            (sample, has_coordinates)
        )
        """,
    ),
    "clearance": _q(
        "clearance_drift",
        """
        with sampled as (
            select
            case when s.data_year = %(latest)s then 'latest' else 'training' end as sample,
            s.primary_offense_code as primary_offense_code,
            s.location_type_code as location_type_code,
            s.incident_hour::text as incident_hour,
            s.is_report_date::text as is_report_date,
            least(s.offense_count, 5)::text as offense_count,
            least(s.victim_count, 5)::text as victim_count,
            s.has_weapon::text as has_weapon,
            s.has_firearm::text as has_firearm,
            s.is_attempted_only::text as is_attempted_only,
            s.has_injured_victim::text as has_injured_victim,
            s.has_business_victim::text as has_business_victim,
            s.has_crime_against_person::text as has_crime_against_person,
            s.has_crime_against_property::text as has_crime_against_property
            from marts.fct_nibrs_incidents as s tablesample system (%(percent)s) repeatable (0)
            where s.data_year = %(latest)s
                or (s.incident_date >= %(train_start)s and s.incident_date < %(train_end)s)
        )
        select
            case
            when grouping(primary_offense_code) = 0 then 'primary_offense_code'
            when grouping(location_type_code) = 0 then 'location_type_code'
            when grouping(incident_hour) = 0 then 'incident_hour'
            when grouping(is_report_date) = 0 then 'is_report_date'
            when grouping(offense_count) = 0 then 'offense_count'
            when grouping(victim_count) = 0 then 'victim_count'
            when grouping(has_weapon) = 0 then 'has_weapon'
            when grouping(has_firearm) = 0 then 'has_firearm'
            when grouping(is_attempted_only) = 0 then 'is_attempted_only'
            when grouping(has_injured_victim) = 0 then 'has_injured_victim'
            when grouping(has_business_victim) = 0 then 'has_business_victim'
            when grouping(has_crime_against_person) = 0 then 'has_crime_against_person'
            when grouping(has_crime_against_property) = 0 then 'has_crime_against_property'
            end as feature,
            coalesce(
            case when grouping(primary_offense_code) = 0 then primary_offense_code end,
            case when grouping(location_type_code) = 0 then location_type_code end,
            case when grouping(incident_hour) = 0 then incident_hour end,
            case when grouping(is_report_date) = 0 then is_report_date end,
            case when grouping(offense_count) = 0 then offense_count end,
            case when grouping(victim_count) = 0 then victim_count end,
            case when grouping(has_weapon) = 0 then has_weapon end,
            case when grouping(has_firearm) = 0 then has_firearm end,
            case when grouping(is_attempted_only) = 0 then is_attempted_only end,
            case when grouping(has_injured_victim) = 0 then has_injured_victim end,
            case when grouping(has_business_victim) = 0 then has_business_victim end,
            case when grouping(has_crime_against_person) = 0 then has_crime_against_person end,
            case when grouping(has_crime_against_property) = 0 then has_crime_against_property end
            ) as value,
            sample,
            count(*) as rows
        from sampled
        group by grouping sets (
            (sample, primary_offense_code),
            (sample, location_type_code),
            (sample, incident_hour),
            (sample, is_report_date),
            (sample, offense_count),
            (sample, victim_count),
            (sample, has_weapon),
            (sample, has_firearm),
            (sample, is_attempted_only),
            (sample, has_injured_victim),
            (sample, has_business_victim),
            (sample, has_crime_against_person),
            (sample, has_crime_against_property)
        )
        """,
    ),
}
DRIFT_MART = {"arrest": "fct_chicago_crimes", "clearance": "fct_nibrs_incidents"}

QUERIES: dict[str, Query] = {
    q.name: q
    for q in (
        WAREHOUSE_CONTENTS, NIBRS_YEARS, CHICAGO_YEARS, STATE_COVERAGE, NATIONAL_BY_YEAR,
        STATE_AGENCIES, AGENCY_SEARCH, AGENCY, AGENCY_YEARS, AGENCY_CATEGORIES,
        AGENCY_MONTHS, AGENCY_PEERS, AGENCY_SRS, CAVEATS, CONSTANT_RANGE, STATES,
        COMPLIANCE_GRID, CHICAGO_BY_YEAR,
        CHICAGO_BY_DISTRICT, CHICAGO_BY_COMMUNITY_AREA, CHICAGO_BY_TYPE,
        CHICAGO_HOUR_WEEKDAY, CHICAGO_POINTS, SCORE_TABLES, *SCORE_DISTRIBUTION.values(),
        MART_ROWS, *LATEST_SCORED.values(), *DRIFT.values(),
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
