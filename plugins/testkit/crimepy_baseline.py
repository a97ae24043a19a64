"""Baseline for `make bench`: crimepy 0.1.0's reader, the fastest existing Python decoder.

It reads the same zip and writes every table it yields to Parquet, which is the same work
`nibrs-decode` does (crimepy also types the values, which the raw layer leaves to dbt).
"""

import sys
from pathlib import Path

import pyarrow.parquet as pq
from crimepy.nibrs import reader


def main(zip_path: str, out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    for chunk in reader.tables(zip_path):
        for name, table in chunk.items():
            if name not in writers:
                writers[name] = pq.ParquetWriter(out / f"{name}.parquet", table.schema)
            writers[name].write_table(table.cast(writers[name].schema))
    for writer in writers.values():
        writer.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
