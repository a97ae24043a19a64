"""`crimewh cluster …`: the multi-machine topology as processes here (`make up-cluster`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _root(args: argparse.Namespace) -> Path:
    if args.root:
        return args.root
    from crimewh.settings import settings

    return settings().data_dir / "cluster"


def _up(args: argparse.Namespace) -> int:
    from crimewh_orchestration import cluster

    root = _root(args)
    state = cluster.up(root, workers=args.workers)
    password = (
        cluster.control_dir(root) / "airflow" / "simple_auth_manager_passwords.json.generated"
    )
    print(
        f"\nThe cluster is up: {state.api_url} (login: admin, password in {password})\n"
        f"workers: {', '.join(state.workers)}; logs in {root / 'logs'}\n"
        "Stop it with `make down-cluster`."
    )
    return 0


def _down(args: argparse.Namespace) -> int:
    from crimewh_orchestration import cluster

    cluster.down(_root(args))
    return 0


def _status(args: argparse.Namespace) -> int:
    from crimewh_orchestration import cluster

    print(json.dumps(cluster.status(_root(args)), indent=2))
    return 0


def register(areas) -> None:
    parser = areas.add_parser(
        "cluster",
        help="Airflow with Celery workers, Redis, PostgreSQL and S3, here (make up-cluster)",
    )
    parser.add_argument(
        "--root", type=Path, default=None, help="the cluster's folder (default: <data>/cluster)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="start the whole topology; each worker a 'machine'")
    up.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    up.set_defaults(handler=_up)
    commands.add_parser("down", help="stop every process and the embedded stack").set_defaults(
        handler=_down
    )
    commands.add_parser("status", help="what runs, where the API is").set_defaults(handler=_status)
