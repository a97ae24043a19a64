"""
### NIBRS years backfill

Loads a range of NIBRS years, `first_year` to `last_year`: a first load of many years, or a
reload after a decoder fix. Each year's `nibrs-YYYY.zip` must be in the landing area.

One ingest task per year (dynamic task mapping), so with the CeleryExecutor the years spread
over the workers; the `warehouse` pool bounds how many load into PostgreSQL at once,
whatever the number of workers. Then one `dbt build` of those years' NIBRS marts and the
quality gate. A year whose zip is already loaded is skipped unless `force` is set, so a
backfill that failed part-way is resumed by triggering it again.
"""

import pendulum
from airflow.sdk import Param, chain, dag, get_current_context, task

from crimewh_orchestration.dag_support import (
    WAREHOUSE_POOL,
    Tag,
    assets,
    default_args,
    task_settings,
)
from crimewh_orchestration.pipeline import nibrs_years

ASSETS = assets()


def _year_param(title: str) -> Param:
    # no default: both ends are required, chosen from the years the FBI publishes
    return Param(type="integer", enum=nibrs_years(), title=title)


@dag(
    dag_id="nibrs_years_backfill",
    description="Load a range of NIBRS years, one ingest per year, then their marts",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[Tag.BACKFILL, Tag.NIBRS, Tag.DBT, Tag.QUALITY],
    doc_md=__doc__,
    params={
        "first_year": _year_param("First year"),
        "last_year": _year_param("Last year"),
        "force": Param(False, type="boolean", title="Reload years already loaded"),
    },
)
def nibrs_years_backfill():
    @task
    def years() -> list[int]:
        from crimewh_orchestration.pipeline import nibrs_year_range

        params = get_current_context()["params"]
        return nibrs_year_range(params["first_year"], params["last_year"])

    @task(pool=WAREHOUSE_POOL, outlets=[ASSETS["nibrs_lake"], ASSETS["nibrs_raw"]])
    def ingest(year: int) -> dict:
        from crimewh_orchestration import pipeline

        force = bool(get_current_context()["params"]["force"])
        return pipeline.nibrs_ingest(task_settings(), year, force=force)

    # one `dbt build` of all the years: the marts are rebuilt a year partition at a time
    @task(pool=WAREHOUSE_POOL, outlets=[ASSETS["marts"]])
    def dbt_build(years: list[int]) -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.dbt_build(task_settings(), nibrs_years=years, select=["tag:nibrs"])

    @task
    def quality_gate() -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.quality_marts(task_settings())

    the_years = years()
    chain(ingest.expand(year=the_years), dbt_build(the_years), quality_gate())


nibrs_years_backfill()
