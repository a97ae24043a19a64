"""The quality suites as data, the code lists and the derived frames: no GX, no database."""

import pyarrow as pa
import pytest

from crimewh.quality import codes
from crimewh.quality.frames import (
    NibrsPartition,
    chicago_frames,
    day_numbers,
    integers,
    nibrs_frames,
)
from crimewh.quality.suites import (
    SUITES,
    allowed_record_lengths,
    checks_for,
    nibrs_partition_checks,
)
from decoder.decode import decode_zip


@pytest.fixture(scope="module")
def real_lines(tmp_path_factory, sample_bytes):
    """The 14 real 2021 lines, decoded (unrelated records: no 01 has its children)."""
    from testkit.zipwriter import write_zip

    folder = tmp_path_factory.mktemp("real")
    zip_path = folder / "nibrs-2021.zip"
    write_zip(zip_path, "2021_NIBRS_NATIONAL_MASTER_FILE_ENC.txt", [sample_bytes])
    decode_zip(zip_path, folder / "decoded")
    return NibrsPartition.from_decoded(folder / "decoded")


def test_every_suite_has_unique_named_checks_with_a_severity():
    for suite in SUITES:
        checks = checks_for(suite, year=2022)
        names = [c.name for c in checks]
        assert len(names) == len(set(names)), suite
        assert {c.severity for c in checks} == {"critical", "warning"}
        assert all(c.description.endswith(".") for c in checks), suite


def test_the_issue_s_checks_are_critical():
    nibrs = {c.name: c.severity for c in checks_for("nibrs_partition", year=2022)}
    chicago = {c.name: c.severity for c in checks_for("chicago_batch")}
    marts = {c.name: c.severity for c in checks_for("marts")}
    for name in (
        "record_lengths.match_layout",
        "offense.ucr_offense_code_known",
        "offense.location_type_known",
        "incident_counts.victims",
        "administrative.incident_date_valid",
        "batch_header.master_file_year",
    ):
        assert nibrs[name] == "critical", name
    assert nibrs["batch_header_months.months_reported_match_flags"] == "warning"
    for name in (
        "crimes.id_unique",
        "crimes.latitude_in_chicago",
        "crimes.arrest_boolean",
        "schema.types",
    ):
        assert chicago[name] == "critical", name
    for name in (
        "fct_nibrs_incidents.reconciles_with_agency_year_offenses",
        "fct_chicago_crimes.reconciles_with_agg_chicago_arrests",
    ):
        assert marts[name] == "critical", name  # fmt: skip
    assert marts["fct_nibrs_incidents.open_share_plausible"] == "warning"


def test_allowed_record_lengths_follow_the_layouts():
    lengths = allowed_record_lengths(2021)
    assert {"BH:284", "01:89", "02:59", "04:135", "W3:132", "W6:104"} <= lengths
    assert "BH:292" in lengths  # the documented LEOKA date real lines leave off
    assert "02:60" not in lengths
    assert "02:58" not in lengths
    assert "06:74" in allowed_record_lengths(2015)  # Vermont's 13-byte transaction numbers
    assert "06:74" not in lengths
    assert "02:40" in allowed_record_lengths(2010)  # right-trimmed files before 2013


def test_code_lists_come_from_the_dbt_seeds(tmp_path):
    seeded = codes.code_list("ucr_group_a")
    assert seeded == codes.code_list("ucr_group_a", codes.seeds_dir())
    assert {"09A", "13A", "23H", "720"} <= seeded
    assert not seeded & codes.code_list("ucr_group_b")
    assert "90Z" in codes.code_list("ucr_group_b")
    assert codes.code_list("sex") == {"M", "F", "U"}
    # without a seed the built-in list stands in
    assert codes.code_list("location_types", tmp_path) == codes.LOCATION_TYPES
    # a seed that lost its code column is an error that names the file
    broken = tmp_path / "broken"
    (broken / "nibrs").mkdir(parents=True)
    (broken / "nibrs" / "nibrs_location_types.csv").write_text("code,name\n01,Terminal\n")
    with pytest.raises(ValueError, match=r"nibrs_location_types\.csv"):
        codes.code_list("location_types", broken)


def test_day_numbers_mark_what_is_not_a_date():
    dates = pa.array(["20220131", "20220230", "2022013", None, "2022 131", "19991231"])
    assert day_numbers(dates).to_pylist() == [20220131, 0, 0, None, 0, 19991231]


def test_integers_read_zero_padded_fields():
    assert integers(pa.array(["012", "00", None, "1A", ""])).to_pylist() == [12, 0, None, None,
                                                                          None]  # fmt: skip


def test_real_lines_give_the_derived_frames(real_lines):
    frames = nibrs_frames(real_lines, nibrs_partition_checks(2021))

    lengths = dict(zip(*frames["record_lengths"].select(["record_type", "length"]).to_pydict()
                        .values(), strict=True))  # fmt: skip
    assert lengths["BH"] == 284
    assert lengths["W6"] == 104
    months = frames["batch_header_months"].to_pylist()
    assert {(m["ori"], m["months_reported"], m["months_flagged"]) for m in months} == {
        ("AK0010100", 0, 0),  # Anchorage 2021: every flag N, 00 months (reference §1.5)
        ("AK0010200", 12, 12),  # Fairbanks: A/B flagged all year, 12 months
    }
    [incident] = frames["incident_counts"].to_pylist()
    assert incident["declared_victims"] == 1
    assert incident["victims"] == 0
    assert incident["victims_mismatch"].endswith("declares 1 victims, has 0")
    orphans = frames["orphan_records"].column("orphan").to_pylist()
    assert len(orphans) == 5
    assert "offense line 4: CA0334200/MR21-3723" in orphans
    administrative = frames["administrative"].to_pylist()
    assert administrative[0]["incident_day"] == 20211206


def test_chicago_frames_add_types_and_derived_columns():
    batch = pa.table({
        "id": pa.array([1, 2], pa.int64()),
        "date": pa.array([0, 1_700_000_000_000_000], pa.timestamp("us")),
        "community_area": pa.array(["25", None]),
        "arrest": pa.array(["true", "false"]),
    })  # fmt: skip
    frames = chicago_frames(batch)
    assert frames["schema"].column("column_type").to_pylist() == [
        "id:int", "date:timestamp", "community_area:string", "arrest:string",
    ]  # fmt: skip
    assert frames["crimes"].column("date_year").to_pylist() == [1970, 2023]
    assert frames["crimes"].column("community_area_number").to_pylist() == [25, None]


def test_incident_counts_stay_aligned_when_arrow_joins_in_parallel(tmp_path):
    """Past ~32k rows Arrow's joins come back reordered; each count must stay with its 01."""
    from testkit.nibrs_synth import synthesize

    synthesize(tmp_path / "nibrs-2022.zip", year=2022, incidents=40_000, seed=5)
    decode_zip(tmp_path / "nibrs-2022.zip", tmp_path / "decoded")
    partition = NibrsPartition.from_decoded(tmp_path / "decoded")

    counts = nibrs_frames(partition, nibrs_partition_checks(2022))["incident_counts"]

    assert counts.num_rows == 40_000
    for child in ("offenses", "victims", "offenders", "arrestees"):
        assert counts.column(f"{child}_mismatch").null_count == 40_000, child
    assert sum(counts.column("victims").to_pylist()) == partition.summary["rows"]["victim"]


def test_built_in_code_lists_match_the_seeds():
    """The fallback for installs without the dbt project must not drift from the seeds."""
    for name, built_in in codes.BUILT_IN.items():
        seeded = codes.code_list(name)
        if name == "chicago_primary_types":
            # the built-in list also knows labels of older years that the seed leaves out
            assert seeded <= built_in
            assert built_in - seeded == {"DOMESTIC VIOLENCE", "NON - CRIMINAL", "RITUALISM",
                                         "NON-CRIMINAL (SUBJECT SPECIFIED)"}  # fmt: skip
        else:
            assert seeded == built_in, name
