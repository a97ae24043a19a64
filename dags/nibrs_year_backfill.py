"""
### NIBRS year backfill

Rebuilds exactly one NIBRS year, end to end, from its zip: `nibrs-YYYY.zip` in the landing
area is decoded, checked, written to the lake and loaded into `raw` (replacing that year
only, even when the zip was loaded before), dbt rebuilds that year's marts (one `dbt
build` with `nibrs_years: [YYYY]`, every model shown as its own task), the quality gate
checks the marts, and the clearance model (trained first if there is none, or it is due)
scores the year.

Trigger it from the UI (**Trigger**, then pick the `year`) or the REST API with
`{"year": 2022}`. The year is required and must be one the FBI publishes (1991 to last
year): anything else is refused before a task runs. Running it twice gives the same
warehouse.
"""

import pendulum
from airflow.sdk import Param, chain, dag, get_current_context, task

from crimewh_orchestration.dag_support import (
    WAREHOUSE_POOL,
    Tag,
    assets,
    dbt_task_group,
    default_args,
    task_settings,
)
from crimewh_orchestration.pipeline import nibrs_years

ASSETS = assets()


@dag(
    dag_id="nibrs_year_backfill",
    description="Rebuild one NIBRS year from its zip: raw, marts, quality gate, scores",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[Tag.BACKFILL, Tag.NIBRS, Tag.DBT, Tag.QUALITY, Tag.ML],
    doc_md=__doc__,
    params={
        # no default: the year is required (REST answers 400 without it), and a list of the
        # years that exist (a select in the form) cannot be out of range
        "year": Param(
            type="integer",
            enum=nibrs_years(),
            title="Data year",
            description="The NIBRS year to rebuild (1991 to last year); its zip must be in "
            "the landing area as nibrs-YYYY.zip.",
        )
    },
)
def nibrs_year_backfill():
    @task
    def year() -> int:
        from crimewh_orchestration.pipeline import check_nibrs_year

        return check_nibrs_year(get_current_context()["params"]["year"])

    @task(pool=WAREHOUSE_POOL, outlets=[ASSETS["nibrs_lake"], ASSETS["nibrs_raw"]])
    def ingest(year: int) -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.nibrs_ingest(task_settings(), year, force=True)

    @task
    def quality_gate() -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.quality_marts(task_settings())

    @task
    def train_if_due() -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.train_if_due(task_settings(), "clearance")

    @task(pool=WAREHOUSE_POOL, outlets=[ASSETS["ml_scores"]])
    def score() -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.score(task_settings(), "clearance")

    @task
    def summary(year: int, ingested: dict, scored: dict) -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.run_summary(
            task_settings(), {"year": year, "nibrs": ingested, "scores": scored}
        )

    the_year = year()
    ingested = ingest(the_year)
    marts = dbt_task_group(
        "nibrs_dbt", select=["tag:nibrs"], dbt_vars={"nibrs_years": "{{ params.year }}"}
    )
    scored = score()
    chain(ingested, marts, quality_gate(), train_if_due(), scored)
    summary(the_year, ingested, scored)


nibrs_year_backfill()
