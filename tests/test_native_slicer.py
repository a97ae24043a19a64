"""The native slicer (decoder/_slicer.c) against the numpy one, value for value.

Whole files are compared in test_roundtrip and test_decoder (every test there runs on the
native engine, and the round trip on both); these tests aim at the byte-level corners the
C code handles with word loads: fields cut short by their line, blanks inside and around
values, values that strip to the same text, wide and latin-1 values.
"""

import numpy as np
import pyarrow as pa
import pytest

from decoder import native, slicing
from decoder.decode import PADDING, UTF8_SHIFTED, _BlockDecoder, decode_zip
from decoder.layouts import Field, RecordLayout, load_layouts


def test_the_install_built_the_native_slicer():
    # `make setup` compiles it (hatch_build.py); a missing compiler would make decoding slow
    assert native.library() is not None, "decoder/_slicer.so is missing: run `make setup`"
    assert native.resolve_engine() == "native"


def block_of(lines: list[bytes], crlf: bool = False) -> tuple[np.ndarray, int]:
    text = (b"\r\n" if crlf else b"\n").join(lines) + (b"\r\n" if crlf else b"\n")
    return np.frombuffer(text + b" " * PADDING, np.uint8), len(text)


def as_python(column: pa.Array) -> list:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column.to_pylist()


@pytest.mark.parametrize("crlf", [False, True])
def test_lines_split_the_same(crlf):
    rng = np.random.default_rng(1)
    lines = [bytes(rng.integers(32, 127, size=int(n))) for n in rng.integers(0, 300, size=2000)]
    lines[5] = b""  # blank lines in between
    block, size = block_of(lines, crlf)
    for end in (size, size - 1, size - 2):  # the last line with or without its line end
        ours, theirs = native.split_lines(block, end), slicing.split_lines(block, end)
        assert np.array_equal(ours[0], theirs[0])
        assert np.array_equal(ours[1], theirs[1])
    assert native.count_lines(block, size) == len(lines)


def test_many_blank_lines_outgrow_the_first_guess():
    block, size = block_of([b""] * 5000)
    starts, lengths = native.split_lines(block, size)
    assert len(starts) == 5000
    assert not lengths.any()


def layout(*widths: int, names: tuple[str, ...] = ()) -> RecordLayout:
    fields, at = [], 1
    for i, width in enumerate(widths):
        name = names[i] if i < len(names) else f"f{i}"
        fields.append(Field(name, at, width))
        at += width
    return RecordLayout("01", "test", "", at - 1, tuple(fields))


def both_engines(lines: list[bytes], shape: RecordLayout) -> tuple[list, list]:
    block, size = block_of(lines)
    starts, lengths = slicing.split_lines(block, size)
    slots = np.zeros(len(starts), np.int32)
    (ours,) = native.encode_block(block, starts, lengths, slots, [shape], [len(starts)])
    theirs = slicing.layout_columns(block, starts, lengths, shape)
    return [as_python(c) for c in ours], [as_python(c) for c in theirs]


def test_awkward_values_slice_the_same():
    shape = layout(1, 2, 3, 8, 9, 12, 16, 30, names=("a", "b", "c", "d", "e", "incident_number"))
    lines = [
        b"A 1 2 ABCDEFGH 12345678X  INC-1    A B C D E F G H  city name with  inner  blanks ",
        b"  1  2  1234567 1      1   INC-2   0123456789ABCDEF" + b" " * 30,
        b" 1 1  2 ABCDEFGH 12345678X  INC-1    A B C D E F G H  city",  # cut in the 30-wide
        b"Z",  # every field after the first is past the line's end
        b"",
        b"Q 9",  # the 2-wide field cut in its middle
        b"\xe9\xe9 \xe9" + b" " * 14 + b"\xe9\xe8\xe7\xe6\xe5\xe4\xe3\xe2\xe1\xe0 \xff",
        b" " * 81,
    ]
    ours, theirs = both_engines(lines, shape)
    assert ours == theirs
    assert theirs[0] == ["A", None, None, "Z", None, "Q", "\xe9", None]
    assert theirs[4][1] == "7 1"  # blanks inside a value stay
    assert theirs[7][2] == "H  city"  # a field the line cuts short keeps what it has
    # latin-1 bytes become their characters, in dictionary and plain columns alike
    assert theirs[4][6] == "\xe9\xe8\xe7\xe6\xe5"
    assert theirs[5][6] == "\xe4\xe3\xe2\xe1\xe0 \xff"


def test_values_that_strip_alike_share_a_dictionary_entry():
    lines = [b"1  ", b" 1 ", b"  1", b"12 ", b" 12", b"   "]
    ours, theirs = both_engines(lines, layout(3))
    assert ours == theirs == [["1", "1", "1", "12", "12", None]]
    block, size = block_of(lines)
    starts, lengths = slicing.split_lines(block, size)
    (columns,) = native.encode_block(block, starts, lengths, np.zeros(6, np.int32),
                                     [layout(3)], [6])  # fmt: skip
    assert columns[0].dictionary.to_pylist() == ["1", "12"]


def test_many_distinct_values_grow_the_dictionary():
    rng = np.random.default_rng(2)
    values = rng.integers(0, 10**9, size=20000)
    lines = [f"{v:>9} {v % 1000:<4}{v:012}".encode() for v in values]
    ours, theirs = both_engines(lines, layout(10, 4, 12))
    assert ours == theirs
    assert len(set(ours[0])) == len(set(values.tolist()))


def test_records_interleave_across_layouts_in_file_order():
    layouts = load_layouts()
    offense, victim = layouts["02"], layouts["04"]
    lines = [
        b"02" + b"X" * (offense.width - 2),
        b"04" + b"Y" * (victim.width - 4) + b"  ",
        b"02" + b" " * (offense.width - 2),
    ]
    block, size = block_of(lines)
    starts, lengths = slicing.split_lines(block, size)
    slots = np.array([0, 1, 0], np.int32)
    ours = native.encode_block(block, starts, lengths, slots, [offense, victim], [2, 1])
    theirs = [
        slicing.layout_columns(block, starts[[0, 2]], lengths[[0, 2]], offense),
        slicing.layout_columns(block, starts[[1]], lengths[[1]], victim),
    ]
    for mine, reference in zip(ours, theirs, strict=True):
        assert [as_python(c) for c in mine] == [as_python(c) for c in reference]


def test_lines_marked_utf8_shifted_classify_the_same(tmp_path, sample_bytes):
    """A marked batch header still opens its agency in either engine: the ORIs agree."""
    rng = np.random.default_rng(3)
    sample = sample_bytes.splitlines()
    lines = [sample[i] for i in rng.integers(0, len(sample), size=400)]
    block, size = block_of(lines)
    starts, lengths = slicing.split_lines(block, size)
    decoder = _BlockDecoder(tmp_path, 2021)
    try:
        for carried in (False, True):
            for marked in (None, rng.random(len(starts)) < 0.2):
                mask = None if marked is None else marked.astype(np.uint8)
                ours = decoder._classify_native(block, starts, lengths, carried, mask)
                theirs = decoder._classify(block, starts, lengths, carried, mask)
                for mine, reference in zip(ours, theirs, strict=True):
                    assert np.array_equal(mine, reference)
                if marked is not None:
                    assert (ours[1][marked] == UTF8_SHIFTED).all()
                    is_header = np.isin(ours[0], decoder.header_ids)
                    assert ours[3].tolist() == np.flatnonzero(is_header).tolist()
    finally:
        decoder.background.drain()


def test_an_unknown_or_unbuilt_engine_is_a_clear_error(monkeypatch):
    with pytest.raises(native.EngineUnavailableError, match="choose one of auto, native"):
        native.resolve_engine("fortran")
    monkeypatch.setattr(native, "library", lambda: None)
    assert native.resolve_engine() == "numpy"  # auto falls back, quietly
    with pytest.raises(native.EngineUnavailableError, match="--engine numpy"):
        native.resolve_engine("native")
    monkeypatch.setenv(native.ENGINE_VARIABLE, "numpy")
    assert native.resolve_engine() == "numpy"


def test_the_engine_is_in_the_summary(make_zip, tmp_path, sample_bytes):
    summary = decode_zip(make_zip(sample_bytes), tmp_path / "out", engine="numpy")
    assert summary.as_dict()["engine"] == "numpy"
