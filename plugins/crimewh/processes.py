"""Processes and ports: what the embedded stack, Airflow and the local servers share.

Servers that must outlive the command that starts them (PostgreSQL, moto, Airflow) run in a
process group of their own, so that stopping one stops everything it started, and stopping
waits until the last of them is gone rather than returning while they still hold ports and
files.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as servers do: a port whose last connections linger in TIME_WAIT is free to them
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group; zombies of ours are reaped."""
    import psutil

    members = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) != pgid:
                continue
        except (ProcessLookupError, PermissionError):
            continue
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            _reap(process.pid)
            continue
        members.append(process.pid)
    return members


def stop_process_group(pgid: int, *, timeout: float = 30.0) -> bool:
    """SIGTERM the group, wait for every member to exit, SIGKILL what is left.

    Returns True when the group had to be killed. Returns only once no member is alive: a
    caller that starts the same servers again right after must not find them still holding
    their ports, files or database connections.
    """
    if not _signal_group(pgid, signal.SIGTERM):
        return False
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            _signal_group(pgid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 10
            while group_members(pgid) and time.monotonic() < kill_deadline:
                time.sleep(0.1)
            return True
        time.sleep(0.2)
    return False


def wait_until_answers(check, *, what: str, error: type[Exception], process=None, log=None,
                       timeout: float, interval: float = 0.3):  # fmt: skip
    """Poll ``check()`` until it returns something other than None (an ``OSError``, such as
    a refused connection, counts as not yet), and return that. Raise ``error`` naming
    ``what`` and its log if the server's ``process`` exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise error(f"{what} exited ({process.returncode}); see {log}")
        with contextlib.suppress(OSError):
            answer = check()
            if answer is not None:
                return answer
        time.sleep(interval)
    raise error(f"{what} did not answer in {timeout:.0f} s; see {log}")


def _signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child: its parent reaps it
        os.waitpid(pid, os.WNOHANG)
