"""Decode a NIBRS master-file zip into Parquet, one table per segment.

A child process inflates the member into slots of shared memory (source.inflating_child)
while this process cuts the stream into blocks, a slot each, at record-set boundaries:
before an 01 or a batch header, so no incident is split and a block needs nothing from the
one before it but the ORI of the last batch header and its first line number. Blocks are
sliced into per-segment Arrow tables and appended to Parquet by Arrow's writer, here or
(``workers`` > 1) by worker processes that each write their own part of every segment, fed
through shared memory. Nothing shares a
GIL, and memory is bounded by the block size times the blocks in flight.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from decoder import PARQUET_COMPRESSION, PARQUET_COMPRESSIONS, __version__, native, slicing
from decoder.layouts import RecordLayout, load_layouts, load_variants
from decoder.slicing import (
    arrow_array,
    code_of,
    field_type,
    gather,
    overflow_column,
    parse_counts,
    record_codes,
    string_array,
    utf8_characters,
)
from decoder.source import (
    FIRST_NIBRS_YEAR,
    SLOT_BYTES,
    SLOT_HEAD,
    SLOT_TAIL,
    DecodeError,
    InflatingChild,
    Member,
    data_year,
    inflating_child,
    iter_inflated,
    nibrs_years,
    open_member,
    start_inflating,
)

BLOCK_SIZE = SLOT_BYTES  # a block is a slot the inflating child filled
PADDING = 1024  # blank bytes after each block, so fixed-width row views never run off it
assert PADDING <= SLOT_TAIL  # a block is padded in the slot it was inflated into
MIN_RECORD_LENGTH = 25  # segment level, state code, ORI and incident number: the record's key
MAX_OVERFLOW = 64  # longer than the layout by more than this: two records run together
MAX_LINE_BYTES = 1 << 20  # records are under 300 bytes; a "line" of a megabyte is not one
BATCH_HEADER_TYPES = ("BH", "B1", "B2", "B3")
LEGACY_HEADER_TYPES = ("B1", "B2", "B3")
# 01 fields that declare how many child records follow, and the record type each counts
DECLARED_COUNTS = {
    "offense": ("total_offense_segments", "02"),
    "victim": ("total_victim_segments", "04"),
    "offender": ("total_offender_segments", "05"),
    "arrestee": ("total_arrestee_segments", "06"),
}
# Why a line is quarantined; the index is the reason's code (the native slicer's enum)
UNKNOWN_TYPE, SHORTER_THAN_KEY, LONGER_THAN_LAYOUT, BEFORE_ANY_HEADER, UTF8_SHIFTED = range(5)
QUARANTINE_REASONS = (
    "unknown record type",
    f"shorter than {MIN_RECORD_LENGTH} bytes, the record key",
    "longer than its layout allows: records run together?",
    "record before any batch header",
    "UTF-8 multi-byte characters in a record not of its layout's length: fields shifted",
)
# State code, ORI, incident number and the first byte of the incident date: equal on an 01
# and all its children, and 24 bytes read as three integers.
KEY_OFFSET, KEY_WIDTH = 2, 24
META_COLUMNS = [
    pa.field("overflow", pa.string()),
    pa.field("data_year", pa.int16()),
    pa.field("bh_ori", pa.dictionary(pa.int32(), pa.string())),
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
class DecodeSummary:
    zip: str
    member: str
    compression: str
    data_year: int
    engine: str = "numpy"
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
    variants: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, tally: dict) -> None:
        """Fold in one block decoder's tally (see _BlockDecoder.tally)."""
        self.lines += tally["lines"]
        self.blank_lines += tally["blank_lines"]
        self.records.update(tally["records"])
        self.quarantined.update(tally["quarantined"])
        self.master_file_years.update(tally["master_file_years"])
        self.variants.update(tally["variants"])
        for record_type, lengths in tally["line_lengths"].items():  # JSON made keys strings
            self.line_lengths[record_type].update({int(k): v for k, v in lengths.items()})
        for segment, rows in tally["rows"].items():
            self.rows[segment] = self.rows.get(segment, 0) + rows
        counts = self.segment_counts or {"incidents": 0, "orphan_child_records": 0}
        counts["incidents"] += tally["incidents"]
        counts["orphan_child_records"] += tally["orphans"]
        for name, numbers in tally["counts"].items():
            merged = counts.setdefault(name, dict.fromkeys(numbers, 0))
            for key, value in numbers.items():
                merged[key] += value
        self.segment_counts = counts

    def as_dict(self) -> dict:
        return {
            "zip": self.zip,
            "member": self.member,
            "compression": self.compression,
            "data_year": self.data_year,
            "engine": self.engine,
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
            "layout_variants_applied": dict(self.variants),
            "batch_header_master_file_years": {
                str(k): v for k, v in self.master_file_years.items()
            },
            "seconds": round(self.seconds, 3),
        }


class _BackgroundWrites:
    """One thread that appends tables to Parquet while the caller slices the next ones.

    Arrow's Parquet writer runs without the GIL, so on two cores the writes overlap with
    slicing instead of following it.
    """

    def __init__(self, depth: int = 8):
        self.pending: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.pending.get()) is not None:
            if self.error is None:
                writer, table = item
                try:
                    writer.write_table(table, row_group_size=table.num_rows)
                except BaseException as exc:  # raised to the caller at its next call
                    self.error = exc

    def put(self, writer: pq.ParquetWriter, table: pa.Table) -> None:
        self._raise()
        self.pending.put((writer, table))

    def drain(self) -> None:
        """Wait until every table is written; raise the first write error, if any."""
        self.pending.put(None)
        self.thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


class _SegmentWriter:
    """Appends tables to ``<out>/<segment>/part-<part>.parquet.tmp``; published on success.

    Arrow's writer takes the slicer's dictionary columns as they are: a block's dictionary
    becomes its row group's dictionary page and the indices are encoded as they stand, so no
    row's value is hashed or copied again. A hand-written page encoder did the same work with
    about 16% less CPU time for the whole decode of a 1M-incident year, too little to keep
    700 lines of raw-pointer C and Thrift for (README, "How the decoder is fast").
    """

    def __init__(
        self,
        out_dir: Path,
        segment: str,
        schema: pa.Schema,
        part: str = "0",
        background: _BackgroundWrites | None = None,
        compression: str = PARQUET_COMPRESSION,
    ):
        self.background = background
        self.final = out_dir / segment / f"part-{part}.parquet"
        self.tmp = self.final.with_suffix(".parquet.tmp")
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.rows = 0
        level = 1 if compression == "zstd" else None
        # store_schema=False: readers see plain strings, not Arrow dictionaries
        self.writer = pq.ParquetWriter(
            self.tmp,
            schema,
            compression=compression,
            compression_level=level,
            store_schema=False,
            # min/max of raw code strings help no reader and cost half the write time
            write_statistics=["data_year", "line_number"],
            # identifiers are near-unique: a dictionary attempt would only cost a hash each
            use_dictionary=[f.name for f in schema if pa.types.is_dictionary(f.type)],
            # line numbers climb by one or a few, the year never changes: a fifth of the bytes
            column_encoding={
                name: "DELTA_BINARY_PACKED"
                for name in ("line_number", "data_year")
                if name in schema.names
            },
        )

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self.rows += table.num_rows
        if self.background:
            self.background.put(self.writer, table)
        else:
            self.writer.write_table(table, row_group_size=table.num_rows)

    def close(self) -> None:
        self.writer.close()

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
    """Slices independent blocks into one part of every segment's table."""

    def __init__(
        self,
        out_dir: Path,
        year: int,
        part: str = "0",
        engine: str = "numpy",
        compression: str = PARQUET_COMPRESSION,
    ):
        self.out_dir = out_dir
        self.compression = compression
        self.year = year
        self.part = part
        self.engine = engine
        self.layouts = load_layouts()
        self.type_list = list(self.layouts)
        self.code_lookup = np.full(1 << 16, -1, dtype=np.int16)
        for i, record_type in enumerate(self.type_list):
            self.code_lookup[code_of(record_type)] = i
        self.widths = np.array([lay.width for lay in self.layouts.values()], dtype=np.int64)
        self.record_lengths = np.array([lay.length for lay in self.layouts.values()], np.int64)
        self.header_ids = [self.type_list.index(rt) for rt in BATCH_HEADER_TYPES]
        self.is_header_type = np.isin(np.arange(len(self.type_list)), self.header_ids)
        admin = self.layouts["01"]
        self.count_fields = [admin.field(field) for field, _ in DECLARED_COUNTS.values()]
        self.counted_types = [self.type_list.index(child) for _, child in DECLARED_COUNTS.values()]
        # the same steps, in C or in NumPy (the fallback); both give the same results
        if engine == "native":
            self.split_lines, self.classify = native.split_lines, self._classify_native
            self.check_incident_counts = self._count_children_native
        else:
            self.split_lines, self.classify = slicing.split_lines, self._classify
            self.check_incident_counts = self._check_incident_counts
        self.variants = defaultdict(list)  # record type -> variants in force this year
        for variant in load_variants():
            if variant.data_year == year:
                self.variants[variant.layout.record_type].append(variant)
        self.variant_keys = [
            (self.type_list.index(record_type), code_of(variant.state_code), variant.layout)
            for record_type, variants in self.variants.items()
            for variant in variants
        ]
        self.schemas = segment_schemas()
        self.background = _BackgroundWrites()
        self.writers: dict[str, _SegmentWriter] = {}
        self.quarantine: pq.ParquetWriter | None = None
        self.quarantine_tmp = out_dir / "_quarantine" / f"part-{part}.parquet.tmp"
        self.legacy_headers: list[dict] = []
        self.tally = {
            "lines": 0, "blank_lines": 0, "incidents": 0, "orphans": 0,
            "records": Counter(), "quarantined": Counter(), "master_file_years": Counter(),
            "variants": Counter(),
            "line_lengths": defaultdict(Counter), "rows": {},
            "counts": {name: {"declared": 0, "present": 0, "incidents_differing": 0}
                       for name in DECLARED_COUNTS},
        }  # fmt: skip

    # -- one block ---------------------------------------------------------------------------
    def decode_block(
        self,
        block: np.ndarray,
        size: int,
        first_line: int,
        carried_ori: str | None,
        lines: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Decode ``block[:size]``, whose first line is ``first_line`` of the member.

        ``carried_ori`` is the ORI of the last batch header before the block (None before
        the first). The block must start at a record-set boundary. ``lines`` are its line
        starts and lengths, when the caller has split it already.
        """
        starts, lengths = lines if lines is not None else self.split_lines(block, size)
        n = len(starts)
        self.tally["lines"] += n

        blank = lengths == 0
        self.tally["blank_lines"] += int(blank.sum())
        shifted = self._utf8_shifted(block, size, starts, lengths)
        type_ids, reasons, ori_index, header_rows = self.classify(
            block, starts, lengths, carried_ori is not None, shifted
        )
        reject = reasons >= 0
        header_oris = [header_ori(block, start) for start in starts[header_rows]]
        ori_dictionary = [carried_ori or "", *header_oris]

        self.check_incident_counts(block, starts, lengths, type_ids, reasons)
        for code, reason in enumerate(QUARANTINE_REASONS):
            self._quarantine(block, starts, lengths, first_line, reasons == code, reason)

        # every kept line's index, grouped by record type in file order: one radix sort
        kept = np.where(~reject & ~blank, type_ids, len(self.layouts))
        by_type = np.argsort(kept, kind="stable")
        bounds = np.zeros(len(self.layouts) + 2, dtype=np.int64)
        np.cumsum(np.bincount(kept, minlength=len(self.layouts) + 1), out=bounds[1:])
        groups: list[tuple[RecordLayout, np.ndarray]] = []  # (layout applied, its lines)
        for type_id, layout in enumerate(self.layouts.values()):
            rows = by_type[bounds[type_id] : bounds[type_id + 1]]
            if not rows.size:
                continue
            self.tally["records"][layout.record_type] += rows.size
            histogram = np.bincount(lengths[rows])
            for length in np.flatnonzero(histogram):
                self.tally["line_lengths"][layout.record_type][int(length)] += int(
                    histogram[length]
                )
            groups += self._layouts_for(layout, block, starts, rows)

        columns = self._fields(block, starts, lengths, groups)
        for (layout, rows), fields in zip(groups, columns, strict=True):
            table = self._table(
                layout, fields, block, starts[rows], lengths[rows], rows + first_line,
                ori_index[rows], ori_dictionary,
            )  # fmt: skip
            if layout.record_type in LEGACY_HEADER_TYPES:
                self.legacy_headers += table.to_pylist()
                continue
            if layout.record_type == "BH":
                years = table.column("master_file_year").to_pylist()
                self.tally["master_file_years"].update(years)
            self._writer(layout.segment).write(table)

    def _fields(self, block, starts, lengths, groups) -> Iterator[list[pa.Array]]:
        """Each group's field columns: the native slicer takes the whole block in one pass."""
        if self.engine == "native":
            slots = np.full(len(starts), -1, dtype=np.int32)
            for slot, (_, rows) in enumerate(groups):
                slots[rows] = slot
            layouts = [layout for layout, _ in groups]
            yield from native.encode_block(
                block, starts, lengths, slots, layouts, [rows.size for _, rows in groups]
            )
            return
        for layout, rows in groups:
            yield slicing.layout_columns(block, starts[rows], lengths[rows], layout)

    def _utf8_shifted(self, block, size, starts, lengths) -> np.ndarray | None:
        """Lines whose UTF-8 multi-byte characters would shift their fields (UTF8_SHIFTED),
        as a mask for classify; None when there are none, as in nearly every block.

        The rule: a record holding a well-formed UTF-8 multi-byte character (see
        slicing.utf8_characters) that starts within its fields, whose length is neither its
        layout's record length nor the end of its last field (nor those of the layout
        variant in force for its state and year). Such a character takes two to four bytes
        where latin-1 takes one, so every field after it sits that many bytes to the right:
        a record padded to its length in characters is longer by the continuation bytes (a
        city of "WHITÉPORT" made a 285-byte batch header), and a right-trimmed one (files
        before 2013) is shifted just the same. Nothing tells a shifted record of another
        length apart, not even overflow bytes past its layout, so it is quarantined, never
        sliced. A record of its layout's very length cannot have been shifted: its bytes
        stay latin-1 characters ("Ã©"), as every other high byte does.

        A batch header so quarantined still opens its agency: its ORI (positions 5-13)
        comes before its city, the only text a header holds, and the records after it are
        that agency's. Were it skipped, they would silently take the ORI of the agency
        before (``bh_ori``, which the warehouse attributes records by).
        """
        rows, first_at = utf8_characters(block, size, starts)
        if not rows.size:
            return None
        type_ids = self.code_lookup[record_codes(block, starts[rows])]
        full_length, width = self.record_lengths[type_ids], self.widths[type_ids]
        if self.variant_keys:
            states = (block[starts[rows] + 2].astype(np.uint16) << 8) | block[starts[rows] + 3]
            for type_id, state, layout in self.variant_keys:
                of_variant = (type_ids == type_id) & (states == state)
                full_length[of_variant], width[of_variant] = layout.length, layout.width
        length = lengths[rows]
        is_shifted = (type_ids >= 0) & (first_at < width)
        is_shifted &= (length != full_length) & (length != width)
        shifted = np.zeros(len(starts), np.uint8)
        shifted[rows[is_shifted]] = 1
        return shifted if is_shifted.any() else None

    def _classify(self, block, starts, lengths, carried: bool, utf8_shifted=None):
        """Each line's type id, reason code (into QUARANTINE_REASONS; -1: none), index into
        ``[carried ORI, *headers]``, and the rows of the batch headers, in order.
        ``utf8_shifted`` marks the lines _utf8_shifted found (None: no line)."""
        n = len(starts)
        type_ids = np.full(n, -1, dtype=np.int16)
        keyed = lengths >= 2
        type_ids[keyed] = self.code_lookup[record_codes(block, starts[keyed])]
        known = type_ids >= 0
        reasons = np.full(n, -1, dtype=np.int8)
        reasons[~known & (lengths > 0)] = UNKNOWN_TYPE
        reasons[known & (lengths < MIN_RECORD_LENGTH)] = SHORTER_THAN_KEY
        reasons[known & (lengths > self.widths[type_ids] + MAX_OVERFLOW)] = LONGER_THAN_LAYOUT
        if utf8_shifted is not None:
            reasons[utf8_shifted.astype(bool) & known & (reasons < 0)] = UTF8_SHIFTED
        # a header shifted by UTF-8 still opens its agency (see _utf8_shifted)
        opens = (reasons < 0) | (reasons == UTF8_SHIFTED)
        is_header = np.isin(type_ids, self.header_ids) & opens
        header_rows = np.flatnonzero(is_header)
        ori_index = np.cumsum(is_header, dtype=np.int32)
        if not carried:
            reasons[(ori_index == 0) & known & (reasons < 0)] = BEFORE_ANY_HEADER
        return type_ids, reasons, ori_index, header_rows

    def _classify_native(self, block, starts, lengths, carried: bool, utf8_shifted=None):
        return native.classify(
            block, starts, lengths, self.code_lookup, self.widths, self.is_header_type,
            MIN_RECORD_LENGTH, MAX_OVERFLOW, carried, utf8_shifted,
        )  # fmt: skip

    def _count_children_native(self, block, starts, lengths, type_ids, reasons) -> None:
        result = native.count_children(
            block, starts, lengths, type_ids, reasons, self.type_list.index("01"),
            self.is_header_type, self.counted_types, self.count_fields, KEY_OFFSET, KEY_WIDTH,
        )  # fmt: skip
        self.tally["incidents"] += result["incidents"]
        self.tally["orphans"] += result["orphans"]
        for k, name in enumerate(DECLARED_COUNTS):
            counts = self.tally["counts"][name]
            counts["declared"] += int(result["declared"][k])
            counts["present"] += int(result["present"][k])
            counts["incidents_differing"] += int(result["differing"][k])

    def _layouts_for(self, layout, block, starts, rows):
        """Split ``rows`` by the layout they really have: a variant's state, or the standard."""
        variants = self.variants.get(layout.record_type)
        if not variants:
            yield layout, rows
            return
        state = (block[starts[rows] + 2].astype(np.uint16) << 8) | block[starts[rows] + 3]
        standard = np.ones(rows.size, dtype=bool)
        for variant in variants:
            hit = standard & (state == int.from_bytes(variant.state_code.encode(), "big"))
            if hit.any():
                self.tally["variants"][variant.name] += int(hit.sum())
                yield variant.layout, rows[hit]
            standard &= ~hit
        if standard.any():
            yield layout, rows[standard]

    def _table(
        self, layout, fields, block, starts, lengths, line_numbers, ori_index, ori_dictionary
    ) -> pa.Table:
        """One group's table: its field columns, the overflow and the record metadata."""
        n = len(starts)
        columns = dict(zip(layout.field_names, fields, strict=True))
        columns["overflow"] = overflow_column(block, starts, lengths, layout.width)
        columns["data_year"] = arrow_array(np.full(n, self.year, dtype=np.int16))
        columns["bh_ori"] = pa.DictionaryArray.from_arrays(
            arrow_array(ori_index.astype(np.int32)), string_array(ori_dictionary)
        )
        columns["line_number"] = arrow_array(line_numbers)
        if layout.record_type in LEGACY_HEADER_TYPES:  # merged into BH rows at the end
            return pa.table(columns)
        schema = self.schemas[layout.segment]
        # a field only another record type of the segment has (W1's codes, on an 01) is null
        arrays = [columns[c.name] if c.name in columns else pa.nulls(n, c.type) for c in schema]
        return pa.Table.from_arrays(arrays, schema=schema)

    # -- checks ------------------------------------------------------------------------------
    def _check_incident_counts(self, block, starts, lengths, type_ids, reasons) -> None:
        """Compare each 01's declared child counts with the child records that follow it.

        A child belongs to the nearest 01 before it when their keys match; a batch header in
        between, or a different key, makes it an orphan. Blocks start at record-set
        boundaries, so nothing carries over from the block before.
        """
        n = len(starts)
        valid = (reasons < 0) & (type_ids >= 0)
        is_admin = valid & (type_ids == self.type_list.index("01"))
        is_header = valid & np.isin(type_ids, self.header_ids)
        last_event = np.maximum.accumulate(np.where(is_admin | is_header, np.arange(n), -1))
        admin_rows = np.flatnonzero(is_admin)
        admin_starts, admin_lengths = starts[admin_rows], lengths[admin_rows]
        self.tally["incidents"] += admin_rows.size
        for name, count_field, child_type in zip(
            DECLARED_COUNTS, self.count_fields, self.counted_types, strict=True
        ):
            # the count field alone, blank-padded where a line stops short of it
            offset, width = count_field.offset, count_field.length
            digits = gather(
                block, admin_starts + offset, np.maximum(admin_lengths - offset, 0), width
            )
            declared = parse_counts(digits, 0, width)
            children = np.flatnonzero(valid & (type_ids == child_type))
            owners = last_event[children]
            owned = owners >= 0
            owned[owned] = is_admin[owners[owned]]
            owned[owned] = slicing.same_bytes(
                block,
                starts[children[owned]] + KEY_OFFSET,
                starts[owners[owned]] + KEY_OFFSET,
                KEY_WIDTH,
            )
            self.tally["orphans"] += int((~owned).sum())
            present = np.bincount(owners[owned], minlength=n)[admin_rows]
            counts = self.tally["counts"][name]
            counts["declared"] += int(declared.sum())
            counts["present"] += int(present.sum())
            counts["incidents_differing"] += int((declared != present).sum())

    # -- outputs -----------------------------------------------------------------------------
    def _writer(self, segment: str) -> _SegmentWriter:
        if segment not in self.writers:
            self.writers[segment] = _SegmentWriter(
                self.out_dir, segment, self.schemas[segment], self.part, self.background,
                self.compression,
            )  # fmt: skip
        return self.writers[segment]

    def _quarantine(self, block, starts, lengths, first_line, mask, reason) -> None:
        rows = np.flatnonzero(mask)
        if not rows.size:
            return
        self.tally["quarantined"][reason] += rows.size
        raw = [
            block[start : start + length].tobytes()
            for start, length in zip(starts[rows], lengths[rows], strict=True)
        ]
        table = pa.Table.from_arrays(
            [
                pa.array(rows + first_line),
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

    def finish(self) -> dict:
        """Close every output (an empty table for a segment with no rows); the results."""
        for segment in self.schemas:
            self._writer(segment)
        self.background.drain()
        for writer in self.writers.values():
            writer.close()
            self.tally["rows"][writer.final.parent.name] = writer.rows
        if self.quarantine is not None:
            self.quarantine.close()
        return {"tally": self.tally, "legacy_headers": self.legacy_headers}

    def abort(self) -> None:
        with contextlib.suppress(BaseException):  # the error being handled matters more
            self.background.drain()
        for writer in self.writers.values():
            writer.discard()
        if self.quarantine is not None:
            self.quarantine.close()
        self.quarantine_tmp.unlink(missing_ok=True)


def header_ori(block: np.ndarray | bytes, start: int) -> str:
    """The ORI (positions 5-13) of the batch-header line starting at ``start``."""
    return bytes(block[start + 4 : start + 13]).strip(b" ").decode("latin-1")


def segment_schemas() -> dict[str, pa.Schema]:
    segments: dict[str, list[RecordLayout]] = defaultdict(list)
    for layout in load_layouts().values():
        if layout.record_type not in LEGACY_HEADER_TYPES:  # they become BH-shaped rows
            segments[layout.segment].append(layout)
    return {segment: segment_schema(layouts) for segment, layouts in segments.items()}


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


@dataclass(frozen=True)
class _Block:
    """Where a block sits in the member; its bytes travel separately."""

    index: int
    size: int
    first_line: int
    carried_ori: str | None


# A record set starts with its 01, an agency with its batch header: the only lines that
# begin with "B" (BH, or B1 B2 B3 before 2013). Each needle occurs every few hundred bytes
# to kilobytes, so searching backwards from a block's end finds it almost at once.
_SET_STARTS = (b"\n01", b"\nB")
_HEADER_START = b"\nB"
_BLANKS = b" " * PADDING


def _cut_blocks(
    member: Member,
    block_size: int,
    progress: Callable[[int], None] | None,
    split_lines: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]],
    inflating: InflatingChild | None = None,
) -> Iterator[tuple[_Block, np.ndarray, tuple[np.ndarray, np.ndarray]]]:
    """The member in blocks of about a slot each, each starting a record set.

    ``inflating`` is the child started for this member already, else one is started here
    with slots of ``block_size`` bytes.

    Yields each block with its bytes followed by PADDING blanks, and its lines' starts and
    lengths (their count gives the next block's first line number). A block is the slot the
    child inflated it into, with the record set the block before left unfinished copied in
    front, in the slot's head: no other copy is made. It is valid until the next block is
    asked for.
    """
    inflating = inflating or start_inflating(member, block_size)
    ring = inflating.ring
    carried = b""  # the unfinished record set at the end of the last slot
    first_line, carried_ori, index = 1, None, 0
    with inflating_child(member, inflating) as slots:
        while True:
            at, size = slots.next_slot()
            if progress and size:
                progress(size)
            if not size and not carried:
                return
            at_end = size < inflating.slot_bytes
            if len(carried) <= SLOT_HEAD:  # the usual case: the slot itself
                text, start = ring, at - len(carried)
            else:  # longer than the head: a copy
                text, start = bytearray(len(carried) + size + PADDING), 0
                text[len(carried) : len(carried) + size] = ring[at : at + size]
            text[start : start + len(carried)] = carried
            end = start + len(carried) + size
            cut = end
            if not at_end:
                cut = max(text.rfind(needle, start, end) for needle in _SET_STARTS) + 1
                if cut <= start and end - start >= max(inflating.slot_bytes, MAX_LINE_BYTES):
                    cut = text.rfind(b"\n", start, end) + 1  # no set start in a block: any line
            if cut <= start:  # no place to cut yet (only small slots, in tests): read on
                carried = bytes(text[start:end])
                slots.release(size)
                if len(carried) >= MAX_LINE_BYTES:  # and not one line end in it
                    raise DecodeError(
                        f"{member.zip_path}: line {first_line:,} of {member.name} is longer "
                        f"than {MAX_LINE_BYTES:,} bytes: this is not a NIBRS master file"
                    )
                continue
            carried = bytes(text[cut:end])
            text[cut : cut + PADDING] = _BLANKS
            if text.find(b"\x00", start, cut) >= 0:  # NUL-filled fields (older headers)
                text[start:cut] = text[start:cut].replace(b"\x00", b" ")
            data = np.frombuffer(text, np.uint8, count=cut - start + PADDING, offset=start)
            lines = split_lines(data, cut - start)
            yield _Block(index, cut - start, first_line, carried_ori), data, lines
            del data
            carried_ori = _last_header_ori(text, start, cut) or carried_ori
            first_line += len(lines[0])
            index += 1
            slots.release(size)


def _last_header_ori(text: bytearray | mmap.mmap, start: int, end: int) -> str | None:
    found = text.rfind(_HEADER_START, start, end)
    if found >= 0:
        return header_ori(text, found + 1)
    if text[start : start + 2] in (b"BH", b"B1", b"B2", b"B3"):  # the block opens with it
        return header_ori(text, start)
    return None


@dataclass(frozen=True)
class _Job:
    """What one decode_zip call decodes, and how."""

    member: Member
    out_dir: Path
    year: int
    block_size: int
    engine: str
    compression: str
    progress: Callable[[int], None] | None
    inflating: InflatingChild | None  # started ahead by the caller (source.start_inflating)

    def blocks(self) -> Iterator[tuple[_Block, np.ndarray, tuple[np.ndarray, np.ndarray]]]:
        split_lines = native.split_lines if self.engine == "native" else slicing.split_lines
        return _cut_blocks(self.member, self.block_size, self.progress, split_lines, self.inflating)


def _decode_here(job: _Job) -> list[dict]:
    decoder = _BlockDecoder(job.out_dir, job.year, engine=job.engine, compression=job.compression)
    try:
        for block, data, lines in job.blocks():
            decoder.decode_block(data, block.size, block.first_line, block.carried_ori, lines)
        return [decoder.finish()]
    except BaseException:
        decoder.abort()
        raise


def _decode_in_workers(job: _Job, workers: int) -> list[dict]:
    """Hand blocks to ``workers`` decoder.worker processes through shared memory."""
    from multiprocessing import shared_memory

    answers: queue.Queue = queue.Queue()
    processes = []
    for part in range(workers):
        process = subprocess.Popen(
            [sys.executable, "-m", "decoder.worker", str(job.out_dir), str(job.year), str(part),
             job.engine, job.compression],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(process)
        threading.Thread(target=_relay, args=(part, process, answers), daemon=True).start()
    in_flight: dict[int, shared_memory.SharedMemory] = {}
    idle = list(range(workers)) * 2  # two blocks queued per worker keep it busy
    finished: list[dict] = []

    def handle(part: int, answer: dict) -> None:
        if "done" in answer:
            memory = in_flight.pop(answer["done"])
            memory.close()
            memory.unlink()
            idle.append(part)
        elif "finished" in answer:
            finished.append(answer["finished"])
        else:
            failure = answer["failed"]
            raise DecodeError(f"{job.member.zip_path}: a decoding worker failed: {failure}")

    try:
        for block, data, _ in job.blocks():
            while not idle:
                handle(*answers.get())
            memory = shared_memory.SharedMemory(create=True, size=len(data))
            memory.buf[: len(data)] = data
            in_flight[block.index] = memory
            task = {"index": block.index, "size": block.size, "first_line": block.first_line,
                    "carried_ori": block.carried_ori, "memory": memory.name}  # fmt: skip
            _send(processes[idle.pop(0)], task)
        for process in processes:
            _send(process, None)
        while len(finished) < workers:
            handle(*answers.get())
        return finished
    finally:
        for process in processes:
            if len(finished) < workers and process.poll() is None:
                process.kill()
            process.wait()
        for memory in in_flight.values():
            memory.close()
            memory.unlink()


def _send(process: subprocess.Popen, task: dict | None) -> None:
    process.stdin.write(json.dumps(task) + "\n")
    process.stdin.flush()


def _relay(part: int, process: subprocess.Popen, answers: queue.Queue) -> None:
    """Pass a worker's answers on; a worker that dies without finishing is a failure."""
    for line in process.stdout:
        answer = json.loads(line)
        answers.put((part, answer))
        if "finished" in answer or "failed" in answer:
            return
    answers.put((part, {"failed": f"worker {part} exited with code {process.wait()}"}))


def _publish(out_dir: Path) -> None:
    """Swap this run's parts in for the last run's, segment by segment."""
    folders = [out_dir / segment for segment in segment_schemas()] + [out_dir / "_quarantine"]
    for folder in folders:
        if not folder.is_dir():
            continue
        fresh = list(folder.glob("*.parquet.tmp"))
        if fresh or folder.name == "_quarantine":
            for stale in folder.glob("*.parquet"):
                stale.unlink()
        for tmp in fresh:
            tmp.replace(tmp.with_suffix(""))


def _discard(out_dir: Path) -> None:
    for tmp in out_dir.glob("*/*.parquet.tmp"):
        tmp.unlink()


def decode_zip(
    zip_path: str | Path,
    out_dir: str | Path,
    *,
    year: int | None = None,
    block_size: int = BLOCK_SIZE,
    workers: int = 1,
    engine: str | None = None,
    parquet_compression: str = PARQUET_COMPRESSION,
    progress: Callable[[int], None] | None = None,
    inflating: InflatingChild | None = None,
) -> DecodeSummary:
    """Decode ``zip_path`` into ``out_dir/<segment>/part-*.parquet``.

    Undecodable records go to ``out_dir/_quarantine/``; the summary is written last, to
    ``out_dir/_summary.json``. Outputs replace the previous run's only when the whole file
    decoded. ``year`` (else the year the zip's or its member's name says) must be a NIBRS
    year, and the one the batch headers declare: else DecodeError, and nothing published.
    ``workers`` > 1 slices in that many worker processes; on the 2-vCPU machines this was
    measured on they gain nothing (the vCPUs share a core), so the default is 1: slicing
    here, overlapped with the inflating child. ``engine`` is ``native``, ``numpy``
    or ``auto`` (the default; see decoder.native). ``parquet_compression`` is one of
    PARQUET_COMPRESSIONS. ``inflating`` is the child source.start_inflating started for this
    zip ahead of the call; the caller stops it (source.stop_inflating) if the call fails.
    """
    if parquet_compression not in PARQUET_COMPRESSIONS:
        raise DecodeError(
            f"unknown Parquet compression {parquet_compression!r}; choose one of "
            f"{', '.join(PARQUET_COMPRESSIONS)}"
        )
    if year is not None and year not in nibrs_years():
        raise DecodeError(
            f"--year {year} is no NIBRS data year: master files run from {FIRST_NIBRS_YEAR} "
            f"to {nibrs_years()[-1]}"
        )
    started = time.perf_counter()
    out_dir = Path(out_dir)
    try:
        engine = native.resolve_engine(engine)
    except native.EngineUnavailableError as exc:
        raise DecodeError(str(exc)) from exc
    member = open_member(zip_path)
    year_given = year is not None
    year = year if year_given else data_year(member)
    if year is None:
        raise DecodeError(
            f"{member.zip_path}: cannot tell the data year from the zip name or its member "
            f"{member.name!r}; pass --year"
        )
    _check_looks_like_nibrs(member)
    _prepare_out_dir(out_dir)
    summary = DecodeSummary(
        zip=str(member.zip_path), member=member.name, compression=member.method_name,
        data_year=year, member_bytes=member.size, engine=engine,
    )  # fmt: skip
    job = _Job(member, out_dir, year, block_size, engine, parquet_compression, progress, inflating)
    try:
        results = _decode_here(job) if workers <= 1 else _decode_in_workers(job, workers)
        legacy: list[dict] = []
        for result in results:
            summary.add(result["tally"])
            legacy += result["legacy_headers"]
        if legacy:
            _write_legacy_headers(out_dir, legacy, summary, parquet_compression)
        _check_declared_year(member, year, year_given, summary.master_file_years)
    except BaseException:
        _discard(out_dir)
        raise
    _publish(out_dir)
    summary.seconds = time.perf_counter() - started
    (out_dir / "_summary.json").write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    return summary


def _write_legacy_headers(
    out_dir: Path, parts: list[dict], summary: DecodeSummary, compression: str
) -> None:
    """B1/B2/B3 rows, merged per agency, as their own part of batch_header."""
    rows = merge_legacy_headers(parts, load_layouts()["BH"])
    schema = segment_schemas()["batch_header"]
    plain = pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f for f in schema]
    )
    writer = _SegmentWriter(out_dir, "batch_header", schema, "legacy", compression=compression)
    writer.write(pa.Table.from_pylist(rows, schema=plain).cast(schema))
    writer.close()
    summary.rows["batch_header"] += writer.rows
    summary.master_file_years.update(row["master_file_year"] for row in rows)


def _check_declared_year(
    member: Member, year: int, year_given: bool, master_file_years: Counter
) -> None:
    """Refuse to label the data ``year`` when the batch headers say it is of another.

    Every batch header (BH, or B2 before 2013) carries the master file's year; the year
    most of them declare is the file's. The headers are only read while decoding, so this
    runs at the end, before any output is published.
    """
    declared: Counter = Counter()
    for value, count in master_file_years.items():
        if value is not None and value.strip().isdigit():
            declared[int(value)] += count
    if not declared:
        return  # headers without a year (or none at all): nothing to go by
    most_declared, count = declared.most_common(1)[0]
    if most_declared == year:
        return
    said = f"--year {year}" if year_given else f"data year {year} (from its name)"
    advice = "" if year_given else f" (pass --year {most_declared} if the file is of it)"
    headers = sum(master_file_years.values())
    raise DecodeError(
        f"{member.zip_path}: {said} contradicts the batch headers: {count:,} of {headers:,} "
        f"declare master-file year {most_declared}; nothing was published{advice}"
    )


def _prepare_out_dir(out_dir: Path) -> None:
    """Make the output folder and a file in it, else a one-line DecodeError naming it: not
    a traceback from the first Parquet file, after the decoding had started."""
    try:
        lowest = next((folder for folder in (out_dir, *out_dir.parents) if folder.exists()), None)
    except OSError as exc:  # a folder on the way that may not be looked into
        raise DecodeError(f"{out_dir}: cannot reach the output folder ({exc.strerror})") from exc
    if lowest is not None and not lowest.is_dir():
        problem = (
            "the output folder is a file, not a folder"
            if lowest == out_dir
            else f"cannot make the output folder: {lowest} is a file, not a folder"
        )
        raise DecodeError(f"{out_dir}: {problem}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DecodeError(f"{out_dir}: cannot make the output folder ({exc.strerror})") from exc
    try:
        # a file made and dropped, as os.access says yes to root even on a read-only mount
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise DecodeError(f"{out_dir}: cannot write in the output folder ({exc.strerror})") from exc


def _check_looks_like_nibrs(member: Member) -> None:
    """Read only the first inflated piece: enough to tell a master file from anything else."""
    pieces = iter_inflated(member, read_size=1 << 16)
    try:
        first = next(pieces, b"")
    finally:
        pieces.close()
    head = first.lstrip(b"\r\n\x00")[:2].decode("latin-1", "replace")
    if head not in load_layouts():
        raise DecodeError(
            f"{member.zip_path}: member {member.name} does not look like a NIBRS master file: "
            f"it starts with {first[:24]!r}, not a record type such as BH, B1 or 01"
        )
