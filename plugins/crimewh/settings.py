"""The project's settings: ``configuration/crimewh.yml``, overridden by the environment.

One typed object, read once per process. Secrets (the warehouse password, S3 keys) only ever
come from the environment, and the object never prints them.

The project folder (``CRIMEWH_PROJECT_DIR``) is the one place the files the code reads are
found: ``configuration/`` (these defaults), ``dbt_project/`` and ``dags/``. Its default is
the working directory when that holds ``dbt_project/`` (a checkout); an installed package
(the Docker image, a wheel) sets the variable, since ``crimewh`` then lives in
site-packages with nothing of the project beside it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

from crimewh.warehouse.stack_state import StackState

PROJECT_VARIABLE = "CRIMEWH_PROJECT_DIR"
PROJECT_MARKER = "dbt_project"  # the folder that tells a project folder from any other
CONFIG_FILE = Path("configuration") / "crimewh.yml"  # under the project folder
ENVIRONMENT = {
    "data_dir": "CRIMEWH_DATA_DIR",
    "lake": "CRIMEWH_LAKE_URL",
    "landing": "CRIMEWH_LANDING_URL",
    "warehouse_url": "CRIMEWH_WAREHOUSE_URL",
    "analyst_url": "CRIMEWH_ANALYST_URL",
    "s3_endpoint_url": "CRIMEWH_S3_ENDPOINT_URL",
    "soda_domain": "CRIMEWH_SODA_DOMAIN",
    "soda_app_token": "CRIMEWH_SODA_APP_TOKEN",
    "soda_page_size": "CRIMEWH_SODA_PAGE_SIZE",
    "lock_wait_seconds": "CRIMEWH_LOCK_WAIT_SECONDS",
    "failpoint": "CRIMEWH_FAILPOINT",
    # the mailer (crimewh.notify) and the prediction service (crimewh_orchestration.service)
    "smtp_host": "CRIMEWH_SMTP_HOST",
    "smtp_port": "CRIMEWH_SMTP_PORT",
    "smtp_tls": "CRIMEWH_SMTP_TLS",
    "smtp_user": "CRIMEWH_SMTP_USER",
    "smtp_password": "CRIMEWH_SMTP_PASSWORD",
    "smtp_from": "CRIMEWH_SMTP_FROM",
    "smtp_to": "CRIMEWH_SMTP_TO",
    "notify_summary": "CRIMEWH_NOTIFY_SUMMARY",
    "api_token": "CRIMEWH_API_TOKEN",
    "upload_max_mb": "CRIMEWH_UPLOAD_MAX_MB",
    "service_host": "CRIMEWH_SERVICE_HOST",
    "service_port": "CRIMEWH_SERVICE_PORT",
    # orchestration and the models
    "nightly_schedule": "CRIMEWH_NIGHTLY_SCHEDULE",
    "task_retries": "CRIMEWH_TASK_RETRIES",
    "dbt_target": "CRIMEWH_DBT_TARGET",
    "ml_nthread": "CRIMEWH_ML_NTHREAD",
    "ml_max_age_days": "CRIMEWH_ML_MAX_AGE_DAYS",
    "ml_new_data_days": "CRIMEWH_ML_NEW_DATA_DAYS",
}
# read from the environment only, never from the file
SECRETS = {"soda_app_token", "smtp_password", "api_token"}
SMTP_TLS_MODES = ("starttls", "ssl", "none")


class SettingsError(Exception):
    """A setting is missing or malformed; the message says which and how to set it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    lake_url: str  # file:///absolute/path or s3://bucket/prefix
    landing_url: str
    warehouse_url: str | None
    s3_endpoint_url: str | None
    soda_domain: str = "data.cityofchicago.org"
    soda_app_token: str | None = None
    soda_page_size: int = 50_000
    # the read-only analyst role (the dashboard); the embedded stack's when left unset
    analyst_url: str | None = None
    # how long a run waits for another run of the same partition to finish (then it fails)
    lock_wait_seconds: int = 6 * 3600
    # for the fault tests only: a named point where the process stops itself (SIGSTOP), so
    # that a test can kill it exactly there; see crimewh.failpoints
    failpoint: str | None = None
    # mail (crimewh.notify): nothing is sent without a host and a recipient
    smtp_host: str | None = None
    smtp_port: int | None = None  # None: 587 for starttls, 465 for ssl, 25 for none
    smtp_tls: str = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    smtp_to: tuple[str, ...] = ()
    notify_summary: bool = False  # mail the nightly's summary too, not only failures
    # the prediction service (crimewh serve): a token is required off the loopback address
    api_token: str | None = None
    upload_max_mb: int = 100
    service_host: str = "127.0.0.1"
    service_port: int = 8000
    # the nightly DAG's cron, in Chicago time
    nightly_schedule: str = "0 3 * * *"
    # Airflow task retries; 0 for tests and `make demo`, where a retry only hides the error
    task_retries: int = 2
    # the dbt profile's target; None: "embedded" for a loopback warehouse, else "remote"
    dbt_target: str | None = None
    # XGBoost's threads, 1 or 2: the target machine has two cores shared with PostgreSQL and
    # Airflow, and OpenMP threads that outnumber free cores slow each other (10x, measured)
    ml_nthread: int = 2
    # retrain a model this old even without new data, or when the marts hold this much more
    ml_max_age_days: float = 30.0
    ml_new_data_days: int = 7
    # True when the URL was left unset, so the embedded stack (`crimewh stack up`) provides it
    embedded_warehouse: bool = True
    embedded_s3: bool = False
    # dbt_project/, configuration/ and dags/ live here; None when neither CRIMEWH_PROJECT_DIR
    # nor the working directory names one (enough for what reads no project file)
    project_dir: Path | None = None

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, config_file: Path | None = None
    ) -> Settings:
        environ = os.environ if environ is None else environ
        project = find_project_dir(environ)
        if config_file is None and project is not None:
            config_file = project / CONFIG_FILE
        defaults = (
            yaml.safe_load(config_file.read_text())
            if config_file is not None and config_file.exists()
            else {}
        )
        values = {
            key: environ.get(var) or (None if key in SECRETS else defaults.get(key))
            for key, var in ENVIRONMENT.items()
        }
        data_dir = Path(values["data_dir"] or "data").expanduser().resolve()
        lake_url = _storage_url(values["lake"] or "lake", data_dir, ENVIRONMENT["lake"])
        stack = _embedded_stack(data_dir)
        embedded_warehouse = not values["warehouse_url"]
        if embedded_warehouse and stack:
            values["warehouse_url"] = stack.url()
            values["analyst_url"] = values["analyst_url"] or stack.url("analyst")
        embedded_s3 = lake_url.startswith("s3://") and not values["s3_endpoint_url"]
        if embedded_s3 and stack and stack.moto_port:
            values["s3_endpoint_url"] = f"http://127.0.0.1:{stack.moto_port}"
        return cls(
            data_dir=data_dir,
            lake_url=lake_url,
            landing_url=_storage_url(
                values["landing"] or "landing", data_dir, ENVIRONMENT["landing"]
            ),
            warehouse_url=values["warehouse_url"],
            s3_endpoint_url=values["s3_endpoint_url"],
            soda_domain=values["soda_domain"] or "data.cityofchicago.org",
            soda_app_token=values["soda_app_token"],
            soda_page_size=_positive_int(values["soda_page_size"] or 50_000, "soda_page_size"),
            analyst_url=values["analyst_url"],
            lock_wait_seconds=_positive_int(
                values["lock_wait_seconds"] or 6 * 3600, "lock_wait_seconds"
            ),
            failpoint=values["failpoint"],
            **_service_values(values),
            **_orchestration_values(values),
            embedded_warehouse=embedded_warehouse,
            embedded_s3=embedded_s3,
            project_dir=project,
        )

    def require_project_dir(self) -> Path:
        if self.project_dir is None:
            raise SettingsError(_NO_PROJECT)
        return self.project_dir

    @property
    def dbt_project_dir(self) -> Path:
        return self.require_project_dir() / "dbt_project"

    @property
    def dags_dir(self) -> Path:
        return self.require_project_dir() / "dags"

    def require_warehouse_url(self) -> str:
        if not self.warehouse_url:
            raise SettingsError(
                "no warehouse is configured: run `crimewh stack up` for the embedded one, "
                "or set CRIMEWH_WAREHOUSE_URL to postgresql://user:password@host:port/database"
            )
        return self.warehouse_url

    def as_environment(self) -> dict[str, str]:
        """The variables that make a child process load these same settings.

        What the embedded stack provides is left out: the child finds it in the stack's
        state, which stays right when a restart moves a port. Secrets are included, so the
        result is for a child's environment only, never for a log.
        """
        environment = {
            ENVIRONMENT["data_dir"]: str(self.data_dir),
            ENVIRONMENT["lake"]: self.lake_url,
            ENVIRONMENT["landing"]: self.landing_url,
            ENVIRONMENT["soda_domain"]: self.soda_domain,
            ENVIRONMENT["soda_page_size"]: str(self.soda_page_size),
        }
        if self.project_dir is not None:  # children may start in another working directory
            environment[PROJECT_VARIABLE] = str(self.project_dir)
        if self.warehouse_url and not self.embedded_warehouse:
            environment[ENVIRONMENT["warehouse_url"]] = self.warehouse_url
            if self.analyst_url:
                environment[ENVIRONMENT["analyst_url"]] = self.analyst_url
        if self.s3_endpoint_url and not self.embedded_s3:
            environment[ENVIRONMENT["s3_endpoint_url"]] = self.s3_endpoint_url
        if self.soda_app_token:
            environment[ENVIRONMENT["soda_app_token"]] = self.soda_app_token
        # tasks mail too; the API token stays with the service, which alone needs it
        for key in ("smtp_host", "smtp_port", "smtp_user", "smtp_password", "smtp_from"):
            if getattr(self, key) is not None:
                environment[ENVIRONMENT[key]] = str(getattr(self, key))
        environment[ENVIRONMENT["smtp_tls"]] = self.smtp_tls
        for key in ("upload_max_mb", "service_host", "service_port"):
            environment[ENVIRONMENT[key]] = str(getattr(self, key))
        if self.smtp_to:
            environment[ENVIRONMENT["smtp_to"]] = ",".join(self.smtp_to)
        if self.notify_summary:
            environment[ENVIRONMENT["notify_summary"]] = "true"
        return environment

    def __repr__(self) -> str:
        return (
            f"Settings(data_dir={str(self.data_dir)!r}, lake_url={self.lake_url!r}, "
            f"landing_url={self.landing_url!r}, "
            f"warehouse_url={redact(self.warehouse_url)!r}, "
            f"analyst_url={redact(self.analyst_url)!r}, "
            f"s3_endpoint_url={self.s3_endpoint_url!r}, soda_domain={self.soda_domain!r}, "
            f"soda_app_token={'***' if self.soda_app_token else None!r}, "
            f"soda_page_size={self.soda_page_size}, smtp_host={self.smtp_host!r}, "
            f"smtp_port={self.smtp_port!r}, smtp_tls={self.smtp_tls!r}, "
            f"smtp_user={self.smtp_user!r}, "
            f"smtp_password={'***' if self.smtp_password else None!r}, "
            f"smtp_to={list(self.smtp_to)!r}, "
            f"api_token={'***' if self.api_token else None!r}, "
            f"upload_max_mb={self.upload_max_mb})"
        )

    __str__ = __repr__


def redact(url: str | None) -> str | None:
    """The URL with any password replaced by ***, fit for logs."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


_NO_PROJECT = (
    f"no project folder: set {PROJECT_VARIABLE} to the folder that holds dbt_project/, "
    "configuration/ and dags/ (the checkout, or /opt/crimewh in the image), "
    "or run from that folder"
)


def find_project_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """``CRIMEWH_PROJECT_DIR``, else the working directory when it holds ``dbt_project/``.

    A variable that names a folder without ``dbt_project/`` is an error, not a fallback:
    the DAGs and dbt would otherwise fail later, far from the cause.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(PROJECT_VARIABLE)
    if value:
        folder = Path(value).expanduser().resolve()
        if not (folder / PROJECT_MARKER).is_dir():
            raise SettingsError(
                f"{PROJECT_VARIABLE}={value!r} holds no {PROJECT_MARKER}/: point it at the "
                "folder with dbt_project/, configuration/ and dags/"
            )
        return folder
    here = Path.cwd()
    return here if (here / PROJECT_MARKER).is_dir() else None


def project_dir() -> Path:
    """This process's project folder, without reading the rest of the settings (the DAG
    files call it at parse time); a SettingsError saying what to set when there is none."""
    folder = find_project_dir()
    if folder is None:
        raise SettingsError(_NO_PROJECT)
    return folder


def _embedded_stack(data_dir: Path) -> StackState | None:
    return StackState.load(data_dir)


def _service_values(values: Mapping[str, object]) -> dict:
    """The mailer's and the service's fields, checked."""
    tls = str(values["smtp_tls"] or "starttls").lower()
    if tls not in SMTP_TLS_MODES:
        raise SettingsError(
            f"{ENVIRONMENT['smtp_tls']}={values['smtp_tls']!r}: use one of "
            f"{', '.join(SMTP_TLS_MODES)}"
        )
    recipients = values["smtp_to"] or ()
    if isinstance(recipients, str):
        recipients = recipients.split(",")
    flag = str(values["notify_summary"] or "false").strip().lower()
    if flag not in ("true", "false", "1", "0", "yes", "no"):
        raise SettingsError(f"{ENVIRONMENT['notify_summary']}={flag!r}: use true or false")
    return {
        "smtp_host": values["smtp_host"] or None,
        "smtp_port": _port(values["smtp_port"], "smtp_port") if values["smtp_port"] else None,
        "smtp_tls": tls,
        "smtp_user": values["smtp_user"] or None,
        "smtp_password": values["smtp_password"] or None,
        "smtp_from": values["smtp_from"] or None,
        "smtp_to": tuple(r.strip() for r in recipients if str(r).strip()),
        "notify_summary": flag in ("true", "1", "yes"),
        "api_token": values["api_token"] or None,
        "upload_max_mb": _positive_int(values["upload_max_mb"] or 100, "upload_max_mb"),
        "service_host": values["service_host"] or "127.0.0.1",
        "service_port": _port(values["service_port"] or 8000, "service_port"),
    }


def _orchestration_values(values: Mapping[str, object]) -> dict:
    """The DAGs' and the models' fields, checked."""
    threads = str(values["ml_nthread"] or 2)
    if threads not in ("1", "2"):
        raise SettingsError(f"{ENVIRONMENT['ml_nthread']}={threads!r}: use 1 or 2")
    retries = str(values["task_retries"] if values["task_retries"] is not None else 2)
    if not retries.isdigit():
        raise SettingsError(f"{ENVIRONMENT['task_retries']}={retries!r}: use 0 or more")
    try:
        max_age = float(values["ml_max_age_days"] or 30)
    except ValueError:
        max_age = 0.0
    if not max_age > 0:
        raise SettingsError(
            f"{ENVIRONMENT['ml_max_age_days']}={values['ml_max_age_days']!r}: days, above 0"
        )
    return {
        "nightly_schedule": str(values["nightly_schedule"] or "0 3 * * *"),
        "task_retries": int(retries),
        "dbt_target": values["dbt_target"] or None,
        "ml_nthread": int(threads),
        "ml_max_age_days": max_age,
        "ml_new_data_days": _positive_int(values["ml_new_data_days"] or 7, "ml_new_data_days"),
    }


def _port(value: object, key: str) -> int:
    number = _positive_int(value, key)
    if number > 65535:
        raise SettingsError(f"{ENVIRONMENT[key]}={value!r}: a port is 1 to 65535")
    return number


def _positive_int(value: object, key: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number <= 0:
        raise SettingsError(f"{ENVIRONMENT[key]}={value!r}: expected a positive whole number")
    return number


def _storage_url(value: str, data_dir: Path, variable: str) -> str:
    """file:// or s3:// URL; a bare path is a folder under the data directory."""
    scheme = urlsplit(value).scheme
    if scheme == "s3":
        if not urlsplit(value).netloc:
            raise SettingsError(f"{variable}={value!r} names no bucket: use s3://bucket/prefix")
        return value.rstrip("/")
    if scheme == "file":
        return "file://" + str(Path(urlsplit(value).path).resolve())
    if scheme:
        raise SettingsError(f"{variable}={value!r}: only file:// and s3:// are supported")
    return "file://" + str((data_dir / value).resolve())


@cache
def settings() -> Settings:
    """The settings of this process (read once)."""
    return Settings.load()
