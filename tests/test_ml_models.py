"""Training, the registry, batch scoring and the CSV scorer against a real PostgreSQL.

The marts here are small stand-ins with the columns the dbt YAMLs document, in a schema of
their own (so that dbt's real ``marts`` are not disturbed), and a lake of their own (so the
registry starts empty). Chicago rows come from the project's generator, brought into the
mart's shape through the same code that reads a user's CSV; NIBRS incidents come from a
small multinomial-logit generator below. Both record each row's true probability, so the
models can be held against the oracle. The stand-ins keep the leaky columns with their
real meaning (arrestee counts, clearance dates, ``updated_on``): a model that used them
would beat the oracle, which the tests forbid.
"""

import csv
import dataclasses
import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from crimewh.lake import Lake
from crimewh.settings import project_dir
from crimewh_orchestration.workspace import ml_workspace
from ml.csv_scoring import score_csv
from ml.db import connect, query
from ml.features import arrest_spec, chicago_seeds, chicago_source_features
from ml.registry import Registry
from ml.score import score
from ml.train import TrainConfig, due_reason, is_due, train
from testkit.chicago_synth import synthesize

SCHEMA = "ml_test_marts"
DROP_SCORES = tuple(
    f"drop table if exists ml.{table} cascade"
    for model in ("arrest", "clearance")
    for table in (f"{model}_scores", f"{model}_score_partitions")
)
LOADED_AT = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)


# -- stand-in marts ------------------------------------------------------------------------------
def nibrs_incidents(n: int = 10_000, seed: int = 1) -> tuple[pa.Table, pa.Table]:
    """Incidents of 2021-2022 with a known clearance model, and the truth table."""
    rng = np.random.default_rng(seed)
    states = {"MO": ("2", "4"), "TX": ("3", "9E"), "WI": ("2", "5"), "VT": ("1", "8A")}
    agencies = [(f"{s}00{k:02d}000", s) for s in states for k in range(10)]
    agency_effect = rng.normal(0, 0.5, (len(agencies), 2))
    codes = np.array(["13A", "13B", "220", "23H", "240", "290", "35A", "120"])
    base = np.array(
        [
            [-0.6, -1.8],
            [-0.9, -1.6],
            [-1.8, -3.0],
            [-1.6, -3.2],
            [-1.9, -3.3],
            [-1.7, -3.0],
            [1.2, -3.5],
            [-1.2, -2.9],
        ]
    )
    agency = rng.integers(0, len(agencies), n)
    code = rng.choice(len(codes), n, p=[0.12, 0.25, 0.1, 0.2, 0.08, 0.15, 0.05, 0.05])
    day = date(2021, 1, 1) + np.array([timedelta(days=int(d)) for d in rng.integers(0, 730, n)])
    hour = rng.integers(0, 24, n)
    weapon = rng.random(n) < 0.3
    victims = rng.integers(1, 4, n)
    report_date = rng.random(n) < 0.05
    unknown_offender = rng.random(n) < 0.5  # a strong driver the default model may not use
    location = rng.choice(["20", "13", "18", "07"], n)
    effect = (
        np.outer(unknown_offender, [-2.0, -1.5])
        + np.outer(weapon, [0.4, 0.1])
        + np.outer(location == "07", [0.5, 0.0])
        + np.outer(report_date, [-0.6, -0.2])
        + agency_effect[agency]
    )
    odds = np.exp(base[code] + effect)
    p_arrest = odds[:, 0] / (1 + odds.sum(1))
    p_exceptional = odds[:, 1] / (1 + odds.sum(1))
    draw = rng.random(n)
    outcome = np.where(
        draw < p_arrest, "arrest", np.where(draw < p_arrest + p_exceptional, "exceptional", "open")
    )
    year = np.array([d.year for d in day])
    number = np.array([f"N{i:07d}" for i in range(n)])
    ori = np.array([agencies[a][0] for a in agency])
    state = np.array([agencies[a][1] for a in agency])
    weekday = np.array([d.weekday() for d in day])
    arrested = outcome == "arrest"
    cleared = outcome != "open"
    mart = pa.table(
        {
            "incident_key": np.arange(n, dtype=np.int64) * 7919,  # any key, unique a year
            "data_year": year,
            "ori": ori,
            "incident_number": number,
            "agency_ori": ori,
            "state_abbreviation": state,
            "population_group": [states[s][1] for s in state],
            "agency_type_code": np.where(np.char.endswith(ori.astype(str), "1000"), "2", "1"),
            "country_region": [states[s][0] for s in state],
            "agency_population": 10_000 + agency * 1000,
            "incident_date": pa.array(day, pa.date32()),
            "is_report_date": report_date,
            "incident_hour": hour,
            "incident_month": [d.month for d in day],
            "incident_day_of_week": weekday,
            "is_weekend": weekday >= 5,
            "is_night": (hour >= 18) | (hour < 6),
            "primary_offense_code": codes[code],
            "location_type_code": location,
            "offense_count": np.ones(n, int),
            "has_crime_against_person": np.isin(code, [0, 1, 7]),
            "has_crime_against_property": np.isin(code, [2, 3, 4, 5, 7]),
            "has_crime_against_society": code == 6,
            "is_attempted_only": rng.random(n) < 0.03,
            "has_weapon": weapon,
            "has_firearm": weapon & (rng.random(n) < 0.4),
            "offender_used_alcohol": rng.random(n) < 0.05,
            "offender_used_drugs": rng.random(n) < 0.05,
            "offender_used_computer": rng.random(n) < 0.02,
            "is_bias_motivated": rng.random(n) < 0.01,
            "is_cargo_theft": np.zeros(n, bool),
            "victim_count": victims,
            "person_victim_count": victims,
            "has_business_victim": rng.random(n) < 0.1,
            "has_officer_victim": rng.random(n) < 0.01,
            "has_juvenile_victim": rng.random(n) < 0.1,
            "has_injured_victim": rng.random(n) < 0.2,
            "victim_offender_relationship_group": np.where(unknown_offender, "unknown", "stranger"),
            "offender_count": np.where(unknown_offender, 0, 1),
            "has_unknown_offender": unknown_offender,
            "stolen_property_value": rng.integers(0, 5000, n),
            "damaged_property_value": rng.integers(0, 500, n),
            "has_unknown_property_value": rng.random(n) < 0.05,
            "has_drugs_seized": (code == 6) & arrested,
            # the outcome and what follows from it: never features
            "clearance_outcome": outcome,
            "is_cleared": cleared,
            "is_cleared_by_arrest": arrested,
            "is_cleared_exceptionally": outcome == "exceptional",
            "cleared_exceptionally_code": np.where(outcome == "exceptional", "B", "N"),
            "arrestee_count": arrested.astype(int),
            "declared_arrestee_count": arrested.astype(int),
            "days_to_clearance": pa.array(
                np.where(cleared, rng.integers(0, 30, n), 0), mask=~cleared
            ),
            "source_loaded_at": pa.array([LOADED_AT] * n, pa.timestamp("us", tz="UTC")),
        }
    )
    truth = pa.table(
        {
            "ori": ori,
            "incident_number": number,
            "p_cleared": p_arrest + p_exceptional,
            "p_arrest": p_arrest,
            "p_exceptional": p_exceptional,
            "outcome": outcome,
            "data_year": year,
        }
    )
    return mart, truth


def chicago_crimes(rows: int = 30_000, seed: int = 3) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Generated crimes of 2021-2025 in the mart's shape, their truth, and the wire rows."""
    synthetic = synthesize(rows, seed=seed, years=(2021, 2025))
    wire = synthetic.table
    columns = {name: wire.column(name).to_pylist() for name in wire.column_names}
    seeds = project_dir() / "dbt_project" / "seeds"
    features = chicago_source_features(columns, arrest_spec(exclude_on_view=False), seeds)
    assert not features.errors
    with (chicago_seeds(seeds) / "chicago_primary_types.csv").open() as handle:
        flags = {row["primary_type"]: row for row in csv.DictReader(handle)}
    types = features.table.column("primary_type").to_pylist()
    occurred = [datetime.fromisoformat(value) for value in columns["date"]]
    mart = features.table
    extra = {
        "id": pa.array([int(v) for v in columns["id"]], pa.int64()),
        "occurred_at": pa.array(occurred, pa.timestamp("us")),
        "occurred_date": pa.array([o.date() for o in occurred], pa.date32()),
        "year": pa.array([o.year for o in occurred], pa.int32()),
        "iucr": wire.column("iucr"),
        "description": wire.column("description"),
        "is_arrest_generated": [
            flags.get(t, {}).get("is_arrest_generated") == "true" for t in types
        ],
        "is_police_initiated": [
            flags.get(t, {}).get("is_police_initiated") == "true" for t in types
        ],
        "arrest": wire.column("arrest"),
        "updated_on": pa.array(
            [datetime.fromisoformat(v) for v in columns["updated_on"]], pa.timestamp("us")
        ),
        "source_loaded_at": pa.array([LOADED_AT] * wire.num_rows, pa.timestamp("us", tz="UTC")),
    }
    for name, values in extra.items():
        mart = mart.append_column(
            name, values if isinstance(values, pa.ChunkedArray | pa.Array) else pa.array(values)
        )
    return mart, synthetic.truth, wire


def create_table(workspace, name: str, table: pa.Table) -> None:
    with connect(workspace) as conn, conn.cursor() as cur:
        cur.execute(f"drop table if exists {SCHEMA}.{name}")
        cur.adbc_ingest(name, table, mode="create", db_schema_name=SCHEMA)
        conn.commit()


def execute(workspace, *statements: str) -> None:
    with connect(workspace) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
        conn.commit()


@pytest.fixture(scope="module")
def ml_env(warehouse, tmp_path_factory):
    """The warehouse with stand-in marts, a fresh lake for the registry, and the truth."""
    folder = tmp_path_factory.mktemp("ml")
    settings = dataclasses.replace(warehouse.settings, lake_url=f"file://{folder / 'lake'}")
    # one thread: the test machine's two cores are shared, and two OpenMP threads fighting
    # other processes for them run ten times slower than one
    workspace = dataclasses.replace(ml_workspace(settings), nthread=1)
    execute(
        workspace,
        f"drop schema if exists {SCHEMA} cascade",
        f"create schema {SCHEMA}",
        *DROP_SCORES,
    )
    incidents, nibrs_truth = nibrs_incidents()
    create_table(workspace, "fct_nibrs_incidents_labelled", incidents)
    # the generator's side files, one per data year, as the evaluation finds them
    truth_folder = folder / "nibrs-truth"
    truth_folder.mkdir()
    for year in (2021, 2022):
        rows = nibrs_truth.filter(pc.equal(nibrs_truth.column("data_year"), year))
        pq.write_table(
            rows.drop_columns(["data_year"]), truth_folder / f"nibrs-{year}.truth.parquet"
        )
    crimes, chicago_truth, wire = chicago_crimes()
    create_table(workspace, "fct_chicago_crimes", crimes)
    truth_file = folder / "chicago" / "rows.truth.parquet"
    truth_file.parent.mkdir()
    pq.write_table(chicago_truth, truth_file)
    config = TrainConfig(
        schema=SCHEMA, nibrs_truth=str(truth_folder), chicago_truth=truth_file.parent
    )
    yield dataclasses.make_dataclass("Env", ["settings", "workspace", "config", "wire", "folder"])(
        settings, workspace, config, wire, folder
    )
    execute(workspace, f"drop schema if exists {SCHEMA} cascade", *DROP_SCORES)


@pytest.fixture(scope="module")
def clearance(ml_env):
    return train(ml_env.workspace, "clearance", ml_env.config, echo=lambda _: None)


def arrest_config(ml_env) -> TrainConfig:
    """One grid point: the search itself is exercised by the clearance model."""
    return dataclasses.replace(ml_env.config, grid=ml_env.config.grid[1:2])


@pytest.fixture(scope="module")
def arrest(ml_env):
    return train(ml_env.workspace, "arrest", arrest_config(ml_env), echo=lambda _: None)


def window_keys_digest(workspace, spec, evaluation) -> str:
    """The fingerprint of the keys each window should hold, recomputed from the mart."""
    digest = hashlib.sha256()
    for name in ("train", "valid", "test"):
        window = evaluation["windows"][name]
        rows = query(
            workspace,
            spec.select_sql(
                SCHEMA,
                f"{spec.time_column} >= date '{window['start']}' "
                f"and {spec.time_column} < date '{window['end']}'",
            ),
        )
        keys = rows.column("row_key").cast("string").to_pylist()
        digest.update("\n".join(sorted(keys)).encode())
    return digest.hexdigest()


# -- training ------------------------------------------------------------------------------------
def test_clearance_is_trained_out_of_time_and_held_against_the_oracle(ml_env, clearance):
    windows = clearance["windows"]
    train_w, valid_w, test_w = windows["train"], windows["valid"], windows["test"]
    assert train_w["end"] <= valid_w["start"]
    assert valid_w["end"] <= test_w["start"]
    assert test_w["last_day"] == "2022-12-31"
    # the rows used are exactly the windows' rows: nothing later leaked into training
    spec = ml_env.config.spec("clearance")
    assert clearance["data"]["keys_sha256"] == window_keys_digest(ml_env.workspace, spec, clearance)
    features = {f["name"] for f in clearance["features"]}
    assert not features & {
        "arrestee_count",
        "days_to_clearance",
        "has_unknown_offender",
        "has_drugs_seized",
        "clearance_outcome",
    }
    # better than chance, no better than the truth it was drawn from
    assert clearance["oracle"]["coverage"] == 1.0
    assert 0.6 < clearance["test_auc"] <= clearance["oracle_auc"] + 0.01
    assert clearance["test"]["rows"] == test_w["rows_used"] > 1000
    for key in ("pr_auc", "f1", "brier", "calibration_error"):
        assert clearance["test"][key] is not None
    assert sum(row["rows"] for row in clearance["calibration"]) == clearance["test"]["rows"]
    states = {g["group"] for g in clearance["groups"]["state_abbreviation"]}
    assert states == {"MO", "TX", "WI", "VT"}
    assert {g["group"] for g in clearance["groups"]["population_group"]} == {"4", "9E", "5", "8A"}
    assert all(g["oracle_auc"] for g in clearance["groups"]["state_abbreviation"])
    classes = clearance["three_class"]
    assert set(classes["roc_auc_one_vs_rest"]) == {"open", "arrest", "exceptional"}
    assert classes["oracle"]["log_loss"] < classes["log_loss"]
    assert classes["roc_auc_one_vs_rest"]["arrest"] > 0.6
    assert len(clearance["search"]) == 3
    assert all(s["rounds"] >= 1 for s in clearance["search"])
    assert clearance["promoted"]
    assert clearance["champion"]["reason"] == "no champion yet"


def test_offender_details_help_only_when_asked_for(ml_env, clearance):
    config = dataclasses.replace(ml_env.config, offender_known=True, grid=ml_env.config.grid[:1])
    with_offender = train(ml_env.workspace, "clearance", config, echo=lambda _: None)
    assert "has_unknown_offender" in {f["name"] for f in with_offender["features"]}
    assert with_offender["test_auc"] > clearance["test_auc"] + 0.03
    assert with_offender["test_auc"] <= with_offender["oracle_auc"] + 0.01
    # a better model on the same window becomes champion
    assert with_offender["promoted"]
    assert with_offender["champion"]["champion_version"] == clearance["version"]
    champion = Registry(ml_env.workspace).champion("clearance")
    assert champion["version"] == with_offender["version"]


def test_arrest_excludes_on_view_types_and_stays_below_the_oracle(ml_env, arrest):
    assert arrest["feature_options"] == {"exclude_on_view": True}
    excluded = {t["primary_type"] for t in arrest["excluded_types"]}
    assert {"NARCOTICS", "PROSTITUTION"} <= excluded
    windows = arrest["windows"]
    assert windows["train"]["end"] <= windows["valid"]["start"] <= windows["test"]["start"]
    # the newest 28 days' labels are still filling in: left out
    newest = (
        query(
            ml_env.workspace,
            f"select max(occurred_date) as d from {SCHEMA}."
            "fct_chicago_crimes where not is_arrest_generated",
        )
        .column("d")[0]
        .as_py()
    )
    assert date.fromisoformat(windows["test"]["last_day"]) == newest - timedelta(days=28)
    spec = ml_env.config.spec("arrest")
    assert arrest["data"]["keys_sha256"] == window_keys_digest(ml_env.workspace, spec, arrest)
    features = {f["name"] for f in arrest["features"]}
    assert not features & {"updated_on", "iucr", "description", "arrest", "id", "year"}
    assert 0.65 < arrest["test_auc"] <= arrest["oracle_auc"] + 0.01
    assert arrest["oracle"]["source"].endswith("rows.truth.parquet")
    assert arrest["subsets"]["without_police_initiated"]["rows"] < arrest["test"]["rows"]
    districts = arrest["groups"]["district"]
    assert len(districts) >= 20
    assert sum(g["rows"] for g in districts) == arrest["test"]["rows"]
    card = Registry(ml_env.workspace).read("arrest", arrest["version"], "card.md").decode()
    assert "Decision support only" in card
    assert "never the sole basis" in card
    assert "## By district" in card
    assert "## Calibration" in card


def test_a_challenger_that_does_not_win_is_registered_but_not_promoted(ml_env, arrest):
    registry = Registry(ml_env.workspace)
    again = train(ml_env.workspace, "arrest", arrest_config(ml_env), echo=lambda _: None)
    # the same data and seed give the same AUC: not better, so not champion
    assert again["champion"]["champion_auc_same_window"] == again["test_auc"]
    assert not again["promoted"]
    assert registry.champion("arrest")["version"] == arrest["version"]
    assert registry.versions("arrest") == sorted([arrest["version"], again["version"]])
    manifest = registry.manifest("arrest", again["version"])
    assert set(manifest["files"]) == {"model.ubj", "features.json", "metrics.json", "card.md"}
    assert manifest["windows"]["test"] == again["windows"]["test"]
    assert manifest["data"]["keys_sha256"] == arrest["data"]["keys_sha256"]
    saved = json.loads(registry.read("arrest", again["version"], "metrics.json"))
    assert saved["test_auc"] == again["test_auc"]
    assert saved["promoted"] is False


def test_is_due_follows_the_champion_its_age_and_new_data(ml_env, arrest):
    workspace, config = ml_env.workspace, ml_env.config
    assert not is_due(workspace, "arrest", config)
    assert is_due(workspace, "arrest", config, max_age_days=0)
    assert "days past" in due_reason(workspace, "arrest", config, new_data_days=-1)
    empty = dataclasses.replace(workspace, lake=Lake(f"file://{ml_env.folder / 'empty-lake'}"))
    assert due_reason(empty, "arrest", config) == "no champion"
    assert not is_due(workspace, "arrest", dataclasses.replace(config, schema="no_such_schema"))


# -- scoring -------------------------------------------------------------------------------------
def test_scores_land_in_the_warehouse_with_version_and_top_contributions(ml_env, arrest):
    workspace = ml_env.workspace
    champion = Registry(workspace).champion("arrest")["version"]
    first = score(workspace, "arrest", schema=SCHEMA, echo=lambda _: None)
    eligible = (
        query(
            workspace,
            f"select count(*) as n from {SCHEMA}.fct_chicago_crimes where not is_arrest_generated",
        )
        .column("n")[0]
        .as_py()
    )
    assert first["rows_scored"] == eligible
    assert first["partitions_scored"] == ["2021", "2022", "2023", "2024", "2025"]
    scores = query(workspace, "select * from ml.arrest_scores").to_pylist()
    assert len(scores) == eligible
    partitions = query(workspace, "select * from ml.arrest_score_partitions").to_pylist()
    assert {p["model_version"] for p in partitions} == {champion}
    assert {p["contribution_method"] for p in partitions} == {"saabas"}
    assert sum(p["rows"] for p in partitions) == eligible
    named = {
        row["feature_index"]: row["feature_name"]
        for row in query(
            workspace,
            "select feature_index, feature_name from ml.model_features "
            "where model = 'arrest' and model_version = $1",
            (champion,),
        ).to_pylist()
    }
    features = {f["name"] for f in arrest["features"]}
    assert set(named.values()) == features
    for row in scores[:500]:
        assert 0 < row["probability"] < 1
        names = [named[row[f"top_feature_{k}"]] for k in (1, 2, 3)]
        assert set(names) <= features
        assert len(set(names)) == 3
        sizes = [abs(row[f"top_contribution_{k}"]) for k in (1, 2, 3)]
        assert sizes == sorted(sizes, reverse=True)
        assert all(row[f"top_value_{k}"] for k in (1, 2, 3))
    narcotics = query(
        workspace,
        "select count(*) as n from ml.arrest_scores s join "
        f"{SCHEMA}.fct_chicago_crimes m using (id) where m.is_arrest_generated",
    )
    assert narcotics.column("n")[0].as_py() == 0
    # the stored probability is what the champion predicts for the row
    registry_model = Registry(workspace).load_champion("arrest")
    sample = query(
        workspace,
        arrest_spec().select_sql(
            SCHEMA, "id in (select id from ml.arrest_scores order by id limit 50)"
        )
        + " order by row_key",
    )
    stored = query(workspace, "select probability from ml.arrest_scores order by id limit 50")
    np.testing.assert_allclose(
        registry_model.predict(sample), stored.column("probability").to_numpy(), rtol=1e-5
    )

    # a rerun scores nothing twice; a reloaded row rescores only its partition
    again = score(workspace, "arrest", schema=SCHEMA, echo=lambda _: None)
    assert again["rows_scored"] == 0
    assert again["rows_already_scored"] == eligible
    execute(
        workspace,
        f"update {SCHEMA}.fct_chicago_crimes set source_loaded_at = now() "
        "where id = (select min(id) from ml_test_marts.fct_chicago_crimes "
        "where year = 2023 and not is_arrest_generated)",
    )
    third = score(workspace, "arrest", schema=SCHEMA, echo=lambda _: None)
    assert third["partitions_scored"] == ["2023"]
    total = query(workspace, "select count(*) as n from ml.arrest_scores").column("n")[0].as_py()
    assert total == eligible

    # a row whose date was corrected into another year moves with it
    last_of_2023 = (
        f"select max(id) from {SCHEMA}.fct_chicago_crimes "
        "where year = 2023 and not is_arrest_generated"
    )
    execute(
        workspace,
        f"update {SCHEMA}.fct_chicago_crimes set year = 2024, source_loaded_at = now() "
        f"where id = ({last_of_2023})",
    )
    moved = score(workspace, "arrest", schema=SCHEMA, echo=lambda _: None)
    assert moved["partitions_scored"] == ["2023", "2024"]  # the year it left has a row fewer
    partitions = query(workspace, "select scored_partition, count(*) as n from "
                       "ml.arrest_scores group by 1").to_pylist()  # fmt: skip
    assert sum(p["n"] for p in partitions) == eligible

    # a scores table of an older layout is rebuilt and every row scored again
    execute(workspace, "alter table ml.arrest_scores drop column top_value_3")
    rebuilt = score(workspace, "arrest", schema=SCHEMA, echo=lambda _: None)
    assert rebuilt["rows_scored"] == eligible


def test_scoring_without_a_champion_or_a_mart_skips(ml_env, arrest):
    empty = dataclasses.replace(
        ml_env.workspace, lake=Lake(f"file://{ml_env.folder / 'no-models'}")
    )
    result = score(empty, "arrest", schema=SCHEMA, echo=lambda _: None)
    assert result["rows_scored"] == 0
    assert "no champion" in result["skipped"]
    result = score(ml_env.workspace, "arrest", schema="no_such_schema", echo=lambda _: None)
    assert result["rows_scored"] == 0
    assert "does not exist" in result["skipped"]


def test_clearance_scores_carry_the_three_classes(ml_env, clearance):
    result = score(
        ml_env.workspace, "clearance", schema=SCHEMA, contributions="shap", echo=lambda _: None
    )
    assert result["rows_scored"] == 10_000
    assert result["contribution_method"] == "shap"
    rows = query(ml_env.workspace, "select * from ml.clearance_scores limit 200").to_pylist()
    for row in rows:
        assert row["p_open"] + row["p_arrest"] + row["p_exceptional"] == pytest.approx(1, 1e-4)
        assert row["p_open"] == pytest.approx(1 - row["probability"], abs=1e-5)
        assert row["top_feature_1"] is not None
        assert row["top_value_1"]
    methods = query(
        ml_env.workspace, "select distinct contribution_method from ml.clearance_score_partitions"
    )
    assert methods.column("contribution_method").to_pylist() == ["shap"]


# -- a user's CSV --------------------------------------------------------------------------------
def test_csv_scorer_scores_good_rows_and_reports_bad_rows(ml_env, arrest, tmp_path, monkeypatch):
    from crimewh.settings import settings as cached_settings
    from crimewh_orchestration.cli import main

    wire = ml_env.wire.slice(0, 60)
    display = [
        "ID",
        "Case Number",
        "Date",
        "Primary Type",
        "Location Description",
        "Arrest",
        "Domestic",
        "Beat",
        "District",
        "Ward",
        "Community Area",
        "FBI Code",
        "Latitude",
        "Longitude",
        "My Notes",
    ]
    fields = [
        "id",
        "case_number",
        "date",
        "primary_type",
        "location_description",
        "arrest",
        "domestic",
        "beat",
        "district",
        "ward",
        "community_area",
        "fbi_code",
        "latitude",
        "longitude",
    ]
    rows = []
    for record in wire.to_pylist():
        moment = datetime.fromisoformat(record["date"])
        values = [record[f] for f in fields]
        values[2] = moment.strftime("%m/%d/%Y %I:%M:%S %p")  # the portal's format
        values[3] = "THEFT" if values[3] in ("NARCOTICS", "PROSTITUTION", "GAMBLING") else values[3]
        values = [
            "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for v in values
        ]
        rows.append([*values, "kept as is"])
    rows[4][2] = "not a date"
    rows[9][8] = "District 9"
    rows[14][3] = "NARCOTICS"
    rows[19] = rows[19][:5]  # a short row
    path = tmp_path / "crimes.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(display)
        writer.writerows(rows)

    # the command line, as a user runs it: the settings come from the environment
    monkeypatch.setenv("CRIMEWH_DATA_DIR", str(ml_env.settings.data_dir))
    monkeypatch.setenv("CRIMEWH_LAKE_URL", ml_env.settings.lake_url)
    try:
        assert main(["score", "arrest", "--file", str(path)]) == 0
    finally:
        cached_settings.cache_clear()
    out = tmp_path / "crimes.scored.csv"
    with out.open(newline="") as handle:
        written = list(csv.reader(handle))
    assert written[0] == [*display, "arrest_probability", "model_version", "error"]
    body = written[1:]
    assert len(body) == 60
    assert all(len(row) == 15 + 3 for row in body)  # the short row too: its cells stay put
    assert body[19][:15] == [*rows[19], *[""] * 10]
    bad = {i for i, row in enumerate(body) if row[-1]}
    assert bad == {4, 9, 14, 19}
    assert "date 'not a date'" in body[4][-1]
    assert "district 'District 9'" in body[9][-1]
    assert "NARCOTICS" in body[14][-1]
    assert "has 5 fields but the header has 15" in body[19][-1]
    for i, row in enumerate(body):
        assert row[-2] == arrest["version"]
        assert (row[-3] == "") == (i in bad)
        if i not in bad:
            assert 0 < float(row[-3]) < 1
            assert row[:15] == rows[i]

    # the CSV path and the mart's SQL give the same features, hence the same probability
    unchanged = [i for i, record in enumerate(wire.to_pylist())
                 if i not in bad and record["primary_type"] == rows[i][3]]  # fmt: skip
    ids = ", ".join(rows[i][0] for i in unchanged)
    champion = Registry(ml_env.workspace).load_champion("arrest")
    from_mart = query(ml_env.workspace, arrest_spec().select_sql(SCHEMA, f"id in ({ids})"))
    by_id = dict(zip(from_mart.column("row_key").to_pylist(),
                     champion.predict(from_mart), strict=True))  # fmt: skip
    assert len(unchanged) > 40
    for i in unchanged:
        assert float(body[i][-3]) == pytest.approx(by_id[int(rows[i][0])], abs=1e-6)

    # the API's field names and ISO dates give the same probabilities
    api_path = tmp_path / "api.csv"
    with api_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*fields, "my_notes"])
        for i, (record, row) in enumerate(zip(wire.to_pylist(), rows, strict=True)):
            if len(row) == 15:  # leave the short row out
                iso = row[2] if i == 4 else record["date"]
                writer.writerow([*row[:2], iso, *row[3:]])
    result = score_csv(ml_env.workspace, api_path, tmp_path / "api-out.csv")
    assert [e["row"] for e in result["errors"]] == [5, 10, 15]  # 1-based; the short row is gone
    with (tmp_path / "api-out.csv").open(newline="") as handle:
        api_body = list(csv.reader(handle))[1:]
    portal_good = [row[-3] for i, row in enumerate(body) if i != 19]
    assert [row[-3] for row in api_body] == portal_good


def test_csv_without_the_needed_columns_is_refused(ml_env, arrest, tmp_path):
    from ml.db import MLError

    path = tmp_path / "wrong.csv"
    path.write_text("Case Number,Block\nJJ1,001XX W MADISON ST\n")
    with pytest.raises(MLError, match=r"line 1: no column for date, primary_type"):
        score_csv(ml_env.workspace, path)
    assert not Path(f"{path}.scored.csv").exists()
