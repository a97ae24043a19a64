"""`nibrs-decode`: decode one NIBRS master-file zip into Parquet, nothing else needed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# Before NumPy loads: its OpenBLAS otherwise starts a thread per core, and those threads spin
# beside the inflating child (a tenth of the decoder's CPU time, measured with perf). The
# decoder does no linear algebra. An explicit setting in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from decoder import PARQUET_COMPRESSION, PARQUET_COMPRESSIONS, __version__
from decoder.source import DecodeError, open_member, start_inflating, stop_inflating


def build_parser(prog: str = "nibrs-decode") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Decode an FBI NIBRS master file (nibrs-YYYY.zip, Deflate or Deflate64) straight "
            "from the zip into one Parquet table per segment under OUT/<segment>/. Records "
            "that cannot be decoded go to OUT/_quarantine/ with their reason; a summary is "
            "written to OUT/_summary.json and printed."
        ),
    )
    parser.add_argument("zip", type=Path, help="the master-file zip, e.g. nibrs-2022.zip")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--year",
        type=int,
        help="data year (1991 on), when neither the zip nor its member names it; refused "
        "when the batch headers declare another",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 if any record was quarantined"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="slice in N worker processes (default 1; pays only with more than 2 real cores)",
    )
    parser.add_argument(
        "--engine",
        choices=["auto", "native", "numpy"],
        help="slicer: the compiled one (native), numpy, or auto (native when built; the "
        "default, also read from NIBRS_DECODE_ENGINE)",
    )
    parser.add_argument(
        "--parquet-compression",
        choices=PARQUET_COMPRESSIONS,
        default=PARQUET_COMPRESSION,
        help=f"codec of the Parquet files (default {PARQUET_COMPRESSION}; zstd: files about "
        "40%% smaller, decoding about 12%% slower)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def run(args: argparse.Namespace) -> int:
    # Inflating starts first; NumPy and Arrow (decoder.decode's imports) load meanwhile.
    try:
        member = open_member(args.zip)
    except DecodeError:
        member = None  # decode_zip reports the problem itself
    inflating = start_inflating(member) if member else None
    try:
        from decoder.decode import decode_zip

        bar = None if args.quiet or member is None else progress_bar(member.size, "B", "decoding")
        try:
            summary = decode_zip(
                args.zip,
                args.out,
                year=args.year,
                workers=args.workers,
                engine=args.engine,
                parquet_compression=args.parquet_compression,
                progress=bar.update if bar else None,
                inflating=inflating,
            )
        finally:
            if bar:
                bar.close()
            if inflating:
                stop_inflating(inflating)
    except DecodeError as exc:
        print(f"nibrs-decode: error: {exc}", file=sys.stderr)
        return 2
    report = summary.as_dict()
    if not args.quiet:
        print(json.dumps(_headline(report), indent=2))
        print(f"full summary: {Path(args.out) / '_summary.json'}", file=sys.stderr)
    quarantined = report["quarantined"]["total"]
    if quarantined:
        print(
            f"nibrs-decode: {quarantined:,} record(s) quarantined in "
            f"{Path(args.out) / '_quarantine'}: {report['quarantined']['by_reason']}",
            file=sys.stderr,
        )
        if args.strict:
            return 1
    return 0


def _headline(report: dict) -> dict:
    """What a person wants on screen; the line-length histogram stays in the file."""
    keep = ("zip", "member", "compression", "data_year", "engine", "lines", "rows", "quarantined")
    out = {k: report[k] for k in keep}
    out["segment_counts"] = report["segment_counts"]
    out["seconds"] = report["seconds"]
    return out


def progress_bar(total: int, unit: str, desc: str | None = None):
    """A progress bar on stderr when it is a terminal; None (no output) otherwise."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, desc=desc, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def console() -> None:
    """The `nibrs-decode` command: main, then out without the interpreter's teardown.

    Tearing down NumPy and Arrow (a last garbage collection over every object they made)
    took 50-70 ms after the work was done: 3% of decoding the benchmark year. Every file
    is closed by then, and no thread is left running.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console()
