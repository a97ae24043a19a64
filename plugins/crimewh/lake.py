"""The lake: Parquet partitions in a local folder or in S3, each either complete or absent.

Layout: ``<lake>/<source>/<table>/<partition>/`` holding ``part-<run>-<n>.parquet`` files and
a ``_manifest.json`` written last. The manifest lists the partition's files; readers take
only those, so files a failed write left behind are never read.

Replacing a partition is two steps. ``stage_partition`` writes the new files beside the old
ones and returns their manifest without publishing it: readers still see the old version.
``publish`` then writes the manifest (an atomic rename, or one S3 PUT) and deletes the files
it does not list. A NIBRS ingest publishes only after the warehouse has committed the same
files, so a load that fails or is killed leaves the lake and the warehouse on the same
version; ``sweep`` removes what such a run staged. ``put_partition`` does both steps at once.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

MANIFEST = "_manifest.json"
EMBEDDED_S3_KEY = "crimewh-embedded"  # moto accepts any credentials
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PARTITION = re.compile(r"^[a-z_]+=[A-Za-z0-9_.:-]+$")


class LakeError(Exception):
    """The lake cannot do what was asked; the message says what and where."""


class PartitionMissingError(LakeError):
    """The partition has no manifest: it was never written, or not to the end."""


@dataclass(frozen=True)
class Manifest:
    source: str
    table: str
    partition: str
    files: list[str]  # names within the partition folder
    rows: int
    source_sha256: str  # of the file the partition was made from (a zip, a pull batch)
    producer: str  # what wrote it, with its version: "nibrs-decode 0.1.0"
    written_at: str  # ISO 8601, UTC


class Lake:
    def __init__(self, url: str, *, s3_endpoint_url: str | None = None, embedded_s3: bool = False):
        self.url = url.rstrip("/")
        self.s3_endpoint_url = s3_endpoint_url  # kept for lakes next to this one (the landing)
        parts = urlsplit(self.url)
        if parts.scheme == "s3":
            self.fs = _s3_filesystem(s3_endpoint_url, embedded=embedded_s3)
            self.root = f"{parts.netloc}{parts.path}"
        elif parts.scheme == "file":
            self.fs = fs.LocalFileSystem()
            self.root = parts.path
        else:
            raise LakeError(f"lake URL {url!r}: use file:///path or s3://bucket/prefix")

    @classmethod
    def from_settings(cls, settings) -> Lake:
        return cls(
            settings.lake_url,
            s3_endpoint_url=settings.s3_endpoint_url,
            embedded_s3=settings.embedded_s3,
        )

    # -- writing -----------------------------------------------------------------------------
    def put_partition(
        self,
        source: str,
        table: str,
        partition: str,
        files: list[Path],
        *,
        source_sha256: str,
        producer: str,
    ) -> Manifest:
        """Replace a partition with ``files`` (local Parquet files) and publish it."""
        manifest = self.stage_partition(
            source, table, partition, files, source_sha256=source_sha256, producer=producer
        )
        self.publish(manifest)
        return manifest

    def stage_partition(
        self,
        source: str,
        table: str,
        partition: str,
        files: list[Path],
        *,
        source_sha256: str,
        producer: str,
    ) -> Manifest:
        """Write ``files`` beside the partition's current version; readers don't see them yet."""
        folder = self._folder(source, table, partition)
        self.fs.create_dir(folder, recursive=True)
        run = uuid.uuid4().hex[:12]
        names, rows = [], 0
        for n, local in enumerate(files):
            name = f"part-{run}-{n}.parquet"
            rows += pq.ParquetFile(local).metadata.num_rows
            with (
                Path(local).open("rb") as src,
                self.fs.open_output_stream(f"{folder}/{name}") as dst,
            ):
                while chunk := src.read(8 << 20):
                    dst.write(chunk)
            names.append(name)
        return Manifest(
            source=source, table=table, partition=partition, files=names, rows=rows,
            source_sha256=source_sha256, producer=producer,
            written_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )  # fmt: skip

    def publish(self, manifest: Manifest) -> None:
        """Make a staged version the partition's current one, then delete every other file."""
        folder = self._folder(manifest.source, manifest.table, manifest.partition)
        self._write_manifest(folder, manifest)
        self._delete_unlisted(folder, manifest.files)

    def sweep(self, source: str, table: str, partition: str) -> int:
        """Delete what unfinished writes left in a partition (files its manifest does not
        list); the number deleted. Only for a caller that holds the partition's lock, since
        another run's staged files look the same."""
        folder = self._folder(source, table, partition)
        try:
            listed = self.manifest(source, table, partition).files
        except PartitionMissingError:
            listed = []
        return self._delete_unlisted(folder, listed)

    def _delete_unlisted(self, folder: str, keep: list[str]) -> int:
        keep_paths = {f"{folder}/{name}" for name in [*keep, MANIFEST]}
        stale = [path for path in self._listing(folder) if path not in keep_paths]
        for path in stale:
            self._delete(path)
        return len(stale)

    def _write_manifest(self, folder: str, manifest: Manifest) -> None:
        body = json.dumps(asdict(manifest), indent=2).encode()
        if isinstance(self.fs, fs.LocalFileSystem):  # a rename makes it appear whole
            tmp = f"{folder}/.{MANIFEST}.{uuid.uuid4().hex}"
            with self.fs.open_output_stream(tmp) as out:
                out.write(body)
            self.fs.move(tmp, f"{folder}/{MANIFEST}")
        else:  # an S3 PUT is atomic already
            with self.fs.open_output_stream(f"{folder}/{MANIFEST}") as out:
                out.write(body)

    # -- reading -----------------------------------------------------------------------------
    def manifest(self, source: str, table: str, partition: str) -> Manifest:
        folder = self._folder(source, table, partition)
        try:
            with self.fs.open_input_stream(f"{folder}/{MANIFEST}") as stream:
                return Manifest(**json.loads(stream.read()))
        except FileNotFoundError:
            where = f"{self.url}/{source}/{table}/{partition}"
            state = "holds files but no manifest" if self._listing(folder) else "does not exist"
            raise PartitionMissingError(
                f"lake partition {where} {state}: it was never written to the end; "
                "write it again (for NIBRS: crimewh nibrs ingest --year …)"
            ) from None

    def partition_files(self, manifest: Manifest) -> list[str]:
        folder = self._folder(manifest.source, manifest.table, manifest.partition)
        paths = [f"{folder}/{name}" for name in manifest.files]
        for path in paths:
            if self.fs.get_file_info(path).type != fs.FileType.File:
                raise LakeError(
                    f"lake partition {self.url}/{manifest.source}/{manifest.table}/"
                    f"{manifest.partition} lists {path.rsplit('/', 1)[-1]}, which is gone; "
                    "write the partition again"
                )
        return paths

    def read(self, source: str, table: str, partition: str) -> pa.Table:
        manifest = self.manifest(source, table, partition)
        files = self.partition_files(manifest)
        if not files:
            return pa.table({})
        return pq.ParquetDataset(files, filesystem=self.fs).read()

    def partitions(self, source: str, table: str) -> list[str]:
        """The complete partitions of a table, sorted."""
        base = f"{self.root}/{_checked(source)}/{_checked(table)}"
        found = self.fs.get_file_info(fs.FileSelector(base, allow_not_found=True))
        complete = []
        for info in found:
            if info.type == fs.FileType.Directory:
                marker = self.fs.get_file_info(f"{info.path}/{MANIFEST}")
                if marker.type == fs.FileType.File:
                    complete.append(info.base_name)
        return sorted(complete)

    # -- helpers -----------------------------------------------------------------------------
    def _folder(self, source: str, table: str, partition: str) -> str:
        if not _PARTITION.match(partition):
            raise LakeError(f"partition {partition!r} must look like key=value, e.g. year=2021")
        return f"{self.root}/{_checked(source)}/{_checked(table)}/{partition}"

    def _listing(self, folder: str) -> list[str]:
        infos = self.fs.get_file_info(fs.FileSelector(folder, allow_not_found=True))
        return [i.path for i in infos if i.type == fs.FileType.File]

    def _delete(self, path: str) -> None:
        if self.fs.get_file_info(path).type == fs.FileType.File:
            self.fs.delete_file(path)


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise LakeError(f"{name!r} is not a lake source or table name (lower_snake_case)")
    return name


def _s3_filesystem(endpoint_url: str | None, *, embedded: bool = False) -> fs.S3FileSystem:
    """S3, or an S3-compatible endpoint; keys come from the usual AWS_* environment.

    The embedded stack's moto server takes any keys, so it gets fixed ones rather than
    sending pyarrow on a search of the machine's AWS configuration.
    """
    options = {"region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
               or "us-east-1"}  # fmt: skip
    if embedded and not os.environ.get("AWS_ACCESS_KEY_ID"):
        options.update(access_key=EMBEDDED_S3_KEY, secret_key=EMBEDDED_S3_KEY)
    if endpoint_url:
        endpoint = urlsplit(endpoint_url if "//" in endpoint_url else f"http://{endpoint_url}")
        options.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme or "http")
    return fs.S3FileSystem(**options)
