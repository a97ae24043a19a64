"""`crimewh serve`: the prediction API and the upload page.

crimewh serve [run] [--host H] [--port P]   in the foreground (Ctrl-C stops it)
crimewh serve up [--host H] [--port P]      in the background (`make up`)
crimewh serve down | status
"""

from __future__ import annotations

import argparse
import json
import sys


def _settings():
    from crimewh.settings import settings

    return settings()


def _run(args: argparse.Namespace) -> int:
    from crimewh_orchestration.service.server import ServiceError, run

    settings = _settings()
    try:
        run(settings, host=args.host or settings.service_host,
            port=args.port or settings.service_port)  # fmt: skip
    except ServiceError as error:
        print(f"crimewh serve: {error}", file=sys.stderr)
        return 2
    return 0


def _up(args: argparse.Namespace) -> int:
    from crimewh_orchestration.service.server import ServiceError, up

    settings = _settings()
    try:
        up(settings, host=args.host or settings.service_host, port=args.port)
    except ServiceError as error:
        print(f"crimewh serve up: {error}", file=sys.stderr)
        return 2
    return 0


def _down(args: argparse.Namespace) -> int:
    from crimewh_orchestration.service.server import down

    down(_settings())
    return 0


def _status(args: argparse.Namespace) -> int:
    from crimewh_orchestration.service.server import status

    print(json.dumps(status(_settings()), indent=2))
    return 0


def register(areas) -> None:
    address = argparse.ArgumentParser(add_help=False)
    address.add_argument(
        "--host",
        help="address to listen on (default $CRIMEWH_SERVICE_HOST, else 127.0.0.1; any "
        "other than a loopback one needs CRIMEWH_API_TOKEN)",
    )
    address.add_argument("--port", type=int, help="port (default $CRIMEWH_SERVICE_PORT, else 8000)")
    serve = areas.add_parser(
        "serve",
        parents=[address],
        help="the prediction API and CSV upload page (FastAPI; docs at /docs)",
        description="Serve the models: GET /health, /v1/models, POST /v1/models/NAME/predict, "
        "the upload page at / whose CSVs are scored by the chicago_csv_scoring DAG.",
    )
    serve.set_defaults(handler=_run)
    commands = serve.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", parents=[address], help="in the foreground (the default)"
                        ).set_defaults(handler=_run)  # fmt: skip
    commands.add_parser("up", parents=[address], help="in the background (make up)"
                        ).set_defaults(handler=_up)  # fmt: skip
    commands.add_parser("down", help="stop the background service").set_defaults(handler=_down)
    commands.add_parser("status", help="whether it runs, and where").set_defaults(handler=_status)
