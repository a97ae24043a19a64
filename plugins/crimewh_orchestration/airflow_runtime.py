"""Airflow on this machine: its environment, `make up` / `make down`, and `airflow …` calls.

``AIRFLOW_HOME`` is ``<data>/airflow``. The metadata lives in the embedded PostgreSQL's
``airflow`` database (SQLite cannot take a scheduler, an API server and a REST backfill at
once), the executor is LocalExecutor with four slots for two cores, and the DAGs and
plugins are the project folder's ``dags/`` and ``plugins/`` (``CRIMEWH_PROJECT_DIR``). The
warehouse connection reaches tasks through the environment (``CRIMEWH_*`` and dbt's
``CRIMEWH_PG_*``), never through the DAG files or the UI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from crimewh.processes import (
    free_port,
    port_is_free,
    process_alive,
    stop_process_group,
    wait_until_answers,
)
from crimewh.settings import Settings

DEFAULT_PORT = 8080
STATE_FILE = "crimewh-airflow.json"


class AirflowError(Exception):
    """Airflow could not be started or reached; the message says where to look."""


def airflow_home(settings: Settings) -> Path:
    return settings.data_dir / "airflow"


def metadata_url(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` as set, else the embedded stack's database."""
    environ = os.environ if environ is None else environ
    if environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        return environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    from crimewh.warehouse.stack import AIRFLOW_DB, AIRFLOW_ROLE, StackState

    state = StackState.load(settings.data_dir)
    if state is None:
        raise AirflowError(
            "no metadata database: run `crimewh stack up` first, or set "
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN to your own PostgreSQL"
        )
    return state.url(AIRFLOW_ROLE, AIRFLOW_DB).replace("postgresql://", "postgresql+psycopg2://")


def environment(
    settings: Settings, *, port: int = DEFAULT_PORT, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment every Airflow process of this data folder runs with.

    The settings travel as the ``CRIMEWH_*`` variables that load them again in each task;
    ``extra`` adds or overrides variables (Airflow's own, ``CRIMEWH_TASK_RETRIES``).
    """
    from crimewh.dbt import QUIET_ENVIRONMENT, dbt_env

    base = {**os.environ, **(extra or {})}
    home = airflow_home(settings)
    project = settings.require_project_dir()
    env = {
        **base,
        **QUIET_ENVIRONMENT,
        **settings.as_environment(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        # a checkout's plugins/; an installed package has no such folder and needs none
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(project / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": base.get(
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False"
        ),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(settings, base),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # `airflow standalone` starts its parts as `airflow …` from the PATH
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")]),
        **dbt_env(settings),
    }
    return env


def airflow_executable() -> str:
    """The `airflow` command of this interpreter's environment."""
    return str(Path(sys.executable).with_name("airflow"))


def airflow(
    settings: Settings,
    args: list[str],
    *,
    port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    **run_args,
):
    """Run ``airflow <args>`` with this data folder's environment."""
    port = port or _state(settings).get("port", DEFAULT_PORT)
    command = [airflow_executable(), *args]
    env = environment(settings, port=port, extra=extra_env)
    return subprocess.run(command, env=env, check=False, **run_args)


def prepare(settings: Settings, *, extra_env: Mapping[str, str] | None = None, echo=print) -> None:
    """The metadata schema, the warehouse pool and the dbt manifest cosmos renders from."""
    from crimewh.dbt import run_dbt
    from crimewh_orchestration.dag_support import WAREHOUSE_POOL, WAREHOUSE_POOL_SLOTS

    airflow_home(settings).mkdir(parents=True, exist_ok=True)
    echo("airflow: migrating the metadata database")
    _checked(
        airflow(settings, ["db", "migrate"], extra_env=extra_env, capture_output=True, text=True),
        "db migrate",
    )
    _checked(
        airflow(
            settings,
            ["pools", "set", WAREHOUSE_POOL, str(WAREHOUSE_POOL_SLOTS),
             "bulk loads and dbt: two at a time on two cores"],
            extra_env=extra_env, capture_output=True, text=True,
        ),
        "pools set",
    )  # fmt: skip
    echo("dbt: parsing the project for cosmos")
    run_dbt(["parse", "--quiet"], settings)


def up(
    settings: Settings,
    *,
    port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    echo=print,
) -> dict:
    """Start Airflow standalone in the background (idempotent) and wait for its API.

    ``port`` is the API server's; by default 8080 when it is free, else any free port.
    """
    from crimewh.warehouse import stack

    stack.up(settings, echo=echo)
    settings = Settings.load(settings.as_environment())  # with what the stack just started
    state = _state(settings)
    if state.get("pid") and process_alive(state["pid"]):
        echo(f"airflow: already running (pid {state['pid']})")
        return _report(settings, state["port"])
    if port is None:
        port = DEFAULT_PORT if port_is_free(DEFAULT_PORT) else free_port()
    elif not port_is_free(port):
        raise AirflowError(f"port {port} is taken: stop what listens there, or pick another")
    prepare(settings, extra_env=extra_env, echo=echo)
    home = airflow_home(settings)
    log = (home / "standalone.log").open("ab")
    process = subprocess.Popen(
        [airflow_executable(), "standalone"],
        env=environment(settings, port=port, extra=extra_env),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # outlives this command; `down` stops the whole group
        cwd=home,
    )
    (home / STATE_FILE).write_text(json.dumps({"pid": process.pid, "port": port}))
    echo(f"airflow: starting (pid {process.pid}); log in {home / 'standalone.log'}")
    try:
        wait_healthy(port, process=process, log=home / "standalone.log")
    except BaseException:
        down(settings, echo=echo, stack_too=False)  # nothing half-started is left behind
        raise
    return _report(settings, port)


def down(settings: Settings, *, echo=print, stack_too: bool = True) -> None:
    """Stop Airflow and everything it started (scheduler, triggerer, tasks, their dbt),
    and return only once they are all gone."""
    state = _state(settings)
    pid = state.get("pid")
    if pid and process_alive(pid):
        killed = stop_process_group(pid, timeout=30)
        echo("airflow: stopped" + (" (killed after 30 s)" if killed else ""))
    (airflow_home(settings) / STATE_FILE).unlink(missing_ok=True)
    if stack_too:
        from crimewh.warehouse import stack

        stack.down(settings, echo=echo)


def wait_healthy(port: int, *, process=None, log: Path | None = None, timeout: float = 240):
    url = f"http://localhost:{port}/api/v2/monitor/health"

    def healthy():
        with urllib.request.urlopen(url, timeout=5) as response:
            health = json.load(response)
        parts = ("metadatabase", "scheduler")
        return health if all(health.get(p, {}).get("status") == "healthy" for p in parts) else None

    return wait_until_answers(healthy, what=f"airflow on port {port}", error=AirflowError,
                              process=process, log=log, timeout=timeout, interval=2)  # fmt: skip


def client(settings: Settings):
    """The REST API of this data folder's running Airflow, logged in as its admin."""
    from crimewh_orchestration.airflow_client import AirflowClient

    state = _state(settings)
    if not state.get("pid") or not process_alive(state["pid"]):
        raise AirflowError(f"no Airflow runs for {settings.data_dir}: `crimewh airflow up`")
    return AirflowClient(
        f"http://localhost:{state['port']}", "admin", admin_password(settings) or ""
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
