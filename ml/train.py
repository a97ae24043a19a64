"""Train, evaluate, register and (if it wins) promote a model; decide when one is due.

``train(workspace, "clearance" | "arrest")`` is what ``crimewh train`` and the nightly DAG run:

1. count the mart's eligible rows per month and cut the out-of-time windows
   (``ml.evaluate.choose_windows``), leaving out the newest days whose labels are still
   filling in (``ModelSpec.maturity_days``);
2. read each window's rows through the model's one feature definition (``ml.features``),
   keeping a deterministic sample of keys when a window holds more than the caps;
3. fit the category vocabularies on the training window only, then a small grid of XGBoost
   settings (``tree_method="hist"``, at most two threads), each early-stopped on the
   validation window; the best validation AUC wins and the F1-optimal threshold is read off
   the validation window too;
4. report the test window: overall, per group, calibration, and beside it the oracle (the
   generator's true probabilities) where the data is synthetic. The clearance model also
   splits P(cleared) into arrest and exceptional means with a second binary booster,
   P(arrest | cleared), fitted on the cleared rows with the chosen settings;
5. save everything to the registry and make the new version champion only if it beats the
   current champion on the same test window (the champion is re-scored on it).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ml.db import MLError, identifier, query, relation_exists
from ml.evaluate import Window
from ml.features import FittedFeatures, ModelSpec, model_spec

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from ml.db import Workspace
    from ml.registry import LoadedModel, Registry

log = logging.getLogger(__name__)
BASE_PARAMS = {"tree_method": "hist", "max_bin": 256}
# a small search, each point early-stopped on the validation window
GRID = (
    {"max_depth": 4, "eta": 0.1, "min_child_weight": 1},
    {"max_depth": 6, "eta": 0.1, "min_child_weight": 5, "subsample": 0.8, "colsample_bytree": 0.8},
    {
        "max_depth": 8,
        "eta": 0.05,
        "min_child_weight": 20,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "lambda": 5.0,
    },
)


@dataclass(frozen=True)
class TrainConfig:
    schema: str = "marts"  # where the marts are (tests use a schema of their own)
    exclude_on_view: bool = True  # arrest: leave out the arrest-generated types
    offender_known: bool = False  # clearance: accept what is known about the offender
    max_train_rows: int = 1_000_000
    max_eval_rows: int = 500_000  # per validation and test window
    # the generators' side files (synthetic data only; real data has none, and the
    # evaluation then says so): a file or folder of nibrs-YYYY.truth.parquet (default: the
    # landing area, where a synthetic year's zip lies beside its truth) and of Chicago's
    nibrs_truth: str | None = None
    chicago_truth: Path | None = None  # a truth file or folder; default <data>/chicago
    seed: int = 0
    nthread: int | None = None  # XGBoost's threads; None: the workspace's
    max_rounds: int = 1000
    early_stopping_rounds: int = 30
    grid: tuple[dict, ...] = GRID
    min_group_rows: int = 100
    min_gain: float = 0.0  # a challenger must beat the champion's AUC by more than this
    extra: dict = field(default_factory=dict)

    def spec(self, model: str) -> ModelSpec:
        if model == "arrest":
            return model_spec(model, exclude_on_view=self.exclude_on_view)
        return model_spec(model, offender_known=self.offender_known)


def _progress(message: str) -> None:
    # a log line, not a print: in an Airflow task stderr is logged at error level
    log.info(message)


# -- reading the mart ----------------------------------------------------------------------------
def monthly_counts(
    workspace: Workspace, spec: ModelSpec, schema: str, last_day: date
) -> list[tuple[date, int]]:
    """Eligible rows per month, up to ``last_day``."""
    table = identifier(f"{schema}.{spec.mart}")
    column = spec.time_column
    result = query(
        workspace,
        f"select date_trunc('month', {column})::date as month, count(*) as n from {table} "
        f"where ({spec.eligible_sql}) and {column} <= date '{last_day.isoformat()}' "
        "group by 1 order by 1",
    )
    return list(
        zip(result.column("month").to_pylist(), result.column("n").to_pylist(), strict=True)
    )


def last_mature_day(workspace: Workspace, spec: ModelSpec, schema: str) -> date | None:
    """The newest day whose labels count as settled: the newest date less the maturity."""
    table = identifier(f"{schema}.{spec.mart}")
    if not relation_exists(workspace, table):
        raise MLError(
            f"{table} does not exist: build the marts first (`crimewh dbt build`, or the "
            "nightly DAG) after loading data"
        )
    result = query(
        workspace,
        f"select max({spec.time_column}) as last from {table} where ({spec.eligible_sql})",
    )
    last = result.column("last")[0].as_py()
    return None if last is None else last - timedelta(days=spec.maturity_days)


def read_window(
    workspace: Workspace, spec: ModelSpec, schema: str, window: Window, cap: int
) -> tuple[pa.Table, float]:
    """A window's rows (a deterministic sample of keys above ``cap``) and the share kept."""
    share = min(1.0, cap / window.rows) if window.rows else 1.0
    sql = spec.select_sql(
        schema, window.where(spec.time_column), sample=spec.sample_condition(share)
    )
    return query(workspace, sql), share


def _labels(table: pa.Table) -> np.ndarray:
    import numpy as np

    return np.asarray(table.column("label").to_numpy(zero_copy_only=False), dtype=np.int64)


# -- the oracle ----------------------------------------------------------------------------------
def oracle_probabilities(
    workspace: Workspace,
    spec: ModelSpec,
    config: TrainConfig,
    table: pa.Table,
    schema: str,
    window: Window,
) -> tuple[np.ndarray | None, dict]:
    """The generator's true probabilities for ``table``'s rows (NaN where unknown).

    Returns an n x k array: P(positive) for the arrest model; P(open), P(arrest),
    P(exceptional) for clearance. ``None`` with the reason when the data has no truth.
    """
    if spec.model == "clearance":
        return _nibrs_truth(workspace, spec, config, table, schema, window)
    return _chicago_truth(workspace, config, table)


def _aligned(keys: pa.ChunkedArray, truth_keys, truth_values: list[np.ndarray]) -> np.ndarray:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(truth_keys, pa.ChunkedArray):
        truth_keys = truth_keys.combine_chunks()
    position = pc.index_in(keys, value_set=pa.array(truth_keys).cast(keys.type))
    index = position.to_numpy(zero_copy_only=False)
    found = ~np.isnan(index.astype(float))
    out = np.full((len(keys), len(truth_values)), np.nan)
    where = index[found].astype(np.int64)
    for j, values in enumerate(truth_values):
        out[found, j] = values[where]
    return out


def _nibrs_truth(workspace, spec, config, table, schema, window):
    """The generator's side files (``nibrs-YYYY.truth.parquet``: each incident's drawn
    probabilities, by ORI and incident number), matched to the test window's incidents."""
    import re

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import fs

    from crimewh.lake import Lake

    where = config.nibrs_truth or workspace.nibrs_truth_url
    if where is None:
        return None, {"source": None, "why": "no landing area to look for truth in"}
    if "://" not in where:
        where = f"file://{Path(where).resolve()}"
    lake = Lake(where, s3_endpoint_url=workspace.lake.s3_endpoint_url)
    found = lake.fs.get_file_info(fs.FileSelector(lake.root, allow_not_found=True))
    pattern = re.compile(r"^nibrs-(\d{4})\.truth\.parquet$")
    files = {int(m.group(1)): info.path for info in found if (m := pattern.match(info.base_name))}
    if not files:
        return None, {"source": None, "why": f"no nibrs-YYYY.truth.parquet in {where} "
                      "(real data has none)"}  # fmt: skip
    mart = identifier(f"{schema}.{spec.mart}")
    incidents = query(
        workspace,
        f"select {spec.key} as row_key, data_year, ori, incident_number from {mart} "
        f"where {window.where(spec.time_column)}",
    )
    years = sorted(set(incidents.column("data_year").to_pylist()) & set(files))
    if not years:
        return None, {"source": where, "why": "no truth file covers the test window's years"}
    columns = ["ori", "incident_number", "p_cleared", "p_arrest", "p_exceptional"]
    parts = []
    for year in years:
        part = pq.read_table(files[year], columns=columns, filesystem=lake.fs)
        parts.append(part.append_column("data_year", pa.array(np.full(part.num_rows, year))))
    incidents = incidents.set_column(1, "data_year", incidents.column("data_year").cast(pa.int64()))
    matched = incidents.join(
        pa.concat_tables(parts), ["data_year", "ori", "incident_number"], join_type="inner"
    )
    if matched.num_rows == 0:
        return None, {"source": where, "why": "no truth rows match the test window"}
    cleared = matched.column("p_cleared").to_numpy()
    values = [
        1 - cleared,
        matched.column("p_arrest").to_numpy(),
        matched.column("p_exceptional").to_numpy(),
    ]
    aligned = _aligned(table.column("row_key"), matched.column("row_key"), values)
    coverage = float((~np.isnan(aligned[:, 0])).mean()) if table.num_rows else 0.0
    return aligned, {"source": where, "coverage": round(coverage, 6)}


def _chicago_truth(workspace, config, table):
    """The generator's side files ``(id, arrest_probability)``: the one that explains the
    test window's outcomes best, among those covering nearly all of its ids (several
    synthetic runs can share id ranges)."""
    import numpy as np
    import pyarrow.parquet as pq

    where = config.chicago_truth or workspace.chicago_truth_dir
    if where is None:
        return None, {"source": None, "why": "no Chicago folder to look for truth in"}
    where = Path(where)
    files = [where] if where.is_file() else sorted(where.rglob("*.truth.parquet"))
    if not files:
        return None, {"source": None, "why": f"no *.truth.parquet under {where} (real data)"}
    labels = _labels(table)
    best, best_loglik, best_meta = None, -np.inf, None
    for path in files:
        truth = pq.read_table(path, columns=["id", "arrest_probability"])
        aligned = _aligned(
            table.column("row_key"),
            truth.column("id"),
            [truth.column("arrest_probability").to_numpy()],
        )
        known = ~np.isnan(aligned[:, 0])
        coverage = float(known.mean()) if table.num_rows else 0.0
        if coverage < 0.95:
            continue
        p = np.clip(aligned[known, 0], 1e-7, 1 - 1e-7)
        y = labels[known]
        loglik = float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        if loglik > best_loglik:
            best, best_loglik = aligned, loglik
            best_meta = {"source": str(path), "coverage": round(coverage, 6)}
    if best is None:
        return None, {"source": None, "why": f"no truth file under {where} covers the test ids"}
    return best, best_meta


# -- fitting -------------------------------------------------------------------------------------
def fit_binary(params: dict, dtrain, dvalid, config: TrainConfig):
    import xgboost as xgb

    stop = xgb.callback.EarlyStopping(
        rounds=config.early_stopping_rounds,
        metric_name="logloss",
        data_name="valid",
        save_best=True,
    )
    return xgb.train(
        {
            **BASE_PARAMS,
            **params,
            "objective": "binary:logistic",
            "eval_metric": ["auc", "logloss"],
            "nthread": config.nthread,
            "seed": config.seed,
        },
        dtrain,
        num_boost_round=config.max_rounds,
        evals=[(dvalid, "valid")],
        callbacks=[stop],
        verbose_eval=False,
    )


def search(
    fitted: FittedFeatures,
    train: pa.Table,
    valid: pa.Table,
    config: TrainConfig,
    echo: Callable[[str], None],
) -> tuple[object, dict, list[dict]]:
    """Each grid point early-stopped on validation; the best validation AUC wins."""
    from ml.evaluate import roc_auc

    y_train, y_valid = _labels(train) > 0, _labels(valid) > 0
    dtrain = fitted.dmatrix(train, y_train.astype(int), nthread=config.nthread)
    dvalid = fitted.dmatrix(valid, y_valid.astype(int), nthread=config.nthread)
    tried, best, best_params, chosen = [], None, None, None
    for number, params in enumerate(config.grid, 1):
        started = time.perf_counter()
        booster = fit_binary(params, dtrain, dvalid, config)
        auc = roc_auc(y_valid.astype(int), booster.predict(dvalid))
        tried.append(
            {
                "params": params,
                "rounds": booster.num_boosted_rounds(),
                "valid_auc": auc,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        echo(
            f"  search {number}/{len(config.grid)}: {params} -> {booster.num_boosted_rounds()} "
            f"rounds, validation AUC {auc}"
        )
        if best is None or (auc or 0) > (tried[best]["valid_auc"] or 0):
            best, best_params, chosen = number - 1, params, booster
    tried[best]["chosen"] = True
    return chosen, best_params, tried


# -- the champion --------------------------------------------------------------------------------
def champion_on_window(
    workspace: Workspace,
    champion: LoadedModel,
    spec: ModelSpec,
    test: pa.Table,
    schema: str,
    window: Window,
    share: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The champion's and the challenger's rows of the test window: a boolean mask over
    ``test`` of the rows both cover, and the champion's probabilities for them."""
    import numpy as np
    import pyarrow.compute as pc

    theirs = champion.features.spec
    if theirs.to_json() == spec.to_json():
        return np.ones(test.num_rows, bool), champion.predict(test)
    rows = query(
        workspace,
        theirs.select_sql(
            schema, window.where(theirs.time_column), sample=spec.sample_condition(share)
        ),
    )
    position = pc.index_in(
        test.column("row_key"), value_set=rows.column("row_key").combine_chunks()
    )
    index = position.to_numpy(zero_copy_only=False).astype(float)
    both = ~np.isnan(index)
    their_rows = rows.take(index[both].astype(np.int64))
    return both, champion.predict(their_rows)


def decide_promotion(
    registry: Registry,
    spec: ModelSpec,
    workspace: Workspace,
    config: TrainConfig,
    test: pa.Table,
    probability: np.ndarray,
    window: Window,
    share: float,
    echo,
) -> dict:
    from ml.evaluate import roc_auc

    record = registry.champion(spec.model)
    if record is None:
        return {"promoted": True, "reason": "no champion yet", "champion_version": None}
    champion = registry.load(spec.model, record["version"])
    both, theirs = champion_on_window(workspace, champion, spec, test, config.schema, window, share)
    y = (_labels(test)[both] > 0).astype(int)
    ours, their_auc = roc_auc(y, probability[both]), roc_auc(y, theirs)
    promoted = ours is not None and (their_auc is None or ours > their_auc + config.min_gain)
    echo(
        f"  champion {champion.version}: AUC {their_auc} vs this model's {ours} on the same "
        f"{int(both.sum()):,} test rows -> {'promote' if promoted else 'keep the champion'}"
    )
    return {
        "promoted": promoted,
        "reason": "beats the champion on the same test window"
        if promoted
        else "does not beat the champion on the same test window",
        "champion_version": champion.version,
        "champion_auc_same_window": their_auc,
        "challenger_auc_same_window": ours,
        "rows_compared": int(both.sum()),
        "min_gain": config.min_gain,
    }


# -- the whole run -------------------------------------------------------------------------------
def train(
    workspace: Workspace,
    model: str,
    config: TrainConfig | None = None,
    *,
    echo: Callable[[str], None] = _progress,
) -> dict:
    """Train ``model`` ("clearance" or "arrest"), register it, promote it if it wins.

    Returns the evaluation (what ``crimewh train --json`` prints): windows, metrics overall,
    per group and by calibration bin, ``test_auc`` and, on synthetic data, ``oracle_auc``.
    The steps: read the out-of-time windows, search and fit, evaluate on the test window
    (beside the generator's oracle where there is one), decide the promotion, save.
    """
    from ml.registry import Registry, new_version

    config = config or TrainConfig()
    if config.nthread is None:
        config = replace(config, nthread=workspace.nthread)
    spec = config.spec(model)
    started = time.perf_counter()
    version = new_version()
    echo(f"{model} {version}: reading {config.schema}.{spec.mart}")
    data = _read_windows(workspace, spec, config, echo)
    seconds = {"read": time.perf_counter() - started}

    fitted = FittedFeatures.fit(spec, data.frames["train"])
    clock = time.perf_counter()
    booster, params, tried = search(fitted, data.frames["train"], data.frames["valid"], config,
                                    echo)  # fmt: skip
    seconds["search"] = time.perf_counter() - clock
    results = _evaluate(workspace, spec, config, data, fitted, booster)
    clock = time.perf_counter()
    class_booster, results["three_class"] = _fit_three_class(
        spec, config, data, fitted, params, results["p_test"], results["oracle_probabilities"]
    )
    if class_booster is not None:
        seconds["classes"] = time.perf_counter() - clock

    registry = Registry(workspace)
    promotion = decide_promotion(
        registry, spec, workspace, config, data.frames["test"], results["p_test"],
        data.windows[2], data.shares["test"], echo,
    )  # fmt: skip
    evaluation = _evaluation(
        workspace, spec, config, data, version, booster, params, tried, results, promotion
    )
    seconds["total"] = time.perf_counter() - started
    evaluation["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    _save(registry, spec, evaluation, fitted, booster, class_booster)
    echo(
        f"{model} {version}: test AUC {evaluation['test_auc']}"
        + (f" (oracle {evaluation['oracle_auc']})" if evaluation["oracle_auc"] else "")
        + f"; {'champion' if promotion['promoted'] else 'registered, not promoted'}; "
        f"card at {evaluation['registry']['card']}"
    )
    return evaluation


@dataclass
class _Windows:
    """The mart's train, validation and test windows, as read (capped and sampled)."""

    mart: str
    last_day: date
    windows: list
    frames: dict  # window name -> Arrow table
    shares: dict  # window name -> the share of the window's rows read (1.0: all)


def _read_windows(workspace, spec: ModelSpec, config: TrainConfig, echo) -> _Windows:
    from ml.evaluate import choose_windows

    mart = f"{config.schema}.{spec.mart}"
    last_day = last_mature_day(workspace, spec, config.schema)
    if last_day is None:
        raise MLError(f"{mart} holds no rows the {spec.model} model covers: load data first")
    windows = choose_windows(monthly_counts(workspace, spec, config.schema, last_day), last_day)
    frames, shares = {}, {}
    for window in windows:
        cap = config.max_train_rows if window.name == "train" else config.max_eval_rows
        frames[window.name], shares[window.name] = read_window(
            workspace, spec, config.schema, window, cap
        )
        echo(
            f"  {window.name}: {window.start} .. {window.end - timedelta(days=1)}, "
            f"{frames[window.name].num_rows:,} rows"
            + (f" (a {shares[window.name]:.1%} sample)" if shares[window.name] < 1 else "")
        )
    for name, frame in frames.items():
        y = _labels(frame) > 0
        if frame.num_rows == 0 or y.min() == y.max():
            raise MLError(f"the {name} window of {mart} holds only one outcome: not enough data")
    return _Windows(mart, last_day, windows, frames, shares)


def _evaluate(workspace, spec, config, data: _Windows, fitted, booster) -> dict:
    """The booster on validation and test: metrics, calibration, the oracle, groups, subsets."""
    import numpy as np

    from ml.evaluate import (
        best_threshold,
        binary_metrics,
        calibration_table,
        expected_calibration_error,
        group_metrics,
        roc_auc,
    )

    valid_rows, test_rows = data.frames["valid"], data.frames["test"]
    y_valid = (_labels(valid_rows) > 0).astype(int)
    y_test = (_labels(test_rows) > 0).astype(int)
    p_valid = booster.predict(fitted.dmatrix(valid_rows, nthread=config.nthread))
    p_test = booster.predict(fitted.dmatrix(test_rows, nthread=config.nthread))
    threshold = best_threshold(y_valid, p_valid)
    test_metrics = binary_metrics(y_test, p_test, threshold)
    calibration = calibration_table(y_test, p_test)
    test_metrics["calibration_error"] = expected_calibration_error(calibration)

    oracle, oracle_meta = oracle_probabilities(
        workspace, spec, config, test_rows, config.schema, data.windows[2]
    )
    oracle_positive, oracle_section = None, {**oracle_meta}
    if oracle is not None:
        oracle_positive = 1 - oracle[:, 0] if spec.model == "clearance" else oracle[:, 0]
        known = ~np.isnan(oracle_positive)
        oracle_section.update(binary_metrics(y_test[known], oracle_positive[known], threshold))
        oracle_section["model_auc_same_rows"] = roc_auc(y_test[known], p_test[known])
    groups = {
        column: group_metrics(
            y_test,
            p_test,
            test_rows.column(f"group_{column}").to_numpy(zero_copy_only=False),
            threshold,
            oracle_positive,
            config.min_group_rows,
        )
        for column in spec.group_columns
    }
    subsets = _subsets(spec, workspace, config, data.windows[2], test_rows, y_test, p_test,
                       threshold, data.shares["test"])  # fmt: skip
    return {
        "p_test": p_test, "threshold": threshold, "test": test_metrics,
        "valid": binary_metrics(y_valid, p_valid, threshold), "calibration": calibration,
        "oracle": oracle_section, "oracle_probabilities": oracle, "groups": groups,
        "subsets": subsets,
    }  # fmt: skip


def _fit_three_class(spec, config, data: _Windows, fitted, params, p_test, oracle):
    """Clearance's open / arrest / exceptional split, in two stages: P(cleared) is the main
    booster's, and a second binary booster, fitted on the cleared rows alone with the chosen
    settings, gives P(arrest | cleared). Its test metrics beside the oracle's; (None, None)
    for a two-class model.

    Two stages rather than one softmax booster: the classes then always agree with the main
    probability the marts and the service show, and the second booster learns from about a
    third of the rows with one tree a round instead of three (a full-year softmax fit took
    longer than the whole search)."""
    import pyarrow as pa

    from ml.evaluate import multiclass_metrics
    from ml.registry import split_cleared

    if len(spec.classes) <= 2:
        return None, None
    cleared = {
        name: data.frames[name].filter(pa.array(_labels(data.frames[name]) > 0))
        for name in ("train", "valid")
    }
    if any(frame.num_rows == 0 for frame in cleared.values()):
        raise MLError("no cleared incidents in the train or validation window")
    arrest_class = spec.classes.index("arrest")
    arrest = {name: (_labels(frame) == arrest_class).astype(int) for name, frame in cleared.items()}
    booster = fit_binary(
        params,
        fitted.dmatrix(cleared["train"], arrest["train"], nthread=config.nthread),
        fitted.dmatrix(cleared["valid"], arrest["valid"], nthread=config.nthread),
        config,
    )
    test_rows = data.frames["test"]
    p_arrest = booster.predict(fitted.dmatrix(test_rows, nthread=config.nthread))
    probabilities = split_cleared(p_test, p_arrest)
    section = multiclass_metrics(_labels(test_rows), probabilities, spec.classes, oracle)
    section["stages"] = "P(cleared) x P(arrest | cleared)"
    section["rounds"] = booster.num_boosted_rounds()
    section["cleared_rows_used"] = cleared["train"].num_rows
    return booster, section


def _evaluation(workspace, spec, config, data, version, booster, params, tried, results,
                promotion) -> dict:  # fmt: skip
    """What ``metrics.json`` and the model card say about this version."""
    evaluation = {
        "model": spec.model,
        "version": version,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": f"P({spec.positive_class})",
        "data": {
            "table": data.mart,
            **_snapshot(workspace, spec, config.schema, data.frames, data.last_day),
        },
        "windows": {
            w.name: {
                **w.to_json(),
                "rows_used": data.frames[w.name].num_rows,
                "sample_share": round(data.shares[w.name], 6),
                "positives": int((_labels(data.frames[w.name]) > 0).sum()),
            }
            for w in data.windows
        },
        "maturity_days": spec.maturity_days,
        "feature_options": spec.options,
        "eligible_rows": spec.eligible_sql,
        "features": [{"name": f.name, "kind": f.kind} for f in spec.features],
        "leakage_guard": {
            "forbidden": list(spec.forbidden),
            "note": "checked by ml.features.check_leakage",
        },
        "search": tried,
        "params": {
            **BASE_PARAMS,
            **params,
            "rounds": booster.num_boosted_rounds(),
            "nthread": config.nthread,
        },
        "threshold": results["test"]["threshold"],
        "test_auc": results["test"]["roc_auc"],
        "oracle_auc": results["oracle"].get("roc_auc"),
        **{
            key: results[key]
            for key in (
                "valid",
                "test",
                "calibration",
                "oracle",
                "groups",
                "subsets",
                "three_class",
            )
        },
        "champion": promotion,
        "promoted": promotion["promoted"],
    }
    if spec.model == "arrest" and spec.options.get("exclude_on_view"):
        evaluation["excluded_types"] = _excluded_types(workspace, spec, config.schema)
    return evaluation


def _save(registry, spec, evaluation: dict, fitted, booster, class_booster) -> None:
    """The version's files and manifest in the registry; the champion pointer if it won."""
    from ml import card
    from ml.registry import CLEARED_ARREST

    model, version = spec.model, evaluation["version"]
    evaluation["registry"] = {
        "uri": registry.uri(model, version),
        "card": f"{registry.uri(model, version)}/card.md",
    }
    files = {
        "model.ubj": bytes(booster.save_raw("ubj")),
        "features.json": _json(fitted.to_json()),
        "metrics.json": _json(evaluation),
        "card.md": card.render(evaluation).encode(),
    }
    if class_booster is not None:
        files[CLEARED_ARREST] = bytes(class_booster.save_raw("ubj"))
    manifest = {
        "model": model,
        "version": version,
        "trained_at": evaluation["trained_at"],
        "windows": evaluation["windows"],
        "data": evaluation["data"],
        "features": [f.name for f in spec.features],
        "feature_options": spec.options,
        "test_auc": evaluation["test_auc"],
        "oracle_auc": evaluation["oracle_auc"],
        "xgboost": _xgboost_version(),
    }
    registry.save(model, version, files, manifest)
    promotion = evaluation["champion"]
    if promotion["promoted"]:
        registry.set_champion(
            model,
            {
                "version": version,
                "promoted_at": evaluation["trained_at"],
                "test_auc": evaluation["test_auc"],
                "test_window": evaluation["windows"]["test"],
                "replaced": promotion["champion_version"],
                "replaced_auc_same_window": promotion.get("champion_auc_same_window"),
            },
        )


def _subsets(spec, workspace, config, window, test_rows, y_test, p_test, threshold, share):
    """Arrest: the test figures without the police-initiated types as well (reference §4.3
    point 1: decide whether the model is for citizen-reported incidents; show both)."""
    import numpy as np

    from ml.evaluate import binary_metrics

    if spec.model != "arrest":
        return {}
    flags = query(
        workspace,
        f"select {spec.key} as row_key, is_police_initiated, is_arrest_generated "
        f"from {identifier(config.schema + '.' + spec.mart)} "
        f"where ({spec.eligible_sql}) and {window.where(spec.time_column)}",
    )
    aligned = _aligned(
        test_rows.column("row_key"),
        flags.column("row_key"),
        [
            np.asarray(flags.column(c).to_numpy(zero_copy_only=False), float)
            for c in ("is_police_initiated", "is_arrest_generated")
        ],
    )
    out = {}
    for name, column in (("without_police_initiated", 0), ("without_arrest_generated", 1)):
        keep = aligned[:, column] == 0
        if spec.options.get("exclude_on_view") and name == "without_arrest_generated":
            continue  # they are not in the model at all
        out[name] = binary_metrics(y_test[keep], p_test[keep], threshold)
    return out


def _excluded_types(workspace, spec, schema) -> list[dict]:
    table = query(
        workspace,
        f"select primary_type, count(*) as n from {identifier(schema + '.' + spec.mart)} "
        "where is_arrest_generated group by 1 order by 2 desc",
    )
    return [
        {"primary_type": t, "rows": n}
        for t, n in zip(
            table.column("primary_type").to_pylist(), table.column("n").to_pylist(), strict=True
        )
    ]


def _snapshot(workspace, spec, schema, frames, last_day) -> dict:
    """What the model saw: the mart's state and a fingerprint of the keys it used."""
    table = identifier(f"{schema}.{spec.mart}")
    state = query(
        workspace,
        f"select count(*) as n, max(source_loaded_at) as loaded, max({spec.time_column}) as last "
        f"from {table}",
    ).to_pylist()[0]
    digest = hashlib.sha256()
    for name in ("train", "valid", "test"):
        keys = frames[name].column("row_key").cast("string").to_pylist()
        digest.update("\n".join(sorted(keys)).encode())
    return {
        "mart_rows": state["n"],
        "max_source_loaded_at": str(state["loaded"]),
        "newest_date": str(state["last"]),
        "last_mature_day": last_day.isoformat(),
        "keys_sha256": digest.hexdigest(),
    }


def _json(data: dict) -> bytes:
    import json

    return json.dumps(data, indent=2, default=str).encode()


def _xgboost_version() -> str:
    import xgboost

    return xgboost.__version__


# -- is a model due? -----------------------------------------------------------------------------
def due_reason(
    workspace: Workspace,
    model: str,
    config: TrainConfig | None = None,
    *,
    max_age_days: float | None = None,
    new_data_days: int | None = None,
    now: datetime | None = None,
) -> str | None:
    """Why ``model`` should be trained now, or None when it need not be.

    Due when there is no champion, when the newest trained version (champion or a challenger
    that lost) is older than ``max_age_days``, or when the marts hold mature data at least
    ``new_data_days`` newer than the last day that version saw. Not due when the mart holds
    nothing to train on.
    """
    from ml.registry import Registry

    config = config or TrainConfig()
    if config.nthread is None:
        config = replace(config, nthread=workspace.nthread)
    spec = config.spec(model)
    max_age = max_age_days if max_age_days is not None else workspace.max_age_days
    new_days = new_data_days if new_data_days is not None else workspace.new_data_days
    table = f"{config.schema}.{spec.mart}"
    if not relation_exists(workspace, table):
        return None
    last_day = last_mature_day(workspace, spec, config.schema)
    if last_day is None:
        return None
    registry = Registry(workspace)
    if registry.champion(model) is None:
        return "no champion"
    versions = registry.versions(model)
    manifest = registry.manifest(model, versions[-1])
    trained_at = datetime.fromisoformat(manifest["trained_at"])
    age = ((now or datetime.now(UTC)) - trained_at).total_seconds() / 86400
    if age > max_age:
        return f"the newest version ({versions[-1]}) is {age:.1f} days old (limit {max_age:g})"
    seen = date.fromisoformat(manifest["windows"]["test"]["last_day"])
    if (last_day - seen).days >= new_days:
        return f"{table} holds data up to {last_day}, {(last_day - seen).days} days past {seen}"
    return None


def is_due(workspace: Workspace, model: str, config: TrainConfig | None = None, **kwargs) -> bool:
    """True when ``model`` should be trained now (see ``due_reason``)."""
    return due_reason(workspace, model, config, **kwargs) is not None
