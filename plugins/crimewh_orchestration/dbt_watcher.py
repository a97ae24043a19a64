"""A settling delay for cosmos' watcher sensors, against a race in Airflow 3.3's scheduler.

A watcher sensor defers to the triggerer; when its model finishes right after, the trigger
fires within a second and the scheduler queues the task again. The worker's report that the
first try's process ended (after it deferred) can arrive after that, and the scheduler then
takes the queued task for one "killed externally" and fails it (apache/airflow#66374,
#71580: the guard in ``_process_executor_events`` covers a task put back to *scheduled*, not
one already *queued* again). Holding each trigger's event until a few seconds after it
started lets the scheduler read the stale report first. Waiting costs nothing on the
warehouse: the sensors only watch the one `dbt build`.

Imported by ``dag_support.dbt_task_group`` (in the DAG processor and in every task that
parses the DAG) and, through the serialized class path, by the triggerer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cosmos.operators._watcher import base as watcher_base
from cosmos.operators._watcher.triggerer import WatcherTrigger

SETTLE_SECONDS = 5.0  # several scheduler loops (about 1 s each), also on a busy machine


class SettledWatcherTrigger(WatcherTrigger):
    """cosmos' ``WatcherTrigger`` that delivers no event in its first ``SETTLE_SECONDS``."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{__name__}.{type(self).__name__}", kwargs

    async def run(self):
        started = time.monotonic()
        async for event in super().run():
            await asyncio.sleep(max(0.0, SETTLE_SECONDS - (time.monotonic() - started)))
            yield event


def use_settled_trigger() -> None:
    """Make cosmos' consumer sensors defer to ``SettledWatcherTrigger``.

    cosmos builds its trigger by name inside ``_watcher.base``; replacing that name is the
    one place it can be changed without copying the sensor classes. Idempotent.
    """
    watcher_base.WatcherTrigger = SettledWatcherTrigger
