"""What the DAGs' tasks do, as plain functions: each idempotent and scoped to a partition.

The DAG files in ``dags/`` only wire these together, so everything here runs the same from
Airflow, from the ``crimewh`` command line and from the tests. Every function takes the
settings and returns a small JSON-able dict (what Airflow keeps as the task's XCom), never
data: the data itself stays in the lake and the warehouse.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from crimewh.settings import Settings

log = logging.getLogger(__name__)
MODELS = ("clearance", "arrest")
# the marts that put each model's champion scores beside the facts (dbt_project/models/marts)
SCORE_MARTS = {"clearance": "fct_nibrs_incident_clearance_scores",
               "arrest": "fct_chicago_arrest_scores"}  # fmt: skip
CHICAGO_FIRST_YEAR = 2001  # "Crimes - 2001 to Present"


class RunFailedError(RuntimeError):
    """Some tasks of a run failed; the summary, written all the same, says which."""


class YearError(ValueError):
    """A NIBRS year outside what the FBI publishes."""


def nibrs_years(today: dt.date | None = None) -> list[int]:
    """Every year the FBI publishes a NIBRS master file for: 1991 to last year."""
    from crimewh.nibrs_ingest import FIRST_YEAR

    return list(range(FIRST_YEAR, last_published_year(today) + 1))


def last_published_year(today: dt.date | None = None) -> int:
    """The FBI publishes a year's master file during the next one: last year at the latest."""
    return (today or dt.date.today()).year - 1


def check_nibrs_year(year: object, today: dt.date | None = None) -> int:
    """The year as an int, or a YearError that says which years exist."""
    from crimewh.nibrs_ingest import FIRST_YEAR

    last = last_published_year(today)
    try:
        value = int(year)  # type: ignore[arg-type]
        if isinstance(year, bool) or str(value) != str(year).strip():
            raise ValueError
    except (TypeError, ValueError):
        raise YearError(f"year {year!r} is not a year: give one of {FIRST_YEAR}-{last}") from None
    if not FIRST_YEAR <= value <= last:
        raise YearError(
            f"year {value} has no NIBRS master file: the FBI publishes {FIRST_YEAR} to {last}"
        )
    return value


def nibrs_year_range(first: object, last: object, today: dt.date | None = None) -> list[int]:
    """``first`` to ``last``, both NIBRS years, in order; a YearError saying what is wrong."""
    first_year, last_year = check_nibrs_year(first, today), check_nibrs_year(last, today)
    if first_year > last_year:
        raise YearError(
            f"first_year {first_year} is after last_year {last_year}: give them in order"
        )
    return list(range(first_year, last_year + 1))


# -- NIBRS ---------------------------------------------------------------------------------------
def nibrs_landed_years(settings: Settings) -> list[int]:
    """Years with a zip in the landing area; `ingest` skips those already loaded."""
    from crimewh.nibrs_ingest import landing_years

    return [year for year in landing_years(settings) if _publishable(year)]


def nibrs_ingest(
    settings: Settings, year: int, *, zip_path: Path | None = None, force: bool = False
) -> dict:
    """Decode, check, lake and load one year (skipped when its zip is already loaded).

    The one way in for a NIBRS year: the DAGs and `crimewh nibrs ingest` both come here, so
    both check the year and both run the quality gate before anything is loaded.
    """
    from crimewh.nibrs_ingest import ingest_year
    from crimewh.quality.run import nibrs_gate

    result = ingest_year(
        settings, check_nibrs_year(year), zip_path, force=force,
        before_load=nibrs_gate(settings), echo=log.info,
    )  # fmt: skip
    return result.as_dict()


# -- Chicago ---------------------------------------------------------------------------------------
def chicago_pull(settings: Settings, *, years: tuple[int, int] | None = None) -> dict:
    """An incremental pull by updated_on (or a backfill of ``years``), checked and loaded.

    The quality gate runs on the batch in the lake before the loader sees it; a critical
    failure stops here and leaves the watermark where it was.
    """
    from crimewh.chicago.pull import StateStore, pull
    from crimewh.quality.run import check_chicago_batch
    from crimewh.warehouse.loader import load_partition

    if years is None and StateStore(settings.data_dir).load().watermark is None:
        # the very first night: everything there is, which later nights then keep current
        years = (CHICAGO_FIRST_YEAR, dt.date.today().year)
        log.info("no Chicago watermark yet: backfilling %s-%s first", *years)

    def checked_loader(settings, source, table, partition, *, lake=None):
        check_chicago_batch(settings, partition.removeprefix("batch="))
        return load_partition(settings, source, table, partition, lake=lake)

    result = pull(settings, years=years, loader=checked_loader)
    return result.as_dict()


# -- dbt, quality, models ----------------------------------------------------------------------
def dbt_build(
    settings: Settings, *, nibrs_years: list[int] | None = None, select: list[str] | None = None
) -> dict:
    """`dbt build` of the project (or ``select``); incremental NIBRS marts rebuild only
    ``nibrs_years`` when given."""
    from crimewh.dbt import run_dbt

    args = ["build"]
    if select:
        args += ["--select", *select]
    if nibrs_years:
        args += ["--vars", json.dumps({"nibrs_years": nibrs_years})]
    run_dbt(args, settings)
    return {"dbt": " ".join(args)}


def quality_marts(settings: Settings) -> dict:
    """The marts suite; a failed critical check raises and stops the run."""
    from crimewh.quality.run import check_marts
    from crimewh.quality.suites import WARNING

    report = check_marts(settings)  # raises QualityGateError on a critical failure
    log.info(report.summary())
    return {
        "suite": "marts",
        "run_id": report.run_id,
        "checks": len(report.results),
        "warnings_failed": [r.check for r in report.failed(WARNING)],
    }


def train_if_due(settings: Settings, model: str) -> dict:
    from crimewh_orchestration.workspace import ml_workspace
    from ml.train import is_due, train

    workspace = ml_workspace(settings)
    if not is_due(workspace, model):
        return {"model": model, "trained": False}
    evaluation = train(workspace, model)
    return {"model": model, "trained": True, **_headline(evaluation)}


def score(settings: Settings, model: str) -> dict:
    """Score what the champion has not scored yet, then rebuild the mart that puts the scores
    beside the facts they score, so analysts see them in this run and not the next one (the
    mart rebuilds only the years whose scores changed)."""
    from crimewh_orchestration.workspace import ml_workspace
    from ml.score import score as score_model

    result = {"model": model, **score_model(ml_workspace(settings), model)}
    if result.get("partitions_scored"):
        result["mart"] = SCORE_MARTS[model]
        dbt_build(settings, select=[SCORE_MARTS[model]])
    return result


def _headline(evaluation: dict) -> dict:
    keys = ("version", "test_auc", "oracle_auc", "promoted")
    found = {key: evaluation.get(key) for key in keys if key in evaluation}
    test = evaluation.get("test") or {}
    if "test_auc" not in found and isinstance(test, dict) and "roc_auc" in test:
        found["test_auc"] = test["roc_auc"]
    return found


# -- the run summary -------------------------------------------------------------------------
def mart_counts(settings: Settings) -> dict[str, int]:
    """Rows per table in the marts and ml schemas."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(settings.require_warehouse_url())
    try:
        with conn.cursor() as cur:
            # partitioned tables once, as their parent (which counts every partition's rows)
            cur.execute(
                "select n.nspname, c.relname from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname in ('marts', 'ml') and c.relkind in ('r', 'p') "
                "and not c.relispartition order by 1, 2"
            )
            counts = {}
            for schema, table in cur.fetchall():
                cur.execute(
                    sql.SQL("select count(*) from {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )
                counts[f"{schema}.{table}"] = cur.fetchone()[0]
            return counts
    finally:
        conn.close()


def run_summary(
    settings: Settings, steps: dict[str, object], *, failed: list[str] | None = None
) -> dict:
    """What this run did, what failed, and what the marts now hold; also written to the
    data folder. ``failed`` names the tasks that failed or could not run because of one."""
    summary = {
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": "failed" if failed else "success",
        "failed": failed or [],
        "steps": steps,
        "marts": mart_counts(settings),
    }
    folder = Path(settings.data_dir) / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = summary["finished_at"].replace(":", "").replace("-", "")
    path = folder / f"run-{stamp}.json"
    path.write_text(json.dumps(summary, indent=2, default=str))
    log.info("run summary (%s): %s", path, json.dumps(summary, default=str))
    return summary


def finish_run(settings: Settings, steps: dict[str, object], *, failed: list[str]) -> dict:
    """The summary of a run whose steps may have failed independently (the nightly): it is
    written either way, then the run fails if a step did, so that Airflow, the alert and
    whoever looks at the run see it failed, and which steps the summary names."""
    summary = run_summary(settings, steps, failed=failed)
    from crimewh import notify

    notify.run_summary(settings, summary)  # only with CRIMEWH_NOTIFY_SUMMARY=true
    if failed:
        raise RunFailedError(
            f"{len(failed)} task(s) failed or could not run: {', '.join(failed)}; what did "
            f"run is in the summary in {Path(settings.data_dir) / 'runs'}"
        )
    return summary


def _publishable(year: int) -> bool:
    try:
        check_nibrs_year(year)
    except YearError:
        log.warning("landing area: nibrs-%s.zip is not a published NIBRS year; ignored", year)
        return False
    return True
