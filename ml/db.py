"""The warehouse as the models see it: Arrow tables in, Arrow tables out, over ADBC."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import pyarrow as pa

    from crimewh.settings import Settings

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")


class MLError(Exception):
    """The models cannot do what was asked; the message says why and what to do."""


def identifier(name: str) -> str:
    """A schema-qualified table or column name, checked: names go into SQL text."""
    if not _IDENTIFIER.match(name):
        raise MLError(f"{name!r} is not a lower_snake_case table or column name")
    return name


def nthread() -> int:
    """XGBoost's threads, 1 or 2: the settings' ``ml_nthread`` (``CRIMEWH_ML_NTHREAD``)."""
    from crimewh.settings import settings

    return settings().ml_nthread


@contextmanager
def connect(settings: Settings) -> Iterator:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(settings.require_warehouse_url()) as conn:
        yield conn


def query(settings: Settings, sql: str, params: Sequence | None = None) -> pa.Table:
    """One query's result as an Arrow table (``$1``-style parameters)."""
    with connect(settings) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetch_arrow_table()


def relation_exists(settings: Settings, name: str) -> bool:
    table = query(settings, "select to_regclass($1) is not null as found", (identifier(name),))
    return bool(table.column("found")[0].as_py())
