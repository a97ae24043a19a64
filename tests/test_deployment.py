"""docker-compose.yml is not run here (no Docker engine); these checks keep it consistent."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from crimewh.settings import ENVIRONMENT, PROJECT_VARIABLE
from crimewh.warehouse import stack
from crimewh_orchestration import cluster

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
    for service, arguments in cluster.CONTROL_SERVICES.items():
        assert services[service]["command"].split() == arguments, service
    # the worker is started as `crimewh cluster up` starts its workers, less the name that
    # tells several apart on one machine (each container has a hostname of its own)
    assert services[cluster.WORKER_SERVICE]["command"].split() == cluster.worker_command()


def test_every_airflow_service_has_the_topologys_environment():
    """Executor, broker, result backend, metadata, execution API, secrets, the S3 lake and
    landing area, the warehouse: value for value what crimewh_orchestration.cluster derives
    (YAML keeps the ${VAR} references as written; compose fills them in)."""
    expected = cluster.compose_environment()
    for name in AIRFLOW_SERVICES:
        env = COMPOSE["services"][name]["environment"]
        assert {key: env.get(key) for key in expected} == expected, name
    env = COMPOSE["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert env["CRIMEWH_LAKE_URL"].startswith(f"s3://{cluster.BUCKET}/")
    assert env["CRIMEWH_LANDING_URL"].startswith(f"s3://{cluster.BUCKET}/")
    assert env["CRIMEWH_S3_ENDPOINT_URL"] == "http://minio:9000"
    bucket = COMPOSE["services"]["airflow-init"]["command"][-1]
    assert f"Bucket='{cluster.BUCKET}'" in bucket


def test_the_project_settings_it_sets_exist():
    env = COMPOSE["services"]["airflow-scheduler"]["environment"]
    known = set(ENVIRONMENT.values()) | DBT_VARIABLES | {
        "CRIMEWH_DATA_DIR", PROJECT_VARIABLE,
    }  # fmt: skip
    project = {key for key in env if key.startswith("CRIMEWH_")}
    assert project <= known, project - known
    # dbt's connection fields say what the warehouse URL says
    url = urlsplit(re.sub(r"\$\{[^}]*\}", "secret", env["CRIMEWH_WAREHOUSE_URL"]))
    assert (env["CRIMEWH_PG_HOST"], env["CRIMEWH_PG_PORT"], env["CRIMEWH_PG_USER"]) == (
        url.hostname, str(url.port), url.username,
    )  # fmt: skip
    assert env["CRIMEWH_PG_DBNAME"] == url.path.lstrip("/")


def test_the_image_installs_wheels_and_ships_the_project_folder():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    project = cluster.COMPOSE_PROJECT_DIR
    assert f"ENV {PROJECT_VARIABLE}={project}" in dockerfile
    assert "uv build --wheel --all-packages" in dockerfile
    assert "pip install --no-cache-dir --no-deps /tmp/wheels/*.whl" in dockerfile
    assert "--extra cluster" in dockerfile  # the locked Celery, not whatever is newest
    copied = {line.split()[-1] for line in dockerfile.splitlines() if line.startswith("COPY")}
    assert {"./configuration", "./dbt_project", "./dags"} <= copied
    assert not any("plugins" in target and "/tmp/" not in target for target in copied)
    assert "WORKDIR /opt/crimewh" in dockerfile
    volumes = COMPOSE["x-airflow-common"]["volumes"]
    assert not [v for v in volumes if v.startswith("./")]  # the code is the image's


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
