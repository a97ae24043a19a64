"""What the models are given, and the warehouse as they see it: Arrow tables in, Arrow
tables out, over ADBC.

The models read no settings and no environment: whoever runs them (the command line, the
DAGs, the service, the tests) hands them a ``Workspace``, built from the settings in one
place (``crimewh_orchestration.workspace``).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import pyarrow as pa

    from crimewh.lake import Lake

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")


class MLError(Exception):
    """The models cannot do what was asked; the message says why and what to do."""


def identifier(name: str) -> str:
    """A schema-qualified table or column name, checked: names go into SQL text."""
    if not _IDENTIFIER.match(name):
        raise MLError(f"{name!r} is not a lower_snake_case table or column name")
    return name


@dataclass(frozen=True)
class Workspace:
    """Where the models read and write, and how hard they may work."""

    warehouse_url: str | None  # the marts to read, the ml schema to write (a libpq URL)
    lake: Lake  # the model registry lives under <lake>/ml/models
    seeds_dir: Path  # the dbt project's seeds: Chicago's location groups and generated types
    nthread: int = 2  # XGBoost's threads: a task must leave room for the database
    max_age_days: float = 30.0  # a champion older than this is due for retraining
    new_data_days: int = 7  # so is one whose mart gained rows this many days after its data
    # synthetic data only: where the generators' truth lies beside their output (the landing
    # area for NIBRS years, the Chicago pulls' folder); real data has none, and says so
    nibrs_truth_url: str | None = None
    chicago_truth_dir: Path | None = None


@contextmanager
def connect(workspace: Workspace) -> Iterator:
    import adbc_driver_postgresql.dbapi as adbc

    if not workspace.warehouse_url:
        raise MLError(
            "no warehouse is configured: run `crimewh stack up` for the embedded one, or set "
            "CRIMEWH_WAREHOUSE_URL to postgresql://user:password@host:port/database"
        )
    with adbc.connect(workspace.warehouse_url) as conn:
        yield conn


def query(workspace: Workspace, sql: str, params: Sequence | None = None) -> pa.Table:
    """One query's result as an Arrow table (``$1``-style parameters)."""
    with connect(workspace) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetch_arrow_table()


def relation_exists(workspace: Workspace, name: str) -> bool:
    table = query(workspace, "select to_regclass($1) is not null as found", (identifier(name),))
    return bool(table.column("found")[0].as_py())
