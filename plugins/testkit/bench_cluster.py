"""`python -m testkit bench --only cluster`: the years backfill on the local Celery cluster, on
one worker and then on two, and the speed-up the second worker buys (issue 23).

Opt-in, not in ``BENCHMARKS``: each configuration starts a whole cluster (the embedded
PostgreSQL, moto, Redis, the Airflow control processes and its workers) and loads every year
through it, which takes the better part of an hour at 500,000 incidents a year on two cores.
``--incidents`` is the size of each year here.

Each configuration gets a fresh cluster in a fresh folder, so that neither run finds the
other's warehouse, lake or metadata, and the baseline (one worker) is measured in the same
session as the figure it divides. Besides the run's times (Airflow's own, from the REST API,
and this harness's clock) the CPU seconds of each part of the cluster are sampled while the
run lasts: on a small machine they say whether PostgreSQL, the workers or something else
bounds the speed-up, and how much of the machine other work took meanwhile.

Before the timed run, each cluster backfills one small year before the first (untimed, the
same on one worker as on two): it creates the raw tables' parents and starts the workers'
first task and dbt's first run, so the timed run measures the backfill and not a cold start.
(It first stood in for a loader fix: two first loads into a fresh warehouse both created the
same parent table and the second failed; the loader now has them take turns.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from crimewh_orchestration import cluster

BENCH = "cluster_backfill"
DAG = "nibrs_years_backfill"
# the years measured on 2026-12-02; any three will do (the generator writes 2015's Vermont
# arrestees in that year's wider layout since, so 2015 passes the gate too)
YEARS = (2016, 2017, 2018)
WORKER_COUNTS = (1, 2)  # the baseline first: the ratio divides by it
# longer than this, a configuration has hung, or the machine is too busy to measure anything
RUN_TIMEOUT_S = 50 * 60
SAMPLE_EVERY_S = 2.0
WARM_UP_INCIDENTS = 1_000
POLL_EVERY_S = 3.0


def bench_cluster(
    folder: Path, *, incidents_per_year: int = 500_000, years: Sequence[int] = YEARS
) -> Iterator[dict]:
    """One JSON-able result per worker count, then the speed-up of two workers over one."""
    years = tuple(years)
    if list(years) != list(range(years[0], years[-1] + 1)):
        raise ValueError(f"the backfill takes a range of years, first to last: not {years}")
    zips = synthetic_years(folder / f"years-{incidents_per_year}", incidents=incidents_per_year,
                           years=years)  # fmt: skip
    (warm_up,) = synthetic_years(
        folder / "warm-up", incidents=WARM_UP_INCIDENTS, years=(years[0] - 1,)
    )
    walls = {}
    for workers in WORKER_COUNTS:
        result = backfill_on_cluster(
            zips, warm_up, workers=workers, incidents_per_year=incidents_per_year, years=years,
            failed_logs=folder / f"failed-{workers}-workers",
        )  # fmt: skip
        walls[workers] = result["wall_s"]
        yield result
    yield {
        "bench": BENCH,
        "step": "speedup",
        "incidents_per_year": incidents_per_year,
        "wall_s": walls,
        "ratio_2_vs_1": round(walls[1] / walls[2], 2),
    }


def synthetic_years(folder: Path, *, incidents: int, years: Sequence[int]) -> list[Path]:
    """A Deflate64 master file per year (seed: the year, so the years differ), each reused
    while the recipe beside it matches: synthesizing costs minutes the bench does not time."""
    from testkit.nibrs_synth import synthesize

    folder.mkdir(parents=True, exist_ok=True)
    zips = []
    for year in years:
        zip_path = folder / f"nibrs-{year}.zip"
        recipe = {"year": year, "incidents": incidents, "seed": year, "deflate64": True}
        marker = folder / f"nibrs-{year}.recipe.json"
        if not (zip_path.exists() and marker.exists()
                and json.loads(marker.read_text()) == recipe):  # fmt: skip
            print(f"bench: synthesizing {incidents:,} incidents -> {zip_path}", file=sys.stderr)
            synthesize(zip_path, **recipe)
            marker.write_text(json.dumps(recipe))
        zips.append(zip_path)
    return zips


def backfill_on_cluster(
    zips: list[Path], warm_up: Path, *, workers: int, incidents_per_year: int,
    years: tuple[int, ...], failed_logs: Path,
) -> dict:  # fmt: skip
    """Start a cluster of ``workers`` workers, land the zips, backfill the ``warm_up`` year,
    then run the backfill of ``years`` as the UI's Trigger button would, and measure it; the
    cluster is stopped and its folder removed whatever happens (its logs are kept in
    ``failed_logs`` if anything fails)."""
    from crimewh.settings import Settings
    from crimewh.warehouse.stack import StackState

    def echo(line: str) -> None:
        print(f"bench cluster, {workers} worker(s): {line}", file=sys.stderr, flush=True)

    # not under the data folder's bench tree: a fresh folder the PostgreSQL user can enter
    root = Path(tempfile.mkdtemp(prefix=f"crimewh-bench-cluster-{workers}w-"))
    sampler = None
    try:
        # a retry would only add its minute of delay to the figure and hide the error
        cluster.up(root, workers=workers, extra_env={"CRIMEWH_TASK_RETRIES": "0"}, echo=echo)
        stack = StackState.load(cluster.control_dir(root) / "data")
        upload_to_landing(stack, [warm_up, *zips])
        client = cluster.client(root)
        client.wait_for_dags({DAG})
        warm_up_year = int(warm_up.stem.removeprefix("nibrs-"))
        echo(f"warm-up: {DAG} for {warm_up_year}")
        run, _, _ = run_backfill(client, (warm_up_year,))
        if run["state"] != "success":
            raise RuntimeError(f"the warm-up backfill of {warm_up_year} ended {run['state']}")
        sampler = CpuSampler(cluster_processes(root, stack))
        echo(f"triggering {DAG} for {years[0]}-{years[-1]}")
        run, harness_s, odd = run_backfill(client, years)
        sampler.stop()
        instances = client.task_instances(DAG, run["dag_run_id"])
        if run["state"] != "success":
            raise RuntimeError(
                f"{DAG} ended {run['state']} on {workers} worker(s): "
                f"{client.task_states(DAG, run['dag_run_id'])}; logs in {failed_logs}"
            )
        warehouse = Settings.load(
            {"CRIMEWH_WAREHOUSE_URL": stack.url(), "CRIMEWH_DATA_DIR": str(root)}
        )
        echo(f"{run['state']} in {harness_s:.0f} s")
        return describe_run(
            run, instances, sampler, warehouse, workers=workers, years=years,
            incidents_per_year=incidents_per_year, harness_s=harness_s, api_errors=len(odd),
        )  # fmt: skip
    except Exception:
        _keep_logs(root, failed_logs)
        raise
    finally:
        if sampler is not None:
            sampler.stop()
        cluster.down(root, echo=echo)
        shutil.rmtree(root, ignore_errors=True)


def upload_to_landing(stack, zips: list[Path]) -> None:
    """Into the landing area on the cluster's S3, as an analyst would upload them."""
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{stack.moto_port}", region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    for zip_path in zips:
        s3.upload_file(str(zip_path), cluster.BUCKET, f"landing/{zip_path.name}")


def run_backfill(client, years: tuple[int, ...]) -> tuple[dict, float, list]:
    """Trigger the backfill of ``years`` and wait for its end: the run as the API last
    described it, the seconds this harness saw, and any answer of the API that was not one."""
    started = time.perf_counter()
    status, run = client.trigger(DAG, {"first_year": years[0], "last_year": years[-1]})
    if status != 200:
        raise RuntimeError(f"the backfill was refused: {status} {run}")
    run, odd = wait_for_run(client, run["dag_run_id"])
    return run, time.perf_counter() - started, odd


def wait_for_run(client, run_id: str, timeout: float = RUN_TIMEOUT_S) -> tuple[dict, list]:
    """The finished run, and the API's answers that were errors: on two busy cores the API
    server can answer one now and then (tests/test_cluster.py), which is asked again."""
    deadline = time.monotonic() + timeout
    odd = []
    while time.monotonic() < deadline:
        status, body = client.request("GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}")
        if status == 200 and body.get("state") in ("success", "failed"):
            return body, odd
        if status != 200:
            odd.append((status, str(body)[:200]))
        time.sleep(POLL_EVERY_S)
    raise TimeoutError(
        f"{run_id} did not end in {timeout:.0f} s: {client.task_states(DAG, run_id)}"
    )


def describe_run(
    run: dict, instances: list[dict], sampler: CpuSampler, warehouse, *, workers: int,
    years: tuple[int, ...], incidents_per_year: int, harness_s: float, api_errors: int,
) -> dict:  # fmt: skip
    """The JSON line of one configuration."""
    from crimewh_orchestration.airflow_client import span_seconds

    task_s, hosts = task_durations(instances, years)
    # Airflow's own clock: from the trigger (the run's queueing) to its end
    wall_s = _seconds(run["queued_at"], run["end_date"])
    rows, incidents = loaded_rows(warehouse, years)
    ingests = [ti for ti in instances if ti["task_id"] == "ingest"]
    phases = {"run": (run["queued_at"], run["end_date"]), "ingest": _span(ingests)}
    for instance in instances:
        if instance["task_id"] == "dbt_build" and instance.get("start_date"):
            phases["dbt_build"] = (instance["start_date"], instance["end_date"])
    return {
        "bench": BENCH,
        "workers": workers,
        "years": len(years),
        "incidents_per_year": incidents_per_year,
        "wall_s": round(wall_s, 1),
        "run_s": round(_seconds(run["start_date"], run["end_date"]), 1),
        "harness_wall_s": round(harness_s, 1),
        "ingest_span_s": round(span_seconds(ingests), 1),
        "task_s": task_s,
        "hosts": hosts,
        "rows": rows,
        "incidents": incidents,
        "rows_per_s": round(rows / wall_s),
        # average cores each part of the machine kept busy, over the run and its phases
        "cores_used": {
            name: sampler.cores_used(_moment(start).timestamp(), _moment(end).timestamp())
            for name, (start, end) in phases.items()
        },
        "api_errors": api_errors,
    }


def loaded_rows(warehouse, years: tuple[int, ...]) -> tuple[int, int]:
    """Rows the latest load of each segment of ``years`` put into raw (the warm-up's year
    left out), and the incidents among them (one administrative segment each)."""
    from crimewh.warehouse import fetch

    partitions = [f"year={year}" for year in years]
    rows = fetch(warehouse, """
        select coalesce(sum(rows), 0) from raw._loads where status = 'loaded'
            and partition = any(%s) and load_id in (
                select max(load_id) from raw._loads where status = 'loaded'
                group by table_name, partition)""", (partitions,))[0][0]  # fmt: skip
    incidents = fetch(
        warehouse,
        "select count(*) from raw.nibrs_administrative where _partition = any(%s)",
        (partitions,),
    )[0][0]
    return int(rows), int(incidents)


def task_durations(
    instances: list[dict], years: tuple[int, ...]
) -> tuple[dict[str, float], dict[str, str]]:
    """Seconds and hostname of each task, a mapped ingest named by its year (the years task
    returns them in order, so map index i is the i-th year)."""
    seconds, hosts = {}, {}
    for instance in sorted(instances, key=lambda ti: ti.get("start_date") or ""):
        name = instance["task_id"]
        if instance.get("map_index", -1) >= 0:
            name = f"{name}[{years[instance['map_index']]}]"
        seconds[name] = round(instance.get("duration") or 0.0, 1)
        hosts[name] = instance.get("hostname") or ""
    return seconds, hosts


# -- where the CPU went ------------------------------------------------------------------------
def cluster_processes(root: Path, stack) -> dict[str, list[int]]:
    """The root process of each part of the cluster, by the name its CPU is reported under."""
    state = cluster.ClusterState.load(root)
    pidfile = cluster.control_dir(root) / "data" / "stack" / "postgres" / "postmaster.pid"
    parts = {
        "postgres": [int(pidfile.read_text().split("\n", 1)[0])],
        "moto": [stack.moto_pid],
        "redis": [state.pids["redis"]],
        "airflow_control": [state.pids[name] for name in cluster.CONTROL_SERVICES],
    }
    for name in state.workers:
        parts[name] = [state.pids[name]]
    return parts


class CpuSampler:
    """CPU seconds of each part of the cluster (a process and everything under it, those
    that ended included), of this harness, and of the whole machine, every SAMPLE_EVERY_S on
    a thread of its own from creation to ``stop``."""

    def __init__(self, parts: dict[str, list[int]]):
        self.parts = parts
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._take()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self._take()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._take()

    def _take(self) -> None:
        import psutil

        moment = time.time()
        seconds = cpu_by_part(self.parts)
        seconds["harness"] = sum(psutil.Process().cpu_times()[:2])
        times = psutil.cpu_times()
        seconds["machine"] = times.user + times.nice + times.system + times.irq + times.softirq
        self.samples.append((moment, seconds))

    def cores_used(self, start: float, end: float) -> dict[str, float]:
        """Average cores each part kept busy from ``start`` to ``end`` (epoch seconds), read
        between the samples that enclose them; "other" is what the rest of the machine ran."""
        before = max((s for s in self.samples if s[0] <= start), default=self.samples[0],
                     key=lambda s: s[0])  # fmt: skip
        after = min((s for s in self.samples if s[0] >= end), default=self.samples[-1],
                    key=lambda s: s[0])  # fmt: skip
        elapsed = after[0] - before[0]
        if elapsed <= 0:
            return {}
        used = {name: (after[1][name] - before[1][name]) / elapsed for name in after[1]}
        used["other"] = used["machine"] - sum(v for k, v in used.items() if k != "machine")
        return {name: round(value, 2) for name, value in used.items()}


def cpu_by_part(parts: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds of every process tree in ``parts``, from one pass over the process table.

    A live process's own time plus what its children that ended left in its counters: the
    PostgreSQL backends, the workers' task processes and their dbt runs all end that way.
    """
    import psutil

    children: dict[int, list[int]] = defaultdict(list)
    seconds: dict[int, float] = {}
    for process in psutil.process_iter(["ppid", "cpu_times"]):
        children[process.info["ppid"]].append(process.pid)
        times = process.info["cpu_times"]
        if times is not None:
            seconds[process.pid] = (
                times.user + times.system + times.children_user + times.children_system
            )
    totals = {}
    for name, roots in parts.items():
        pending, seen, total = list(roots), set(), 0.0
        while pending:
            pid = pending.pop()
            if pid not in seen:
                seen.add(pid)
                total += seconds.get(pid, 0.0)
                pending.extend(children.get(pid, ()))
        totals[name] = total
    return totals


# -- small helpers -----------------------------------------------------------------------------
def _keep_logs(root: Path, destination: Path) -> None:
    """The cluster's process logs and the workers' task logs, before its folder goes; a
    copy that fails must not hide the error that asked for it."""
    shutil.rmtree(destination, ignore_errors=True)
    for logs in [root / "logs", *root.glob("worker-*/airflow/logs")]:
        if logs.is_dir():
            target = destination / os.path.relpath(logs, root).replace(os.sep, "-")
            with contextlib.suppress(OSError):
                shutil.copytree(logs, target, dirs_exist_ok=True)


def _span(instances: list[dict]) -> tuple[str, str]:
    """The first start and the last end among ``instances`` (ISO 8601 as the API gives)."""
    starts = [ti["start_date"] for ti in instances if ti.get("start_date")]
    ends = [ti["end_date"] for ti in instances if ti.get("end_date")]
    return min(starts, key=_moment), max(ends, key=_moment)


def _seconds(start: str, end: str) -> float:
    return (_moment(end) - _moment(start)).total_seconds()


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
