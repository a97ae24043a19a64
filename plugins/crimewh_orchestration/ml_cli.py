"""`crimewh train` and `crimewh score`: the same code the nightly DAG runs.

crimewh train arrest|clearance [--json] [--include-on-view] [--offender-known] [--if-due]
crimewh score arrest|clearance [--contributions saabas|shap]
crimewh score arrest --file F.csv [--out P.csv]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crimewh_orchestration.workspace import ml_workspace

MODELS = ("clearance", "arrest")
CONTRIBUTION_METHODS = ("saabas", "shap")  # as ml.score, without importing it here
ERROR_PREVIEW = 20  # bad rows listed on the terminal; all of them are in the output's column


def _settings():
    from crimewh.settings import settings

    return settings()


def _train(args: argparse.Namespace) -> int:
    from crimewh.settings import SettingsError
    from ml.db import MLError
    from ml.train import TrainConfig, due_reason, train

    config = TrainConfig(
        exclude_on_view=not args.include_on_view,
        offender_known=args.offender_known,
        max_train_rows=args.max_train_rows,
    )
    try:
        settings = _settings()
        if args.if_due:
            reason = due_reason(ml_workspace(settings), args.model, config)
            if reason is None:
                print(json.dumps({"model": args.model, "trained": False, "due": False}))
                return 0
            print(f"{args.model} is due: {reason}", file=sys.stderr)
        evaluation = train(ml_workspace(settings), args.model, config)
    except (MLError, SettingsError) as error:
        print(f"crimewh train {args.model}: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(evaluation, default=str))
        return 0
    test = evaluation["test"]
    lines = [
        f"{args.model} {evaluation['version']} "
        f"({'champion' if evaluation['promoted'] else 'registered, not promoted'})",
        f"  test {evaluation['windows']['test']['start']} .. "
        f"{evaluation['windows']['test']['last_day']}: ROC-AUC {test['roc_auc']}, "
        f"PR-AUC {test['pr_auc']}, F1 {test['f1']} at {test['threshold']}, "
        f"Brier {test['brier']}",
    ]
    if evaluation.get("oracle_auc") is not None:
        lines.append(f"  oracle (true probabilities) ROC-AUC {evaluation['oracle_auc']}")
    lines.append(f"  model card: {evaluation['registry']['card']}")
    print("\n".join(lines))
    return 0


def _score(args: argparse.Namespace) -> int:
    from crimewh.settings import SettingsError
    from ml.db import MLError

    try:
        if args.file is not None:
            return _score_file(args)
        if args.out is not None:
            print("crimewh score: --out goes with --file", file=sys.stderr)
            return 2
        from ml.score import score

        result = score(ml_workspace(_settings()), args.model, contributions=args.contributions)
    except (MLError, SettingsError) as error:
        print(f"crimewh score {args.model}: {error}", file=sys.stderr)
        return 1
    if result.get("skipped"):
        print(f"crimewh score {args.model}: {result['skipped']}", file=sys.stderr)
        return 1
    print(json.dumps({"model": args.model, **result}, indent=2))
    return 0


def _score_file(args: argparse.Namespace) -> int:
    from ml.csv_scoring import score_csv

    if args.model != "arrest":
        print(
            "crimewh score: --file scores Chicago crimes with the arrest model; "
            "use `crimewh score arrest --file F.csv`",
            file=sys.stderr,
        )
        return 2
    result = score_csv(ml_workspace(_settings()), args.file, args.out)
    for error in result["errors"][:ERROR_PREVIEW]:
        print(
            f"{args.file}: row {error['row']} (line {error['line']}): {error['error']}",
            file=sys.stderr,
        )
    hidden = len(result["errors"]) - ERROR_PREVIEW
    if hidden > 0:
        print(f"... and {hidden} more bad rows: see the error column", file=sys.stderr)
    summary = {key: value for key, value in result.items() if key != "errors"}
    summary["bad_rows"] = len(result["errors"])
    print(json.dumps(summary, indent=2))
    return 0 if result["scored"] or not result["rows"] else 1


def register(areas) -> None:
    train = areas.add_parser(
        "train",
        help="train a model, register it, promote it if it beats the champion",
        description="Train the NIBRS clearance model or the Chicago arrest model on the marts "
        "with out-of-time windows, save it to the lake's registry with its model card, and "
        "make it champion if it beats the current one on the same test window.",
    )
    train.add_argument("model", choices=MODELS)
    train.add_argument(
        "--json", action="store_true", help="print the evaluation as one JSON object"
    )
    train.add_argument(
        "--include-on-view",
        action="store_true",
        help="arrest: keep the arrest-generated types (narcotics, ...) in the model",
    )
    train.add_argument(
        "--offender-known",
        action="store_true",
        help="clearance: use what is known about the offender (often recorded at the arrest)",
    )
    train.add_argument(
        "--max-train-rows",
        type=int,
        default=1_000_000,
        help="sample the training window down to this (default 1,000,000)",
    )
    train.add_argument(
        "--if-due",
        action="store_true",
        help="train only if due (no champion, too old, or newer data)",
    )
    train.set_defaults(handler=_train)

    score = areas.add_parser(
        "score",
        help="score the marts with the champion, or a CSV of Chicago crimes",
        description="Without --file: score the mart rows the champion has not scored into "
        "ml.<model>_scores. With --file: score a CSV in the Chicago dataset's schema (the "
        "portal's export or API field names) and write it with arrest_probability, "
        "model_version and error columns.",
    )
    score.add_argument("model", choices=MODELS)
    score.add_argument("--file", type=Path, help="a CSV of Chicago crimes (arrest only)")
    score.add_argument("--out", type=Path, help="where to write it (default <F>.scored.csv)")
    score.add_argument(
        "--contributions",
        choices=CONTRIBUTION_METHODS,
        default="saabas",
        help="saabas (fast, XGBoost approx_contribs) or shap (exact, slow)",
    )
    score.set_defaults(handler=_score)
