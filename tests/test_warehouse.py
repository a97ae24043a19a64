"""The embedded stack, the loader and `nibrs ingest`, against a real PostgreSQL and S3 API."""

import dataclasses
import json
import os
import subprocess
import sys

import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crimewh.lake import Lake, PartitionMissingError
from crimewh.nibrs_ingest import IngestError, ingest_year
from crimewh.settings import Settings
from crimewh.warehouse import stack
from crimewh.warehouse.loader import LoadError, load_partition
from decoder.decode import segment_schemas
from testkit.nibrs_synth import synthesize

YEAR = 2019


def query(url: str, sql: str, params=()):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else None
    conn.close()
    return rows


def raw_counts(url: str, partition: str) -> dict[str, int]:
    return {
        segment: query(
            url, f"select count(*) from raw.nibrs_{segment} where _partition = %s", (partition,)
        )[0][0]
        for segment in segment_schemas()
    }


@pytest.fixture(scope="module")
def landed_year(warehouse, tmp_path_factory):
    """A small synthetic year dropped in the landing area, then ingested once."""
    landing = warehouse.settings.data_dir / "landing"
    landing.mkdir(exist_ok=True)
    zip_path = landing / f"nibrs-{YEAR}.zip"
    synthesize(zip_path, year=YEAR, incidents=3_000, seed=7, deflate64=True)
    result = ingest_year(warehouse.settings, YEAR, echo=lambda _: None)
    return zip_path, result


def test_stack_up_is_idempotent_and_status_hides_secrets(warehouse):
    state = stack.StackState.load(warehouse.settings.data_dir)
    stack.up(warehouse.settings, echo=lambda _: None)  # again: nothing new, nothing lost
    assert stack.StackState.load(warehouse.settings.data_dir).postgres_port == state.postgres_port
    report = stack.status(warehouse.settings)
    text = json.dumps(report)
    assert report["postgres"].startswith("running")
    assert all(password not in text for password in state.passwords.values())
    assert ":***@127.0.0.1" in report["warehouse_url"]
    assert (warehouse.settings.data_dir / "stack" / "stack.json").stat().st_mode & 0o077 == 0


def test_roles_databases_and_schemas(warehouse):
    databases = {name for (name,) in query(warehouse.admin_url, "select datname from pg_database")}
    assert {"warehouse", "airflow"} <= databases
    schemas = {
        name for (name,) in query(warehouse.url, "select nspname from pg_namespace")
    }  # fmt: skip
    assert set(stack.SCHEMAS) <= schemas
    # the password is required over TCP: a wrong one is refused
    wrong = warehouse.url.replace(warehouse.url.split(":")[2].split("@")[0], "wrong", 1)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(wrong)


def test_analyst_reads_marts_and_nothing_else(warehouse, landed_year):
    query(warehouse.url, "create table if not exists marts.analyst_probe as select 1 as one")
    assert query(warehouse.analyst_url, "select one from marts.analyst_probe") == [(1,)]
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        query(warehouse.analyst_url, "select count(*) from raw.nibrs_administrative")
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        query(warehouse.analyst_url, "create table marts.mine (a int)")
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        query(warehouse.analyst_url, "delete from marts.analyst_probe")


def test_ingest_loads_every_segment_of_the_year(warehouse, landed_year):
    _, result = landed_year
    lake = Lake.from_settings(warehouse.settings)
    expected = {seg: lake.manifest("nibrs", seg, f"year={YEAR}").rows for seg in segment_schemas()}
    assert raw_counts(warehouse.url, f"year={YEAR}") == expected
    assert expected["administrative"] == 3_000
    # the generator's truth stays beside the zip: the production ingest loads no truth
    assert "synthetic_truth" not in result.rows
    # values arrive as the decoder's strings, and every row knows its load
    (offense_code, data_year, load_id) = query(
        warehouse.url,
        "select ucr_offense_code, data_year, _load_id from raw.nibrs_offense "
        "where _partition = %s limit 1",
        (f"year={YEAR}",),
    )[0]
    assert len(offense_code) == 3
    assert data_year == YEAR
    statuses = query(
        warehouse.url,
        "select table_name, status, rows from raw._loads where load_id = %s",
        (load_id,),
    )
    assert statuses == [("offense", "loaded", expected["offense"])]


def test_rerun_is_skipped_and_forced_reload_is_idempotent(warehouse, landed_year):
    zip_path, first = landed_year
    before = raw_counts(warehouse.url, f"year={YEAR}")
    again = ingest_year(warehouse.settings, YEAR, echo=lambda _: None)
    assert again.skipped
    assert again.sha256 == first.sha256
    forced = ingest_year(warehouse.settings, YEAR, zip_path, force=True, echo=lambda _: None)
    assert not forced.skipped
    assert raw_counts(warehouse.url, f"year={YEAR}") == before
    partitions = query(
        warehouse.url,
        "select count(*) from pg_inherits i join pg_class p on p.oid = i.inhparent "
        "join pg_class c on c.oid = i.inhrelid where p.relname = 'nibrs_offense' "
        "and pg_get_expr(c.relpartbound, c.oid) = %s",
        (f"FOR VALUES IN ('year={YEAR}')",),
    )[0][0]
    assert partitions == 1
    retired = query(warehouse.url, "select count(*) from pg_tables where tablename like %s",
                    ("nibrs_offense__retired%",))[0][0]  # fmt: skip
    assert retired == 0  # the replaced partitions were dropped after the commit


def test_backfilling_another_year_leaves_this_one_alone(warehouse, landed_year, tmp_path):
    before = raw_counts(warehouse.url, f"year={YEAR}")
    other = tmp_path / "nibrs-2018.zip"
    synthesize(other, year=2018, incidents=500, seed=3)
    ingest_year(warehouse.settings, 2018, other, echo=lambda _: None)
    assert raw_counts(warehouse.url, f"year={YEAR}") == before
    assert raw_counts(warehouse.url, "year=2018")["administrative"] == 500


def test_failure_mid_load_rolls_back_to_the_previous_data(warehouse, landed_year):
    """A damaged second file: the load fails after the first file is already copied."""
    before = raw_counts(warehouse.url, f"year={YEAR}")
    folder = warehouse.settings.data_dir / "lake" / "nibrs" / "offense" / f"year={YEAR}"
    manifest = json.loads((folder / "_manifest.json").read_text())
    good = (folder / manifest["files"][0]).read_bytes()
    (folder / "part-damaged.parquet").write_bytes(good[: len(good) // 2] + b"PAR1")
    manifest["files"].append("part-damaged.parquet")
    manifest["rows"] *= 2
    (folder / "_manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(LoadError, match="rolled back"):
        load_partition(warehouse.settings, "nibrs", "offense", f"year={YEAR}")
    assert raw_counts(warehouse.url, f"year={YEAR}") == before
    status, error = query(
        warehouse.url,
        "select status, error from raw._loads where table_name = 'offense' "
        "order by load_id desc limit 1",
    )[0]
    assert status == "failed"
    assert error


def test_missing_and_partial_partitions_are_clear_errors(warehouse, landed_year):
    with pytest.raises(PartitionMissingError, match=r"nibrs/offense/year=1999 does not exist"):
        load_partition(warehouse.settings, "nibrs", "offense", "year=1999")
    lake = Lake.from_settings(warehouse.settings)
    folder = warehouse.settings.data_dir / "lake" / "nibrs" / "victim" / "year=1998"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"a": ["x"]}), folder / "part-abandoned-0.parquet")
    with pytest.raises(PartitionMissingError, match="holds files but no manifest"):
        load_partition(warehouse.settings, "nibrs", "victim", "year=1998", lake=lake)


def test_ingest_without_a_zip_says_where_to_put_it(warehouse):
    with pytest.raises(IngestError, match=r"no nibrs-2003\.zip in the landing area"):
        ingest_year(warehouse.settings, 2003, echo=lambda _: None)


def test_loads_from_an_s3_lake(warehouse, s3_endpoint, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = dataclasses.replace(
        warehouse.settings, lake_url="s3://crime-lake/wh", s3_endpoint_url=s3_endpoint
    )
    stack._ensure_bucket(s3_endpoint, settings.lake_url)
    lake = Lake.from_settings(settings)
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "block": ["a", None, "c"],
                      "arrest": [True, False, None]})  # fmt: skip
    local = tmp_path / "batch.parquet"
    pq.write_table(table, local)
    lake.put_partition("chicago", "probe", "batch=1", [local], source_sha256="x", producer="t")
    result = load_partition(settings, "chicago", "probe", "batch=1")
    assert result.rows == 3
    rows = query(warehouse.url, "select id, block, arrest from raw.chicago_probe order by id")
    assert rows == [(1, "a", True), (2, None, False), (3, "c", None)]


def test_psql_runs_commands_for_both_roles(warehouse):
    env = {**os.environ, "CRIMEWH_DATA_DIR": str(warehouse.settings.data_dir)}
    command = [sys.executable, "-m", "crimewh_orchestration.cli", "stack", "psql"]
    out = subprocess.run(
        [*command, "-tA", "-c", "select current_user"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.stdout.strip() == "crimewh", out.stderr
    out = subprocess.run(
        [*command, "--role", "analyst", "-tA", "-c", "select current_user"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.stdout.strip() == "analyst", out.stderr


def test_two_data_folders_run_side_by_side(warehouse, tmp_path):
    other = Settings.load({"CRIMEWH_DATA_DIR": str(tmp_path / "second")})
    try:
        stack.up(other, echo=lambda _: None)
        mine = stack.StackState.load(warehouse.settings.data_dir).postgres_port
        theirs = stack.StackState.load(other.data_dir).postgres_port
        assert mine != theirs
        url = Settings.load({"CRIMEWH_DATA_DIR": str(other.data_dir)}).warehouse_url
        assert query(url, "select current_database()") == [("warehouse",)]
    finally:
        stack.down(other, echo=lambda _: None)
    assert stack.status(other)["postgres"].startswith("stopped")


def test_two_first_loads_of_a_table_do_not_both_create_its_parent(warehouse):
    """Two years loaded for the first time at once (a backfill on two workers): the second
    waits for the first to commit the parent table, then finds it, instead of failing on
    its name (`duplicate key ... pg_type_typname_nsp_index`)."""
    import threading

    import adbc_driver_postgresql.dbapi as adbc

    from crimewh.warehouse.loader import _ensure_parent

    schema = pa.schema([("incident_number", pa.string())])
    table = "test_first_load_race"
    url = warehouse.settings.warehouse_url
    first, second = adbc.connect(url), adbc.connect(url)
    outcome = {}
    try:
        with first.cursor() as cur:
            _ensure_parent(cur, table, schema)  # holds the lock until it commits

            def load_second():
                try:
                    with second.cursor() as other:
                        _ensure_parent(other, table, schema)
                    second.commit()
                    outcome["second"] = "ok"
                except Exception as error:  # reported by the assertion below
                    outcome["second"] = repr(error)

            waiting = threading.Thread(target=load_second)
            waiting.start()
            waiting.join(timeout=2)
            assert waiting.is_alive(), f"the second did not wait: {outcome}"
        first.commit()
        waiting.join(timeout=30)
        assert outcome == {"second": "ok"}
    finally:
        for conn in (first, second):
            conn.close()
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute(f"drop table if exists raw.{table}")
        conn.close()
