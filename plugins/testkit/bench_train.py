"""`make bench`: training throughput of the arrest model on a million synthetic rows.

The rows come from the Chicago generator (``testkit.chicago_synth``) through the same
feature definition a user's CSV goes through (``ml.features.chicago_source_features``),
so no warehouse is needed. The earliest million eligible rows are the training window and
the next ones the validation window, as in a real run. The figure covers what a training
run does per grid point: fit the vocabularies, build the matrices, and boost with early
stopping (depth 6, two threads). The prepared rows are cached beside the results.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

TRAIN_ROWS = 1_000_000
VALID_SHARE = 0.2  # validation rows per training row
GENERATED_SHARE = 1.4  # rows generated per training row: enough eligible rows for both windows
YEARS = (2016, 2025)


def prepared_rows(folder: Path, *, rows: int, seed: int = 0):
    """Synthetic Chicago rows in the arrest model's feature shape, sorted by date."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from crimewh.settings import project_dir
    from ml.features import arrest_spec, chicago_source_features
    from testkit.chicago_synth import synthesize

    path = folder / "arrest-rows.parquet"
    marker = folder / "arrest-rows.json"
    recipe = {"rows": rows, "seed": seed, "years": list(YEARS)}
    if path.exists() and marker.exists() and json.loads(marker.read_text()) == recipe:
        return pq.read_table(path)
    print(f"bench: synthesizing {rows:,} Chicago rows -> {path}", file=sys.stderr, flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    wire = synthesize(rows, seed=seed, years=YEARS).table
    wire = wire.sort_by("date")
    fields = (
        "date",
        "primary_type",
        "location_description",
        "domestic",
        "beat",
        "district",
        "ward",
        "community_area",
        "fbi_code",
        "x_coordinate",
        "latitude",
        "longitude",
    )
    columns = {name: wire.column(name).to_pylist() for name in fields}
    seeds = project_dir() / "dbt_project" / "seeds"
    source = chicago_source_features(columns, arrest_spec(), seeds)
    keep = np.ones(wire.num_rows, bool)
    keep[list(source.errors)] = False  # the arrest-generated types, as the model leaves out
    table = source.table.append_column("label", wire.column("arrest").cast(pa.int64()))
    table = table.filter(pa.array(keep))
    pq.write_table(table, path)
    marker.write_text(json.dumps(recipe))
    return table


def bench_train(folder: Path, *, rows: int = TRAIN_ROWS) -> dict:
    """Train on ``rows`` rows (a million in ``make bench``); the result is one JSON object."""
    import numpy as np

    from ml.evaluate import roc_auc
    from ml.features import FittedFeatures, arrest_spec
    from ml.train import GRID, TrainConfig, fit_binary

    valid_rows = int(rows * VALID_SHARE)
    table = prepared_rows(Path(folder), rows=int(rows * GENERATED_SHARE))
    if table.num_rows < rows + valid_rows // 2:
        raise RuntimeError(f"only {table.num_rows:,} eligible rows; raise GENERATED_SHARE")
    train, valid = table.slice(0, rows), table.slice(rows, valid_rows)
    y_train = train.column("label").to_numpy()
    y_valid = valid.column("label").to_numpy()
    config = TrainConfig()
    params = GRID[1]

    started = time.perf_counter()
    fitted = FittedFeatures.fit(arrest_spec(), train)
    dtrain = fitted.dmatrix(train, y_train, nthread=config.nthread)
    dvalid = fitted.dmatrix(valid, y_valid, nthread=config.nthread)
    booster = fit_binary(params, dtrain, dvalid, config)
    seconds = time.perf_counter() - started
    return {
        "bench": "train",
        "rows": train.num_rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(train.num_rows / seconds),
        "rounds": booster.num_boosted_rounds(),
        "features": len(fitted.spec.features),
        "params": {**params, "tree_method": "hist", "nthread": config.nthread},
        "valid_rows": valid.num_rows,
        "valid_auc": roc_auc(np.asarray(y_valid, int), booster.predict(dvalid)),
    }
