"""The lake in a local folder and over the S3 API (a real moto server on loopback)."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from crimewh.lake import Lake, LakeError, PartitionMissingError
from crimewh.settings import Settings, SettingsError, redact

BUCKET = "crime-lake"


@pytest.fixture(params=["file", "s3"])
def lake(request, tmp_path, monkeypatch):
    if request.param == "file":
        return Lake(f"file://{tmp_path / 'lake'}")
    endpoint = request.getfixturevalue("s3_endpoint")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    prefix = f"{BUCKET}/{tmp_path.name}"
    admin = fs.S3FileSystem(
        endpoint_override=endpoint.removeprefix("http://"), scheme="http",
        region="us-east-1", allow_bucket_creation=True,
    )  # fmt: skip
    admin.create_dir(BUCKET)
    return Lake(f"s3://{prefix}", s3_endpoint_url=endpoint)


def parquet_files(tmp_path: Path, *row_counts: int) -> list[Path]:
    paths = []
    for n, rows in enumerate(row_counts):
        path = tmp_path / f"input-{n}-{rows}.parquet"
        pq.write_table(pa.table({"line_number": list(range(rows)), "v": ["x"] * rows}), path)
        paths.append(path)
    return paths


def test_partition_round_trip(lake, tmp_path):
    manifest = lake.put_partition(
        "nibrs", "offense", "year=2021", parquet_files(tmp_path, 3, 2),
        source_sha256="ab" * 32, producer="nibrs-decode 0.1.0",
    )  # fmt: skip
    assert manifest.rows == 5
    assert len(manifest.files) == 2
    assert lake.manifest("nibrs", "offense", "year=2021") == manifest
    assert lake.read("nibrs", "offense", "year=2021").num_rows == 5
    assert lake.partitions("nibrs", "offense") == ["year=2021"]


def test_rewrite_replaces_the_partition_whole(lake, tmp_path):
    lake.put_partition("nibrs", "victim", "year=2020", parquet_files(tmp_path, 4, 4, 4),
                       source_sha256="1" * 64, producer="p")  # fmt: skip
    second = lake.put_partition("nibrs", "victim", "year=2020", parquet_files(tmp_path, 7),
                                source_sha256="2" * 64, producer="p")  # fmt: skip
    assert lake.read("nibrs", "victim", "year=2020").num_rows == 7
    assert lake.manifest("nibrs", "victim", "year=2020").source_sha256 == "2" * 64
    assert len(second.files) == 1


def test_a_partition_without_manifest_reads_as_absent(lake, tmp_path):
    lake.put_partition("nibrs", "arrestee", "year=2019", parquet_files(tmp_path, 2),
                       source_sha256="3" * 64, producer="p")  # fmt: skip
    folder = lake._folder("nibrs", "arrestee", "year=2019")
    lake.fs.delete_file(f"{folder}/_manifest.json")  # as if the writer died before the end
    with pytest.raises(PartitionMissingError, match=r"year=2019 holds files but no manifest"):
        lake.read("nibrs", "arrestee", "year=2019")
    assert lake.partitions("nibrs", "arrestee") == []
    with pytest.raises(PartitionMissingError, match=r"year=1999 does not exist"):
        lake.manifest("nibrs", "arrestee", "year=1999")


def test_a_file_missing_under_its_manifest_is_reported(lake, tmp_path):
    manifest = lake.put_partition("chicago", "crimes", "batch=20261121T0000",
                                  parquet_files(tmp_path, 1, 1),
                                  source_sha256="4" * 64, producer="p")  # fmt: skip
    folder = lake._folder("chicago", "crimes", "batch=20261121T0000")
    lake.fs.delete_file(f"{folder}/{manifest.files[1]}")
    with pytest.raises(LakeError, match=r"lists part-.*\.parquet, which is gone"):
        lake.read("chicago", "crimes", "batch=20261121T0000")


def test_names_are_checked(lake, tmp_path):
    with pytest.raises(LakeError, match="key=value"):
        lake.manifest("nibrs", "offense", "../../etc")
    with pytest.raises(LakeError, match="lower_snake_case"):
        lake.manifest("NIBRS", "offense", "year=2021")


def test_settings_defaults_environment_and_redaction(tmp_path):
    config = tmp_path / "crimewh.yml"
    config.write_text("data_dir: data\nlake: lake\nlanding: landing\n")
    env = {"CRIMEWH_DATA_DIR": str(tmp_path / "d")}
    settings = Settings.load(env, config)
    assert settings.data_dir == tmp_path / "d"
    assert settings.lake_url == f"file://{tmp_path / 'd' / 'lake'}"
    assert settings.landing_url == f"file://{tmp_path / 'd' / 'landing'}"
    with pytest.raises(SettingsError, match="set CRIMEWH_WAREHOUSE_URL"):
        settings.require_warehouse_url()

    env |= {
        "CRIMEWH_LAKE_URL": "s3://bucket/warehouse/",
        "CRIMEWH_WAREHOUSE_URL": "postgresql://pipeline:s3cret@db.example:5432/crime",
        "CRIMEWH_S3_ENDPOINT_URL": "http://127.0.0.1:5055",
    }
    settings = Settings.load(env, config)
    assert settings.lake_url == "s3://bucket/warehouse"
    assert "s3cret" not in repr(settings)
    assert "postgresql://pipeline:***@db.example:5432/crime" in str(settings)
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(SettingsError, match="names no bucket"):
        Settings.load({"CRIMEWH_LAKE_URL": "s3://"}, config)
    with pytest.raises(SettingsError, match="only file:// and s3://"):
        Settings.load({"CRIMEWH_LANDING_URL": "ftp://x/y"}, config)
