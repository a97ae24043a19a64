"""Arrow arrays to and from NumPy and Python lists, built from buffers.

``pa.array()`` (and ``Array.to_numpy()``, ``pa.scalar()``) first check whether pandas is
installed, and importing it costs most of a second per process; the server, the pull and the
generator never need pandas, so they build their arrays here instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

_TYPES = {
    np.dtype(np.int8): pa.int8(), np.dtype(np.int32): pa.int32(),
    np.dtype(np.int64): pa.int64(), np.dtype(np.float64): pa.float64(),
    np.dtype("datetime64[s]"): pa.timestamp("s"), np.dtype("datetime64[ms]"): pa.timestamp("ms"),
    np.dtype("datetime64[us]"): pa.timestamp("us"),
}  # fmt: skip
_DTYPES = {str(arrow): dtype for dtype, arrow in _TYPES.items()}


def _bitmap(valid: np.ndarray | None) -> pa.Buffer | None:
    if valid is None or valid.all():
        return None
    return pa.py_buffer(np.packbits(valid.astype(bool), bitorder="little"))


def from_numpy(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A 1-d NumPy array (bool, int, float, datetime64) as Arrow; ``valid`` False -> null."""
    values = np.ascontiguousarray(values)
    if values.dtype == np.bool_:
        data = pa.py_buffer(np.packbits(values, bitorder="little"))
        return pa.Array.from_buffers(pa.bool_(), len(values), [_bitmap(valid), data])
    return pa.Array.from_buffers(
        _TYPES[values.dtype], len(values), [_bitmap(valid), pa.py_buffer(values)]
    )


def strings(values: Sequence[str | None]) -> pa.Array:
    """A string array from Python strings, ``None`` as null."""
    valid = np.fromiter((v is not None for v in values), bool, len(values))
    encoded = [v.encode() if v is not None else b"" for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum(np.fromiter((len(e) for e in encoded), np.int64, len(encoded)), out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(), len(encoded),
        [_bitmap(valid), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
    )  # fmt: skip


def to_numpy(array: pa.Array | pa.ChunkedArray, fill=0) -> np.ndarray:
    """A primitive Arrow array as NumPy (a copy); nulls become ``fill``."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if pa.types.is_boolean(array.type):
        bits = np.unpackbits(
            np.frombuffer(array.buffers()[1], np.uint8), bitorder="little"
        )[array.offset : array.offset + len(array)].astype(bool)  # fmt: skip
        values = bits
    else:
        dtype = _DTYPES[str(array.type)]
        values = np.frombuffer(
            array.buffers()[1], dtype, count=len(array), offset=array.offset * dtype.itemsize
        ).copy()
    if array.null_count:
        values[~is_valid(array)] = fill
    return values


def is_valid(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """True where the array holds a value."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if array.null_count == 0:
        return np.ones(len(array), bool)
    if array.buffers()[0] is None:  # a null-type array
        return np.zeros(len(array), bool)
    bits = np.unpackbits(np.frombuffer(array.buffers()[0], np.uint8), bitorder="little")
    return bits[array.offset : array.offset + len(array)].astype(bool)


def text(value: str) -> pa.StringScalar:
    """A string scalar for compute functions (``pa.scalar`` would import pandas)."""
    return strings([value])[0]


def fixed_width(matrix: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Rows of an ``n x width`` byte matrix as a string array, without a Python object each."""
    n, width = matrix.shape
    offsets = (np.arange(n + 1, dtype=np.int64) * width).astype(np.int32)
    data = np.ascontiguousarray(matrix, np.uint8)
    return pa.Array.from_buffers(
        pa.string(), n, [_bitmap(valid), pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def iso_seconds(values: np.ndarray, suffix: str = ".000") -> pa.Array:
    """datetime64 values as ``YYYY-MM-DDTHH:MM:SS`` + ``suffix``, the SODA floating form."""
    body = np.datetime_as_string(values.astype("datetime64[s]"), unit="s").astype("S19")
    matrix = np.empty((values.size, 19 + len(suffix)), np.uint8)
    matrix[:, :19] = body.view(np.uint8).reshape(-1, 19)
    matrix[:, 19:] = np.frombuffer(suffix.encode(), np.uint8)
    return fixed_width(matrix)
