"""The decoder's own Parquet writer, for the segment tables the native slicer makes.

Arrow's writer was a third of the decoder's work: it takes each dictionary column apart
and encodes it again value by value (decoder/_pages.c says why that is wasted here). This
writer encodes the pages with the native library instead and writes the file metadata
itself, in Thrift's compact protocol. Its files read back in Arrow and Polars as the
same columns Arrow's writer gives (tests/test_parquet_writer.py), with the same
encodings: dictionary pages for code columns, PLAIN byte arrays for identifiers,
DELTA_BINARY_PACKED with statistics for integers.

It writes the column types the decoder makes and no others: string, dictionary<int32,
string>, int16 and int64. It needs the native library; without it the decoder uses
Arrow's writer.
"""

from __future__ import annotations

import ctypes
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from decoder import native

CODECS = {  # --parquet-compression -> (Parquet's CompressionCodec, Arrow's codec name)
    "none": (0, None),
    "snappy": (1, "snappy"),
    "zstd": (6, "zstd"),
    "lz4": (7, "lz4_raw"),  # LZ4_RAW, what Arrow's writer writes for lz4
}
PAGE_ROWS = 1 << 17  # rows per data page; a multiple of 8
CREATED_BY = "crimewh nibrs-decode (decoder.parquet)"

# parquet.thrift enums
_BYTE_ARRAY, _INT32, _INT64 = 6, 1, 2
_PLAIN, _RLE, _DELTA_BINARY_PACKED, _RLE_DICTIONARY = 0, 3, 5, 8
# PageHeader's first field (type: DATA_PAGE 0 or DICTIONARY_PAGE 2, zigzagged) and the id
# of the field that holds the page kind's own header (5 or 7, after field 3)
_DATA_PAGE_HEADER = (b"\x15\x00", b"\x2c")
_DICTIONARY_PAGE_HEADER = (b"\x15\x04", b"\x4c")
_REQUIRED, _OPTIONAL = 0, 1
_UTF8, _INT_16 = 0, 16
# Thrift compact protocol types
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _BINARY, _LIST, _STRUCT = 1, 2, 3, 4, 5, 6, 8, 9, 12

_POINTER, _INT64_ARG = ctypes.c_void_p, ctypes.c_int64


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _ONE_BYTE[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def _i32(value: int) -> bytes:
    """A Thrift i16, i32 or i64 value in the compact protocol: zigzag, then varint."""
    return _varint(_zigzag(value))


_ONE_BYTE = [bytes([value]) for value in range(0x80)]


class _Struct:
    """One Thrift struct in the compact protocol; fields must come in ascending id order."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.last = 0

    def _field(self, field_id: int, kind: int) -> None:
        delta = field_id - self.last
        if 0 < delta <= 15:
            self.parts.append(bytes([(delta << 4) | kind]))
        else:
            self.parts.append(bytes([kind]) + _varint(_zigzag(field_id)))
        self.last = field_id

    def _integer(self, field_id: int, kind: int, value: int) -> _Struct:
        self._field(field_id, kind)
        self.parts.append(_i32(value))
        return self

    def i16(self, field_id: int, value: int) -> _Struct:
        return self._integer(field_id, _I16, value)

    def i32(self, field_id: int, value: int) -> _Struct:
        return self._integer(field_id, _I32, value)

    def i64(self, field_id: int, value: int) -> _Struct:
        return self._integer(field_id, _I64, value)

    def byte(self, field_id: int, value: int) -> _Struct:
        self._field(field_id, _BYTE)
        self.parts.append(bytes([value & 0xFF]))
        return self

    def boolean(self, field_id: int, value: bool) -> _Struct:
        self._field(field_id, _TRUE if value else _FALSE)
        return self

    def binary(self, field_id: int, value: bytes) -> _Struct:
        self._field(field_id, _BINARY)
        self.parts.append(_varint(len(value)) + value)
        return self

    def struct(self, field_id: int, value: _Struct) -> _Struct:
        self._field(field_id, _STRUCT)
        self.parts.append(value.encode())
        return self

    def structs(self, field_id: int, values: list[_Struct]) -> _Struct:
        return self._list(field_id, _STRUCT, [v.encode() for v in values])

    def i32s(self, field_id: int, values: list[int]) -> _Struct:
        return self._list(field_id, _I32, [_i32(v) for v in values])

    def binaries(self, field_id: int, values: list[bytes]) -> _Struct:
        return self._list(field_id, _BINARY, [_varint(len(v)) + v for v in values])

    def _list(self, field_id: int, kind: int, items: list[bytes]) -> _Struct:
        self._field(field_id, _LIST)
        size = len(items)
        head = bytes([(size << 4) | kind]) if size < 15 else bytes([0xF0 | kind]) + _varint(size)
        self.parts.append(head + b"".join(items))
        return self

    def encode(self) -> bytes:
        return b"".join(self.parts) + b"\x00"


def supports(schema: pa.Schema) -> bool:
    """Whether this writer can write ``schema`` (and the native library is built)."""
    return native.library() is not None and all(_kind(f.type) for f in schema)


def _kind(arrow_type: pa.DataType) -> str | None:
    if arrow_type == pa.string():
        return "string"
    if pa.types.is_dictionary(arrow_type):
        ok = arrow_type.index_type == pa.int32() and arrow_type.value_type == pa.string()
        return "dictionary" if ok else None
    if arrow_type in (pa.int16(), pa.int64()):
        return "integer"
    return None


def _schema_element(field: pa.Field) -> _Struct:
    element = _Struct()
    kind = _kind(field.type)
    physical = {"string": _BYTE_ARRAY, "dictionary": _BYTE_ARRAY}.get(kind)
    if physical is None:
        physical = _INT32 if field.type == pa.int16() else _INT64
    element.i32(1, physical)
    element.i32(3, _OPTIONAL if field.nullable else _REQUIRED)
    element.binary(4, field.name.encode())
    if physical == _BYTE_ARRAY:
        element.i32(6, _UTF8).struct(10, _Struct().struct(1, _Struct()))  # logical: STRING
    elif field.type == pa.int16():
        integer = _Struct().byte(1, 16).boolean(2, True)
        element.i32(6, _INT_16).struct(10, _Struct().struct(10, integer))  # INTEGER(16)
    return element


@cache
def _library() -> ctypes.CDLL:
    """The native library with the page encoders of _pages.c typed."""
    lib = native.library()
    lib.pages_definition_levels.argtypes = [_POINTER, _INT64_ARG, _INT64_ARG, _POINTER]
    lib.pages_dictionary_indices.argtypes = [_POINTER, _POINTER, _INT64_ARG, _INT64_ARG]
    lib.pages_dictionary_indices.argtypes += [ctypes.c_int32, _POINTER]
    lib.pages_plain_strings.argtypes = [_POINTER] * 3 + [_INT64_ARG, _INT64_ARG, _POINTER]
    lib.pages_delta_int64.argtypes = [_POINTER] * 2 + [_INT64_ARG, _INT64_ARG] + [_POINTER] * 2
    for name in ("definition_levels", "dictionary_indices", "plain_strings", "delta_int64"):
        getattr(lib, f"pages_{name}").restype = _INT64_ARG
    return lib


class _Bitmap:
    """A column's validity: its buffer's address (None: no nulls) and first bit."""

    def __init__(self, array: pa.Array) -> None:
        self.buffer = array.buffers()[0] if array.null_count else None
        self.address = self.buffer.address if self.buffer is not None else None
        self.offset = array.offset


class ParquetFileWriter:
    """Writes tables of one schema to a Parquet file, one row group per ``write_table``.

    Used like ``pyarrow.parquet.ParquetWriter``: ``write_table`` then ``close``.
    """

    def __init__(
        self, path: str | Path, schema: pa.Schema, *, compression: str = "snappy",
        compression_level: int | None = None,
    ):  # fmt: skip
        if not supports(schema):
            raise ValueError(f"decoder.parquet cannot write the schema {schema}")
        self.schema = schema
        self.kinds = [_kind(f.type) for f in schema]
        self.codec_id, codec_name = CODECS[compression]
        self.codec = pa.Codec(codec_name, compression_level) if codec_name else None
        self.lib = _library()
        self.scratch = np.empty(1 << 20, np.uint8)
        self.row_groups: list[_Struct] = []
        self.rows = 0
        self.column_bytes = 0  # the column being written: its pages' bytes before compression
        self.file = open(path, "wb", buffering=1 << 20)  # noqa: SIM115  (closed by close())
        self.file.write(b"PAR1")
        self.at = 4

    # -- one table: one row group ------------------------------------------------------------
    def write_table(self, table: pa.Table, row_group_size: int | None = None) -> None:
        """Append ``table`` as one row group (``row_group_size`` is accepted and ignored)."""
        if table.schema != self.schema:
            raise ValueError(f"table schema differs from the file's:\n{table.schema}")
        n = table.num_rows
        if not n:
            return
        first, uncompressed = self.at, 0
        chunks = []
        for field, kind, column in zip(self.schema, self.kinds, table.columns, strict=True):
            array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
            self.column_bytes = 0
            chunks.append(getattr(self, f"_{kind}_chunk")(field, array))
            uncompressed += self.column_bytes
        group = _Struct().structs(1, chunks).i64(2, uncompressed).i64(3, n).i64(5, first)
        group.i64(6, self.at - first).i16(7, len(self.row_groups))
        self.row_groups.append(group)
        self.rows += n

    def _dictionary_chunk(self, field: pa.Field, array: pa.DictionaryArray) -> _Struct:
        dictionary = array.dictionary
        if dictionary.null_count:
            raise ValueError(f"{field.name}: a dictionary with nulls")
        size = len(dictionary)
        start = self.at
        offsets, data = _string_buffers(dictionary)
        out = self._reserve(4 * size + _data_span(size, offsets))
        length = self.lib.pages_plain_strings(offsets, data, None, 0, size, out)
        header = b"\x15" + _i32(size) + b"\x15\x00\x00"  # DictionaryPageHeader: PLAIN
        self._page(_DICTIONARY_PAGE_HEADER, header, length)
        data_start = self.at
        width = max(1, (size - 1).bit_length())
        indices = array.indices
        bitmap = _Bitmap(indices)
        values = indices.buffers()[1].address + 4 * indices.offset
        for row, rows in _pages(len(array)):
            # 16 spare bytes: the C packer stores whole registers (_pages.c, pack_groups)
            levels, out = self._levels(field, bitmap, row, rows, 27 + (rows + 7) // 8 * width)
            length = self.lib.pages_dictionary_indices(
                values + 4 * row, bitmap.address, bitmap.offset + row, rows, width, out
            )
            self._data_page(rows, _RLE_DICTIONARY, levels + length)
        return self._column(field, _BYTE_ARRAY, [_PLAIN, _RLE, _RLE_DICTIONARY], len(array),
                            start, data_start, dictionary_start=start)  # fmt: skip

    def _string_chunk(self, field: pa.Field, array: pa.StringArray) -> _Struct:
        start = self.at
        bitmap = _Bitmap(array)
        offsets, data = _string_buffers(array)
        for row, rows in _pages(len(array)):
            page_offsets = offsets + 4 * row
            values = 4 * rows + _data_span(rows, page_offsets)
            levels, out = self._levels(field, bitmap, row, rows, values)
            length = self.lib.pages_plain_strings(
                page_offsets, data, bitmap.address, bitmap.offset + row, rows, out
            )
            self._data_page(rows, _PLAIN, levels + length)
        return self._column(field, _BYTE_ARRAY, [_PLAIN, _RLE], len(array), start, start)

    def _integer_chunk(self, field: pa.Field, array: pa.Array) -> _Struct:
        start = self.at
        bitmap = _Bitmap(array)
        # from the buffer: np.asarray(array) would import pandas, a second's work
        dtype = np.dtype(np.int16 if array.type == pa.int16() else np.int64)
        raw = np.frombuffer(array.buffers()[1], dtype, len(array), array.offset * dtype.itemsize)
        values = raw.astype(np.int64, copy=False)
        summary = np.empty(3, np.int64)  # the page's min, max and values present
        lowest = highest = None
        for row, rows in _pages(len(array)):
            levels, out = self._levels(field, bitmap, row, rows, 40 + (rows // 128 + 1) * 1038)
            length = self.lib.pages_delta_int64(
                values[row:].ctypes.data, bitmap.address, bitmap.offset + row, rows, out,
                summary.ctypes.data,
            )  # fmt: skip
            self._data_page(rows, _DELTA_BINARY_PACKED, levels + length)
            if summary[2]:
                low, high = int(summary[0]), int(summary[1])
                lowest = low if lowest is None else min(lowest, low)
                highest = high if highest is None else max(highest, high)
        physical = _INT32 if field.type == pa.int16() else _INT64
        statistics = _Struct().i64(3, array.null_count)
        if lowest is not None:
            width = 4 if physical == _INT32 else 8
            low, high = (v.to_bytes(width, "little", signed=True) for v in (lowest, highest))
            statistics = _Struct().binary(1, high).binary(2, low).i64(3, array.null_count)
            statistics.binary(5, high).binary(6, low)
        return self._column(field, physical, [_DELTA_BINARY_PACKED, _RLE], len(array), start,
                            start, statistics=statistics)  # fmt: skip

    # -- pages -------------------------------------------------------------------------------
    def _reserve(self, size: int) -> int:
        """The address of a scratch buffer of at least ``size`` bytes."""
        if len(self.scratch) < size:
            self.scratch = np.empty(max(size, 2 * len(self.scratch)), np.uint8)
        return self.scratch.ctypes.data

    def _levels(
        self, field: pa.Field, bitmap: _Bitmap, row: int, rows: int, values: int
    ) -> tuple[int, int]:
        """Reserve a page of ``values`` bytes after the definition levels of rows ``row`` on,
        and encode those (a required column has none); their size, and where values go."""
        out = self._reserve(16 + rows // 8 + values)
        if not field.nullable:
            if bitmap.address is not None:
                raise ValueError(f"{field.name}: nulls in a column that does not allow them")
            return 0, out
        size = self.lib.pages_definition_levels(
            bitmap.address, bitmap.offset + row if bitmap.address else 0, rows, out
        )
        return size, out + size

    def _data_page(self, rows: int, encoding: int, size: int) -> None:
        # DataPageHeader: num_values, encoding, RLE levels of both kinds
        header = b"\x15" + _i32(rows) + b"\x15" + _i32(encoding) + b"\x15\x06\x15\x06\x00"
        self._page(_DATA_PAGE_HEADER, header, size)

    def _page(self, kind: tuple[bytes, bytes], page_header: bytes, size: int) -> None:
        """Write the scratch's first ``size`` bytes as a page, compressed, after its header.

        The PageHeader is spelled out in the compact protocol (type, both sizes, then the
        encoded ``page_header`` in the field ``kind`` names): the pages are many, and
        building each header as a _Struct was a tenth of the writer's time.
        """
        body = memoryview(self.scratch)[:size]
        if self.codec is not None:
            body = self.codec.compress(body)
        page_type, header_field = kind
        header = b"".join(
            (page_type, b"\x15", _i32(size), b"\x15", _i32(len(body)), header_field,
             page_header, b"\x00")
        )  # fmt: skip
        self.file.write(header)
        self.file.write(body)
        self.column_bytes += len(header) + size
        self.at += len(header) + len(body)

    def _column(
        self, field, physical, encodings, values, start, data_start, *, dictionary_start=None,
        statistics=None,
    ) -> _Struct:  # fmt: skip
        meta = _Struct().i32(1, physical).i32s(2, encodings).binaries(3, [field.name.encode()])
        meta.i32(4, self.codec_id).i64(5, values).i64(6, self.column_bytes)
        meta.i64(7, self.at - start).i64(9, data_start)
        if dictionary_start is not None:
            meta.i64(11, dictionary_start)
        if statistics is not None:
            meta.struct(12, statistics)
        return _Struct().i64(2, start).struct(3, meta)

    # -- the end -----------------------------------------------------------------------------
    def close(self) -> None:
        if self.file.closed:
            return
        schema = [_Struct().binary(4, b"schema").i32(5, len(self.schema))]
        schema += [_schema_element(field) for field in self.schema]
        orders = [_Struct().struct(1, _Struct()) for _ in self.schema]  # TYPE_ORDER each
        footer = _Struct().i32(1, 2).structs(2, schema).i64(3, self.rows)
        footer.structs(4, self.row_groups).binary(6, CREATED_BY.encode()).structs(7, orders)
        metadata = footer.encode()
        self.file.write(metadata)
        self.file.write(len(metadata).to_bytes(4, "little") + b"PAR1")
        self.file.close()


def _pages(n: int):
    for row in range(0, n, PAGE_ROWS):
        yield row, min(PAGE_ROWS, n - row)


def _string_buffers(array: pa.Array) -> tuple[int, int]:
    """The addresses of a string array's offsets (at its first row) and its data."""
    buffers = array.buffers()
    data = buffers[2].address if buffers[2] is not None and buffers[2].size else 0
    return buffers[1].address + 4 * array.offset, data


def _data_span(rows: int, offsets_address: int) -> int:
    """Bytes of string data that ``rows`` rows from these offsets span."""
    if not rows:
        return 0
    first, last = (
        ctypes.c_int32.from_address(offsets_address),
        ctypes.c_int32.from_address(offsets_address + 4 * rows),
    )
    return last.value - first.value
