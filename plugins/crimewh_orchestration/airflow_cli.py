"""`crimewh airflow …`: Airflow for this data folder (`make up`, `make down`)."""

from __future__ import annotations

import argparse
import json
import sys


def _settings():
    from crimewh.settings import settings

    settings.cache_clear()
    return settings()


def _up(args: argparse.Namespace) -> int:
    from crimewh_orchestration import airflow_runtime

    report = airflow_runtime.up(_settings())
    password = airflow_runtime.admin_password(_settings())
    print(
        f"\nAirflow is up: {report['url']}  (login: admin, password: "
        f"{password or 'see ' + report['password_file']})\n"
        f"Stop everything with `make down`. Logs: {report['airflow_home']}/standalone.log"
    )
    return 0


def _down(args: argparse.Namespace) -> int:
    from crimewh_orchestration import airflow_runtime

    airflow_runtime.down(_settings(), stack_too=not args.keep_stack)
    return 0


def _status(args: argparse.Namespace) -> int:
    from crimewh_orchestration import airflow_runtime

    settings = _settings()
    state = airflow_runtime._state(settings)
    running = bool(state.get("pid")) and airflow_runtime.process_alive(state["pid"])
    report = {"airflow": "running" if running else "stopped", **state}
    report["airflow_home"] = str(airflow_runtime.airflow_home(settings))
    print(json.dumps(report, indent=2))
    return 0


def _cli(args: argparse.Namespace) -> int:
    from crimewh_orchestration import airflow_runtime

    if not args.passthrough:
        print("usage: crimewh airflow cli <airflow arguments>, e.g. dags list", file=sys.stderr)
        return 2
    return airflow_runtime.airflow(_settings(), args.passthrough).returncode


def register(areas) -> None:
    airflow = areas.add_parser("airflow", help="Airflow for this data folder (make up/down)")
    commands = airflow.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "up", help="the embedded stack, then Airflow standalone in the background"
    ).set_defaults(handler=_up)
    down = commands.add_parser("down", help="stop Airflow (and the embedded stack)")
    down.add_argument("--keep-stack", action="store_true", help="leave PostgreSQL running")
    down.set_defaults(handler=_down)
    commands.add_parser("status", help="whether Airflow runs, and where").set_defaults(
        handler=_status
    )
    commands.add_parser(
        "cli", help="run the airflow CLI with this data folder's environment"
    ).set_defaults(handler=_cli, passthrough=[])
