"""docker-compose.yml is not run here (no Docker engine); these checks keep it consistent."""

import re
from pathlib import Path

import yaml

from crimewh.settings import ENVIRONMENT
from crimewh.warehouse import stack

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DOCKER = REPO / "configuration" / "docker"
AIRFLOW_SERVICES = {
    "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
    "airflow-triggerer", "airflow-worker",
}  # fmt: skip
DBT_VARIABLES = {"CRIMEWH_PG_HOST", "CRIMEWH_PG_PORT", "CRIMEWH_PG_USER", "CRIMEWH_PG_PASSWORD",
                 "CRIMEWH_PG_DBNAME", "CRIMEWH_PG_SSLMODE", "CRIMEWH_DBT_TARGET"}  # fmt: skip


def test_the_multi_machine_services_are_all_there():
    services = COMPOSE["services"]
    assert {"postgres", "redis", "minio"} | AIRFLOW_SERVICES == set(services)
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:"), name
        assert "@postgres/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
    assert services["airflow-worker"]["command"] == "celery worker"
    commands = {services[name].get("command") for name in AIRFLOW_SERVICES - {"airflow-init"}}
    assert {"api-server", "scheduler", "dag-processor", "triggerer"} <= commands


def test_the_project_settings_it_sets_exist():
    env = COMPOSE["services"]["airflow-scheduler"]["environment"]
    known = set(ENVIRONMENT.values()) | DBT_VARIABLES | {"CRIMEWH_DATA_DIR", "CRIMEWH_ALERT_EMAIL"}
    project = {key for key in env if key.startswith("CRIMEWH_")}
    assert project <= known, project - known
    assert env["CRIMEWH_LAKE_URL"].startswith("s3://")
    assert env["CRIMEWH_S3_ENDPOINT_URL"] == "http://minio:9000"


def test_every_required_secret_is_in_the_example_env():
    text = (REPO / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = {
        line.split("=", 1)[0]
        for line in (DOCKER / "env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert required
    assert required <= example, required - example

    raw = yaml.safe_load(text.replace("${", "<").replace("}", ">"))  # values as written
    for service in raw["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|FERNET|_KEY$", key):
                assert str(value).startswith("<"), f"{key} is written in the file"


def test_mounted_and_copied_paths_exist():
    for volume in COMPOSE["x-airflow-common"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (REPO / source).exists(), source
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY"):
            sources = [part for part in line.split()[1:-1] if not part.startswith("--")]
            assert all((REPO / source).exists() for source in sources), line


def test_the_compose_database_matches_the_embedded_one():
    script = (DOCKER / "init-databases.sh").read_text()
    created = set(re.findall(r"create schema (\w+) authorization crimewh", script))
    assert created == set(stack.SCHEMAS)
    granted = re.search(r"grant usage on schema ([\w, ]+) to analyst", script).group(1)
    assert {name.strip() for name in granted.split(",")} == set(stack.ANALYST_SCHEMAS)
    for role in (stack.PIPELINE_ROLE, stack.ANALYST_ROLE, stack.AIRFLOW_ROLE):
        assert f"create role {role} login password" in script
