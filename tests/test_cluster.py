"""The multi-machine topology, run here as processes: a backfill spread over two Celery
workers, and a worker killed mid-load whose task the other one finishes.

Slow (a whole cluster, two backfills): `make test-slow` runs it, after `make test`.
"""

import shutil
import tempfile
import time
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from crimewh.settings import Settings
from crimewh.warehouse import fetch
from crimewh.warehouse.stack import StackState
from crimewh_orchestration import cluster
from testkit.nibrs_synth import synthesize

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

YEARS = (2015, 2016, 2017)
INCIDENTS = 3_000
KILLED_YEAR = 2016
DAG = "nibrs_years_backfill"
# the retried try must not wait the default five minutes for the killed one to be declared dead
HEARTBEAT_TIMEOUT_S = "20"
FAILPOINT = "load.before_swap"  # every COPY done, nothing swapped or committed


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    # not under pytest's temporary folder, which a second session makes private again and
    # so locks the PostgreSQL server (another user, as root) out of its files (conftest.py)
    root = Path(tempfile.mkdtemp(prefix="crimewh-test-cluster-"))
    try:
        cluster.up(
            root,
            workers=2,
            extra_env={"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": HEARTBEAT_TIMEOUT_S},
            echo=lambda _: None,
        )
        stack = StackState.load(cluster.control_dir(root) / "data")
        s3 = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{stack.moto_port}", region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )  # fmt: skip
        truth = {}
        synth = tmp_path_factory.mktemp("synth")
        for year in YEARS:  # into the landing area on S3, as an analyst would upload them
            path = synth / f"nibrs-{year}.zip"
            synthesize(path, year=year, incidents=INCIDENTS, seed=year)
            s3.upload_file(str(path), cluster.BUCKET, f"landing/{path.name}")
            rows = pq.read_table(path.with_suffix(".truth.parquet")).to_pylist()
            truth[year] = {(r["ori"], r["incident_number"]): r["outcome"] for r in rows}
        client = cluster.client(root)
        client.wait_for_dags({DAG})
        warehouse = Settings.load(
            {"CRIMEWH_WAREHOUSE_URL": stack.url(), "CRIMEWH_DATA_DIR": str(root)}
        )
        yield root, client, warehouse, truth
    finally:
        cluster.down(root, echo=lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


def assert_marts_are_the_truth(warehouse: Settings, truth: dict) -> None:
    for year, outcomes in truth.items():
        marts = fetch(
            warehouse,
            "select ori, incident_number, clearance_outcome from marts.fct_nibrs_incidents "
            "where data_year = %s",
            (year,),
        )
        assert len(marts) == len(outcomes), year  # nothing lost, nothing doubled
        assert {(ori, number): outcome for ori, number, outcome in marts} == outcomes, year
        raw = fetch(
            warehouse, "select count(*) from raw.nibrs_administrative where _partition = %s",
            (f"year={year}",),
        )  # fmt: skip
        assert raw[0][0] == len(outcomes), year


def wait_for_run(client, run_id: str, timeout: float = 900) -> tuple[str, list]:
    """The run's final state, and any answer of the API that was not one. A worker killed
    under load can make the API server answer an error now and then (the machine has two
    cores for everything); an answer without a state is recorded and asked again."""
    deadline = time.monotonic() + timeout
    odd = []
    while time.monotonic() < deadline:
        status, body = client.request("GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}")
        if status == 200 and body.get("state") in ("success", "failed"):
            return body["state"], odd
        if status != 200:
            odd.append((status, str(body)[:200]))
        time.sleep(3)
    pytest.fail(f"{run_id} did not end in {timeout:.0f}s: {client.task_states(DAG, run_id)}")


def tries(client, run_id: str, task_id: str, map_index: int) -> list[dict]:
    path = f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries"
    status, body = client.request("GET", path)
    assert status == 200, body
    return sorted(body["task_instances"], key=lambda ti: ti["try_number"])


def test_a_backfill_spreads_over_both_workers(running):
    _, client, warehouse, truth = running
    status, run = client.trigger(DAG, {"first_year": YEARS[0], "last_year": YEARS[-1]})
    assert status == 200, run
    state, _ = wait_for_run(client, run["dag_run_id"])
    instances = client.task_instances(DAG, run["dag_run_id"])
    assert state == "success", {ti["task_id"]: ti["state"] for ti in instances}
    ingests = [ti for ti in instances if ti["task_id"] == "ingest"]
    assert sorted(ti["map_index"] for ti in ingests) == [0, 1, 2]  # one ingest per year
    hosts = {ti["hostname"] for ti in instances}
    assert hosts == {"worker-1", "worker-2"}, [(ti["task_id"], ti["hostname"]) for ti in instances]
    assert_marts_are_the_truth(warehouse, truth)


def test_a_worker_killed_mid_load_is_replaced_by_the_other(running):
    """Only worker-1 runs, stopped at a failpoint inside the load; worker-2 comes up, worker-1
    is SIGKILLed with everything under it; the scheduler declares the try dead and retries
    it on worker-2. The warehouse ends as if nothing happened."""
    root, client, warehouse, truth = running
    cluster.stop_worker(root, "worker-2")
    cluster.stop_worker(root, "worker-1")
    cluster.start_worker(root, "worker-1", extra_env={"CRIMEWH_FAILPOINT": FAILPOINT})
    status, run = client.trigger(
        DAG, {"first_year": KILLED_YEAR, "last_year": KILLED_YEAR, "force": True}
    )
    assert status == 200, run
    run_id = run["dag_run_id"]
    deadline = time.monotonic() + 600
    while not any(p.status() == "stopped" for p in cluster.worker_processes(root, "worker-1")):
        assert time.monotonic() < deadline, client.task_states(DAG, run_id)
        time.sleep(1)
    loads = fetch(
        warehouse,
        "select status from raw._loads where partition = %s and status = 'running'",
        (f"year={KILLED_YEAR}",),
    )
    assert loads  # stopped mid-load: the attempts are on record, nothing is committed
    cluster.start_worker(root, "worker-2")
    assert cluster.kill_worker(root, "worker-1")

    state, odd = wait_for_run(client, run_id)
    assert state == "success", (client.task_states(DAG, run_id), odd)
    assert len(odd) < 5, odd  # an error now and then, not an API server that stays down
    attempts = tries(client, run_id, "ingest", 0)
    assert [ti["hostname"] for ti in attempts][:1] == ["worker-1"]
    assert attempts[0]["state"] == "failed"
    assert attempts[-1]["hostname"] == "worker-2"
    assert attempts[-1]["state"] == "success"
    assert_marts_are_the_truth(warehouse, truth)
    # the killed attempt is marked abandoned by the retry, the retry's rows are the ones loaded
    statuses = fetch(
        warehouse,
        "select status, count(*) from raw._loads where partition = %s and table_name = "
        "'administrative' and started_at >= (select min(started_at) from raw._loads "
        "where partition = %s and status = 'abandoned') group by status",
        (f"year={KILLED_YEAR}", f"year={KILLED_YEAR}"),
    )
    assert dict(statuses) == {"abandoned": 1, "loaded": 1}


def test_nothing_local_is_shared(running):
    root, *_ = running
    state = cluster.ClusterState.load(root)
    stack = StackState.load(cluster.control_dir(root) / "data")
    endpoints = cluster.Endpoints(
        postgres=f"127.0.0.1:{stack.postgres_port}", redis=f"127.0.0.1:{state.redis_port}",
        s3=f"http://127.0.0.1:{stack.moto_port}", api=state.api_url,
    )  # fmt: skip
    environments = cluster.process_environments(root, state, endpoints, Path(state.project_dir))
    workers = [environments[name] for name in state.workers]
    for key in ("AIRFLOW_HOME", "CRIMEWH_DATA_DIR", "DBT_TARGET_PATH", cluster.HOSTNAME_VARIABLE):
        assert len({env[key] for env in workers}) == len(workers), key
    for env in workers:
        assert env["CRIMEWH_LAKE_URL"].startswith("s3://")
        assert env["CRIMEWH_LANDING_URL"].startswith("s3://")
        assert "@127.0.0.1:" in env["CRIMEWH_WAREHOUSE_URL"]  # TCP, not a Unix socket
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://127.0.0.1:")
