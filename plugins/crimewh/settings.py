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
}
SECRETS = {"soda_app_token"}  # read from the environment only, never from the file


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
        return environment

    def __repr__(self) -> str:
        return (
            f"Settings(data_dir={str(self.data_dir)!r}, lake_url={self.lake_url!r}, "
            f"landing_url={self.landing_url!r}, "
            f"warehouse_url={redact(self.warehouse_url)!r}, "
            f"analyst_url={redact(self.analyst_url)!r}, "
            f"s3_endpoint_url={self.s3_endpoint_url!r}, soda_domain={self.soda_domain!r}, "
            f"soda_app_token={'***' if self.soda_app_token else None!r}, "
            f"soda_page_size={self.soda_page_size})"
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


def _embedded_stack(data_dir: Path):
    from crimewh.warehouse.stack import StackState

    return StackState.load(data_dir)


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
