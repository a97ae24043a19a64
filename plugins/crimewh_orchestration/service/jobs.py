"""Batch scoring jobs: an uploaded CSV in the lake, a row in ``ml.batch_jobs``, an Airflow run.

The service stores the upload under ``<lake>/uploads/<job>/``, records the job (queued) and
triggers the ``chicago_csv_scoring`` DAG with the job's id in the run's conf, so that batch
work runs, retries and shows where all batch work does. The DAG's task (``run_job``) scores
the file with ``ml.csv_scoring.score_csv``, exactly what ``crimewh score arrest --file``
runs, writes the scored CSV and a CSV of the rows that could not be scored beside the
upload, records the counts, and mails the outcome.

Kept light at import (standard library only): the DAG file imports it when it is parsed.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crimewh.settings import Settings

log = logging.getLogger(__name__)
TABLE = "ml.batch_jobs"
DAG_ID = "chicago_csv_scoring"
UPLOADS = "uploads"  # under the lake
ERRORS_KEPT = 200  # bad rows kept in the job's row (the page shows them); all are in the CSV
STATUSES = ("queued", "running", "succeeded", "failed")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
CHUNK = 8 << 20

DDL = f"""
create schema if not exists ml;
create table if not exists {TABLE} (
    job_id text primary key,
    submitted_by text not null,
    submitted_at timestamptz not null,
    file_name text not null,
    file_bytes bigint not null,
    input_uri text not null,
    url text,
    status text not null check (status in ({", ".join(f"'{s}'" for s in STATUSES)})),
    progress text,
    dag_run_id text,
    log_url text,
    started_at timestamptz,
    finished_at timestamptz,
    rows bigint,
    scored bigint,
    bad_rows bigint,
    errors jsonb,
    error text,
    result jsonb
);
comment on table {TABLE} is 'CSV uploads scored by the arrest model through the
chicago_csv_scoring DAG: who sent what and when, the status, the counts, the first bad rows
(errors) and where the scored CSV is (result). Written by crimewh_orchestration.service.jobs.';
do $$ begin
    -- who uploaded what is not the analysts'' business (they read the rest of ml)
    if exists (select from pg_roles where rolname = 'analyst') then
        revoke all on {TABLE} from analyst;
    end if;
end $$;
"""


class JobError(Exception):
    """A job cannot be created, found or run; the message says why and what to do."""


class JobInputError(JobError):
    """The upload itself cannot be scored (not text, no champion): retrying will not help."""


# -- the table -----------------------------------------------------------------------------------
_ensured: set[str] = set()


def _connect(settings: Settings):
    import psycopg2

    conn = psycopg2.connect(settings.require_warehouse_url(), connect_timeout=10)
    url = settings.warehouse_url
    if url not in _ensured:  # once per process and warehouse: it takes a lock on the table
        with conn, conn.cursor() as cur:
            cur.execute(DDL)
        _ensured.add(url)
    return conn


def _execute(settings: Settings, sql: str, params=()) -> list[dict]:
    conn = _connect(settings)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            if cur.description is None:
                return []
            names = [c.name for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


def new_job_id() -> str:
    return uuid.uuid4().hex  # unguessable: the job's page and files are reached by it


def check_job_id(job_id: str) -> str:
    if not _JOB_ID.match(job_id or ""):
        raise JobError(f"{job_id!r} is not a job id (32 hexadecimal digits)")
    return job_id


def create(
    settings: Settings,
    job_id: str,
    *,
    submitted_by: str,
    file_name: str,
    file_bytes: int,
    input_uri: str,
    url: str,
) -> dict:
    _execute(
        settings,
        f"insert into {TABLE} (job_id, submitted_by, submitted_at, file_name, file_bytes, "
        "input_uri, url, status, progress) values (%s, %s, %s, %s, %s, %s, %s, 'queued', "
        "'waiting for Airflow to start the scoring')",
        (job_id, submitted_by, datetime.now(UTC), file_name, file_bytes, input_uri, url),
    )
    return get(settings, job_id)


def get(settings: Settings, job_id: str) -> dict:
    found = _execute(settings, f"select * from {TABLE} where job_id = %s", (check_job_id(job_id),))
    if not found:
        raise JobError(f"no batch job {job_id}")
    return found[0]


def update(settings: Settings, job_id: str, **values) -> None:
    import psycopg2.extras

    columns = ", ".join(f"{name} = %s" for name in values)
    params = [
        psycopg2.extras.Json(v, dumps=lambda o: json.dumps(o, default=str))
        if isinstance(v, (dict, list)) else v
        for v in values.values()
    ]  # fmt: skip
    _execute(settings, f"update {TABLE} set {columns} where job_id = %s", (*params, job_id))


# -- files in the lake ---------------------------------------------------------------------------
def _lake(settings: Settings):
    from crimewh.lake import Lake

    return Lake.from_settings(settings)


def upload_path(settings: Settings, job_id: str, name: str) -> tuple[object, str, str]:
    """(filesystem, path, URI) of a job's file in the lake."""
    lake = _lake(settings)
    relative = f"{UPLOADS}/{check_job_id(job_id)}/{name}"
    return lake.fs, f"{lake.root}/{relative}", f"{lake.url}/{relative}"


def store_upload(settings: Settings, job_id: str, local: Path) -> str:
    """Copy the received file into the lake as the job's input; its URI."""
    filesystem, path, uri = upload_path(settings, job_id, "input.csv")
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with local.open("rb") as source, filesystem.open_output_stream(path) as target:
        while block := source.read(CHUNK):
            target.write(block)
    return uri


def open_file(settings: Settings, job_id: str, name: str):
    """A job's file in the lake, opened for reading (a JobError if it is not there)."""
    filesystem, path, _ = upload_path(settings, job_id, name)
    try:
        return filesystem.open_input_stream(path)
    except FileNotFoundError:
        raise JobError(f"job {job_id} has no {name}") from None


def scored_name(file_name: str) -> str:
    """The scored CSV's name, as ``crimewh score --file`` names it: crimes.scored.csv."""
    stem = file_name[:-4] if file_name.lower().endswith(".csv") else file_name
    return f"{stem}.scored.csv"


# -- triggering ----------------------------------------------------------------------------------
def trigger(settings: Settings, job_id: str) -> str:
    """Start the job's DAG run through Airflow's REST API, as the UI's Trigger button does;
    the run's id. A JobError says what to do when Airflow cannot take it."""
    from crimewh_orchestration import airflow_runtime
    from crimewh_orchestration.airflow_client import AirflowApiError

    try:
        client = airflow_runtime.client(settings)
        status, body = client.trigger(DAG_ID, {"job_id": job_id})
    except (airflow_runtime.AirflowError, AirflowApiError, OSError) as error:
        raise JobError(f"Airflow could not be reached to run the job: {error}") from None
    if status == 404:
        raise JobError(
            f"Airflow does not know the DAG {DAG_ID} (yet): is dags/{DAG_ID}.py in its DAG "
            "folder? A DAG added while Airflow runs appears within a minute"
        )
    if status != 200:
        raise JobError(f"Airflow refused to run {DAG_ID}: {status} {body.get('detail', body)}")
    run_id = body["dag_run_id"]
    update(settings, job_id, dag_run_id=run_id)
    return run_id


# -- the DAG's task ------------------------------------------------------------------------------
def run_job(settings: Settings, job_id: str, *, log_url: str | None = None) -> dict:
    """Score the job's upload with the arrest champion, as ``crimewh score arrest --file``
    does, and put the results beside it in the lake. Raises ``JobInputError`` for a file
    that cannot be scored (the job is then failed and mailed); anything else is left to
    Airflow's retries, and its failure callback (``on_task_failure``) fails the job."""
    from crimewh import notify
    from crimewh_orchestration.workspace import ml_workspace
    from ml.csv_scoring import score_csv
    from ml.db import MLError

    job = get(settings, job_id)
    update(settings, job_id, status="running", started_at=datetime.now(UTC), log_url=log_url,
           progress="reading the upload from the lake", error=None)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix=f"crimewh-job-{job_id}-") as folder:
        local = Path(folder) / _safe_name(job["file_name"])
        with open_file(settings, job_id, "input.csv") as source, local.open("wb") as target:
            while block := source.read(CHUNK):
                target.write(block)
        update(settings, job_id, progress="scoring with the arrest champion")
        out = Path(folder) / scored_name(local.name)
        try:
            result = score_csv(ml_workspace(settings), local, out)
        except MLError as error:
            fail(settings, job_id, str(error).replace(str(local), job["file_name"]))
            raise JobInputError(str(error)) from None
        update(settings, job_id, progress="writing the scored CSV to the lake")
        errors_csv = Path(folder) / "errors.csv"
        write_errors_csv(errors_csv, result["errors"])
        uris = {}
        for name, path in (("scored.csv", out), ("errors.csv", errors_csv)):
            filesystem, target_path, uris[name] = upload_path(settings, job_id, name)
            with path.open("rb") as source, filesystem.open_output_stream(target_path) as target:
                while block := source.read(CHUNK):
                    target.write(block)
    summary = {
        "model_version": result["model_version"],
        "encoding": result["encoding"],
        "ignored_columns": result["ignored_columns"],
        "scored_uri": uris["scored.csv"],
        "errors_uri": uris["errors.csv"],
    }
    update(
        settings,
        job_id,
        status="succeeded",
        progress="done",
        finished_at=datetime.now(UTC),
        rows=result["rows"],
        scored=result["scored"],
        bad_rows=len(result["errors"]),
        errors=result["errors"][:ERRORS_KEPT],
        result=summary,
    )
    notify.batch_job_finished(settings, get(settings, job_id))
    return {"job_id": job_id, "rows": result["rows"], "scored": result["scored"],
            "bad_rows": len(result["errors"]), **summary}  # fmt: skip


def fail(settings: Settings, job_id: str, error: str, *, mail: bool = True) -> None:
    """Mark the job failed with the reason, and mail it."""
    from crimewh import notify

    update(settings, job_id, status="failed", progress="failed", error=error,
           finished_at=datetime.now(UTC))  # fmt: skip
    if mail:
        notify.batch_job_finished(settings, get(settings, job_id))


def on_task_failure(context) -> None:
    """The scoring DAG's failure callback: the job fails with the task's error, and the job's
    failure mail (with the Airflow log's URL) replaces the generic task alert."""
    from crimewh.notify import error_tail
    from crimewh.settings import settings as current_settings

    ti = context.get("task_instance") or context.get("ti")
    job_id = (context.get("params") or {}).get("job_id")
    error = context.get("exception")
    settings = current_settings()
    try:
        job = get(settings, job_id)
        if job["status"] == "failed":  # run_job failed it already, with the reason
            return
        update(settings, job_id, log_url=getattr(ti, "log_url", None))
        fail(settings, job_id, error_tail(error, lines=5))
    except Exception:
        log.exception("could not record the failure of batch job %s", job_id)
        from crimewh import notify

        notify.task_failed(settings, context)


def write_errors_csv(path: Path, errors: list[dict]) -> None:
    """The rows that could not be scored: row, line, fields, reason (cells neutralized)."""
    from ml.csv_scoring import neutralize_cell

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(["row", "line", "fields", "error"])
        for error in errors:
            cells = [str(error["row"]), str(error["line"]), " ".join(error["fields"]),
                     error["error"]]  # fmt: skip
            writer.writerow([neutralize_cell(cell) for cell in cells])


def _safe_name(name: str) -> str:
    """The upload's name, fit for a local file: its last path part, odd characters as _."""
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", name.replace("\\", "/").rsplit("/", 1)[-1])
    return base.strip(" .") or "upload.csv"
