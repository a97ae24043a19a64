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
        return run_dbt(_docs_port(args.passthrough), settings(), check=False).returncode
    except SettingsError as error:
        print(
            f"crimewh dbt: {error} (or start the embedded one: crimewh stack up)", file=sys.stderr
        )
        return 2


DOCS_PORT = 8580  # dbt's own default, 8080, is the Airflow UI's


def _docs_port(passthrough: list[str]) -> list[str]:
    """`dbt docs serve` on 8580 (or a free port) unless --port is given."""
    if passthrough[:2] != ["docs", "serve"] or any(
        arg == "--port" or arg.startswith("--port=") for arg in passthrough
    ):
        return passthrough
    from crimewh.processes import free_port, port_is_free

    port = DOCS_PORT if port_is_free(DOCS_PORT) else free_port()
    print(f"crimewh dbt: serving the docs on http://127.0.0.1:{port}", file=sys.stderr)
    return [*passthrough, "--port", str(port)]


def register(areas) -> None:
    areas.add_parser(
        "dbt",
        help="run dbt on dbt_project/ against the warehouse (arguments go to dbt)",
        description="Runs dbt with the project and profiles directories set and the "
        "connection taken from the settings (CRIMEWH_WAREHOUSE_URL or the embedded stack). "
        "Every argument is dbt's: crimewh dbt build, crimewh dbt docs generate, ...",
        add_help=False,  # `crimewh dbt --help` is dbt's help
    ).set_defaults(handler=_dbt, passthrough=[])
