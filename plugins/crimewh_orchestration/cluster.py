"""The multi-machine deployment: which processes make it, each with its command and environment.

One description serves two uses, so that they cannot drift apart:

- ``docker-compose.yml`` (a host per service, RDS and S3 in production) is checked against
  ``compose_environment()`` and the commands here (tests/test_deployment.py);
- ``crimewh cluster up`` (`make up-cluster`) runs the same topology as processes on this
  machine: the embedded PostgreSQL (Airflow's metadata and the warehouse), Debian's
  ``redis-server`` (the Celery broker), moto's S3 server, the Airflow API server, scheduler,
  DAG processor and triggerer, and N Celery workers.

Each worker stands for a machine of its own: its own ``AIRFLOW_HOME``, data folder, working
directory, dbt target folder and hostname, nothing local shared with the others. The lake
and the landing area are ``s3://``, PostgreSQL and Redis are reached over TCP, and the tasks
talk to the API server's execution API, as they would across a network.

Only the standard library is imported at module level: the workers' task processes import
``worker_hostname`` from here to name themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

BUCKET = "crimewh-lake"
QUEUE = "default"
HOSTNAME_VARIABLE = "CRIMEWH_WORKER_HOSTNAME"
HOSTNAME_CALLABLE = "crimewh_orchestration.cluster.worker_hostname"
# the compose service and the `airflow` arguments of every process that is not a worker
CONTROL_SERVICES = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
}
WORKER_SERVICE = "airflow-worker"
# per process, not shared: where each one keeps its own files
PER_PROCESS = ("AIRFLOW_HOME", "CRIMEWH_DATA_DIR")
STATE_FILE = "cluster.json"
# Variables of the calling shell that would make a "machine" see the caller's setup instead
# of its own; everything else (PATH, HOME, locale) passes through.
_PRIVATE_PREFIXES = ("CRIMEWH_", "AIRFLOW", "DBT_", "AWS_", "PG")


class ClusterError(Exception):
    """The cluster could not be started or reached; the message says where to look."""


def worker_hostname() -> str:
    """The hostname task instances record (``[core] hostname_callable``).

    The machine's name, as Airflow's default; when one machine runs several workers (the
    local cluster), each worker's own name, so that the UI and the tests can tell them apart.
    """
    return os.environ.get(HOSTNAME_VARIABLE) or socket.getfqdn()


def worker_command(celery_hostname: str | None = None) -> list[str]:
    """`airflow` arguments of a Celery worker; one per machine, named after it by default."""
    command = ["celery", "worker", "--queues", QUEUE]
    if celery_hostname:
        command += ["--celery-hostname", celery_hostname]
    return command


@dataclass(frozen=True)
class Endpoints:
    """Where the shared services answer, as every machine reaches them."""

    postgres: str  # host:port, Airflow's metadata and the warehouse (RDS in production)
    redis: str  # host:port, the Celery broker
    s3: str  # the S3 endpoint URL (MinIO, moto); AWS's own when empty
    api: str  # the Airflow API server's base URL (the UI, REST and the execution API)


@dataclass(frozen=True)
class Secrets:
    """Values only the environment carries: real ones here, ``${VAR}`` in docker-compose.yml."""

    airflow_db_password: str
    warehouse_password: str
    fernet_key: str
    jwt_secret: str
    api_secret_key: str
    s3_access_key: str
    s3_secret_key: str


def shared_environment(
    endpoints: Endpoints, keys: Secrets, *, project_dir: str, worker_concurrency: str
) -> dict[str, str]:
    """What every Airflow process of the deployment runs with, on whichever machine."""
    metadata = f"airflow:{keys.airflow_db_password}@{endpoints.postgres}/airflow"
    environment = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": f"{project_dir}/dags",
        "AIRFLOW__CORE__FERNET_KEY": keys.fernet_key,
        # the workers' tasks report to the API server; its tokens and the log server's
        # requests are signed with secrets every process must share
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{endpoints.api}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": keys.jwt_secret,
        "AIRFLOW__API__SECRET_KEY": keys.api_secret_key,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{metadata}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"postgresql+asyncpg://{metadata}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{endpoints.redis}/0",
        # the driver named: SQLAlchemy 2.1's default for postgresql:// is psycopg 3
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{metadata}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": worker_concurrency,
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        # the project's own settings (crimewh.settings)
        "CRIMEWH_PROJECT_DIR": project_dir,
        "CRIMEWH_WAREHOUSE_URL": (
            f"postgresql://crimewh:{keys.warehouse_password}@{endpoints.postgres}/warehouse"
        ),
        "CRIMEWH_LAKE_URL": f"s3://{BUCKET}/lake",
        "CRIMEWH_LANDING_URL": f"s3://{BUCKET}/landing",
        "AWS_ACCESS_KEY_ID": keys.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": keys.s3_secret_key,
        "AWS_REGION": "us-east-1",
    }
    if endpoints.s3:
        environment["CRIMEWH_S3_ENDPOINT_URL"] = endpoints.s3
    return environment


# -- docker-compose.yml ----------------------------------------------------------------------------
COMPOSE_PROJECT_DIR = "/opt/crimewh"  # where configuration/docker/Dockerfile puts the project
COMPOSE_ENDPOINTS = Endpoints(
    postgres="postgres:5432",
    redis="redis:6379",
    s3="http://minio:9000",
    api="http://airflow-apiserver:8080",
)
COMPOSE_SECRETS = Secrets(
    airflow_db_password="${AIRFLOW_DB_PASSWORD:?}",
    warehouse_password="${CRIMEWH_PG_PASSWORD:?}",
    fernet_key="${AIRFLOW_FERNET_KEY:?set AIRFLOW_FERNET_KEY in .env}",
    jwt_secret="${AIRFLOW_JWT_SECRET:?set AIRFLOW_JWT_SECRET in .env}",
    api_secret_key="${AIRFLOW_API_SECRET_KEY:?set AIRFLOW_API_SECRET_KEY in .env}",
    s3_access_key="${S3_ACCESS_KEY:?}",
    s3_secret_key="${S3_SECRET_KEY:?}",
)


def compose_environment() -> dict[str, str]:
    """The environment docker-compose.yml gives every Airflow service, as written there."""
    return shared_environment(
        COMPOSE_ENDPOINTS,
        COMPOSE_SECRETS,
        project_dir=COMPOSE_PROJECT_DIR,
        worker_concurrency="${CRIMEWH_WORKER_CONCURRENCY:-2}",
    )


# -- the same topology as processes on this machine ------------------------------------------------
@dataclass
class ClusterState:
    """What ``<root>/cluster.json`` keeps: ports, process groups, the generated secrets."""

    root: str
    api_port: int
    redis_port: int
    workers: list[str]
    secrets: dict[str, str]
    project_dir: str
    pids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> ClusterState | None:
        path = root / STATE_FILE
        return cls(**json.loads(path.read_text())) if path.exists() else None

    def save(self) -> None:
        path = Path(self.root) / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # secrets
        with os.fdopen(descriptor, "w") as out:
            out.write(json.dumps(asdict(self), indent=2))

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def control_dir(root: Path) -> Path:
    """The "control machine": the stack's data, the API server's, scheduler's and DAG
    processor's AIRFLOW_HOME and logs."""
    return root / "control"


def control_settings(root: Path, project_dir: Path):
    """The settings of the control machine, whose data folder holds the embedded stack."""
    from crimewh.settings import Settings

    return Settings.load({
        "CRIMEWH_DATA_DIR": str(control_dir(root) / "data"),
        "CRIMEWH_LAKE_URL": f"s3://{BUCKET}/lake",
        "CRIMEWH_LANDING_URL": f"s3://{BUCKET}/landing",
        "CRIMEWH_PROJECT_DIR": str(project_dir),
    })  # fmt: skip


def _base_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_PREFIXES)}


def process_environments(
    root: Path, state: ClusterState, endpoints: Endpoints, project_dir: Path
) -> dict[str, dict[str, str]]:
    """The full environment of every process of the local cluster, by name."""
    from crimewh.dbt import QUIET_ENVIRONMENT, dbt_env
    from crimewh.settings import Settings

    shared = shared_environment(
        endpoints, Secrets(**state.secrets), project_dir=str(project_dir), worker_concurrency="1"
    )
    venv_bin = str(Path(sys.executable).parent)  # `airflow` starts its parts from the PATH
    base = _base_environment()
    base["PATH"] = os.pathsep.join([venv_bin, base.get("PATH", "")])
    connection = dbt_env(Settings.load({**shared, "CRIMEWH_DATA_DIR": str(root)}))
    environments = {}
    control = control_dir(root)
    control_env = {
        **base, **QUIET_ENVIRONMENT, **shared, **connection,
        "AIRFLOW_HOME": str(control / "airflow"),
        "CRIMEWH_DATA_DIR": str(control / "data"),
        "AIRFLOW__API__PORT": str(state.api_port),
        "AIRFLOW__API__BASE_URL": state.api_url,
        "AIRFLOW__LOGGING__TRIGGERER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }  # fmt: skip
    for service in CONTROL_SERVICES:
        environments[service] = control_env
    for name in state.workers:
        machine = root / name
        environments[name] = {
            **base, **QUIET_ENVIRONMENT, **shared, **connection,
            "AIRFLOW_HOME": str(machine / "airflow"),
            "CRIMEWH_DATA_DIR": str(machine / "data"),
            "AIRFLOW__API__BASE_URL": state.api_url,
            HOSTNAME_VARIABLE: name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
            # one log server per worker: on one machine they cannot share the default port
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            # dbt writes its artefacts here, not into the project folder the workers share
            "DBT_TARGET_PATH": str(machine / "dbt" / "target"),
            "DBT_LOG_PATH": str(machine / "dbt" / "logs"),
        }  # fmt: skip
    return environments


def commands(state: ClusterState) -> dict[str, list[str]]:
    """The `airflow` arguments of every process of the local cluster, by name."""
    found = dict(CONTROL_SERVICES)
    for name in state.workers:
        found[name] = worker_command(f"{name}@{socket.gethostname()}")
    return found


def up(
    root: Path,
    *,
    workers: int = 2,
    project_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = print,
) -> ClusterState:
    """Start the whole cluster under ``root`` and wait until every worker is ready.

    ``extra_env`` goes to every Airflow process (the tests shorten the scheduler's heartbeat
    timeout with it). Not idempotent on purpose: a cluster that is already up is reported,
    not restarted. Anything started before a failure is stopped again.
    """
    from crimewh.settings import project_dir as find_project

    root = root.resolve()
    existing = ClusterState.load(root)
    if existing and any(_alive(pid) for pid in existing.pids.values()):
        raise ClusterError(f"a cluster already runs under {root}: `crimewh cluster down` first")
    if shutil.which("redis-server") is None:
        raise ClusterError(
            "redis-server is not installed: `make system-deps` (Debian's redis-server)"
        )
    project = (project_dir or find_project()).resolve()
    state = ClusterState(
        root=str(root),
        api_port=_free_port(),
        redis_port=_free_port(),
        workers=[f"worker-{number}" for number in range(1, workers + 1)],
        secrets=_generate_secrets(),
        project_dir=str(project),
    )
    try:
        endpoints = _start_services(root, state, project, echo)
        environments = {
            name: {**environment, **(extra_env or {})}
            for name, environment in process_environments(root, state, endpoints, project).items()
        }
        _prepare(environments["airflow-scheduler"], root, project, echo)
        for name, arguments in commands(state).items():
            state.pids[name] = _start(
                arguments, environments[name], _log(root, name), cwd=_home(root, name)
            )
            state.save()
            echo(f"{name}: started (pid {state.pids[name]})")
        _wait_healthy(state, root)
        for name in state.workers:
            _wait_ready(name, state, root)
            echo(f"{name}: ready")
    except BaseException:
        down(root, echo=echo)
        raise
    return state


def down(root: Path, *, echo: Callable[[str], None] = print) -> None:
    """Stop every process of the cluster (workers first), then the embedded stack."""
    from crimewh.processes import stop_process_group
    from crimewh.warehouse import stack

    root = root.resolve()
    state = ClusterState.load(root)
    if state is not None:
        order = [*state.workers, *CONTROL_SERVICES, "redis"]
        for name in sorted(state.pids, key=lambda n: order.index(n) if n in order else -1):
            if _alive(state.pids[name]):
                killed = stop_process_group(state.pids[name], timeout=30)
                echo(f"{name}: stopped" + (" (killed after 30 s)" if killed else ""))
        state.pids = {}
        state.save()
    project = _project_or_none()
    from crimewh.settings import Settings

    settings = (
        control_settings(root, project)
        if project
        else Settings.load({"CRIMEWH_DATA_DIR": str(control_dir(root) / "data")})
    )
    stack.down(settings, echo=echo)


def status(root: Path) -> dict:
    state = ClusterState.load(root.resolve())
    if state is None:
        return {"cluster": "not started", "root": str(root)}
    return {
        "root": state.root,
        "api": state.api_url,
        "redis": f"127.0.0.1:{state.redis_port}",
        "processes": {
            name: ("running" if _alive(pid) else "stopped") + f" (pid {pid})"
            for name, pid in state.pids.items()
        },
    }


def client(root: Path):
    """The cluster's REST API, logged in as its admin."""
    from crimewh_orchestration.airflow_client import AirflowClient

    state = ClusterState.load(root.resolve())
    if state is None:
        raise ClusterError(f"no cluster under {root}: `crimewh cluster up`")
    generated = control_dir(root.resolve()) / "airflow"
    generated = generated / "simple_auth_manager_passwords.json.generated"
    password = json.loads(generated.read_text())["admin"]
    return AirflowClient(state.api_url, "admin", password)


# -- the parts -------------------------------------------------------------------------------------
def _start_services(root: Path, state: ClusterState, project: Path, echo) -> Endpoints:
    """The embedded PostgreSQL and moto (with the bucket), and Redis."""
    from crimewh.warehouse import stack

    settings = control_settings(root, project)
    stack_state = stack.up(settings, echo=echo)
    redis_dir = root / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    state.pids["redis"] = _start(
        ["--port", str(state.redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(redis_dir)],
        _base_environment(), _log(root, "redis"), cwd=redis_dir, program="redis-server",
    )  # fmt: skip
    state.save()
    _wait_port(state.redis_port, "redis-server", _log(root, "redis"))
    echo(f"redis: started on 127.0.0.1:{state.redis_port}")
    state.secrets["airflow_db_password"] = stack_state.passwords[stack.AIRFLOW_ROLE]
    state.secrets["warehouse_password"] = stack_state.passwords[stack.PIPELINE_ROLE]
    state.save()
    return Endpoints(
        postgres=f"127.0.0.1:{stack_state.postgres_port}",
        redis=f"127.0.0.1:{state.redis_port}",
        s3=f"http://127.0.0.1:{stack_state.moto_port}",
        api=state.api_url,
    )


def _prepare(environment: Mapping[str, str], root: Path, project: Path, echo) -> None:
    """The metadata schema, the warehouse pool and the manifest the DAGs render from."""
    from crimewh.dbt import run_dbt
    from crimewh.settings import Settings
    from crimewh_orchestration.dag_support import WAREHOUSE_POOL, WAREHOUSE_POOL_SLOTS

    airflow = str(Path(sys.executable).with_name("airflow"))
    echo("airflow: migrating the metadata database")
    for arguments in (
        ["db", "migrate"],
        ["pools", "set", WAREHOUSE_POOL, str(WAREHOUSE_POOL_SLOTS), "bulk loads and dbt"],
    ):
        done = subprocess.run(
            [airflow, *arguments], env=dict(environment), capture_output=True, text=True,
            cwd=control_dir(root), check=False,
        )  # fmt: skip
        if done.returncode:
            raise ClusterError(f"`airflow {' '.join(arguments)}` failed:\n{done.stderr[-3000:]}")
    echo("dbt: parsing the project for the DAGs")
    run_dbt(["parse", "--quiet"], Settings.load(environment))


def _generate_secrets() -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        "fernet_key": Fernet.generate_key().decode(),
        "jwt_secret": secrets.token_urlsafe(32),
        "api_secret_key": secrets.token_urlsafe(32),
        "s3_access_key": "crimewh-cluster",  # moto takes any key; real S3 gets the instance's
        "s3_secret_key": secrets.token_urlsafe(16),
        "airflow_db_password": "",
        "warehouse_password": "",
    }


def _home(root: Path, name: str) -> Path:
    folder = control_dir(root) if name in CONTROL_SERVICES else root / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _log(root: Path, name: str) -> Path:
    folder = root / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.log"


def _start(
    arguments: list[str], environment: Mapping[str, str], log: Path, *, cwd: Path,
    program: str | None = None,
) -> int:  # fmt: skip
    executable = program or str(Path(sys.executable).with_name("airflow"))
    with log.open("ab") as out:
        process = subprocess.Popen(
            [executable, *arguments], env=dict(environment), cwd=cwd, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: stopping it stops what it started
        )  # fmt: skip
    return process.pid


def _wait_port(port: int, what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise ClusterError(f"{what} did not listen on 127.0.0.1:{port} in {timeout:.0f}s; see {log}")


def _wait_healthy(state: ClusterState, root: Path, timeout: float = 240) -> None:
    """The API server answers and reports the metadata database and the scheduler healthy;
    a control process that exits meanwhile fails at once, naming its log."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in CONTROL_SERVICES:
            if not _alive(state.pids[name]):
                raise ClusterError(f"{name} exited at start; see {_log(root, name)}")
        try:
            url = f"{state.api_url}/api/v2/monitor/health"
            with urllib.request.urlopen(url, timeout=5) as response:
                health = json.load(response)
            if all(health.get(part, {}).get("status") == "healthy"
                   for part in ("metadatabase", "scheduler")):  # fmt: skip
                return
        except OSError:
            pass
        time.sleep(2)
    raise ClusterError(
        f"the API server was not healthy in {timeout:.0f}s; see {_log(root, 'airflow-apiserver')}"
    )


def _wait_ready(
    name: str, state: ClusterState, root: Path, *, offset: int = 0, timeout: float = 180
) -> None:
    """Celery logs ``<node> ready.`` once the worker consumes from the queue (past
    ``offset`` in its log, for a restart)."""
    log = _log(root, name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(state.pids[name]):
            raise ClusterError(f"{name} exited at start; see {log}")
        if log.exists():
            with log.open("rb") as stream:
                stream.seek(offset)
                if b" ready." in stream.read():
                    return
        time.sleep(1)
    raise ClusterError(f"{name} was not ready in {timeout:.0f}s; see {log}")


def _alive(pid: int) -> bool:
    from crimewh.processes import group_members

    return bool(group_members(pid))


def _free_port() -> int:
    from crimewh.processes import free_port

    return free_port()


def _project_or_none() -> Path | None:
    from crimewh.settings import find_project_dir

    return find_project_dir()


# -- one worker at a time (the fault tests; adding a machine) ----------------------------------
def _worker_state(root: Path, name: str) -> ClusterState:
    state = ClusterState.load(root.resolve())
    if state is None or name not in state.workers:
        raise ClusterError(f"no worker {name} under {root}")
    return state


def start_worker(root: Path, name: str, *, extra_env: Mapping[str, str] | None = None) -> None:
    """(Re)start one worker of a running cluster, with ``extra_env`` on top of its own."""
    from crimewh.warehouse.stack import StackState

    root = root.resolve()
    state = _worker_state(root, name)
    if name in state.pids and _alive(state.pids[name]):
        raise ClusterError(f"{name} is running: stop it first")
    stack_state = StackState.load(control_dir(root) / "data")
    endpoints = Endpoints(
        postgres=f"127.0.0.1:{stack_state.postgres_port}",
        redis=f"127.0.0.1:{state.redis_port}",
        s3=f"http://127.0.0.1:{stack_state.moto_port}",
        api=state.api_url,
    )
    environment = process_environments(root, state, endpoints, Path(state.project_dir))[name]
    with _log(root, name).open("a") as log:  # a restart's "ready" must be its own
        log.write(f"-- restarted at {time.time():.0f}\n")
    offset = _log(root, name).stat().st_size
    state.pids[name] = _start(
        commands(state)[name], {**environment, **(extra_env or {})}, _log(root, name),
        cwd=_home(root, name),
    )  # fmt: skip
    state.save()
    _wait_ready(name, state, root, offset=offset)


def stop_worker(root: Path, name: str) -> None:
    """Stop one worker warm (SIGTERM: Celery finishes what it runs, then exits)."""
    from crimewh.processes import stop_process_group

    state = _worker_state(root, name)
    if name in state.pids:
        stop_process_group(state.pids[name], timeout=60)


def kill_worker(root: Path, name: str) -> list[int]:
    """SIGKILL a worker and every process under it, as a machine that loses power; the pids.

    The whole tree, not just the process group: a task's own process may have left it.
    """
    import psutil

    state = _worker_state(root, name)
    pid = state.pids[name]
    from crimewh.processes import group_members

    victims = set(group_members(pid))
    with contextlib.suppress(psutil.NoSuchProcess):
        victims |= {child.pid for child in psutil.Process(pid).children(recursive=True)}
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    return sorted(victims)


def worker_processes(root: Path, name: str) -> list:
    """The live processes under a worker (psutil), the task processes among them."""
    import psutil

    state = _worker_state(root, name)
    try:
        return psutil.Process(state.pids[name]).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
