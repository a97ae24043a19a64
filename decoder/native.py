"""The native slicer (``_slicer.c``), loaded with ctypes when the install built it.

It computes what the NumPy code in ``decoder.slicing`` and ``decoder.decode`` computes,
value for value, in one pass over the block per step instead of one NumPy pass per field
or mask, and hands Arrow its columns as dictionary arrays; with it the whole decode runs
about twice as fast (`make bench`, speedup_vs_numpy_engine). The install compiles it when a C
compiler is at hand (``hatch_build.py``); without one the decoder runs on numpy alone.
``NIBRS_DECODE_ENGINE`` (or ``nibrs-decode --engine``) picks one: ``auto`` (the default),
``native`` or ``numpy``.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache
from importlib import resources

import numpy as np
import pyarrow as pa

from decoder.layouts import RecordLayout
from decoder.slicing import UNIQUE_FIELDS, string_array

ENGINE_VARIABLE = "NIBRS_DECODE_ENGINE"
ENGINES = ("auto", "native", "numpy")
LIBRARY = "_slicer.so"  # package data of ``decoder``, as hatch_build.py installs it
ABI = 9  # SLICER_ABI in _slicer.c: a library built from another version is not used

COPY_SLACK = 16  # the slicer moves values in 16-byte words
_POINTER = ctypes.c_void_p
_INT64 = ctypes.c_int64


class EngineUnavailableError(Exception):
    """The native slicer was asked for and is not built."""


@cache
def library() -> ctypes.CDLL | None:
    """The built library, or None when there is none (or it is from another version)."""
    packaged = resources.files("decoder").joinpath(LIBRARY)
    if not packaged.is_file():
        return None
    try:
        # a real file in any ordinary install; extracted first from a zipped one (the
        # loaded library outlives the extracted copy)
        with resources.as_file(packaged) as path:
            lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    lib.slicer_abi.restype = ctypes.c_int32
    if lib.slicer_abi() != ABI:
        return None
    lib.slicer_count_lines.argtypes = [_POINTER, _INT64]
    lib.slicer_count_lines.restype = _INT64
    lib.slicer_split_lines.argtypes = [_POINTER, _INT64, _POINTER, _POINTER, _INT64]
    lib.slicer_split_lines.restype = _INT64
    lib.slicer_classify.argtypes = [_POINTER] * 3 + [_INT64] + [_POINTER] * 3
    lib.slicer_classify.argtypes += [_INT64, _INT64, ctypes.c_int32] + [_POINTER] * 5
    lib.slicer_classify.restype = _INT64
    lib.slicer_count_children.argtypes = [_POINTER] * 3 + [_INT64, _POINTER, _POINTER]
    lib.slicer_count_children.argtypes += [ctypes.c_int16] + [_POINTER] * 4 + [_INT64, _INT64]
    lib.slicer_count_children.argtypes += [_POINTER] * 5
    lib.slicer_count_children.restype = None
    lib.slicer_encode_block.argtypes = (
        [_POINTER] * 3 + [_INT64, _POINTER, ctypes.c_int32] + [_POINTER] * 11
    )
    lib.slicer_encode_block.restype = ctypes.c_int32
    return lib


def resolve_engine(requested: str | None = None) -> str:
    """``native`` or ``numpy``: what ``requested`` (else the environment, else auto) gives."""
    requested = requested or os.environ.get(ENGINE_VARIABLE) or "auto"
    if requested not in ENGINES:
        raise EngineUnavailableError(
            f"unknown decode engine {requested!r} (from {ENGINE_VARIABLE} or --engine); "
            f"choose one of {', '.join(ENGINES)}"
        )
    if requested == "numpy":
        return "numpy"
    if library() is not None:
        return "native"
    if requested == "native":
        raise EngineUnavailableError(
            f"the native slicer is not built (decoder/{LIBRARY} is missing or from another "
            "version): "
            "reinstall with a C compiler available (`make setup` after installing gcc), "
            "or decode with --engine numpy"
        )
    return "numpy"


def _address(array: np.ndarray) -> int:
    """Where ``array``'s data starts. The caller keeps ``array`` referenced until the C call
    returns: ``_address(np.array(...))`` would hand C the memory of a freed temporary."""
    return array.ctypes.data


def count_lines(buffer: np.ndarray, size: int) -> int:
    return library().slicer_count_lines(_address(buffer), size)


def split_lines(block: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets and lengths (without LF or CRLF) of the lines in ``block[:size]``."""
    lib = library()
    capacity = size // 24 + 64  # records are longer; only blank lines run past this
    while True:
        starts = np.empty(capacity, np.int64)
        lengths = np.empty(capacity, np.int64)
        n = lib.slicer_split_lines(
            _address(block), size, _address(starts), _address(lengths), capacity
        )
        if n >= 0:
            return starts[:n], lengths[:n]
        capacity = lib.slicer_count_lines(_address(block), size) + 1


def classify(
    block,
    starts,
    lengths,
    code_lookup,
    widths,
    is_header_type,
    min_length,
    max_overflow,
    carried,
    utf8_shifted=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each line's type id, quarantine reason code (-1: none), index into ``[carried ORI,
    *headers]``, and the rows of the batch headers: as decode._BlockDecoder._classify.
    ``utf8_shifted`` marks lines to quarantine as UTF8_SHIFTED (None: no line)."""
    n = len(starts)
    starts, lengths = (
        np.ascontiguousarray(starts, np.int64),
        np.ascontiguousarray(lengths, np.int64),
    )
    code_lookup, widths = (
        np.ascontiguousarray(code_lookup, np.int16),
        np.ascontiguousarray(widths, np.int64),
    )
    is_header_type = np.ascontiguousarray(is_header_type, np.uint8)
    if utf8_shifted is not None:
        utf8_shifted = np.ascontiguousarray(utf8_shifted, np.uint8)
    type_ids, reasons = np.empty(n, np.int16), np.empty(n, np.int8)
    ori_index, header_rows = np.empty(n, np.int32), np.empty(n, np.int64)
    headers = library().slicer_classify(
        _address(block), _address(starts), _address(lengths), n, _address(code_lookup),
        _address(widths), _address(is_header_type), min_length, max_overflow, int(carried),
        None if utf8_shifted is None else _address(utf8_shifted),
        _address(type_ids), _address(reasons), _address(ori_index), _address(header_rows),
    )  # fmt: skip
    return type_ids, reasons, ori_index, header_rows[:headers]


def count_children(
    block,
    starts,
    lengths,
    type_ids,
    reasons,
    admin_type,
    is_header_type,
    child_types,
    count_fields,
    key_offset,
    key_width,
) -> dict:
    """Declared against present child counts, as decode._BlockDecoder._check_incident_counts."""
    starts, lengths = (
        np.ascontiguousarray(starts, np.int64),
        np.ascontiguousarray(lengths, np.int64),
    )
    type_ids, reasons = (
        np.ascontiguousarray(type_ids, np.int16),
        np.ascontiguousarray(reasons, np.int8),
    )
    is_header_type = np.ascontiguousarray(is_header_type, np.uint8)
    children = np.array(child_types, np.int16)
    count_offsets = np.array([f.offset for f in count_fields], np.int32)
    count_widths = np.array([f.length for f in count_fields], np.int32)
    out = {name: np.zeros(len(child_types), np.int64)
           for name in ("declared", "present", "differing")}  # fmt: skip
    orphans, incidents = np.zeros(1, np.int64), np.zeros(1, np.int64)
    library().slicer_count_children(
        _address(block), _address(starts), _address(lengths), len(starts), _address(type_ids),
        _address(reasons), admin_type, _address(is_header_type), _address(children),
        _address(count_offsets), _address(count_widths), key_offset, key_width,
        _address(out["declared"]), _address(out["present"]), _address(out["differing"]),
        _address(orphans), _address(incidents),
    )  # fmt: skip
    return {**out, "orphans": int(orphans[0]), "incidents": int(incidents[0])}


def _pointers(arrays: list[np.ndarray | None]) -> ctypes.Array:
    return (_POINTER * len(arrays))(*(None if a is None else _address(a) for a in arrays))


def encode_block(
    block: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    slots: np.ndarray,
    layouts: list[RecordLayout],
    records: list[int],
) -> list[list[pa.Array]]:
    """The fields of every record of a block, in one pass: per layout, a list of columns.

    Line ``i`` is a record of ``layouts[slots[i]]`` (none when -1); ``records`` says how
    many each layout gets. Columns are as decoder.slicing.layout_columns makes them.
    """
    starts, lengths = (
        np.ascontiguousarray(starts, np.int64),
        np.ascontiguousarray(lengths, np.int64),
    )
    slots = np.ascontiguousarray(slots, np.int32)
    fields = [(field, count) for layout, count in zip(layouts, records, strict=True)
              for field in layout.fields]  # fmt: skip
    first_field = np.zeros(len(layouts) + 1, np.int32)
    np.cumsum([len(layout.fields) for layout in layouts], out=first_field[1:])
    offsets = np.array([f.offset for f, _ in fields], np.int32)
    widths = np.array([f.length for f, _ in fields], np.int32)
    plain = np.array([f.name in UNIQUE_FIELDS for f, _ in fields], np.uint8)
    indices = [None if plain[i] else np.empty(n, np.int32) for i, (_, n) in enumerate(fields)]
    validity = [np.zeros((n + 7) // 8, np.uint8) for _, n in fields]
    data = [np.empty(n * f.length + COPY_SLACK, np.uint8) for f, n in fields]
    value_offsets = [np.empty(n + 1, np.int32) for _, n in fields]
    k = len(fields)
    counts, nulls, high = np.empty(k, np.int64), np.empty(k, np.int64), np.empty(k, np.uint8)
    status = library().slicer_encode_block(
        _address(block), _address(starts), _address(lengths), len(starts),
        _address(slots), len(layouts), _address(first_field),
        _address(offsets), _address(widths), _address(plain),
        _pointers(indices), _pointers(validity), _pointers(data), _pointers(value_offsets),
        _address(counts), _address(nulls), _address(high),
    )  # fmt: skip
    if status:
        raise MemoryError("the native slicer ran out of memory")
    columns: list[pa.Array] = []
    for f, (_, n) in enumerate(fields):
        valid = pa.py_buffer(validity[f]) if nulls[f] else None
        if plain[f]:
            columns.append(_strings(value_offsets[f], data[f], n, valid, high[f]))
            continue
        count = int(counts[f])
        # copied: a dictionary is small, and the buffers it came in are sized for every row
        ends = value_offsets[f][: count + 1].copy()
        dictionary = _strings(ends, data[f][: ends[-1]].copy(), count, None, high[f])
        index_array = pa.Array.from_buffers(
            pa.int32(), n, [valid, pa.py_buffer(indices[f])], null_count=int(nulls[f])
        )
        # safe=False: the slicer only writes indices of values it added
        columns.append(pa.DictionaryArray.from_arrays(index_array, dictionary, safe=False))
    return [columns[first_field[i] : first_field[i + 1]] for i in range(len(layouts))]


def _strings(
    offsets: np.ndarray, data: np.ndarray, n: int, valid: pa.Buffer | None, latin1: bool
) -> pa.Array:
    """A string column from the offsets and bytes of stripped values."""
    if latin1:  # bytes >= 0x80 are latin-1 characters: re-encode those values as UTF-8
        raw = data.tobytes()
        texts = [raw[offsets[i] : offsets[i + 1]].decode("latin-1") or None for i in range(n)]
        return string_array(texts)
    null_count = -1 if valid is not None else 0
    return pa.Array.from_buffers(
        pa.string(), n, [valid, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=null_count
    )
