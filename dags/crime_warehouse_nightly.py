"""
### Crime Warehouse, nightly (03:00 Chicago time)

The two sources run side by side, each to its own marts and model, so that one source's
outage stops only its own tasks:

* **NIBRS**: every `nibrs-YYYY.zip` in the landing area that is not loaded yet is decoded,
  checked, written to the lake and loaded into `raw.nibrs_*` (one year per task); dbt
  builds the NIBRS marts (one `dbt build`, every model shown as its own task); the
  clearance model is retrained when due and scores the new years.
* **Chicago**: an incremental pull of changed crimes (by `updated_on`, with an overlap),
  checked by the quality gate, into the lake and `raw.chicago_crimes`; dbt builds the
  Chicago marts; the arrest model is retrained when due and scores.

The **quality gate** on the marts runs once both dbt groups are done, whatever became of
them, and a failed critical check stops the models. The **summary** records what ran and
what failed, with the row counts of every mart, in the log and in `<data>/runs/`.

Every step is idempotent: rerunning the night changes nothing that is already there.
"""

from airflow.sdk import chain, dag, get_current_context, task

from crimewh_orchestration.dag_support import (
    NIGHTLY_TIMEZONE,
    WAREHOUSE_POOL,
    Tag,
    assets,
    dbt_task_group,
    default_args,
    failed_tasks,
    nightly_timetable,
    task_settings,
)

ASSETS = assets()


@dag(
    dag_id="crime_warehouse_nightly",
    description=f"Nightly at 03:00 {NIGHTLY_TIMEZONE}: NIBRS and Chicago, each on its own path",
    schedule=nightly_timetable(),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[Tag.NIGHTLY, Tag.CHICAGO, Tag.NIBRS, Tag.DBT, Tag.QUALITY, Tag.ML],
    doc_md=__doc__,
)
def crime_warehouse_nightly():
    @task(pool=WAREHOUSE_POOL, outlets=[ASSETS["chicago_lake"], ASSETS["chicago_raw"]])
    def chicago_pull() -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.chicago_pull(task_settings())

    @task
    def nibrs_landed_years() -> list[int]:
        from crimewh_orchestration import pipeline

        return pipeline.nibrs_landed_years(task_settings())

    @task(
        pool=WAREHOUSE_POOL,
        max_active_tis_per_dagrun=1,
        outlets=[ASSETS["nibrs_lake"], ASSETS["nibrs_raw"]],
    )
    def nibrs_ingest(year: int) -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.nibrs_ingest(task_settings(), year)

    @task(outlets=[ASSETS["marts"]], trigger_rule="all_done")
    def quality_gate() -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.quality_marts(task_settings())

    @task
    def train_if_due(model: str) -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.train_if_due(task_settings(), model)

    @task(pool=WAREHOUSE_POOL, outlets=[ASSETS["ml_scores"]])
    def score(model: str) -> dict:
        from crimewh_orchestration import pipeline

        return pipeline.score(task_settings(), model)

    @task(trigger_rule="all_done")
    def summary(chicago, nibrs, gate, trained_clearance, trained_arrest, scored_clearance,
                scored_arrest) -> dict:  # fmt: skip
        from crimewh_orchestration import pipeline

        # a slice of a mapped task's results is one request; iterating them would ask for
        # the index past the end, which the task SDK logs as an "XCom not found" error
        steps = {
            "chicago": chicago,
            "nibrs": nibrs[:],
            "quality": gate,
            "models": [m for m in (trained_clearance, trained_arrest) if m],
            "scores": [s for s in (scored_clearance, scored_arrest) if s],
        }
        failed = failed_tasks(get_current_context())
        return pipeline.finish_run(task_settings(), steps, failed=failed)

    # NIBRS
    nibrs = nibrs_ingest.expand(year=nibrs_landed_years())
    nibrs_dbt = dbt_task_group("nibrs_dbt", select=["tag:nibrs"])
    # Chicago
    chicago = chicago_pull()
    chicago_dbt = dbt_task_group("chicago_dbt", select=["tag:chicago"])
    # the marts, whichever source got through
    gate = quality_gate()
    trained_clearance = train_if_due.override(task_id="train_clearance")("clearance")
    trained_arrest = train_if_due.override(task_id="train_arrest")("arrest")
    scored_clearance = score.override(task_id="score_clearance")("clearance")
    scored_arrest = score.override(task_id="score_arrest")("arrest")

    chain(nibrs, nibrs_dbt, gate)
    chain(chicago, chicago_dbt, gate)
    chain([nibrs_dbt, gate], trained_clearance, scored_clearance)
    chain([chicago_dbt, gate], trained_arrest, scored_arrest)
    summary(chicago, nibrs, gate, trained_clearance, trained_arrest, scored_clearance,
            scored_arrest)  # fmt: skip


crime_warehouse_nightly()
