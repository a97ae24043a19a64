"""The warehouse: the embedded PostgreSQL (and moto) stack, and the loader from lake to raw."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crimewh.settings import Settings


def fetch(settings: Settings, sql: str, params: Sequence | None = None) -> list[tuple]:
    """The rows of one query against the warehouse, on a connection of its own."""
    import psycopg2

    conn = psycopg2.connect(settings.require_warehouse_url())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()
