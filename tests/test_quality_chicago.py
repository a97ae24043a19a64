"""The Chicago batch suite on parsed synthetic pulls: clean passes, seeded defects are caught."""

import dataclasses

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crimewh.chicago.parse import parse_rows
from crimewh.lake import Lake
from crimewh.quality.run import QualityGateError, check_chicago_batch, stored_results
from testkit.chicago_synth import SENTINEL, synthesize, to_json_rows

BATCH = "20251123T154500"


@pytest.fixture(scope="module")
def batch() -> pa.Table:
    """500 synthetic rows of 2001-2025 through the API's JSON and the pull's parser."""
    table, report = parse_rows(to_json_rows(synthesize(500, seed=3).table))
    assert not report.bad_values
    return table


def with_values(table: pa.Table, column: str, changes: dict[int, object]) -> pa.Table:
    values = table.column(column).to_pylist()
    for row, value in changes.items():
        values[row] = value
    field = table.schema.field(column)
    return table.set_column(table.schema.get_field_index(column), field,
                            pa.array(values, field.type))  # fmt: skip


def by_check(report) -> dict:
    return {result.check: result for result in report.results}


def test_clean_batch_from_the_lake_passes(warehouse, batch, tmp_path):
    settings = dataclasses.replace(warehouse.settings, lake_url=f"file://{tmp_path}/lake")
    pq.write_table(batch, tmp_path / "batch.parquet")
    Lake.from_settings(settings).put_partition(
        "chicago", "crimes", f"batch={BATCH}", [tmp_path / "batch.parquet"],
        source_sha256="0" * 64, producer="test",
    )  # fmt: skip

    report = check_chicago_batch(settings, docs=False)  # the latest batch: this one

    assert report.target == f"chicago batch={BATCH}"
    assert report.passed
    assert not report.failed()
    checks = by_check(report)
    assert checks["crimes.id_unique"].element_count == 500
    assert checks["schema.types"].element_count == 21
    rows = stored_results(settings, report.run_id)
    assert len(rows) == len(report.results)
    assert all(row["passed"] for row in rows)


def test_duplicate_id_stops_the_run(warehouse, batch):
    duplicate = batch.column("id")[0].as_py()
    table = with_values(batch, "id", {7: duplicate})

    with pytest.raises(QualityGateError, match=r"crimes\.id_unique") as stopped:
        check_chicago_batch(warehouse.settings, table=table, docs=False)

    report = stopped.value.report
    assert {r.check for r in report.failed("critical")} == {"crimes.id_unique"}
    result = by_check(report)["crimes.id_unique"]
    assert result.unexpected_count == 2
    assert f"{duplicate} (2)" in result.observed
    stored = {r["check_name"]: r for r in stored_results(warehouse.settings, report.run_id)}
    assert stored["crimes.id_unique"]["passed"] is False


def test_coordinates_outside_chicago_stop_the_run(warehouse, batch):
    located = next(i for i, v in enumerate(batch.column("latitude").to_pylist()) if v)
    table = with_values(batch, "latitude", {located: 40.7128})  # New York
    table = with_values(table, "longitude", {located: -74.006})

    with pytest.raises(QualityGateError) as stopped:
        check_chicago_batch(warehouse.settings, table=table, docs=False)

    failed = by_check(stopped.value.report)
    assert {r.check for r in stopped.value.report.failed("critical")} == {
        "crimes.latitude_in_chicago",
        "crimes.longitude_in_chicago",
    }
    assert "40.7128 (1)" in failed["crimes.latitude_in_chicago"].observed


def test_geocoder_sentinel_is_a_warning_not_a_stop(warehouse, batch):
    table = with_values(batch, "latitude", {3: SENTINEL[0]})
    table = with_values(table, "longitude", {3: SENTINEL[1]})
    table = with_values(table, "x_coordinate", {3: 0.0})
    table = with_values(table, "y_coordinate", {3: 0.0})

    report = check_chicago_batch(warehouse.settings, table=table, docs=False)

    assert report.passed
    assert [r.check for r in report.failed()] == ["crimes.no_geocode_sentinel"]


def test_arrest_not_boolean_stops_the_run(warehouse, batch):
    arrests = ["Y" if value else "N" for value in batch.column("arrest").to_pylist()]
    table = batch.set_column(
        batch.schema.get_field_index("arrest"), "arrest", pa.array(arrests, pa.string())
    )
    table = with_values(table, "domestic", {0: None})

    with pytest.raises(QualityGateError) as stopped:
        check_chicago_batch(warehouse.settings, table=table, docs=False)

    report = stopped.value.report
    failed = {r.check: r for r in report.failed("critical")}
    assert set(failed) == {"schema.types", "crimes.arrest_boolean", "crimes.domestic_present"}
    assert "arrest:string (1)" in failed["schema.types"].observed
