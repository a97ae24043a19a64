"""Honest evaluation: out-of-time windows and the metrics reported for them.

The windows follow the calendar, never a random split: the model learns on the earliest
months, early stopping, the hyperparameter search and the decision threshold use the next
ones (validation), and the figures that are reported come from the latest ones (test),
which nothing was tuned on. With three years or more of months with data the windows are
a year of test, the year before as validation and up to two years before that for training (drift
makes older years a worse guide; reference chicago-crimes-soda.md §4.3 point 6). With less,
the months are cut by rows: about the last 15% for test, the 15% before for validation.

Metrics: ROC-AUC, PR-AUC, F1/precision/recall at the threshold chosen on validation, the
Brier score and log loss, a calibration table, and the same per group (state, population
group, district) so that uneven performance shows. Where the generator recorded each row's
true probability, the oracle's figures on the same rows stand beside the model's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ml.db import MLError

if TYPE_CHECKING:
    import numpy as np

LONG_HISTORY_MONTHS = 36
TEST_MONTHS, VALID_MONTHS, TRAIN_MONTHS = 12, 12, 24
TEST_SHARE = VALID_SHARE = 0.15
CALIBRATION_BINS = 10
MIN_GROUP_ROWS = 100  # groups smaller than this get counts only: an AUC of 30 rows is noise


@dataclass(frozen=True)
class Window:
    name: str
    start: date  # first day
    end: date  # the day after the last
    rows: int  # eligible rows in the mart (before any sampling)

    def where(self, column: str) -> str:
        first, stop = self.start.isoformat(), self.end.isoformat()
        return f"{column} >= date '{first}' and {column} < date '{stop}'"

    def to_json(self) -> dict:
        data = asdict(self)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        data["last_day"] = (self.end - timedelta(days=1)).isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict) -> Window:
        return cls(
            data["name"],
            date.fromisoformat(data["start"]),
            date.fromisoformat(data["end"]),
            data["rows"],
        )


def choose_windows(monthly: list[tuple[date, int]], last_day: date) -> tuple[Window, ...]:
    """Train, validation and test windows from rows per month (month starts, ascending).

    ``last_day`` is the last day whose rows may be used (labels mature); the test window
    ends with it.
    """
    months = [(start, rows) for start, rows in monthly if rows > 0 and start <= last_day]
    # a few late reports dated years back (NIBRS incidents in an older month) are no history
    # to learn from: only months with a tenth of the median month's rows count
    typical = sorted(rows for _, rows in months)[len(months) // 2] if months else 0
    months = [(start, rows) for start, rows in months if rows >= typical / 10]
    if len(months) < 3:
        raise MLError(
            f"only {len(months)} month(s) of data up to {last_day}: the models need at least "
            "three (train, validate, test, each later than the one before); load more data"
        )
    end = last_day + timedelta(days=1)
    if len(months) >= LONG_HISTORY_MONTHS:
        # counted in months that hold data: where years are missing (a warehouse holding
        # 2012-2014 and 2020) the earlier windows move back over the gap instead of falling
        # into it empty; with no gap these are the calendar's last 12, 12 and 24 months
        test_index = len(months) - TEST_MONTHS
        valid_index = test_index - VALID_MONTHS
        test_from, valid_from = months[test_index][0], months[valid_index][0]
        train_from = months[max(valid_index - TRAIN_MONTHS, 0)][0]
    else:
        total = sum(rows for _, rows in months)
        test_from = _cut_from_end(months, total * TEST_SHARE, keep=2)
        before = [m for m in months if m[0] < test_from]
        valid_from = _cut_from_end(before, total * VALID_SHARE, keep=1)
        train_from = months[0][0]

    def rows(first, stop):
        return sum(r for start, r in months if first <= start < stop)

    return (
        Window("train", train_from, valid_from, rows(train_from, valid_from)),
        Window("valid", valid_from, test_from, rows(valid_from, test_from)),
        Window("test", test_from, end, rows(test_from, end)),
    )


def _cut_from_end(months, wanted: float, *, keep: int) -> date:
    """The first month of the shortest run of final months holding ``wanted`` rows, leaving
    at least ``keep`` months before it."""
    taken = 0
    for index in range(len(months) - 1, keep - 1, -1):
        taken += months[index][1]
        if taken >= wanted:
            return months[index][0]
    return months[keep][0]


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


# -- metrics -------------------------------------------------------------------------------------
def _float(value) -> float | None:
    import math

    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 6)


def roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if y.size == 0 or y.min() == y.max():
        return None  # one class only: the AUC is undefined
    return _float(roc_auc_score(y, p))


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut that maximises F1 (chosen on validation, used on test)."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    if y.size == 0 or y.min() == y.max():
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y, p)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    import numpy as np
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
    )

    y = np.asarray(y, int)
    both = y.size > 0 and y.min() != y.max()
    predicted = (p >= threshold).astype(int)
    return {
        "rows": int(y.size),
        "positives": int(y.sum()),
        "base_rate": _float(y.mean()) if y.size else None,
        "mean_predicted": _float(p.mean()) if y.size else None,
        "roc_auc": roc_auc(y, p),
        "pr_auc": _float(average_precision_score(y, p)) if both else None,
        "brier": _float(brier_score_loss(y, p)) if y.size else None,
        "log_loss": _float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))
        if y.size
        else None,
        "threshold": _float(threshold),
        "f1": _float(f1_score(y, predicted, zero_division=0)) if y.size else None,
        "precision": _float(precision_score(y, predicted, zero_division=0)) if y.size else None,
        "recall": _float(recall_score(y, predicted, zero_division=0)) if y.size else None,
    }


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Rows, mean predicted and observed rate per equal-width probability bin."""
    import numpy as np

    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        table.append(
            {
                "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                "rows": count,
                "mean_predicted": _float(p[mask].mean()) if count else None,
                "observed_rate": _float(y[mask].mean()) if count else None,
            }
        )
    return table


def expected_calibration_error(table: list[dict]) -> float | None:
    total = sum(row["rows"] for row in table)
    if not total:
        return None
    gap = sum(
        row["rows"] * abs(row["mean_predicted"] - row["observed_rate"])
        for row in table
        if row["rows"]
    )
    return _float(gap / total)


def group_metrics(
    y: np.ndarray,
    p: np.ndarray,
    groups: np.ndarray,
    threshold: float,
    oracle: np.ndarray | None = None,
    min_rows: int = MIN_GROUP_ROWS,
) -> list[dict]:
    """The metrics per group value, largest groups first; small groups get counts only."""
    import numpy as np

    values = np.asarray(groups, dtype=object)
    values = np.where(values == None, "(missing)", values)  # noqa: E711  (elementwise)
    out = []
    for value in sorted(set(values.tolist()), key=lambda v: (-(values == v).sum(), str(v))):
        mask = values == value
        rows = int(mask.sum())
        entry = {
            "group": str(value),
            "rows": rows,
            "positives": int(y[mask].sum()),
            "base_rate": _float(y[mask].mean()),
        }
        if rows >= min_rows:
            metrics = binary_metrics(y[mask], p[mask], threshold)
            entry.update({k: metrics[k] for k in ("roc_auc", "pr_auc", "brier", "f1")})
            entry["mean_predicted"] = metrics["mean_predicted"]
            if oracle is not None:
                known = mask & ~np.isnan(oracle)
                entry["oracle_auc"] = roc_auc(y[known], oracle[known])
        else:
            entry["note"] = f"fewer than {min_rows} rows: counts only"
        out.append(entry)
    return out


def multiclass_metrics(
    y: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...], oracle=None
) -> dict:
    """Log loss, accuracy, macro F1 and one-vs-rest AUC per class (and the oracle's)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    y = np.asarray(y, int)
    labels = list(range(len(classes)))
    clipped = np.clip(probabilities, 1e-7, 1)
    clipped = clipped / clipped.sum(1, keepdims=True)
    result = {
        "rows": int(y.size),
        "class_shares": {c: _float((y == k).mean()) for k, c in enumerate(classes)},
        "log_loss": _float(log_loss(y, clipped, labels=labels)),
        "accuracy": _float(accuracy_score(y, probabilities.argmax(1))),
        "macro_f1": _float(
            f1_score(y, probabilities.argmax(1), average="macro", labels=labels, zero_division=0)
        ),
        "roc_auc_one_vs_rest": {
            c: roc_auc((y == k).astype(int), probabilities[:, k]) for k, c in enumerate(classes)
        },
    }
    if oracle is not None:
        known = ~np.isnan(oracle).any(1)
        truth = np.clip(oracle[known], 1e-7, 1)
        truth = truth / truth.sum(1, keepdims=True)
        result["oracle"] = {
            "rows": int(known.sum()),
            "log_loss": _float(log_loss(y[known], truth, labels=labels)),
            "roc_auc_one_vs_rest": {
                c: roc_auc((y[known] == k).astype(int), oracle[known, k])
                for k, c in enumerate(classes)
            },
        }
    return result
