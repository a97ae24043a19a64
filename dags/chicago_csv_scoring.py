"""
### Chicago CSV scoring

Scores one CSV of Chicago crimes that a person uploaded on the service's page (`crimewh
serve`): the service stores the file under the lake's `uploads/<job>/`, records the batch
job in `ml.batch_jobs` and triggers this DAG with `{"job_id": "<job>"}`. The task scores the
file with the arrest champion exactly as `crimewh score arrest --file` does, writes the
scored CSV and the rows that could not be scored beside the upload, records the counts on
the job (which the job's page shows) and mails the outcome.

A file that cannot be scored (not text, no champion yet) fails the job at once; any other
error is retried, and the last failure fails the job with the error and the log's link.
"""

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from crimewh_orchestration.dag_support import Tag, default_args, task_settings
from crimewh_orchestration.service.jobs import DAG_ID, on_task_failure


@dag(
    dag_id=DAG_ID,
    description="Score an uploaded CSV of Chicago crimes (one batch job per run)",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one file at a time: scoring takes both cores
    default_args=default_args(),
    tags=[Tag.CHICAGO, Tag.ML],
    doc_md=__doc__,
    params={"job_id": Param(type="string", pattern="^[0-9a-f]{32}$", title="Batch job id")},
)
def chicago_csv_scoring():
    @task(on_failure_callback=on_task_failure)
    def score_upload() -> dict:
        from crimewh_orchestration.service.jobs import JobInputError, run_job

        context = get_current_context()
        try:
            return run_job(task_settings(), context["params"]["job_id"],
                           log_url=context["ti"].log_url)  # fmt: skip
        except JobInputError as error:  # the same file fails the same way: no retry
            raise AirflowFailException(str(error)) from error

    score_upload()


chicago_csv_scoring()
