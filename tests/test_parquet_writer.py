"""The decoder's Parquet files: Arrow's writer as decode._SegmentWriter sets it up.

Its files must read back, in Arrow and in Polars, as exactly the tables written, code
columns as plain strings, with the encodings the decoder asks for: dictionary pages for
code columns (the slicer's dictionary arrays as they are), PLAIN identifiers, and
DELTA_BINARY_PACKED with statistics for `data_year` and `line_number`. The tables aim at
what the slicer hands over: nulls at every bit position, arrays sliced at odd offsets,
all-null and null-free columns, dictionaries of 1 to 70 000 values, one row group a block.
"""

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from decoder import PARQUET_COMPRESSIONS
from decoder.decode import _SegmentWriter

CODE = pa.dictionary(pa.int32(), pa.string())
SCHEMA = pa.schema(
    [
        ("code", CODE),
        ("identifier", pa.string()),
        ("data_year", pa.int16()),
        ("line_number", pa.int64()),
    ]
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
    lines = pa.array(np.cumsum(rng.integers(0, 5, n)) + 10**12, pa.int64(), mask=~validity())
    return pa.Table.from_arrays([codes, identifiers, years, lines], schema=SCHEMA)


def as_read(table: pa.Table) -> pa.Table:
    """How a reader sees ``table``: code columns as plain strings."""
    return table.cast(
        pa.schema([f.with_type(pa.string()) if f.type == CODE else f for f in SCHEMA])
    )


def write(tmp_path, tables: list[pa.Table], **options):
    writer = _SegmentWriter(tmp_path, "segment", SCHEMA, **options)
    for table in tables:
        writer.write(table)
    writer.close()
    return writer.tmp


@pytest.mark.parametrize("compression", PARQUET_COMPRESSIONS)
def test_every_codec_reads_back_in_arrow_and_polars(tmp_path, compression):
    rng = np.random.default_rng(7)
    tables = [
        random_table(rng, n, d, s) for n, d, s in [(1000, 3, 0.3), (77, 1, 0.0), (513, 300, 0.9)]
    ]
    path = write(tmp_path, tables, compression=compression)
    expected = as_read(pa.concat_tables(tables))
    assert pq.read_table(path).equals(expected)
    assert pl.read_parquet(path).equals(pl.from_arrow(expected))
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_row_groups == 3  # one a block
    assert metadata.num_rows == sum(t.num_rows for t in tables)


@pytest.mark.parametrize("distinct", [1, 2, 257, 70_000])
def test_dictionaries_of_every_size_are_written_as_they_are(tmp_path, distinct):
    rng = np.random.default_rng(distinct)
    table = random_table(rng, 80_000, distinct, 0.1)
    path = write(tmp_path, [table])
    assert pq.read_table(path).equals(as_read(table))
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(0)
    assert chunk.has_dictionary_page
    assert "RLE_DICTIONARY" in chunk.encodings


@pytest.mark.parametrize("null_share", [0.0, 0.5, 1.0])
def test_sliced_arrays_read_back(tmp_path, null_share):
    rng = np.random.default_rng(3)
    whole = random_table(rng, 2000, 40, null_share)
    slices = [whole.slice(offset, length) for offset, length in [(3, 101), (517, 1), (1000, 999)]]
    path = write(tmp_path, slices)
    assert pq.read_table(path).equals(as_read(pa.concat_tables(slices)))
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).num_values == 101


def test_encodings_and_statistics(tmp_path):
    table = pa.Table.from_arrays(
        [
            pa.DictionaryArray.from_arrays(pa.array([0, None, 1, 0], pa.int32()), ["A", "B"]),
            pa.array(["x1", "x2", None, "x4"]),
            pa.array([None, 2022, 2022, 2022], pa.int16()),
            pa.array([5, None, -7, 12], pa.int64()),
        ],
        schema=SCHEMA,
    )
    path = write(tmp_path, [table])
    group = pq.ParquetFile(path).metadata.row_group(0)
    code, identifier, year, line = (group.column(i) for i in range(4))
    assert not code.is_stats_set  # min/max of raw code strings: no reader uses them
    assert not identifier.is_stats_set
    assert not identifier.has_dictionary_page
    assert "DELTA_BINARY_PACKED" in line.encodings
    assert "DELTA_BINARY_PACKED" in year.encodings
    assert (line.statistics.min, line.statistics.max, line.statistics.null_count) == (-7, 12, 1)
    assert (year.statistics.min, year.statistics.max) == (2022, 2022)
    assert pq.read_table(path).equals(as_read(table))


def test_a_file_with_no_rows_still_has_the_schema(tmp_path):
    path = write(tmp_path, [SCHEMA.empty_table()])
    read = pq.read_table(path)
    assert read.num_rows == 0
    assert read.schema.equals(as_read(SCHEMA.empty_table()).schema)
