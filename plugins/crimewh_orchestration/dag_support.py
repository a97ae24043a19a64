"""What every DAG shares: tags, default arguments, the warehouse pool, assets, alerts, dbt.

Kept light: DAG files import this at parse time, so nothing heavy is imported at module
level (the DAG integrity test checks it).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)

WAREHOUSE_POOL = "warehouse"  # bulk loads and dbt share it: two at a time on two cores
WAREHOUSE_POOL_SLOTS = 2
NIGHTLY_TIMEZONE = "America/Chicago"  # the City's data and the warehouse's users keep its time


class Tag(StrEnum):
    """The only tags a DAG may carry (the DAG tests enforce it)."""

    NIBRS = "nibrs"
    CHICAGO = "chicago"
    DBT = "dbt"
    QUALITY = "quality"
    ML = "ml"
    NIGHTLY = "nightly"
    BACKFILL = "backfill"


def default_args() -> dict:
    from crimewh.settings import settings

    return {
        "owner": "crimewh",
        # CRIMEWH_TASK_RETRIES=0 for tests and `make demo`, where a retry only hides the error
        "retries": settings().task_retries,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=20),
        "on_failure_callback": on_failure,
    }


def nightly_timetable():
    """The nightly schedule, in Chicago time, that waits for its next time when Airflow
    starts: ``run_immediately=timedelta(0)``, since with ``False`` Airflow 3.3 still runs the
    latest past night at once within a tenth of a day of it (the "buffer" of
    ``CronTriggerTimetable._calc_first_run``), which `make up` at 5 a.m. would trigger."""
    from airflow.sdk import CronTriggerTimetable

    from crimewh.settings import settings

    return CronTriggerTimetable(
        settings().nightly_schedule, timezone=NIGHTLY_TIMEZONE, run_immediately=timedelta(0)
    )


def dbt_project() -> Path:
    """The dbt project, in the project folder the settings name (``CRIMEWH_PROJECT_DIR``)."""
    from crimewh.settings import project_dir

    return project_dir() / "dbt_project"


def dbt_manifest() -> Path:
    """The parsed manifest cosmos renders the dbt task groups from (`crimewh dbt parse`)."""
    return dbt_project() / "target" / "manifest.json"


def failed_tasks(context) -> list[str]:
    """The tasks of this run that failed, or did not run because an upstream one failed."""
    ti = context["ti"]
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
    return sorted(task for task, state in states.items()
                  if state in ("failed", "upstream_failed"))  # fmt: skip


def task_settings():
    """The settings inside a task (read at run time, never at parse time)."""
    from crimewh.settings import settings

    return settings()


def assets() -> dict:
    """The lake partitions and marts the DAGs produce, by name."""
    from airflow.sdk import Asset

    names = ("nibrs_lake", "nibrs_raw", "chicago_lake", "chicago_raw", "marts", "ml_scores")
    return {name: Asset(name=f"crimewh_{name}", uri=f"crimewh://{name}") for name in names}


# -- failure alerts ------------------------------------------------------------------------------
def on_failure(context) -> None:
    """Log the failure and mail it (``crimewh.notify``: the task, the error's last lines and
    the log's URL) when SMTP is configured."""
    from crimewh import notify

    ti = context.get("task_instance") or context.get("ti")
    log.error(
        "%s.%s failed (%s): %s",
        getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?"),
        getattr(ti, "run_id", context.get("run_id", "?")), context.get("exception"),
    )  # fmt: skip
    notify.task_failed(task_settings(), context)


# -- dbt through cosmos --------------------------------------------------------------------------
def dbt_task_group(
    group_id: str, *, select: list[str], dbt_vars: dict | None = None, **task_group_args
):
    """A cosmos task group over the selected part of the dbt project, in watcher mode.

    One task (the producer) runs a single `dbt build` of the selection, as `crimewh dbt
    build` would: every model shows as a task of its own that follows the producer's
    progress (a sensor, deferred to the triggerer while it waits; see
    `crimewh_orchestration.dbt_watcher` for the few seconds each one settles), so the UI
    still shows
    each model's state and a model can be retried alone, without paying for one dbt
    start-up per model (4-5 s each, most of a small night's dbt time before). Tests run
    after all models, in one task. Rendered from the parsed manifest (`crimewh dbt parse`;
    `make up` and `make demo` run it), which spares the DAG processor a dbt invocation.
    ``dbt_vars`` is templated (``{"nibrs_years": "{{ params.year }}"}``).
    """
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    from crimewh_orchestration.dbt_watcher import use_settled_trigger

    use_settled_trigger()

    project, manifest = dbt_project(), dbt_manifest()
    if not manifest.exists():
        raise FileNotFoundError(
            f"{manifest} is missing: run `crimewh dbt parse` (make up and make demo do) "
            "so the DAG can render the dbt project"
        )
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            manifest_path=manifest, project_name="crimewh", dbt_project_path=project
        ),
        profile_config=ProfileConfig(
            profile_name="crimewh",
            target_name=task_settings().dbt_target or "embedded",
            profiles_yml_filepath=project / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=InvocationMode.DBT_RUNNER,
            # the one task that works the warehouse; the models' sensors only wait
            setup_operator_args={"pool": WAREHOUSE_POOL},
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_ALL,
            select=select,
            emit_datasets=False,
            enable_mock_profile=False,
        ),
        # none_failed: a night with no new NIBRS year skips the mapped ingest, not dbt
        operator_args={
            "install_deps": False,
            "trigger_rule": "none_failed",
            "vars": dbt_vars or {},
            "poke_interval": 5,  # how often a waiting model's trigger reads the producer's progress
        },
        **task_group_args,
    )
