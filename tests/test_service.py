"""The prediction service over HTTP: uvicorn on a free port (`crimewh serve`), the session's
Airflow running the batch jobs, an aiosmtpd server receiving the mails.

The champions are stand-ins (``testkit.stand_in_models``: real boosters on the real feature
definitions, trained in seconds) saved through the real registry in Airflow's lake, so the
service, `crimewh score --file` and the DAG's task all load the same ones.
"""

import csv
import io
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg2
import pytest

from crimewh import notify
from crimewh.processes import free_port, stop_process_group
from crimewh.settings import Settings
from crimewh_orchestration.workspace import ml_workspace
from ml.features import api_field
from testkit.chicago_synth import synthesize
from testkit.crimes_csv import PORTAL_HEADER, portal_rows
from testkit.stand_in_models import register_arrest, register_clearance

UPLOAD_LIMIT_MB = 1  # small, so the 413 test sends little
TOKEN = "s3cret-token-for-the-tests"
FORMULA = '=HYPERLINK("http://evil.example","click")'


# -- servers -------------------------------------------------------------------------------------
def start_service(env: dict, log: Path, *, host: str = "127.0.0.1") -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "crimewh_orchestration.cli", "serve", "run", "--host", host,
         "--port", str(port)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/health", timeout=5)
            return process, base
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_process_group(process.pid)
                pytest.fail(f"the service did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)


@pytest.fixture(scope="module")
def champions(airflow):
    """Stand-in champions in Airflow's lake; the previous champions come back afterwards."""
    from ml.registry import Registry

    registry = Registry(ml_workspace(airflow.settings))
    before = {name: registry.champion(name) for name in ("arrest", "clearance")}
    versions = {
        "arrest": register_arrest(airflow.settings),
        "clearance": register_clearance(airflow.settings),
    }
    yield versions
    for name, record in before.items():
        if record:
            registry.set_champion(name, record)
        else:
            registry.fs.delete_file(f"{registry.base}/{name}/champion.json")


@pytest.fixture(scope="module")
def service_env(airflow, smtp_sink):
    environment = {**airflow.settings.as_environment(), **smtp_sink.environment()}
    return {**os.environ, **environment, "CRIMEWH_UPLOAD_MAX_MB": str(UPLOAD_LIMIT_MB)}


@pytest.fixture(scope="module")
def service(service_env, champions, tmp_path_factory):
    log = tmp_path_factory.mktemp("service") / "service.log"
    process, base = start_service(service_env, log)
    try:
        yield base
    finally:
        stop_process_group(process.pid)


@pytest.fixture(scope="module")
def crimes_csv(tmp_path_factory) -> Path:
    """300 synthetic crimes as the portal exports them, a formula in one cell, one bad row."""
    table = synthesize(300, seed=21, years=(2024, 2025)).table
    rows = portal_rows(table)
    rows[3][list(PORTAL_HEADER).index("block")] = FORMULA
    bad = list(rows[5])
    bad[list(PORTAL_HEADER).index("date")] = "yesterday"
    folder = tmp_path_factory.mktemp("crimes")
    path = folder / "crimes.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PORTAL_HEADER.values())
        writer.writerows([*rows, bad])
    return path


def score_file(settings: Settings, path: Path, out: Path) -> bytes:
    """`crimewh score arrest --file`, as a person runs it; the scored CSV's bytes."""
    done = subprocess.run(
        [sys.executable, "-m", "crimewh_orchestration.cli", "score", "arrest", "--file", str(path),
         "--out", str(out)],
        env={**os.environ, **settings.as_environment()}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return out.read_bytes()


def api_records(path: Path) -> list[dict]:
    """The CSV's rows as the API takes them: API field names, text values."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [{api_field(k) or k: v for k, v in row.items()} for row in csv.DictReader(handle)]


# -- health, models, docs ------------------------------------------------------------------------
def test_health_models_and_docs(service, champions):
    health = httpx.get(f"{service}/health")
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["status"] == "ok"
    assert body["warehouse"]["ok"]
    assert body["lake"]["ok"]
    assert body["models"]["arrest"]["detail"] == f"champion {champions['arrest']}"

    listed = {m["name"]: m for m in httpx.get(f"{service}/v1/models").json()}
    assert listed["clearance"]["champion"] == champions["clearance"]
    detail = httpx.get(f"{service}/v1/models/arrest").json()
    assert detail["champion"]["version"] == champions["arrest"]
    assert any(v["version"] == champions["arrest"] and v["champion"] for v in detail["versions"])
    assert 0.5 < detail["metrics"]["test_auc"] <= 1
    assert detail["card"].startswith(f"# Model card: arrest ({champions['arrest']})")

    missing = httpx.get(f"{service}/v1/models/burglary")
    assert missing.status_code == 404
    assert "clearance, arrest" in missing.json()["detail"]
    paths = httpx.get(f"{service}/openapi.json").json()["paths"]
    assert {"/health", "/v1/models/{name}/predict", "/v1/uploads"} <= set(paths)
    assert httpx.get(f"{service}/docs").status_code == 200


def test_the_upload_page_has_no_external_assets(service):
    page = httpx.get(f"{service}/").text
    assert '<form method="post" action="/v1/uploads" enctype="multipart/form-data">' in page
    for external in ("<script", "<link", "src=", "@import", "url("):
        assert external not in page
    assert "at most 1 MB" in page  # the limit from the settings


# -- predict ------------------------------------------------------------------------------------
def test_predictions_equal_crimewh_score_file_to_the_last_bit(service, airflow, crimes_csv,
                                                              tmp_path):  # fmt: skip
    from ml.csv_scoring import score_rows
    from ml.registry import Registry

    scored = list(csv.DictReader(io.StringIO(
        score_file(airflow.settings, crimes_csv, tmp_path / "out.csv").decode())))  # fmt: skip
    records = api_records(crimes_csv)
    response = httpx.post(f"{service}/v1/models/arrest/predict", json={"records": records},
                          timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    predictions = body["predictions"]
    assert body["records"] == len(records) == len(scored)
    assert body["model_version"] == scored[0]["model_version"]
    # the CLI writes six decimals; in process, the function both call gives the full floats
    same_code = score_rows(
        Registry(ml_workspace(airflow.settings)).load_champion("arrest"), records
    )
    for prediction, row, expected in zip(predictions, scored, same_code, strict=True):
        assert prediction["probability"] == expected.probability  # bit for bit
        if expected.probability is None:
            assert row["arrest_probability"] == ""
            assert "; ".join(e["message"] for e in prediction["errors"]) == row["error"]
        else:
            assert f"{prediction['probability']:.6f}" == row["arrest_probability"]
            assert len(prediction["contributions"]) == 3
    assert predictions[-1]["errors"][0]["field"] == "date"  # the bad row, its field named
    assert body["scored"] == sum(1 for row in scored if row["arrest_probability"])

    # MLflow's dataframe_split: the same rows, the same numbers
    columns = list(records[0])
    split = {"dataframe_split": {"columns": columns,
                                 "data": [[r[c] for c in columns] for r in records]}}  # fmt: skip
    again = httpx.post(f"{service}/v1/models/arrest/predict", json=split, timeout=60).json()
    assert [p["probability"] for p in again["predictions"]] == [
        p["probability"] for p in predictions
    ]


def test_ten_thousand_records_in_one_call_bad_ones_named(service):
    records = api_records_from(synthesize(10_000, seed=33, years=(2024, 2025)).table)
    records[10]["latitude"] = "north"
    records[11] = "not a record"
    records[12]["ward"] = {"nested": True}
    response = httpx.post(f"{service}/v1/models/arrest/predict", json={"records": records},
                          timeout=120)  # fmt: skip
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert body["records"] == 10_000
    assert [p["index"] for p in body["predictions"]] == list(range(10_000))
    errors = {p["index"]: p["errors"] for p in body["predictions"] if p["errors"]}
    assert errors[10][0]["field"] == "latitude"
    assert "'north' is not a number" in errors[10][0]["message"]
    assert errors[11][0]["field"] is None
    assert errors[12][0]["field"] == "ward"
    assert body["predictions"][9]["probability"] is not None  # its neighbours are scored
    assert body["predictions"][13]["probability"] is not None
    # the arrest-generated types are the model's own exclusions, not bad input
    assert body["scored"] > 8_000


def api_records_from(table) -> list[dict]:
    rows = portal_rows(table)
    return [{api_field(h): cell for h, cell in zip(PORTAL_HEADER.values(), row, strict=True)}
            for row in rows]  # fmt: skip


def test_clearance_gives_the_class_probabilities(service):
    records = [
        {"primary_offense_code": "13A", "incident_hour": 14, "has_weapon": False},
        {"primary_offense_code": "220", "incident_hour": "late"},
    ]
    body = httpx.post(f"{service}/v1/models/clearance/predict", json={"records": records}).json()
    first, second = body["predictions"]
    assert set(first["classes"]) == {"open", "arrest", "exceptional"}
    assert sum(first["classes"].values()) == pytest.approx(1, abs=1e-5)
    assert second["probability"] is None
    assert second["errors"] == [
        {"field": "incident_hour", "message": "incident_hour 'late' is not a number"}
    ]


def test_a_malformed_request_is_422(service):
    response = httpx.post(f"{service}/v1/models/arrest/predict", json={"rows": []})
    assert response.status_code == 422
    assert "records, dataframe_records or dataframe_split" in response.text


# -- access --------------------------------------------------------------------------------------
def test_another_address_needs_a_token(service_env, tmp_path):
    env = {key: value for key, value in service_env.items() if key != "CRIMEWH_API_TOKEN"}
    refused = subprocess.run(
        [sys.executable, "-m", "crimewh_orchestration.cli", "serve", "run", "--host", "0.0.0.0",
         "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0 without an API token" in refused.stderr
    assert "CRIMEWH_API_TOKEN" in refused.stderr

    # with a token, on every address, and a lake without models
    empty = {**env, "CRIMEWH_API_TOKEN": TOKEN, "CRIMEWH_LAKE_URL": f"file://{tmp_path / 'lake'}"}
    log = tmp_path / "service.log"
    process, base = start_service(empty, log, host="0.0.0.0")
    try:
        url = f"{base}/v1/models/arrest/predict"
        body = {"records": [{"date": "2025-01-01T10:00:00", "primary_type": "THEFT"}]}
        assert httpx.post(url, json=body).status_code == 401
        wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        answer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 404  # authorized; no champion in this lake
        assert "`crimewh train arrest`" in answer.json()["detail"]
        files = {"file": ("c.csv", b"date,primary_type\n", "text/csv")}
        assert httpx.post(f"{base}/v1/uploads", files=files).status_code == 401
        assert httpx.get(f"{base}/health").json()["models"]["arrest"]["ok"] is False
    finally:
        stop_process_group(process.pid)
    assert TOKEN not in log.read_text()


# -- uploads: refused at once --------------------------------------------------------------------
def upload(service: str, name: str, content: bytes, mime: str = "text/csv"):
    return httpx.post(f"{service}/v1/uploads", files={"file": (name, content, mime)}, timeout=60)


def test_an_oversized_upload_is_413(service):
    header = ",".join(PORTAL_HEADER.values()).encode() + b"\n"
    body = header + b"x" * (UPLOAD_LIMIT_MB * 1_000_000 + 100)
    response = upload(service, "big.csv", body)
    assert response.status_code == 413
    assert "over the upload limit of 1 MB" in response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("crimes.pdf", b"%PDF-1.7\n...", "is not a .csv file"),
        ("crimes.csv", b"PK\x03\x04\x14\x00\x06\x00", "an Excel .xlsx workbook"),
        ("crimes.csv", b"Date,Primary Type\n\x00\x01\x02\x03", "NUL"),
    ],
)
def test_what_is_not_a_csv_is_415(service, name, content, why):
    response = upload(service, name, content)
    assert response.status_code == 415
    assert why in response.json()["detail"]


def test_a_missing_column_is_422_naming_it(service):
    response = upload(service, "crimes.csv", b"ID,Date,Block\n1,01/02/2025 10:00:00 AM,x\n")
    assert response.status_code == 422
    body = response.json()
    assert body["missing"] == ["primary_type"]
    assert "crimes.csv has no primary_type column" in body["detail"]


# -- the batch job, through the real DAG ---------------------------------------------------------
def wait_for_job(service: str, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(f"{service}/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']}: {job['progress']}"
        time.sleep(1)


def test_a_batch_job_runs_in_airflow_and_mails(service, airflow, warehouse, smtp_sink,
                                               crimes_csv, tmp_path):  # fmt: skip
    content = crimes_csv.read_bytes()
    response = httpx.post(
        f"{service}/v1/uploads",
        files={"file": ("crimes.csv", content, "text/csv")},
        data={"submitted_by": "analyst@crimewh.test"},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    job = wait_for_job(service, job_id)
    assert job["status"] == "succeeded", job
    assert (job["rows"], job["bad_rows"]) == (301, len(job["errors"]))
    assert job["scored"] + job["bad_rows"] == 301
    assert {"row": 301, "line": 302, "fields": ["date"]}.items() <= job["errors"][-1].items()

    downloaded = httpx.get(f"{service}{job['result_csv']}")
    assert downloaded.headers["content-disposition"] == 'attachment; filename="crimes.scored.csv"'
    expected = score_file(airflow.settings, crimes_csv, tmp_path / "crimes.scored.csv")
    assert downloaded.content == expected  # the DAG's task and the CLI: the same bytes
    scored = list(csv.reader(io.StringIO(downloaded.text)))
    assert scored[4][list(PORTAL_HEADER).index("block")] == "'" + FORMULA  # neutralized
    bad = list(csv.DictReader(io.StringIO(httpx.get(f"{service}{job['errors_csv']}").text)))
    assert bad[-1]["row"] == "301"
    assert bad[-1]["error"].startswith("date 'yesterday'")

    with psycopg2.connect(warehouse.url) as conn, conn.cursor() as cur:
        cur.execute("select submitted_by, file_name, file_bytes, status, dag_run_id, result "
                    "from ml.batch_jobs where job_id = %s", (job_id,))  # fmt: skip
        who, name, size, status, run_id, result = cur.fetchone()
    assert who == "analyst@crimewh.test from 127.0.0.1"
    assert (name, size, status) == ("crimes.csv", len(content), "succeeded")
    assert airflow.task_states("chicago_csv_scoring", run_id) == {"score_upload": "success"}
    assert result["scored_uri"].endswith(f"/uploads/{job_id}/scored.csv")

    mail = smtp_sink.wait_for(f"scoring job {job_id}")
    text = mail.get_content()
    assert f"{job['scored']:,} of 301 rows" in mail["Subject"]
    assert f"Not scored: {job['bad_rows']}" in text
    assert f"{service}/jobs/{job_id}" in text
    assert mail["To"] == "ops@crimewh.test"


def test_an_unknown_job_is_404(service):
    page = httpx.get(f"{service}/jobs/{'0' * 32}")
    assert page.status_code == 404
    assert httpx.get(f"{service}/v1/jobs/not-a-job").status_code == 404


# -- the mailer ----------------------------------------------------------------------------------
class FailedTaskInstance:
    """What Airflow hands a failure callback as ``ti`` (the attributes the mail reads)."""

    dag_id, task_id, run_id, try_number = "crime_warehouse_nightly", "chicago_pull", "run-1", 3
    log_url = "http://localhost:8080/dags/crime_warehouse_nightly/runs/run-1/tasks/chicago_pull"


def test_a_failed_task_is_mailed_with_its_error_and_log(smtp_sink):
    settings = Settings.load({**os.environ, **smtp_sink.environment()})

    def pull():
        raise ConnectionError("data.cityofchicago.org refused the connection")

    try:
        pull()
    except ConnectionError as error:
        context = {"ti": FailedTaskInstance(), "exception": error}
    assert notify.task_failed(settings, context)
    mail = smtp_sink.wait_for("crime_warehouse_nightly.chicago_pull failed (run-1)")
    text = "\n".join(mail.get_content().splitlines())
    assert "Try:   3" in text
    assert FailedTaskInstance.log_url in text
    assert "ConnectionError: data.cityofchicago.org refused the connection" in text
    assert "in pull\n    raise ConnectionError" in text  # the traceback's last lines


def test_the_nightly_summary_is_mailed_only_when_asked(smtp_sink):
    summary = {"status": "failed", "failed": ["chicago_pull"], "steps": {}, "marts": {}}
    quiet = Settings.load({**os.environ, **smtp_sink.environment()})
    assert notify.run_summary(quiet, summary) is False
    asked = Settings.load(
        {**os.environ, **smtp_sink.environment(), "CRIMEWH_NOTIFY_SUMMARY": "true"}
    )
    assert notify.run_summary(asked, summary)
    mail = smtp_sink.wait_for("nightly run failed: 1 task(s) failed")
    assert '"chicago_pull"' in mail.get_content()


def test_without_smtp_nothing_is_sent_and_the_log_says_so_once(caplog, monkeypatch):
    monkeypatch.setattr(notify, "_said_unconfigured", False)
    settings = Settings.load({"CRIMEWH_DATA_DIR": os.environ.get("CRIMEWH_DATA_DIR", "data")})
    with caplog.at_level(logging.INFO, logger="crimewh.notify"):
        assert notify.send(settings, "one", "body") is False
        assert notify.send(settings, "two", "body") is False
    said = [r for r in caplog.records if "no mail is sent" in r.getMessage()]
    assert len(said) == 1


def test_the_mailer_logs_in_and_never_logs_the_password(caplog):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            received.append(session.authenticated)
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (b"mailer", b"pa55word")
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            authenticator=authenticator, auth_require_tls=False)  # fmt: skip
    controller.start()
    try:
        environ = {"CRIMEWH_SMTP_HOST": "127.0.0.1", "CRIMEWH_SMTP_PORT": str(port),
                   "CRIMEWH_SMTP_TLS": "none", "CRIMEWH_SMTP_TO": "ops@crimewh.test",
                   "CRIMEWH_SMTP_USER": "mailer"}  # fmt: skip
        good = Settings.load({**environ, "CRIMEWH_SMTP_PASSWORD": "pa55word"})
        assert notify.send(good, "hello", "body")
        assert received == [True]
        # a server that cannot be reached (aiosmtpd holds a refused login for a long while)
        unreachable = {**environ, "CRIMEWH_SMTP_PORT": str(free_port()),
                       "CRIMEWH_SMTP_PASSWORD": "pa55word"}  # fmt: skip
        with caplog.at_level(logging.INFO, logger="crimewh.notify"):
            assert not notify.send(Settings.load(unreachable), "refused", "body")
        assert "could not mail 'refused'" in caplog.text
        assert "as mailer" in caplog.text
        assert "pa55word" not in caplog.text
        assert "pa55word" not in repr(good)
    finally:
        controller.stop()
