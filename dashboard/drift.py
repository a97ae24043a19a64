"""Drift of a model's features: the population stability index (PSI) of each feature between
the training window and the latest scored data, from the counts the drift queries return.

PSI = sum over values of (latest share - training share) * ln(latest share / training share),
with a small floor for values one side never saw. Below 0.1 is usually read as stable, 0.1 to
0.2 as a shift to watch, above 0.2 (THRESHOLD) as drift that calls for retraining.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

THRESHOLD = 0.2
FLOOR = 1e-4  # a share for a value one window lacks, so that the logarithm stays finite


def psi(training: pd.Series, latest: pd.Series) -> float:
    """PSI of two count series indexed by value."""
    values = training.index.union(latest.index)
    p = training.reindex(values, fill_value=0).astype(float)
    q = latest.reindex(values, fill_value=0).astype(float)
    p = np.maximum(p / p.sum(), FLOOR)
    q = np.maximum(q / q.sum(), FLOOR)
    return float(((q - p) * np.log(q / p)).sum())


def feature_drift(counts: pd.DataFrame) -> pd.DataFrame:
    """One row per feature: rows in each window, PSI, and whether it passes the threshold.

    ``counts`` has the columns feature, value, sample ('training' or 'latest'), rows.
    """
    rows = []
    for feature, group in counts.groupby("feature", sort=True):
        by_sample = {
            sample: part.set_index(part["value"].fillna("(missing)"))["rows"]
            for sample, part in group.groupby("sample")
        }
        training = by_sample.get("training", pd.Series(dtype=float))
        latest = by_sample.get("latest", pd.Series(dtype=float))
        value = psi(training, latest) if len(training) and len(latest) else None
        rows.append({
            "feature": feature, "psi": value, "training_rows": int(training.sum()),
            "latest_rows": int(latest.sum()),
            "drifted": value is not None and value > THRESHOLD,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["feature", "psi", "training_rows", "latest_rows", "drifted"])
