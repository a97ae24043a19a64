"""The one wait every server start uses (Airflow, the dashboard, the service)."""

import subprocess
import sys

import pytest

from crimewh.processes import wait_until_answers


class NotUpError(Exception):
    pass


def test_refusals_are_waited_out_and_the_answer_returned():
    tries = []

    def check():
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionRefusedError  # not listening yet
        return {"status": "healthy"}

    answer = wait_until_answers(check, what="x", error=NotUpError, timeout=10, interval=0.01)
    assert answer == {"status": "healthy"}
    assert len(tries) == 3


def test_a_server_that_exits_is_reported_with_its_log():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    with pytest.raises(NotUpError, match=r"the dashboard exited \(3\); see /tmp/d.log"):
        wait_until_answers(lambda: None, what="the dashboard", error=NotUpError,
                           process=process, log="/tmp/d.log", timeout=10)  # fmt: skip


def test_no_answer_in_time_names_what_and_where():
    with pytest.raises(NotUpError, match="airflow on port 1 did not answer in 0 s; see L"):
        wait_until_answers(lambda: None, what="airflow on port 1", error=NotUpError, log="L",
                           timeout=0.1, interval=0.02)  # fmt: skip
