"""One NIBRS year, end to end: the zip → decode → quality gate → lake → ``raw``.

The unit is a year. Every step replaces that year and nothing else, so running it twice, or
backfilling a year, gives the same warehouse. A year whose zip (by sha256) is already loaded
is skipped unless forced.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crimewh.settings import Settings

SOURCE = "nibrs"
QUARANTINE_TABLE = "quarantine"  # undecodable records, kept with their reasons
FIRST_YEAR = 1991  # the first year the FBI published a NIBRS master file


class IngestError(Exception):
    """The year could not be ingested; the message says why and what to do."""


@dataclass
class IngestResult:
    year: int
    zip: str
    sha256: str
    skipped: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "year": self.year, "zip": self.zip, "sha256": self.sha256, "skipped": self.skipped,
            "rows": self.rows, "quarantined": self.quarantined,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }  # fmt: skip


def zip_name(year: int) -> str:
    return f"nibrs-{year}.zip"


def ingest_year(
    settings: Settings,
    year: int,
    zip_path: Path | None = None,
    *,
    force: bool = False,
    before_load: Callable[[Path, int], None] | None = None,
    echo: Callable[[str], None] = print,
) -> IngestResult:
    """Ingest one year; ``before_load(decoded_dir, year)`` may raise to stop bad data."""
    from crimewh.lake import Lake
    from crimewh.warehouse.loader import load_partitions, loaded_sha256s
    from decoder import __version__
    from decoder.decode import decode_zip, segment_schemas

    partition = f"year={year}"
    work = Path(tempfile.mkdtemp(prefix=f"nibrs-{year}-", dir=_work_dir(settings)))
    try:
        zip_path = Path(zip_path) if zip_path else _fetch_from_landing(settings, year, work)
        if not zip_path.is_file():
            raise IngestError(f"{zip_path}: no such file")
        sha256 = _sha256(zip_path)
        result = IngestResult(year=year, zip=str(zip_path), sha256=sha256)
        segments = list(segment_schemas())

        if not force:
            loaded = loaded_sha256s(settings, SOURCE, partition)
            if segments and all(loaded.get(segment) == sha256 for segment in segments):
                echo(f"{year}: {zip_path.name} (sha256 {sha256[:12]}…) is already loaded; "
                     "skipping (use --force to reload)")  # fmt: skip
                result.skipped = True
                return result

        started = time.perf_counter()
        decoded = work / "decoded"
        echo(f"{year}: decoding {zip_path}")
        summary = decode_zip(zip_path, decoded, year=year)
        result.quarantined = summary.quarantined
        result.seconds["decode"] = time.perf_counter() - started
        if before_load is not None:
            before_load(decoded, year)

        started = time.perf_counter()
        lake = Lake.from_settings(settings)
        producer = f"nibrs-decode {__version__}"
        tables = [*segments, QUARANTINE_TABLE]
        for table in segments:
            lake.put_partition(SOURCE, table, partition, _parts(decoded / table),
                               source_sha256=sha256, producer=producer)  # fmt: skip
        lake.put_partition(SOURCE, QUARANTINE_TABLE, partition, _parts(decoded / "_quarantine"),
                           source_sha256=sha256, producer=producer)  # fmt: skip
        result.seconds["lake"] = time.perf_counter() - started
        echo(f"{year}: in the lake at {lake.url}/{SOURCE}/<table>/{partition}")

        started = time.perf_counter()
        loads = load_partitions(settings, SOURCE, tables, partition, lake=lake)
        result.rows = {load.table: load.rows for load in loads}
        result.seconds["load"] = time.perf_counter() - started
        echo(f"{year}: loaded {sum(result.rows.values()):,} rows into raw.{SOURCE}_*")
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def landing_years(settings: Settings) -> list[int]:
    """The years with a ``nibrs-YYYY.zip`` in the landing area (loaded or not)."""
    from crimewh.lake import Lake

    landing = Lake(settings.landing_url, s3_endpoint_url=settings.s3_endpoint_url)
    return sorted(int(name[6:10]) for name in _landing_zips(landing))


def _landing_zips(landing) -> list[str]:
    import re

    from pyarrow import fs

    infos = landing.fs.get_file_info(fs.FileSelector(landing.root, allow_not_found=True))
    pattern = re.compile(r"^nibrs-(\d{4})\.zip$")
    return [info.base_name for info in infos if pattern.match(info.base_name)]


def _fetch_from_landing(settings: Settings, year: int, work: Path) -> Path:
    """The year's zip from the landing area: a local path as is, an S3 object downloaded."""
    from crimewh.lake import Lake

    landing = Lake(settings.landing_url, s3_endpoint_url=settings.s3_endpoint_url)
    source = f"{landing.root}/{zip_name(year)}"
    if settings.landing_url.startswith("file://"):
        path = Path(source)
        if not path.exists():
            raise IngestError(
                f"no {zip_name(year)} in the landing area {settings.landing_url}: put the FBI "
                f"file there, or pass --zip PATH"
            )
        return path
    local = work / zip_name(year)
    try:
        _download(landing.fs, source, local)
    except FileNotFoundError:
        raise IngestError(
            f"no {zip_name(year)} in the landing area {settings.landing_url}: upload the FBI "
            "file there, or pass --zip PATH"
        ) from None
    return local


def _download(filesystem, source: str, local: Path) -> None:
    with filesystem.open_input_stream(source) as src, local.open("wb") as dst:
        while chunk := src.read(16 << 20):
            dst.write(chunk)


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _work_dir(settings: Settings) -> Path:
    work = settings.data_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    return work
