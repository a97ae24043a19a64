"""
### Crime Warehouse, nightly

1. **Chicago**: an incremental pull of changed crimes (by `updated_on`, with an overlap),
   checked by the quality gate, into the lake and `raw.chicago_crimes`.
2. **NIBRS**: every `nibrs-YYYY.zip` in the landing area that is not loaded yet is decoded,
   checked, written to the lake and loaded into `raw.nibrs_*` (one year per task).
3. **dbt**: the whole project through cosmos, tests after the models.
4. **Quality gate** on the marts: a failed critical check stops the run here.
5. **Models**: each retrained when due (a champion changes only if it wins), then the new
   records are scored into `ml.<model>_scores`.
6. **Summary**: what ran and the row counts of every mart, in the log and in
   `<data>/runs/`.

Every step is idempotent: rerunning the night changes nothing that is already there.
"""

from airflow.sdk import CronTriggerTimetable, chain, dag, task

from crimewh.dag_support import (
    NIGHTLY_SCHEDULE,
    WAREHOUSE_POOL,
    Tag,
    assets,
    dbt_task_group,
    default_args,
    task_settings,
)

ASSETS = assets()


@dag(
    dag_id="crime_warehouse_nightly",
    # the first run waits for the next 03:00: `make up` does not start a night on its own
    schedule=CronTriggerTimetable(
        NIGHTLY_SCHEDULE, timezone="America/Chicago", run_immediately=False
    ),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[Tag.NIGHTLY, Tag.CHICAGO, Tag.NIBRS, Tag.DBT, Tag.QUALITY, Tag.ML],
    doc_md=__doc__,
)
def crime_warehouse_nightly():
    @task(pool=WAREHOUSE_POOL, outlets=[ASSETS["chicago_lake"], ASSETS["chicago_raw"]])
    def chicago_pull() -> dict:
        from crimewh import pipeline

        return pipeline.chicago_pull(task_settings())

    @task
    def nibrs_landed_years() -> list[int]:
        from crimewh import pipeline

        return pipeline.nibrs_landed_years(task_settings())

    @task(
        pool=WAREHOUSE_POOL,
        max_active_tis_per_dagrun=1,
        outlets=[ASSETS["nibrs_lake"], ASSETS["nibrs_raw"]],
    )
    def nibrs_ingest(year: int) -> dict:
        from crimewh import pipeline

        return pipeline.nibrs_ingest(task_settings(), year)

    @task(outlets=[ASSETS["marts"]])
    def quality_gate() -> dict:
        from crimewh import pipeline

        return pipeline.quality_marts(task_settings())

    @task
    def train_if_due(model: str) -> dict:
        from crimewh import pipeline

        return pipeline.train_if_due(task_settings(), model)

    @task(pool=WAREHOUSE_POOL, outlets=[ASSETS["ml_scores"]])
    def score(model: str) -> dict:
        from crimewh import pipeline

        return pipeline.score(task_settings(), model)

    @task(trigger_rule="none_failed")
    def summary(
        chicago: dict, nibrs: list[dict], gate: dict, trained: list[dict], scored: list[dict]
    ) -> dict:
        from crimewh import pipeline

        # a slice of a mapped task's results is one request; iterating them would ask for
        # the index past the end, which the task SDK logs as an "XCom not found" error
        steps = {"chicago": chicago, "nibrs": nibrs[:], "quality": gate,
                 "models": trained[:], "scores": scored[:]}  # fmt: skip
        return pipeline.run_summary(task_settings(), steps)

    chicago = chicago_pull()
    nibrs = nibrs_ingest.expand(year=nibrs_landed_years())
    transform = dbt_task_group("transform")
    gate = quality_gate()
    trained = train_if_due.expand(model=["clearance", "arrest"])
    scored = score.expand(model=["clearance", "arrest"])
    chain([chicago, nibrs], transform, gate, trained, scored)
    summary(chicago, nibrs, gate, trained, scored)


crime_warehouse_nightly()
