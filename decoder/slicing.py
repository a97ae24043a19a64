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

BLANK = 0x20
NEWLINE = 0x0A
CARRIAGE_RETURN = 0x0D
CONTINUATION_BELOW = -64  # UTF-8 continuation bytes, 0x80-0xBF, read as int8: -128 to -65


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


def utf8_characters(
    block: np.ndarray, size: int, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The lines of ``block[:size]`` holding well-formed UTF-8 multi-byte characters, and
    the offset within each line of its first one.

    NIBRS files are latin-1, one byte a character. A UTF-8 multi-byte character is a lead
    byte (0xC2-0xF4) and one to three continuation bytes (0x80-0xBF); latin-1 text almost
    never has one, as its letters (0xC0-0xFF) are followed by ASCII, not by 0x80-0xBF.
    Every such character has a continuation byte, which read as int8 is below -64: one
    min() over the block (a SIMD reduction, about 1.5 ms for 32 MB) clears nearly every
    block, latin-1 letters and all, without looking further.
    """
    signed = block[:size].view(np.int8)
    if not size or signed.min() >= CONTINUATION_BELOW:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # a character's first continuation byte follows its lead: one candidate per character
    leads = np.flatnonzero(signed < CONTINUATION_BELOW) - 1
    leads = leads[leads >= 0]
    first = block[leads]
    is_lead = (first >= 0xC2) & (first <= 0xF4)
    leads, first = leads[is_lead], first[is_lead]
    second = block[leads + 1]
    continuations = np.where(first >= 0xF0, 3, np.where(first >= 0xE0, 2, 1))
    # the second byte's narrower ranges: no overlong forms, surrogates, or past U+10FFFF
    well_formed = ~(
        ((first == 0xE0) & (second < 0xA0))
        | ((first == 0xED) & (second > 0x9F))
        | ((first == 0xF0) & (second < 0x90))
        | ((first == 0xF4) & (second > 0x8F))
    )
    # a line end is no continuation byte, and the block is padded past ``size`` with blanks,
    # so a well-formed character never runs over its line
    for k in (2, 3):
        following = block[np.minimum(leads + k, len(block) - 1)]
        well_formed &= (continuations < k) | ((following & 0xC0) == 0x80)
    leads = leads[well_formed]
    lines = np.searchsorted(starts, leads, side="right") - 1
    rows, first_of_line = np.unique(lines, return_index=True)  # leads are in order
    return rows, leads[first_of_line] - starts[rows]


def record_codes(block: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The two leading bytes of each line as one uint16 (``b"01"`` -> 0x3031)."""
    return (block[starts].astype(np.uint16) << 8) | block[starts + 1]


def code_of(record_type: str) -> int:
    raw = record_type.encode("latin-1")
    return (raw[0] << 8) | raw[1]


def rows_at(block: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Copy ``width`` bytes at each start into an ``n x width`` matrix.

    Viewing the block as overlapping ``width``-byte void items makes this one memcpy per
    row: about twice as fast as indexing a sliding-window view, and far faster than take.
    """
    items = np.ndarray(
        shape=(len(block) - width + 1,),
        dtype=np.dtype((np.void, width)),
        buffer=block,
        strides=(1,),
    )
    return items[starts].view(np.uint8).reshape(len(starts), width)


def same_bytes(block: np.ndarray, first: np.ndarray, second: np.ndarray, width: int) -> np.ndarray:
    """Whether the ``width`` bytes at each ``first`` equal those at the ``second`` beside it."""
    return (rows_at(block, first, width) == rows_at(block, second, width)).all(axis=1)


def gather(block: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """``n x (width + KEY_SLACK)`` matrix of records, short ones right-padded with blanks.

    The KEY_SLACK bytes past ``width`` are whatever follows in the block; they are only
    ever read under a mask. ``block`` must extend ``width + KEY_SLACK`` bytes past the
    last start.
    """
    matrix = rows_at(block, starts, width + KEY_SLACK)
    short = np.flatnonzero(lengths < width)
    if short.size:
        pad = np.arange(width + KEY_SLACK) >= lengths[short, None]
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


def string_array(values: list[str | None]) -> pa.Array:
    """A string array (None is null) built from its buffers.

    pa.array() on a Python list first checks whether pandas is installed, and importing it
    costs most of a second per process wherever it is.
    """
    encoded = [b"" if value is None else value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    valid = np.array([value is not None for value in values], dtype=bool)
    return pa.Array.from_buffers(
        pa.string(),
        len(encoded),
        [_validity(valid), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
        null_count=-1,
    )


# One-byte fields index this table by their byte value: no hashing, no lookup.
_BYTE_VALUES = string_array([bytes([b]).decode("latin-1") for b in range(256)])


def _dictionary(indices: np.ndarray, valid: np.ndarray, values: pa.Array) -> pa.Array:
    index_array = pa.Array.from_buffers(
        pa.int32(), len(indices), [_validity(valid), pa.py_buffer(indices)], null_count=-1
    )
    return pa.DictionaryArray.from_arrays(index_array, values)


def _from_uniques(indices: np.ndarray, valid: np.ndarray, uniques: list[bytes]) -> pa.Array:
    """Dictionary array from indices into raw ``uniques``, stripped and de-duplicated."""
    texts = [_decode(u) for u in uniques]
    distinct: dict[str, int] = {}
    remap = np.array([distinct.setdefault(t or "", len(distinct)) for t in texts], np.int32)
    if len(distinct) != len(texts) or (remap != np.arange(len(texts))).any():
        indices = remap[indices]  # "1 " and " 1" are the same value once stripped
    return _dictionary(indices, valid, string_array(list(distinct)))


KEY_SLACK = 8  # gather() reads this many bytes past a layout so any field can be an integer key


_ARROW_TYPES = {
    np.dtype(np.int16): pa.int16(), np.dtype(np.int32): pa.int32(),
    np.dtype(np.int64): pa.int64(), np.dtype(np.uint32): pa.uint32(),
    np.dtype(np.uint64): pa.uint64(),
}  # fmt: skip


def arrow_array(values: np.ndarray) -> pa.Array:
    """Zero-copy Arrow view of a 1-d numeric array (pa.array() would import pandas)."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(
        _ARROW_TYPES[values.dtype], len(values), [None, pa.py_buffer(values)]
    )


def _numpy(array: pa.Array) -> np.ndarray:
    """Zero-copy view of a null-free primitive array (to_numpy() would import pandas)."""
    dtype = np.dtype(array.type.to_pandas_dtype())
    return np.frombuffer(
        array.buffers()[1], dtype, count=len(array), offset=array.offset * dtype.itemsize
    )


def _keys(matrix: np.ndarray, offset: int, width: int) -> np.ndarray:
    """Each row's field bytes as one little-endian integer, read in place (no copy).

    Reads a whole 2-, 4- or 8-byte word and masks off the bytes past the field, which is
    why gather() leaves KEY_SLACK spare bytes after every row.
    """
    size = 2 if width <= 2 else 4 if width <= 4 else 8
    words = matrix[:, offset : offset + size].view(f"<u{size}")[:, 0]
    if width == size:
        return words
    return words & np.array((1 << (8 * width)) - 1, dtype=words.dtype)


def dictionary_column(matrix: np.ndarray, offset: int, width: int) -> pa.Array:
    """Dictionary-encode one field of a row matrix: blanks are null, values stripped."""
    n = matrix.shape[0]
    if width == 1:
        column = matrix[:, offset]
        return _dictionary(column.astype(np.int32), column != BLANK, _BYTE_VALUES)
    if width == 2:
        keys = _keys(matrix, offset, 2)
        seen = np.zeros(1 << 16, dtype=bool)
        seen[keys] = True  # cheaper than bincount, which widens every key to int64 first
        present = np.flatnonzero(seen)
        lookup = np.zeros(1 << 16, dtype=np.int32)
        lookup[present] = np.arange(present.size, dtype=np.int32)
        uniques = [int(k).to_bytes(2, "little") for k in present]
        return _from_uniques(lookup[keys], keys != 0x2020, uniques)
    if width <= 8:
        keys = _keys(matrix, offset, width)
        blank_key = int.from_bytes(b" " * width, "little")
        encoded = pc.dictionary_encode(arrow_array(keys))
        uniques = [int(k).to_bytes(8, "little")[:width] for k in _numpy(encoded.dictionary)]
        indices = _numpy(encoded.indices)
        return _from_uniques(indices, keys != blank_key, uniques)
    contiguous = np.ascontiguousarray(matrix[:, offset : offset + width])
    binary = pa.Array.from_buffers(pa.binary(width), n, [None, pa.py_buffer(contiguous)])
    encoded = pc.dictionary_encode(binary)
    valid = (contiguous != BLANK).any(axis=1)
    return _from_uniques(_numpy(encoded.indices), valid, encoded.dictionary.to_pylist())


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
        return string_array([_decode(row.tobytes()) for row in cols])
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(),
        n,
        [_validity(valid), pa.py_buffer(offsets), pa.py_buffer(data)],
        null_count=-1,
    )


# Identifiers are nearly unique per record: a dictionary would only add a hash per value.
UNIQUE_FIELDS = frozenset({"incident_number", "arrest_transaction_number"})


def field_column(matrix: np.ndarray, offset: int, length: int, name: str = "") -> pa.Array:
    """One field of a ``gather()``-ed row matrix as an Arrow column."""
    if name in UNIQUE_FIELDS:
        return string_column(matrix[:, offset : offset + length])
    return dictionary_column(matrix, offset, length)


def layout_columns(
    block: np.ndarray, starts: np.ndarray, lengths: np.ndarray, layout
) -> list[pa.Array]:
    """Every field of ``layout`` (a RecordLayout) for the records at ``starts``."""
    matrix = gather(block, starts, lengths, layout.width)
    return [field_column(matrix, f.offset, f.length, f.name) for f in layout.fields]


def field_type(name: str) -> pa.DataType:
    return pa.string() if name in UNIQUE_FIELDS else pa.dictionary(pa.int32(), pa.string())


def overflow_column(
    block: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int
) -> pa.Array:
    """Bytes past ``width`` (stripped; null when none), as a plain string column."""
    extra = lengths - width
    longest = int(extra.max(initial=0))
    if longest <= 0:
        return pa.nulls(len(starts), pa.string())
    cols = gather(block, starts + width, np.maximum(extra, 0), longest)
    return string_column(cols[:, :longest])


def parse_counts(matrix: np.ndarray, offset: int, length: int) -> np.ndarray:
    """Zero-filled numeric field as int64; blanks and non-digits read as 0."""
    digits = matrix[:, offset : offset + length].astype(np.int64) - ord("0")
    digits[(digits < 0) | (digits > 9)] = 0
    weights = 10 ** np.arange(length - 1, -1, -1, dtype=np.int64)
    # not `digits @ weights`: a matmul wakes OpenBLAS's threads, which then spin on the core
    # the inflating child needs
    return (digits * weights).sum(axis=1)
