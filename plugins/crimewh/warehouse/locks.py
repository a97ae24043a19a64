"""One run per partition at a time, across processes and machines: PostgreSQL advisory locks.

Two ingests of one NIBRS year (a backfill from the UI beside a shell, or two Celery workers)
would otherwise both decode, both stage and race to swap the same raw partitions; the loser
crashed and the winner's report could name a file it did not load. The lock is a session
lock on its own connection, held for the whole run: if the process dies, PostgreSQL ends
the session and the lock goes with it, so a killed run never blocks the next one.

The connection's ``application_name`` says who holds the lock (what, which process, which
machine), and a run that has to wait says so, naming the holder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator

POLL_SECONDS = 1.0


class PartitionBusyError(Exception):
    """Another run held the partition for longer than this run would wait."""


def lock_key(source: str, partition: str) -> int:
    """A stable signed 64-bit key per (source, partition), the same on every machine."""
    digest = hashlib.blake2b(f"crimewh:{source}:{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def partition_lock(
    settings,
    source: str,
    partition: str,
    *,
    purpose: str,
    echo: Callable[[str], None] = print,
) -> Iterator[None]:
    """Hold ``(source, partition)`` for the block; wait up to ``settings.lock_wait_seconds``."""
    import psycopg2

    key = lock_key(source, partition)
    name = f"crimewh {purpose} (pid {os.getpid()} on {socket.gethostname()})"[:63]
    conn = psycopg2.connect(settings.require_warehouse_url(), application_name=name)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            _acquire(cur, key, settings.lock_wait_seconds, f"{source} {partition}", echo)
        yield
    finally:
        conn.close()  # ends the session, which releases the lock


def _acquire(cur, key: int, wait_seconds: int, what: str, echo) -> None:
    deadline = time.monotonic() + wait_seconds
    announced = None
    while True:
        cur.execute("select pg_try_advisory_lock(%s)", (key,))
        if cur.fetchone()[0]:
            if announced:
                echo(f"{what}: the other run finished; going on")
            return
        holder = _holder(cur, key) or "a run that is just finishing"
        if holder != announced:
            echo(
                f"{what} is being written by {holder}; waiting for it (at most "
                f"{wait_seconds:,} s, CRIMEWH_LOCK_WAIT_SECONDS)"
            )
            announced = holder
        if time.monotonic() >= deadline:
            raise PartitionBusyError(
                f"{what} is still being written by {holder} after {wait_seconds:,} s: let "
                "that run finish (or stop it), then run this again"
            )
        time.sleep(POLL_SECONDS)


def _holder(cur, key: int) -> str | None:
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    cur.execute(
        "select a.application_name, a.pid, a.backend_start, a.client_addr "
        "from pg_locks l join pg_stat_activity a on a.pid = l.pid "
        "where l.locktype = 'advisory' and l.granted and l.classid = %s and l.objid = %s "
        "and l.objsubid = 1",
        (unsigned >> 32, unsigned & 0xFFFF_FFFF),
    )
    row = cur.fetchone()
    if row is None:
        return None
    application, pid, started, client = row
    where = f" from {client}" if client else ""
    return f"{application or 'another client'} (server pid {pid}{where}, since {started:%H:%M:%S})"
