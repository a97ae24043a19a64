"""Scoring with the champion: mart rows into ``ml.<model>_scores``, or a user's CSV.

Batch scoring (``score(settings, model)``, the DAG's task and ``crimewh score <model>``)
finds the partitions of the mart (a Chicago year, a NIBRS data year) holding rows that the
champion has not scored, or whose mart row was reloaded since, and replaces each such
partition of the scores table in one transaction: a rerun scores nothing twice, a failed
run leaves the previous scores, and a new champion rescores everything. Each row gets the
probability, the model version, when it was scored and the three features that moved its
log-odds most (XGBoost's ``pred_contribs``), with the row's value of each. By default the
contributions are Saabas's path attributions (``approx_contribs``): exact TreeSHAP costs
O(trees x leaves x depth^2) per row, about 0.6 ms a row for a depth-8 model on two threads,
so rescoring Chicago's history after a promotion would take over an hour, where the
approximation takes seconds. The two agree on the top feature for 96% of NIBRS rows but only
67% of Chicago rows (primary type and FBI code share the credit differently), so
``contributions="shap"`` asks for the exact values where they matter; the
``contribution_method`` column says which a row has.

A user's CSV of Chicago crimes (``crimewh score arrest --file``) is scored by
``ml.csv_scoring``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ml.db import MLError, connect, identifier, nthread, query

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from crimewh.settings import Settings
    from ml.registry import LoadedModel

log = logging.getLogger(__name__)
SCHEMA = "ml"
TOP_CONTRIBUTIONS = 3
BATCH_ROWS = 200_000
CONTRIBUTION_METHODS = ("saabas", "shap")  # approx_contribs, or exact TreeSHAP
CLASS_COLUMNS = ("p_open", "p_arrest", "p_exceptional")


def _progress(message: str) -> None:
    # a log line, not a print: in an Airflow task stderr is logged at error level
    log.info(message)


def scores_table(model: str) -> str:
    return identifier(f"{SCHEMA}.{model}_scores")


def _ddl(loaded: LoadedModel) -> str:
    spec = loaded.features.spec
    contributions = ",\n".join(
        f"    top_feature_{k} text,\n    top_value_{k} text,\n"
        f"    top_contribution_{k} double precision"
        for k in range(1, TOP_CONTRIBUTIONS + 1)
    )
    classes = "".join(f"    {c} double precision,\n" for c in CLASS_COLUMNS)
    return (
        f"create table if not exists {scores_table(spec.model)} (\n"
        f"    {spec.key} {spec.key_type} primary key,\n"
        "    scored_partition text not null,\n"
        "    probability double precision not null,\n"
        + (classes if loaded.class_booster is not None else "")
        + "    model_version text not null,\n"
        "    scored_at timestamptz not null,\n"
        "    source_loaded_at timestamptz,\n"
        "    contribution_method text not null,\n"
        f"{contributions}\n)"
    )


def _comment(loaded: LoadedModel) -> str:
    spec = loaded.features.spec
    return (
        f"comment on table {scores_table(spec.model)} is 'P({spec.positive_class}) per "
        f"{spec.mart} row from the champion {spec.model} model; top_contribution_k are "
        "log-odds contributions (contribution_method: saabas = XGBoost approx_contribs, "
        "shap = exact TreeSHAP). Decision support only, never the sole basis for a decision.'"
    )


def top_contributions(loaded: LoadedModel, matrix: np.ndarray, contributions: np.ndarray):
    """Per row, the ``TOP_CONTRIBUTIONS`` features with the largest |contribution|: their
    names, the row's values (as a person reads them) and the contributions."""
    import numpy as np

    fitted = loaded.features
    names = np.array(fitted.spec.feature_names, dtype=object)
    values = contributions[:, :-1]  # the last column is the bias
    k = min(TOP_CONTRIBUTIONS, values.shape[1])
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
    rows = np.arange(values.shape[0])[:, None]
    picked = values[rows, order]
    shown = np.empty(order.shape, dtype=object)
    for j, feature in enumerate(fitted.spec.features):
        where = order == j
        if not where.any():
            continue
        raw = matrix[rows.repeat(k, 1)[where], j]
        text = np.full(raw.shape, "missing", dtype=object)
        known = ~np.isnan(raw)
        if feature.name in fitted.vocabularies:
            vocabulary = np.array(fitted.vocabularies[feature.name], dtype=object)
            text[known] = vocabulary[raw[known].astype(np.int64)]
        else:
            text[known] = [f"{v:g}" for v in raw[known]]
        shown[where] = text
    return names[order], shown, picked


def _scores_batch(
    loaded: LoadedModel, rows: pa.Table, scored_at: datetime, method: str
) -> pa.Table:
    import numpy as np
    import pyarrow as pa
    import xgboost as xgb

    fitted = loaded.features
    spec = fitted.spec
    matrix = fitted.encode(rows)
    dmatrix = xgb.DMatrix(
        matrix,
        feature_names=spec.feature_names,
        feature_types=fitted.feature_types,
        enable_categorical=True,
        nthread=nthread(),
    )
    probability = loaded.booster.predict(dmatrix)
    contributions = loaded.booster.predict(
        dmatrix, pred_contribs=True, approx_contribs=method == "saabas"
    )
    names, shown, picked = top_contributions(loaded, matrix, contributions)
    key_type = pa.int64() if spec.key_type == "bigint" else pa.string()
    columns = {
        spec.key: rows.column("row_key").cast(key_type),
        "scored_partition": rows.column("scored_partition"),
        "probability": pa.array(probability.astype(np.float64)),
    }
    if loaded.class_booster is not None:
        classes = loaded.class_booster.predict(dmatrix).astype(np.float64)
        for j, name in enumerate(CLASS_COLUMNS):
            columns[name] = pa.array(classes[:, j])
    n = rows.num_rows
    columns["model_version"] = pa.array([loaded.version] * n, pa.string())
    columns["scored_at"] = pa.array([scored_at] * n, pa.timestamp("us", tz="UTC"))
    columns["source_loaded_at"] = rows.column("source_loaded_at").cast(pa.timestamp("us", tz="UTC"))
    columns["contribution_method"] = pa.array([method] * n, pa.string())
    for k in range(TOP_CONTRIBUTIONS):
        present = k < names.shape[1]
        columns[f"top_feature_{k + 1}"] = pa.array(
            names[:, k] if present else [None] * n, pa.string()
        )
        columns[f"top_value_{k + 1}"] = pa.array(
            shown[:, k] if present else [None] * n, pa.string()
        )
        columns[f"top_contribution_{k + 1}"] = pa.array(
            picked[:, k].astype(np.float64) if present else [None] * n, pa.float64()
        )
    return pa.table(columns)


def _ensure_table(settings, loaded: LoadedModel, echo) -> None:
    """Create the scores table; one with other columns (an older layout) is rebuilt, since
    scores are derived data that the next lines write again."""
    spec = loaded.features.spec
    table = scores_table(spec.model)
    schema, name = table.split(".")
    expected = re.findall(r"^    ([a-z_0-9]+) ", _ddl(loaded), flags=re.MULTILINE)
    found = (
        query(
            settings,
            "select column_name from information_schema.columns "
            "where table_schema = $1 and table_name = $2 order by ordinal_position",
            (schema, name),
        )
        .column("column_name")
        .to_pylist()
    )
    with connect(settings) as conn, conn.cursor() as cur:
        cur.execute(f"create schema if not exists {SCHEMA}")
        if found and found != expected:
            echo(f"  {table} has an older layout: rebuilding it (every row is scored again)")
            cur.execute(f"drop table {table}")
        cur.execute(_ddl(loaded))
        cur.execute(_comment(loaded))
        cur.execute(f"create index if not exists {name}_partition on {table} (scored_partition)")
        conn.commit()


def pending_partitions(settings: Settings, loaded: LoadedModel, schema: str) -> list[dict]:
    """Per partition of the mart: eligible rows, and those the champion has not scored."""
    spec = loaded.features.spec
    mart = identifier(f"{schema}.{spec.mart}")
    result = query(
        settings,
        f"select m.{spec.partition_column}::text as scored_partition, count(*) as total, "
        f"count(*) filter (where s.{spec.key} is null) as todo "
        f"from {mart} as m left join {scores_table(spec.model)} as s "
        f"on s.{spec.key} = m.{spec.key} and s.model_version = $1 "
        f"and s.source_loaded_at is not distinct from m.source_loaded_at "
        f"where ({spec.eligible_sql}) group by 1 order by 1",
        (loaded.version,),
    )
    return result.to_pylist()


def score(
    settings: Settings,
    model: str,
    *,
    schema: str = "marts",
    contributions: str = "saabas",
    echo: Callable[[str], None] = _progress,
) -> dict:
    """Score the mart rows the champion has not scored yet; returns the counts.

    With no champion yet, or no mart to score, nothing is scored and ``skipped`` says why
    (the nightly run goes on; ``crimewh score`` reports it as an error).
    """
    from ml.db import relation_exists
    from ml.registry import Registry

    if contributions not in CONTRIBUTION_METHODS:
        raise MLError(f"contributions={contributions!r}: use one of {CONTRIBUTION_METHODS}")
    started = time.perf_counter()
    registry = Registry(settings)
    if registry.champion(model) is None:
        return {"model_version": None, "rows_scored": 0, "skipped": (
            f"model {model} has no champion in {registry.url}: `crimewh train {model}` "
            "trains one")}  # fmt: skip
    loaded = registry.load_champion(model)
    spec = loaded.features.spec
    mart = f"{schema}.{spec.mart}"
    if not relation_exists(settings, mart):
        return {"model_version": loaded.version, "rows_scored": 0,
                "skipped": f"{mart} does not exist: build the marts first"}  # fmt: skip
    _ensure_table(settings, loaded, echo)
    partitions = pending_partitions(settings, loaded, schema)
    todo = [p for p in partitions if p["todo"]]
    scored_at = datetime.now(UTC)
    rows_scored = 0
    for number, partition in enumerate(todo, 1):
        clock = time.perf_counter()
        rows_scored += _replace_partition(
            settings, loaded, schema, partition["scored_partition"], scored_at, contributions
        )
        echo(
            f"  {model} scores {number}/{len(todo)}: {spec.partition_column}="
            f"{partition['scored_partition']}, {partition['total']:,} rows "
            f"({partition['todo']:,} new or changed) in {time.perf_counter() - clock:.1f}s"
        )
    return {
        "model_version": loaded.version,
        "table": scores_table(model),
        "partitions_scored": [p["scored_partition"] for p in todo],
        "rows_scored": rows_scored,
        "rows_already_scored": sum(p["total"] for p in partitions if not p["todo"]),
        "contribution_method": contributions,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _replace_partition(
    settings, loaded: LoadedModel, schema: str, partition: str, scored_at: datetime, method: str
) -> int:
    """Delete and rewrite one partition of the scores in a single transaction."""
    import pyarrow as pa

    spec = loaded.features.spec
    sql = spec.select_sql(schema, f"{spec.partition_column}::text = $1")
    table = scores_table(spec.model)
    _, name = table.split(".")
    written = 0
    with (
        connect(settings) as reader,
        reader.cursor() as source,
        connect(settings) as writer,
        writer.cursor() as target,
    ):
        target.execute(f"delete from {table} where scored_partition = $1", (partition,))
        # a row can move partition (a corrected date): its old score goes too
        mart = identifier(f"{schema}.{spec.mart}")
        target.execute(
            f"delete from {table} where {spec.key} in (select {spec.key} from {mart} "
            f"where {spec.partition_column}::text = $1)",
            (partition,),
        )
        source.execute(sql, (partition,))
        pending: list[pa.RecordBatch] = []
        size = 0
        for batch in source.fetch_record_batch():
            pending.append(batch)
            size += batch.num_rows
            if size >= BATCH_ROWS:
                written += target.adbc_ingest(
                    name,
                    _scores_batch(loaded, pa.Table.from_batches(pending), scored_at, method),
                    mode="append",
                    db_schema_name=SCHEMA,
                )
                pending, size = [], 0
        if pending:
            written += target.adbc_ingest(
                name,
                _scores_batch(loaded, pa.Table.from_batches(pending), scored_at, method),
                mode="append",
                db_schema_name=SCHEMA,
            )
        writer.commit()
    return written
