"""The model registry in a local lake and over the S3 API (a real moto server)."""

import json
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
import xgboost as xgb
from pyarrow import fs

from crimewh.settings import Settings
from crimewh_orchestration.workspace import ml_workspace
from ml.db import MLError
from ml.features import CATEGORICAL, NUMERIC, Feature, FittedFeatures, arrest_spec
from ml.registry import Registry, new_version

BUCKET = "crime-models"


@pytest.fixture(params=["file", "s3"])
def settings(request, tmp_path, monkeypatch):
    environ = {"CRIMEWH_DATA_DIR": str(tmp_path)}
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        admin = fs.S3FileSystem(
            endpoint_override=endpoint.removeprefix("http://"),
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        admin.create_dir(BUCKET)
        environ.update(
            CRIMEWH_LAKE_URL=f"s3://{BUCKET}/{tmp_path.name}", CRIMEWH_S3_ENDPOINT_URL=endpoint
        )
    return Settings.load(environ)


def small_model(seed: int) -> tuple[dict[str, bytes], FittedFeatures, pa.Table]:
    """A tiny arrest-shaped model: what a training run would save."""
    rng = np.random.default_rng(seed)
    spec = replace(
        arrest_spec(),
        features=(Feature("district", CATEGORICAL), Feature("hour", NUMERIC)),
    )
    rows = pa.table({
        "district": rng.choice(["001", "002", "003"], 500),
        "hour": rng.integers(0, 24, 500),
    })  # fmt: skip
    label = (rows.column("district").to_numpy(zero_copy_only=False) == "002").astype(int)
    fitted = FittedFeatures.fit(spec, rows)
    booster = xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist", "nthread": 1},
        fitted.dmatrix(rows, label, nthread=1),
        num_boost_round=5,
    )
    files = {
        "model.ubj": bytes(booster.save_raw("ubj")),
        "features.json": json.dumps(fitted.to_json()).encode(),
    }
    return files, fitted, rows


def test_versions_champion_and_loading(settings):
    registry = Registry(ml_workspace(settings))
    assert registry.versions("arrest") == []
    assert registry.champion("arrest") is None
    with pytest.raises(MLError, match="no champion"):
        registry.load_champion("arrest")

    files, fitted, rows = small_model(0)
    first, second = new_version(), new_version()
    registry.save("arrest", first, files, {"model": "arrest", "version": first})
    registry.save("arrest", second, files, {"model": "arrest", "version": second})
    # a version whose manifest was never written (a run that died) is not a version
    unfinished = new_version()
    folder = f"{registry.base}/arrest/{unfinished}"
    registry.fs.create_dir(folder, recursive=True)
    with registry.fs.open_output_stream(f"{folder}/model.ubj") as out:
        out.write(files["model.ubj"])
    assert registry.versions("arrest") == sorted([first, second])
    with pytest.raises(MLError, match="never finished"):
        registry.set_champion("arrest", {"version": unfinished})

    registry.set_champion("arrest", {"version": first, "test_auc": 0.8})
    assert registry.champion("arrest") == {"version": first, "test_auc": 0.8}
    loaded = registry.load_champion("arrest")
    assert loaded.version == first
    assert loaded.features == fitted
    assert set(registry.manifest("arrest", first)["files"]) == set(files)
    probability = loaded.predict(rows)
    district = rows.column("district").to_numpy(zero_copy_only=False)
    assert probability[district == "002"].min() > probability[district != "002"].max()
    assert not loaded.has_classes


def test_names_are_checked(settings):
    registry = Registry(ml_workspace(settings))
    with pytest.raises(MLError, match="not a model version"):
        registry.read("arrest", "../../etc", "model.ubj")
    with pytest.raises(MLError, match="not a model name"):
        registry.versions("Arrest/..")


def test_class_split_in_two_stages_and_older_softmax_versions(settings):
    """New versions split P(cleared) with P(arrest | cleared), so the classes agree with the
    main probability; a version saved before that, with one softmax booster, still loads and
    predicts its classes."""
    registry = Registry(ml_workspace(settings))
    files, fitted, rows = small_model(seed=3)
    rng = np.random.default_rng(3)
    classes = rng.integers(0, 3, rows.num_rows)
    params = {"tree_method": "hist", "nthread": 1}
    cleared = classes > 0
    stage = xgb.train(
        {**params, "objective": "binary:logistic"},
        fitted.dmatrix(rows.filter(pa.array(cleared)), (classes[cleared] == 1).astype(int)),
        num_boost_round=3,
    )
    softmax = xgb.train(
        {**params, "objective": "multi:softprob", "num_class": 3},
        fitted.dmatrix(rows, classes),
        num_boost_round=3,
    )
    two_stage, older = new_version(), new_version()
    registry.save(
        "clearance",
        two_stage,
        {**files, "model_cleared_arrest.ubj": bytes(stage.save_raw("ubj"))},
        {},
    )
    registry.save("clearance", older,
                  {**files, "model_classes.ubj": bytes(softmax.save_raw("ubj"))}, {})  # fmt: skip

    loaded = registry.load("clearance", two_stage)
    split = loaded.predict_classes(rows)
    p_cleared = loaded.predict(rows)
    assert split.shape == (rows.num_rows, 3)
    np.testing.assert_allclose(split[:, 0], 1 - p_cleared, atol=1e-6)
    np.testing.assert_allclose(split.sum(1), 1, atol=1e-6)
    np.testing.assert_allclose(split[:, 1] / p_cleared, stage.predict(fitted.dmatrix(rows)),
                               rtol=1e-5)  # fmt: skip

    legacy = registry.load("clearance", older)
    assert legacy.has_classes
    np.testing.assert_allclose(legacy.predict_classes(rows), softmax.predict(fitted.dmatrix(rows)),
                               rtol=1e-6)  # fmt: skip
