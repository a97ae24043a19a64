"""The marts suite in PostgreSQL: marts that agree pass; marts that disagree stop the run.

What dbt's tests and the contracts already check (keys, ranges, accepted values) is not
checked again here; this suite checks what they cannot see, one model at a time: that an
aggregate's totals are its facts' counts, and that a year looks like NIBRS. The tables are
small stand-ins with the marts' columns, in a schema of their own so that the dbt project's
tests, which build the real ``marts``, are not disturbed.
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
    data_year integer, incident_key bigint, ori text, agency_ori text, clearance_outcome text
);
create table {s}.fct_nibrs_agency_years (data_year integer, ori text);
create table {s}.agg_nibrs_agency_year_offenses (
    data_year integer, ori text, category_type text, category text, incident_count integer
);
create table {s}.fct_chicago_crimes (
    id bigint, year integer, latitude double precision, longitude double precision
);
create table {s}.agg_chicago_arrests (
    year integer, district text, community_area integer, crime_count integer
);
insert into {s}.fct_nibrs_incidents values
    (2022, 1, 'MO0040000', 'MO0040000', 'arrest'),
    (2022, 2, 'MO0040000', 'MO0040000', 'open'),
    (2022, 3, 'MO0040100', 'MO0040100', 'open');
insert into {s}.fct_nibrs_agency_years values
    (2022, 'MO0040000'), (2022, 'MO0040100'), (2022, 'MO0040200');
insert into {s}.agg_nibrs_agency_year_offenses values
    (2022, 'MO0040000', 'all', 'all', 2), (2022, 'MO0040100', 'all', 'all', 1),
    (2022, 'MO0040200', 'all', 'all', 0), (2022, 'MO0040000', 'offense', '13A', 1);
insert into {s}.fct_chicago_crimes values
    (11160347, 2025, 41.895796081, -87.761401563), (11160348, 2025, null, null);
insert into {s}.agg_chicago_arrests values (2025, '011', 25, 1), (2025, null, null, 1);
create table {s}.agg_chicago_type_hours (year integer, crime_count integer);
insert into {s}.agg_chicago_type_hours values (2025, 2);
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


def test_marts_that_agree_pass(marts):
    report = check_marts(
        marts.settings, schema=SCHEMA, tables=MART_TABLES, nibrs_years=None, docs=False
    )

    assert report.passed
    assert not report.failed()
    assert {r.check for r in report.results} == {c.name for c in marts_checks()}
    rows = stored_results(marts.settings, report.run_id)
    assert len(rows) == len(report.results)
    assert {row["frame"] for row in rows} == {c.frame for c in marts_checks(SCHEMA)}


def test_marts_that_disagree_stop_the_run(marts):
    execute(
        marts.url,
        # an incident the aggregate never counted, an agency-year without its 'all' row,
        # and a Chicago year whose aggregate missed a batch
        f"insert into {SCHEMA}.fct_nibrs_incidents values (2022, 4, 'MO0040200', "
        "'MO0040200', 'open');"
        f"delete from {SCHEMA}.agg_nibrs_agency_year_offenses where ori = 'MO0040200';"
        f"insert into {SCHEMA}.fct_chicago_crimes values (11160349, 2025, null, null);",
    )

    with pytest.raises(QualityGateError) as stopped:
        check_marts(marts.settings, schema=SCHEMA, tables=MART_TABLES, nibrs_years=None, docs=False)

    report = stopped.value.report
    failed = {r.check: r for r in report.failed("critical")}
    assert set(failed) == {
        "fct_nibrs_incidents.reconciles_with_agency_year_offenses",
        "fct_nibrs_agency_years.reconciles_with_agency_year_offenses",
        "fct_chicago_crimes.reconciles_with_agg_chicago_arrests",
        "fct_chicago_crimes.reconciles_with_agg_chicago_type_hours",
    }
    message = str(stopped.value)
    assert all(name in message for name in failed)
    stored = stored_results(marts.settings, report.run_id)
    assert sorted(r["check_name"] for r in stored if not r["passed"]) == sorted(failed)


def test_a_year_that_does_not_look_like_nibrs_is_a_warning(marts):
    execute(marts.url, f"update {SCHEMA}.fct_nibrs_incidents set clearance_outcome = 'open'")

    report = check_marts(marts.settings, schema=SCHEMA, tables=MART_TABLES, nibrs_years=None,
                         store=False, docs=False)  # fmt: skip

    assert report.passed  # a warning: reported, and the run goes on
    assert [r.check for r in report.failed("warning")] == [
        "fct_nibrs_incidents.open_share_plausible"
    ]


def test_a_warehouse_of_nibrs_only_passes_and_checks_nibrs_only(marts, monkeypatch):
    """A user of the decoder and the NIBRS marts alone has no Chicago marts to check: the
    gate checks the marts of the sources raw holds, and passes."""
    from crimewh.quality import run

    execute(
        marts.url,
        f"drop table {SCHEMA}.fct_chicago_crimes, {SCHEMA}.agg_chicago_arrests, "
        f"{SCHEMA}.agg_chicago_type_hours",
    )
    monkeypatch.setattr(run, "_loaded_sources", lambda settings: {"nibrs"})

    report = check_marts(marts.settings, schema=SCHEMA, nibrs_years=None, store=False,
                         docs=False)  # fmt: skip

    assert report.passed
    assert {r.frame.split(".", 1)[1] for r in report.results} == {
        "fct_nibrs_incidents",
        "fct_nibrs_agency_years",
    }
    assert "(nibrs)" in report.target


def test_a_warehouse_with_nothing_loaded_has_nothing_to_check(marts, monkeypatch):
    from crimewh.quality import run

    monkeypatch.setattr(run, "_loaded_sources", lambda settings: set())

    report = check_marts(marts.settings, schema=SCHEMA, store=False, docs=False)

    assert report.results == []
    assert report.passed


def test_a_missing_mart_fails_its_checks(marts):
    execute(marts.url, f"drop table {SCHEMA}.fct_chicago_crimes")

    report = check_marts(
        marts.settings, schema=SCHEMA, tables=("fct_chicago_crimes",), store=False,
        docs=False, raise_on_critical=False,
    )  # fmt: skip

    assert not report.passed
    assert {r.check for r in report.failed("critical")} == {
        "fct_chicago_crimes.reconciles_with_agg_chicago_arrests",
        "fct_chicago_crimes.reconciles_with_agg_chicago_type_hours",
    }
    assert all(r.frame == f"{SCHEMA}.fct_chicago_crimes" for r in report.results)
    assert all(r.observed.startswith("could not be checked") for r in report.results)
    assert len(report.failed("warning")) == 2  # the coordinates


def model_columns(table: str) -> set[str] | None:
    """The columns a mart's dbt model declares (its YAML) or selects (its SQL)."""
    for yml in MARTS_DIR.rglob(f"{table}.yml"):
        [model] = yaml.safe_load(yml.read_text())["models"]
        return {column["name"] for column in model["columns"]}
    return None


def test_marts_checks_name_the_models_columns():
    """The checks follow the dbt models: a renamed column must fail here, not at 3 a.m."""
    for check in marts_checks(schema="marts"):
        table = check.frame.split(".", 1)[1]
        columns = model_columns(table)
        assert columns is not None, check.frame
        query = check.kwargs.get("unexpected_rows_query", "")
        # a reconciliation reads other marts too: their columns count as well
        for other in re.findall(r"\bmarts\.(\w+)", query):
            columns |= model_columns(other) or set()
        named = {c for c in check.columns() if c}
        named |= set(re.findall(r"\b(data_year|incident_count|crime_count|clearance_outcome|"
                                r"category_type|year|ori)\b", query))  # fmt: skip
        assert named <= columns, f"{check.name}: {named - columns}"
