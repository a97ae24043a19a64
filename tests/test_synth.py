"""The synthetic master file: its bytes, its structure and its truth, read back independently.

The member is read straight from the zip (raw bytes inflated here, as the FBI's Deflate64
must be) and every record is sliced with the layouts, so these tests do not lean on the
decoder they exist to test.
"""

import struct
import zipfile
import zlib
from collections import Counter
from datetime import datetime
from pathlib import Path

import inflate64
import pyarrow.parquet as pq
import pytest
from conftest import read_rows

from decoder.layouts import load_layouts, load_variants
from testkit import nibrs_synth
from testkit.nibrs_synth import synthesize

YEAR = 2021
INCIDENTS = 4000
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CHILDREN = {
    "02": "total_offense_segments",
    "03": None,
    "04": "total_victim_segments",
    "05": "total_offender_segments",
    "06": "total_arrestee_segments",
}


def member_bytes(zip_path: Path) -> bytes:
    """The only member, inflated from its raw bytes the way the decoder reads it."""
    with zipfile.ZipFile(zip_path) as zf:
        (info,) = zf.infolist()
    raw = zip_path.read_bytes()
    name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    data = raw[start : start + info.compress_size]
    if info.compress_type == 9:
        text = inflate64.Inflater().inflate(data)
    else:
        text = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data)
    assert len(text) == info.file_size
    assert zlib.crc32(text) == info.CRC
    return text


def lines_of(text: bytes, eol: bytes = b"\n") -> list[bytes]:
    assert text.endswith(eol)
    return text[: -len(eol)].split(eol)


def fields(line: bytes) -> tuple[str, dict[str, str]]:
    layout = load_layouts()[line[:2].decode()]
    padded = line.ljust(layout.length)
    return layout.record_type, {
        f.name: padded[f.offset : f.end].decode("latin-1")
        for f in layout.fields
        if f.end <= layout.length
    }


def record_sets(records: list[tuple[str, dict]]) -> list[tuple[dict, dict[str, list[dict]]]]:
    """Each 01 with the 02-06 records that follow it."""
    sets = []
    for record_type, values in records:
        if record_type == "01":
            sets.append((values, {rt: [] for rt in CHILDREN}))
        elif record_type in CHILDREN:
            sets[-1][1][record_type].append(values)
    return sets


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("synth") / f"nibrs-{YEAR}.zip"
    summary = synthesize(path, year=YEAR, incidents=INCIDENTS, seed=11)
    text = member_bytes(path)
    return {
        "path": path,
        "summary": summary,
        "text": text,
        "records": [fields(line) for line in lines_of(text)],
    }


def test_same_seed_same_member_and_another_seed_another(tmp_path, made):
    again = synthesize(
        tmp_path / "a" / f"nibrs-{YEAR}.zip", year=YEAR, incidents=INCIDENTS, seed=11
    )
    other = synthesize(
        tmp_path / "b" / f"nibrs-{YEAR}.zip", year=YEAR, incidents=INCIDENTS, seed=12
    )
    assert member_bytes(Path(again["path"])) == made["text"]
    assert member_bytes(Path(other["path"])) != made["text"]


def test_zip_has_one_named_member_and_the_summary_counts_its_lines(made):
    with zipfile.ZipFile(made["path"]) as zf:
        assert [i.filename for i in zf.infolist()] == [f"{YEAR}_NIBRS_NATIONAL_MASTER_FILE_ENC.txt"]
        assert zf.infolist()[0].compress_type == zipfile.ZIP_DEFLATED
    summary = made["summary"]
    assert summary["bytes"] == len(made["text"])
    assert summary["records"]["01"] == summary["incidents"] == INCIDENTS
    counted = Counter(record_type for record_type, _ in made["records"])
    assert {k: v for k, v in summary["records"].items() if v} == dict(counted)
    assert set(counted) == {"BH", "01", "02", "03", "04", "05", "06", "07", "W1", "W3", "W6"}


def test_every_line_has_its_record_types_real_length(made):
    layouts = load_layouts()
    for line in lines_of(made["text"]):
        assert len(line) == layouts[line[:2].decode()].length, line
    assert {len(line) for line in lines_of(made["text"]) if line.startswith(b"BH")} == {284}


def test_crlf_and_trimmed_lines(tmp_path):
    path = tmp_path / f"nibrs-{YEAR}.zip"
    synthesize(path, year=YEAR, incidents=500, seed=2, crlf=True, trim_lines=True)
    text = member_bytes(path)
    lines = lines_of(text, b"\r\n")
    assert text.count(b"\n") == text.count(b"\r\n") == len(lines)
    layouts = load_layouts()
    for line in lines:
        assert not line.endswith(b" ")
        assert len(line) <= layouts[line[:2].decode()].length
    # unknown offenders end right after their sequence number 00
    assert any(line.startswith(b"05") and line.endswith(b"00") for line in lines)


def test_legacy_headers_are_b1_b2_b3_triples_with_nul_filler(tmp_path):
    path = tmp_path / "nibrs-2012.zip"
    summary = synthesize(path, year=2012, incidents=500, seed=2, legacy_headers=True, nul_fill=True)
    lines = lines_of(member_bytes(path))
    headers = [line for line in lines if line[:2] in (b"B1", b"B2", b"B3", b"BH")]
    assert len(headers) == 3 * summary["records"]["B1"]
    layouts = load_layouts()
    for first in range(0, len(headers), 3):
        triple = headers[first : first + 3]
        assert [h[:2] for h in triple] == [b"B1", b"B2", b"B3"]
        assert len({h[4:13] for h in triple}) == 1  # one agency
        for header in triple:
            number = layouts[header[:2].decode()].field("incident_number")
            assert header[number.offset : number.end] == b"\x00" * number.length
        assert fields(triple[2])[1]["master_file_year"] == "2012"


def test_declared_counts_equal_the_records_that_follow(made):
    sets = record_sets(made["records"])
    assert len(sets) == INCIDENTS
    for admin, children in sets:
        for record_type, count_field in CHILDREN.items():
            for child in children[record_type]:
                assert child["incident_number"] == admin["incident_number"]
                assert child["incident_date"] == admin["incident_date"]
            if count_field:
                assert int(admin[count_field]) == len(children[record_type])
        assert children["02"]
        assert children["04"]
        assert children["05"]


def test_records_follow_the_fbi_order(made):
    headers = [values for record_type, values in made["records"] if record_type == "BH"]
    agencies = [(h["state_code"], h["ori"]) for h in headers]
    assert agencies == sorted(agencies)
    assert len(set(agencies)) == len(agencies)
    for _, children in record_sets(made["records"]):
        codes = [r["ucr_offense_code"] for r in children["02"]]
        assert codes == sorted(set(codes))
        losses = [(r["type_property_loss"], r["property_description"]) for r in children["03"]]
        assert losses == sorted(set(losses))
        victims = [int(r["victim_sequence_number"]) for r in children["04"]]
        assert victims == list(range(1, len(victims) + 1))
        offenders = [int(r["offender_sequence_number"]) for r in children["05"]]
        assert offenders in ([0], list(range(1, len(offenders) + 1)))
        arrests = [r["arrest_date"] for r in children["06"]]
        assert arrests == sorted(arrests)


def test_months_reported_counts_zero_report_or_group_a_b_months(made):
    headers = [values for record_type, values in made["records"] if record_type == "BH"]
    assert any(h["months_reported"] == "00" for h in headers)  # agencies with a header only
    assert any(h["months_reported"] == "12" for h in headers)
    for h in headers:
        reported = sum("Y" in (h[f"{m}_zero_report"], h[f"{m}_group_a_b"]) for m in MONTHS)
        assert int(h["months_reported"]) == reported
        assert h["master_file_year"] == str(YEAR)


def test_incidents_are_unique_and_dated_in_their_agencys_reported_months(made):
    active, seen, ori = {}, set(), None
    for record_type, values in made["records"]:
        if record_type == "BH":
            ori = values["ori"]
            active[ori] = {i + 1 for i, m in enumerate(MONTHS) if values[f"{m}_group_a_b"] == "Y"}
        elif record_type == "01":
            assert values["ori"] == ori
            key = (values["ori"], values["incident_number"])
            assert key not in seen
            seen.add(key)
            assert values["incident_date"][:4] == str(YEAR)
            assert int(values["incident_date"][4:6]) in active[ori]


def test_deflate64_zip_holds_the_same_text(tmp_path, made):
    path = tmp_path / f"nibrs-{YEAR}.zip"
    synthesize(path, year=YEAR, incidents=INCIDENTS, seed=11, deflate64=True)
    with zipfile.ZipFile(path) as zf:
        (info,) = zf.infolist()
    assert info.compress_type == 9
    assert info.file_size == len(made["text"])
    assert member_bytes(path) == made["text"]


def test_truth_matches_the_administrative_records_and_their_outcomes(made):
    truth = pq.read_table(made["path"].with_suffix(".truth.parquet")).to_pylist()
    sets = record_sets(made["records"])
    assert len(truth) == len(sets)
    outcomes = Counter()
    for row, (admin, children) in zip(truth, sets, strict=True):
        assert row["ori"] == admin["ori"]
        assert row["incident_number"] == admin["incident_number"].strip(" ")
        assert row["incident_date"] == admin["incident_date"]
        assert row["p_cleared"] == pytest.approx(row["p_arrest"] + row["p_exceptional"])
        assert 0 < row["p_arrest"] < 1
        assert 0 < row["p_exceptional"] < 1
        outcomes[row["outcome"]] += 1
        if row["outcome"] == "exceptional":
            assert admin["cleared_exceptionally"] in "ABCDE"
            assert admin["exceptional_clearance_date"] >= admin["incident_date"]
            assert not children["06"]
        elif row["outcome"] == "arrest":
            assert admin["cleared_exceptionally"] == "N"
            assert children["06"]
            assert all(r["arrest_date"] >= admin["incident_date"] for r in children["06"])
        else:
            assert admin["cleared_exceptionally"] == "N"
            assert not children["06"]
    assert 0.2 < (outcomes["arrest"] + outcomes["exceptional"]) / len(truth) < 0.35
    assert 0.02 < outcomes["exceptional"] / len(truth) < 0.09


def test_no_incidents_still_writes_every_agencys_header(tmp_path):
    path = tmp_path / f"nibrs-{YEAR}.zip"
    summary = synthesize(path, year=YEAR, incidents=0)
    lines = lines_of(member_bytes(path))
    assert summary["records"]["BH"] == len(lines) > 0
    assert all(line.startswith(b"BH") for line in lines)
    assert pq.read_table(path.with_suffix(".truth.parquet")).num_rows == 0


def test_progress_reports_increments_that_add_up(tmp_path):
    steps: list[int] = []
    synthesize(tmp_path / "nibrs-2021.zip", year=2021, incidents=70_000, progress=steps.append)
    assert len(steps) > 1
    assert sum(steps) == 70_000


@pytest.mark.parametrize("year", [1991, 2000])
def test_the_earliest_years_synthesize_and_decode(tmp_path, year):
    """1991 has no earlier year to date an agency's start from; 2000 none for inactivity."""
    from decoder.decode import decode_zip

    zip_path = tmp_path / f"nibrs-{year}.zip"
    synthesize(zip_path, year=year, incidents=300, seed=1, legacy_headers=True)
    summary = decode_zip(zip_path, tmp_path / "out").as_dict()
    assert summary["data_year"] == year
    assert summary["rows"]["administrative"] == 300
    assert summary["quarantined"]["total"] == 0


def test_vermont_2015_arrestees_are_written_in_its_wider_layout_and_decode_whole(
    tmp_path, monkeypatch
):
    """Reference §1.7: in 2015 Vermont wrote 13-character arrest transaction numbers, so its
    06 and W6 records are a byte longer. The decoder reads them with that layout variant;
    written in the standard one, every field after the number would decode shifted."""
    from decoder.decode import decode_zip

    wider = {v.layout.record_type: v for v in load_variants() if (v.data_year, v.state_code)
             == (2015, "44")}  # fmt: skip
    assert set(wider) == {"06", "W6"}
    number_width = wider["06"].layout.field("arrest_transaction_number").length  # 13
    # W6 records are a few per thousand incidents: many more here, so Vermont has some too
    monkeypatch.setattr(nibrs_synth, "WINDOW_RATE", 0.25)
    zip_path = tmp_path / "nibrs-2015.zip"
    # a state per ten agencies: 510 agencies bring all 51 states, Vermont among them
    synthesize(zip_path, year=2015, incidents=4000, seed=1, agencies=510)

    layouts = load_layouts()
    written = Counter()
    for line in lines_of(member_bytes(zip_path)):
        record_type = line[:2].decode()
        if record_type in wider and line[2:4] == b"44":
            assert len(line) == wider[record_type].layout.length, line
            written[record_type] += 1
        elif record_type in wider:
            assert len(line) == layouts[record_type].length, line
    assert written["06"] > 0
    assert written["W6"] > 0

    summary = decode_zip(zip_path, tmp_path / "out").as_dict()
    assert summary["quarantined"]["total"] == 0
    assert summary["layout_variants_applied"] == {wider["06"].name: written.total()}

    truth = pq.read_table(zip_path.with_suffix(".truth.parquet")).to_pylist()
    incidents = {(row["ori"], row["incident_number"]): row for row in truth}
    arrestees = [r for r in read_rows(tmp_path / "out", "arrestee") if r["state_code"] == "44"]
    windows = [r for r in read_rows(tmp_path / "out", "window_arrestee") if r["state_code"] == "44"]
    assert len(arrestees) == written["06"]
    assert len(windows) == written["W6"]
    arrested = {key for key, row in incidents.items() if row["ori"].startswith("VT")
                and row["outcome"] == "arrest"}  # fmt: skip
    assert {(r["ori"], r["incident_number"]) for r in arrestees} == arrested
    for row in arrestees + windows:
        # the whole number, its last character included, and every field after it in place
        assert len(row["arrest_transaction_number"]) == number_width, row
        arrest_date = datetime.strptime(row["arrest_date"], "%Y%m%d").date()
        assert 10 <= int(row["arrestee_age"]) <= 85, row
        assert row["arrestee_sex"] in ("M", "F"), row
        assert row["overflow"] is None, row
        if row["segment_level"] == "06":
            incident = incidents[row["ori"], row["incident_number"]]
            incident_date = datetime.strptime(incident["incident_date"], "%Y%m%d").date()
            assert 0 <= (arrest_date - incident_date).days <= 400, row
        else:
            assert arrest_date.year == 2015, row
            assert row["w6_window_clearance_flag"] in ("Y", "N"), row
