"""Stand-in champions for the service's tests and benchmark: real XGBoost boosters on the real
feature definitions (``ml.features``), trained in seconds on synthetic rows and saved
through the real registry, so that everything downstream (loading, predicting, the CSV
scorer, the model endpoints) runs as it does on a trained champion. Not models of anything:
their cards say so."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crimewh.settings import Settings

CLEARANCE_CODES = {
    "primary_offense_code": ["13A", "13B", "23C", "23F", "220", "240", "290", "35A", "120"],
    "location_type_code": ["20", "13", "25", "18", "07", "08"],
    "state_abbreviation": ["TX", "OH", "MI", "VA", "TN"],
    "population_group": ["1A", "2", "4", "8A", "9C"],
    "agency_type_code": ["1", "2", "3"],
    "country_region": ["South", "Midwest", "Northeast", "West"],
    "agency_ori": ["TX0010000", "OH0180000", "MI8234900", "VA0430000"],
}


def register_arrest(
    settings: Settings, *, rows: int = 3000, rounds: int = 10, depth: int = 3, seed: int = 4
) -> str:
    """An arrest champion on ``rows`` synthetic crimes; its version."""
    import numpy as np
    import pyarrow as pa
    import xgboost as xgb

    from crimewh_orchestration.workspace import ml_workspace
    from ml.features import FittedFeatures, arrest_spec, chicago_source_features
    from testkit.chicago_synth import synthesize

    wire = synthesize(rows, seed=seed, years=(2023, 2025)).table
    columns = {name: wire.column(name).to_pylist() for name in wire.column_names}
    spec = arrest_spec()
    source = chicago_source_features(columns, spec, ml_workspace(settings).seeds_dir)
    keep = np.ones(wire.num_rows, bool)
    keep[list(source.errors)] = False  # the arrest-generated types, as the model leaves out
    table = source.table.filter(pa.array(keep))
    label = wire.column("arrest").to_numpy(zero_copy_only=False)[keep].astype(np.float32)
    fitted = FittedFeatures.fit(spec, table)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": depth, "eta": 0.1, "nthread": 2,
         "seed": seed, "tree_method": "hist"},
        fitted.dmatrix(table, label=label),
        num_boost_round=rounds,
    )  # fmt: skip
    return _register(settings, "arrest", fitted, booster, None, label, table)


def register_clearance(
    settings: Settings, *, rows: int = 2000, rounds: int = 10, depth: int = 3, seed: int = 7
) -> str:
    """A clearance champion (P(cleared) and P(arrest | cleared)) on random incidents; its
    version."""
    import numpy as np
    import pyarrow as pa
    import xgboost as xgb

    from ml.features import CATEGORICAL, FittedFeatures, clearance_spec

    rng = np.random.default_rng(seed)
    spec = clearance_spec()
    data = {}
    for feature in spec.features:
        if feature.kind == CATEGORICAL:
            data[feature.name] = pa.array(rng.choice(CLEARANCE_CODES[feature.name], rows))
        else:
            data[feature.name] = pa.array(rng.integers(0, 24, rows).astype(np.float64))
    table = pa.table(data)
    # cleared more often with a weapon-free daytime offense: something for the trees to find
    logit = -1 + 0.1 * np.asarray(data["incident_hour"]) - np.asarray(data["has_weapon"]) / 10
    outcome = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    classes = np.where(outcome == 1, 1 + (rng.random(rows) < 0.2), 0)
    fitted = FittedFeatures.fit(spec, table)
    params = {"max_depth": depth, "eta": 0.1, "nthread": 2, "seed": seed, "tree_method": "hist"}
    booster = xgb.train({**params, "objective": "binary:logistic"},
                        fitted.dmatrix(table, label=outcome), num_boost_round=rounds)  # fmt: skip
    cleared = classes > 0
    class_booster = xgb.train(
        {**params, "objective": "binary:logistic"},
        fitted.dmatrix(table.filter(pa.array(cleared)), label=(classes[cleared] == 1).astype(int)),
        num_boost_round=rounds,
    )
    return _register(settings, "clearance", fitted, booster, class_booster, outcome, table)


def _register(settings, model, fitted, booster, class_booster, label, table) -> str:
    from crimewh_orchestration.workspace import ml_workspace
    from ml.evaluate import roc_auc
    from ml.registry import Registry, new_version

    registry = Registry(ml_workspace(settings))
    version = new_version()
    trained_at = datetime.now(UTC).isoformat(timespec="seconds")
    auc = roc_auc(label.astype(int), booster.predict(fitted.dmatrix(table)))
    evaluation = {
        "model": model,
        "version": version,
        "trained_at": trained_at,
        "test": {"roc_auc": auc, "rows": table.num_rows, "note": "in-sample: a stand-in"},
        "test_auc": auc,
        "oracle_auc": None,
        "windows": {},
        "note": "a stand-in trained by the test kit on synthetic rows",
    }
    files = {
        "model.ubj": bytes(booster.save_raw("ubj")),
        "features.json": json.dumps(fitted.to_json()).encode(),
        "metrics.json": json.dumps(evaluation).encode(),
        "card.md": (
            f"# Model card: {model} ({version})\n\nA stand-in trained by the test kit on "
            f"{table.num_rows:,} synthetic rows, for the service's tests. Not a model of "
            "anything; never use it for a decision.\n"
        ).encode(),
    }
    if class_booster is not None:
        files["model_cleared_arrest.ubj"] = bytes(class_booster.save_raw("ubj"))
    manifest = {
        "model": model,
        "version": version,
        "trained_at": trained_at,
        "features": fitted.spec.feature_names,
        "test_auc": auc,
        "oracle_auc": None,
    }
    registry.save(model, version, files, manifest)
    registry.set_champion(model, {"version": version, "promoted_at": trained_at,
                                  "test_auc": auc, "stand_in": True})  # fmt: skip
    return version
