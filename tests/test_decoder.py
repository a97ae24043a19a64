"""The decoder against real lines, its byte-level variants, and bad input."""

import datetime
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import read_rows

from decoder import slicing
from decoder.cli import main as nibrs_decode
from decoder.decode import PADDING, decode_zip
from decoder.layouts import load_layouts
from decoder.source import DecodeError, inflating_child, open_member, start_inflating

SEGMENTS = [
    "batch_header", "administrative", "offense", "property", "victim", "offender", "arrestee",
    "group_b_arrest", "window_exceptional_clearance", "window_recovered_property",
    "window_arrestee",
]  # fmt: skip


def decode_sample(make_zip, tmp_path, text, **kwargs):
    out = tmp_path / "out"
    summary = decode_zip(make_zip(text, **kwargs), out)
    return out, summary


# -- real 2021 lines, values worked out by hand from reference §2 --------------------------


def test_real_lines_decode_to_hand_checked_values(make_zip, tmp_path, sample_bytes):
    out, summary = decode_sample(make_zip, tmp_path, sample_bytes)

    assert summary.quarantined == {}
    assert {s: summary.rows[s] for s in SEGMENTS} == {
        "batch_header": 2, "administrative": 1, "offense": 1, "property": 1, "victim": 1,
        "offender": 1, "arrestee": 1, "group_b_arrest": 2, "window_exceptional_clearance": 1,
        "window_recovered_property": 2, "window_arrestee": 1,
    }  # fmt: skip

    fairbanks = read_rows(out, "batch_header")[1]
    # BH50AK0010200000000000000        20210101FAIRBANKS ... AK4 941Y ... 00003059800 258 ...
    assert fairbanks["state_code"] == "50"
    assert fairbanks["ori"] == "AK0010200"
    assert fairbanks["incident_number"] == "000000000000"
    assert fairbanks["date_ori_added"] is None  # positions 26-33 are blank
    assert fairbanks["date_ori_went_nibrs"] == "20210101"
    assert fairbanks["city_name"] == "FAIRBANKS"
    assert fairbanks["population_group"] == "4"  # "4 ": no sub-group, outer blank stripped
    assert fairbanks["current_population_1"] == "000030598"
    assert fairbanks["months_reported"] == "12"
    assert fairbanks["master_file_year"] == "2021"
    assert fairbanks["leoka_ibr_start_date"] is None  # documented 285-292, absent in 2021
    assert fairbanks["line_number"] == 2

    (incident,) = read_rows(out, "administrative")
    # 0101AL001000000220526012720211206 12010010100    N<38 blanks>N
    assert {k: incident[k] for k in list(incident)[:15]} == {
        "segment_level": "01", "state_code": "01", "ori": "AL0010000",
        "incident_number": "002205260127", "incident_date": "20211206",
        "report_date_indicator": None, "incident_hour": "12", "total_offense_segments": "01",
        "total_victim_segments": "001", "total_offender_segments": "01",
        "total_arrestee_segments": "00", "city_submission": None,
        "cleared_exceptionally": "N", "exceptional_clearance_date": None,
        "cargo_theft_indicator": "N",
    }  # fmt: skip
    assert incident["bh_ori"] == "AK0010200"  # the batch header it follows, not its own ORI
    assert incident["data_year"] == 2021
    assert incident["line_number"] == 3
    assert incident["overflow"] is None

    (offense,) = read_rows(out, "offense")
    # 0204CA0334200MR21-3723   2021071523FCN  13               88
    assert offense["incident_number"] == "MR21-3723"  # plain style: trailing blanks stripped
    assert offense["ucr_offense_code"] == "23F"
    assert offense["attempted_completed"] == "C"
    assert offense["offender_suspected_of_using_1"] == "N"
    assert offense["location_type"] == "13"
    assert offense["weapon_force_1"] is None
    assert offense["bias_motivation"] == "88"

    (victim,) = read_rows(out, "victim")
    assert victim["victim_sequence_number"] == "004"
    assert victim["victim_ucr_offense_1"] == "26F"
    assert (victim["victim_type"], victim["victim_age"], victim["victim_sex"]) == ("I", "56", "F")
    assert (victim["victim_race"], victim["victim_ethnicity"]) == ("W", "N")
    assert victim["relationship_1"] is None

    (offender,) = read_rows(out, "offender")
    # 0501AL0010200474AA46F2176202107080116MBN: sequence 01, age 16, M, B, N
    assert offender["offender_sequence_number"] == "01"
    assert (offender["offender_age"], offender["offender_sex"]) == ("16", "M")
    assert (offender["offender_race"], offender["offender_ethnicity"]) == ("B", "N")

    (arrestee,) = read_rows(out, "arrestee")
    # 0604CA0270000FG2102356   2021042901FG2102356-0120210429ON23G01    34MW
    assert arrestee["arrest_transaction_number"] == "FG2102356-01"
    assert arrestee["arrest_date"] == "20210429"
    assert (arrestee["type_of_arrest"], arrestee["multiple_arrestee_indicator"]) == ("O", "N")
    assert arrestee["arrest_offense_code"] == "23G"
    assert arrestee["armed_with_1"] == "01"
    assert (arrestee["arrestee_age"], arrestee["arrestee_sex"]) == ("34", "M")

    group_b = read_rows(out, "group_b_arrest")[0]
    # 0750AK001020046075       2021010101    O90J01    33MINR
    assert group_b["arrest_transaction_number"] == "46075"
    assert group_b["arrest_date"] == "20210101"
    assert group_b["arrest_offense_code"] == "90J"
    assert group_b["arrestee_race"] == "I"
    assert group_b["under18_disposition"] is None

    (window_clearance,) = read_rows(out, "window_exceptional_clearance")
    # W107DE00203003219011670  20190205R00000000000    B20210106 ... N
    assert window_clearance["incident_date"] == "20190205"
    assert window_clearance["report_date_indicator"] == "R"
    assert window_clearance["total_victim_segments"] == "000"
    assert window_clearance["cleared_exceptionally"] == "B"
    assert window_clearance["exceptional_clearance_date"] == "20210106"
    assert window_clearance["w1_ucr_offense_code_1"] is None

    window_property = read_rows(out, "window_recovered_property")[1]
    assert window_property["incident_date"] is None  # blank on W3 in 2021
    assert window_property["type_property_loss"] == "5"
    assert window_property["property_description"] == "13"
    assert window_property["property_value"] == "000000260"
    assert window_property["date_recovered"] == "20210206"
    assert window_property["w3_ucr_offense_code_1"] == "23F"

    (window_arrestee,) = read_rows(out, "window_arrestee")
    assert window_arrestee["incident_date"] is None
    assert window_arrestee["arrest_transaction_number"] == "21001006AWS"
    assert window_arrestee["w6_window_clearance_flag"] == "Y"


def test_summary_is_written_last_with_counts(make_zip, tmp_path, sample_bytes):
    out, _ = decode_sample(make_zip, tmp_path, sample_bytes)
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["records"]["W3"] == 2
    assert summary["line_lengths"]["BH"] == {"284": 2}
    assert summary["line_lengths"]["04"] == {"135": 1}
    assert summary["batch_header_master_file_years"] == {"2021": 2}
    # the sample is a mixture, not record sets: its children do not follow their 01
    assert summary["segment_counts"]["incidents"] == 1
    assert summary["segment_counts"]["orphan_child_records"] == 4


def test_every_segment_gets_a_table_even_when_empty(make_zip, tmp_path, sample_bytes):
    first_two = b"\n".join(sample_bytes.splitlines()[:2]) + b"\n"
    out, summary = decode_sample(make_zip, tmp_path, first_two)
    for segment in SEGMENTS:
        table = pq.read_table(out / segment)
        assert table.num_rows == summary.rows[segment]
        assert "line_number" in table.column_names
    assert summary.rows["administrative"] == 0


# -- byte-level variants ------------------------------------------------------------------


def all_rows(out):
    return {s: read_rows(out, s) for s in SEGMENTS}


def test_crlf_trimmed_and_unterminated_lines_decode_the_same(make_zip, tmp_path, sample_bytes):
    reference_out, _ = decode_sample(make_zip, tmp_path / "a", sample_bytes)
    lines = sample_bytes.splitlines()
    variants = {
        "crlf": b"\r\n".join(lines) + b"\r\n",
        "right_trimmed": b"\n".join(line.rstrip(b" ") for line in lines) + b"\n",
        "no_final_newline": b"\n".join(lines),
    }
    expected = all_rows(reference_out)
    for name, text in variants.items():
        out, summary = decode_sample(make_zip, tmp_path / name, text)
        assert summary.quarantined == {}, name
        assert all_rows(out) == expected, name


def test_nul_bytes_read_as_blanks(make_zip, tmp_path, sample_bytes):
    lines = sample_bytes.splitlines()
    lines[0] = lines[0][:13] + b"\x00" * 12 + lines[0][25:]  # pre-2017 style BH filler
    out, summary = decode_sample(make_zip, tmp_path, b"\n".join(lines) + b"\n")
    assert summary.quarantined == {}
    anchorage = read_rows(out, "batch_header")[0]
    assert anchorage["incident_number"] is None
    assert anchorage["city_name"] == "ANCHORAGE"  # positions after the NULs did not shift


def test_extra_bytes_are_kept_in_overflow(make_zip, tmp_path, sample_bytes):
    lines = sample_bytes.splitlines()
    lines[3] = lines[3] + b"2131"  # 02 with bias motivations 2-3 at 60-63, as RTI reads them
    out, summary = decode_sample(make_zip, tmp_path, b"\n".join(lines) + b"\n")
    (offense,) = read_rows(out, "offense")
    assert offense["bias_motivation"] == "88"
    assert offense["overflow"] == "2131"
    assert summary.as_dict()["line_lengths"]["02"] == {"63": 1}


def test_latin1_bytes_survive(make_zip, tmp_path, sample_bytes):
    text = sample_bytes.replace(b"FAIRBANKS", b"FA\xd1RBANKS")
    out, _ = decode_sample(make_zip, tmp_path, text)
    assert read_rows(out, "batch_header")[1]["city_name"] == "FAÑRBANKS"


UTF8_SHIFT = "UTF-8 multi-byte characters in a record not of its layout's length: fields shifted"


def decode_both_engines(make_zip, tmp_path, text: bytes) -> dict:
    """Decode ``text`` with each engine (and two workers); every engine's output the same."""
    outputs = {}
    for workers, engine in [(1, "native"), (1, "numpy"), (2, "native")]:
        out = tmp_path / f"{engine}-{workers}"
        summary = decode_zip(make_zip(text), out, block_size=300, workers=workers, engine=engine)
        quarantine = (
            pq.read_table(out / "_quarantine").sort_by("line_number").to_pylist()
            if (out / "_quarantine").is_dir()
            else []
        )
        outputs[engine, workers] = (summary.quarantined, all_rows(out), quarantine)
    first = next(iter(outputs.values()))
    assert all(output == first for output in outputs.values())
    return {"quarantined": first[0], "rows": first[1], "quarantine": first[2]}


def test_utf8_characters_are_told_apart_from_latin1_bytes():
    lines = [
        b"01 plain ASCII",
        b"01 ESPA\xd1OLA, CA\xd1ON CITY: latin-1 letters",
        b"01 WHIT\xc3\x89PORT",  # É in UTF-8
        b"01 \xe2\x82\xac and \xf0\x9f\x98\x80: three and four bytes",
        b"01 overlong \xc0\xaf \xe0\x80\xaf, surrogate \xed\xa0\x80, too big \xf4\x90\x80\x80",
        b"01 a stray \xa9, a lead cut by its line end \xc3",
        b"\xc3\xa9 first",
    ]
    text = b"\n".join(lines) + b"\n"
    block = np.frombuffer(text + b" " * PADDING, np.uint8)
    starts, _ = slicing.split_lines(block, len(text))
    rows, first_at = slicing.utf8_characters(block, len(text), starts)
    assert rows.tolist() == [2, 3, 6]
    assert first_at.tolist() == [7, 3, 0]
    plain = b"\n".join(lines[:2]) + b"\n"  # latin-1 letters alone: no further look needed
    none, _ = slicing.utf8_characters(np.frombuffer(plain, np.uint8), len(plain), starts[:2])
    assert not none.size


@pytest.mark.parametrize("trimmed", [False, True])
def test_a_utf8_character_that_would_shift_the_fields_is_quarantined(
    make_zip, tmp_path, sample_bytes, trimmed
):
    lines = sample_bytes.splitlines()
    whiteport = lines[1].replace(b"FAIRBANKS", "WHITÉPORT".encode())  # É is two bytes
    assert len(whiteport) == len(lines[1]) + 1  # every later field one byte to the right
    lines[1] = whiteport.rstrip(b" ") if trimmed else whiteport  # as files before 2013 are
    text = b"\n".join(lines) + b"\n"

    decoded = decode_both_engines(make_zip, tmp_path, text)
    assert decoded["quarantined"] == {UTF8_SHIFT: 1}
    (quarantined,) = decoded["quarantine"]
    assert (quarantined["line_number"], quarantined["raw"]) == (2, lines[1])
    assert [row["city_name"] for row in decoded["rows"]["batch_header"]] == ["ANCHORAGE"]
    # the records after it decode on, still of its agency: its ORI comes before its city
    (incident,) = decoded["rows"]["administrative"]
    assert incident["bh_ori"] == "AK0010200"
    zip_path = make_zip(text)
    assert nibrs_decode([str(zip_path), "--out", str(tmp_path / "cli"), "--strict"]) == 1


def test_latin1_that_reads_as_utf8_keeps_its_place_in_a_record_of_its_length(
    make_zip, tmp_path, sample_bytes
):
    lines = sample_bytes.splitlines()
    lines[1] = lines[1].replace(b"FAIRBANKS", b"FAIRBAN\xc3\xa9")  # as long as before
    lines[5] = lines[5] + b"\xd1X"  # latin-1 past a layout, no UTF-8: overflow as ever
    decoded = decode_both_engines(make_zip, tmp_path, b"\n".join(lines) + b"\n")
    assert decoded["quarantined"] == {}
    fairbanks = decoded["rows"]["batch_header"][1]
    assert (fairbanks["city_name"], fairbanks["state_abbr"]) == ("FAIRBANÃ©", "AK")
    assert decoded["rows"]["victim"][0]["overflow"] == "ÑX"


def test_deflate64_reads_like_deflate(make_zip, tmp_path, sample_bytes):
    deflate_out, _ = decode_sample(make_zip, tmp_path / "d", sample_bytes)
    deflate64_zip = make_zip(sample_bytes, name="nibrs-2021-64.zip", deflate64=True)
    assert zipfile.ZipFile(deflate64_zip).infolist()[0].compress_type == 9
    summary = decode_zip(deflate64_zip, tmp_path / "d64")
    assert summary.compression == "deflate64"
    assert all_rows(tmp_path / "d64") == all_rows(deflate_out)


def test_state_carries_across_blocks(make_zip, tmp_path, sample_bytes):
    """Tiny blocks split record sets and batch headers; the results must not change."""
    lines = sample_bytes.splitlines()
    bh, admin = lines[1], lines[2]
    # a consistent record set: 01 declaring 1 offense, 1 victim, 1 offender, 0 arrestees
    children = [line[:2] + admin[2:33] + line[33:] for line in (lines[3], lines[5], lines[6])]
    text = b"\n".join([bh, admin, *children, bh, admin, *children]) + b"\n"
    one_block = decode_zip(make_zip(text), tmp_path / "one")
    many_blocks = decode_zip(make_zip(text, name="nibrs-2021b.zip"), tmp_path / "many",
                             block_size=90)  # fmt: skip
    assert one_block.segment_counts == many_blocks.segment_counts
    counts = one_block.segment_counts
    assert counts["incidents"] == 2
    assert counts["orphan_child_records"] == 0
    assert counts["offense"] == {"declared": 2, "present": 2, "incidents_differing": 0}
    assert counts["victim"] == {"declared": 2, "present": 2, "incidents_differing": 0}
    assert counts["offender"] == {"declared": 2, "present": 2, "incidents_differing": 0}
    assert all_rows(tmp_path / "one") == all_rows(tmp_path / "many")


def test_legacy_b1_b2_b3_merge_into_one_batch_header_row(make_zip, tmp_path, sample_bytes):
    layouts = load_layouts()
    bh_line = sample_bytes.splitlines()[1]
    bh = {f.name: bh_line[f.offset : f.end] for f in layouts["BH"].fields}

    def legacy(record_type: str) -> bytes:
        layout = layouts[record_type]
        line = bytearray(b" " * layout.length)
        for f in layout.fields:
            line[f.offset : f.end] = bh[f.name]
        line[:2] = record_type.encode()
        return bytes(line).rstrip()

    text = b"\n".join([legacy("B1"), legacy("B2"), legacy("B3"), *sample_bytes.splitlines()[2:]])
    out, summary = decode_sample(make_zip, tmp_path, text + b"\n")
    (merged,) = read_rows(out, "batch_header")
    assert summary.quarantined == {}
    expected = read_rows(decode_sample(make_zip, tmp_path / "bh", sample_bytes)[0], "batch_header")[
        1
    ]
    differs = {k for k in expected if merged[k] != expected[k]}
    assert differs == {"segment_level", "line_number"}  # every field else is the same
    assert (merged["segment_level"], merged["line_number"]) == ("B1", 1)
    assert read_rows(out, "administrative")[0]["bh_ori"] == "AK0010200"


# -- bad input ---------------------------------------------------------------------------


def one_error_line(capsys) -> str:
    """What the command wrote on stderr: one line, an error."""
    err = capsys.readouterr().err
    assert err.startswith("nibrs-decode: error: ")
    assert err.count("\n") == 1
    return err


@pytest.mark.parametrize(("workers", "engine"), [(1, "native"), (1, "numpy"), (2, "native")])
def test_unknown_short_long_and_headerless_records_are_quarantined(
    make_zip, tmp_path, sample_bytes, workers, engine
):
    lines = sample_bytes.splitlines()
    text = b"\n".join(
        [
            lines[2],  # an 01 before any batch header
            *lines[:2],
            b"ZZ this is not a record type" + b" " * 40,
            lines[3][:20],  # cut before the end of its incident number
            lines[5] + lines[5],  # two victim records run together
            *lines[2:],
        ]
    )
    out = tmp_path / "out"
    summary = decode_zip(
        make_zip(text + b"\n"), out, block_size=200, workers=workers, engine=engine
    )
    assert summary.quarantined == {
        "record before any batch header": 1,
        "unknown record type": 1,
        "shorter than 25 bytes, the record key": 1,
        "longer than its layout allows: records run together?": 1,
    }
    quarantine = pq.read_table(out / "_quarantine").to_pylist()
    by_line = {q["line_number"]: q for q in quarantine}
    assert by_line[1]["raw"] == lines[2]
    assert by_line[4]["record_type"] == "ZZ"
    assert by_line[5]["length"] == 20
    assert by_line[6]["raw"] == lines[5] + lines[5]
    # decoding went on: every good record is in its table
    assert summary.rows["administrative"] == 1
    assert summary.rows["victim"] == 1


def test_strict_exits_nonzero_on_quarantine(make_zip, tmp_path, sample_bytes, capsys):
    zip_path = make_zip(sample_bytes + b"ZZ bad record " + b"x" * 30 + b"\n")
    assert nibrs_decode([str(zip_path), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert nibrs_decode([str(zip_path), "--out", str(tmp_path / "b"), "--strict"]) == 1
    assert "1 record(s) quarantined" in capsys.readouterr().err


def test_nibrs_decode_as_a_command_exits_with_its_code_after_writing_everything(
    make_zip, tmp_path, sample_bytes
):
    # the command leaves without the interpreter's teardown (decoder.cli.console)
    zip_path = make_zip(sample_bytes + b"ZZ bad record " + b"x" * 30 + b"\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "decoder.cli", str(zip_path), "--out", str(out)]
    done = subprocess.run([*command, "--strict"], check=False, capture_output=True, text=True)
    assert done.returncode == 1
    assert json.loads(done.stdout)["data_year"] == 2021  # the summary, printed in full
    assert "1 record(s) quarantined" in done.stderr
    summary = json.loads((out / "_summary.json").read_text())
    for segment, rows in summary["rows"].items():
        assert pq.read_table(out / segment).num_rows == rows


def test_not_a_zip(tmp_path):
    path = tmp_path / "nibrs-2021.zip"
    path.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(DecodeError, match=r"nibrs-2021\.zip: not a readable zip archive"):
        decode_zip(path, tmp_path / "out")


def test_truncated_zip(make_zip, tmp_path, sample_bytes):
    path = make_zip(sample_bytes * 50)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DecodeError, match="truncated or corrupt"):
        decode_zip(path, tmp_path / "out")


def test_corrupt_member_fails_its_crc(make_zip, tmp_path, sample_bytes):
    path = make_zip(sample_bytes * 50, deflate64=False)
    raw = bytearray(path.read_bytes())
    data_start = 30 + len("2021_NIBRS_NATIONAL_MASTER_FILE_ENC.txt") + 20
    raw[data_start + 40] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DecodeError, match=r"corrupt|CRC|truncated"):
        decode_zip(path, tmp_path / "out")
    assert not (tmp_path / "out" / "_summary.json").exists()
    assert not list((tmp_path / "out").rglob("*.parquet"))  # nothing half-written published


def redeclare(path: Path, *, size_change: int = 0, crc_change: int = 0) -> zipfile.ZipInfo:
    """Change the size or CRC both headers declare for the member; its data stays as it is."""
    info = zipfile.ZipFile(path).infolist()[0]
    raw = bytearray(path.read_bytes())
    sizes = struct.pack("<HHQQ", 1, 16, info.file_size, info.compress_size)  # zip64 extra
    assert raw.count(sizes) == 2
    raw = raw.replace(
        sizes, struct.pack("<HHQQ", 1, 16, info.file_size + size_change, info.compress_size)
    )
    for crc_at in (14, raw.rindex(b"PK\x01\x02") + 16):
        struct.pack_into("<I", raw, crc_at, info.CRC ^ crc_change)
    path.write_bytes(bytes(raw))
    return info


@pytest.mark.parametrize("size_change", [-1, 1])
def test_a_deflate64_member_inflating_to_another_size_is_corrupt_not_truncated(
    make_zip, tmp_path, sample_bytes, size_change
):
    path = make_zip(sample_bytes * 50, deflate64=True)
    info = redeclare(path, size_change=size_change)
    with pytest.raises(DecodeError) as raised:
        decode_zip(path, tmp_path / "out")
    message = str(raised.value)
    assert "is corrupt" in message
    assert "truncated" not in message
    assert f"{info.file_size:,} bytes" in message  # what it inflated to
    assert f"{info.file_size + size_change:,}" in message  # what the zip declares
    assert message.endswith("download it again")


def test_a_member_failing_its_crc_says_so_with_both_values(make_zip, tmp_path, sample_bytes):
    path = make_zip(sample_bytes * 50, deflate64=True)
    info = redeclare(path, crc_change=0xFF)
    with pytest.raises(DecodeError) as raised:
        decode_zip(path, tmp_path / "out")
    message = str(raised.value)
    assert "is corrupt" in message
    assert "CRC" in message
    assert f"{info.CRC:08x}" in message
    assert f"{info.CRC ^ 0xFF:08x}" in message
    assert message.endswith("download it again")


def read_through_slots(zip_path: Path, slot_bytes: int, slots: int) -> bytes:
    member = open_member(zip_path)
    child = start_inflating(member, slot_bytes, slots)
    got = bytearray()
    with inflating_child(member, child) as reader:
        while True:
            at, size = reader.next_slot()
            if not size:
                break
            got += child.ring[at : at + size]
            reader.release(size)
    return bytes(got)


def test_the_inflating_child_hands_over_every_byte_through_small_slots(make_zip, sample_bytes):
    text = sample_bytes * 40
    # slots of an odd size, two of them: the child fills each from several pieces, or one
    # piece over several, and waits for the reader again and again
    assert read_through_slots(make_zip(text, deflate64=True), 4099, 2) == text


def test_a_member_corrupt_past_its_start_fails_in_the_inflating_child(make_zip, sample_bytes):
    path = make_zip(sample_bytes * 400, deflate64=False)
    raw = bytearray(path.read_bytes())
    raw[-200] ^= 0xFF  # near the end of the compressed data, before the central directory
    path.write_bytes(bytes(raw))
    with pytest.raises(DecodeError, match=r"corrupt|CRC|truncated"):
        read_through_slots(path, 1 << 12, 3)


def test_zip_without_a_text_member(tmp_path):
    path = tmp_path / "nibrs-2021.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("docs/", b"")
    with pytest.raises(DecodeError, match="holds no file"):
        decode_zip(path, tmp_path / "out")


def test_member_that_is_not_a_master_file(make_zip, tmp_path):
    path = make_zip(b"%PDF-1.7 not a master file\n", member="readme.pdf")
    with pytest.raises(DecodeError, match="does not look like a NIBRS master file"):
        decode_zip(path, tmp_path / "out")


def test_year_from_member_name_or_flag(make_zip, tmp_path, sample_bytes):
    from_member = make_zip(sample_bytes, name="download.zip")
    assert decode_zip(from_member, tmp_path / "a").data_year == 2021
    nameless = make_zip(sample_bytes, name="download2.zip", member="master.txt")
    with pytest.raises(DecodeError, match="pass --year"):
        decode_zip(nameless, tmp_path / "b")
    assert decode_zip(nameless, tmp_path / "c", year=2021).data_year == 2021
    assert read_rows(tmp_path / "c", "offense")[0]["data_year"] == 2021


def test_a_year_nibrs_never_had_is_refused(make_zip, tmp_path, sample_bytes, capsys):
    zip_path = make_zip(sample_bytes)
    next_year = datetime.date.today().year + 1
    for year in (1850, 1990, next_year):
        with pytest.raises(DecodeError, match=rf"year {year} .*1991"):
            decode_zip(zip_path, tmp_path / "out", year=year)
    assert not (tmp_path / "out").exists()  # refused before anything was written
    assert nibrs_decode([str(zip_path), "--out", str(tmp_path / "cli"), "--year", "1850"]) == 2
    err = one_error_line(capsys)
    assert "1850" in err
    # a number in a file name that is no NIBRS year is not taken for the data year
    backup = make_zip(sample_bytes, name=f"backup-{next_year}.zip")
    assert decode_zip(backup, tmp_path / "backup").data_year == 2021  # the member's name


@pytest.mark.parametrize("workers", [1, 2])
def test_a_year_the_batch_headers_contradict_is_refused_and_nothing_is_published(
    make_zip, tmp_path, sample_bytes, workers
):
    zip_path = make_zip(sample_bytes)
    out = tmp_path / "out"
    decode_zip(zip_path, out)
    published = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(DecodeError, match=r"--year 2019 .*master-file year 2021"):
        decode_zip(zip_path, out, year=2019, workers=workers)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == published

    # a zip named for another year than its batch headers declare is no better
    renamed = make_zip(sample_bytes, name="nibrs-2020.zip")
    with pytest.raises(DecodeError, match=r"2020 .*master-file year 2021"):
        decode_zip(renamed, tmp_path / "renamed", workers=workers)
    assert not list((tmp_path / "renamed").rglob("*.parquet"))
    assert not (tmp_path / "renamed" / "_summary.json").exists()


def test_cli_refuses_a_contradicted_year_in_one_line(make_zip, tmp_path, sample_bytes, capsys):
    argv = [str(make_zip(sample_bytes)), "--out", str(tmp_path / "out"), "--year", "2019"]
    assert nibrs_decode(argv) == 2
    err = one_error_line(capsys)
    assert "2019" in err
    assert "2021" in err


def test_rerun_replaces_previous_outputs(make_zip, tmp_path, sample_bytes):
    out = tmp_path / "out"
    decode_zip(make_zip(sample_bytes + b"ZZ junk " + b"x" * 30 + b"\n"), out)
    assert list((out / "_quarantine").glob("*.parquet"))
    decode_zip(make_zip(sample_bytes, name="nibrs-2021-clean.zip"), out)
    assert not list((out / "_quarantine").glob("*.parquet"))
    assert [p.name for p in (out / "offense").iterdir()] == ["part-0.parquet"]


def test_cli_error_is_one_clear_line(tmp_path, capsys):
    assert nibrs_decode([str(tmp_path / "missing.zip"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nibrs-decode: error: ")
    assert "missing.zip: no such file" in err


def test_an_out_that_is_a_file_is_a_one_line_error(make_zip, tmp_path, sample_bytes, capsys):
    zip_path = make_zip(sample_bytes)
    a_file = tmp_path / "decoded.txt"
    a_file.write_text("not a folder")
    for out in (a_file, a_file / "below"):
        assert nibrs_decode([str(zip_path), "--out", str(out), "--quiet"]) == 2
        err = one_error_line(capsys)
        assert f"{out}: " in err
        assert "not a folder" in err
        with pytest.raises(DecodeError, match="not a folder"):
            decode_zip(zip_path, out)
    assert a_file.read_text() == "not a folder"


def test_an_unwritable_out_is_a_one_line_error(make_zip, tmp_path, sample_bytes, capsys):
    zip_path = make_zip(sample_bytes)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        try:
            (locked / "probe").touch()
        except PermissionError:
            pass
        else:  # root, unless run without CAP_DAC_OVERRIDE (setpriv --bounding-set)
            pytest.skip("this user may write in a read-only folder")
        for out in (locked, locked / "new"):
            assert nibrs_decode([str(zip_path), "--out", str(out), "--quiet"]) == 2
            err = one_error_line(capsys)
            assert f"{out}: " in err
            assert "Permission denied" in err
    finally:
        locked.chmod(0o700)


def inflating_children(zip_path: Path) -> list[str]:
    """Processes still inflating ``zip_path`` (Linux: their command lines in /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        if b"decoder.source" in args and str(zip_path).encode() in args:
            found.append(cmdline.parent.name)
    return found


def test_cli_stops_the_child_it_started_early_when_decoding_fails(make_zip, tmp_path, capsys):
    # nibrs-decode starts inflating before it knows the year; the error must not leave the
    # child behind, blocked on a full pipe
    nameless = make_zip(b"x" * (4 << 20), name="download.zip", member="master.txt")
    assert nibrs_decode([str(nameless), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "pass --year" in capsys.readouterr().err
    assert inflating_children(nameless) == []


def test_a_record_set_left_over_longer_than_a_slot_head_is_copied_whole(
    make_zip, tmp_path, sample_bytes
):
    # an incident followed by 2.5 MB of Group B arrests: the first 2 MB block ends 2 MB past
    # its last set start, more than the slot head holds (source.SLOT_HEAD), so the next
    # block is put together in a buffer of its own
    lines = sample_bytes.splitlines()
    bh, admin, group_b = lines[1], lines[2], next(line for line in lines if line[:2] == b"07")
    arrests = [group_b] * (int(2.5 * (1 << 20)) // (len(group_b) + 1))
    text = b"\n".join([bh, admin, *arrests, admin, bh, admin]) + b"\n"
    one_block = decode_zip(make_zip(text), tmp_path / "one")
    slots = decode_zip(make_zip(text, name="nibrs-2021b.zip"), tmp_path / "many",
                       block_size=2 << 20)  # fmt: skip
    assert slots.records["07"] == one_block.records["07"] == len(arrests)
    assert all_rows(tmp_path / "one") == all_rows(tmp_path / "many")


def test_a_line_of_megabytes_is_not_a_master_file(make_zip, tmp_path, sample_bytes):
    runaway = sample_bytes.splitlines()[0] + b"9" * (2 << 20)  # lost its line ends
    with pytest.raises(DecodeError, match=r"line 1 of .* is longer than 1,048,576 bytes"):
        decode_zip(make_zip(runaway), tmp_path / "out", block_size=1 << 16)
    assert not (tmp_path / "out" / "_summary.json").exists()


def test_vermont_2015_arrestees_use_their_wider_transaction_number(
    make_zip, tmp_path, sample_bytes
):
    """Reference §1.7: 13-character arrest transaction numbers shift every later field."""
    lines = sample_bytes.splitlines()
    arrestee = lines[7]  # 0604CA0270000FG2102356   2021042901FG2102356-0120210429ON23G01 ...
    vermont = b"0644" + arrestee[4:35] + b"VT-2015-00001" + arrestee[47:]  # one byte longer

    def of_year(year: int) -> bytes:  # the batch header declares the file's year
        header = lines[1][:229] + str(year).encode() + lines[1][233:]  # master_file_year
        return b"\n".join([header, vermont, arrestee]) + b"\n"

    summary = decode_zip(make_zip(of_year(2015), name="nibrs-2015.zip"), tmp_path / "y2015")
    vt, ca = read_rows(tmp_path / "y2015", "arrestee")
    assert summary.as_dict()["layout_variants_applied"] == {
        "vermont_2015_arrest_transaction_number": 1
    }
    assert vt["arrest_transaction_number"] == "VT-2015-00001"
    assert (vt["arrest_date"], vt["arrest_offense_code"]) == ("20210429", "23G")
    assert (vt["arrestee_age"], vt["under18_disposition"], vt["overflow"]) == ("34", None, None)
    assert ca["arrest_transaction_number"] == "FG2102356-01"  # other states: standard layout

    decode_zip(make_zip(of_year(2016), name="nibrs-2016.zip"), tmp_path / "y2016")
    vt_2016 = read_rows(tmp_path / "y2016", "arrestee")[0]
    assert vt_2016["arrest_transaction_number"] == "VT-2015-0000"  # no variant that year


@pytest.mark.parametrize(("option", "codec"), [(None, "SNAPPY"), ("zstd", "ZSTD")])
def test_parquet_compression_is_snappy_unless_asked(
    make_zip, tmp_path, sample_bytes, option, codec
):
    out = tmp_path / "out"
    argv = [str(make_zip(sample_bytes)), "--out", str(out), "--quiet"]
    assert nibrs_decode(argv + (["--parquet-compression", option] if option else [])) == 0
    metadata = pq.ParquetFile(next((out / "victim").glob("*.parquet"))).metadata
    assert metadata.row_group(0).column(0).compression == codec


def test_an_unknown_parquet_compression_is_refused(make_zip, tmp_path, sample_bytes):
    with pytest.raises(DecodeError, match="choose one of snappy, zstd"):
        decode_zip(make_zip(sample_bytes), tmp_path / "out", parquet_compression="gzip9")
