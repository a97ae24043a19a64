"""`crimewh dbt …`: dbt on the project's dbt_project/, against the configured warehouse."""

from __future__ import annotations

import argparse
import sys


def _dbt(args: argparse.Namespace) -> int:
    from crimewh.dbt import run_dbt
    from crimewh.settings import SettingsError, settings

    if not args.passthrough:
        print(
            "usage: crimewh dbt <dbt arguments>, e.g. `crimewh dbt build`, "
            "`crimewh dbt build --select fct_nibrs_incidents --vars '{nibrs_years: [2022]}'`, "
            "`crimewh dbt docs generate`",
            file=sys.stderr,
        )
        return 2
    settings.cache_clear()
    try:
        return run_dbt(args.passthrough, settings(), check=False).returncode
    except SettingsError as error:
        print(
            f"crimewh dbt: {error} (or start the embedded one: crimewh stack up)", file=sys.stderr
        )
        return 2


def register(areas) -> None:
    areas.add_parser(
        "dbt",
        help="run dbt on dbt_project/ against the warehouse (arguments go to dbt)",
        description="Runs dbt with the project and profiles directories set and the "
        "connection taken from the settings (CRIMEWH_WAREHOUSE_URL or the embedded stack). "
        "Every argument is dbt's: crimewh dbt build, crimewh dbt docs generate, ...",
        add_help=False,  # `crimewh dbt --help` is dbt's help
    ).set_defaults(handler=_dbt, passthrough=[])
