"""`crimewh stack …`: the embedded PostgreSQL (and moto) stack."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _settings():
    from crimewh.settings import settings

    settings.cache_clear()  # `up` may have just written the stack's URLs
    return settings()


def _up(args: argparse.Namespace) -> int:
    from crimewh.warehouse import stack

    stack.up(_settings())
    print(json.dumps(stack.status(_settings()), indent=2))
    return 0


def _down(args: argparse.Namespace) -> int:
    from crimewh.warehouse import stack

    stack.down(_settings())
    return 0


def _status(args: argparse.Namespace) -> int:
    from crimewh.warehouse import stack

    print(json.dumps(stack.status(_settings()), indent=2))
    return 0


def _psql(args: argparse.Namespace) -> int:
    from crimewh.warehouse import stack

    role = stack.PIPELINE_ROLE if args.role == "pipeline" else stack.ANALYST_ROLE
    command, env = stack.psql_command(_settings(), role, args.passthrough)
    sys.stdout.flush()
    os.execve(command[0], command, env)  # psql takes over the terminal
    return 0  # not reached


def register(areas) -> None:
    stack = areas.add_parser(
        "stack",
        help="the embedded PostgreSQL (and moto S3) stack",
        description="Start, stop and inspect the embedded stack kept under the data folder.",
    )
    commands = stack.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "up", help="start PostgreSQL (and moto for s3:// lakes); create databases, schemas, roles"
    ).set_defaults(handler=_up)
    commands.add_parser("down", help="stop what `up` started").set_defaults(handler=_down)
    commands.add_parser(
        "status", help="the warehouse DSN (without secrets), the lake, what runs"
    ).set_defaults(handler=_status)
    psql = commands.add_parser(
        "psql",
        help="psql on the warehouse; extra arguments go to psql (e.g. -c 'select 1')",
    )
    psql.add_argument("--role", choices=("pipeline", "analyst"), default="pipeline")
    psql.set_defaults(handler=_psql, passthrough=[])
