"""The decoder's own Parquet writer (decoder/parquet.py, decoder/_pages.c).

Its files must read back, in Arrow and in Polars, as exactly the table written, with the
schema Arrow's writer gives the same columns. The tables here aim at the corners of the
page encodings: nulls at every bit position, arrays sliced at odd offsets, all-null and
null-free columns, dictionaries whose indices need 1 to 17 bits, integer deltas that wrap,
several row groups, and pages split inside a row group.
"""

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from decoder import PARQUET_COMPRESSIONS, parquet

CODE = pa.dictionary(pa.int32(), pa.string())
SCHEMA = pa.schema(
    [
        ("code", CODE),
        ("identifier", pa.string()),
        ("year", pa.int16()),
        ("line", pa.int64()),
        pa.field("required_line", pa.int64(), nullable=False),
    ]
)

pytestmark = pytest.mark.skipif(
    parquet.native.library() is None, reason="needs the native library (`make setup`)"
)


def random_table(rng: np.random.Generator, n: int, distinct: int, null_share: float) -> pa.Table:
    def validity() -> np.ndarray:
        return rng.random(n) >= null_share

    values = np.array([f"v{i:05d}" for i in range(distinct)], dtype=object)
    codes = pa.DictionaryArray.from_arrays(
        pa.array(rng.integers(0, distinct, n), pa.int32(), mask=~validity()),
        pa.array(values, pa.string()),
    )
    words = ["", "a", "ab", "é latin", "x" * 300]  # "" is a value, not a null
    identifiers = pa.array(
        [words[i % len(words)] + str(i) * (i % 3) for i in range(n)], pa.string(), mask=~validity()
    )
    years = pa.array(rng.integers(-32768, 32767, n), pa.int16(), mask=~validity())
    lines = pa.array(rng.integers(-(2**62), 2**62, n), pa.int64(), mask=~validity())
    climbing = pa.array(np.cumsum(rng.integers(0, 5, n)) + 10**12, pa.int64())
    return pa.Table.from_arrays([codes, identifiers, years, lines, climbing], schema=SCHEMA)


def as_read(table: pa.Table) -> pa.Table:
    """How a reader sees ``table``: code columns as plain strings."""
    return table.cast(
        pa.schema([f.with_type(pa.string()) if f.type == CODE else f for f in SCHEMA])
    )


def write(path, tables: list[pa.Table], **options) -> None:
    writer = parquet.ParquetFileWriter(path, SCHEMA, **options)
    for table in tables:
        writer.write_table(table)
    writer.close()


@pytest.mark.parametrize("compression", PARQUET_COMPRESSIONS)
def test_every_codec_reads_back_in_arrow_and_polars(tmp_path, compression):
    rng = np.random.default_rng(7)
    tables = [
        random_table(rng, n, d, s) for n, d, s in [(1000, 3, 0.3), (77, 1, 0.0), (513, 300, 0.9)]
    ]
    path = tmp_path / "t.parquet"
    write(path, tables, compression=compression)
    expected = as_read(pa.concat_tables(tables))
    assert pq.read_table(path).equals(expected)
    assert pl.read_parquet(path).equals(pl.from_arrow(expected))
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_row_groups == 3
    assert metadata.num_rows == sum(t.num_rows for t in tables)


@pytest.mark.parametrize("distinct", [1, 2, 3, 255, 256, 257, 70_000])
def test_dictionary_index_widths(tmp_path, distinct):
    rng = np.random.default_rng(distinct)
    table = random_table(rng, 80_000, distinct, 0.1)
    write(tmp_path / "t.parquet", [table])
    assert pq.read_table(tmp_path / "t.parquet").equals(as_read(table))


@pytest.mark.parametrize("null_share", [0.0, 0.5, 1.0])
def test_sliced_arrays_and_pages_split_inside_a_row_group(tmp_path, monkeypatch, null_share):
    monkeypatch.setattr(parquet, "PAGE_ROWS", 24)
    rng = np.random.default_rng(3)
    whole = random_table(rng, 2000, 40, null_share)
    slices = [whole.slice(offset, length) for offset, length in [(3, 101), (517, 1), (1000, 999)]]
    path = tmp_path / "t.parquet"
    write(path, slices)
    assert pq.read_table(path).equals(as_read(pa.concat_tables(slices)))
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).num_values == 101


def test_integer_statistics(tmp_path):
    lines = pa.array([5, None, -7, 12], pa.int64())
    years = pa.array([None, None, None, None], pa.int16())
    table = pa.Table.from_arrays(
        [pa.nulls(4, CODE), pa.nulls(4, pa.string()), years, lines, pa.array([1, 2, 3, 4])],
        schema=SCHEMA,
    )
    write(tmp_path / "t.parquet", [table])
    group = pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(0)
    line_stats = group.column(3).statistics
    assert (line_stats.min, line_stats.max, line_stats.null_count) == (-7, 12, 1)
    assert not group.column(2).statistics.has_min_max
    assert group.column(2).statistics.null_count == 4
    assert pq.read_table(tmp_path / "t.parquet").equals(as_read(table))


def test_the_schema_is_the_one_arrows_writer_gives(tmp_path):
    table = random_table(np.random.default_rng(0), 100, 5, 0.2)
    write(tmp_path / "mine.parquet", [table])
    pq.write_table(table, tmp_path / "arrow.parquet", store_schema=False)
    mine, arrows = (pq.ParquetFile(tmp_path / f"{n}.parquet") for n in ("mine", "arrow"))
    assert mine.schema.equals(arrows.schema)
    assert mine.schema_arrow.equals(arrows.schema_arrow)
    chunk = mine.metadata.row_group(0).column(0)
    assert chunk.has_dictionary_page
    assert "RLE_DICTIONARY" in chunk.encodings
    assert mine.metadata.row_group(0).column(4).encodings == ("DELTA_BINARY_PACKED", "RLE")


def test_a_file_with_no_rows_still_has_the_schema(tmp_path):
    write(tmp_path / "t.parquet", [SCHEMA.empty_table()])
    read = pq.read_table(tmp_path / "t.parquet")
    assert read.num_rows == 0
    assert read.schema.equals(as_read(SCHEMA.empty_table()).schema)


def test_only_the_decoders_column_types_are_written(tmp_path):
    assert parquet.supports(SCHEMA)
    assert not parquet.supports(pa.schema([("x", pa.float64())]))
    with pytest.raises(ValueError, match="cannot write"):
        parquet.ParquetFileWriter(tmp_path / "t.parquet", pa.schema([("x", pa.binary())]))
