"""`crimewh chicago …`: pull the crimes dataset into the lake and the warehouse.

    crimewh chicago pull [--since ISO] [--years A-B] [--overlap-hours H] [--page-size N]
    crimewh chicago abandon [--force]

(A local SODA server with synthetic rows, for tests and the demo, is in the test kit:
``python -m testkit chicago-serve``.)

Also runnable on its own: ``python -m crimewh_orchestration.chicago_cli pull …``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, timedelta


def year_span(text: str) -> tuple[int, int]:
    """``2001-2025`` or ``2024`` as (first, last); argparse's error otherwise."""
    try:
        first, _, last = text.partition("-")
        span = (int(first), int(last or first))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write a year range like 2001-2025") from None
    if span[0] > span[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: the first year comes first")
    return span


# The pull's arguments are checked by the same checks ``pull`` runs (``crimewh.chicago.pull``),
# here so that argparse names the argument in its one-line error, before anything is saved.
def _checked(check, *values, **options):
    from crimewh.chicago.pull import PullError

    try:
        return check(*values, name="", **options)
    except PullError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _pull_years(text: str) -> tuple[int, int]:
    from crimewh.chicago.pull import check_years

    return _checked(check_years, *year_span(text))


def _since(text: str) -> datetime:
    """ISO 8601; a zone, if given, is converted to Chicago wall time (SODA's floating time)."""
    from crimewh.chicago.pull import check_since

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write an ISO time like 2025-11-01T00:00:00 (Chicago wall time)"
        ) from None
    return _checked(check_since, moment)


def _page_size(text: str) -> int:
    from crimewh.chicago.pull import MAX_PAGE_SIZE, check_page_size

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a whole number of rows from 1 to {MAX_PAGE_SIZE}"
        ) from None
    return _checked(check_page_size, value)


def _overlap_hours(text: str) -> timedelta:
    from crimewh.chicago.pull import MAX_OVERLAP, check_overlap

    try:
        hours = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of hours, e.g. 24") from None
    if not math.isfinite(hours):  # timedelta cannot hold these
        raise argparse.ArgumentTypeError(
            f"{text}: give a number of hours from 0 to {MAX_OVERLAP / timedelta(hours=1):g}"
        )
    return _checked(check_overlap, timedelta(hours=hours))


def _settings():
    from crimewh.settings import settings

    return settings()


def _pull(args: argparse.Namespace) -> int:
    from crimewh.chicago.client import SodaClient, SodaError
    from crimewh.chicago.pull import PullError, pull
    from crimewh.settings import SettingsError

    settings = _settings()
    try:
        settings.require_warehouse_url()  # fail before fetching, not after
        with SodaClient.from_settings(settings) as client:
            print(f"pulling from {client.where}", file=sys.stderr)
            result = pull(
                settings, since=args.since, years=args.years, client=client,
                overlap=args.overlap, page_size=args.page_size, on_page=_print_page,
            )  # fmt: skip
    except (PullError, SodaError, SettingsError) as error:
        print(f"crimewh chicago pull: {error}", file=sys.stderr)
        return 1
    for line in result.report.warnings():
        print(f"warning: {line}", file=sys.stderr)
    print(json.dumps(result.as_dict(), indent=2, default=str))
    return 0


def _abandon(args: argparse.Namespace) -> int:
    from crimewh.chicago.pull import PullError, abandon

    try:
        dropped = abandon(_settings(), force=args.force)
    except PullError as error:
        print(f"crimewh chicago abandon: {error}", file=sys.stderr)
        return 1
    if dropped is None:
        print("no unfinished batch: nothing to abandon", file=sys.stderr)
    else:
        print(
            f"abandoned batch {dropped.partition} ({dropped.kind}, {dropped.where}, page size "
            f"{dropped.page_size}, stage {dropped.stage}): {dropped.pages} staged pages, "
            f"{dropped.fetched:,} rows fetched, removed; the watermark stays at "
            f"{dropped.watermark or 'none (no batch loaded yet)'}",
            file=sys.stderr,
        )
    print(json.dumps({"abandoned": dropped.as_dict() if dropped else None}, indent=2))
    return 0


def _print_page(page) -> None:
    total = f" of ~{page.expected:,}" if page.expected is not None else ""
    print(
        f"  {page.partition} page {page.number}: {page.fetched:,}{total} rows "
        f"(ids up to {page.after_id})",
        file=sys.stderr, flush=True,
    )  # fmt: skip


def register(areas) -> None:

    chicago = areas.add_parser(
        "chicago",
        help="City of Chicago crimes (SODA dataset ijzp-q8t2)",
        description="Pull the crimes dataset into the lake and raw.",
    )
    commands = chicago.add_subparsers(dest="command", required=True, metavar="COMMAND")

    pull = commands.add_parser(
        "pull",
        help="incremental pull by updated_on (default), or a backfill with --years",
        description="Fetch changed rows (or whole years) into the lake and load them into "
        "raw.chicago_crimes. An interrupted pull resumes where it stopped; an unfinished batch "
        "that the API keeps refusing can be dropped with `crimewh chicago abandon`.",
    )
    when = pull.add_mutually_exclusive_group()
    when.add_argument(
        "--since", type=_since,
        help="rows updated after this time, 2001 to now (default: the watermark)",
    )  # fmt: skip
    when.add_argument(
        "--years", type=_pull_years, help="backfill these years (2001 to this year), e.g. 2001-2025"
    )
    pull.add_argument(
        "--overlap-hours", dest="overlap", type=_overlap_hours, default=timedelta(hours=24),
        help="re-read this much before the watermark, 0 to 8784 (default 24)",
    )  # fmt: skip
    pull.add_argument(
        "--page-size", type=_page_size, default=None,
        help="rows per request, 1 to 50000 (default: CRIMEWH_SODA_PAGE_SIZE)",
    )  # fmt: skip
    pull.set_defaults(handler=_pull)

    drop = commands.add_parser(
        "abandon",
        help="drop the unfinished batch (and its staged pages), keeping the watermark",
        description="Every pull first finishes the batch an earlier pull left unfinished. If "
        "the API keeps refusing that batch, drop it here: its staged pages are removed, the "
        "watermark and the loaded batches stay, and the next pull starts a new batch.",
    )
    drop.add_argument(
        "--force", action="store_true",
        help="drop it even if it is already in the lake and only waits to be loaded",
    )  # fmt: skip
    drop.set_defaults(handler=_abandon)


def main(argv: list[str] | None = None) -> int:
    """The chicago commands alone: ``python -m crimewh_orchestration.chicago_cli pull …``."""
    from crimewh_orchestration.cli import main as crimewh_main

    return crimewh_main(["chicago", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
