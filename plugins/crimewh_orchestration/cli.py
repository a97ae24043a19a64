"""`crimewh`: the project's command line, one subcommand group per area."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from pathlib import Path

# Each area registers its own subcommands: ``register(areas)`` adds a parser to the
# subparsers object and sets ``handler``. Registration must stay cheap (no heavy imports),
# because every `crimewh` call builds the whole parser.
AREA_MODULES = (
    "crimewh_orchestration.warehouse_cli",
    "crimewh_orchestration.airflow_cli",
    "crimewh_orchestration.cluster_cli",
    "crimewh_orchestration.dashboard_cli",
    "crimewh_orchestration.quality_cli",
    "crimewh_orchestration.chicago_cli",
    "crimewh_orchestration.transform_cli",
    "crimewh_orchestration.service.cli",
    "crimewh_orchestration.ml_cli",
)


def _nibrs_decode(args: argparse.Namespace) -> int:
    from decoder.cli import run

    return run(args)


def _nibrs_ingest(args: argparse.Namespace) -> int:
    from crimewh.nibrs_ingest import IngestError
    from crimewh.quality.run import QualityGateError
    from crimewh.settings import SettingsError, settings
    from crimewh_orchestration import pipeline
    from decoder.source import DecodeError

    try:
        result = pipeline.nibrs_ingest(settings(), args.year, zip_path=args.zip, force=args.force)
    except (IngestError, pipeline.YearError, DecodeError, SettingsError) as error:
        print(f"crimewh nibrs ingest: {error}", file=sys.stderr)
        return 2
    except QualityGateError as error:
        print(f"crimewh nibrs ingest: nothing was loaded: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from decoder.cli import build_parser as decode_parser

    parser = argparse.ArgumentParser(prog="crimewh", description=__doc__)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data folder (default: $CRIMEWH_DATA_DIR, else ./data)",
    )
    areas = parser.add_subparsers(dest="area", required=True, metavar="AREA")
    for module in AREA_MODULES:
        importlib.import_module(module).register(areas)

    nibrs = areas.add_parser("nibrs", help="FBI NIBRS master files")
    nibrs_commands = nibrs.add_subparsers(dest="command", required=True, metavar="COMMAND")
    decode = nibrs_commands.add_parser(
        "decode",
        help="decode a master-file zip into Parquet (same as nibrs-decode)",
        parents=[decode_parser()],
        add_help=False,
        conflict_handler="resolve",
    )
    decode.set_defaults(handler=_nibrs_decode)

    ingest = nibrs_commands.add_parser(
        "ingest",
        help="a year's zip (landing area or --zip) -> decode -> lake -> raw",
        description="Decode a NIBRS year into the lake and load it into the warehouse's raw "
        "schema, replacing that year. Skips a zip whose sha256 is already loaded.",
    )
    ingest.add_argument("--year", type=int, required=True)
    ingest.add_argument("--zip", type=Path, help="the zip (default: nibrs-YYYY.zip in landing)")
    ingest.add_argument("--force", action="store_true", help="reload even if already loaded")
    ingest.set_defaults(handler=_nibrs_ingest)

    return parser


def log_progress_to_stderr() -> None:
    """The project's progress lines (logged, so that Airflow files them as info) on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("crimewh", "crimewh_orchestration", "ml", "decoder"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    log_progress_to_stderr()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # only pass-through commands (`stack psql`, `dbt`) take arguments of their own
        if not hasattr(args, "passthrough"):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.passthrough = [*args.passthrough, *extra]
    if args.data_dir is not None:  # one source of truth: the settings read the environment
        os.environ["CRIMEWH_DATA_DIR"] = str(args.data_dir)
    from crimewh.settings import settings

    settings.cache_clear()
    args.data_dir = settings().data_dir
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
