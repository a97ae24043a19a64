"""Airflow's REST API, as the UI uses it: log in, trigger a run, follow it, read its tasks.

The service triggers the scoring of an upload this way, and the benchmarks and tests run the
DAGs this way, so that all of them go through the same door as a person at the UI.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime


class AirflowApiError(Exception):
    """The API refused a request or a run did not finish in time; the message says which."""


@dataclass
class AirflowClient:
    base: str  # http://localhost:8080
    username: str
    password: str
    timeout: float = 60.0
    _token: str | None = field(default=None, repr=False)

    def request(self, method: str, path: str, body: object | None = None) -> tuple[int, dict]:
        """(status, JSON body); an HTTP error's status and body are returned, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {self.token()}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def token(self) -> str:
        if self._token is None:
            login = urllib.request.Request(
                f"{self.base}/auth/token",
                method="POST",
                data=json.dumps({"username": self.username, "password": self.password}).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(login, timeout=self.timeout) as response:
                    self._token = json.load(response)["access_token"]
            except (urllib.error.HTTPError, KeyError) as error:
                raise AirflowApiError(
                    f"{self.base} refused the login of {self.username!r} ({error}): is this "
                    "the Airflow of this data folder? `crimewh airflow status` says where it runs"
                ) from None
        return self._token

    def wait_for_dags(self, dag_ids: set[str], *, timeout: float = 180) -> None:
        """Until the DAG processor has serialized these DAGs (after a start)."""
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.request("GET", "/api/v2/dags?limit=100")
            found = {dag["dag_id"] for dag in body.get("dags", [])} if status == 200 else set()
            if dag_ids <= found:
                return
            if time.monotonic() > deadline:
                raise AirflowApiError(f"the DAGs {sorted(dag_ids - found)} never appeared")
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict | None = None, *, unpause: bool = True):
        """POST a run, as the UI's Trigger button does; (status, body)."""
        if unpause:
            status, body = self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            if status != 200:
                raise AirflowApiError(f"could not unpause {dag_id}: {status} {body}")
        body = {"logical_date": None} if conf is None else {"logical_date": None, "conf": conf}
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")[1]["state"]

    def wait(self, dag_id: str, run_id: str, *, timeout: float = 600) -> str:
        """The run's final state (success or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            if time.monotonic() > deadline:
                raise AirflowApiError(f"{dag_id} {run_id} is still {state} after {timeout:.0f}s")
            time.sleep(3)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000"
        return self.request("GET", path)[1]["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """task id (with ``[i]`` for a mapped one) -> state."""
        return {
            ti["task_id"] + (f"[{ti['map_index']}]" if ti.get("map_index", -1) >= 0 else ""):
            ti["state"] for ti in self.task_instances(dag_id, run_id)
        }  # fmt: skip


def span_seconds(task_instances: list[dict]) -> float:
    """From the first task's start to the last one's end."""
    starts = [_moment(ti["start_date"]) for ti in task_instances if ti.get("start_date")]
    ends = [_moment(ti["end_date"]) for ti in task_instances if ti.get("end_date")]
    return (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
