"""Receiving an upload: the multipart body streamed to a file, with the size limit kept as
it arrives, then the checks that answer at once (415 not a CSV, 422 a missing column).

Starlette's own form parsing would spool the whole body before anyone could say it is too
large; here the bytes are counted as they come. A body that declares a length far over the
limit is refused before it is read. One that goes over while it is read is read on (and
thrown away) up to ``DRAIN_BYTES`` more, so that the client, still sending, gets the 413
instead of a reset connection; past that the connection is closed on it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import Request

FILE_FIELD = "file"
TEXT_FIELDS = ("submitted_by", "token")
TEXT_FIELD_LIMIT = 4096
DRAIN_BYTES = 32 << 20
HEAD_BYTES = 1 << 20  # what the sniffing and the header check read
CSV_SUFFIXES = (".csv", ".txt")


class UploadError(Exception):
    """A refused upload: the HTTP status and what to do."""

    def __init__(self, status: int, detail: str, missing: list[str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.missing = missing


@dataclass
class Upload:
    path: Path
    file_name: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)


def _too_large(limit: int) -> UploadError:
    return UploadError(
        413,
        f"the file is over the upload limit of {limit / 1e6:,.0f} MB "
        "(CRIMEWH_UPLOAD_MAX_MB): split it, or score it at a shell with "
        "`crimewh score arrest --file`",
    )


async def receive(request: Request, folder: Path, limit: int) -> Upload:
    """Stream the form's ``file`` into ``folder``; an ``UploadError`` for a refused one."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UploadError(
            415,
            "send the CSV as multipart/form-data in a field named 'file' (the page's form "
            "does; with curl: -F file=@crimes.csv)",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + DRAIN_BYTES:
        raise _too_large(limit)

    folder.mkdir(parents=True, exist_ok=True)
    state = _PartState(folder, limit)
    parser = MultipartParser(boundary, state.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            parser.write(chunk)
            if state.over and received > limit + DRAIN_BYTES:
                break
        parser.finalize()
    finally:
        state.close()
    if state.over:
        state.discard()
        raise _too_large(limit)
    if state.path is None:
        raise UploadError(422, f"no file: send the CSV in the form field '{FILE_FIELD}'")
    return Upload(state.path, state.file_name, state.size, state.fields)


class _PartState:
    """What the parser's callbacks build: the file part on disk, the small text fields."""

    def __init__(self, folder: Path, limit: int):
        self.folder, self.limit = folder, limit
        self.headers: dict[bytes, bytes] = {}
        self._field, self._value = b"", b""
        self.name: str | None = None
        self.handle = None
        self.path: Path | None = None
        self.file_name = ""
        self.size = 0
        self.over = False
        self.fields: dict[str, str] = {}
        self._text = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": lambda data, start, end: self._add("_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("_value", data[start:end]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def _add(self, name: str, data: bytes) -> None:
        setattr(self, name, getattr(self, name) + data)

    def part_begin(self) -> None:
        self.headers, self.name, self._text = {}, None, bytearray()

    def header_end(self) -> None:
        self.headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode("utf-8", "replace")
        if self.name == FILE_FIELD and b"filename" in options and self.handle is None:
            self.file_name = options[b"filename"].decode("utf-8", "replace") or "upload.csv"
            self.path = self.folder / "upload.csv"
            self.handle = self.path.open("wb")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.name == FILE_FIELD and self.handle is not None:
            self.size += end - start
            if self.size > self.limit:
                self.over = True
            elif not self.over:
                self.handle.write(data[start:end])
        elif self.name in TEXT_FIELDS and len(self._text) < TEXT_FIELD_LIMIT:
            self._text += data[start:end]

    def part_end(self) -> None:
        if self.name == FILE_FIELD and self.handle is not None:
            self.handle.close()
        elif self.name in TEXT_FIELDS:
            text = bytes(self._text[:TEXT_FIELD_LIMIT]).decode("utf-8", "replace").strip()
            self.fields[self.name] = text

    def close(self) -> None:
        if self.handle is not None and not self.handle.closed:
            self.handle.close()

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def check_csv(upload: Upload) -> None:
    """Refuse at once what cannot be a CSV of Chicago crimes: another kind of file (415), an
    empty one, or a header without the columns the model needs (422, naming them). The rows
    themselves are the scorer's business, in the batch job."""
    from ml.csv_scoring import decode_csv_bytes
    from ml.db import MLError
    from ml.features import REQUIRED_SOURCE_FIELDS, api_field

    name = upload.file_name
    if not name.lower().endswith(CSV_SUFFIXES):
        raise UploadError(
            415, f"{name} is not a .csv file: export or save the crimes as CSV (comma-separated)"
        )
    with upload.path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if upload.size > len(head):  # a prefix: cut it where no character is cut in two
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 or UTF-32 with a BOM: whole units
            head = head[: len(head) - len(head) % 4]
        else:
            head = head[: head.rfind(b"\n") + 1] or head
    try:
        text, _ = decode_csv_bytes(head, name)
    except MLError as error:
        raise UploadError(415, str(error)) from None
    try:
        header = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as error:
        raise UploadError(422, f"{name}, line 1: {error}") from None
    if not header or not any(cell.strip() for cell in header):
        raise UploadError(422, f"{name} is empty: expected a header line and rows of crimes")
    present = {api_field(cell) for cell in header}
    missing = [column for column in REQUIRED_SOURCE_FIELDS if column not in present]
    if missing:
        shown = ", ".join(repr(cell[:40]) for cell in header[:12])
        raise UploadError(
            422,
            f"{name} has no {' and no '.join(missing)} column (its header: {shown}); the "
            "portal's export header (Date, Primary Type, ...) or the API's field names "
            "(date, primary_type, ...) both work",
            missing=missing,
        )
