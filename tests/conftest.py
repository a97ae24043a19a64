"""What the suite shares: fixtures, the real servers it starts, and its process hygiene.

Every server a test starts takes a free port and is stopped when its fixture ends, pass or
fail. As a safety net the pytest process becomes the "subreaper" of everything it starts
(Linux), so a daemon that escaped its fixture is still found: the session fails if any
process it started is alive at the end, naming it, after killing it.
"""

import contextlib
import ctypes
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from crimewh.processes import free_port
from crimewh.settings import Settings
from testkit.zipwriter import write_zip

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL_SAMPLE = FIXTURES / "nibrs_2021_sample_lines.txt"
# Tests that use these need real servers (PostgreSQL, moto, Airflow): `make test-fast` skips
# them. Everything else is a unit test.
INTEGRATION_FIXTURES = {"warehouse", "s3_endpoint", "airflow"}
PR_SET_CHILD_SUBREAPER = 36
# helpers of the pytest process itself, which end with it (they read a pipe it holds)
OWN_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "integration: starts real servers (the embedded stack, moto, Airflow)"
    )
    config.addinivalue_line(
        "markers", "cluster: the multi-machine topology as processes (make test-slow)"
    )
    config.addinivalue_line(
        "markers", "installed: the wheel installed in a fresh venv (make test-slow)"
    )
    config.addinivalue_line(
        "markers", "slow: a whole end-to-end run of minutes (make test-slow, which CI runs too)"
    )
    with contextlib.suppress(OSError, AttributeError):  # Linux only; elsewhere no safety net
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def pytest_collection_modifyitems(items):
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


# Tables a module wants a reader to see (the fault suite's cases by invariants): lines kept
# here and printed in the terminal summary, where pytest's output capture does not reach.
SUMMARY_TABLES = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter, config):
    lines = config.stash.get(SUMMARY_TABLES, [])
    if lines:
        terminalreporter.section("what the fault suite tried")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session):
    """Fail the session if a process it started outlived it (after killing it)."""
    leftovers = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.status() == psutil.STATUS_ZOMBIE:
                child.wait(timeout=1)  # ended; only its exit status was left to collect
                continue
            command = " ".join(child.cmdline())
            if any(helper in command for helper in OWN_HELPERS):
                continue
            leftovers.append(f"{child.pid} {command[:160]}")
            child.kill()
    if leftovers:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                "processes started by the tests were still alive at the end (killed now):",
                red=True,
            )
            for line in leftovers:
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def sample_bytes() -> bytes:
    """14 real master-file lines of 2021, every record type; trailing blanks significant."""
    return REAL_SAMPLE.read_bytes()


@pytest.fixture
def make_zip(tmp_path):
    """Write a one-member master-file zip into tmp_path and return its path."""

    def make(
        text: bytes,
        *,
        name: str = "nibrs-2021.zip",
        member: str = "2021_NIBRS_NATIONAL_MASTER_FILE_ENC.txt",
        deflate64: bool = False,
    ) -> Path:
        path = tmp_path / name
        write_zip(path, member, [text], deflate64=deflate64)
        return path

    return make


def read_rows(out: Path, segment: str) -> list[dict]:
    """Every part of a decoded segment, in file order."""
    return pq.read_table(out / segment).sort_by("line_number").to_pylist()


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """One moto server for the whole session, spoken to over HTTP like any S3."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"moto server did not start on {endpoint}; see {log.name}")
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@dataclass(frozen=True)
class Warehouse:
    """The embedded stack the tests share: a real PostgreSQL over TCP with passwords."""

    settings: Settings  # warehouse_url set, a fresh data folder, a file:// lake
    url: str  # the pipeline role
    analyst_url: str
    admin_url: str  # the superuser, for tests that must look behind the roles


@pytest.fixture(scope="session")
def warehouse():
    """`crimewh stack up` once per session in a temporary data folder; `down` at the end.

    Not under pytest's own temporary folder: as root the server runs as another user, and
    pytest makes that folder private again whenever a second session starts, which would
    lock the server out of its own files.
    """
    from crimewh.warehouse import stack

    data_dir = Path(tempfile.mkdtemp(prefix="crimewh-test-warehouse-"))
    environ = {"CRIMEWH_DATA_DIR": str(data_dir)}
    try:
        stack.up(Settings.load(environ), echo=lambda _: None)
        settings = Settings.load(environ)
        state = stack.StackState.load(data_dir)
        yield Warehouse(
            settings=settings,
            url=settings.warehouse_url,
            analyst_url=state.url(stack.ANALYST_ROLE),
            admin_url=state.url(stack.SUPERUSER),
        )
    finally:
        stack.down(Settings.load(environ), echo=lambda _: None)
        shutil.rmtree(data_dir, ignore_errors=True)


# -- mail, one SMTP server for the whole session ---------------------------------------------
class MailSink:
    """An aiosmtpd handler that keeps every mail it is sent, parsed."""

    def __init__(self):
        self.messages: list = []
        self.port = free_port()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def environment(self) -> dict[str, str]:
        """The settings that make the mailer (crimewh.notify) send here."""
        return {
            "CRIMEWH_SMTP_HOST": "127.0.0.1", "CRIMEWH_SMTP_PORT": str(self.port),
            "CRIMEWH_SMTP_TLS": "none", "CRIMEWH_SMTP_FROM": "crimewh@crimewh.test",
            "CRIMEWH_SMTP_TO": "ops@crimewh.test",
        }  # fmt: skip

    def wait_for(self, text: str, *, timeout: float = 60):
        """The first mail whose subject holds ``text``, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages if text in m["Subject"]]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                subjects = [m["Subject"] for m in self.messages]
                pytest.fail(f"no mail about {text!r} arrived; subjects: {subjects}")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def smtp_sink():
    """A real SMTP server (aiosmtpd, in a thread) on a free port, for the whole session: every
    process given ``smtp_sink.environment()`` mails here (Airflow's tasks included)."""
    from aiosmtpd.controller import Controller

    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# -- Airflow, one for the whole session ------------------------------------------------------
@dataclass(frozen=True)
class Airflow:
    """A running `airflow standalone` (scheduler, API server, DAG processor, triggerer) on
    the shared warehouse, spoken to over its REST API the way the UI does."""

    settings: Settings  # its own data folder: lake, landing area, Chicago state, runs
    base: str  # http://localhost:PORT
    headers: dict
    extra_env: dict  # what its processes run with beyond the settings
    chicago: object  # the local SODA server the nightly pulls from

    def request(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        for key, value in self.headers.items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def trigger(self, dag_id: str, conf: dict | None = None):
        """POST a run, as the UI's Trigger button does; (status, body). Unpauses the DAG
        (they are created paused here, so nothing runs that a test did not start)."""
        status, body = self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        assert status == 200, body
        body = {"logical_date": None} if conf is None else {"logical_date": None, "conf": conf}
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)

    def wait(self, dag_id: str, run_id: str, *, timeout: float = 600) -> str:
        """The run's final state; fails the test with the task states if it takes too long."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")[1]["state"]
            if state in ("success", "failed"):
                return state
            if time.monotonic() > deadline:
                pytest.fail(f"{dag_id} {run_id} still {state}: {self.task_states(dag_id, run_id)}")
            time.sleep(3)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=500"
        instances = self.request("GET", path)[1]["task_instances"]
        return {
            ti["task_id"] + (f"[{ti['map_index']}]" if ti.get("map_index", -1) >= 0 else ""):
            ti["state"] for ti in instances
        }  # fmt: skip


@pytest.fixture(scope="session")
def airflow(warehouse, smtp_sink):
    """One Airflow for every DAG test, on free ports, stopped (all of it) however they end.
    Its tasks mail to the session's SMTP sink."""
    from crimewh.warehouse import stack
    from crimewh_orchestration import airflow_runtime
    from testkit.chicago_synth import synthesize as synthesize_chicago
    from testkit.soda_server import Dataset, SodaServer

    data_dir = Path(tempfile.mkdtemp(prefix="crimewh-test-airflow-"))
    state = stack.StackState.load(warehouse.settings.data_dir)
    extra_env = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": state.url(
            stack.AIRFLOW_ROLE, stack.AIRFLOW_DB
        ).replace("postgresql://", "postgresql+psycopg2://"),
        "CRIMEWH_TASK_RETRIES": "0",  # a retry would only hide the error here
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }
    chicago = SodaServer(Dataset.from_wire_table(synthesize_chicago(3_000, seed=5).table))
    chicago.start()
    settings = Settings.load({
        "CRIMEWH_DATA_DIR": str(data_dir), "CRIMEWH_WAREHOUSE_URL": warehouse.url,
        "CRIMEWH_SODA_DOMAIN": chicago.domain, **smtp_sink.environment(),
    })  # fmt: skip
    try:
        report = airflow_runtime.up(
            settings, port=free_port(), extra_env=extra_env, echo=lambda _: None
        )
        base = report["url"]
        password = airflow_runtime.admin_password(settings)
        login = urllib.request.Request(
            f"{base}/auth/token", method="POST",
            data=json.dumps({"username": "admin", "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(login, timeout=30) as response:
            token = json.load(response)["access_token"]
        instance = Airflow(settings, base, {"Authorization": f"Bearer {token}"}, extra_env,
                           chicago)  # fmt: skip
        deadline = time.monotonic() + 180  # the DAG processor must have serialized the DAGs
        dag_files = len(list(settings.dags_dir.glob("*.py")))  # one DAG per file
        while (instance.request("GET", "/api/v2/dags?limit=100")[1].get("total_entries", 0)
               < dag_files):  # fmt: skip
            assert time.monotonic() < deadline, "the DAGs never appeared in the API"
            time.sleep(2)
        yield instance
    finally:
        airflow_runtime.down(settings, echo=lambda _: None, stack_too=False)
        chicago.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


# -- a real browser ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium():
    """Debian's chromium driven by Playwright (its own browser download cannot work here)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: `make system-deps` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            browser.close()
