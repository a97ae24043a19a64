"""Synthesize -> decode: every field of every record type against a naive slicer.

The naive slicer is the reference's definition written as plainly as possible, one line and
one field at a time; the decoder's vectorised path must agree with it on every value.
"""

import pytest
from conftest import read_rows

from decoder.decode import decode_zip
from decoder.layouts import load_layouts
from decoder.source import iter_inflated, open_member
from testkit.nibrs_synth import synthesize

LEGACY = ("B1", "B2", "B3")


def naive_rows(text: bytes, year: int) -> dict[str, list[dict]]:
    """Decode the member text line by line, field by field."""
    layouts = load_layouts()
    out: dict[str, list[dict]] = {}
    bh_ori = None
    for number, raw in enumerate(text.split(b"\n"), start=1):
        line = raw.removesuffix(b"\r").replace(b"\x00", b" ")
        if not line:
            continue
        layout = layouts[line[:2].decode()]
        if layout.record_type in ("BH", *LEGACY):
            bh_ori = line[4:13].decode("latin-1").strip()
        if layout.record_type in LEGACY:
            continue  # merged rows are checked separately
        padded = line.ljust(layout.width)
        row = {f.name: padded[f.offset : f.end].strip(b" ").decode("latin-1") or None
               for f in layout.fields}  # fmt: skip
        row.update(
            overflow=padded[layout.width :].strip(b" ").decode("latin-1") or None,
            data_year=year, bh_ori=bh_ori, line_number=number,
        )  # fmt: skip
        out.setdefault(layout.segment, []).append(row)
    return out


def member_text(zip_path) -> bytes:
    return b"".join(iter_inflated(open_member(zip_path)))


VARIANTS = {
    "default": {},
    "deflate64_crlf": {"deflate64": True, "crlf": True},
    "legacy_trimmed_nul": {"legacy_headers": True, "trim_lines": True, "nul_fill": True},
}


@pytest.mark.parametrize("engine", ["native", "numpy"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_field_of_every_record_type_round_trips(tmp_path, variant, engine):
    zip_path = tmp_path / "nibrs-2019.zip"
    made = synthesize(zip_path, year=2019, incidents=3000, seed=7, **VARIANTS[variant])
    # many small blocks, sliced by two worker processes: the path a big machine takes
    summary = decode_zip(zip_path, tmp_path / "out", block_size=1 << 18, workers=2, engine=engine)
    assert summary.engine == engine

    assert summary.quarantined == {}
    counts = summary.segment_counts
    assert counts["orphan_child_records"] == 0
    for name in ("offense", "victim", "offender", "arrestee"):
        assert counts[name]["incidents_differing"] == 0, name
        assert counts[name]["declared"] == counts[name]["present"] > 0 or name == "arrestee"
    assert counts["incidents"] == made["records"]["01"]
    assert dict(summary.records) == {k: v for k, v in made["records"].items() if v}

    expected = naive_rows(member_text(zip_path), 2019)
    seen_types = set()
    for segment, rows in expected.items():
        decoded = read_rows(tmp_path / "out", segment)
        if segment == "batch_header" and variant.startswith("legacy"):
            continue
        assert decoded == rows, segment
        seen_types |= {r["segment_level"] for r in rows}
    wanted = {"01", "02", "03", "04", "05", "06", "07", "W1", "W3", "W6"}
    assert wanted <= seen_types, "the generator should exercise every record type"


def test_legacy_headers_merge_to_the_same_agencies(tmp_path):
    modern, legacy = tmp_path / "nibrs-2012.zip", tmp_path / "legacy" / "nibrs-2012.zip"
    legacy.parent.mkdir()
    synthesize(modern, year=2012, incidents=500, seed=3)
    synthesize(legacy, year=2012, incidents=500, seed=3, legacy_headers=True)
    decode_zip(modern, tmp_path / "m")
    decode_zip(legacy, tmp_path / "l")
    drop = {"segment_level", "line_number", "leoka_ibr_start_date", "overflow"}

    def agencies(out):
        rows = read_rows(out, "batch_header")
        return [{k: v for k, v in r.items() if k not in drop} for r in rows]

    assert agencies(tmp_path / "l") == agencies(tmp_path / "m")
