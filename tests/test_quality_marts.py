"""The marts suite in PostgreSQL: clean marts pass, broken keys, rates and months stop the run.

The tables are small stand-ins with the marts' columns, in a schema of their own so that the
dbt project's tests, which build the real ``marts``, are not disturbed.
"""

import re
from pathlib import Path

import psycopg2
import pytest
import yaml

from crimewh.quality.run import QualityGateError, check_marts, stored_results
from crimewh.quality.suites import MART_TABLES, marts_checks

SCHEMA = "quality_test_marts"
MARTS_DIR = Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "marts"
TABLES = """
create table {s}.fct_nibrs_incidents (
    incident_id text, data_year integer, ori text, incident_number text,
    clearance_outcome text, incident_month integer, incident_hour integer,
    days_to_clearance integer
);
create table {s}.fct_agency_years (
    agency_year_id text, ori text, data_year integer, months_reported integer,
    months_reported_in_header integer, months_with_incidents integer
);
create table {s}.agency_year_stats (
    agency_year_stat_id text, clearance_rate numeric, arrest_clearance_rate numeric,
    exceptional_clearance_rate numeric, incident_count integer, cleared_count integer,
    months_reported integer
);
create table {s}.fct_chicago_crimes (
    id bigint, arrest boolean, latitude double precision, longitude double precision
);
create table {s}.chicago_arrest_stats (
    arrest_stat_id text, crime_count integer, arrest_count integer, arrest_rate numeric(7, 6),
    domestic_arrest_rate numeric(7, 6), citizen_reported_arrest_rate numeric(7, 6)
);
insert into {s}.fct_nibrs_incidents values
    ('2022|MO0040000|A1', 2022, 'MO0040000', 'A1', 'arrest', 7, 19, 0),
    ('2022|MO0040000|A2', 2022, 'MO0040000', 'A2', 'open', 2, null, null),
    ('2022|MO0040100|A1', 2022, 'MO0040100', 'A1', 'exceptional', 12, 0, 31);
insert into {s}.fct_agency_years values
    ('2022|MO0040000', 'MO0040000', 2022, 12, 12, 2),
    ('2022|MO0040100', 'MO0040100', 2022, 0, 0, 1);
insert into {s}.agency_year_stats values
    ('2022|MO0040000|all|all', 0.5, 0.5, 0, 2, 1, 12),
    ('2022|MO0040100|all|all', 1, 0, 1, 1, 1, 0),
    ('2022|MO0040200|all|all', null, null, null, 0, 0, 3);
insert into {s}.fct_chicago_crimes values
    (11160347, true, 41.895796081, -87.761401563), (11160348, false, null, null);
insert into {s}.chicago_arrest_stats values
    ('2025|011|25', 4, 1, 0.25, 0, 0.5), ('2025|unknown|unknown', 0, 0, null, null, null);
"""


def execute(url: str, sql: str) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


@pytest.fixture
def marts(warehouse):
    execute(warehouse.url, f"drop schema if exists {SCHEMA} cascade; create schema {SCHEMA};")
    execute(warehouse.url, TABLES.format(s=SCHEMA))
    yield warehouse
    execute(warehouse.url, f"drop schema if exists {SCHEMA} cascade")


def test_clean_marts_pass(marts):
    report = check_marts(marts.settings, schema=SCHEMA, docs=False)

    assert report.passed
    assert not report.failed()
    names = {r.check for r in report.results}
    assert {"agency_year_stats.clearance_rate_range", "fct_agency_years.months_reported_range",
            "fct_nibrs_incidents.key_unique", "fct_chicago_crimes.key_unique",
            "chicago_arrest_stats.arrest_rate_range"} <= names  # fmt: skip
    rows = stored_results(marts.settings, report.run_id)
    assert len(rows) == len(report.results)
    assert {row["frame"] for row in rows} == {f"{SCHEMA}.{t}" for t in MART_TABLES}


def test_bad_rates_months_and_keys_stop_the_run(marts):
    execute(
        marts.url,
        f"update {SCHEMA}.agency_year_stats set clearance_rate = 1.2, cleared_count = 3 "
        "where agency_year_stat_id like '2022|MO0040000%';"
        f"update {SCHEMA}.fct_agency_years set months_reported = 13 where ori = 'MO0040100';"
        f"insert into {SCHEMA}.fct_chicago_crimes values (11160347, false, null, null);",
    )

    with pytest.raises(QualityGateError) as stopped:
        check_marts(marts.settings, schema=SCHEMA, docs=False)

    report = stopped.value.report
    failed = {r.check: r for r in report.failed("critical")}
    assert set(failed) == {
        "agency_year_stats.clearance_rate_range",
        "agency_year_stats.cleared_within_incidents",
        "fct_agency_years.months_reported_range",
        "fct_chicago_crimes.key_unique",
    }
    assert "1.2 (1)" in failed["agency_year_stats.clearance_rate_range"].observed
    assert "13 (1)" in failed["fct_agency_years.months_reported_range"].observed
    message = str(stopped.value)
    assert all(name in message for name in failed)
    stored = stored_results(marts.settings, report.run_id)
    assert sorted(r["check_name"] for r in stored if not r["passed"]) == sorted(failed)


def test_a_missing_mart_fails_its_checks(marts):
    execute(marts.url, f"drop table {SCHEMA}.fct_chicago_crimes")

    report = check_marts(
        marts.settings, schema=SCHEMA, tables=("fct_chicago_crimes",), store=False,
        docs=False, raise_on_critical=False,
    )  # fmt: skip

    assert not report.passed
    assert {r.check for r in report.failed("critical")} == {
        "fct_chicago_crimes.key_present",
        "fct_chicago_crimes.key_unique",
        "fct_chicago_crimes.arrest_present",
    }
    assert all(r.frame == f"{SCHEMA}.fct_chicago_crimes" for r in report.results)
    assert all(r.observed.startswith("could not be checked") for r in report.results)
    assert len(report.failed("warning")) == 2  # the coordinates


def model_columns(table: str) -> set[str] | None:
    """The columns a mart's dbt model declares (its YAML) or selects (its SQL)."""
    for yml in MARTS_DIR.rglob(f"{table}.yml"):
        [model] = yaml.safe_load(yml.read_text())["models"]
        return {column["name"] for column in model["columns"]}
    for sql in MARTS_DIR.rglob(f"{table}.sql"):
        return set(re.findall(r"\b([a-z_][a-z0-9_]*)\b", sql.read_text()))
    return None


def test_marts_checks_name_the_models_columns():
    """The checks follow the dbt models: a renamed column must fail here, not at 3 a.m."""
    found = 0
    for check in marts_checks():
        columns = model_columns(check.frame.split(".", 1)[1])
        if columns is None:  # that mart's model is not written yet
            continue
        found += 1
        assert check.columns() <= columns, f"{check.name}: {check.columns() - columns}"
    assert found >= 20
