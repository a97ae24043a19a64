"""The tables the checks run on, built from a decoded NIBRS partition or a Chicago batch.

Most frames are the input's own tables, cut to the columns the checks read (a NIBRS year has
tens of millions of victim rows; only a few columns are ever checked). The rest are derived
here with Arrow, because GX checks one table at a time and some rules span several:

* ``record_lengths``: ``record_type:length`` per record (from the decoder's summary);
* ``incident_counts``: each 01's declared child counts beside the records that follow it;
* ``orphan_records``: child records without an 01;
* ``batch_header_months``: months reported beside the months the monthly flags mark;
* ``incident_months``: each agency-month with incidents, and whether its flag says so;
* Chicago's ``schema``: ``field:type`` per column of the batch.

Dates are checked as YYYYMMDD numbers (``*_day`` columns): null where the field is blank, 0
where it is not a calendar date.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crimewh.quality.codes import SEGMENT_RECORD_TYPES
from crimewh.quality.suites import Check, allowed_record_lengths

if TYPE_CHECKING:
    import pandas as pd

    from crimewh.lake import Lake

SOURCE = "nibrs"
QUARANTINE_TABLE = "quarantine"
INCIDENTS_PER_CHUNK = 500_000  # about 1.3 GB of frames and their checks at a time
# read whole whatever the chunk: small, and not ordered with the incidents
WHOLE_YEAR_TABLES = {"batch_header", QUARANTINE_TABLE}
# frames of the whole year, checked once: they do not split by line (or are small)
WHOLE_YEAR_FRAMES = {
    "batch_header", QUARANTINE_TABLE, "batch_header_months", "record_lengths",
    "duplicate_incidents",
}  # fmt: skip
CHILD_SEGMENTS = ("offense", "property", "victim", "offender", "arrestee")
DECLARED = {  # incident_counts column -> (01 field, child segment)
    "offenses": ("total_offense_segments", "offense"),
    "victims": ("total_victim_segments", "victim"),
    "offenders": ("total_offender_segments", "offender"),
    "arrestees": ("total_arrestee_segments", "arrestee"),
}
DAY_COLUMNS = {  # derived column -> the date field it is made from
    "incident_day": "incident_date",
    "exceptional_clearance_day": "exceptional_clearance_date",
    "arrest_day": "arrest_date",
}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
FLAG_KINDS = ("zero_report", "group_a_b", "window")


class FrameError(Exception):
    """The input to check is missing or unreadable; the message says what and where."""


# -- NIBRS inputs ------------------------------------------------------------------------------
@dataclass
class NibrsPartition:
    """One data year of decoded NIBRS: where it is, and how to read a table's columns.

    ``lines`` cuts it to the records of a range of line numbers (the frames of one chunk);
    the batch headers and the quarantine are always read whole.
    """

    year: int
    read: Callable[..., pa.Table | None]  # table, columns, lines -> None if absent
    summary: dict | None  # the decoder's _summary.json, when the input has it
    lines: tuple[int, int] | None = None

    def sliced(self, first: int, end: int) -> NibrsPartition:
        return NibrsPartition(self.year, self.read, self.summary, (first, end))

    @classmethod
    def from_decoded(cls, folder: Path, year: int | None = None) -> NibrsPartition:
        """A ``decode_zip`` output folder: ``<segment>/part-*.parquet``, ``_quarantine/``."""
        folder = Path(folder)
        summary_path = folder / "_summary.json"
        if not summary_path.exists():
            raise FrameError(
                f"{folder} has no _summary.json: it is not a finished decoder output "
                "(decode the zip again: crimewh nibrs decode ZIP --out FOLDER)"
            )
        summary = json.loads(summary_path.read_text())
        year = year or int(summary["data_year"])

        def read(table: str, columns: list[str], lines=None) -> pa.Table | None:
            name = "_quarantine" if table == QUARANTINE_TABLE else table
            files = sorted((folder / name).glob("part-*.parquet"))
            if not files:
                return None
            return pq.ParquetDataset(files, filters=_line_filter(lines)).read(columns=columns)

        return cls(year=year, read=read, summary=summary)

    @classmethod
    def from_lake(cls, lake: Lake, year: int) -> NibrsPartition:
        """The partition ``year=YYYY`` of every NIBRS table in the lake.

        The lake keeps no decoder summary, so record lengths are judged from the rows: a
        record longer than its layout keeps its extra bytes in ``overflow``; a shorter one
        cannot be seen any more.
        """
        from crimewh.lake import PartitionMissingError

        partition = f"year={year}"
        if not lake.partitions(SOURCE, "administrative").count(partition):
            raise FrameError(
                f"the lake {lake.url} has no nibrs/administrative/{partition}: ingest the "
                f"year first (crimewh nibrs ingest --year {year})"
            )

        def read(table: str, columns: list[str], lines=None) -> pa.Table | None:
            try:
                files = lake.partition_files(lake.manifest(SOURCE, table, partition))
            except PartitionMissingError:
                return None
            if not files:
                return None
            dataset = pq.ParquetDataset(files, filesystem=lake.fs, filters=_line_filter(lines))
            return dataset.read(columns=columns)

        return cls(year=year, read=read, summary=None)


def _line_filter(lines: tuple[int, int] | None):
    """A row filter on line numbers; the decoder's min/max statistics on ``line_number``
    let Parquet skip the row groups outside the range without reading them."""
    if lines is None:
        return None
    return [("line_number", ">=", lines[0]), ("line_number", "<", lines[1])]


def _segment_schema(segment: str) -> pa.Schema:
    from decoder.decode import QUARANTINE_SCHEMA, segment_schemas

    if segment == QUARANTINE_TABLE:
        return QUARANTINE_SCHEMA
    return segment_schemas()[segment]


def _read(partition: NibrsPartition, table: str, columns: list[str]) -> pa.Table:
    """``columns`` of a table; an absent table reads as empty (a small file may lack W3)."""
    schema = _segment_schema(table)
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        raise FrameError(f"the {table} table has no columns {unknown}; check suites.py")
    whole = table in WHOLE_YEAR_TABLES
    data = partition.read(table, columns, None if whole else partition.lines)
    if data is None:
        return schema.empty_table().select(columns)
    return data


# -- NIBRS frames ------------------------------------------------------------------------------
def nibrs_frames(
    partition: NibrsPartition, checks: list[Check], *, only: set[str] | None = None
) -> dict[str, pa.Table]:
    """Every frame the checks name (or the ``only`` ones among them), as Arrow tables."""
    wanted: dict[str, set[str]] = {}
    for check in checks:
        if only is None or check.frame in only:
            wanted.setdefault(check.frame, set()).update(check.columns())
    frames: dict[str, pa.Table] = {}
    for name, columns in wanted.items():
        if name in SEGMENT_RECORD_TYPES or name == QUARANTINE_TABLE:
            frames[name] = _segment_frame(partition, name, columns)
        elif name in DERIVED:
            frames[name] = DERIVED[name](partition)
        else:
            raise FrameError(f"no NIBRS frame {name!r}; the frames are {sorted(DERIVED)}")
    return frames


def nibrs_frame_chunks(
    partition: NibrsPartition, checks: list[Check], *, incidents: int = INCIDENTS_PER_CHUNK
) -> Iterator[dict[str, pa.Table]]:
    """The frames a chunk of about ``incidents`` incidents at a time, so that checking a
    year takes the memory of a chunk whatever the year's size (a year of 8 million
    incidents would need some 16 GB at once).

    Chunks are ranges of line numbers that start at an 01 record: records follow the 01
    they belong to, so each chunk holds whole incidents and every rule that spans segments
    (declared counts, orphans) sees all it needs. The frames that are a year's whole, the
    batch headers, the record lengths, the quarantine and the duplicate incidents, come
    with the first chunk.
    """
    whole = {c.frame for c in checks if c.frame in WHOLE_YEAR_FRAMES}
    lines = partition.read("administrative", ["line_number"])
    starts = np.sort(lines.column("line_number").to_numpy()) if lines is not None else []
    bounds = [0, *(int(line) for line in starts[incidents::incidents]), 2**62]
    for number, (first, end) in enumerate(itertools.pairwise(bounds)):
        chunk = nibrs_frames(
            partition.sliced(first, end),
            checks,
            only={c.frame for c in checks if c.frame not in WHOLE_YEAR_FRAMES},
        )
        if number == 0:
            chunk.update(nibrs_frames(partition, checks, only=whole))
        yield chunk


def _segment_frame(partition: NibrsPartition, segment: str, columns: set[str]) -> pa.Table:
    derived = {c for c in columns if c in DAY_COLUMNS}
    plain = sorted((columns - derived) | {DAY_COLUMNS[c] for c in derived})
    table = _read(partition, segment, plain)
    for column in sorted(derived):
        table = table.append_column(column, day_numbers(table.column(DAY_COLUMNS[column])))
    return table.select(sorted(columns))


def day_numbers(dates: pa.ChunkedArray | pa.Array) -> pa.Array:
    """YYYYMMDD text to the number YYYYMMDD; null stays null, a non-date becomes 0."""
    dates = dates.combine_chunks() if isinstance(dates, pa.ChunkedArray) else dates
    parsed = pc.strptime(dates, format="%Y%m%d", unit="s", error_is_null=True)
    # Arrow's strptime rolls 20220230 over to March 2nd: a real date prints back the same
    printed = pc.strftime(parsed, format="%Y%m%d")
    real = pc.fill_null(pc.equal(printed, dates), False)
    numbers = pc.cast(pc.if_else(real, printed, "0"), pa.int64())
    return pc.if_else(pc.is_valid(dates), numbers, pa.scalar(None, pa.int64()))


def _record_lengths(partition: NibrsPartition) -> pa.Table:
    """One row per record length and type, weighted by how many records have it.

    From the decoder's summary when there is one (every record's real length); from the lake
    only records longer than their layout show (the ``overflow`` column).
    """
    from decoder.layouts import load_layouts

    types, lengths, counts = [], [], []
    if partition.summary is not None:
        for record_type, histogram in partition.summary["line_lengths"].items():
            for length, count in histogram.items():
                types.append(record_type)
                lengths.append(int(length))
                counts.append(int(count))
    else:
        layouts = load_layouts()
        for segment in SEGMENT_RECORD_TYPES:
            table = _read(partition, segment, ["segment_level", "overflow"])
            extra = pc.fill_null(pc.utf8_length(table.column("overflow")), 0)
            grouped = (
                pa.table({"record_type": table.column("segment_level"), "extra": extra})
                .group_by(["record_type", "extra"])
                .aggregate([("extra", "count")])
            )
            for row in grouped.to_pylist():
                layout = layouts.get(row["record_type"])
                base = layout.length if layout else 0
                types.append(row["record_type"])
                lengths.append(base + row["extra"] if row["extra"] else base)
                counts.append(row["extra_count"])
    allowed = allowed_record_lengths(partition.year)
    kinds = [f"{t}:{n}" for t, n in zip(types, lengths, strict=True)]
    return pa.table(
        {
            "record_type": pa.array(types, pa.string()),
            "length": pa.array(lengths, pa.int64()),
            "records": pa.array(counts, pa.int64()),
            "record_length": pa.array(kinds, pa.string()),
            "unexpected_length": pa.array(
                [
                    None if k in allowed else _in_records(k, n)
                    for k, n in zip(kinds, counts, strict=True)
                ],
                pa.string(),
            ),
        }
    )


def integers(texts: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Zero-padded digit fields as numbers; null where the field is blank or not digits."""
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    digits = pc.fill_null(pc.match_substring_regex(texts, r"^\d+$"), False)
    return pc.if_else(digits, pc.cast(pc.if_else(digits, texts, "0"), pa.int64()), None)


def _key_text(table: pa.Table) -> pa.Array:
    """``ORI/incident number``, for messages."""
    return pc.binary_join_element_wise(
        pc.fill_null(table.column("ori"), "?"),
        pc.fill_null(table.column("incident_number"), "?"),
        "/",
    )


def _in_records(kind: str, records: int) -> str:
    return f"{kind} in {records:,} record{'' if records == 1 else 's'}"


def _incident_counts(partition: NibrsPartition) -> pa.Table:
    """Per 01: the declared child counts, the records present, and a note where they differ."""
    keys = ["ori", "incident_number"]
    admin = _read(partition, "administrative", [*keys, *(f for f, _ in DECLARED.values())])
    result = admin.select(keys)
    for name, (field, _) in DECLARED.items():  # all before any join: joins reorder rows
        result = result.append_column(f"declared_{name}", integers(admin.column(field)))
    for name, (_, segment) in DECLARED.items():
        children = _read(partition, segment, keys)
        present = children.group_by(keys).aggregate([("ori", "count", pc.CountOptions("all"))])
        present = pa.table({"ori": present["ori"], "incident_number": present["incident_number"],
                            name: present["ori_count"]})  # fmt: skip
        result = result.join(present, keys, join_type="left outer")
        result = result.set_column(
            result.schema.get_field_index(name), name, pc.fill_null(result.column(name), 0)
        )
    for name in DECLARED:
        declared, found = result.column(f"declared_{name}"), result.column(name)
        note = pc.binary_join_element_wise(
            _key_text(result), " declares ", pc.cast(declared, pa.string()), f" {name}, has ",
            pc.cast(found, pa.string()), "",
        )  # fmt: skip
        differs = pc.fill_null(pc.not_equal(declared, found), True)
        result = result.append_column(f"{name}_mismatch", pc.if_else(differs, note, None))
    return result


def _orphan_records(partition: NibrsPartition) -> pa.Table:
    """Child records with no 01 of the same ORI and incident number: it should be empty."""
    keys = ["ori", "incident_number"]
    admin = _read(partition, "administrative", keys)
    admin = admin.append_column("_incident", pa.array([True] * admin.num_rows, pa.bool_()))
    orphans = []
    for segment in CHILD_SEGMENTS:
        children = _read(partition, segment, [*keys, "line_number"])
        joined = children.join(admin, keys, join_type="left outer")
        lost = joined.filter(pc.is_null(joined.column("_incident")))
        record = pc.binary_join_element_wise(
            f"{segment} line ", pc.cast(lost.column("line_number"), pa.string()), ": ",
            _key_text(lost), "",
        )  # fmt: skip
        orphans.append(pa.table({"orphan": record}))
    return pa.concat_tables(orphans)


def _flag_columns() -> list[str]:
    return [f"{month}_{kind}" for month in MONTHS for kind in FLAG_KINDS]


def _batch_header_months(partition: NibrsPartition) -> pa.Table:
    headers = _read(partition, "batch_header", ["ori", "months_reported", *_flag_columns()])
    months_reported = integers(headers.column("months_reported"))
    flagged = pa.array([0] * headers.num_rows, pa.int64())
    text = pa.array([""] * headers.num_rows, pa.string())
    for month in MONTHS:
        active = pc.or_(
            pc.equal(pc.fill_null(headers.column(f"{month}_zero_report"), ""), "Y"),
            pc.equal(pc.fill_null(headers.column(f"{month}_group_a_b"), ""), "Y"),
        )
        flagged = pc.add(flagged, pc.cast(active, pa.int64()))
        for kind in FLAG_KINDS:
            text = pc.binary_join_element_wise(
                text, pc.fill_null(headers.column(f"{month}_{kind}"), " "), ""
            )
    return pa.table(
        {
            "ori": headers.column("ori"),
            "months_reported": months_reported,
            "months_flagged": flagged,
            "monthly_flags": text,
        }
    )


def _incident_months(partition: NibrsPartition) -> pa.Table:
    """Each (agency, month) of the data year with incidents, and its batch header's A/B flag."""
    admin = _read(partition, "administrative", ["bh_ori", "incident_date"])
    day = day_numbers(admin.column("incident_date"))
    in_year = pc.equal(pc.fill_null(pc.divide(day, 10_000), 0), partition.year)
    agencies = pc.cast(admin.column("bh_ori"), pa.string()).combine_chunks()
    months = pa.table({"ori": agencies, "month": pc.divide(pc.remainder(day, 10_000), 100)}).filter(
        in_year
    )
    months = months.group_by(["ori", "month"]).aggregate([]).sort_by([("ori", "ascending")])
    headers = _read(partition, "batch_header", ["ori", *(f"{m}_group_a_b" for m in MONTHS)])
    flags = {
        row["ori"]: [row[f"{m}_group_a_b"] == "Y" for m in MONTHS] for row in headers.to_pylist()
    }
    flagged = [
        bool(flags.get(ori, [False] * 12)[month - 1])
        for ori, month in zip(
            months.column("ori").to_pylist(), months.column("month").to_pylist(), strict=True
        )
    ]
    return months.append_column("flagged", pa.array(flagged, pa.bool_()))


def _duplicate_incidents(partition: NibrsPartition) -> pa.Table:
    """(ORI, incident number) pairs that more than one 01 of the year carries."""
    admin = _read(partition, "administrative", ["ori", "incident_number"])
    counted = admin.group_by(["ori", "incident_number"]).aggregate(
        [("ori", "count", pc.CountOptions("all"))]
    )
    repeated = counted.filter(pc.greater(counted.column("ori_count"), 1))
    return pa.table({"incident": _key_text(repeated), "records": repeated.column("ori_count")})


DERIVED: dict[str, Callable[[NibrsPartition], pa.Table]] = {
    "duplicate_incidents": _duplicate_incidents,
    "record_lengths": _record_lengths,
    "incident_counts": _incident_counts,
    "orphan_records": _orphan_records,
    "batch_header_months": _batch_header_months,
    "incident_months": _incident_months,
}


# -- Chicago frames ----------------------------------------------------------------------------
def type_family(arrow_type: pa.DataType) -> str:
    """int, float, string, bool, timestamp, date, or the type's own name."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    for family, test in (
        ("int", pa.types.is_integer),
        ("float", pa.types.is_floating),
        ("string", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
        ("bool", pa.types.is_boolean),
        ("timestamp", pa.types.is_timestamp),
        ("date", pa.types.is_date),
    ):
        if test(arrow_type):
            return family
    return str(arrow_type)


def chicago_frames(batch: pa.Table) -> dict[str, pa.Table]:
    """``crimes`` (the batch, plus ``date_year`` and ``community_area_number``) and ``schema``."""
    fields = list(batch.schema)
    schema = pa.table(
        {
            "column": [f.name for f in fields],
            "column_type": [f"{f.name}:{type_family(f.type)}" for f in fields],
        }
    )
    crimes = batch.drop_columns([c for c in ("location",) if c in batch.column_names])
    for name in ("date", "updated_on"):  # floating timestamps: compare them without a zone
        if name in crimes.column_names and pa.types.is_timestamp(crimes.schema.field(name).type):
            naive = pc.cast(crimes.column(name), pa.timestamp("us"))
            crimes = crimes.set_column(crimes.schema.get_field_index(name), name, naive)
    if "date" in crimes.column_names and pa.types.is_timestamp(crimes.schema.field("date").type):
        crimes = crimes.append_column(
            "date_year", pc.cast(pc.year(crimes.column("date")), pa.int64())
        )
    else:
        crimes = crimes.append_column("date_year", pa.nulls(crimes.num_rows, pa.int64()))
    if "community_area" in crimes.column_names:
        area = crimes.column("community_area")
        if not pa.types.is_integer(area.type):
            area = integers(pc.utf8_trim_whitespace(pc.cast(area, pa.string())))
        crimes = crimes.append_column("community_area_number", area)
    return {"crimes": crimes, "schema": schema}


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as GX's pandas source wants it: NumPy-backed columns, text as
    categoricals. A year's codes are a few distinct values repeated millions of times: as
    Python strings they took 1.9 GB for a million incidents, as categoricals a tenth."""
    return table.to_pandas(strings_to_categorical=True, ignore_metadata=True)
