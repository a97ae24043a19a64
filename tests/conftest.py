import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from crimewh.settings import Settings
from decoder.zipwriter import write_zip

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL_SAMPLE = SHARED / "reference" / "real_samples" / "nibrs_2021_sample_lines.txt"


@pytest.fixture(scope="session")
def sample_bytes() -> bytes:
    """14 real master-file lines of 2021, every record type; trailing blanks significant."""
    if not REAL_SAMPLE.exists():
        pytest.fail(f"{REAL_SAMPLE} is missing: the tests expect shared/ beside the checkout")
    return REAL_SAMPLE.read_bytes()


@pytest.fixture
def make_zip(tmp_path):
    """Write a one-member master-file zip into tmp_path and return its path."""

    def make(
        text: bytes,
        *,
        name: str = "nibrs-2021.zip",
        member: str = "2021_NIBRS_NATIONAL_MASTER_FILE_ENC.txt",
        deflate64: bool = False,
    ) -> Path:
        path = tmp_path / name
        write_zip(path, member, [text], deflate64=deflate64)
        return path

    return make


def read_rows(out: Path, segment: str) -> list[dict]:
    """Every part of a decoded segment, in file order."""
    return pq.read_table(out / segment).sort_by("line_number").to_pylist()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """One moto server for the whole session, spoken to over HTTP like any S3."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"moto server did not start on {endpoint}; see {log.name}")
            time.sleep(0.1)
    yield endpoint
    server.terminate()
    server.wait(timeout=10)
    log.close()


@dataclass(frozen=True)
class Warehouse:
    """The embedded stack the tests share: a real PostgreSQL over TCP with passwords."""

    settings: Settings  # warehouse_url set, a fresh data folder, a file:// lake
    url: str  # the pipeline role
    analyst_url: str
    admin_url: str  # the superuser, for tests that must look behind the roles


@pytest.fixture(scope="session")
def warehouse():
    """`crimewh stack up` once per session in a temporary data folder; `down` at the end.

    Not under pytest's own temporary folder: as root the server runs as another user, and
    pytest makes that folder private again whenever a second session starts, which would
    lock the server out of its own files.
    """
    from crimewh.warehouse import stack

    data_dir = Path(tempfile.mkdtemp(prefix="crimewh-test-warehouse-"))
    environ = {"CRIMEWH_DATA_DIR": str(data_dir)}
    stack.up(Settings.load(environ), echo=lambda _: None)
    settings = Settings.load(environ)
    state = stack.StackState.load(data_dir)
    yield Warehouse(
        settings=settings,
        url=settings.warehouse_url,
        analyst_url=state.url(stack.ANALYST_ROLE),
        admin_url=state.url(stack.SUPERUSER),
    )
    stack.down(settings, echo=lambda _: None)
    shutil.rmtree(data_dir, ignore_errors=True)
