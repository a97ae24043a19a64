"""Vectorised fixed-width slicing: from a block of lines to Arrow columns.

No Python object is made per record or per field. A record type's lines are gathered into
an ``n x width`` byte matrix (one row copy each, through a sliding-window view of the block),
and every field is a column slice of that matrix. Narrow fields (codes, dates, counts) are
dictionary-encoded straight from their bytes: a lookup table for one and two bytes, Arrow's
hash for up to eight. Wide ones (incident numbers, populations) are stripped with array
arithmetic into a plain string array. Either way: outer blanks stripped, empty means null,
bytes read as latin-1.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import sliding_window_view

BLANK = 0x20
NEWLINE = 0x0A
CARRIAGE_RETURN = 0x0D
DICTIONARY_MAX_WIDTH = 8
STRING_DICTIONARY = pa.dictionary(pa.int32(), pa.string())


def split_lines(block: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets and lengths (without LF or CRLF) of the lines in ``block[:size]``."""
    ends = np.flatnonzero(block[:size] == NEWLINE)
    if size and block[size - 1] != NEWLINE:  # last line of the file without a newline
        ends = np.append(ends, size)
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts
    has_cr = lengths > 0
    has_cr[has_cr] = block[ends[has_cr] - 1] == CARRIAGE_RETURN
    lengths -= has_cr
    return starts, lengths


def record_codes(block: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The two leading bytes of each line as one uint16 (``b"01"`` -> 0x3031)."""
    return (block[starts].astype(np.uint16) << 8) | block[starts + 1]


def code_of(record_type: str) -> int:
    raw = record_type.encode("latin-1")
    return (raw[0] << 8) | raw[1]


def gather(block: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """``n x width`` matrix of records, short ones right-padded with blanks.

    ``block`` must extend at least ``width`` bytes past the last start.
    """
    matrix = sliding_window_view(block, width)[starts]
    short = np.flatnonzero(lengths < width)
    if short.size:
        pad = np.arange(width) >= lengths[short, None]
        rows = matrix[short]
        rows[pad] = BLANK
        matrix[short] = rows
    return matrix


def _validity(valid: np.ndarray) -> pa.Buffer | None:
    if valid.all():
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _decode(raw: bytes) -> str | None:
    text = raw.strip(b" ").decode("latin-1")
    return text or None


def _dictionary_array(indices: np.ndarray, values: list[str | None]) -> pa.Array:
    """Dictionary array from int indices into ``values``; a ``None`` value means null."""
    valid_values = [v for v in values if v is not None]
    remap = np.full(len(values), -1, dtype=np.int32)
    remap[[i for i, v in enumerate(values) if v is not None]] = np.arange(
        len(valid_values), dtype=np.int32
    )
    idx = remap[indices] if len(values) else np.full(len(indices), -1, dtype=np.int32)
    valid = idx >= 0
    idx[~valid] = 0
    index_array = pa.Array.from_buffers(
        pa.int32(), len(idx), [_validity(valid), pa.py_buffer(idx)], null_count=-1
    )
    return pa.DictionaryArray.from_arrays(index_array, pa.array(valid_values, pa.string()))


def dictionary_column(cols: np.ndarray) -> pa.Array:
    """Dictionary-encode an ``n x w`` byte field (w <= 8) without hashing strings."""
    n, width = cols.shape
    if width <= 2:
        keys = cols[:, 0].astype(np.int32)
        if width == 2:
            keys = (keys << 8) | cols[:, 1]
        present = np.flatnonzero(np.bincount(keys, minlength=1 << (8 * width)))
        lookup = np.zeros(1 << (8 * width), dtype=np.int32)
        lookup[present] = np.arange(present.size, dtype=np.int32)
        indices = lookup[keys]
        uniques = present
    else:
        keys = np.zeros(n, dtype=np.uint64)
        for j in range(width):
            keys <<= np.uint64(8)
            keys |= cols[:, j]
        encoded = pc.dictionary_encode(pa.array(keys))
        indices = encoded.indices.to_numpy()
        uniques = encoded.dictionary.to_numpy()
    values = [_decode(int(k).to_bytes(width, "big")) for k in uniques]
    return _dictionary_array(indices, values)


def string_column(cols: np.ndarray) -> pa.Array:
    """Plain string array from an ``n x w`` byte field, blanks stripped, empty as null."""
    cols = np.ascontiguousarray(cols)
    n, width = cols.shape
    nonblank = cols != BLANK
    valid = nonblank.any(axis=1)
    first = nonblank.argmax(axis=1)
    last = width - 1 - nonblank[:, ::-1].argmax(axis=1)
    lengths = np.where(valid, last - first + 1, 0)
    position = np.arange(width)
    keep = (position >= first[:, None]) & (position <= last[:, None])
    keep &= valid[:, None]
    data = cols[keep]
    if data.size and data.max() >= 0x80:  # latin-1 beyond ASCII: rare, decode row by row
        return pa.array([_decode(row.tobytes()) for row in cols], pa.string())
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(),
        n,
        [_validity(valid), pa.py_buffer(offsets), pa.py_buffer(data)],
        null_count=-1,
    )


def field_column(matrix: np.ndarray, offset: int, length: int) -> pa.Array:
    cols = matrix[:, offset : offset + length]
    if length <= DICTIONARY_MAX_WIDTH:
        return dictionary_column(cols)
    return string_column(cols)


def overflow_column(
    block: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int
) -> pa.Array:
    """Bytes past ``width`` (stripped; null when none), as a plain string column."""
    extra = lengths - width
    longest = int(extra.max(initial=0))
    if longest <= 0:
        return pa.nulls(len(starts), pa.string())
    cols = gather(block, starts + width, np.maximum(extra, 0), longest)
    return string_column(cols)


def parse_counts(matrix: np.ndarray, offset: int, length: int) -> np.ndarray:
    """Zero-filled numeric field as int64; blanks and non-digits read as 0."""
    digits = matrix[:, offset : offset + length].astype(np.int64) - ord("0")
    digits[(digits < 0) | (digits > 9)] = 0
    weights = 10 ** np.arange(length - 1, -1, -1, dtype=np.int64)
    return digits @ weights
