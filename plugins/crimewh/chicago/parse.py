"""The API's JSON rows to the typed table that lands in the lake and in ``raw.chicago_crimes``.

What the JSON looks like (docs/reference/chicago-crimes-soda.md §1) and what is done with it:

* numbers arrive as JSON strings (``"37"``; sometimes ``"37.0"`` or a bare number): parsed;
* checkboxes as JSON booleans, in older exports the strings ``"true"``/``"false"``: both read;
* ``date`` and ``updated_on`` are floating timestamps, Chicago wall time without a zone: kept
  as naive ``timestamp[us]`` of that wall time. A value with a zone (``Z``, ``+00:00``) is
  converted to Chicago time first; the CSV export's ``11/16/2025 11:00:00 PM`` is read too;
* a missing key is a null (the API drops the keys of missing values);
* ``beat`` and ``district`` stay zero-padded strings (``"0511"``, ``"005"``), and are padded
  again if they arrive as numbers or trimmed digits; ``community_area`` is text, unpadded;
* unknown columns (computed regions and the like) are ignored and counted in the report;
* ``location`` is not kept: ``latitude``/``longitude`` are, and where they are missing they
  come from ``location`` in any of its shapes: the GeoJSON point ``{"type": "Point",
  "coordinates": [lon, lat]}``, the legacy ``{"latitude": …, "longitude": …,
  "human_address": …}``, the CSV text ``"(lat, lon)"`` or WKT ``"POINT (lon lat)"``.

A value that cannot be read becomes null and is counted per field in the report, with the
first example and its row id, so one odd row does not stop a nightly pull but does not pass
unseen either. A row without an id stops the parse: nothing could key it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crimewh.chicago import API_FIELDS
from crimewh.chicago.arrow import from_numpy, strings

CHICAGO = ZoneInfo("America/Chicago")
TIMESTAMP = pa.timestamp("us")
RAW_SCHEMA = pa.schema([
    ("id", pa.int64()), ("case_number", pa.string()), ("date", TIMESTAMP),
    ("block", pa.string()), ("iucr", pa.string()), ("primary_type", pa.string()),
    ("description", pa.string()), ("location_description", pa.string()),
    ("arrest", pa.bool_()), ("domestic", pa.bool_()), ("beat", pa.string()),
    ("district", pa.string()), ("ward", pa.int64()), ("community_area", pa.string()),
    ("fbi_code", pa.string()), ("x_coordinate", pa.float64()), ("y_coordinate", pa.float64()),
    ("year", pa.int64()), ("updated_on", TIMESTAMP), ("latitude", pa.float64()),
    ("longitude", pa.float64()),
])  # fmt: skip
KNOWN = frozenset(API_FIELDS)
_WIRE = pa.struct(
    [
        (name, pa.bool_() if name in ("arrest", "domestic") else pa.string())
        for name in API_FIELDS
        if name != "location"
    ]
)  # what the API sends, field by field
PADDED = {"beat": 4, "district": 3}
_FLOATING = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?")
_ZONED = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})")
_CSV_TIME = "%m/%d/%Y %I:%M:%S %p"
_PAIR = re.compile(r"^\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)$")  # "(lat, lon)"
_WKT = re.compile(r"^POINT\s*\(\s*(-?[\d.]+)\s+(-?[\d.]+)\s*\)$", re.IGNORECASE)  # lon lat
_TRUE = frozenset({"true", "t", "1", "yes", "y"})
_FALSE = frozenset({"false", "f", "0", "no", "n"})


class ParseError(ValueError):
    """The rows cannot be made into the raw table at all (a row without an id)."""


@dataclass
class ParseReport:
    """What parsing noticed; pages' reports add up into the pull's."""

    rows: int = 0
    unknown_columns: Counter = field(default_factory=Counter)  # column -> rows carrying it
    bad_values: Counter = field(default_factory=Counter)  # field -> values set to null
    examples: dict = field(default_factory=dict)  # field -> 'id 123: "value"'
    coordinates_from_location: int = 0
    zoned_timestamps: int = 0

    def add(self, other: ParseReport) -> ParseReport:
        self.rows += other.rows
        self.unknown_columns.update(other.unknown_columns)
        self.bad_values.update(other.bad_values)
        for name, example in other.examples.items():
            self.examples.setdefault(name, example)
        self.coordinates_from_location += other.coordinates_from_location
        self.zoned_timestamps += other.zoned_timestamps
        return self

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "unknown_columns": dict(self.unknown_columns),
            "bad_values": dict(self.bad_values),
            "examples": dict(self.examples),
            "coordinates_from_location": self.coordinates_from_location,
            "zoned_timestamps": self.zoned_timestamps,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ParseReport:
        return cls(
            rows=data.get("rows", 0),
            unknown_columns=Counter(data.get("unknown_columns", {})),
            bad_values=Counter(data.get("bad_values", {})),
            examples=dict(data.get("examples", {})),
            coordinates_from_location=data.get("coordinates_from_location", 0),
            zoned_timestamps=data.get("zoned_timestamps", 0),
        )

    def warnings(self) -> list[str]:
        """One line per thing worth a look, for the pull's log."""
        out = []
        if self.unknown_columns:
            listed = ", ".join(f"{k} ({v:,} rows)" for k, v in sorted(self.unknown_columns.items()))
            out.append(f"ignored columns the raw table does not have: {listed}")
        for name, count in sorted(self.bad_values.items()):
            out.append(
                f"{count:,} unreadable {name} value(s) stored as null, e.g. {self.examples[name]}"
            )
        return out


class _Column:
    """One field across the page: the Arrow fast path's values when it had them, the Python
    values (read only when needed), and where to report bad ones."""

    def __init__(self, name: str, rows: list[dict], report: ParseReport, wire=None):
        self.name = name
        self.rows = rows
        self.report = report
        self.wire = wire  # string (or bool) array from the struct conversion, or None
        self._values = None

    @property
    def values(self) -> list:
        if self._values is None:
            self._values = [row.get(self.name) for row in self.rows]
        return self._values

    def bad(self, index: int, value) -> None:
        self.report.bad_values[self.name] += 1
        example = f"id {self.rows[index].get('id')}: {value!r:.80}"
        self.report.examples.setdefault(self.name, example)


def parse_rows(rows: list[dict]) -> tuple[pa.Table, ParseReport]:
    """Typed rows in ``RAW_SCHEMA`` and a report of what was odd about them."""
    report = ParseReport(rows=len(rows))
    for row in rows:
        if row.keys() - KNOWN:
            report.unknown_columns.update(row.keys() - KNOWN)
    wire = _wire_columns(rows)
    columns: dict[str, pa.Array] = {}
    for spec in RAW_SCHEMA:
        name, kind = spec.name, spec.type
        column = _Column(name, rows, report, wire.get(name))
        if kind == pa.int64():
            columns[name] = _integers(column)
        elif kind == pa.float64():
            columns[name] = _floats(column)
        elif kind == pa.bool_():
            columns[name] = _booleans(column)
        elif kind == TIMESTAMP:
            columns[name] = _timestamps(column)
        else:
            columns[name] = _texts(column, PADDED.get(name))
    ids = columns["id"]
    if ids.null_count:
        index = next(i for i, valid in enumerate(ids.is_valid().to_pylist()) if not valid)
        raise ParseError(
            f"row {index} of the page has no usable id ({rows[index].get('id')!r}); "
            f"the row: {json.dumps(rows[index])[:300]}"
        )
    _coordinates_from_location(columns, _Column("location", rows, report))
    return pa.table([columns[s.name] for s in RAW_SCHEMA], schema=RAW_SCHEMA), report


def _wire_columns(rows: list[dict]) -> dict[str, pa.Array]:
    """Every field as Arrow in one C-level pass, when the page has the usual wire types
    (strings, and booleans for the checkboxes); else nothing, and each field is read in
    Python. Unknown keys and ``location`` are left out of the pass."""
    try:
        wire = pa.array(rows, type=_WIRE)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return {}
    return {field.name: wire.field(field.name) for field in _WIRE}


def empty_table() -> pa.Table:
    return RAW_SCHEMA.empty_table()


# -- per type ------------------------------------------------------------------------------------
def _text_array(column: _Column) -> pa.Array | None:
    """The field as an Arrow string array, when every value is a JSON string or absent."""
    if column.wire is not None and pa.types.is_string(column.wire.type):
        return column.wire
    if column.wire is None and all(v is None or type(v) is str for v in column.values):
        return strings(column.values)
    return None


def _integers(column: _Column) -> pa.Array:
    text = _text_array(column)
    if text is not None:
        try:
            return pc.cast(pc.utf8_trim_whitespace(text), pa.int64())
        except pa.ArrowInvalid:
            pass  # some value is not a plain integer: go one by one below
    values = column.values
    out = np.zeros(len(values), np.int64)
    valid = np.zeros(len(values), bool)
    for i, value in enumerate(values):
        if value is None:
            continue
        number = _number(value)
        if number is None or not float(number).is_integer():
            column.bad(i, value)
            continue
        out[i], valid[i] = int(number), True
    return from_numpy(out, valid)


def _floats(column: _Column) -> pa.Array:
    text = _text_array(column)
    if text is not None:
        try:
            return pc.cast(pc.utf8_trim_whitespace(text), pa.float64())
        except pa.ArrowInvalid:
            pass
    values = column.values
    out = np.zeros(len(values), np.float64)
    valid = np.zeros(len(values), bool)
    for i, value in enumerate(values):
        if value is None:
            continue
        number = _number(value)
        if number is None:
            column.bad(i, value)
            continue
        out[i], valid[i] = float(number), True
    return from_numpy(out, valid)


def _number(value) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip()) if any(c in value for c in ".eE") else int(value.strip())
        except ValueError:
            return None
    return None


def _booleans(column: _Column) -> pa.Array:
    if column.wire is not None and pa.types.is_boolean(column.wire.type):
        return column.wire
    out = np.zeros(len(column.values), bool)
    valid = np.zeros(len(column.values), bool)
    for i, value in enumerate(column.values):
        if value is None:
            continue
        if isinstance(value, bool):
            out[i], valid[i] = value, True
            continue
        word = str(value).strip().lower() if isinstance(value, str | int) else None
        if word in _TRUE or word in _FALSE:
            out[i], valid[i] = word in _TRUE, True
        else:
            column.bad(i, value)
    return from_numpy(out, valid)


def _timestamps(column: _Column) -> pa.Array:
    text = _text_array(column)
    if text is not None:
        floating = pc.match_substring_regex(text, _FLOATING.pattern.join("^$"))
        if pc.all(floating).as_py() is not False:  # every value floating (or absent)
            return pc.cast(text, TIMESTAMP)
    values = column.values
    out = np.zeros(len(values), "datetime64[us]")
    valid = np.zeros(len(values), bool)
    for i, value in enumerate(values):
        if value is None:
            continue
        moment = _timestamp(value, column.report)
        if moment is None:
            column.bad(i, value)
            continue
        out[i], valid[i] = np.datetime64(moment, "us"), True
    return from_numpy(out, valid)


def _timestamp(value, report: ParseReport) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _FLOATING.fullmatch(text):
        return datetime.fromisoformat(text)
    if _ZONED.fullmatch(text):
        report.zoned_timestamps += 1  # a fixed timestamp: Chicago's wall time at that instant
        moment = datetime.fromisoformat(text.replace(" ", "T"))
        return moment.astimezone(CHICAGO).replace(tzinfo=None)
    for form in (_CSV_TIME, "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, form)
        except ValueError:
            continue
    return None


def _texts(column: _Column, width: int | None) -> pa.Array:
    text = _text_array(column)
    if text is not None and (width is None or not _needs_padding(text, width)):
        return text
    out: list[str | None] = []
    for i, value in enumerate(column.values):
        if value is None or isinstance(value, str):
            text = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            text = str(int(value)) if float(value).is_integer() else str(value)
        else:
            column.bad(i, value)
            text = None
        if width and text is not None and text.isdigit() and len(text) < width:
            text = text.zfill(width)  # "511" from a CSV round trip is beat "0511"
        out.append(text)
    return strings(out)


def _needs_padding(text: pa.Array, width: int) -> bool:
    short = pc.less(pc.utf8_length(text), width)
    return bool(pc.any(short).as_py())


# -- location ------------------------------------------------------------------------------------
def _coordinates_from_location(columns: dict, location: _Column) -> None:
    """Fill missing latitude/longitude from ``location``, whatever shape it has."""
    lat, lon = columns["latitude"], columns["longitude"]
    missing = pc.or_(pc.is_null(lat), pc.is_null(lon)).to_pylist()
    wanted = [i for i, m in enumerate(missing) if m and location.values[i] is not None]
    if not wanted:
        return
    lat_values, lon_values = lat.to_pylist(), lon.to_pylist()
    for i in wanted:
        point = _point(location.values[i])
        if point is None:
            location.bad(i, location.values[i])
            continue
        lat_values[i], lon_values[i] = point
        location.report.coordinates_from_location += 1
    columns["latitude"] = _float_array(lat_values)
    columns["longitude"] = _float_array(lon_values)


def _float_array(values: list) -> pa.Array:
    valid = np.array([v is not None for v in values], bool)
    return from_numpy(np.array([v if v is not None else 0.0 for v in values], np.float64), valid)


def _point(value) -> tuple[float, float] | None:
    """(latitude, longitude) from any ``location`` shape, or None."""
    if isinstance(value, str):
        return _point_from_text(value.strip())
    if not isinstance(value, dict):
        return None
    try:
        if isinstance(value.get("coordinates"), list | tuple):
            lon, lat = value["coordinates"][:2]  # GeoJSON order
        elif "latitude" in value and "longitude" in value:
            lat, lon = value["latitude"], value["longitude"]
        else:
            return None
        return float(lat), float(lon)
    except (TypeError, ValueError):
        return None


def _point_from_text(text: str) -> tuple[float, float] | None:
    if text.startswith("{"):  # an object sent as JSON text
        try:
            return _point(json.loads(text))
        except ValueError:
            return None
    if match := _PAIR.match(text):
        return float(match.group(1)), float(match.group(2))
    if match := _WKT.match(text):
        return float(match.group(2)), float(match.group(1))
    return None
