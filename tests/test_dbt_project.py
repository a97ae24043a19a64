"""The dbt project without a database: connection settings, the CLI, and what `dbt parse`
says about the models (documentation, tests on keys, contracts, schemas, seeds)."""

import csv
import json
import re
import subprocess
import sys

import pytest

from crimewh.dbt import dbt_env, run_dbt
from crimewh.settings import Settings, SettingsError, project_dir

PROJECT_DIR = project_dir() / "dbt_project"

SCHEMAS = {"staging", "intermediate", "marts", "ref"}


def settings_with(url: str | None, **extra: str) -> Settings:
    environ = {"CRIMEWH_DATA_DIR": "/tmp/crimewh-dbt-test", **extra}
    if url:
        environ["CRIMEWH_WAREHOUSE_URL"] = url
    return Settings.load(environ)


def test_dbt_env_takes_the_warehouse_url_apart(monkeypatch):
    monkeypatch.delenv("CRIMEWH_DBT_TARGET", raising=False)
    monkeypatch.delenv("PGOPTIONS", raising=False)
    env = dbt_env(settings_with("postgresql://crimewh:s%40cr%3At@127.0.0.1:54321/warehouse"))
    assert env == {
        "CRIMEWH_PG_HOST": "127.0.0.1",
        "CRIMEWH_PG_PORT": "54321",
        "CRIMEWH_PG_USER": "crimewh",
        "CRIMEWH_PG_PASSWORD": "s@cr:t",  # percent-encoded in the URL
        "CRIMEWH_PG_DBNAME": "warehouse",
        "CRIMEWH_DBT_TARGET": "embedded",
        # the build session's memory for sorts and index builds (crimewh.dbt.BUILD_SESSION)
        "PGOPTIONS": "-c work_mem=256MB -c maintenance_work_mem=512MB",
    }


def test_dbt_env_remote_host_socket_and_sslmode(monkeypatch):
    monkeypatch.delenv("CRIMEWH_DBT_TARGET", raising=False)
    remote = dbt_env(settings_with("postgresql://me@db.example.org/crime?sslmode=require"))
    assert remote["CRIMEWH_DBT_TARGET"] == "remote"
    assert (remote["CRIMEWH_PG_HOST"], remote["CRIMEWH_PG_PORT"]) == ("db.example.org", "5432")
    assert remote["CRIMEWH_PG_SSLMODE"] == "require"
    assert remote["CRIMEWH_PG_PASSWORD"] == ""

    socket = dbt_env(settings_with("postgresql://postgres@/warehouse?host=/run/pg&port=6543"))
    assert socket["CRIMEWH_PG_HOST"] == "/run/pg"
    assert socket["CRIMEWH_PG_PORT"] == "6543"
    assert socket["CRIMEWH_DBT_TARGET"] == "embedded"

    chosen = settings_with("postgresql://u@localhost/w", CRIMEWH_DBT_TARGET="remote")
    assert dbt_env(chosen)["CRIMEWH_DBT_TARGET"] == "remote"


def test_dbt_env_explains_what_is_wrong():
    with pytest.raises(SettingsError, match="CRIMEWH_WAREHOUSE_URL"):
        dbt_env(settings_with(None))
    with pytest.raises(SettingsError, match="names no database"):
        dbt_env(settings_with("postgresql://u:p@127.0.0.1:5432"))
    with pytest.raises(SettingsError, match=r"postgresql://") as error:
        dbt_env(settings_with("mysql://u:secret@127.0.0.1/w"))
    assert "secret" not in str(error.value)


def test_crimewh_dbt_without_arguments_shows_usage():
    run = subprocess.run(
        [sys.executable, "-m", "crimewh_orchestration.cli", "dbt"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert "usage: crimewh dbt <dbt arguments>" in run.stderr


def test_crimewh_dbt_passes_arguments_through_to_dbt(tmp_path):
    env = {"CRIMEWH_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "crimewh_orchestration.cli", "dbt", "--version"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "installed: 1.11" in run.stdout  # dbt's own --version, not argparse's


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """`dbt parse` needs no database: the profile's defaults are enough."""
    target = tmp_path_factory.mktemp("dbt-parse")
    run_dbt(
        ["parse", "--quiet"],
        settings_with(None),
        capture=True,
        env={"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target / "logs")},
    )
    return json.loads((target / "manifest.json").read_text())


def nodes(manifest, resource_type: str) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == resource_type]


def generic_tests_on(manifest, node_id: str) -> dict[str, set[str]]:
    """column -> names of the generic tests attached to it."""
    found: dict[str, set[str]] = {}
    for test in nodes(manifest, "test"):
        if test.get("attached_node") == node_id and test.get("test_metadata"):
            column = test.get("column_name") or ""
            found.setdefault(column, set()).add(test["test_metadata"]["name"])
    return found


def test_models_land_in_exactly_the_warehouse_schemas(manifest):
    schemas = {n["schema"] for n in nodes(manifest, "model") + nodes(manifest, "seed")}
    assert schemas == SCHEMAS
    for node in nodes(manifest, "model"):
        layer = node["fqn"][1]
        assert node["schema"] == layer, node["name"]
    assert all(n["schema"] == "ref" for n in nodes(manifest, "seed"))


def _key_columns(node: dict) -> set[str]:
    """The columns of the model's primary key constraint (model- or column-level)."""
    keys = {c for constraint in node.get("constraints", []) if constraint["type"] == "primary_key"
            for c in constraint.get("columns", [])}  # fmt: skip
    keys |= {
        name
        for name, column in node["columns"].items()
        if any(c["type"] == "primary_key" for c in column.get("constraints", []))
    }
    return keys


def _stored_marts(manifest) -> list[dict]:
    return [
        n
        for n in nodes(manifest, "model")
        if n["schema"] == "marts" and n["config"]["materialized"] != "view"
    ]


def test_every_model_is_documented_and_every_marts_key_guarded(manifest):
    """Every model says what it is; every stored mart's key is a primary key (PostgreSQL
    refuses a duplicate as it is written) or has unique tests. Staging views carry no key
    tests of their own: each is read once, by a mart whose key guards what it passes on."""
    for node in nodes(manifest, "model"):
        assert node["description"].strip(), f"{node['name']} has no description"
        assert node["columns"], f"{node['name']} documents no column"
    for node in _stored_marts(manifest):
        attached = generic_tests_on(manifest, node["unique_id"])
        tested = "unique_combination" in attached.get("", set()) or any(
            {"unique", "not_null"} <= tests for tests in attached.values()
        )
        assert _key_columns(node) or tested, f"{node['name']}: its key is unguarded"


def test_marts_have_enforced_contracts_and_documented_typed_columns(manifest):
    marts = {n["name"]: n for n in nodes(manifest, "model") if n["schema"] == "marts"}
    assert set(marts) >= {
        "fct_nibrs_incidents",
        "fct_nibrs_offenses",
        "fct_nibrs_victims",
        "fct_nibrs_offenders",
        "fct_nibrs_arrestees",
        "fct_nibrs_properties",
        "fct_nibrs_victim_offender_relationships",
        "fct_nibrs_group_b_arrests",
        "dim_nibrs_agencies",
        "fct_nibrs_agency_months",
        "fct_nibrs_agency_years",
        "agg_nibrs_agency_year_offenses",
        "fct_chicago_crimes",
        "agg_chicago_arrests",
        "agg_chicago_type_hours",
        "fct_nibrs_incidents_labelled",
    }
    # one naming scheme: fct_ facts, dim_ dimensions, agg_ aggregates, *_labelled views
    assert all(re.match(r"^(fct|dim|agg)_(nibrs|chicago)_", name) for name in marts), sorted(marts)
    for node in _stored_marts(manifest):
        assert node["config"]["contract"]["enforced"], node["name"]
        for column in node["columns"].values():
            assert column["data_type"], f"{node['name']}.{column['name']} has no data_type"
            assert column["description"].strip(), f"{node['name']}.{column['name']}"
    for name, node in marts.items():
        if name.endswith("_labelled"):
            assert node["config"]["materialized"] == "view", name
            assert all(c["description"].strip() for c in node["columns"].values()), name


def test_nibrs_marts_are_year_partitions_and_chicago_marts_replace_a_batch(manifest):
    marts = {n["name"]: n for n in _stored_marts(manifest)}
    for name, node in marts.items():
        config = node["config"]
        if name.startswith(("fct_nibrs_", "agg_nibrs_")):
            assert config["materialized"] == "year_partitions", name
            keys = _key_columns(node)
            assert not keys or "data_year" in keys, f"{name}: a partition's key holds its year"
        elif name.startswith("dim_"):
            assert config["materialized"] == "table", name
        else:
            assert config["materialized"] == "incremental", name
            assert config["incremental_strategy"] == "delete+insert", name
    assert marts["fct_chicago_crimes"]["config"]["unique_key"] == "id"
    assert marts["agg_chicago_arrests"]["config"]["unique_key"] == "year"


def test_ml_feature_columns_are_stable(manifest):
    """The clearance and arrest models read these by name (ml/)."""
    columns = {n["name"]: set(n["columns"]) for n in nodes(manifest, "model")}
    incidents = columns["fct_nibrs_incidents"] | columns["fct_nibrs_incidents_labelled"]
    assert {
        "incident_key",
        "data_year",
        "state_abbreviation",
        "population_group",
        "primary_offense_code",
        "primary_crime_against",
        "location_type_code",
        "has_weapon",
        "offense_count",
        "victim_count",
        "offender_count",
        "has_unknown_offender",
        "incident_hour",
        "incident_day_of_week",
        "incident_month",
        "clearance_outcome",
        "days_to_clearance",
        "source_loaded_at",
    } <= incidents
    assert {
        "id",
        "year",
        "district",
        "community_area",
        "ward",
        "beat",
        "primary_type",
        "fbi_code",
        "hour",
        "day_of_week",
        "month",
        "quarter",
        "is_night",
        "is_weekend",
        "domestic",
        "location_group",
        "is_arrest_generated",
        "arrest",
    } <= columns["fct_chicago_crimes"]


def test_every_seed_column_has_an_explicit_type(manifest):
    for node in nodes(manifest, "seed"):
        header = next(csv.reader((PROJECT_DIR / node["original_file_path"]).open()))
        assert set(header) == set(node["config"]["column_types"]), node["name"]
        assert node["description"].strip(), node["name"]


def test_location_groups_seed_keeps_the_seed_systems_fifteen_groups():
    path = PROJECT_DIR / "seeds" / "chicago" / "chicago_location_groups.csv"
    rows = list(csv.DictReader(path.open()))
    seed_system = [r for r in rows if r["mapping_source"] == "seed system"]
    assert len(seed_system) == 140  # location_description.json of the seed system
    assert len({r["location_group"] for r in seed_system}) == 15
    assert len({r["location_description"] for r in rows}) == len(rows)
    assert {r["location_group"] for r in rows} == {r["location_group"] for r in seed_system}
