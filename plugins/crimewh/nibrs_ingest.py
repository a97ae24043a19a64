"""One NIBRS year, end to end: the zip → decode → quality gate → lake → ``raw``.

The unit is a year. Every step replaces that year and nothing else, so running it twice, or
backfilling a year, gives the same warehouse. A year whose zip (by sha256) is already in
both the lake and the warehouse is skipped unless forced.

Safe to run twice at once and to kill at any point:
- one ingest of a year at a time, on any machine (a PostgreSQL advisory lock, see
  ``crimewh.warehouse.locks``); a second one waits and says for whom;
- the lake's new version is staged beside the old one and published only after the
  warehouse has committed it, so a failed or killed load leaves both on the old version;
  the one gap, a kill between the two commits, is found by the next run's skip check
  (``partition_disagreements``), which then reloads;
- the next run, holding the lock, clears what a killed one left: its staged lake files,
  its work folder, its ``running`` rows in ``raw._loads`` (marked ``abandoned``).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crimewh import failpoints
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
    import psycopg2

    from crimewh.warehouse.locks import PartitionBusyError, partition_lock

    partition = f"year={year}"
    try:
        with partition_lock(settings, SOURCE, partition, purpose=f"nibrs ingest {year}",
                            echo=echo):  # fmt: skip
            return _ingest_locked(settings, year, zip_path, force, before_load, echo)
    except PartitionBusyError as error:
        raise IngestError(str(error)) from None
    except psycopg2.OperationalError as error:  # before anything was touched
        from crimewh.settings import redact

        raise IngestError(
            f"cannot reach the warehouse at {redact(settings.warehouse_url)}: "
            f"{str(error).strip()}; start it (`crimewh stack up`) or fix CRIMEWH_WAREHOUSE_URL. "
            "Nothing was changed."
        ) from None


def _ingest_locked(settings, year, zip_path, force, before_load, echo) -> IngestResult:
    from crimewh.lake import Lake
    from crimewh.warehouse.loader import load_partitions
    from decoder import __version__
    from decoder.decode import decode_zip, segment_schemas

    partition = f"year={year}"
    lake = Lake.from_settings(settings)
    tables = [*segment_schemas(), QUARANTINE_TABLE]
    _clear_debris(settings, lake, year, tables, echo)
    work = Path(tempfile.mkdtemp(prefix=f"nibrs-{year}-", dir=_work_dir(settings)))
    try:
        zip_path = Path(zip_path) if zip_path else _fetch_from_landing(settings, year, work)
        if not zip_path.is_file():
            raise IngestError(f"{zip_path}: no such file")
        sha256 = _sha256(zip_path)
        result = IngestResult(year=year, zip=str(zip_path), sha256=sha256)

        if not force and _already_loaded(settings, lake, tables, partition, sha256, echo):
            echo(f"{year}: {zip_path.name} (sha256 {sha256[:12]}…) is already loaded; "
                 "skipping (use --force to reload)")  # fmt: skip
            result.skipped = True
            return result

        started = time.perf_counter()
        decoded = work / "decoded"
        echo(f"{year}: decoding {zip_path}")
        summary = decode_zip(
            zip_path, decoded, year=year,
            progress=lambda _: failpoints.reached(settings, "ingest.decode"),
        )  # fmt: skip
        result.quarantined = summary.quarantined
        result.seconds["decode"] = time.perf_counter() - started
        if before_load is not None:
            before_load(decoded, year)

        started = time.perf_counter()
        producer = f"nibrs-decode {__version__}"
        staged = {}
        for table in tables:
            folder = decoded / ("_quarantine" if table == QUARANTINE_TABLE else table)
            staged[table] = lake.stage_partition(
                SOURCE, table, partition, _parts(folder), source_sha256=sha256, producer=producer
            )
            failpoints.reached(settings, "lake.between_tables")
        result.seconds["lake"] = time.perf_counter() - started

        started = time.perf_counter()
        loads = load_partitions(settings, SOURCE, tables, partition, lake=lake, manifests=staged)
        result.rows = {load.table: load.rows for load in loads}
        result.seconds["load"] = time.perf_counter() - started
        failpoints.reached(settings, "ingest.before_publish")
        for manifest in staged.values():
            lake.publish(manifest)
        echo(f"{year}: loaded {sum(result.rows.values()):,} rows into raw.{SOURCE}_*, "
             f"published in the lake at {lake.url}/{SOURCE}/<table>/{partition}")  # fmt: skip
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _already_loaded(settings, lake, tables, partition, sha256, echo) -> bool:
    """True when the lake's published version and the warehouse's both come from this zip;
    a difference between them (a kill between the two commits) is named and reloaded."""
    from crimewh.lake import PartitionMissingError
    from crimewh.warehouse.loader import partition_disagreements

    try:
        published = {table: lake.manifest(SOURCE, table, partition) for table in tables}
    except PartitionMissingError:
        return False
    if any(manifest.source_sha256 != sha256 for manifest in published.values()):
        return False
    differences = partition_disagreements(settings, published, partition)
    if differences:
        echo(f"{partition}: the lake and the warehouse disagree, reloading: "
             + "; ".join(differences))  # fmt: skip
    return not differences


def _clear_debris(settings, lake, year: int, tables: list[str], echo) -> None:
    """What killed runs of this year left: staged lake files and work folders. Called with
    the year's lock held, so nothing found here belongs to a live run."""
    from crimewh.warehouse.loader import mark_abandoned_loads

    abandoned = mark_abandoned_loads(settings)
    swept = sum(lake.sweep(SOURCE, table, f"year={year}") for table in tables)
    folders = list(_work_dir(settings).glob(f"nibrs-{year}-*"))
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    if swept or folders or abandoned:
        echo(f"{year}: cleared what killed runs left: {swept} staged lake files, "
             f"{len(folders)} work folders, {abandoned} loads marked abandoned")  # fmt: skip


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
