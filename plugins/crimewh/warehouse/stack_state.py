"""What a data folder's embedded stack keeps between runs: ``<data>/stack/stack.json``.

Its own module, below both the settings (which read the stack's URLs from it when no
warehouse is configured) and the stack (which writes it), so neither imports the other.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The roles: the pipeline owns every schema; the analyst reads the published ones.
PIPELINE_ROLE = "crimewh"
ANALYST_ROLE = "analyst"
AIRFLOW_ROLE = "airflow"
SUPERUSER = "postgres"
WAREHOUSE_DB = "warehouse"
AIRFLOW_DB = "airflow"
SCHEMAS = ("raw", "staging", "intermediate", "ref", "marts", "ml", "audit")
ANALYST_SCHEMAS = ("marts", "ml")


@dataclass
class StackState:
    """What ``stack.json`` keeps between runs."""

    postgres_port: int
    passwords: dict[str, str] = field(default_factory=dict)
    moto_port: int | None = None
    moto_pid: int | None = None

    @staticmethod
    def path(data_dir: Path) -> Path:
        return data_dir / "stack" / "stack.json"

    @classmethod
    def load(cls, data_dir: Path) -> StackState | None:
        path = cls.path(data_dir)
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, data_dir: Path) -> None:
        path = self.path(data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        # created 0600 whatever umask, a leftover .tmp, or its old mode: it holds passwords
        tmp.unlink(missing_ok=True)
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    def url(self, role: str = PIPELINE_ROLE, database: str = WAREHOUSE_DB) -> str:
        return (
            f"postgresql://{role}:{self.passwords[role]}@127.0.0.1:{self.postgres_port}/{database}"
        )


def warehouse_url(data_dir: Path, role: str = PIPELINE_ROLE) -> str | None:
    """The embedded warehouse's URL for ``role``, if this data folder has a stack."""
    state = StackState.load(data_dir)
    return state.url(role) if state else None
