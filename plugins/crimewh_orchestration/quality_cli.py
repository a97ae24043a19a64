"""`crimewh quality …`: run the quality suites by hand, or list their checks."""

from __future__ import annotations

import argparse
import sys

from crimewh.quality.suites import SUITES


def _settings():
    from crimewh.settings import settings

    return settings()


def _run(args: argparse.Namespace) -> int:
    from crimewh.quality.frames import FrameError
    from crimewh.quality.run import (
        QualityGateError,
        as_json,
        check_chicago_batch,
        check_marts,
        check_nibrs_partition,
    )

    settings = _settings()
    suites = [args.suite] if args.suite else _applicable(settings, args)
    if not suites:
        print("nothing to check: give --suite, or --year for a NIBRS partition", file=sys.stderr)
        return 2
    options = {"docs": not args.no_docs, "store": False if args.no_store else None}
    failed = 0
    for suite in suites:
        print(f"running {suite} ...", file=sys.stderr, flush=True)
        try:
            if suite == "nibrs_partition":
                if args.year is None:
                    print("the nibrs_partition suite needs --year", file=sys.stderr)
                    return 2
                report = check_nibrs_partition(settings, args.year, args.decoded, **options)
            elif suite == "chicago_batch":
                report = check_chicago_batch(settings, args.batch, **options)
            else:
                report = check_marts(settings, **options)
        except QualityGateError as error:
            failed += 1
            report = error.report
            print(error, file=sys.stderr)
        except (FrameError, ValueError) as error:
            failed += 1
            print(f"{suite}: {error}", file=sys.stderr)
            continue
        print(as_json(report) if args.json else report.summary())
    return 1 if failed else 0


def _applicable(settings, args: argparse.Namespace) -> list[str]:
    """Without --suite: each suite whose input was named or exists."""
    suites = []
    if args.year is not None:
        suites.append("nibrs_partition")
    from crimewh.lake import Lake

    if args.batch or Lake.from_settings(settings).partitions("chicago", "crimes"):
        suites.append("chicago_batch")
    if settings.warehouse_url:
        suites.append("marts")
    return suites


def _checks(args: argparse.Namespace) -> int:
    from crimewh.quality.suites import checks_for

    for suite in [args.suite] if args.suite else SUITES:
        year = args.year if args.year is not None else 2022
        for check in checks_for(suite, year=year):
            print(f"{suite:16} {check.severity:8} {check.name:55} {check.description}")
    return 0


def register(areas) -> None:
    from pathlib import Path

    quality = areas.add_parser(
        "quality",
        help="data quality gate: great-expectations suites on NIBRS, Chicago and the marts",
        description=(
            "Run the quality suites that the pipeline runs before each load, by hand. Results "
            "go to audit.quality_results and the data docs (<data_dir>/quality/data_docs/); a "
            "failed critical check exits with status 1."
        ),
    )
    commands = quality.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run one suite, or every one that has input")
    run.add_argument("--suite", choices=SUITES, help="default: every suite that has input")
    run.add_argument("--year", type=int, help="the NIBRS data year (nibrs_partition)")
    run.add_argument(
        "--decoded",
        type=Path,
        help="check a decoder output folder instead of the lake's year=YYYY partition",
    )
    run.add_argument("--batch", help="the Chicago batch (default: the lake's latest)")
    run.add_argument("--no-docs", action="store_true", help="do not render data docs")
    run.add_argument("--no-store", action="store_true", help="do not write audit.quality_results")
    run.add_argument("--json", action="store_true", help="print the results as JSON")
    run.set_defaults(handler=_run)

    checks = commands.add_parser("checks", help="list the checks and their severities")
    checks.add_argument("--suite", choices=SUITES)
    checks.add_argument("--year", type=int, help="the NIBRS data year the dates refer to")
    checks.set_defaults(handler=_checks)
