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


BENCHMARKS = ("decode", "load", "chicago_pull", "train", "dag_parse")
DAG_PARSE_BUDGET_S = 2.0  # per DAG file, within Airflow's 30 s import timeout by far


def run_benchmarks(
    folder: Path, *, incidents: int, only: tuple[str, ...] = BENCHMARKS
) -> Iterator[dict]:
    """The benchmarks named in ``only``, in order; load measures what decode wrote."""
    from crimewh.chicago.bench import bench_pull
    from ml.bench import bench_train

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


def synthetic_year(folder: Path, *, incidents: int, year: int = BENCH_YEAR) -> Path:
    """A Deflate64 master file of ``incidents`` incidents, reused while its inputs match."""
    from decoder.synth import synthesize

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


def timed_child(argv: list[str]) -> tuple[float, float]:
    """Run a command; its wall seconds and its own peak RSS in MB."""
    started = time.perf_counter()
    process = subprocess.Popen(argv)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}")
    return seconds, usage.ru_maxrss / 1024


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

    def decode(engine: str) -> tuple[float, float]:
        argv = [sys.executable, "-m", "decoder.cli", str(zip_path), "--out", str(out)]
        return timed_child([*argv, "--quiet", "--engine", engine])

    inflate_runs, decode_runs, rss_runs, numpy_runs = [], [], [], []
    for _ in range(ROUNDS):
        inflate_runs.append(inflate_only_seconds(zip_path))
        numpy_runs.append(decode("numpy")[0])
        seconds, rss_mb = decode("auto")  # last: its output is what bench_load loads
        decode_runs.append(seconds)
        rss_runs.append(rss_mb)
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
    }
    try:
        import crimepy  # noqa: F401  (installed by `make bench` from the lock's bench group)
    except ImportError:
        result["crimepy"] = "not installed: run through `make bench`"
        return result
    crimepy_s, crimepy_rss = timed_child(
        [sys.executable, "-m", "crimewh.crimepy_baseline", str(zip_path), str(folder / "crimepy")]
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
import airflow.sdk, cosmos, crimewh.dag_support  # what a DAG processor holds after one parse
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
assert not bag.import_errors, bag.import_errors
print(json.dumps({s.file: s.duration.total_seconds() for s in bag.dagbag_stats}))
"""


def bench_dag_parse(folder: Path) -> dict:
    """Seconds the DAG processor spends on each DAG file (cosmos renders the dbt graph at
    parse time), the median of ROUNDS fresh interpreters, against a per-file budget."""
    from crimewh import airflow_runtime
    from crimewh.dag_support import DBT_MANIFEST
    from crimewh.dbt import run_dbt
    from crimewh.settings import Settings

    # parsing connects to nothing: the DAG files read no setting at parse time
    settings = Settings.load(
        {
            "CRIMEWH_DATA_DIR": str(folder),
            "CRIMEWH_WAREHOUSE_URL": "postgresql://parse@127.0.0.1:9/none",
        }
    )
    if not DBT_MANIFEST.exists():
        run_dbt(["parse", "--quiet"], settings)
    environment = airflow_runtime.environment(
        settings, extra={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{folder}/unused.db"}
    )
    runs: dict[str, list[float]] = {}
    for _ in range(ROUNDS):
        done = subprocess.run(
            [sys.executable, "-c", _PARSE_SCRIPT, str(airflow_runtime.REPO / "dags")],
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
