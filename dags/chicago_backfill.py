"""
### Chicago backfill

Pulls whole years of Chicago crimes (`first_year` to `last_year`) into the lake and the
warehouse, then rebuilds the Chicago marts. A backfill is a batch like any other: rows
already held are deduplicated on `id`, so running it again adds nothing, and an
interrupted pull resumes from its last page.
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

ASSETS = assets()
FIRST_YEAR = 2001  # the dataset starts in 2001


@dag(
    dag_id="chicago_backfill",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[Tag.BACKFILL, Tag.CHICAGO, Tag.DBT],
    description="Pull whole years of Chicago crimes and rebuild the Chicago marts",
    doc_md=__doc__,
    params={
        "first_year": Param(FIRST_YEAR, type="integer", minimum=FIRST_YEAR, maximum=2100),
        "last_year": Param(FIRST_YEAR, type="integer", minimum=FIRST_YEAR, maximum=2100),
    },
)
def chicago_backfill():
    @task(pool=WAREHOUSE_POOL, outlets=[ASSETS["chicago_lake"], ASSETS["chicago_raw"]])
    def pull_years() -> dict:
        from crimewh_orchestration import pipeline

        params = get_current_context()["params"]
        first, last = int(params["first_year"]), int(params["last_year"])
        if first > last:
            raise ValueError(f"first_year {first} is after last_year {last}")
        return pipeline.chicago_pull(task_settings(), years=(first, last))

    chain(pull_years(), dbt_task_group("chicago_dbt", select=["tag:chicago"]))


chicago_backfill()
