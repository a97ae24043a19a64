"""Decode a NIBRS master-file zip into Parquet, one table per segment.

A child process inflates the member (see source.iter_inflated_in_child) while this one
cuts the stream into newline-aligned blocks and slices each block into per-segment Arrow
tables appended to Parquet; the two overlap on two cores without sharing a GIL. Memory is
bounded by the block size and the child's small read-ahead.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from decoder import __version__
from decoder.layouts import RecordLayout, load_layouts
from decoder.slicing import (
    code_of,
    field_column,
    field_type,
    gather,
    overflow_column,
    parse_counts,
    record_codes,
    rows_at,
    split_lines,
)
from decoder.source import (
    DecodeError,
    Member,
    data_year,
    iter_inflated,
    iter_inflated_in_child,
    open_member,
)

BLOCK_SIZE = 64 << 20
PADDING = 1024  # blank bytes after each block, so fixed-width row views never run off it
MIN_RECORD_LENGTH = 25  # segment level, state code, ORI and incident number: the record's key
MAX_OVERFLOW = 64  # longer than the layout by more than this: two records run together
BATCH_HEADER_TYPES = ("BH", "B1", "B2", "B3")
LEGACY_HEADER_TYPES = ("B1", "B2", "B3")
# 01 fields that declare how many child records follow, and the record type each counts
DECLARED_COUNTS = {
    "offense": ("total_offense_segments", "02"),
    "victim": ("total_victim_segments", "04"),
    "offender": ("total_offender_segments", "05"),
    "arrestee": ("total_arrestee_segments", "06"),
}
# State code, ORI, incident number and the first byte of the incident date: equal on an 01
# and all its children, and 24 bytes read as three integers.
KEY_OFFSET, KEY_WIDTH = 2, 24
META_COLUMNS = [
    pa.field("overflow", pa.string()),
    pa.field("data_year", pa.int16()),
    pa.field("bh_ori", pa.string()),
    pa.field("line_number", pa.int64()),
]
QUARANTINE_SCHEMA = pa.schema(
    [
        ("line_number", pa.int64()),
        ("record_type", pa.string()),
        ("length", pa.int32()),
        ("reason", pa.string()),
        ("raw", pa.binary()),
    ]
)


@dataclass
class _OpenIncident:
    """The last 01 of a block, whose children may continue in the next block."""

    key: bytes
    declared: dict[str, int]
    present: dict[str, int]


@dataclass
class DecodeSummary:
    zip: str
    member: str
    compression: str
    data_year: int
    decoder_version: str = __version__
    member_bytes: int = 0
    lines: int = 0
    blank_lines: int = 0
    records: Counter = field(default_factory=Counter)
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: Counter = field(default_factory=Counter)
    line_lengths: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    segment_counts: dict = field(default_factory=dict)
    master_file_years: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "zip": self.zip,
            "member": self.member,
            "compression": self.compression,
            "data_year": self.data_year,
            "decoder_version": self.decoder_version,
            "member_bytes": self.member_bytes,
            "lines": self.lines,
            "blank_lines": self.blank_lines,
            "records": dict(sorted(self.records.items())),
            "rows": self.rows,
            "quarantined": {
                "total": sum(self.quarantined.values()),
                "by_reason": dict(self.quarantined.most_common()),
            },
            "line_lengths": {
                rt: {str(k): v for k, v in sorted(c.items())}
                for rt, c in sorted(self.line_lengths.items())
            },
            "segment_counts": self.segment_counts,
            "batch_header_master_file_years": {
                str(k): v for k, v in self.master_file_years.items()
            },
            "seconds": round(self.seconds, 3),
        }


class _SegmentWriter:
    """Appends tables to ``<out>/<segment>/part-0.parquet.tmp``; published on success."""

    def __init__(self, out_dir: Path, segment: str, schema: pa.Schema):
        self.final = out_dir / segment / "part-0.parquet"
        self.tmp = self.final.with_suffix(".parquet.tmp")
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.rows = 0
        # store_schema=False: readers see plain strings, not Arrow dictionaries
        self.writer = pq.ParquetWriter(
            self.tmp,
            schema,
            compression="zstd",
            compression_level=1,
            store_schema=False,
            # min/max of raw code strings help no reader and cost half the write time
            write_statistics=["data_year", "line_number"],
            # identifiers are near-unique: a dictionary attempt would only cost a hash each
            use_dictionary=[f.name for f in schema if pa.types.is_dictionary(f.type)],
        )

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self.writer.write_table(table, row_group_size=table.num_rows)
            self.rows += table.num_rows

    def close(self) -> None:
        self.writer.close()

    def publish(self) -> None:
        for stale in self.final.parent.glob("*.parquet"):
            stale.unlink()
        self.tmp.replace(self.final)

    def discard(self) -> None:
        self.writer.close()
        self.tmp.unlink(missing_ok=True)


def segment_schema(layouts: list[RecordLayout]) -> pa.Schema:
    """Every field of the segment's record types, in position order, then the metadata."""
    names: list[str] = []
    for layout in layouts:
        names += [n for n in layout.field_names if n not in names]
    cols = [pa.field(n, field_type(n)) for n in names]
    return pa.schema(cols + META_COLUMNS)


class _BlockDecoder:
    """Slices blocks in order, carrying batch-header and incident state across them."""

    def __init__(self, out_dir: Path, year: int, summary: DecodeSummary):
        self.out_dir = out_dir
        self.year = year
        self.summary = summary
        self.layouts = load_layouts()
        self.by_code = {code_of(rt): layout for rt, layout in self.layouts.items()}
        self.code_lookup = np.full(1 << 16, -1, dtype=np.int16)
        self.type_list = list(self.layouts)
        for i, rt in enumerate(self.type_list):
            self.code_lookup[code_of(rt)] = i
        self.header_ids = [self.type_list.index(rt) for rt in BATCH_HEADER_TYPES]
        self.segments: dict[str, list[RecordLayout]] = defaultdict(list)
        for layout in self.layouts.values():
            self.segments[layout.segment].append(layout)
        self.schemas = {
            seg: segment_schema([lay for lay in lays if lay.record_type not in LEGACY_HEADER_TYPES])
            for seg, lays in self.segments.items()
        }
        self.writers: dict[str, _SegmentWriter] = {}
        self.quarantine: pq.ParquetWriter | None = None
        self.quarantine_tmp = out_dir / "_quarantine" / "quarantine.parquet.tmp"
        self.legacy_headers: list[dict] = []
        self.current_ori: str | None = None  # ORI of the last batch header seen
        self.open_incident: _OpenIncident | None = None
        self.counts = {
            name: {"declared": 0, "present": 0, "incidents_differing": 0}
            for name in DECLARED_COUNTS
        }
        self.incidents_checked = 0
        self.orphans = 0
        self.next_line = 1

    # -- one block ---------------------------------------------------------------------------
    def decode_block(self, block: np.ndarray, size: int) -> None:
        starts, lengths = split_lines(block, size)
        n = len(starts)
        line_numbers = np.arange(self.next_line, self.next_line + n, dtype=np.int64)
        self.next_line += n
        self.summary.lines += n

        blank = lengths == 0
        if blank.any():
            self.summary.blank_lines += int(blank.sum())
        type_ids = np.full(n, -1, dtype=np.int16)
        keyed = lengths >= 2
        type_ids[keyed] = self.code_lookup[record_codes(block, starts[keyed])]

        reject = np.zeros(n, dtype=bool)
        reasons: list[tuple[np.ndarray, str]] = []
        unknown = (type_ids < 0) & ~blank
        if unknown.any():
            reasons.append((unknown, "unknown record type"))
        too_short = (type_ids >= 0) & (lengths < MIN_RECORD_LENGTH)
        if too_short.any():
            reasons.append((too_short, f"shorter than {MIN_RECORD_LENGTH} bytes, the record key"))
        widths = np.array([lay.width for lay in self.layouts.values()], dtype=np.int64)
        too_long = (type_ids >= 0) & (lengths > widths[type_ids] + MAX_OVERFLOW)
        if too_long.any():
            reasons.append((too_long, "longer than its layout allows: records run together?"))
        for mask, _ in reasons:
            reject |= mask

        is_header = np.isin(type_ids, self.header_ids) & ~reject
        header_rows = np.flatnonzero(is_header)
        header_oris = [
            block[s + 4 : s + 13].tobytes().strip(b" ").decode("latin-1")
            for s in starts[header_rows]
        ]
        last_header = np.maximum.accumulate(np.where(is_header, np.arange(n), -1))
        # index into [carried ORI] + header_oris
        ori_index = np.searchsorted(header_rows, last_header) + 1
        ori_index[last_header < 0] = 0
        orphan_of_header = (last_header < 0) & (type_ids >= 0) & ~reject
        if self.current_ori is None and orphan_of_header.any():
            reasons.append((orphan_of_header, "record before any batch header"))
            reject |= orphan_of_header
        ori_dictionary = [self.current_ori, *header_oris]
        if header_oris:
            self.current_ori = header_oris[-1]

        self._check_incident_counts(block, starts, lengths, type_ids, reject)

        for mask, reason in reasons:
            self._quarantine(block, starts, lengths, line_numbers, mask & ~blank, reason)
        keep = ~reject & ~blank
        for type_id, layout in enumerate(self.layouts.values()):
            rows = np.flatnonzero(keep & (type_ids == type_id))
            if not rows.size:
                continue
            self.summary.records[layout.record_type] += rows.size
            hist = np.bincount(lengths[rows])
            for length in np.flatnonzero(hist):
                self.summary.line_lengths[layout.record_type][int(length)] += int(hist[length])
            table = self._slice(
                layout, block, starts[rows], lengths[rows], line_numbers[rows],
                ori_index[rows], ori_dictionary,
            )  # fmt: skip
            if layout.record_type in LEGACY_HEADER_TYPES:
                self.legacy_headers += table.to_pylist()
                continue
            if layout.record_type == "BH":
                years = table.column("master_file_year").to_pylist()
                self.summary.master_file_years.update(years)
            self._writer(layout.segment).write(table)

    def _slice(self, layout, block, starts, lengths, line_numbers, ori_index, ori_dictionary):
        matrix = gather(block, starts, lengths, layout.width)
        n = len(starts)
        columns = {f.name: field_column(matrix, f.offset, f.length, f.name) for f in layout.fields}
        columns["overflow"] = overflow_column(block, starts, lengths, layout.width)
        columns["data_year"] = pa.array(np.full(n, self.year, dtype=np.int16))
        columns["bh_ori"] = pa.DictionaryArray.from_arrays(
            pa.array(ori_index.astype(np.int32)),
            pa.array([ori or "" for ori in ori_dictionary], pa.string()),
        )
        columns["line_number"] = pa.array(line_numbers)
        if layout.record_type in LEGACY_HEADER_TYPES:  # merged into BH rows at the end
            return pa.table(columns)
        schema = self.schemas[layout.segment]
        # a field only another record type of the segment has (W1's codes, on an 01) is null
        arrays = [columns[c.name] if c.name in columns else pa.nulls(n, c.type) for c in schema]
        return pa.Table.from_arrays(arrays, schema=schema)

    # -- checks ------------------------------------------------------------------------------
    def _check_incident_counts(self, block, starts, lengths, type_ids, reject) -> None:
        """Compare each 01's declared child counts with the child records that follow it."""
        n = len(starts)
        admin = self.type_list.index("01")
        valid = ~reject & (type_ids >= 0)
        is_admin = valid & (type_ids == admin)
        is_header = valid & np.isin(type_ids, self.header_ids)
        # a batch header closes the open incident; children after it belong to no 01
        last_event = np.maximum.accumulate(np.where(is_admin | is_header, np.arange(n), -1))
        keys = rows_at(block, starts + KEY_OFFSET, KEY_WIDTH).view("<u8")
        admin_rows = np.flatnonzero(is_admin)
        layout = self.layouts["01"]
        matrix = gather(block, starts[admin_rows], lengths[admin_rows], layout.width)
        declared = {
            name: parse_counts(matrix, layout.field(f).offset, layout.field(f).length)
            for name, (f, _) in DECLARED_COUNTS.items()
        }
        present = {}
        for name, (_, child_type) in DECLARED_COUNTS.items():
            child = valid & (type_ids == self.type_list.index(child_type))
            owner = last_event[child]
            rows = np.flatnonzero(child)
            carried = owner < 0
            if carried.any():
                if self.open_incident is not None:
                    open_key = np.frombuffer(self.open_incident.key, "<u8")
                    match = (keys[rows[carried]] == open_key).all(axis=1)
                    self.open_incident.present[name] += int(match.sum())
                    self.orphans += int((~match).sum())
                else:
                    self.orphans += int(carried.sum())
            inside = ~carried
            owned_rows, owners = rows[inside], owner[inside]
            owner_is_admin = is_admin[owners]
            same_key = (keys[owned_rows] == keys[owners]).all(1) & owner_is_admin
            self.orphans += int((~same_key).sum())
            counted = np.bincount(owners[same_key], minlength=n)
            present[name] = counted[admin_rows]
        if admin_rows.size:
            # children before the block's first 01 (or header) are counted; close the carry
            self._close_open_incident()
            last = admin_rows.size - 1
            for name in DECLARED_COUNTS:
                d, p = declared[name][:last], present[name][:last]
                self.counts[name]["declared"] += int(d.sum())
                self.counts[name]["present"] += int(p.sum())
                self.counts[name]["incidents_differing"] += int((d != p).sum())
            self.incidents_checked += last
            self.open_incident = _OpenIncident(
                key=keys[admin_rows[last]].tobytes(),
                declared={name: int(declared[name][last]) for name in DECLARED_COUNTS},
                present={name: int(present[name][last]) for name in DECLARED_COUNTS},
            )
        header_rows = np.flatnonzero(is_header)
        if header_rows.size and (not admin_rows.size or header_rows[-1] > admin_rows[-1]):
            self._close_open_incident()

    def _close_open_incident(self) -> None:
        incident = self.open_incident
        if incident is None:
            return
        for name in DECLARED_COUNTS:
            self.counts[name]["declared"] += incident.declared[name]
            self.counts[name]["present"] += incident.present[name]
            self.counts[name]["incidents_differing"] += int(
                incident.declared[name] != incident.present[name]
            )
        self.incidents_checked += 1
        self.open_incident = None

    # -- outputs -----------------------------------------------------------------------------
    def _writer(self, segment: str) -> _SegmentWriter:
        if segment not in self.writers:
            self.writers[segment] = _SegmentWriter(self.out_dir, segment, self.schemas[segment])
        return self.writers[segment]

    def _quarantine(self, block, starts, lengths, line_numbers, mask, reason) -> None:
        rows = np.flatnonzero(mask)
        if not rows.size:
            return
        self.summary.quarantined[reason] += rows.size
        raw = [
            block[s : s + ln].tobytes() for s, ln in zip(starts[rows], lengths[rows], strict=True)
        ]
        table = pa.Table.from_arrays(
            [
                pa.array(line_numbers[rows]),
                pa.array([r[:2].decode("latin-1") for r in raw], pa.string()),
                pa.array(lengths[rows].astype(np.int32)),
                pa.array([reason] * rows.size, pa.string()),
                pa.array(raw, pa.binary()),
            ],
            schema=QUARANTINE_SCHEMA,
        )
        if self.quarantine is None:
            self.quarantine_tmp.parent.mkdir(parents=True, exist_ok=True)
            self.quarantine = pq.ParquetWriter(self.quarantine_tmp, QUARANTINE_SCHEMA)
        self.quarantine.write_table(table)

    def finish(self) -> None:
        self._close_open_incident()
        self.summary.segment_counts = {
            "incidents": self.incidents_checked,
            **self.counts,
            "orphan_child_records": self.orphans,
        }
        if self.legacy_headers:
            merged = merge_legacy_headers(self.legacy_headers, self.layouts["BH"])
            schema = self.schemas["batch_header"]
            self._writer("batch_header").write(
                pa.Table.from_pylist(merged, schema=pa.schema(
                    [pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f
                     for f in schema]
                )).cast(schema)
            )  # fmt: skip
        for segment, schema in self.schemas.items():
            if segment not in self.writers:  # every segment gets a table, empty or not
                self.writers[segment] = _SegmentWriter(self.out_dir, segment, schema)
        for writer in self.writers.values():
            writer.close()
            self.summary.rows[writer.final.parent.name] = writer.rows
        for writer in self.writers.values():
            writer.publish()
        quarantine_final = self.quarantine_tmp.with_suffix("")
        quarantine_final.unlink(missing_ok=True)
        if self.quarantine is not None:
            self.quarantine.close()
            self.quarantine_tmp.replace(quarantine_final)

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.discard()
        if self.quarantine is not None:
            self.quarantine.close()
            self.quarantine_tmp.unlink(missing_ok=True)


def merge_legacy_headers(parts: list[dict], bh: RecordLayout) -> list[dict]:
    """Join B1/B2/B3 (1991-2012) into rows shaped like BH, one per agency.

    Each B1 opens an agency; the B2 and B3 after it with the same ORI complete it. A part
    without its B1 still yields a row, so nothing is dropped.
    """
    rows: list[dict] = []
    current: dict | None = None
    for part in sorted(parts, key=lambda p: p["line_number"]):
        kind = part["segment_level"]
        if (
            kind == "B1"
            or current is None
            or current["ori"] != part["ori"]
            or kind in current["_parts"]
        ):
            current = dict.fromkeys(bh.field_names)
            current.update(overflow=None, data_year=part["data_year"], bh_ori=part["bh_ori"],
                           line_number=part["line_number"], _parts=set())  # fmt: skip
            rows.append(current)
        current["_parts"].add(kind)
        for name, value in part.items():
            if name in ("segment_level", "line_number", "overflow", "bh_ori", "data_year"):
                continue
            if value is not None or current.get(name) is None:
                current[name] = value
        if kind == "B1" or current["segment_level"] is None:
            current["segment_level"] = kind
        if part["overflow"]:
            current["overflow"] = " ".join(filter(None, [current["overflow"], part["overflow"]]))
    for row in rows:
        del row["_parts"]
    return rows


def _blocks(
    member: Member, block_size: int, progress: Callable[[int], None] | None
) -> Iterator[tuple[np.ndarray, int]]:
    """The member as newline-aligned, blank-padded blocks of about ``block_size`` bytes."""
    pending = bytearray()
    for piece in iter_inflated_in_child(member):
        pending += piece
        if progress:
            progress(len(piece))
        if len(pending) >= block_size:
            cut = pending.rfind(b"\n") + 1
            if cut:
                yield _padded(pending, cut)
                del pending[:cut]
    if pending:
        yield _padded(pending, len(pending))


def _padded(data: bytearray, size: int) -> tuple[np.ndarray, int]:
    """``data[:size]`` copied once into a block with PADDING blanks after it."""
    block = bytearray(size + PADDING)
    with memoryview(data) as view:
        block[:size] = view[:size]
    block[size:] = b" " * PADDING
    if block.find(b"\x00", 0, size) >= 0:  # NUL-filled fields (older headers): blank them
        block[:size] = block[:size].replace(b"\x00", b" ")
    return np.frombuffer(block, dtype=np.uint8), size


def decode_zip(
    zip_path: str | Path,
    out_dir: str | Path,
    *,
    year: int | None = None,
    block_size: int = BLOCK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> DecodeSummary:
    """Decode ``zip_path`` into ``out_dir/<segment>/part-0.parquet``.

    Undecodable records go to ``out_dir/_quarantine/quarantine.parquet``; the summary is
    written last, to ``out_dir/_summary.json``. Outputs replace the previous run's only
    when the whole file decoded.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    member = open_member(zip_path)
    year = year or data_year(member)
    if year is None:
        raise DecodeError(
            f"{member.zip_path}: cannot tell the data year from the zip name or its member "
            f"{member.name!r}; pass --year"
        )
    _check_looks_like_nibrs(member)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = DecodeSummary(
        zip=str(member.zip_path), member=member.name, compression=member.method_name,
        data_year=year, member_bytes=member.size,
    )  # fmt: skip
    decoder = _BlockDecoder(out_dir, year, summary)
    blocks = _blocks(member, block_size, progress)
    try:
        for block, size in blocks:
            decoder.decode_block(block, size)
        decoder.finish()
    except BaseException:
        blocks.close()  # stops the inflating child
        decoder.abort()
        raise
    summary.seconds = time.perf_counter() - started
    (out_dir / "_summary.json").write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    return summary


def _check_looks_like_nibrs(member: Member) -> None:
    first = next(iter_inflated_head(member), b"")
    head = first.lstrip(b"\r\n\x00")[:2].decode("latin-1", "replace")
    if head not in load_layouts():
        raise DecodeError(
            f"{member.zip_path}: member {member.name} does not look like a NIBRS master file: "
            f"it starts with {first[:24]!r}, not a record type such as BH, B1 or 01"
        )


def iter_inflated_head(member: Member):
    """The first few KB of the member, without reading the rest."""
    gen = iter_inflated(member, read_size=1 << 16)
    try:
        yield next(gen)
    except StopIteration:
        return
    finally:
        gen.close()


def clear_outputs(out_dir: Path) -> None:
    """Remove a previous decode's outputs (used by callers that want a clean slate)."""
    for layout in load_layouts().values():
        shutil.rmtree(out_dir / layout.segment, ignore_errors=True)
    shutil.rmtree(out_dir / "_quarantine", ignore_errors=True)
    (out_dir / "_summary.json").unlink(missing_ok=True)
