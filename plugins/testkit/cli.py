"""`python -m testkit …`: synthetic inputs, a local SODA server, the demo and the benchmarks.

python -m testkit nibrs-synth --year 2022 --incidents 1000000 --out data/nibrs-2022.zip
python -m testkit chicago-serve --port 0 [--rows N | --from-file F.json] [--fail-rate R]
python -m testkit chicago-synth --rows N --out F.json
python -m testkit demo            # what `make demo` runs
python -m testkit bench           # what `make bench` runs; one JSON object per line
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from crimewh.chicago import FIRST_YEAR, LAST_YEAR, LOCATION_SHAPES
from crimewh_orchestration.chicago_cli import year_span
from testkit.bench import BENCHMARKS

DEFAULT_SERVE_ROWS = 100_000


def _nibrs_synth(args: argparse.Namespace) -> int:
    from decoder.cli import progress_bar
    from testkit.nibrs_synth import synthesize

    bar = progress_bar(args.incidents, " incidents")
    try:
        summary = synthesize(
            args.out,
            year=args.year,
            incidents=args.incidents,
            seed=args.seed,
            deflate64=args.deflate64,
            crlf=args.crlf,
            legacy_headers=args.legacy_headers,
            nul_fill=args.nul_fill,
            trim_lines=args.trim_lines,
            progress=bar.update if bar else None,
        )
    finally:
        if bar:
            bar.close()
    print(json.dumps(summary, indent=2))
    return 0


def _chicago_serve(args: argparse.Namespace) -> int:
    from crimewh.settings import settings
    from testkit.soda_server import Dataset, SodaServer

    if args.from_file:
        try:
            dataset = Dataset.from_file(args.from_file)
        except ValueError as error:
            print(f"testkit chicago-serve: {error}", file=sys.stderr)
            return 1
        origin, truth = str(args.from_file), None
    else:
        from testkit.chicago_synth import synthesize, write_truth

        rows = args.rows if args.rows is not None else DEFAULT_SERVE_ROWS
        print(f"generating {rows:,} rows (seed {args.seed}) …", file=sys.stderr, flush=True)
        synthetic = synthesize(
            rows, seed=args.seed, years=args.years, location_shape=args.location_shape
        )
        dataset = Dataset.from_wire_table(synthetic.table)
        truth = args.truth_out or (
            settings().data_dir / "chicago" / "truth" / f"serve-rows{rows}-seed{args.seed}"
            ".truth.parquet"
        )
        write_truth(truth, synthetic.truth)
        origin = f"synthetic, seed {args.seed}"
    server = SodaServer(
        dataset, host=args.host, port=args.port, fail_rate=args.fail_rate, seed=args.seed,
        retry_after=args.retry_after, slow_seconds=args.slow_seconds,
    )  # fmt: skip
    print(
        f"serving {len(dataset):,} rows ({origin}) at {server.url}\n"
        f"  pull with: CRIMEWH_SODA_DOMAIN={server.domain} crimewh chicago pull --years …"
        + (f"\n  truth (id, arrest_probability): {truth}" if truth else "")
        + (f"\n  faults: {args.fail_rate:.0%} of requests" if args.fail_rate else ""),
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    stats = server.stats
    print(f"answered {stats.requests:,} requests; faults {dict(stats.faults)}", file=sys.stderr)
    return 0


def _chicago_synth(args: argparse.Namespace) -> int:
    from testkit.chicago_synth import synthesize, truth_path_for, write_json, write_truth

    synthetic = synthesize(
        args.rows, seed=args.seed, years=args.years, location_shape=args.location_shape
    )
    write_json(args.out, synthetic.table)
    truth = write_truth(truth_path_for(args.out), synthetic.truth)
    print(json.dumps({"rows": synthetic.table.num_rows, "out": str(args.out),
                      "truth": str(truth)}, indent=2))  # fmt: skip
    return 0


def _demo(args: argparse.Namespace) -> int:
    from crimewh.settings import settings
    from testkit.demo import run_demo

    return run_demo(
        settings(), year=args.year, incidents=args.incidents, chicago_rows=args.chicago_rows
    )


def _bench(args: argparse.Namespace) -> int:
    from crimewh.settings import settings
    from testkit.bench import run_benchmarks

    only = tuple(args.only or BENCHMARKS)
    folder = settings().data_dir / "bench"
    results = run_benchmarks(
        folder, incidents=args.incidents, only=only, keep_warehouse=args.keep_warehouse
    )
    for result in results:
        print(json.dumps(result), flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m testkit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None,
        help="data folder (default: $CRIMEWH_DATA_DIR, else ./data)",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = commands.add_parser(
        "nibrs-synth", help="write a format-faithful synthetic NIBRS master-file zip"
    )
    synth.add_argument("--year", type=int, required=True)
    synth.add_argument("--incidents", type=int, required=True, help="Group A incidents")
    synth.add_argument("--out", type=Path, required=True, help="zip to write, nibrs-YYYY.zip")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--deflate64", action="store_true", help="compress as the FBI does (zip method 9)"
    )
    synth.add_argument("--crlf", action="store_true", help="CRLF line ends")
    synth.add_argument(
        "--legacy-headers", action="store_true", help="B1/B2/B3 batch headers (1991-2012)"
    )
    synth.add_argument("--nul-fill", action="store_true", help="NUL bytes in BH filler fields")
    synth.add_argument("--trim-lines", action="store_true", help="right-trim every line")
    synth.set_defaults(handler=_nibrs_synth)

    serve = commands.add_parser(
        "chicago-serve",
        help="a local SODA-compatible server for tests and the demo",
        description="Serve /resource/ijzp-q8t2.json on 127.0.0.1 until interrupted.",
    )
    serve.add_argument("--port", type=int, required=True, help="0 picks a free port")
    serve.add_argument("--host", default="127.0.0.1")
    source = serve.add_mutually_exclusive_group()
    source.add_argument("--rows", type=int, help=f"synthetic rows (default {DEFAULT_SERVE_ROWS:,})")
    source.add_argument("--from-file", type=Path, help="a JSON array of rows to serve instead")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument(
        "--years", type=year_span, default=(FIRST_YEAR, LAST_YEAR),
        help=f"years of the synthetic rows (default {FIRST_YEAR}-{LAST_YEAR})",
    )  # fmt: skip
    serve.add_argument("--location-shape", choices=LOCATION_SHAPES, default="legacy")
    serve.add_argument(
        "--truth-out", type=Path,
        help="where the arrest probabilities go (default <data>/chicago/truth/"
        "serve-rows<N>-seed<S>.truth.parquet)",
    )  # fmt: skip
    serve.add_argument("--fail-rate", type=float, default=0.0, help="share of faulty responses")
    serve.add_argument("--retry-after", type=int, default=1, help="seconds a 429 asks for")
    serve.add_argument("--slow-seconds", type=float, default=3.0, help="delay of a slow fault")
    serve.set_defaults(handler=_chicago_serve)

    chicago_synth = commands.add_parser(
        "chicago-synth",
        help="write synthetic Chicago rows as a JSON array (for chicago-serve --from-file)",
    )
    chicago_synth.add_argument("--rows", type=int, required=True)
    chicago_synth.add_argument("--out", type=Path, required=True, help="F.json; truth beside it")
    chicago_synth.add_argument("--seed", type=int, default=0)
    chicago_synth.add_argument("--years", type=year_span, default=(FIRST_YEAR, LAST_YEAR))
    chicago_synth.add_argument("--location-shape", choices=LOCATION_SHAPES, default="legacy")
    chicago_synth.set_defaults(handler=_chicago_synth)

    demo = commands.add_parser(
        "demo", help="the whole pipeline once: stack, SODA server, NIBRS year, nightly DAG"
    )
    demo.add_argument("--year", type=int, default=2024, help="the synthetic NIBRS year")
    demo.add_argument("--incidents", type=int, default=100_000)
    demo.add_argument("--chicago-rows", type=int, default=50_000)
    demo.set_defaults(handler=_demo)

    bench = commands.add_parser("bench", help="benchmarks; one JSON object per line")
    bench.add_argument(
        "--incidents", type=int, default=1_000_000,
        help="incidents of the synthetic year (of each of the three years with --only cluster)",
    )  # fmt: skip
    bench.add_argument(
        "--only", action="append", choices=(*BENCHMARKS, "cluster"),
        help="run this benchmark only (repeatable; load runs decode first); cluster, never "
        "run by default, backfills three years on a Celery cluster of one worker, then two",
    )  # fmt: skip
    bench.add_argument(
        "--keep-warehouse", action="store_true",
        help="pipeline: leave its warehouse (stopped) and each step's log under the bench folder",
    )  # fmt: skip
    bench.set_defaults(handler=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    from crimewh_orchestration.cli import log_progress_to_stderr

    log_progress_to_stderr()
    args = build_parser().parse_args(argv)
    if args.data_dir is not None:  # one source of truth: the settings read the environment
        os.environ["CRIMEWH_DATA_DIR"] = str(args.data_dir)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
