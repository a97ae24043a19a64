"""The fault suite: ingests and pulls killed with SIGKILL at each stage, two ingests at once.

Each run is a real ``crimewh`` process on the shared embedded PostgreSQL. It stops itself at a
named point (``CRIMEWH_FAILPOINT``, see ``crimewh.failpoints``), so the kill lands on that
stage however busy the machine is; then the process group gets SIGKILL, as an OOM killer or
a lost worker would deliver it. After every case the same invariants are checked:

- rows: the lake's published rows = the warehouse's rows = the decoded rows of the file the
  last successful run loaded, per table;
- ids: every incident (every Chicago id) exactly once;
- audit: ``raw._loads`` names that file as the last load of every table, and nothing is
  left ``running``;
- debris: no staged lake files, work folders, staging folders or half-swapped tables.

The table of cases by invariants is printed at the end of the module.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg2
import pyarrow.parquet as pq
import pytest
from conftest import SUMMARY_TABLES

from crimewh.lake import Lake
from crimewh.settings import Settings
from decoder.decode import decode_zip, segment_schemas
from testkit.chicago_synth import synthesize as synthesize_chicago
from testkit.nibrs_synth import synthesize as synthesize_nibrs
from testkit.soda_server import Dataset, SodaServer

pytestmark = pytest.mark.integration

YEAR = 2012  # no other test module ingests this year
PARTITION = f"year={YEAR}"
TABLES = [*segment_schemas(), "quarantine"]
INVARIANTS = ("rows", "ids", "audit", "debris")
NIBRS_STAGES = (
    "ingest.decode",
    "lake.between_tables",
    "load.after_first_copy",
    "load.before_swap",
    "ingest.before_publish",
)
CHICAGO_STAGES = ("chicago.fetching", "chicago.fetched", "chicago.in_lake", "chicago.loaded")
CHICAGO_ROWS = 900


# -- the record of what was tried ------------------------------------------------------------
@pytest.fixture(scope="module")
def outcomes(request):
    table: dict[str, dict[str, str]] = {}
    yield table
    if not table:
        return
    width = max(len(case) for case in table)
    lines = request.config.stash.setdefault(SUMMARY_TABLES, [])
    lines.append(f"{'fault case':<{width}}  " + "  ".join(f"{i:<6}" for i in INVARIANTS))
    for case, results in table.items():
        cells = "  ".join(f"{results.get(i, '-'):<6}" for i in INVARIANTS)
        lines.append(f"{case:<{width}}  {cells}")


def record(outcomes, case: str, checks: dict[str, list[str]]) -> None:
    """Note each invariant's result, then fail the test naming every broken one."""
    outcomes[case] = {name: "ok" if not problems else "FAIL" for name, problems in checks.items()}
    broken = [f"{name}: {p}" for name, problems in checks.items() for p in problems]
    assert not broken, f"{case}: " + "; ".join(broken)


# -- processes --------------------------------------------------------------------------------
class Runs:
    """Child processes in their own groups, each killed whole at the end, however it ends."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.children: list[subprocess.Popen] = []

    def start(self, argv: list[str], env: dict[str, str], name: str) -> subprocess.Popen:
        log = (self.folder / f"{name}-{len(self.children)}.log").open("w")
        child = subprocess.Popen(
            [sys.executable, "-m", "crimewh_orchestration.cli", *argv], env=env, stdout=log,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        child.log_path = Path(log.name)
        log.close()
        self.children.append(child)
        return child

    @staticmethod
    def output(child) -> str:
        return child.log_path.read_text()

    def wait_stopped(self, child, timeout: float = 180) -> None:
        """Until the child has stopped itself at its failpoint."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child.poll() is not None:
                pytest.fail(
                    f"exited {child.returncode} before its failpoint:\n{self.output(child)}"
                )
            if psutil.Process(child.pid).status() == psutil.STATUS_STOPPED:
                return
            time.sleep(0.05)
        pytest.fail(f"never reached its failpoint:\n{self.output(child)}")

    def wait_for_text(self, child, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output(child):
                return
            if child.poll() is not None:
                pytest.fail(f"exited {child.returncode} without saying {text!r}:\n"
                            f"{self.output(child)}")  # fmt: skip
            time.sleep(0.1)
        pytest.fail(f"never said {text!r}:\n{self.output(child)}")

    @staticmethod
    def kill(child) -> None:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)

    def finish(self, child, timeout: float = 300) -> str:
        child.wait(timeout=timeout)
        output = self.output(child)
        assert child.returncode == 0, output
        return output

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=30)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    runs = Runs(tmp_path_factory.mktemp("fault-runs"))
    try:
        yield runs
    finally:
        runs.close()


# -- NIBRS --------------------------------------------------------------------------------------
class Year:
    """Two zips of one year, what each decodes to, and how to check the warehouse holds one."""

    def __init__(self, warehouse, folder: Path):
        self.settings: Settings = warehouse.settings
        self.admin_url = warehouse.admin_url
        self.zips = {}
        self.expected = {}
        for name, incidents, seed in (("ok", 700, 11), ("big", 1600, 12)):
            path = folder / name / f"nibrs-{YEAR}.zip"
            path.parent.mkdir()
            synthesize_nibrs(path, year=YEAR, incidents=incidents, seed=seed)
            decoded = decode_zip(path, folder / f"{name}-decoded", year=YEAR)
            self.zips[name] = path
            self.expected[name] = {
                "sha256": _sha256(path),
                "rows": {table: _rows(folder / f"{name}-decoded" / (
                    "_quarantine" if table == "quarantine" else table)) for table in TABLES},
                "incidents": decoded.rows["administrative"],
            }  # fmt: skip

    def env(self, failpoint: str | None = None, **extra) -> dict[str, str]:
        env = {**os.environ, **self.settings.as_environment(), **extra}
        env.pop("CRIMEWH_FAILPOINT", None)
        if failpoint:
            env["CRIMEWH_FAILPOINT"] = failpoint
        return env

    @staticmethod
    def argv(zip_path: Path, *, force: bool = True) -> list[str]:
        return ["nibrs", "ingest", "--year", str(YEAR), "--zip", str(zip_path),
                *(["--force"] if force else [])]  # fmt: skip

    def lake_holds(self, name: str) -> list[str]:
        lake = Lake.from_settings(self.settings)
        problems = []
        for table in TABLES:
            manifest = lake.manifest("nibrs", table, PARTITION)
            want = self.expected[name]["rows"][table]
            if manifest.source_sha256 != self.expected[name]["sha256"] or manifest.rows != want:
                problems.append(f"lake {table}: {manifest.rows} rows of "
                                f"{manifest.source_sha256[:8]}, want {want} of {name}")  # fmt: skip
        return problems

    def invariants(self, name: str) -> dict[str, list[str]]:
        rows = self.lake_holds(name)
        ids, audit, debris = [], [], []
        with psycopg2.connect(self.admin_url) as conn, conn.cursor() as cur:
            for table in TABLES:
                cur.execute(f"select count(*) from raw.nibrs_{table} where _partition = %s",
                            (PARTITION,))  # fmt: skip
                held, want = cur.fetchone()[0], self.expected[name]["rows"][table]
                if held != want:
                    rows.append(f"raw.nibrs_{table}: {held} rows, want {want} of {name}")
                cur.execute(
                    "select source_sha256, rows from raw._loads where source = 'nibrs' and "
                    "table_name = %s and partition = %s and status = 'loaded' "
                    "order by load_id desc limit 1", (table, PARTITION),
                )  # fmt: skip
                last = cur.fetchone()
                if last != (self.expected[name]["sha256"], want):
                    audit.append(f"last load of {table} is {last}, want {name}'s")
            cur.execute(
                "select count(*), count(distinct (ori, incident_number)) "
                "from raw.nibrs_administrative where _partition = %s", (PARTITION,),
            )  # fmt: skip
            total, distinct = cur.fetchone()
            if total != distinct or total != self.expected[name]["incidents"]:
                ids.append(f"{total} incident rows, {distinct} distinct, "
                           f"want {self.expected[name]['incidents']}")  # fmt: skip
            cur.execute("select count(*) from raw._loads where status = 'running' "
                        "and source = 'nibrs' and partition = %s", (PARTITION,))  # fmt: skip
            if running := cur.fetchone()[0]:
                audit.append(f"{running} loads still 'running'")
            cur.execute(
                "select tablename from pg_tables where schemaname = 'raw' and "
                "(tablename like '%%\\_\\_load%%' or tablename like '%%\\_\\_retired%%')"
            )
            debris += [f"table raw.{name}" for (name,) in cur.fetchall()]
        lake = Lake.from_settings(self.settings)
        for table in TABLES:
            folder = Path(lake.root) / "nibrs" / table / PARTITION
            listed = set(lake.manifest("nibrs", table, PARTITION).files) | {"_manifest.json"}
            debris += [f"lake {table}/{p.name}" for p in folder.iterdir() if p.name not in listed]
        debris += [str(p) for p in (self.settings.data_dir / "work").glob(f"nibrs-{YEAR}-*")]
        return {"rows": rows, "ids": ids, "audit": audit, "debris": debris}


def _rows(folder: Path) -> int:
    return sum(pq.ParquetFile(path).metadata.num_rows for path in folder.glob("*.parquet"))


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def year(warehouse, runs, tmp_path_factory):
    year = Year(warehouse, tmp_path_factory.mktemp("fault-zips"))
    runs.finish(runs.start(year.argv(year.zips["ok"]), year.env(), "first-ingest"))
    assert not any(year.invariants("ok").values()), year.invariants("ok")
    return year


@pytest.mark.parametrize("stage", NIBRS_STAGES)
def test_an_ingest_killed_at_each_stage_leaves_lake_and_warehouse_together(
    year, runs, outcomes, stage
):
    """``big`` is killed at ``stage`` while ``ok`` is loaded; a rerun of ``ok`` then finds
    either nothing to do or, killed between the two commits, the difference to repair."""
    child = runs.start(year.argv(year.zips["big"]), year.env(stage), f"kill-{stage}")
    runs.wait_stopped(child)
    runs.kill(child)
    committed = stage == "ingest.before_publish"
    if not committed:  # nothing the killed run did is visible
        assert not year.lake_holds("ok")

    rerun = runs.finish(runs.start(year.argv(year.zips["ok"], force=False), year.env(),
                                   f"rerun-{stage}"))  # fmt: skip
    if committed:
        assert "the lake and the warehouse disagree, reloading" in rerun
    else:
        assert "already loaded; skipping" in rerun
    if stage != "ingest.decode":  # a killed decode leaves only its work folder
        assert "cleared what killed runs left" in rerun
    record(outcomes, f"nibrs kill at {stage}", year.invariants("ok"))


def test_two_ingests_of_a_year_at_once_run_one_after_the_other(year, runs, outcomes):
    """The second waits for the first, naming it; each reports the file it loaded."""
    first = runs.start(year.argv(year.zips["big"]), year.env("load.before_swap"), "first")
    runs.wait_stopped(first)  # holding the year's lock, mid-load
    second = runs.start(year.argv(year.zips["ok"]), year.env(), "second")
    runs.wait_for_text(second, f"nibrs year={YEAR} is being written by crimewh nibrs ingest")
    assert second.poll() is None  # waiting, not loading beside it
    os.killpg(first.pid, signal.SIGCONT)

    first_report = json.loads(_last_json(runs.finish(first)))
    second_report = json.loads(_last_json(runs.finish(second)))
    assert first_report["sha256"] == year.expected["big"]["sha256"]
    assert second_report["sha256"] == year.expected["ok"]["sha256"]
    with psycopg2.connect(year.admin_url) as conn, conn.cursor() as cur:
        cur.execute("select source_sha256 from raw._loads where table_name = 'administrative' "
                    "and partition = %s and status = 'loaded' order by load_id desc limit 2",
                    (PARTITION,))  # fmt: skip
        order = [sha for (sha,) in cur.fetchall()]
    assert order == [year.expected["ok"]["sha256"], year.expected["big"]["sha256"]]
    record(outcomes, "nibrs two ingests at once", year.invariants("ok"))


def test_a_second_ingest_that_waits_too_long_fails_naming_the_holder(year, runs, outcomes):
    holder = runs.start(year.argv(year.zips["big"]), year.env("load.after_first_copy"), "holder")
    runs.wait_stopped(holder)
    impatient = runs.start(year.argv(year.zips["ok"]),
                           year.env(CRIMEWH_LOCK_WAIT_SECONDS="2"), "impatient")  # fmt: skip
    impatient.wait(timeout=120)
    output = runs.output(impatient)
    assert impatient.returncode == 2, output
    assert f"still being written by crimewh nibrs ingest {YEAR} (pid {holder.pid}" in output
    assert "Traceback" not in output
    runs.kill(holder)
    runs.finish(runs.start(year.argv(year.zips["ok"], force=False), year.env(), "after-wait"))
    record(outcomes, "nibrs wait times out", year.invariants("ok"))


def test_an_unreachable_warehouse_changes_nothing(year, runs, outcomes):
    env = year.env(CRIMEWH_WAREHOUSE_URL="postgresql://crimewh:x@127.0.0.1:9/warehouse")
    child = runs.start(year.argv(year.zips["big"]), env, "unreachable")
    child.wait(timeout=120)
    output = runs.output(child)
    assert child.returncode == 2, output
    assert "cannot reach the warehouse at postgresql://crimewh:***@127.0.0.1:9" in output
    assert "Nothing was changed" in output
    record(outcomes, "nibrs warehouse unreachable", year.invariants("ok"))


def _last_json(output: str) -> str:
    return output[output.rindex("\n{") + 1 :] if "\n{" in output else output[output.index("{") :]


# -- Chicago --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def portal():
    synthetic = synthesize_chicago(CHICAGO_ROWS, seed=31)
    with SodaServer(Dataset.from_wire_table(synthetic.table)) as server:
        yield server


@pytest.mark.parametrize("stage", CHICAGO_STAGES)
def test_a_pull_killed_at_each_stage_finishes_exactly_on_the_next_run(
    warehouse, portal, runs, outcomes, tmp_path, stage
):
    env = {
        **os.environ, "CRIMEWH_DATA_DIR": str(tmp_path), "CRIMEWH_SODA_DOMAIN": portal.domain,
        "CRIMEWH_SODA_PAGE_SIZE": "100", "CRIMEWH_WAREHOUSE_URL": warehouse.url,
    }  # fmt: skip
    argv = ["chicago", "pull", "--years", "2001-2025"]
    child = runs.start(argv, {**env, "CRIMEWH_FAILPOINT": stage}, f"pull-{stage}")
    runs.wait_stopped(child)
    runs.kill(child)
    report = json.loads(_last_json(runs.finish(runs.start(argv, env, f"resume-{stage}"))))
    assert report["resumed"]

    settings = Settings.load({k: v for k, v in env.items() if k.startswith("CRIMEWH_")})
    partition = report["partition"]
    manifest = Lake.from_settings(settings).manifest("chicago", "crimes", partition)
    served = {int(row["id"]) for row in portal.dataset.rows()}
    rows, ids, audit, debris = [], [], [], []
    with psycopg2.connect(warehouse.admin_url) as conn, conn.cursor() as cur:
        cur.execute("select id from raw.chicago_crimes where _partition = %s", (partition,))
        held = [id_ for (id_,) in cur.fetchall()]
        cur.execute(
            "select status, source_sha256, rows from raw._loads where source = 'chicago' "
            "and partition = %s order by load_id", (partition,),
        )  # fmt: skip
        loads = cur.fetchall()
    if not manifest.rows == len(held) == CHICAGO_ROWS:
        rows.append(f"lake {manifest.rows}, warehouse {len(held)}, served {CHICAGO_ROWS}")
    if len(set(held)) != len(held) or set(held) != served:
        ids.append(f"{len(held)} rows, {len(set(held))} distinct ids")
    if not loads or loads[-1] != ("loaded", manifest.source_sha256, manifest.rows):
        audit.append(f"last load {loads[-1:]} against the lake's {manifest.rows} rows")
    if any(status == "running" for status, _, _ in loads):
        audit.append("a load left 'running'")
    staging = tmp_path / "chicago" / "staging"
    debris += [str(p) for p in staging.glob("*")] if staging.exists() else []
    record(outcomes, f"chicago kill at {stage}", {"rows": rows, "ids": ids, "audit": audit,
                                                   "debris": debris})  # fmt: skip
