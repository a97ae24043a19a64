"""Scoring with the champion: mart rows into ``ml.<model>_scores``.

Batch scoring (``score(workspace, model)``, the DAG's task and ``crimewh score <model>``)
finds the partitions of the mart (a Chicago year, a NIBRS data year) that the champion has
not scored, or whose mart rows were reloaded since, and replaces each such partition of the
scores table in one transaction: the scores go into a new table, which then takes the old
one's place (detach, attach), so a rerun scores nothing twice, a failed run leaves the
previous scores, and a new champion rescores everything. Rows are read, scored and written
a batch at a time (``BATCH_ROWS``), so memory stays the same whatever a partition's size.

Each row keeps what differs from row to row, in narrow types: the probability (and the
three class probabilities for clearance), and the three features that moved its log-odds
most (XGBoost's ``pred_contribs``) as indexes into the model's feature list
(``ml.model_features``), with the row's value of each and the contribution. What is the same
for a whole partition, the model version, when it was scored, the mart load it scored and
the contribution method, is kept once, in ``ml.<model>_score_partitions``. By default the
contributions are Saabas's path attributions (``approx_contribs``): exact TreeSHAP costs
O(trees x leaves x depth^2) per row, about 0.6 ms a row for a depth-8 model on two threads,
so rescoring Chicago's history after a promotion would take over an hour, where the
approximation takes seconds. The two agree on the top feature for 96% of NIBRS rows but only
67% of Chicago rows (primary type and FBI code share the credit differently), so
``contributions="shap"`` asks for the exact values where they matter.

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

from ml.db import MLError, connect, identifier, query

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from ml.db import Workspace
    from ml.registry import LoadedModel

log = logging.getLogger(__name__)
SCHEMA = "ml"
TOP_CONTRIBUTIONS = 3
BATCH_ROWS = 200_000
CONTRIBUTION_METHODS = ("saabas", "shap")  # approx_contribs, or exact TreeSHAP
CLASS_COLUMNS = ("p_open", "p_arrest", "p_exceptional")
FEATURES_TABLE = f"{SCHEMA}.model_features"


def _progress(message: str) -> None:
    # a log line, not a print: in an Airflow task stderr is logged at error level
    log.info(message)


def scores_table(model: str) -> str:
    return identifier(f"{SCHEMA}.{model}_scores")


def partitions_table(model: str) -> str:
    return identifier(f"{SCHEMA}.{model}_score_partitions")


def _ddl(loaded: LoadedModel) -> str:
    spec = loaded.features.spec
    contributions = ",\n".join(
        f"    top_feature_{k} smallint,\n    top_value_{k} text,\n    top_contribution_{k} real"
        for k in range(1, TOP_CONTRIBUTIONS + 1)
    )
    classes = "".join(f"    {c} real,\n" for c in CLASS_COLUMNS)
    return (
        f"create table if not exists {scores_table(spec.model)} (\n"
        "    scored_partition text not null,\n"
        f"    {spec.key} {spec.key_type} not null,\n"
        "    probability real not null,\n"
        + (classes if loaded.has_classes else "")
        + f"{contributions}\n) partition by list (scored_partition)"
    )


def _partitions_ddl(model: str) -> str:
    return (
        f"create table if not exists {partitions_table(model)} (\n"
        "    scored_partition text primary key,\n"
        "    model_version text not null,\n"
        "    scored_at timestamptz not null,\n"
        "    source_loaded_at timestamptz,\n"
        "    contribution_method text not null,\n"
        "    rows bigint not null\n)"
    )


FEATURES_DDL = (
    f"create table if not exists {FEATURES_TABLE} (\n"
    "    model text not null,\n"
    "    model_version text not null,\n"
    "    feature_index smallint not null,\n"
    "    feature_name text not null,\n"
    "    primary key (model, model_version, feature_index)\n)"
)


def _comment(loaded: LoadedModel) -> str:
    spec = loaded.features.spec
    return (
        f"comment on table {scores_table(spec.model)} is 'P({spec.positive_class}) per "
        f"{spec.mart} row from the champion {spec.model} model, one partition per "
        f"{spec.partition_column}; {partitions_table(spec.model)} says which version scored "
        "each partition and when; top_feature_k indexes ml.model_features and "
        "top_contribution_k is its log-odds contribution. Decision support only, never the "
        "sole basis for a decision.'"
    )


def top_contributions(loaded: LoadedModel, matrix: np.ndarray, contributions: np.ndarray):
    """Per row, the ``TOP_CONTRIBUTIONS`` features with the largest |contribution|: their
    indexes in the model's feature list, the row's values (as a person reads them) and the
    contributions. ``feature_names(loaded)[index]`` names them."""
    import numpy as np

    fitted = loaded.features
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
    return order, shown, picked


def feature_names(loaded: LoadedModel):
    """The model's features by index, as ``top_contributions`` numbers them."""
    import numpy as np

    return np.array(loaded.features.spec.feature_names, dtype=object)


def _scores_batch(loaded: LoadedModel, rows: pa.Table, method: str) -> pa.Table:
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
        nthread=loaded.nthread,
    )
    probability = loaded.booster.predict(dmatrix)
    contributions = loaded.booster.predict(
        dmatrix, pred_contribs=True, approx_contribs=method == "saabas"
    )
    order, shown, picked = top_contributions(loaded, matrix, contributions)
    key_type = pa.int64() if spec.key_type == "bigint" else pa.string()
    n = rows.num_rows
    columns = {
        "scored_partition": rows.column("scored_partition"),
        spec.key: rows.column("row_key").cast(key_type),
        "probability": pa.array(probability.astype(np.float32)),
    }
    if loaded.has_classes:
        classes = loaded.class_probabilities(dmatrix, probability).astype(np.float32)
        for j, name in enumerate(CLASS_COLUMNS):
            columns[name] = pa.array(classes[:, j])
    for k in range(TOP_CONTRIBUTIONS):
        present = k < order.shape[1]
        columns[f"top_feature_{k + 1}"] = pa.array(
            order[:, k].astype(np.int16) if present else [None] * n, pa.int16()
        )
        columns[f"top_value_{k + 1}"] = pa.array(
            shown[:, k] if present else [None] * n, pa.string()
        )
        columns[f"top_contribution_{k + 1}"] = pa.array(
            picked[:, k].astype(np.float32) if present else [None] * n, pa.float32()
        )
    return pa.table(columns)


def _ensure_tables(workspace, loaded: LoadedModel, echo) -> None:
    """Create the scores tables; one with other columns (an older layout) is rebuilt, since
    scores are derived data that the next lines write again."""
    spec = loaded.features.spec
    table = scores_table(spec.model)
    schema, name = table.split(".")
    expected = re.findall(r"^    ([a-z_0-9]+) ", _ddl(loaded), flags=re.MULTILINE)
    found = (
        query(
            workspace,
            "select column_name from information_schema.columns "
            "where table_schema = $1 and table_name = $2 order by ordinal_position",
            (schema, name),
        )
        .column("column_name")
        .to_pylist()
    )
    partitioned = bool(
        query(
            workspace,
            "select count(*) as n from pg_partitioned_table where partrelid = to_regclass($1)",
            (table,),
        )
        .column("n")[0]
        .as_py()
    )
    with connect(workspace) as conn, conn.cursor() as cur:
        cur.execute(f"create schema if not exists {SCHEMA}")
        if found and (found != expected or not partitioned):
            echo(f"  {table} has an older layout: rebuilding it (every row is scored again)")
            cur.execute(f"drop table {table} cascade")
            cur.execute(f"drop table if exists {partitions_table(spec.model)}")
        cur.execute(_ddl(loaded))
        cur.execute(_comment(loaded))
        cur.execute(_partitions_ddl(spec.model))
        cur.execute(FEATURES_DDL)
        conn.commit()


def pending_partitions(workspace: Workspace, loaded: LoadedModel, schema: str) -> list[dict]:
    """Per partition of the mart: its eligible rows, and whether the champion must score it
    (never scored, scored by another version, or reloaded since: a newer load or other rows).
    """
    spec = loaded.features.spec
    mart = identifier(f"{schema}.{spec.mart}")
    marts = query(
        workspace,
        f"select {spec.partition_column}::text as scored_partition, count(*) as total, "
        f"max(source_loaded_at) as loaded from {mart} where ({spec.eligible_sql}) "
        "group by 1 order by 1",
    ).to_pylist()
    done = {
        row["scored_partition"]: row
        for row in query(workspace, f"select * from {partitions_table(spec.model)}").to_pylist()
    }
    pending = []
    for partition in marts:
        scored = done.get(partition["scored_partition"])
        stale = (
            scored is None
            or scored["model_version"] != loaded.version
            or scored["rows"] != partition["total"]
            or (partition["loaded"] or 0) != (scored["source_loaded_at"] or 0)
        )
        pending.append({**partition, "todo": partition["total"] if stale else 0})
    return pending


def score(
    workspace: Workspace,
    model: str,
    *,
    schema: str = "marts",
    contributions: str = "saabas",
    echo: Callable[[str], None] = _progress,
) -> dict:
    """Score the mart partitions the champion has not scored yet; returns the counts.

    With no champion yet, or no mart to score, nothing is scored and ``skipped`` says why
    (the nightly run goes on; ``crimewh score`` reports it as an error).
    """
    from ml.db import relation_exists
    from ml.registry import Registry

    if contributions not in CONTRIBUTION_METHODS:
        raise MLError(f"contributions={contributions!r}: use one of {CONTRIBUTION_METHODS}")
    started = time.perf_counter()
    registry = Registry(workspace)
    if registry.champion(model) is None:
        return {"model_version": None, "rows_scored": 0, "skipped": (
            f"model {model} has no champion in {registry.url}: `crimewh train {model}` "
            "trains one")}  # fmt: skip
    loaded = registry.load_champion(model)
    spec = loaded.features.spec
    mart = f"{schema}.{spec.mart}"
    if not relation_exists(workspace, mart):
        return {"model_version": loaded.version, "rows_scored": 0,
                "skipped": f"{mart} does not exist: build the marts first"}  # fmt: skip
    _ensure_tables(workspace, loaded, echo)
    partitions = pending_partitions(workspace, loaded, schema)
    todo = [p for p in partitions if p["todo"]]
    rows_scored = 0
    for number, partition in enumerate(todo, 1):
        clock = time.perf_counter()
        rows_scored += _replace_partition(workspace, loaded, schema, partition, contributions)
        echo(
            f"  {model} scores {number}/{len(todo)}: {spec.partition_column}="
            f"{partition['scored_partition']}, {partition['total']:,} rows "
            f"in {time.perf_counter() - clock:.1f}s"
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
    workspace, loaded: LoadedModel, schema: str, partition: dict, method: str
) -> int:
    """Score one partition into a new table and swap it in for the old one, in a single
    transaction; the batches stream from one connection into the other."""
    import pyarrow as pa

    spec = loaded.features.spec
    value = partition["scored_partition"]
    literal = value.replace("'", "''")
    # the value inlined, not bound: ADBC streams a plain query through COPY in 16 MB batches,
    # but reads a parameterised one whole into memory (1.2 GB for a million incidents)
    sql = spec.select_sql(schema, f"{spec.partition_column}::text = '{literal}'")
    table = scores_table(spec.model)
    _, name = table.split(".")
    final = f"{name}__p{re.sub(r'[^a-z0-9]+', '_', value.lower())}"[:63]
    incoming = f"{final}__new"[:63]
    written = 0
    with (
        connect(workspace) as reader,
        reader.cursor() as source,
        connect(workspace) as writer,
        writer.cursor() as target,
    ):
        target.execute(f"drop table if exists {SCHEMA}.{incoming}")
        # created in this transaction: with wal_level=minimal its rows skip the WAL
        target.execute(f"create table {SCHEMA}.{incoming} (like {table})")
        source.execute(sql)
        pending: list[pa.RecordBatch] = []
        size = 0
        for batch in source.fetch_record_batch():
            pending.append(batch)
            size += batch.num_rows
            if size >= BATCH_ROWS:
                rows = pa.Table.from_batches(pending)
                written += target.adbc_ingest(
                    incoming, _scores_batch(loaded, rows, method), mode="append",
                    db_schema_name=SCHEMA,
                )  # fmt: skip
                pending, size = [], 0
        if pending:
            rows = pa.Table.from_batches(pending)
            written += target.adbc_ingest(
                incoming, _scores_batch(loaded, rows, method), mode="append",
                db_schema_name=SCHEMA,
            )  # fmt: skip
        target.execute(f"analyze {SCHEMA}.{incoming}")
        if _exists(target, f"{SCHEMA}.{final}"):
            target.execute(f"alter table {table} detach partition {SCHEMA}.{final}")
            target.execute(f"drop table {SCHEMA}.{final}")
        target.execute(f"alter table {SCHEMA}.{incoming} rename to {final}")
        target.execute(
            f"alter table {table} attach partition {SCHEMA}.{final} for values in ('{literal}')"
        )
        target.execute(
            f"insert into {partitions_table(spec.model)} as done (scored_partition, "
            "model_version, scored_at, source_loaded_at, contribution_method, rows) "
            "values ($1, $2, $3, $4, $5, $6) on conflict (scored_partition) do update set "
            "model_version = excluded.model_version, scored_at = excluded.scored_at, "
            "source_loaded_at = excluded.source_loaded_at, "
            "contribution_method = excluded.contribution_method, rows = excluded.rows",
            (value, loaded.version, datetime.now(UTC), partition["loaded"], method, written),
        )
        for index, feature in enumerate(feature_names(loaded)):
            target.execute(
                f"insert into {FEATURES_TABLE} values ($1, $2, $3, $4) on conflict do nothing",
                (spec.model, loaded.version, index, feature),
            )
        writer.commit()
    return written


def _exists(cur, relation: str) -> bool:
    cur.execute("select to_regclass($1) is not null", (relation,))
    return bool(cur.fetchone()[0])
