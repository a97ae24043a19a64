"""End to end: local SODA server -> pull -> lake -> raw.chicago_crimes in a real PostgreSQL."""

import dataclasses
import json
import os
import subprocess
import sys
from datetime import datetime

import psycopg2
import pytest

from crimewh.chicago.client import SodaClient
from crimewh.chicago.pull import pull
from crimewh.warehouse.loader import load_partition
from testkit.chicago_synth import synthesize
from testkit.soda_server import Dataset, SodaServer

RAW_TYPES = {
    "id": "bigint", "case_number": "text", "date": "timestamp without time zone",
    "block": "text", "iucr": "text", "primary_type": "text", "description": "text",
    "location_description": "text", "arrest": "boolean", "domestic": "boolean", "beat": "text",
    "district": "text", "ward": "bigint", "community_area": "text", "fbi_code": "text",
    "x_coordinate": "double precision", "y_coordinate": "double precision", "year": "bigint",
    "updated_on": "timestamp without time zone", "latitude": "double precision",
    "longitude": "double precision", "_partition": "text", "_load_id": "bigint",
    "_loaded_at": "timestamp with time zone",
}  # fmt: skip


def query(url: str, sql: str, params=()):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def raw_latest(url: str, partitions: list[str]) -> dict[int, str]:
    """id -> latest updated_on over the given batches, as staging will compute it."""
    rows = query(
        url,
        "select id, max(updated_on) from raw.chicago_crimes where _partition = any(%s) group by id",
        (partitions,),
    )
    return {i: stamp.isoformat() for i, stamp in rows}


@pytest.fixture
def server():
    with SodaServer(Dataset.from_wire_table(synthesize(1200, seed=31).table)) as running:
        yield running


def test_serve_pull_lake_raw_and_rerun_is_idempotent(warehouse, server, tmp_path):
    settings = dataclasses.replace(
        warehouse.settings, data_dir=tmp_path, lake_url=f"file://{tmp_path}/lake",
        soda_domain=server.domain, soda_page_size=250,
    )  # fmt: skip
    truth = {int(r["id"]): r for r in server.dataset.rows()}

    first = pull(settings, years=(2001, 2025), client=SodaClient.from_settings(settings))
    assert first.load.rows == 1200
    columns = dict(query(warehouse.url,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'chicago_crimes'"))  # fmt: skip
    assert columns == RAW_TYPES
    stored = query(
        warehouse.url,
        "select id, beat, district, date, arrest, ward from raw.chicago_crimes "
        "where _partition = %s",
        (first.partition,),
    )
    assert len(stored) == 1200
    for row_id, beat, district, date, arrest, ward in stored:
        wire = truth[row_id]
        assert (beat, district, arrest) == (wire["beat"], wire["district"], wire["arrest"])
        assert date == datetime.fromisoformat(wire["date"])
        assert ward == (int(wire["ward"]) if "ward" in wire else None)

    # again, nothing changed: nothing new in the lake or in raw
    again = pull(settings, client=SodaClient.from_settings(settings))
    assert again.partition is None
    assert query(warehouse.url, "select count(*) from raw.chicago_crimes where _partition = %s",
                 (first.partition,)) == [(1200,)]  # fmt: skip

    # three rows reclassified upstream: the next pull brings exactly those
    changed = [dict(truth[i], primary_type="ROBBERY", updated_on="2026-01-02T15:40:00.000")
               for i in sorted(truth)[100:103]]  # fmt: skip
    server.dataset.upsert(changed)
    third = pull(settings, client=SodaClient.from_settings(settings))
    assert third.rows == 3
    latest = raw_latest(warehouse.url, [first.partition, third.partition])
    assert latest == {int(r["id"]): r["updated_on"][:19] for r in server.dataset.rows()}

    # loading a batch twice replaces it: still three rows, not six
    load_partition(settings, "chicago", "crimes", third.partition)
    assert query(warehouse.url, "select count(*) from raw.chicago_crimes where _partition = %s",
                 (third.partition,)) == [(3,)]  # fmt: skip


def test_pull_command_end_to_end(warehouse, server, tmp_path):
    env = dict(
        os.environ, CRIMEWH_DATA_DIR=str(tmp_path), CRIMEWH_WAREHOUSE_URL=warehouse.url,
        CRIMEWH_SODA_DOMAIN=server.domain, CRIMEWH_SODA_PAGE_SIZE="400",
    )  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "crimewh_orchestration.chicago_cli", "pull", "--years", "2015-2025"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    expected = sum(1 for r in server.dataset.rows() if "2015" <= r["year"] <= "2025")
    assert summary["rows"] == summary["load"]["rows"] == expected
    assert "page 1:" in run.stderr  # progress, page by page
    count = query(warehouse.url, "select count(*) from raw.chicago_crimes where _partition = %s",
                  (summary["partition"],))  # fmt: skip
    assert count == [(expected,)]
    assert str(warehouse.url.split(":")[2].split("@")[0]) not in run.stdout + run.stderr
