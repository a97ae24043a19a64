"""`crimewh dashboard …`: the Streamlit dashboard for this data folder (`make dashboard`)."""

from __future__ import annotations

import argparse
import json
import sys


def _settings():
    from crimewh.settings import settings

    settings.cache_clear()
    return settings()


def _up(args: argparse.Namespace) -> int:
    from crimewh.settings import SettingsError
    from crimewh_orchestration import dashboard_runtime

    try:
        report = dashboard_runtime.up(_settings(), port=args.port)
    except (dashboard_runtime.DashboardError, SettingsError) as error:
        print(f"crimewh dashboard up: {error}", file=sys.stderr)
        return 1
    print(f"\nThe dashboard is up: {report['url']}  (log: {report['log']}); "
          "`make down` stops it")  # fmt: skip
    return 0


def _down(args: argparse.Namespace) -> int:
    from crimewh_orchestration import dashboard_runtime

    dashboard_runtime.down(_settings())
    return 0


def _status(args: argparse.Namespace) -> int:
    from crimewh_orchestration import dashboard_runtime

    print(json.dumps(dashboard_runtime.status(_settings()), indent=2))
    return 0


def register(areas) -> None:
    dashboard = areas.add_parser("dashboard", help="the Streamlit dashboard (make dashboard)")
    commands = dashboard.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="start it in the background (and the embedded stack)")
    up.add_argument("--port", type=int, default=None, help="default 8501, else a free port")
    up.set_defaults(handler=_up)
    commands.add_parser("down", help="stop it").set_defaults(handler=_down)
    commands.add_parser("status", help="whether it runs, and its URL").set_defaults(handler=_status)
