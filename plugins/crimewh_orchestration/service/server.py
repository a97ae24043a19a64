"""Running the service: uvicorn in the foreground (`crimewh serve`), or in the background for
`make up` (`crimewh serve up`, stopped by `crimewh serve down`, which `make down` runs).

**Access.** Without ``CRIMEWH_API_TOKEN`` the service listens on a loopback address only;
asked to listen anywhere else it refuses to start. With a token, ``predict`` and ``upload``
need it as ``Authorization: Bearer …``. The token is compared and never printed; uvicorn's
access log has the request line, which never holds it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from crimewh.processes import (
    free_port,
    port_is_free,
    process_alive,
    stop_process_group,
    wait_until_answers,
)

if TYPE_CHECKING:
    from crimewh.settings import Settings

STATE_FILE = "service.json"
START_TIMEOUT_S = 90


class ServiceError(Exception):
    """The service cannot start or be reached; the message says what to do."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_access(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without a token (before anything listens)."""
    if not token and not is_loopback(host):
        raise ServiceError(
            f"refusing to listen on {host} without an API token: anyone who reaches it could "
            "score and upload. Set CRIMEWH_API_TOKEN (clients then send Authorization: "
            "Bearer <token>), or listen on 127.0.0.1"
        )


def run(settings: Settings, *, host: str, port: int) -> None:
    """Serve in this process until interrupted (one worker: the models load once)."""
    import uvicorn

    from crimewh_orchestration.service.app import create_app

    check_access(host, settings.api_token)
    # XGBoost on one thread unless told otherwise: a request's few rows gain nothing from a
    # second one, and each request thread would start an OpenMP team of its own that spins
    # against the others (one-record p50 went from 14 ms to 163 ms with two on a busy host)
    if "CRIMEWH_ML_NTHREAD" not in os.environ:
        settings = dataclasses.replace(settings, ml_nthread=1)
    config = uvicorn.Config(
        create_app(settings), host=host, port=port, workers=1, log_level="info",
        server_header=False, timeout_graceful_shutdown=10,
    )  # fmt: skip
    uvicorn.Server(config).run()


def folder(settings: Settings) -> Path:
    return settings.data_dir / "service"


def _state(settings: Settings) -> dict:
    path = folder(settings) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def up(settings: Settings, *, host: str, port: int | None = None, echo=print) -> dict:
    """Start the service in the background (idempotent) and wait until it answers."""
    check_access(host, settings.api_token)
    state = _state(settings)
    if state.get("pid") and process_alive(state["pid"]):
        echo(f"service: already running (pid {state['pid']})")
        return state
    if port is None:
        port = settings.service_port if port_is_free(settings.service_port) else free_port()
    elif not port_is_free(port):
        raise ServiceError(f"port {port} is taken: stop what listens there, or pick another")
    home = folder(settings)
    home.mkdir(parents=True, exist_ok=True)
    log = home / "service.log"
    command = [sys.executable, "-m", "crimewh_orchestration.cli", "serve", "run", "--host", host,
               "--port", str(port)]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, **settings.as_environment(), **_secrets(settings)},
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this command; `down` stops its whole group
        )  # fmt: skip
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    state = {"pid": process.pid, "host": host, "port": port, "url": f"http://{shown}:{port}",
             "log": str(log)}  # fmt: skip
    (home / STATE_FILE).write_text(json.dumps(state))
    try:
        wait_ready(state["url"], process=process, log=log)
    except BaseException:
        down(settings, echo=lambda _: None)
        raise
    echo(f"service: {state['url']} (upload page; API docs at {state['url']}/docs); log {log}")
    return state


def _secrets(settings: Settings) -> dict[str, str]:
    # as_environment leaves the token out (tasks have no use for it); the server needs it
    return {"CRIMEWH_API_TOKEN": settings.api_token} if settings.api_token else {}


def down(settings: Settings, *, echo=print) -> None:
    state = _state(settings)
    pid = state.get("pid")
    if pid and process_alive(pid):
        killed = stop_process_group(pid, timeout=15)
        echo("service: stopped" + (" (killed after 15 s)" if killed else ""))
    (folder(settings) / STATE_FILE).unlink(missing_ok=True)


def status(settings: Settings) -> dict:
    state = _state(settings)
    running = bool(state.get("pid")) and process_alive(state["pid"])
    return {"service": "running" if running else "stopped", **state}


def wait_ready(url: str, *, process=None, log: Path | None = None,
               timeout: float = START_TIMEOUT_S) -> None:  # fmt: skip
    """Until ``/health`` answers at all (503 included: a service without models is up)."""

    def answers():
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5):
                return True
        except urllib.error.HTTPError:  # an answer all the same
            return True

    wait_until_answers(answers, what=f"the service on {url}", error=ServiceError,
                       process=process, log=log, timeout=timeout)  # fmt: skip
