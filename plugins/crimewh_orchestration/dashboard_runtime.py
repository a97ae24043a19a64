"""The dashboard on this machine: `crimewh dashboard up` / `down` (`make dashboard`, and
part of `make up` / `make down`).

Streamlit runs in the project folder's ``dashboard/``, whose ``.streamlit/config.toml``
keeps it offline (no usage statistics) and on 127.0.0.1, in a process group of its own that
outlives the command; ``<data>/dashboard/dashboard.json`` keeps its pid and port for ``down``.
The app reads the warehouse as the analyst role only (``CRIMEWH_ANALYST_URL``, or the
embedded stack's), which reaches it through the same settings environment as every child.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from crimewh.processes import (
    free_port,
    port_is_free,
    process_alive,
    stop_process_group,
    wait_until_answers,
)
from crimewh.settings import Settings

DEFAULT_PORT = 8501  # Streamlit's own
STATE_FILE = "dashboard.json"


class DashboardError(Exception):
    """The dashboard could not be started; the message says where to look."""


def home(settings: Settings) -> Path:
    return settings.data_dir / "dashboard"


def app_dir(settings: Settings) -> Path:
    return settings.require_project_dir() / "dashboard"


def command(settings: Settings, port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(app_dir(settings) / "app.py"),
        "--server.port", str(port),
        # the config file says the same; the command line wins over any user-wide config
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.headless", "true",
    ]  # fmt: skip


def environment(settings: Settings) -> dict[str, str]:
    import os

    return {**os.environ, **settings.as_environment(), "PYTHONUNBUFFERED": "1"}


def up(settings: Settings, *, port: int | None = None, echo=print) -> dict:
    """Start the dashboard in the background (idempotent) and wait until it answers."""
    if settings.embedded_warehouse:
        from crimewh.warehouse import stack

        stack.up(settings, echo=echo)
        settings = Settings.load(settings.as_environment())  # with the stack's analyst URL
    state = _state(settings)
    if state.get("pid") and process_alive(state["pid"]):
        echo(f"dashboard: already running (pid {state['pid']})")
        return _report(settings, state["port"])
    if port is None:
        port = DEFAULT_PORT if port_is_free(DEFAULT_PORT) else free_port()
    elif not port_is_free(port):
        raise DashboardError(f"port {port} is taken: stop what listens there, or pick another")
    folder = home(settings)
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "streamlit.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command(settings, port),
            env=environment(settings),
            cwd=app_dir(settings),  # where Streamlit finds .streamlit/config.toml
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this command; `down` stops the whole group
        )
    (folder / STATE_FILE).write_text(json.dumps({"pid": process.pid, "port": port}))
    echo(f"dashboard: starting (pid {process.pid}); log in {log_path}")
    try:
        wait_healthy(port, process=process, log=log_path)
    except BaseException:
        down(settings, echo=echo)
        raise
    return _report(settings, port)


def down(settings: Settings, *, echo=print) -> None:
    """Stop the dashboard and return once every process of its group is gone."""
    state = _state(settings)
    pid = state.get("pid")
    if pid and process_alive(pid):
        killed = stop_process_group(pid, timeout=15)
        echo("dashboard: stopped" + (" (killed after 15 s)" if killed else ""))
    (home(settings) / STATE_FILE).unlink(missing_ok=True)


def status(settings: Settings) -> dict:
    state = _state(settings)
    running = bool(state.get("pid")) and process_alive(state["pid"])
    report = {"dashboard": "running" if running else "stopped", **state}
    if running:
        report["url"] = url(state["port"])
    return report


def url(port: int) -> str:
    return f"http://localhost:{port}"


def wait_healthy(port: int, *, process=None, log: Path | None = None, timeout: float = 60):
    """Until Streamlit's health endpoint answers ``ok``."""
    health = f"http://127.0.0.1:{port}/_stcore/health"

    def ok():
        with urllib.request.urlopen(health, timeout=2) as response:
            return True if response.read().strip() == b"ok" else None

    wait_until_answers(ok, what=f"the dashboard on port {port}", error=DashboardError,
                       process=process, log=log, timeout=timeout)  # fmt: skip


def _report(settings: Settings, port: int) -> dict:
    return {"url": url(port), "log": str(home(settings) / "streamlit.log")}


def _state(settings: Settings) -> dict:
    path = home(settings) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}
