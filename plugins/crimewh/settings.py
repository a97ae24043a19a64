"""The project's settings: ``configuration/crimewh.yml``, overridden by the environment.

One typed object, read once per process. Secrets (the warehouse password, S3 keys) only ever
come from the environment, and the object never prints them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

CONFIG_FILE = Path(__file__).resolve().parents[2] / "configuration" / "crimewh.yml"
ENVIRONMENT = {
    "data_dir": "CRIMEWH_DATA_DIR",
    "lake": "CRIMEWH_LAKE_URL",
    "landing": "CRIMEWH_LANDING_URL",
    "warehouse_url": "CRIMEWH_WAREHOUSE_URL",
    "s3_endpoint_url": "CRIMEWH_S3_ENDPOINT_URL",
}


class SettingsError(Exception):
    """A setting is missing or malformed; the message says which and how to set it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    lake_url: str  # file:///absolute/path or s3://bucket/prefix
    landing_url: str
    warehouse_url: str | None
    s3_endpoint_url: str | None

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, config_file: Path = CONFIG_FILE
    ) -> Settings:
        environ = os.environ if environ is None else environ
        defaults = yaml.safe_load(config_file.read_text()) if config_file.exists() else {}
        values = {key: environ.get(var) or defaults.get(key) for key, var in ENVIRONMENT.items()}
        data_dir = Path(values["data_dir"] or "data").expanduser().resolve()
        return cls(
            data_dir=data_dir,
            lake_url=_storage_url(values["lake"] or "lake", data_dir, ENVIRONMENT["lake"]),
            landing_url=_storage_url(
                values["landing"] or "landing", data_dir, ENVIRONMENT["landing"]
            ),
            warehouse_url=values["warehouse_url"],
            s3_endpoint_url=values["s3_endpoint_url"],
        )

    def require_warehouse_url(self) -> str:
        if not self.warehouse_url:
            raise SettingsError(
                "no warehouse is configured: set CRIMEWH_WAREHOUSE_URL to "
                "postgresql://user:password@host:port/database"
            )
        return self.warehouse_url

    def __repr__(self) -> str:
        return (
            f"Settings(data_dir={str(self.data_dir)!r}, lake_url={self.lake_url!r}, "
            f"landing_url={self.landing_url!r}, "
            f"warehouse_url={redact(self.warehouse_url)!r}, "
            f"s3_endpoint_url={self.s3_endpoint_url!r})"
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
