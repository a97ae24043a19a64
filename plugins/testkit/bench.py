"""`make bench`: throughput and memory at scale, each figure beside a baseline run alongside.

Every result is one JSON object. Timings come from child processes, so each peak RSS
belongs to the program measured and not to this harness.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

BENCH_YEAR = 2022
ROUNDS = 3


BENCHMARKS = (
    "decode", "load", "chicago_pull", "train", "dag_parse", "pipeline", "dag_dbt", "dashboard",
    "service_predict", "service_batch",
)  # fmt: skip
DAG_DBT_TARGET_RATIO = 1.3  # the DAG's dbt against one `crimewh dbt build` of the same year
DAG_PARSE_BUDGET_S = 2.0  # per DAG file, within Airflow's 30 s import timeout by far


def run_benchmarks(
    folder: Path,
    *,
    incidents: int,
    only: tuple[str, ...] = BENCHMARKS,
    keep_warehouse: bool = False,
) -> Iterator[dict]:
    """The benchmarks named in ``only``, in order; load measures what decode wrote."""
    from testkit.bench_chicago import bench_pull
    from testkit.bench_train import bench_train

    if "decode" in only or "load" in only:
        yield bench_decode(folder, incidents=incidents)
    if "load" in only:
        yield bench_load(folder)
    if "chicago_pull" in only:
        yield bench_pull(folder / "chicago")
    if "train" in only:
        yield bench_train(folder / "train")
    if "dag_parse" in only:
        yield bench_dag_parse(folder / "dag_parse")
    if "pipeline" in only:
        yield from bench_pipeline(folder, incidents=incidents, keep_warehouse=keep_warehouse)
    if "dag_dbt" in only:
        yield bench_dag_dbt(folder, incidents=incidents)
    if "dashboard" in only:
        from testkit.bench_dashboard import bench_dashboard

        yield bench_dashboard(folder, incidents=incidents)
    if "service_predict" in only:
        from testkit.bench_service import bench_predict

        yield bench_predict(folder / "service")
    if "service_batch" in only:
        from testkit.bench_service import bench_batch

        yield bench_batch(folder / "service")
    if "cluster" in only:  # opt-in, never in BENCHMARKS: two whole clusters, most of an hour
        from testkit.bench_cluster import bench_cluster

        yield from bench_cluster(folder / "cluster", incidents_per_year=incidents)


def synthetic_year(folder: Path, *, incidents: int, year: int = BENCH_YEAR) -> Path:
    """A Deflate64 master file of ``incidents`` incidents, reused while its inputs match."""
    from testkit.nibrs_synth import synthesize

    zip_path = folder / f"nibrs-{year}.zip"
    recipe = {"year": year, "incidents": incidents, "seed": 0, "deflate64": True}
    marker = folder / "input.json"
    if zip_path.exists() and marker.exists() and json.loads(marker.read_text()) == recipe:
        return zip_path
    folder.mkdir(parents=True, exist_ok=True)
    print(f"bench: synthesizing {incidents:,} incidents -> {zip_path}", file=sys.stderr)
    synthesize(zip_path, **recipe)
    marker.write_text(json.dumps(recipe))
    return zip_path


def timed_child(argv: list[str]) -> tuple[float, float, float]:
    """Run a command; its wall seconds, its own peak RSS in MB, and its CPU seconds (user and
    system, with the children it waited for: the decoder's inflating child)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def inflate_only_seconds(zip_path: Path) -> float:
    """Read the member to nowhere through the decoder's own reader: the floor for decoding."""
    from decoder.source import iter_inflated, open_member

    member = open_member(zip_path)
    started = time.perf_counter()
    for _ in iter_inflated(member):
        pass
    return time.perf_counter() - started


def bench_decode(folder: Path, *, incidents: int) -> dict:
    """Decode against inflate-only (and the NumPy slicer), interleaved, ROUNDS times each.

    Medians: a shared 2-vCPU host moves single timings by 10-20%.
    """
    zip_path = synthetic_year(folder, incidents=incidents)
    out = folder / "decoded"

    def decode(engine: str) -> tuple[float, float, float]:
        argv = [sys.executable, "-m", "decoder.cli", str(zip_path), "--out", str(out)]
        return timed_child([*argv, "--quiet", "--engine", engine])

    inflate_runs, decode_runs, rss_runs, numpy_runs, cpu_runs = [], [], [], [], []
    for _ in range(ROUNDS):
        inflate_runs.append(inflate_only_seconds(zip_path))
        numpy_runs.append(decode("numpy")[0])
        seconds, rss_mb, cpu_s = decode("auto")  # last: its output is what bench_load loads
        decode_runs.append(seconds)
        rss_runs.append(rss_mb)
        cpu_runs.append(cpu_s)
    numpy_s = statistics.median(numpy_runs)
    summary = json.loads((out / "_summary.json").read_text())
    records = sum(summary["records"].values())
    decode_s, inflate_s = statistics.median(decode_runs), statistics.median(inflate_runs)
    result = {
        "bench": "decode",
        "incidents": incidents,
        "compression": summary["compression"],
        "engine": summary["engine"],
        "member_mb": round(summary["member_bytes"] / 1e6, 1),
        "records": records,
        "mb_per_s": round(summary["member_bytes"] / 1e6 / decode_s, 1),
        "records_per_s": round(records / decode_s),
        "peak_rss_mb": round(max(rss_runs)),
        "inflate_only_s": round(inflate_s, 2),
        "decode_s": round(decode_s, 2),
        "ratio_vs_inflate": round(decode_s / inflate_s, 2),
        "rounds": ROUNDS,
        "decode_runs_s": [round(x, 2) for x in decode_runs],
        "inflate_runs_s": [round(x, 2) for x in inflate_runs],
        "numpy_engine_s": round(numpy_s, 2),
        "numpy_engine_runs_s": [round(x, 2) for x in numpy_runs],
        "speedup_vs_numpy_engine": round(numpy_s / decode_s, 2),
        # CPU seconds (the inflating child's included) move less than wall seconds when
        # other work shares the machine
        "decode_cpu_s": round(statistics.median(cpu_runs), 2),
        "decode_cpu_runs_s": [round(x, 2) for x in cpu_runs],
    }
    try:
        import crimepy  # noqa: F401  (installed by `make bench` from the lock's bench group)
    except ImportError:
        result["crimepy"] = "not installed: run through `make bench`"
        return result
    crimepy_s, crimepy_rss, _ = timed_child(
        [sys.executable, "-m", "testkit.crimepy_baseline", str(zip_path), str(folder / "crimepy")]
    )
    result.update(
        crimepy_s=round(crimepy_s, 2),
        crimepy_peak_rss_mb=round(crimepy_rss),
        speedup_vs_crimepy=round(crimepy_s / decode_s, 2),
    )
    return result


def bench_load(folder: Path) -> dict:
    """The decoded year through the loader, against a plain ADBC ingest of the same Parquet.

    The loader's figure is its second load of the year, so it includes replacing the first
    (the swap of every segment's partition); the baseline creates fresh scratch tables and
    copies each file in whole, with nothing transactional around it.
    """
    from crimewh.lake import Lake
    from crimewh.settings import Settings
    from crimewh.warehouse import stack
    from crimewh.warehouse.loader import load_partitions
    from decoder.decode import segment_schemas

    decoded = folder / "decoded"
    environ = {"CRIMEWH_DATA_DIR": str(folder / "warehouse")}
    stack.up(Settings.load(environ), echo=lambda _: None)
    settings = Settings.load(environ)
    lake = Lake.from_settings(settings)
    segments = list(segment_schemas())
    partition = f"year={BENCH_YEAR}"
    for segment in segments:
        parts = sorted((decoded / segment).glob("*.parquet"))
        lake.put_partition("nibrs", segment, partition, parts, source_sha256="bench",
                           producer="bench")  # fmt: skip

    load_partitions(settings, "nibrs", segments, partition)  # creates the tables
    loader_runs, baseline_runs = [], []
    for _ in range(ROUNDS):  # interleaved, best of each: other work on the machine is noise
        started = time.perf_counter()
        results = load_partitions(settings, "nibrs", segments, partition)  # replaces the year
        loader_runs.append(time.perf_counter() - started)
        baseline_runs.append(_plain_adbc_ingest(settings, decoded, segments))
    rows = sum(result.rows for result in results)
    loader_s, baseline_s = min(loader_runs), min(baseline_runs)
    stack.down(settings, echo=lambda _: None)
    return {
        "bench": "load",
        "rows": rows,
        "seconds": round(loader_s, 2),
        "rows_per_s": round(rows / loader_s),
        "baseline_seconds": round(baseline_s, 2),
        "baseline_rows_per_s": round(rows / baseline_s),
        "ratio_vs_baseline": round(baseline_s / loader_s, 2),
    }


def _plain_adbc_ingest(settings, decoded: Path, segments: list[str]) -> float:
    """Seconds to copy every decoded file into fresh scratch tables with ADBC, one commit."""
    import adbc_driver_postgresql.dbapi as adbc
    import pyarrow.parquet as pq

    with adbc.connect(settings.require_warehouse_url()) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        for segment in segments:
            for part in sorted((decoded / segment).glob("*.parquet")):
                cur.adbc_ingest(f"bench_{segment}", pq.read_table(part), mode="create_append",
                                db_schema_name="raw")  # fmt: skip
        conn.commit()
        seconds = time.perf_counter() - started
        for segment in segments:
            cur.execute(f"drop table raw.bench_{segment}")
        conn.commit()
    return seconds


_PARSE_SCRIPT = """
import json, sys
# what a DAG processor holds after one parse
import airflow.sdk, cosmos, crimewh_orchestration.dag_support
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
assert not bag.import_errors, bag.import_errors
print(json.dumps({s.file: s.duration.total_seconds() for s in bag.dagbag_stats}))
"""


def bench_dag_parse(folder: Path) -> dict:
    """Seconds the DAG processor spends on each DAG file (cosmos renders the dbt graph at
    parse time), the median of ROUNDS fresh interpreters, against a per-file budget."""
    from crimewh.dbt import run_dbt
    from crimewh.settings import Settings
    from crimewh_orchestration import airflow_runtime
    from crimewh_orchestration.dag_support import dbt_manifest

    # parsing connects to nothing: the DAG files read no setting at parse time
    settings = Settings.load(
        {
            "CRIMEWH_DATA_DIR": str(folder),
            "CRIMEWH_WAREHOUSE_URL": "postgresql://parse@127.0.0.1:9/none",
        }
    )
    if not dbt_manifest().exists():
        run_dbt(["parse", "--quiet"], settings)
    environment = airflow_runtime.environment(
        settings, extra={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{folder}/unused.db"}
    )
    runs: dict[str, list[float]] = {}
    for _ in range(ROUNDS):
        done = subprocess.run(
            [sys.executable, "-c", _PARSE_SCRIPT, str(settings.dags_dir)],
            env=environment, capture_output=True, text=True, check=True,
        )  # fmt: skip
        for file, seconds in json.loads(done.stdout.strip().splitlines()[-1]).items():
            runs.setdefault(Path(file).name, []).append(seconds)
    medians = {name: round(statistics.median(values), 3) for name, values in runs.items()}
    return {
        "bench": "dag_parse",
        "seconds_per_file": medians,
        "slowest_s": max(medians.values()),
        "budget_s": DAG_PARSE_BUDGET_S,
        "ratio_to_budget": round(max(medians.values()) / DAG_PARSE_BUDGET_S, 2),
        "rounds": ROUNDS,
    }


# -- the main job: one year from zip to scored marts --------------------------------------------
# Targets for a full year (8M incidents) on a 2-core, 24 GB machine (issue: a NIBRS year at
# real size): the whole pipeline, dbt for the year, any one process's memory, the warehouse
PIPELINE_TARGETS = {"total_s": 1800, "dbt_s": 600, "peak_rss_mb": 6144, "warehouse_mb": 12288}
FULL_YEAR = 8_000_000


def bench_pipeline(folder: Path, *, incidents: int, keep_warehouse: bool = False) -> Iterator[dict]:
    """A synthetic year through every step the nightly runs for it, each a `crimewh` command
    in a child process on a fresh embedded warehouse: ingest (decode, gate, lake, load), dbt
    for the year, the marts gate, training and scoring the clearance model.

    One JSON line per step: wall and CPU seconds (the command and everything it waited for,
    and the PostgreSQL server's share apart), the largest process's peak memory (the
    command's, and the server's backends sampled), rows and rows per second; then the total,
    the warehouse's size per schema, and the targets for a full year scaled to this size.
    Each step's output is written beside the warehouse as ``<step>.log``; with
    ``keep_warehouse`` the stopped warehouse stays too (for the dashboard at this size).
    """
    import shutil

    from crimewh.settings import Settings
    from crimewh.warehouse import stack

    zip_path = synthetic_year(folder / f"pipeline-{incidents}", incidents=incidents)
    data_dir = folder / f"pipeline-{incidents}" / "warehouse"
    shutil.rmtree(data_dir, ignore_errors=True)
    # the synthetic zip lies beside its truth: the landing area, where the oracle looks
    environ = {
        "CRIMEWH_DATA_DIR": str(data_dir),
        "CRIMEWH_LANDING_URL": f"file://{zip_path.parent}",
    }
    settings = Settings.load(environ)
    stack.up(settings, echo=lambda _: None)
    settings = Settings.load(environ)
    env = {**os.environ, **settings.as_environment()}
    crimewh = [sys.executable, "-m", "crimewh_orchestration.cli"]
    year = str(BENCH_YEAR)
    steps = [
        ("ingest", [*crimewh, "nibrs", "ingest", "--year", year, "--zip", str(zip_path)]),
        ("dbt", [*crimewh, "dbt", "build", "--select", "tag:nibrs",
                 "--vars", json.dumps({"nibrs_years": [BENCH_YEAR]})]),
        ("marts_gate", [*crimewh, "quality", "run", "--suite", "marts"]),
        ("train_clearance", [*crimewh, "train", "clearance"]),
        ("score_clearance", [*crimewh, "score", "clearance"]),
    ]  # fmt: skip
    totals = {"wall_s": 0.0, "cpu_s": 0.0, "server_cpu_s": 0.0, "peak_rss_mb": 0.0}
    try:
        for name, argv in steps:
            log_path = data_dir.parent / f"{name}.log"
            step = _measured_step(argv, env, data_dir / "stack" / "postgres", log_path)
            rows = incidents if name != "ingest" else _raw_rows(settings)
            result = {"bench": "pipeline", "step": name, "incidents": incidents, **step,
                      "rows": rows, "rows_per_s": round(rows / step["wall_s"])}  # fmt: skip
            for key in ("wall_s", "cpu_s", "server_cpu_s"):
                totals[key] += step[key]
            totals["peak_rss_mb"] = max(
                totals["peak_rss_mb"], step["peak_rss_mb"], step["server_peak_rss_mb"]
            )
            yield result
        sizes = _warehouse_sizes(settings)
        scale = incidents / FULL_YEAR
        yield {
            "bench": "pipeline",
            "step": "total",
            "incidents": incidents,
            **{key: round(value, 1) for key, value in totals.items()},
            "s_per_million_incidents": round(totals["wall_s"] / incidents * 1e6, 1),
            "warehouse_mb": sizes,
            "warehouse_total_mb": round(sum(sizes.values())),
            # the full-year targets, as they scale to this size (memory does not)
            "targets_at_this_size": {
                "total_s": round(PIPELINE_TARGETS["total_s"] * scale),
                "dbt_s": round(PIPELINE_TARGETS["dbt_s"] * scale),
                "peak_rss_mb": PIPELINE_TARGETS["peak_rss_mb"],
                "warehouse_mb": round(PIPELINE_TARGETS["warehouse_mb"] * scale),
            },
        }
        yield _dashboard_on_pipeline(settings, incidents=incidents)
    finally:
        stack.down(settings, echo=lambda _: None)
        if not keep_warehouse:
            shutil.rmtree(data_dir, ignore_errors=True)


def _dashboard_on_pipeline(settings, *, incidents: int) -> dict:
    """The dashboard's NIBRS and Models pages timed on the year the pipeline just built (a
    full year with ``--incidents 8000000``); its Chicago page is timed by `bench dashboard`,
    since the pipeline pulls no Chicago crimes."""
    from testkit.bench_dashboard import page_report, time_pages

    pages = time_pages(settings.analyst_url, settings)
    return page_report(pages, warehouse="pipeline", nibrs_years=1, incidents_per_year=incidents)


def _measured_step(argv: list[str], env: dict, pgdata: Path, log_path: Path) -> dict:
    """Run one step; its wall time, its own and the server's CPU time and peak memory."""
    import threading

    import psutil

    server = _postmaster(pgdata)
    server_cpu_before = _tree_cpu(server)
    peaks = {"server": 0.0}
    stop = threading.Event()

    def sample() -> None:  # backends come and go: their memory is sampled as they run
        while not stop.wait(0.5):
            for child in server.children():
                try:
                    peaks["server"] = max(peaks["server"], child.memory_info().rss / 2**20)
                except psutil.Error:
                    continue

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}; its log: {log_path}")
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "server_cpu_s": round(_tree_cpu(server) - server_cpu_before, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "server_peak_rss_mb": round(peaks["server"]),
    }


def _postmaster(pgdata: Path):
    import psutil

    return psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))


def _tree_cpu(process) -> float:
    """CPU seconds of a process, its children that ended, and those still running."""
    import psutil

    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children():
        try:
            child_times = child.cpu_times()
        except psutil.Error:
            continue
        total += child_times.user + child_times.system
    return total


def _raw_rows(settings) -> int:
    from crimewh.warehouse import fetch

    return int(fetch(settings, """
        select coalesce(sum(rows), 0) from raw._loads where status = 'loaded'
            and load_id in (select max(load_id) from raw._loads where status = 'loaded'
                            group by table_name, partition)""")[0][0])  # fmt: skip


def _warehouse_sizes(settings) -> dict[str, int]:
    """MB on disk per schema (tables, their indexes and TOAST)."""
    from crimewh.warehouse import fetch

    rows = fetch(settings, """
        select n.nspname, sum(pg_total_relation_size(c.oid)) from pg_class c
            join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'm')
            and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
        group by 1 order by 1""")  # fmt: skip
    return {schema: round(size / 2**20) for schema, size in rows}


def bench_dag_dbt(folder: Path, *, incidents: int) -> dict:
    """The year backfill DAG's dbt, run by Airflow (LocalExecutor, the triggerer waking the
    models' sensors), against `crimewh dbt build` of the same year on the same warehouse,
    timed before and after it (the median of the two)."""
    import shutil

    from crimewh.processes import free_port
    from crimewh.settings import Settings
    from crimewh.warehouse import stack
    from crimewh_orchestration import airflow_runtime
    from crimewh_orchestration.airflow_client import span_seconds

    zip_path = synthetic_year(folder / f"pipeline-{incidents}", incidents=incidents)
    data_dir = folder / "dag-dbt" / "warehouse"
    shutil.rmtree(data_dir, ignore_errors=True)
    environ = {
        "CRIMEWH_DATA_DIR": str(data_dir),
        "CRIMEWH_LANDING_URL": f"file://{zip_path.parent}",
    }
    settings = Settings.load(environ)
    stack.up(settings, echo=lambda _: None)
    settings = Settings.load(environ)
    env = {**os.environ, **settings.as_environment()}
    crimewh = [sys.executable, "-m", "crimewh_orchestration.cli"]
    year = str(BENCH_YEAR)
    plain = [*crimewh, "dbt", "build", "--select", "tag:nibrs",
             "--vars", json.dumps({"nibrs_years": [BENCH_YEAR]})]  # fmt: skip
    extra = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True", "CRIMEWH_TASK_RETRIES": "0"}
    try:
        subprocess.run([*crimewh, "nibrs", "ingest", "--year", year, "--zip", str(zip_path)],
                       env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        before = _measured_step(
            plain, env, data_dir / "stack" / "postgres", data_dir.parent / "dbt-before.log"
        )["wall_s"]
        airflow_runtime.up(settings, port=free_port(), extra_env=extra, echo=lambda _: None)
        api = airflow_runtime.client(settings)
        api.wait_for_dags({"nibrs_year_backfill"})
        status, run = api.trigger("nibrs_year_backfill", {"year": BENCH_YEAR})
        if status != 200:
            raise RuntimeError(f"the backfill was refused: {status} {run}")
        state = api.wait("nibrs_year_backfill", run["dag_run_id"], timeout=3600)
        group = [ti for ti in api.task_instances("nibrs_year_backfill", run["dag_run_id"])
                 if ti["task_id"].startswith("nibrs_dbt.")]  # fmt: skip
        airflow_runtime.down(settings, echo=lambda _: None, stack_too=False)
        after = _measured_step(
            plain, env, data_dir / "stack" / "postgres", data_dir.parent / "dbt-after.log"
        )["wall_s"]
    finally:
        airflow_runtime.down(settings, echo=lambda _: None, stack_too=False)
        stack.down(settings, echo=lambda _: None)
        shutil.rmtree(data_dir, ignore_errors=True)
    producer = [ti for ti in group if ti["task_id"].endswith("dbt_producer_watcher")]
    dag_s = span_seconds(group)
    plain_s = statistics.median([before, after])
    return {
        "bench": "dag_dbt",
        "incidents": incidents,
        "run_state": state,
        "dag_dbt_s": round(dag_s, 1),
        "producer_s": round(span_seconds(producer), 1),
        "plain_dbt_s": round(plain_s, 1),
        "plain_dbt_runs_s": [before, after],
        "ratio_vs_plain": round(dag_s / plain_s, 2),
        "target_ratio": DAG_DBT_TARGET_RATIO,
        "tasks": len(group),
    }
