"""The NIBRS quality suite on decoded synthetic years: clean passes, seeded defects are caught.

One small synthetic year is made per session; each test writes a copy with one defect, decodes
it and runs the gate as the ingest's ``before_load`` would.
"""

import dataclasses
import re
import zipfile

import psycopg2
import pytest

from crimewh.lake import Lake
from crimewh.quality.run import QualityGateError, check_nibrs_partition, stored_results
from crimewh.settings import Settings
from decoder.decode import decode_zip, segment_schemas
from decoder.layouts import load_layouts
from testkit.nibrs_synth import synthesize
from testkit.zipwriter import write_zip

YEAR = 2021
MEMBER = f"{YEAR}_NIBRS_NATIONAL_MASTER_FILE_ENC.txt"


@pytest.fixture(scope="module")
def master_lines(tmp_path_factory) -> list[bytes]:
    """A clean synthetic year's lines (400 incidents, a dozen agencies)."""
    zip_path = tmp_path_factory.mktemp("nibrs") / f"nibrs-{YEAR}.zip"
    synthesize(zip_path, year=YEAR, incidents=400, seed=11)
    with zipfile.ZipFile(zip_path) as archive:
        return archive.read(MEMBER).splitlines(keepends=True)


def decoded(tmp_path, lines: list[bytes]):
    zip_path = tmp_path / f"nibrs-{YEAR}.zip"
    write_zip(zip_path, MEMBER, [b"".join(lines)])
    out = tmp_path / "decoded"
    decode_zip(zip_path, out)
    return out


def first(lines: list[bytes], record_type: bytes) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(record_type))


def put(line: bytes, record_type: str, field: str, value: bytes) -> bytes:
    f = load_layouts()[record_type].field(field)
    assert len(value) == f.length
    return line[: f.offset] + value + line[f.end :]


def by_check(report) -> dict:
    return {result.check: result for result in report.results}


def test_clean_year_passes_and_every_result_is_stored(warehouse, master_lines, tmp_path):
    report = check_nibrs_partition(warehouse.settings, YEAR, decoded(tmp_path, master_lines))

    assert report.passed
    assert not report.failed()
    checks = by_check(report)
    assert len(checks) == len(report.results) > 50
    assert checks["incident_counts.victims"].element_count == 400
    assert checks["record_lengths.match_layout"].passed
    assert {r.severity for r in report.results} == {"critical", "warning"}
    rows = stored_results(warehouse.settings, report.run_id)
    assert [row["check_name"] for row in rows] == [r.check for r in report.results]
    assert all(row["passed"] and row["suite"] == "nibrs_partition" for row in rows)
    assert rows[0]["target"] == f"nibrs year={YEAR}"
    assert rows[0]["checked_at"] is not None
    # rendered into the data docs, which keep every run
    index = report.data_docs.read_text()
    assert report.data_docs == warehouse.settings.data_dir / "quality/data_docs/index.html"
    assert report.run_id in index
    pages = list((report.data_docs.parent / "validations").rglob(f"*{report.run_id}*"))
    assert pages, "no validation page for the run"


def test_wrong_length_record_stops_the_run(warehouse, master_lines, tmp_path):
    lines = list(master_lines)
    i = first(lines, b"02")
    lines[i] = lines[i][:40] + b"9" + lines[i][40:]  # one byte too many: every field shifts

    with pytest.raises(QualityGateError) as stopped:
        check_nibrs_partition(warehouse.settings, YEAR, decoded(tmp_path, lines), docs=False)

    report = stopped.value.report
    failed = {r.check for r in report.failed("critical")}
    assert "record_lengths.match_layout" in failed
    assert "02:60 in 1 record (1)" in by_check(report)["record_lengths.match_layout"].observed
    assert "record_lengths.match_layout" in str(stopped.value)
    assert report.run_id in str(stopped.value)  # tells where the details are
    stored = {row["check_name"]: row for row in stored_results(warehouse.settings, report.run_id)}
    assert stored["record_lengths.match_layout"]["passed"] is False
    assert stored["record_lengths.match_layout"]["severity"] == "critical"
    assert stored["record_lengths.match_layout"]["unexpected_count"] == 1


def test_wrong_length_record_is_caught_in_the_lake_too(warehouse, master_lines, tmp_path):
    """From the lake, without the decoder's summary, the overflow column gives it away."""
    lines = list(master_lines)
    i = first(lines, b"04")
    lines[i] = lines[i].rstrip(b"\r\n") + b"XY\n"
    out = decoded(tmp_path, lines)
    settings = dataclasses.replace(warehouse.settings, lake_url=f"file://{tmp_path}/lake")
    lake = Lake.from_settings(settings)
    for segment in [*segment_schemas(), "quarantine"]:
        folder = out / ("_quarantine" if segment == "quarantine" else segment)
        lake.put_partition("nibrs", segment, f"year={YEAR}", sorted(folder.glob("*.parquet")),
                           source_sha256="0" * 64, producer="test")  # fmt: skip

    report = check_nibrs_partition(settings, YEAR, store=False, docs=False, raise_on_critical=False)

    result = by_check(report)["record_lengths.match_layout"]
    assert not result.passed
    assert "04:137 in 1 record (1)" in result.observed


def test_unknown_offense_code_stops_the_run(warehouse, master_lines, tmp_path):
    lines = list(master_lines)
    i = first(lines, b"02")
    lines[i] = put(lines[i], "02", "ucr_offense_code", b"99X")

    with pytest.raises(QualityGateError, match=r"offense\.ucr_offense_code_known") as stopped:
        check_nibrs_partition(warehouse.settings, YEAR, decoded(tmp_path, lines), docs=False)

    result = by_check(stopped.value.report)["offense.ucr_offense_code_known"]
    assert result.severity == "critical"
    assert not result.passed
    assert result.unexpected_count == 1
    assert "99X (1)" in result.observed
    others = {r.check for r in stopped.value.report.failed("critical")}
    assert others == {"offense.ucr_offense_code_known"}  # nothing else was disturbed


def test_missing_child_record_breaks_the_01_counts(warehouse, master_lines, tmp_path):
    lines = list(master_lines)
    del lines[first(lines, b"04")]  # the first incident declares a victim that is gone

    with pytest.raises(QualityGateError, match=r"incident_counts\.victims") as stopped:
        check_nibrs_partition(warehouse.settings, YEAR, decoded(tmp_path, lines), docs=False)

    result = by_check(stopped.value.report)["incident_counts.victims"]
    assert result.unexpected_count == 1
    assert result.element_count == 400


def test_months_reported_against_flags_is_a_warning_only(warehouse, master_lines, tmp_path):
    lines = list(master_lines)
    i = first(lines, b"BH")
    months = load_layouts()["BH"].field("months_reported")
    wrong = b"11" if lines[i][months.offset : months.end] != b"11" else b"10"
    lines[i] = put(lines[i], "BH", "months_reported", wrong)

    report = check_nibrs_partition(warehouse.settings, YEAR, decoded(tmp_path, lines), docs=False)

    assert report.passed  # recorded and reported, but the run goes on
    [warning] = report.failed()
    assert warning.check == "batch_header_months.months_reported_match_flags"
    assert warning.severity == "warning"
    assert "warning  batch_header_months.months_reported_match_flags" in report.summary()
    with psycopg2.connect(warehouse.url) as conn, conn.cursor() as cur:
        cur.execute(
            "select passed, observed_value, details from audit.quality_results "
            "where run_id = %s and check_name = %s",
            (report.run_id, warning.check),
        )
        passed, observed, details = cur.fetchone()
    conn.close()
    assert passed is False
    assert observed == warning.observed
    assert details["unexpected_count"] == 1


def test_ingest_runs_the_gate_before_loading(warehouse, master_lines, tmp_path):
    """`before_load`: a critical failure leaves the lake and raw untouched."""
    from crimewh.nibrs_ingest import ingest_year
    from crimewh.quality.run import nibrs_gate

    lines = list(master_lines)
    i = first(lines, b"02")
    lines[i] = put(lines[i], "02", "ucr_offense_code", b"99X")
    zip_path = tmp_path / f"nibrs-{YEAR}.zip"
    write_zip(zip_path, MEMBER, [b"".join(lines)])
    settings = dataclasses.replace(warehouse.settings, lake_url=f"file://{tmp_path}/lake")

    said = []
    with pytest.raises(QualityGateError):
        ingest_year(settings, YEAR, zip_path, force=True, echo=lambda _: None,
                    before_load=nibrs_gate(settings, docs=False, echo=said.append))  # fmt: skip

    assert Lake.from_settings(settings).partitions("nibrs", "administrative") == []
    assert "CRITICAL offense.ucr_offense_code_known: 1 of" in said[0]


def test_real_2021_lines_pass_the_format_and_code_checks(sample_bytes, tmp_path):
    """14 real lines: lengths, codes, dates and flags are right; being unrelated records, their
    01 has no children and their children no 01, which is all the suite objects to."""
    zip_path = tmp_path / "nibrs-2021.zip"
    write_zip(zip_path, MEMBER, [sample_bytes])
    decode_zip(zip_path, tmp_path / "decoded")
    settings = Settings.load({"CRIMEWH_DATA_DIR": str(tmp_path)})

    report = check_nibrs_partition(
        settings, 2021, tmp_path / "decoded", store=False, docs=False, raise_on_critical=False
    )

    assert {r.check for r in report.failed()} == {
        "incident_counts.offenses",
        "incident_counts.victims",
        "incident_counts.offenders",
        "orphan_records.none",
    }
    assert by_check(report)["record_lengths.match_layout"].element_count == 11


def test_cli_runs_a_suite_by_hand(sample_bytes, tmp_path, monkeypatch, capsys):
    from crimewh.settings import settings
    from crimewh_orchestration.cli import main

    zip_path = tmp_path / "nibrs-2021.zip"
    write_zip(zip_path, MEMBER, [sample_bytes])
    decode_zip(zip_path, tmp_path / "decoded")
    monkeypatch.setenv("CRIMEWH_DATA_DIR", str(tmp_path))
    try:
        status = main(["quality", "run", "--suite", "nibrs_partition", "--year", "2021",
                       "--decoded", str(tmp_path / "decoded"), "--no-docs",
                       "--no-store"])  # fmt: skip
        assert main(["quality", "checks", "--suite", "marts"]) == 0
    finally:
        settings.cache_clear()

    out, err = capsys.readouterr()
    assert status == 1  # the unrelated real lines fail the 01 counts: critical
    assert "4 critical checks failed" in err
    assert "incident_counts.victims" in err
    assert re.search(r"nibrs_partition on nibrs year=2021: \d+ checks, 4 critical", out)
    assert "fct_nibrs_incidents.reconciles_with_agency_year_offenses" in out
