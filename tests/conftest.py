from pathlib import Path

import pyarrow.parquet as pq
import pytest

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
