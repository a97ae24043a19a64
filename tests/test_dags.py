"""The DAGs: integrity, a nightly run end to end, and a year backfill through the REST API.

Airflow runs for real here: its metadata in the embedded PostgreSQL, `airflow dags test` for
the nightly run, and `airflow standalone` (scheduler, API server, DAG processor, triggerer)
for the backfill triggered the way the UI does it.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg2
import pytest

from crimewh import airflow_runtime
from crimewh.chicago.server import Dataset, SodaServer
from crimewh.chicago.synth import synthesize as synthesize_chicago
from crimewh.dag_support import WAREHOUSE_POOL, Tag
from crimewh.settings import Settings
from crimewh.warehouse import stack
from decoder.synth import synthesize as synthesize_nibrs

REPO = Path(__file__).resolve().parents[1]
DAG_IDS = {"crime_warehouse_nightly", "nibrs_year_backfill", "chicago_backfill"}
HEAVY = ("polars", "great_expectations", "xgboost", "sklearn", "boto3", "pandas", "dbt.cli")
NIGHTLY_YEAR = 2020
BACKFILL_YEAR = 2017


def query(url: str, sql: str, params=()):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def airflow_env(warehouse):
    """A data folder of its own (lake, landing, Chicago state) on the shared warehouse."""
    data_dir = Path(tempfile.mkdtemp(prefix="crimewh-test-airflow-"))
    state = stack.StackState.load(warehouse.settings.data_dir)
    environ = {
        "CRIMEWH_DATA_DIR": str(data_dir),
        "CRIMEWH_WAREHOUSE_URL": warehouse.url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": state.url(
            stack.AIRFLOW_ROLE, stack.AIRFLOW_DB
        ).replace("postgresql://", "postgresql+psycopg2://"),
        "CRIMEWH_TASK_RETRIES": "0",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }
    saved = {key: os.environ.get(key) for key in environ}
    os.environ.update(environ)
    settings = Settings.load()
    chicago = SodaServer(Dataset.from_wire_table(synthesize_chicago(3_000, seed=5).table))
    chicago.start()
    os.environ["CRIMEWH_SODA_DOMAIN"] = chicago.domain
    settings = Settings.load()
    airflow_runtime.prepare(settings, echo=lambda _: None)
    yield settings
    chicago.stop()
    for key, value in {**saved, "CRIMEWH_SODA_DOMAIN": None}.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _dagbag_report(env: dict) -> dict:
    """Parse the DAG folder in a fresh interpreter: errors, timings, imports, DAG facts."""
    script = """
import json, sys, time
import airflow.sdk, cosmos, crimewh.dag_support  # what a DAG processor holds after one parse
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "tags": sorted(dag.tags), "doc_md": bool(dag.doc_md), "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs, "schedule": type(dag.timetable).__name__,
        "tasks": {t.task_id: {"retries": t.retries, "pool": t.pool,
                              "callback": bool(t.on_failure_callback)} for t in dag.tasks},
        "params": sorted(dag.params.keys()),
    }
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "seconds": {s.file: s.duration.total_seconds() for s in bag.dagbag_stats},
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2].split(",")
                    or m in sys.argv[2].split(",")),
    "dags": dags,
}))
"""
    heavy = ",".join(HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", script, str(REPO / "dags"), heavy],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dagbag(airflow_env):
    return _dagbag_report(airflow_runtime.environment(airflow_env))


def test_every_dag_imports(dagbag):
    assert dagbag["errors"] == {}
    assert set(dagbag["dags"]) == DAG_IDS


def test_dag_files_parse_fast_and_import_nothing_heavy(dagbag):
    assert all(seconds < 2.0 for seconds in dagbag["seconds"].values()), dagbag["seconds"]
    assert dagbag["heavy"] == []


def test_dags_carry_docs_known_tags_and_run_one_at_a_time(dagbag):
    allowed = {tag.value for tag in Tag}
    for dag_id, dag in dagbag["dags"].items():
        assert dag["doc_md"], dag_id
        assert dag["tags"], dag_id
        assert set(dag["tags"]) <= allowed, dag_id
        assert dag["catchup"] is False, dag_id
        assert dag["max_active_runs"] == 1, dag_id


def test_tasks_retry_alert_and_share_the_warehouse_pool(dagbag):
    nightly = dagbag["dags"]["crime_warehouse_nightly"]["tasks"]
    assert all(task["callback"] for task in nightly.values())
    for dag in dagbag["dags"].values():
        for task in dag["tasks"].values():
            assert task["retries"] == 0  # CRIMEWH_TASK_RETRIES=0 here; 2 by default
    loaders = ("chicago_pull", "nibrs_ingest", "score")
    assert all(nightly[task]["pool"] == WAREHOUSE_POOL for task in loaders)
    dbt_tasks = [task for task in nightly if task.startswith("transform.")]
    assert len(dbt_tasks) > 20  # cosmos rendered the dbt project, a task per node
    assert all(nightly[task]["pool"] == WAREHOUSE_POOL for task in dbt_tasks)


def test_retries_default_to_two_with_backoff():
    from crimewh.dag_support import default_args

    os.environ.pop("CRIMEWH_TASK_RETRIES", None)
    try:
        args = default_args()
    finally:
        os.environ["CRIMEWH_TASK_RETRIES"] = "0"
    assert args["retries"] == 2
    assert args["retry_exponential_backoff"] is True


def test_nightly_run_end_to_end(airflow_env, warehouse):
    landing = airflow_env.data_dir / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    synthesize_nibrs(landing / f"nibrs-{NIGHTLY_YEAR}.zip", year=NIGHTLY_YEAR, incidents=2_500,
                     seed=11)  # fmt: skip
    done = airflow_runtime.airflow(
        airflow_env, ["dags", "test", "crime_warehouse_nightly"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-5000:]
    assert "DagRun Finished" in log
    assert "state=success" in log.split("DagRun Finished", 1)[1]
    incidents = query(
        warehouse.url,
        "select count(*) from marts.fct_nibrs_incidents where data_year = %s",
        (NIGHTLY_YEAR,),
    )[0][0]
    assert incidents == 2_500
    assert query(warehouse.url, "select count(*) from marts.fct_chicago_crimes")[0][0] >= 3_000
    scored = query(warehouse.url, "select count(distinct model_version) from ml.arrest_scores")
    assert scored[0][0] >= 1
    summaries = sorted((airflow_env.data_dir / "runs").glob("run-*.json"))
    summary = json.loads(summaries[-1].read_text())
    assert summary["marts"]["marts.fct_nibrs_incidents"] >= 2_500
    assert summary["steps"]["nibrs"][0]["year"] == NIGHTLY_YEAR


# -- the backfill through the REST API, on a running Airflow ---------------------------------
@pytest.fixture(scope="module")
def running_airflow(airflow_env):
    report = airflow_runtime.up(airflow_env, echo=lambda _: None)
    base = report["url"]
    password = airflow_runtime.admin_password(airflow_env)
    token = _post(f"{base}/auth/token", {"username": "admin", "password": password})[1]
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    deadline = time.monotonic() + 180  # the DAG processor must have serialized the DAG
    while _get(f"{base}/api/v2/dags/nibrs_year_backfill", headers)[0] != 200:
        assert time.monotonic() < deadline, "nibrs_year_backfill never appeared in the API"
        time.sleep(3)
    status, _ = _patch(f"{base}/api/v2/dags/nibrs_year_backfill", {"is_paused": False}, headers)
    assert status == 200
    yield base, headers
    airflow_runtime.down(airflow_env, echo=lambda _: None, stack_too=False)


def test_backfill_a_year_through_the_rest_api(running_airflow, airflow_env, warehouse):
    base, headers = running_airflow
    landing = airflow_env.data_dir / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    synthesize_nibrs(landing / f"nibrs-{BACKFILL_YEAR}.zip", year=BACKFILL_YEAR,
                     incidents=1_500, seed=17)  # fmt: skip
    status, run = _post(
        f"{base}/api/v2/dags/nibrs_year_backfill/dagRuns",
        {"logical_date": None, "conf": {"year": BACKFILL_YEAR}},
        headers,
    )
    assert status == 200, run
    run_url = f"{base}/api/v2/dags/nibrs_year_backfill/dagRuns/{run['dag_run_id']}"
    deadline = time.monotonic() + 600
    state = run["state"]
    while state not in ("success", "failed"):
        assert time.monotonic() < deadline, f"the backfill run is still {state}"
        time.sleep(5)
        state = _get(run_url, headers)[1]["state"]
    assert state == "success", _task_states(base, headers, run["dag_run_id"])
    incidents = query(
        warehouse.url,
        "select count(*) from marts.fct_nibrs_incidents where data_year = %s",
        (BACKFILL_YEAR,),
    )[0][0]
    assert incidents == 1_500


def test_backfill_refuses_a_year_without_a_master_file(running_airflow, warehouse):
    base, headers = running_airflow
    runs_before = _get(f"{base}/api/v2/dags/nibrs_year_backfill/dagRuns", headers)[1]
    loads_before = query(warehouse.url, "select count(*) from raw._loads")[0][0]
    status, body = _post(
        f"{base}/api/v2/dags/nibrs_year_backfill/dagRuns",
        {"logical_date": None, "conf": {"year": 1985}},
        headers,
    )
    assert status == 400
    assert "year" in json.dumps(body)
    assert "1991" in json.dumps(body)  # the message says which years exist
    runs_after = _get(f"{base}/api/v2/dags/nibrs_year_backfill/dagRuns", headers)[1]
    assert runs_after["total_entries"] == runs_before["total_entries"]
    assert query(warehouse.url, "select count(*) from raw._loads")[0][0] == loads_before


# -- HTTP helpers ----------------------------------------------------------------------------
def _request(method: str, url: str, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _get(url, headers=None):
    return _request("GET", url, headers=headers)


def _post(url, body, headers=None):
    status, payload = _request("POST", url, body, headers)
    return status, payload


def _patch(url, body, headers=None):
    return _request("PATCH", url, body, headers)


def _task_states(base, headers, run_id) -> dict:
    url = f"{base}/api/v2/dags/nibrs_year_backfill/dagRuns/{run_id}/taskInstances"
    return {ti["task_id"]: ti["state"] for ti in _get(url, headers)[1]["task_instances"]}
