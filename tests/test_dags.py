"""The DAGs: integrity, a nightly run end to end, and a year backfill through the REST API.

Airflow runs for real here, one `airflow standalone` for the whole session (the `airflow`
fixture): its metadata in the embedded PostgreSQL, runs triggered through the REST API the
way the UI triggers them, and waited for through the same API.
"""

import json
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from crimewh_orchestration import airflow_runtime
from crimewh_orchestration.dag_support import WAREHOUSE_POOL, Tag
from testkit.nibrs_synth import synthesize as synthesize_nibrs

REPO = Path(__file__).resolve().parents[1]
DAG_IDS = {
    "crime_warehouse_nightly", "nibrs_year_backfill", "nibrs_years_backfill", "chicago_backfill",
    "chicago_csv_scoring",
}  # fmt: skip
HEAVY = ("polars", "great_expectations", "xgboost", "sklearn", "boto3", "pandas", "dbt.cli")
NIGHTLY_YEAR = 2020
BACKFILL_YEAR = 2017
BACKFILL_INCIDENTS = 20_000
OUTAGE_YEAR = 2019


def query(url: str, sql: str, params=()):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def _dagbag_report(env: dict) -> dict:
    """Parse the DAG folder in a fresh interpreter: errors, timings, imports, DAG facts."""
    script = """
import json, sys, time
# what a DAG processor holds after one parse
import airflow.sdk, cosmos, crimewh_orchestration.dag_support
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "tags": sorted(dag.tags), "doc_md": bool(dag.doc_md), "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs, "schedule": type(dag.timetable).__name__,
        "tasks": {t.task_id: {"retries": t.retries, "pool": t.pool, "kind": type(t).__name__,
                              "trigger_rule": getattr(t.trigger_rule, "value", str(t.trigger_rule)),
                              "callback": bool(t.on_failure_callback)} for t in dag.tasks},
        "params": sorted(dag.params.keys()),
        "description": dag.description,
    }
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
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
def dagbag(airflow):
    return _dagbag_report(airflow_runtime.environment(airflow.settings, extra=airflow.extra_env))


def test_every_dag_imports(dagbag):
    assert dagbag["errors"] == {}
    assert set(dagbag["dags"]) == DAG_IDS


def test_dag_files_import_nothing_heavy_at_parse_time(dagbag):
    # what parsing costs is measured by `make bench` (dag_parse); here only what it loads
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
    loaders = ("chicago_pull", "nibrs_ingest", "score_clearance", "score_arrest")
    assert all(nightly[task]["pool"] == WAREHOUSE_POOL for task in loaders)
    for group in ("nibrs_dbt", "chicago_dbt"):
        # watcher mode: one producer runs `dbt build`, a sensor per model shows its state
        tasks = {t: v for t, v in nightly.items() if t.startswith(f"{group}.")}
        producers = [t for t, v in tasks.items() if v["kind"] == "DbtProducerWatcherOperator"]
        assert producers == [f"{group}.dbt_producer_watcher"]
        assert nightly[producers[0]]["pool"] == WAREHOUSE_POOL  # the one that works the db
        sensors = [t for t, v in tasks.items() if v["kind"].endswith("WatcherOperator")]
        assert len(sensors) > 5, group
    assert "nibrs_dbt.fct_nibrs_incidents_run" in nightly
    assert "chicago_dbt.fct_chicago_crimes_run" in nightly
    # the gate and the summary run whatever became of the sources before them
    assert nightly["quality_gate"]["trigger_rule"] == "all_done"
    assert nightly["summary"]["trigger_rule"] == "all_done"
    backfill = dagbag["dags"]["nibrs_year_backfill"]["tasks"]
    assert "nibrs_dbt.fct_nibrs_incidents_run" in backfill  # its models are shown too


def test_the_nightly_keeps_chicago_time_and_waits_for_its_first_night():
    """`make up` starts no run: the first is the next 03:00 in Chicago, even just after one."""
    import pendulum
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    from crimewh_orchestration.dag_support import nightly_timetable

    timetable = coerce_to_core_timetable(nightly_timetable())
    chicago = pendulum.timezone("America/Chicago")
    just_after = pendulum.datetime(2026, 12, 2, 3, 20, tz=chicago)  # within the old buffer
    with patch_now(just_after):
        first = timetable.next_dagrun_info(
            last_automated_data_interval=None,
            restriction=TimeRestriction(earliest=None, latest=None, catchup=False),
        )
    assert first.run_after == pendulum.datetime(2026, 12, 3, 3, 0, tz=chicago)


def patch_now(moment):
    from unittest import mock

    return mock.patch("airflow.timetables.trigger.utcnow", return_value=moment.in_tz("UTC"))


def test_retries_default_to_two_with_backoff(monkeypatch):
    from crimewh.settings import settings
    from crimewh_orchestration.dag_support import default_args

    monkeypatch.delenv("CRIMEWH_TASK_RETRIES", raising=False)
    settings.cache_clear()
    args = default_args()
    assert args["retries"] == 2
    assert args["retry_exponential_backoff"] is True


@pytest.mark.slow  # a whole nightly, some 4 minutes: `make test-slow` (CI runs it)
def test_nightly_run_end_to_end(airflow, warehouse):
    landing = airflow.settings.data_dir / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    synthesize_nibrs(landing / f"nibrs-{NIGHTLY_YEAR}.zip", year=NIGHTLY_YEAR, incidents=2_500,
                     seed=11)  # fmt: skip
    status, run = airflow.trigger("crime_warehouse_nightly")
    assert status == 200, run
    state = airflow.wait("crime_warehouse_nightly", run["dag_run_id"], timeout=900)
    assert state == "success", airflow.task_states("crime_warehouse_nightly", run["dag_run_id"])
    incidents = query(
        warehouse.url,
        "select count(*) from marts.fct_nibrs_incidents where data_year = %s",
        (NIGHTLY_YEAR,),
    )[0][0]
    assert incidents == 2_500
    assert query(warehouse.url, "select count(*) from marts.fct_chicago_crimes")[0][0] >= 3_000
    scored = query(
        warehouse.url, "select count(distinct model_version) from ml.arrest_score_partitions"
    )
    assert scored[0][0] >= 1
    # the scores reach the marts in the run that made them, beside the crimes they score
    in_mart = query(warehouse.url, "select count(*) from marts.fct_chicago_arrest_scores")[0][0]
    assert in_mart == query(warehouse.url, "select count(*) from ml.arrest_scores")[0][0] > 0
    summaries = sorted((airflow.settings.data_dir / "runs").glob("run-*.json"))
    summary = json.loads(summaries[-1].read_text())
    assert summary["marts"]["marts.fct_nibrs_incidents"] >= 2_500
    assert summary["steps"]["nibrs"][0]["year"] == NIGHTLY_YEAR
    assert (summary["status"], summary["failed"]) == ("success", [])
    # a clean run logs no errors (a lazy XCom sequence read past its end used to)
    logs = airflow.settings.data_dir / "airflow" / "logs" / "dag_id=crime_warehouse_nightly"
    errors = sorted({
        (entry.get("logger"), entry["event"][:100])
        for path in logs.rglob("*.log") for line in path.read_text().splitlines()
        if (entry := json.loads(line)).get("level") == "error"
    })  # fmt: skip
    assert errors == []


# -- the backfill through the REST API ------------------------------------------------------
@pytest.mark.slow  # a 20 000-incident year through dbt, some 3 minutes: `make test-slow`
def test_backfill_a_year_through_the_rest_api(airflow, warehouse):
    landing = airflow.settings.data_dir / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    # a size at which the raw partitions' missing statistics used to hang dbt for good
    synthesize_nibrs(landing / f"nibrs-{BACKFILL_YEAR}.zip", year=BACKFILL_YEAR,
                     incidents=BACKFILL_INCIDENTS, seed=17)  # fmt: skip
    status, run = airflow.trigger("nibrs_year_backfill", {"year": BACKFILL_YEAR})
    assert status == 200, run
    state = airflow.wait("nibrs_year_backfill", run["dag_run_id"])
    assert state == "success", airflow.task_states("nibrs_year_backfill", run["dag_run_id"])
    incidents = query(
        warehouse.url,
        "select count(*) from marts.fct_nibrs_incidents where data_year = %s",
        (BACKFILL_YEAR,),
    )[0][0]
    assert incidents == BACKFILL_INCIDENTS
    # the backfill's dbt ran for that year only, its models shown one by one
    states = airflow.task_states("nibrs_year_backfill", run["dag_run_id"])
    assert states["nibrs_dbt.fct_nibrs_incidents_run"] == "success"


def test_backfill_needs_a_year(airflow, warehouse):
    runs_before = airflow.request("GET", "/api/v2/dags/nibrs_year_backfill/dagRuns")[1]
    status, body = airflow.trigger("nibrs_year_backfill", {})
    assert status == 400, body
    assert "year" in json.dumps(body)
    runs_after = airflow.request("GET", "/api/v2/dags/nibrs_year_backfill/dagRuns")[1]
    assert runs_after["total_entries"] == runs_before["total_entries"]


def test_backfill_refuses_a_year_without_a_master_file(airflow, warehouse):
    runs_before = airflow.request("GET", "/api/v2/dags/nibrs_year_backfill/dagRuns")[1]
    loads_before = query(warehouse.url, "select count(*) from raw._loads")[0][0]
    status, body = airflow.trigger("nibrs_year_backfill", {"year": 1985})
    assert status == 400
    assert "year" in json.dumps(body)
    assert "1991" in json.dumps(body)  # the message says which years exist
    runs_after = airflow.request("GET", "/api/v2/dags/nibrs_year_backfill/dagRuns")[1]
    assert runs_after["total_entries"] == runs_before["total_entries"]
    assert query(warehouse.url, "select count(*) from raw._loads")[0][0] == loads_before


@pytest.mark.slow  # a second whole nightly: `make test-slow`, which CI runs after `make test`
def test_a_chicago_outage_fails_chicago_only(airflow, warehouse):
    """The portal unreachable: the Chicago tasks fail, NIBRS is still built, checked,
    modelled and scored, and the summary says what failed."""
    landing = airflow.settings.data_dir / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    synthesize_nibrs(landing / f"nibrs-{OUTAGE_YEAR}.zip", year=OUTAGE_YEAR, incidents=2_000,
                     seed=19)  # fmt: skip
    airflow.chicago.stop()  # the portal is gone: connections are refused
    try:
        status, run = airflow.trigger("crime_warehouse_nightly")
        assert status == 200, run
        state = airflow.wait("crime_warehouse_nightly", run["dag_run_id"], timeout=900)
        states = airflow.task_states("crime_warehouse_nightly", run["dag_run_id"])
    finally:
        airflow.chicago.start()
    assert state == "failed"  # the night as a whole did not succeed
    assert states["chicago_pull"] == "failed"
    assert states["chicago_dbt.dbt_producer_watcher"] == "upstream_failed"
    for task in ("nibrs_ingest[0]", "nibrs_dbt.dbt_producer_watcher", "quality_gate",
                 "train_clearance", "score_clearance"):  # fmt: skip
        assert states[task] == "success", (task, states)
    # the summary is written, then fails the night, so that the run and its alert say so
    assert states["summary"] == "failed"
    incidents = query(
        warehouse.url,
        "select count(*) from marts.fct_nibrs_incidents where data_year = %s",
        (OUTAGE_YEAR,),
    )[0][0]
    assert incidents == 2_000
    summaries = sorted((airflow.settings.data_dir / "runs").glob("run-*.json"))
    summary = json.loads(summaries[-1].read_text())
    assert summary["status"] == "failed"
    assert "chicago_pull" in summary["failed"]
    assert not [task for task in summary["failed"] if task.startswith("nibrs")]
