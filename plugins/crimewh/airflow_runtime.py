"""Airflow on this machine: its environment, `make up` / `make down`, and `airflow …` calls.

``AIRFLOW_HOME`` is ``<data>/airflow``. The metadata lives in the embedded PostgreSQL's
``airflow`` database (SQLite cannot take a scheduler, an API server and a REST backfill at
once), the executor is LocalExecutor with four slots for two cores, and the DAGs and
plugins are this checkout's ``dags/`` and ``plugins/``. The warehouse connection reaches
tasks through the environment (``CRIMEWH_*`` and dbt's ``CRIMEWH_PG_*``), never through
the DAG files or the UI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from crimewh.settings import Settings
from crimewh.warehouse.stack import free_port, port_is_free, process_alive

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PORT = 8080
STATE_FILE = "crimewh-airflow.json"


class AirflowError(Exception):
    """Airflow could not be started or reached; the message says where to look."""


def airflow_home(settings: Settings) -> Path:
    return settings.data_dir / "airflow"


def metadata_url(settings: Settings) -> str:
    """``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` as set, else the embedded stack's database."""
    if os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    from crimewh.warehouse.stack import AIRFLOW_DB, AIRFLOW_ROLE, StackState

    state = StackState.load(settings.data_dir)
    if state is None:
        raise AirflowError(
            "no metadata database: run `crimewh stack up` first, or set "
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN to your own PostgreSQL"
        )
    return state.url(AIRFLOW_ROLE, AIRFLOW_DB).replace("postgresql://", "postgresql+psycopg2://")


def environment(settings: Settings, *, port: int = DEFAULT_PORT) -> dict[str, str]:
    """The environment every Airflow process of this data folder runs with."""
    from crimewh.dbt import QUIET_ENVIRONMENT, dbt_env

    home = airflow_home(settings)
    env = {
        **os.environ,
        **QUIET_ENVIRONMENT,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": os.environ.get(
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False"
        ),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(settings),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "CRIMEWH_DATA_DIR": str(settings.data_dir),
        # `airflow standalone` starts its parts as `airflow …` from the PATH
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO), str(REPO / "plugins"), os.environ.get("PYTHONPATH")])
        ),
        **dbt_env(settings),
    }
    if settings.s3_endpoint_url:
        env["CRIMEWH_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    return env


def airflow(settings: Settings, args: list[str], *, port: int | None = None, **run_args):
    """Run ``airflow <args>`` with this data folder's environment."""
    port = port or _state(settings).get("port", DEFAULT_PORT)
    command = [str(Path(sys.executable).with_name("airflow")), *args]
    return subprocess.run(command, env=environment(settings, port=port), check=False, **run_args)


def prepare(settings: Settings, *, echo=print) -> None:
    """The metadata schema, the warehouse pool and the dbt manifest cosmos renders from."""
    from crimewh.dag_support import WAREHOUSE_POOL, WAREHOUSE_POOL_SLOTS
    from crimewh.dbt import run_dbt

    airflow_home(settings).mkdir(parents=True, exist_ok=True)
    echo("airflow: migrating the metadata database")
    _checked(airflow(settings, ["db", "migrate"], capture_output=True, text=True), "db migrate")
    _checked(
        airflow(
            settings,
            ["pools", "set", WAREHOUSE_POOL, str(WAREHOUSE_POOL_SLOTS),
             "bulk loads and dbt: two at a time on two cores"],
            capture_output=True, text=True,
        ),
        "pools set",
    )  # fmt: skip
    echo("dbt: parsing the project for cosmos")
    run_dbt(["parse", "--quiet"], settings)


def up(settings: Settings, *, echo=print) -> dict:
    """Start Airflow standalone in the background (idempotent) and wait for its API."""
    from crimewh.warehouse import stack

    stack.up(settings, echo=echo)
    from crimewh.settings import Settings as _Settings

    settings = _Settings.load({**os.environ, "CRIMEWH_DATA_DIR": str(settings.data_dir)})
    state = _state(settings)
    if state.get("pid") and process_alive(state["pid"]):
        echo(f"airflow: already running (pid {state['pid']})")
        return _report(settings, state["port"])
    port = DEFAULT_PORT if port_is_free(DEFAULT_PORT) else free_port()
    prepare(settings, echo=echo)
    home = airflow_home(settings)
    log = (home / "standalone.log").open("ab")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("airflow")), "standalone"],
        env=environment(settings, port=port),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # outlives this command; `down` stops the whole group
        cwd=home,
    )
    (home / STATE_FILE).write_text(json.dumps({"pid": process.pid, "port": port}))
    echo(f"airflow: starting (pid {process.pid}); log in {home / 'standalone.log'}")
    wait_healthy(port, process=process, log=home / "standalone.log")
    return _report(settings, port)


def down(settings: Settings, *, echo=print, stack_too: bool = True) -> None:
    state = _state(settings)
    pid = state.get("pid")
    if pid and process_alive(pid):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
        if process_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        echo("airflow: stopped")
    (airflow_home(settings) / STATE_FILE).unlink(missing_ok=True)
    if stack_too:
        from crimewh.warehouse import stack

        stack.down(settings, echo=echo)


def wait_healthy(port: int, *, process=None, log: Path | None = None, timeout: float = 240):
    url = f"http://localhost:{port}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AirflowError(f"airflow standalone exited ({process.returncode}); see {log}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                health = json.load(response)
            if all(
                health.get(part, {}).get("status") == "healthy"
                for part in ("metadatabase", "scheduler")
            ):
                return health
        except OSError:
            pass
        time.sleep(2)
    raise AirflowError(
        f"airflow did not become healthy on port {port} in {timeout:.0f}s; see {log}"
    )


def admin_password(settings: Settings) -> str | None:
    generated = airflow_home(settings) / "simple_auth_manager_passwords.json.generated"
    if not generated.exists():
        return None
    return json.loads(generated.read_text()).get("admin")


def _report(settings: Settings, port: int) -> dict:
    return {
        "url": f"http://localhost:{port}",
        "login": "admin",
        "password_file": str(
            airflow_home(settings) / "simple_auth_manager_passwords.json.generated"
        ),
        "airflow_home": str(airflow_home(settings)),
    }


def _state(settings: Settings) -> dict:
    path = airflow_home(settings) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _checked(completed, what: str) -> None:
    if completed.returncode != 0:
        tail = "\n".join(
            (completed.stdout or "").splitlines()[-20:]
            + (completed.stderr or "").splitlines()[-20:]
        )
        raise AirflowError(f"`airflow {what}` failed ({completed.returncode}):\n{tail}")
