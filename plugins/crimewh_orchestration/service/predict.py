"""Predictions for the API: records in; per record a probability, the class probabilities
(clearance), the top contributions, or the errors that kept it unscored.

The arrest model scores through ``ml.csv_scoring.score_rows``, the function behind
``crimewh score arrest --file``, so a record and the same row of a CSV get the same
probability to the last bit. The clearance model reads records keyed by its feature names
(the columns of ``marts.fct_nibrs_incidents_labelled`` it was trained on). Contributions are
XGBoost's Saabas attributions, as the nightly's scores tables hold them
(``ml.score.top_contributions``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ml.db import MLError
from ml.features import CATEGORICAL, MODELS, FieldError

if TYPE_CHECKING:
    import pyarrow as pa

    from crimewh.settings import Settings
    from ml.registry import LoadedModel

CHAMPION_CHECK_S = 10.0  # how stale the cached champion may be after a promotion
_NUMBER = re.compile(r"^\s*-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\s*$")


class UnknownModelError(MLError):
    """No model of that name (a 404)."""


class NoChampionError(MLError):
    """The model has no champion yet (a 404 that says what to run)."""


class Champions:
    """Each model's champion, loaded once and loaded again when ``champion.json`` names
    another version (looked at every ``CHAMPION_CHECK_S`` at most, so that a prediction
    does not read the lake)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._loaded: dict[str, LoadedModel] = {}
        self._checked: dict[str, float] = {}
        self._lock = threading.Lock()
        self._registry = None

    def registry(self):
        from crimewh_orchestration.workspace import ml_workspace
        from ml.registry import Registry

        if self._registry is None:
            self._registry = Registry(ml_workspace(self.settings))
        return self._registry

    def get(self, name: str) -> LoadedModel:
        if name not in MODELS:
            raise UnknownModelError(f"no model named {name!r}: the models are {', '.join(MODELS)}")
        with self._lock:
            loaded = self._loaded.get(name)
            if loaded is not None and time.monotonic() - self._checked[name] < CHAMPION_CHECK_S:
                return loaded
            registry = self.registry()
            record = registry.champion(name)
            if record is None:
                raise NoChampionError(
                    f"model {name} has no champion in {registry.url}: run `crimewh train "
                    f"{name}` (or let the nightly DAG train it); the first model trained "
                    "becomes champion"
                )
            if loaded is None or loaded.version != record["version"]:
                loaded = registry.load(name, record["version"])
            self._loaded[name], self._checked[name] = loaded, time.monotonic()
            return loaded


def predict(loaded: LoadedModel, rows: Sequence[object]) -> dict:
    """The ``PredictResponse`` for ``rows`` (objects of field -> value)."""
    rejected = {i: errors for i, row in enumerate(rows) if (errors := shape_errors(i, row))}
    if loaded.model == "arrest":
        outcome = _arrest(loaded, rows, rejected)
    else:
        outcome = _clearance(loaded, rows, rejected)
    predictions, ignored = outcome
    return {
        "model": loaded.model,
        "model_version": loaded.version,
        "records": len(rows),
        "scored": sum(p["probability"] is not None for p in predictions),
        "ignored_fields": ignored,
        "predictions": predictions,
    }


def shape_errors(index: int, row: object) -> list[FieldError]:
    """What makes a record unreadable whatever the model: not an object, or a value that is
    a list or an object rather than text, a number, true or false."""
    if not isinstance(row, Mapping):
        kind = "a list" if isinstance(row, list) else type(row).__name__
        return [FieldError(None, f"record {index} is {kind}, not an object of fields")]
    return [
        FieldError(str(key), f"{key} is {'a list' if isinstance(value, list) else 'an object'}; "
                   "give text, a number, true or false")
        for key, value in row.items() if isinstance(value, (list, dict))
    ]  # fmt: skip


def _result(index, probability, errors=(), classes=None, contributions=()) -> dict:
    return {
        "index": index,
        "probability": probability,
        "classes": classes,
        "contributions": list(contributions),
        "errors": [{"field": e.field, "message": e.message} for e in errors],
    }


# -- arrest: the CSV scorer's own path -----------------------------------------------------------
class _KeepingRows:
    """The champion as ``score_rows`` uses it, keeping the feature rows it is asked to predict,
    so that the contributions come from the very rows the probabilities did, without
    deriving the features a second time."""

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        self.features = loaded.features
        self.version = loaded.version
        self.seeds_dir = loaded.seeds_dir
        self.predicted: list[pa.Table] = []

    def predict(self, table, **options):
        self.predicted.append(table)
        return self.loaded.predict(table, **options)


def _arrest(loaded: LoadedModel, rows, rejected) -> tuple[list[dict], list[str]]:
    import pyarrow as pa

    from ml.csv_scoring import score_rows
    from ml.features import api_field

    keeping = _KeepingRows(loaded)
    scores = score_rows(keeping, rows, rejected=rejected)
    # score_rows predicts its good rows, in order, in one call: the rows with a probability
    good = [i for i, score in enumerate(scores) if score.probability is not None]
    explained: dict[int, list[dict]] = {}
    if good:
        table = pa.concat_tables(keeping.predicted)
        explained = dict(zip(good, explain(loaded, table), strict=True))
    ignored = sorted({
        str(key) for i, row in enumerate(rows) if i not in rejected
        for key in row if api_field(str(key)) is None
    })  # fmt: skip
    predictions = [
        _result(i, score.probability, score.errors, contributions=explained.get(i, ()))
        for i, score in enumerate(scores)
    ]
    return predictions, ignored


# -- clearance: records keyed by the model's feature names ---------------------------------------
def _clearance(loaded: LoadedModel, rows, rejected) -> tuple[list[dict], list[str]]:
    import numpy as np
    import pyarrow as pa

    features = loaded.features.spec.features
    known = {f.name for f in features}
    errors: dict[int, list[FieldError]] = {i: list(e) for i, e in rejected.items()}
    values: dict[str, list] = {f.name: [None] * len(rows) for f in features}
    ignored: set[str] = set()
    for i, row in enumerate(rows):
        if i in errors:
            continue
        given = [key for key in row if key in known]
        ignored.update(str(key) for key in row if key not in known)
        if not given:
            sample = ", ".join(f.name for f in features[:4])
            message = (f"record {i} has none of the clearance model's fields ({sample}, ...; "
                       "GET /v1/models/clearance lists them)")  # fmt: skip
            errors[i] = [FieldError(None, message)]
            continue
        for feature in features:
            value = row.get(feature.name)
            parsed, problem = _clearance_value(feature.name, feature.kind, value)
            if problem:
                errors.setdefault(i, []).append(FieldError(feature.name, problem))
            values[feature.name][i] = parsed
    good = [i for i in range(len(rows)) if i not in errors]
    out = {i: _result(i, None, errors[i]) for i in errors}
    if good:
        table = pa.table({
            f.name: pa.array([values[f.name][i] for i in good],
                             pa.string() if f.kind == CATEGORICAL else pa.float64())
            for f in features
        })  # fmt: skip
        probability = np.asarray(loaded.predict(table))
        classes = loaded.predict_classes(table)
        names = loaded.features.spec.classes
        for k, (i, contributions) in enumerate(zip(good, explain(loaded, table), strict=True)):
            by_class = None
            if classes is not None:
                by_class = {name: float(classes[k, j]) for j, name in enumerate(names)}
            out[i] = _result(i, float(probability[k]), classes=by_class,
                             contributions=contributions)  # fmt: skip
    return [out[i] for i in range(len(rows))], sorted(ignored)


def _clearance_value(name: str, kind: str, value) -> tuple[object, str | None]:
    """A record's value as the model's column holds it, or the problem with it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if kind == CATEGORICAL:  # a code: text, or a whole number written as one
        if isinstance(value, bool):
            return None, f"{name} {value!r} is a code, not true or false"
        whole = isinstance(value, float) and value.is_integer()
        return (str(int(value)) if whole else str(value).strip()), None
    word = str(value).strip().lower()
    if isinstance(value, (bool, int, float)) or _NUMBER.match(word):
        return float(value), None
    if word in ("true", "false"):
        return float(word == "true"), None
    return None, f"{name} {value!r} is not a number"


# -- contributions -------------------------------------------------------------------------------
def explain(loaded: LoadedModel, table: pa.Table) -> list[list[dict]]:
    """Per row, the top features by |contribution| (as ``ml.<model>_scores`` keeps them)."""
    import xgboost as xgb

    from ml.score import feature_names, top_contributions

    fitted = loaded.features
    matrix = fitted.encode(table)
    dmatrix = xgb.DMatrix(
        matrix,
        feature_names=fitted.spec.feature_names,
        feature_types=fitted.feature_types,
        enable_categorical=True,
        nthread=loaded.nthread,
    )
    contributions = loaded.booster.predict(dmatrix, pred_contribs=True, approx_contribs=True)
    order, shown, picked = top_contributions(loaded, matrix, contributions)
    names = feature_names(loaded)
    return [
        [
            {"feature": str(names[j]), "value": str(v), "contribution": float(c)}
            for j, v, c in zip(order[r], shown[r], picked[r], strict=True)
        ]
        for r in range(order.shape[0])
    ]
