"""Named points where a fault test can stop this process, to kill it exactly there.

``CRIMEWH_FAILPOINT=load.before_swap`` makes the process send itself SIGSTOP when it reaches
that point; the test sees it stopped, then sends SIGKILL (or SIGCONT, to let it go on while
another run waits). Timing-free, so the same stage is hit on a fast machine and a busy one.
Unset, a point costs one string comparison.

The points, in the order a NIBRS ingest passes them: ``ingest.decode`` (the decoder has
written its first block), ``lake.between_tables`` (one table staged in the lake, the others
not), ``load.after_first_copy``, ``load.before_swap`` (every COPY done, nothing swapped or
committed), ``ingest.before_publish`` (the warehouse committed, the lake not yet published).
A Chicago pull: ``chicago.fetching`` (one page staged), ``chicago.fetched``,
``chicago.in_lake``, ``chicago.loaded`` (loaded, the watermark not yet saved).
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)


def reached(settings, name: str) -> None:
    if settings.failpoint == name:
        log.warning("failpoint %s: stopping process %d", name, os.getpid())
        os.kill(os.getpid(), signal.SIGSTOP)
