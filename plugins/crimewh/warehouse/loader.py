"""Load one lake partition into PostgreSQL's ``raw`` schema, replacing exactly that partition.

Each raw table ``raw.<source>_<table>`` is list-partitioned on ``_partition`` (``year=2022``,
``batch=20261121T031500Z``). A load copies the partition's Parquet into a new table created
in the same transaction, then swaps it in for the old one (detach, drop, attach) and commits.
So a reload or a backfill replaces its slice and nothing else, a failure at any point rolls
back to the previous data, and readers never see a half-loaded partition. Creating the table
in the loading transaction also lets PostgreSQL skip the WAL for the COPY when
``wal_level=minimal`` (the embedded stack's setting), and the CHECK constraint it is created
with lets ATTACH skip its validation scan.

``raw._loads`` records every attempt: partition, rows, the source file's sha256, start, end,
status and error, and the server process that ran it. An attempt still ``running`` whose
server process is gone (its client was killed) is marked ``abandoned`` by the next load.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crimewh import failpoints

if TYPE_CHECKING:
    import pyarrow as pa

    from crimewh.lake import Lake, Manifest
    from crimewh.settings import Settings

RAW = "raw"
LINEAGE_COLUMNS = ("_partition", "_load_id", "_loaded_at")  # the loader's, on every raw row
BATCH_ROWS = 256_000  # rows the scanner hands the COPY at a time
AUDIT_DDL = """
create table if not exists raw._loads (
    load_id bigint generated always as identity primary key,
    source text not null,
    table_name text not null,
    partition text not null,
    rows bigint,
    source_sha256 text,
    producer text,
    started_at timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    status text not null
        check (status in ('running', 'loaded', 'failed', 'skipped', 'abandoned')),
    error text,
    backend_pid integer,
    backend_started_at timestamptz
)
"""
# Warehouses created before attempts recorded their server process; one statement, so two
# loaders upgrading at once queue on its lock instead of racing between drop and add.
AUDIT_UPGRADE = """
alter table raw._loads add column if not exists backend_pid integer,
    add column if not exists backend_started_at timestamptz,
    drop constraint if exists _loads_status_check,
    add constraint _loads_status_check
        check (status in ('running', 'loaded', 'failed', 'skipped', 'abandoned'))
"""
# A 'running' attempt whose server process (pid and start time, as pids are reused) is no
# longer there was killed with its client: its transaction rolled back, so it loaded nothing.
MARK_ABANDONED = """
update raw._loads l set status = 'abandoned', finished_at = clock_timestamp(),
    error = 'the loading process ended before finishing (killed?); nothing of it was committed'
where l.status = 'running' and not exists (
    select from pg_stat_activity a
    where a.pid = l.backend_pid and a.backend_start = l.backend_started_at)
"""


class LoadError(Exception):
    """A partition could not be loaded; the previous data is intact."""


@dataclass(frozen=True)
class LoadResult:
    source: str
    table: str
    partition: str
    rows: int
    seconds: float
    load_id: int | None
    skipped: bool = False


def raw_table(source: str, table: str) -> str:
    return f"{source}_{table}"


def load_partition(
    settings: Settings,
    source: str,
    table: str,
    partition: str,
    *,
    force: bool = True,
    lake: Lake | None = None,
) -> LoadResult:
    """Load ``<lake>/<source>/<table>/<partition>`` into ``raw.<source>_<table>``."""
    return load_partitions(settings, source, [table], partition, force=force, lake=lake)[0]


def load_partitions(
    settings: Settings,
    source: str,
    tables: list[str],
    partition: str,
    *,
    force: bool = True,
    lake: Lake | None = None,
    manifests: dict[str, Manifest] | None = None,
) -> list[LoadResult]:
    """Load one partition of several tables in a single transaction: all of them or none.

    A NIBRS year spans eleven segment tables; loading them together means the warehouse
    never holds one year's offenses beside another version's victims. With ``force=False``,
    tables whose last successful load came from the same source sha256 as the lake's
    manifest are left alone. ``manifests`` may name staged, not yet published, versions to
    load (see ``Lake.stage_partition``); by default each table's published one is loaded.
    """
    import adbc_driver_postgresql.dbapi as adbc

    from crimewh.lake import Lake

    lake = lake or Lake.from_settings(settings)
    # every manifest first: a missing or partial partition fails before anything is touched
    manifests = manifests or {table: lake.manifest(source, table, partition) for table in tables}
    files = {table: lake.partition_files(manifests[table]) for table in tables}
    results: list[LoadResult] = []

    with adbc.connect(settings.require_warehouse_url()) as conn, conn.cursor() as cur:
        _ensure_audit_table(cur)
        cur.execute(MARK_ABANDONED)
        conn.commit()
        todo = []
        for table in tables:
            manifest = manifests[table]
            if not force and _loaded_sha256(cur, source, table, partition) == (
                manifest.source_sha256
            ):
                load_id = _audit(cur, source, table, partition, manifest, status="skipped", rows=0)
                results.append(LoadResult(source, table, partition, 0, 0.0, load_id, True))
            else:
                load_id = _audit(cur, source, table, partition, manifest, status="running")
                todo.append((table, load_id))
        conn.commit()  # the attempts are on record even if the load fails
        if not todo:
            return results

        table = todo[0][0]
        try:
            loaded = []
            for n, (table, load_id) in enumerate(todo):
                table_started = time.perf_counter()
                target = raw_table(source, table)
                rows = _replace_partition(
                    cur, target, partition, files[table], lake, load_id,
                    stop_at=(lambda point: failpoints.reached(settings, point)) if n == 0
                    else None,
                )  # fmt: skip
                if rows != manifests[table].rows:
                    raise LoadError(
                        f"{RAW}.{target} {partition}: loaded {rows:,} rows but the lake "
                        f"manifest says {manifests[table].rows:,}; write the partition again"
                    )
                loaded.append((table, load_id, rows, time.perf_counter() - table_started))
            for _, load_id, rows, _ in loaded:
                cur.execute(
                    "update raw._loads set status = 'loaded', rows = $1, "
                    "finished_at = clock_timestamp() where load_id = $2",
                    (rows, load_id),
                )
            conn.commit()
        except Exception as error:
            conn.rollback()
            message = f"{type(error).__name__}: {error}"[:4000]
            for _, load_id in todo:
                cur.execute(
                    "update raw._loads set status = 'failed', error = $1, "
                    "finished_at = clock_timestamp() where load_id = $2",
                    (message, load_id),
                )
            conn.commit()
            if isinstance(error, LoadError):
                raise
            raise LoadError(
                f"loading {lake.url}/{source}/{table}/{partition} into "
                f"{RAW}.{raw_table(source, table)} failed and the whole load was rolled back "
                f"(the previous data is intact): {error}"
            ) from error
        _drop_retired(cur, [raw_table(source, table) for table, _ in todo])
        conn.commit()
        _analyze_parents(cur, [raw_table(source, table) for table, _ in todo])
        conn.commit()
    results += [
        LoadResult(source, table, partition, rows, seconds, load_id)
        for table, load_id, rows, seconds in loaded
    ]
    return results


def _replace_partition(cur, target, partition, files, lake, load_id, stop_at=None) -> int:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    first = pq.ParquetFile(files[0], filesystem=lake.fs) if files else None
    schema = first.schema_arrow if first else None
    _ensure_parent(cur, target, schema)

    slug = re.sub(r"[^a-z0-9]+", "_", partition.lower()).strip("_")
    final = f"{target}__{slug}"
    incoming = f"{final}__load{load_id}"
    if len(incoming) > 63:
        raise LoadError(f"partition table name {incoming!r} is longer than PostgreSQL allows")
    literal = partition.replace("'", "''")
    cur.execute(
        "select column_name, format_type(a.atttypid, a.atttypmod) from information_schema.columns "
        "c join pg_attribute a on a.attrelid = format('%I.%I', c.table_schema, c.table_name)"
        "::regclass and a.attname = c.column_name where c.table_schema = $1 "
        "and c.table_name = $2 order by c.ordinal_position",
        (RAW, target),
    )
    data_columns = [(n, t) for n, t in cur.fetchall() if n not in LINEAGE_COLUMNS]
    body = ", ".join(f'"{name}" {kind}' for name, kind in data_columns)
    cur.execute(
        f'create table {RAW}."{incoming}" ({body}) with (autovacuum_enabled = false)'
    )  # written once, replaced whole, never updated: nothing for autovacuum to do, and its
    # pass over a fresh partition would hold the lock the next reload's detach waits for

    rows = 0
    for path in files:
        # one COPY per file, streamed from a dataset scanner: memory stays bounded (a
        # year's segment never sits in RAM at once) and the reading runs ahead on threads
        scanner = ds.dataset(path, format="parquet", filesystem=lake.fs).scanner(
            batch_size=BATCH_ROWS
        )
        if pq.ParquetFile(path, filesystem=lake.fs).metadata.num_rows:
            rows += cur.adbc_ingest(
                incoming, scanner.to_reader(), mode="append", db_schema_name=RAW
            )
        if stop_at:
            stop_at("load.after_first_copy")

    # The lineage columns are the same on every row of a partition, so they are added after
    # the rows, with constant defaults: PostgreSQL then keeps each value once, in the
    # catalogue, instead of in every row (a fifth of a NIBRS year's raw size).
    cur.execute(
        f'alter table {RAW}."{incoming}" '
        f"add column _partition text not null default '{literal}', "
        f"add column _load_id bigint not null default {int(load_id)}, "
        "add column _loaded_at timestamptz not null default transaction_timestamp()"
    )

    # Statistics before the partition becomes visible: the loader turned autovacuum off for
    # it, so nothing else would ever analyze it, and without statistics PostgreSQL estimates
    # one row per scan and plans the marts' joins as nested loops over millions of rows.
    cur.execute(f'analyze {RAW}."{incoming}"')
    if stop_at:
        stop_at("load.before_swap")

    cur.execute(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "join pg_class p on p.oid = i.inhparent join pg_namespace n on n.oid = p.relnamespace "
        "where n.nspname = $1 and p.relname = $2 and pg_get_expr(c.relpartbound, c.oid) = $3",
        (RAW, target, f"FOR VALUES IN ('{literal}')"),
    )
    for (old,) in cur.fetchall():
        # detached and renamed now, dropped after the commit: unlinking a big table's files
        # would otherwise hold the commit (and the parent's lock) for seconds
        cur.execute(f'alter table {RAW}."{target}" detach partition {RAW}."{old}"')
        cur.execute(f'alter table {RAW}."{old}" rename to "{_retired(target, load_id)}"')
    cur.execute(f'alter table {RAW}."{incoming}" rename to "{final}"')
    cur.execute(
        f'alter table {RAW}."{target}" attach partition {RAW}."{final}" '
        f"for values in ('{literal}')"
    )
    return rows


def _analyze_parents(cur, targets: list[str]) -> None:
    """Refresh the parents' statistics, what scans over several partitions are estimated
    with, from a sample of their partitions; after the commit, so no reader waits on it.

    ``analyze only`` (PostgreSQL 17+) leaves the partitions' own statistics alone: they
    were taken as each was loaded. An older server re-analyzes every partition too.
    """
    cur.execute("select current_setting('server_version_num')::integer >= 170000")
    only = "only " if cur.fetchone()[0] else ""
    for target in targets:
        cur.execute(f'analyze {only}{RAW}."{target}"')


def _retired(target: str, load_id: int) -> str:
    return f"{target}__retired{load_id}"[:63]


def _drop_retired(cur, targets: list[str]) -> None:
    """Drop partitions that earlier loads replaced (also ones a crash left behind)."""
    cur.execute(
        "select tablename from pg_tables where schemaname = $1 "
        "and tablename like '%\\_\\_retired%'",
        (RAW,),
    )
    for (name,) in cur.fetchall():
        if any(name.startswith(f"{target}__retired") for target in targets):
            cur.execute(f'drop table if exists {RAW}."{name}"')


def _ensure_parent(cur, target: str, schema: pa.Schema | None) -> None:
    """Create the partitioned parent, or add any column the new data brings."""
    columns = [(f.name, _pg_type(f.type)) for f in schema] if schema is not None else []
    cur.execute("select to_regclass($1) is not null", (f'{RAW}."{target}"',))
    if not cur.fetchall()[0][0]:
        # The first loads of two years at once (a backfill on two workers) would both create
        # the parent, and the second fail on its name when the first commits. The first
        # holds this lock until it commits; the second then finds the table. Loads of a
        # parent that exists never take it.
        cur.execute("select pg_advisory_xact_lock(hashtext($1))", (f"crimewh raw {target}",))
    cur.execute(f"create schema if not exists {RAW}")
    cur.execute(
        "select column_name from information_schema.columns "
        "where table_schema = $1 and table_name = $2",
        (RAW, target),
    )
    existing = {name for (name,) in cur.fetchall()}
    if not existing:
        body = ", ".join(f'"{name}" {kind}' for name, kind in columns)
        cur.execute(
            f'create table {RAW}."{target}" ({body}{", " if body else ""}'
            "_partition text not null, _load_id bigint not null, "
            "_loaded_at timestamptz not null default now()) partition by list (_partition)"
        )
        return
    for name, kind in columns:
        if name not in existing:
            cur.execute(f'alter table {RAW}."{target}" add column "{name}" {kind}')


def _pg_type(arrow_type) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    checks = (
        (pa.types.is_string, "text"),
        (pa.types.is_large_string, "text"),
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_int8, "smallint"),
        (pa.types.is_int16, "smallint"),
        (pa.types.is_int32, "integer"),
        (pa.types.is_int64, "bigint"),
        (pa.types.is_floating, "double precision"),
        (pa.types.is_date, "date"),
        (pa.types.is_binary, "bytea"),
        (pa.types.is_large_binary, "bytea"),
    )
    for check, pg in checks:
        if check(arrow_type):
            return pg
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    raise LoadError(f"no PostgreSQL type for Arrow type {arrow_type}; cast it in the lake writer")


def partition_disagreements(
    settings: Settings, manifests: dict[str, Manifest], partition: str
) -> list[str]:
    """How the warehouse's copy of a partition differs from the lake's published version.

    Empty when, for every table, the last successful load came from the same source file
    (sha256) as the lake's manifest, with the same number of rows, and it is that load's
    rows that are attached. Anything else (a load that failed after the lake was written, a
    kill between the warehouse's commit and the lake's, a table dropped by hand) is named.
    """
    import adbc_driver_postgresql.dbapi as adbc

    differences = []
    with adbc.connect(settings.require_warehouse_url()) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('raw._loads') is not null")
        if not cur.fetchone()[0]:
            return ["nothing has been loaded into this warehouse yet"]
        for table, manifest in manifests.items():
            target = f"{RAW}.{raw_table(manifest.source, table)}"
            cur.execute(
                "select load_id, source_sha256, rows from raw._loads where source = $1 "
                "and table_name = $2 and partition = $3 and status = 'loaded' "
                "order by load_id desc limit 1",
                (manifest.source, table, partition),
            )
            last = cur.fetchone()
            if last is None:
                differences.append(f"{target} {partition}: never loaded")
                continue
            load_id, sha256, rows = last
            if sha256 != manifest.source_sha256 or rows != manifest.rows:
                differences.append(
                    f"{target} {partition}: the warehouse holds {rows:,} rows of "
                    f"{sha256[:12]}…, the lake {manifest.rows:,} rows of "
                    f"{manifest.source_sha256[:12]}…"
                )
                continue
            cur.execute("select to_regclass($1) is not null", (target,))
            attached = None
            if cur.fetchone()[0]:
                cur.execute(
                    f"select _load_id from {target} where _partition = $1 limit 1", (partition,)
                )
                attached = cur.fetchone()
            if rows and (attached is None or attached[0] != load_id):
                differences.append(
                    f"{target} {partition}: load {load_id} is recorded but "
                    + ("no rows are attached" if attached is None else f"load {attached[0]}'s are")
                )
    return differences


def _loaded_sha256(cur, source: str, table: str, partition: str) -> str | None:
    cur.execute(
        "select source_sha256 from raw._loads where source = $1 and table_name = $2 "
        "and partition = $3 and status = 'loaded' order by load_id desc limit 1",
        (source, table, partition),
    )
    row = cur.fetchone()
    return row[0] if row else None


def mark_abandoned_loads(settings: Settings) -> int:
    """Mark the attempts of killed loaders ``abandoned``; how many were."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(settings.require_warehouse_url()) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('raw._loads') is not null")
        if not cur.fetchone()[0]:
            return 0
        _ensure_audit_table(cur)
        cur.execute(MARK_ABANDONED)
        marked = cur.rowcount
        conn.commit()
    return max(marked, 0)


def _ensure_audit_table(cur) -> None:
    cur.execute(AUDIT_DDL)
    cur.execute(
        "select 1 from information_schema.columns where table_schema = 'raw' "
        "and table_name = '_loads' and column_name = 'backend_started_at'"
    )
    if cur.fetchone() is None:
        cur.execute(AUDIT_UPGRADE)


def _audit(cur, source, table, partition, manifest, *, status: str, rows=None) -> int:
    cur.execute(
        "insert into raw._loads (source, table_name, partition, rows, source_sha256, producer, "
        "status, finished_at, backend_pid, backend_started_at) "
        "select $1, $2, $3, $4, $5, $6, $7, "
        "case when $8 = 'running' then null else clock_timestamp() end, pid, backend_start "
        "from pg_stat_activity where pid = pg_backend_pid() returning load_id",
        (source, table, partition, rows, manifest.source_sha256, manifest.producer,
         status, status),
    )  # fmt: skip
    return cur.fetchone()[0]
