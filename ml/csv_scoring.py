"""Scoring a user's CSV of Chicago crimes with the arrest champion (``crimewh score --file``).

The file is in the dataset's schema (the portal's CSV export with display names such as
"Primary Type", or the API's field names) and comes back with every input column, in order,
then ``arrest_probability`` (empty for a bad row), ``model_version`` and ``error`` (empty
for a good row). A bad row gets its error and no probability; the other rows are scored.

The work comes in layers, so that an HTTP prediction API or an upload page can take the
part it needs:

* reading: ``decode_csv_bytes`` (the encoding, or a one-line refusal of a binary file) and
  ``read_crimes_csv`` (records, the line each starts on, the columns the model reads; blank
  lines are skipped);
* rows: ``score_rows`` validates and scores rows given as dicts (field name -> value) and
  returns, per row, the probability or the errors, each naming its field (``FieldError``);
  the checks themselves are ``ml.features.chicago_source_features``;
* writing: ``neutralize_cell`` and ``write_scored_csv``.

**Encodings.** UTF-8 with or without a byte order mark, UTF-16 and UTF-32 with one, else
Windows-1252, which reads Latin-1 text the same (bytes 0x80-0x9F, printable in Windows-1252,
are control codes in Latin-1; a file with one of the five bytes Windows-1252 leaves undefined
is read as Latin-1).
A file with NUL bytes, a known binary signature (ZIP/xlsx, xls, gzip, PDF, images,
Parquet) or many control characters is refused in one line naming the file.

**Limits.** A field over ``MAX_FIELD_CHARS`` (a Chicago description is a few dozen
characters) makes its row an error and is left out of the output; a row whose number of
fields differs from the header's is an error, with its line and both counts: a short row is
padded with empty cells and a long row's extra cells are left out (the error quotes them),
so every output row has exactly the header's columns and then the scorer's.

**Spreadsheet formulas** (OWASP "CSV Injection"). Every cell written, header included, goes
through ``neutralize_cell``: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab, a carriage
return or NUL gets a leading single quote, so that a spreadsheet shows it as text instead
of running it. A cell that is a plain decimal number (``-87.6``, ``-1.5e3``) is left as it
is: a spreadsheet reads it as a number, never as a formula, and a longitude must stay one.
Which cells are text and which are numbers is decided by that test alone, the same for the
input's cells (user text, echoed back) and the scorer's own: ``arrest_probability`` is a
number the scorer formats (``0.123456``); ``model_version`` and ``error`` (which quotes the
user's values) are text. Every cell is also quoted, so that a spreadsheet splitting on
another separator (``;`` in many locales) cannot start a new cell inside a field.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ml.db import MLError
from ml.features import REQUIRED_SOURCE_FIELDS, FieldError, api_field, chicago_source_features

if TYPE_CHECKING:
    from ml.db import Workspace
    from ml.registry import LoadedModel

SCORER_COLUMNS = ("arrest_probability", "model_version", "error")
MAX_FIELD_CHARS = 64 * 1024
FORMULA_STARTS = frozenset("=+-@\t\r\0")
_PLAIN_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
EXTRA_PREVIEW = 3  # extra cells a long row's error quotes
PREVIEW_CHARS = 40  # of each

# Byte order marks, the longest first: UTF-32 LE's begins with UTF-16 LE's.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# What people upload instead of a CSV, by the bytes it starts with.
_BINARY_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel .xls workbook"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PAR1", "a Parquet file"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # tab, newlines, form feed are text
_TEXT_ADVICE = "save or export the crimes as CSV text (UTF-8, UTF-16 with a BOM, or Windows-1252)"


# -- reading -------------------------------------------------------------------------------------
def decode_csv_bytes(data: bytes, source: str) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was read with.

    Raises ``MLError`` in one line naming ``source`` if the bytes are not text.
    """

    def refuse(why: str) -> MLError:
        return MLError(f"{source} is not a CSV text file: {why}; {_TEXT_ADVICE}")

    for signature, what in _BINARY_SIGNATURES:
        if data.startswith(signature):
            raise refuse(f"it is {what}")
    for mark, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as error:
                raise refuse(
                    f"it starts with a {encoding.upper()} byte order mark, but byte "
                    f"{error.start:,} is not {encoding.upper()}"
                ) from None
            break
    else:
        if b"\x00" in data:
            raise refuse(_why_nul(data))
        text, encoding = _decode_without_mark(data)
    text = text.removesuffix("\x1a")  # the end-of-file mark of old DOS and Windows tools
    if "\x00" in text:
        raise refuse(f"it holds NUL characters (the first at character {text.index(chr(0)):,})")
    controls = _CONTROL.findall(text, 0, 1 << 20)
    # a stray control character or two is a cell's problem; many are a binary file's sign
    if len(controls) > max(1, min(len(text), 1 << 20) // 1000):
        first = _CONTROL.search(text).start()
        raise refuse(
            f"it holds control characters ({len(controls):,} in its first MiB, the first at "
            f"character {first:,})"
        )
    return text, encoding


def _decode_without_mark(data: bytes) -> tuple[str, str]:
    """UTF-8 if the bytes are valid UTF-8 (text in another 8-bit encoding almost never is),
    else Windows-1252, else Latin-1, which reads any byte."""
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _why_nul(data: bytes) -> str:
    head = data[:4096]
    odd, even = head[1::2].count(0), head[0::2].count(0)
    if max(odd, even) > 0.4 * len(head) / 2:  # every other byte NUL: 16-bit text
        return "it looks like UTF-16 without a byte order mark (BOM)"
    return f"it holds NUL bytes (the first at byte {data.index(0):,})"


@dataclass
class CrimesCsv:
    """A CSV of Chicago crimes, read: header, records, and what the model reads of it."""

    path: Path
    encoding: str
    header: list[str]
    records: list[list[str]]
    lines: list[int]  # the line each record starts on; the header is line 1
    fields: dict[str, int]  # API field name -> column index (the first of two spellings)

    @property
    def ignored_columns(self) -> list[str]:
        return [name for name in self.header if api_field(name) is None]

    def rows(self) -> list[dict[str, str | None]]:
        """Each record as a dict of the fields the model reads (None where a short row ends)."""
        return [
            {name: record[i] if i < len(record) else None for name, i in self.fields.items()}
            for record in self.records
        ]

    def record_errors(self) -> dict[int, list[FieldError]]:
        """Rows that cannot be scored whatever their values: a wrong number of fields, or a
        field over ``MAX_FIELD_CHARS``. By row index (0-based)."""
        width = len(self.header)
        errors: dict[int, list[FieldError]] = {}
        for i, record in enumerate(self.records):
            found = []
            if len(record) != width:
                found.append(FieldError(None, _count_message(self.lines[i], record, width)))
            for column, value in enumerate(record[:width]):
                if len(value) > MAX_FIELD_CHARS:
                    name = api_field(self.header[column]) or self.header[column]
                    found.append(
                        FieldError(
                            name,
                            f"{name} has {len(value):,} characters; the most a field may hold "
                            f"is {MAX_FIELD_CHARS:,}, so it is left out of this output",
                        )
                    )
            if found:
                errors[i] = found
        return errors


def _count_message(line: int, record: list[str], width: int) -> str:
    fields = "field" if len(record) == 1 else "fields"
    message = f"line {line} has {len(record)} {fields} but the header has {width}"
    if len(record) < width:
        return f"{message}: the missing ones are left empty; is a field or a comma missing?"
    extra = record[width:]
    shown = ", ".join(repr(_shorten(value)) for value in extra[:EXTRA_PREVIEW])
    if len(extra) > EXTRA_PREVIEW:
        shown += f" and {len(extra) - EXTRA_PREVIEW} more"
    verb = "is" if len(extra) == 1 else "are"
    return f"{message}: the extra {shown} {verb} left out; quote a field that holds a comma"


def _shorten(value: str) -> str:
    return value if len(value) <= PREVIEW_CHARS else value[: PREVIEW_CHARS - 1] + "\u2026"


def read_crimes_csv(path: Path) -> CrimesCsv:
    """Read and check a CSV of Chicago crimes, before any model is loaded.

    Raises ``MLError`` (one line, naming the file) for a missing, binary or unreadable file,
    or a header without the columns the model needs. Bad rows are not errors here: see
    ``CrimesCsv.record_errors`` and ``score_rows``.
    """
    path = Path(path)
    if not path.is_file():
        raise MLError(f"{path}: no such file")
    text, encoding = decode_csv_bytes(path.read_bytes(), str(path))
    # The csv module stops the whole read at a field over its limit (128 KiB by default). Lift
    # the limit (process-wide, so only ever raised) to what this text could hold, and let
    # record_errors fail just the row whose field is over MAX_FIELD_CHARS.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[list[str]] = []
    lines: list[int] = []
    start = 1  # a quoted field may hold line breaks, so a record can span several lines
    try:
        for record in reader:
            if record:  # a blank line is no row, as spreadsheets and pandas read it
                records.append(record)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as error:
        raise MLError(f"{path}, line {reader.line_num + 1}: {error}; {_TEXT_ADVICE}") from None
    if not records:
        raise MLError(f"{path} is empty: expected a header line and rows of Chicago crimes")
    header, records, lines = records[0], records[1:], lines[1:]
    if any(len(name) > MAX_FIELD_CHARS for name in header):
        raise MLError(
            f"{path}, line 1: a column name is over {MAX_FIELD_CHARS:,} characters; the first "
            "line must be the header (Date, Primary Type, ...)"
        )
    fields: dict[str, int] = {}
    for index, name in enumerate(header):
        known = api_field(name)
        if known and known not in fields:
            fields[known] = index
    missing = [f for f in REQUIRED_SOURCE_FIELDS if f not in fields]
    if missing:
        shown = ", ".join(repr(_shorten(h)) for h in header[:30])
        raise MLError(
            f"{path}, line 1: no column for {', '.join(missing)}; the header has {shown}. Use "
            "the portal's export header (Date, Primary Type, Location Description, ...) or "
            "the API's field names (date, primary_type, location_description, ...)"
        )
    return CrimesCsv(path, encoding, header, records, lines, fields)


# -- rows ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowScore:
    """One row's outcome: a probability, or (never both) the errors that kept it unscored."""

    probability: float | None
    errors: tuple[FieldError, ...] = ()

    @property
    def error(self) -> str:
        return "; ".join(e.message for e in self.errors)


def normalize_row(row: Mapping[str, object]) -> dict[str, object]:
    """Keys as API field names ("Primary Type" -> ``primary_type``); keys the dataset does
    not define are dropped; of two spellings of one field, the first wins."""
    out: dict[str, object] = {}
    for key, value in row.items():
        name = api_field(str(key))
        if name and name not in out:
            out[name] = value
    return out


def score_rows(
    loaded: LoadedModel,
    rows: Sequence[Mapping[str, object]],
    *,
    rejected: Mapping[int, Sequence[FieldError]] | None = None,
) -> list[RowScore]:
    """Validate and score rows of Chicago crimes given as dicts (field name -> value).

    Keys may be the API's field names or the portal's display names; values are text as in
    the CSV, or JSON numbers and booleans. ``rejected`` (row index -> errors) holds rows
    already found bad (say, by ``CrimesCsv.record_errors``): they are neither checked nor
    scored, and keep those errors. Returns one ``RowScore`` per row, in order.
    """
    import numpy as np

    rejected = rejected or {}
    todo = [i for i in range(len(rows)) if i not in rejected]
    normalized = [normalize_row(rows[i]) for i in todo]
    # the required fields always, so that rows without them still count as rows
    names = dict.fromkeys([*REQUIRED_SOURCE_FIELDS, *(k for row in normalized for k in row)])
    columns = {name: [row.get(name) for row in normalized] for name in names}
    source = chicago_source_features(columns, loaded.features.spec, loaded.seeds_dir)
    good = np.array([k for k in range(len(todo)) if k not in source.field_errors], np.int64)
    probability = np.full(len(todo), np.nan)
    if good.size:
        probability[good] = loaded.predict(source.table.take(good))
    out = [RowScore(None, tuple(rejected.get(i, ()))) for i in range(len(rows))]
    for k, i in enumerate(todo):
        errors = tuple(source.field_errors.get(k, ()))
        value = None if errors else float(probability[k])
        out[i] = RowScore(value, errors)
    return out


# -- writing -------------------------------------------------------------------------------------
def neutralize_cell(value: str) -> str:
    """The cell as a spreadsheet may open it safely (OWASP CSV injection): a leading ``'``
    if it starts with ``= + - @``, a tab, a carriage return or NUL, unless it is a plain
    decimal number such as ``-87.6``, which a spreadsheet reads as a number."""
    if value and value[0] in FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def default_output(path: Path) -> Path:
    """``crimes.csv`` -> ``crimes.scored.csv`` beside it."""
    path = Path(path)
    stem = path.name[: -len(".csv")] if path.name.lower().endswith(".csv") else path.name
    return path.with_name(f"{stem}.scored.csv")


def write_scored_csv(
    out: Path, crimes: CrimesCsv, scores: Sequence[RowScore], model_version: str
) -> None:
    """The input's columns, exactly the header's count per row, then the scorer's; written
    to a partial file first, so a failed run leaves no half-written output."""
    width = len(crimes.header)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow([neutralize_cell(c) for c in [*crimes.header, *SCORER_COLUMNS]])
        for record, score in zip(crimes.records, scores, strict=True):
            cells = [*record[:width], *[""] * (width - len(record))]
            cells = ["" if len(c) > MAX_FIELD_CHARS else c for c in cells]
            value = "" if score.probability is None else f"{score.probability:.6f}"
            writer.writerow(
                [neutralize_cell(c) for c in [*cells, value, model_version, score.error]]
            )
    partial.replace(out)


# -- the whole file ------------------------------------------------------------------------------
def score_csv(workspace: Workspace, path: Path, out: Path | None = None) -> dict:
    """Score a CSV of Chicago crimes with the arrest champion; write it back with the scores.

    The file is read and checked before the champion is loaded, so a file that is not a CSV
    of crimes is refused without a warehouse or a registry.
    """
    from ml.registry import Registry

    crimes = read_crimes_csv(path)
    loaded = Registry(workspace).load_champion("arrest")
    return _score_and_write(loaded, crimes, out)


def score_csv_file(loaded: LoadedModel, path: Path, out: Path | None = None) -> dict:
    """``score_csv`` with a model already loaded (the tests', or a server's)."""
    return _score_and_write(loaded, read_crimes_csv(path), out)


def _score_and_write(loaded: LoadedModel, crimes: CrimesCsv, out: Path | None) -> dict:
    """Row numbers count data rows from 1; ``line`` is where the row starts in the file."""
    out = Path(out) if out else default_output(crimes.path)
    scores = score_rows(loaded, crimes.rows(), rejected=crimes.record_errors())
    write_scored_csv(out, crimes, scores, loaded.version)
    return {
        "file": str(crimes.path),
        "out": str(out),
        "encoding": crimes.encoding,
        "model_version": loaded.version,
        "rows": len(scores),
        "scored": sum(score.probability is not None for score in scores),
        "errors": [
            {
                "row": i + 1,
                "line": crimes.lines[i],
                "fields": [e.field for e in score.errors if e.field],
                "error": score.error,
            }
            for i, score in enumerate(scores)
            if score.errors
        ],
        "ignored_columns": crimes.ignored_columns,
    }
