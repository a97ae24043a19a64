"""Run a quality suite with great-expectations, record every result, stop on a critical failure.

One run = one suite on one target (a NIBRS year, a Chicago batch, the marts). For each frame
the suite names, the run builds a GX expectation suite from the checks (``suites.py``) and
validates the frame: a pandas DataFrame for data not yet loaded, a PostgreSQL table for the
marts. Then, in this order:

1. every check's result goes to ``audit.quality_results`` (when a warehouse is configured);
2. GX renders the run into the data docs, ``<data_dir>/quality/data_docs/index.html``
   (validation results accumulate in ``<data_dir>/quality/validations/``, so the docs keep
   the history);
3. a failed critical check raises ``QualityGateError``, which names each one, so whatever
   called the gate (the NIBRS ingest's ``before_load``, a pull, a DAG task) stops before the
   data reaches the marts. Failed warnings are only reported.

great_expectations takes seconds to import, so it is imported here, inside functions, and
never by modules that the CLI or the DAGs load to start up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import json
import math
import re
import secrets
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crimewh.quality.suites import CRITICAL, WARNING, Check, checks_for

if TYPE_CHECKING:
    import pyarrow as pa

    from crimewh.settings import Settings

RESULTS_TABLE = "audit.quality_results"
RESULTS_DDL = f"""
create table if not exists {RESULTS_TABLE} (
    result_id bigint generated always as identity primary key,
    run_id text not null,
    suite text not null,
    target text not null,
    check_name text not null,
    frame text not null,
    expectation text not null,
    severity text not null check (severity in ('critical', 'warning')),
    passed boolean not null,
    observed_value text,
    unexpected_count bigint,
    element_count bigint,
    details jsonb,
    checked_at timestamptz not null
);
create index if not exists quality_results_run_id on {RESULTS_TABLE} (run_id);
comment on table {RESULTS_TABLE} is
    'One row per quality check per run (crimewh.quality): what was checked, how it came out.';
"""
DOCS_SITE = "crimewh"
EXAMPLES = 5  # unexpected values quoted in a result's observed value


class QualityGateError(Exception):
    """Critical quality checks failed; the data must not go on to the marts."""

    def __init__(self, report: QualityReport):
        self.report = report
        failed = report.failed(CRITICAL)
        lines = [
            f"quality gate {report.suite} on {report.target}: {len(failed)} critical "
            f"check{'s' if len(failed) != 1 else ''} failed, so the run stops here "
            f"(run {report.run_id}):"
        ]
        lines += [f"  - {r.check} ({r.frame}): {r.observed}. {r.description}" for r in failed]
        where = [f"data docs: {report.data_docs}"] if report.data_docs else []
        if report.stored:
            where.append(f"select * from {RESULTS_TABLE} where run_id = '{report.run_id}'")
        if where:
            lines.append("  details: " + "; ".join(where))
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class CheckResult:
    check: str
    frame: str
    expectation: str
    severity: str
    passed: bool
    observed: str  # a line for people: "2 of 2,234 unexpected (0.09%): 02:60 (1), ..."
    description: str
    unexpected_count: int | None = None
    element_count: int | None = None
    details: dict = field(default_factory=dict)  # JSON-able: GX's result summary


@dataclass
class QualityReport:
    run_id: str
    suite: str
    target: str
    checked_at: dt.datetime
    results: list[CheckResult]
    data_docs: Path | None = None
    stored: bool = False
    seconds: float = 0.0

    def failed(self, severity: str | None = None) -> list[CheckResult]:
        return [
            r for r in self.results if not r.passed and severity in (None, r.severity)
        ]  # fmt: skip

    @property
    def passed(self) -> bool:
        """No critical check failed (warnings may have)."""
        return not self.failed(CRITICAL)

    def raise_for_critical(self) -> None:
        if not self.passed:
            raise QualityGateError(self)

    def summary(self) -> str:
        critical, warnings = self.failed(CRITICAL), self.failed(WARNING)
        head = (
            f"{self.suite} on {self.target}: {len(self.results)} checks, "
            f"{len(critical)} critical and {len(warnings)} warning failed "
            f"({self.seconds:.1f}s, run {self.run_id})"
        )
        lines = [head]
        lines += [f"  CRITICAL {r.check}: {r.observed}" for r in critical]
        lines += [f"  warning  {r.check}: {r.observed}" for r in warnings]
        if self.data_docs:
            lines.append(f"  data docs: {self.data_docs}")
        return "\n".join(lines)


# -- entry points ------------------------------------------------------------------------------
def check_nibrs_partition(
    settings: Settings,
    year: int,
    decoded: Path | None = None,
    *,
    store: bool | None = None,
    docs: bool = True,
    raise_on_critical: bool = True,
) -> QualityReport:
    """The NIBRS suite on a decoder output folder, or (``decoded`` None) the lake's year."""
    from crimewh.quality.frames import NibrsPartition, nibrs_frame_chunks

    if decoded is not None:
        partition = NibrsPartition.from_decoded(decoded, year)
    else:
        from crimewh.lake import Lake

        partition = NibrsPartition.from_lake(Lake.from_settings(settings), year)
    checks = checks_for("nibrs_partition", year=year)
    frames = nibrs_frame_chunks(partition, checks)
    return validate(
        settings, "nibrs_partition", f"nibrs year={year}", checks, frames=frames,
        store=store, docs=docs, raise_on_critical=raise_on_critical,
    )  # fmt: skip


def nibrs_gate(
    settings: Settings, *, echo: Callable[[str], None] = print, **options: Any
) -> Callable[[Path, int], None]:
    """A ``before_load`` for ``crimewh.nibrs_ingest.ingest_year``: check, report, raise on a
    critical failure (the summary, warnings included, goes to ``echo`` either way)."""

    def gate(decoded: Path, year: int) -> None:
        try:
            report = check_nibrs_partition(settings, year, decoded, **options)
        except QualityGateError as error:
            echo(error.report.summary())
            raise
        echo(report.summary())

    return gate


def check_chicago_batch(
    settings: Settings,
    batch: str | None = None,
    table: pa.Table | None = None,
    *,
    store: bool | None = None,
    docs: bool = True,
    raise_on_critical: bool = True,
) -> QualityReport:
    """The Chicago suite on a parsed batch (``table``) or the lake's ``chicago/crimes/batch=…``.

    ``batch`` is the partition value (``20261121T031500``); with neither argument, the
    lake's latest batch is checked.
    """
    from crimewh.quality.frames import chicago_frames

    if table is None:
        table, batch = _lake_chicago_batch(settings, batch)
    checks = checks_for("chicago_batch")
    return validate(
        settings, "chicago_batch", f"chicago batch={batch or 'in memory'}", checks,
        frames=chicago_frames(table), store=store, docs=docs,
        raise_on_critical=raise_on_critical,
    )  # fmt: skip


def _lake_chicago_batch(settings: Settings, batch: str | None) -> tuple[pa.Table, str]:
    from crimewh.lake import Lake

    lake = Lake.from_settings(settings)
    if batch is None:
        batches = lake.partitions("chicago", "crimes")
        if not batches:
            raise ValueError(
                f"the lake {lake.url} has no chicago/crimes batch yet: pull one first "
                "(crimewh chicago pull)"
            )
        batch = batches[-1].removeprefix("batch=")
    batch = batch.removeprefix("batch=")
    table = lake.read("chicago", "crimes", f"batch={batch}")
    if "batch" in table.column_names:  # the partition key, which Arrow reads from the path
        table = table.drop_columns(["batch"])
    return table, batch


def check_marts(
    settings: Settings,
    *,
    schema: str = "marts",
    tables: tuple[str, ...] | None = None,
    store: bool | None = None,
    docs: bool = True,
    raise_on_critical: bool = True,
    nibrs_years: list[int] | str | None = "rebuilt",
) -> QualityReport:
    """The marts suite, run in PostgreSQL: the marts agree with one another, and each NIBRS
    year looks like one.

    By default it checks the marts of the sources the warehouse holds (a warehouse with
    NIBRS only, as a user of the decoder and the NIBRS marts runs it, has no Chicago marts
    to check), and the NIBRS data years rebuilt since the suite last passed. ``tables``
    names the marts instead; a named mart that does not exist fails its checks with
    "could not be checked". ``nibrs_years`` names the years instead, None for every year.
    """
    from crimewh.quality.suites import CHICAGO_MARTS, NIBRS_MARTS

    if tables is None:
        loaded = _loaded_sources(settings)
        tables = (NIBRS_MARTS if "nibrs" in loaded else ()) + (
            CHICAGO_MARTS if "chicago" in loaded else ()
        )
    years = _nibrs_years_to_check(settings) if nibrs_years == "rebuilt" else nibrs_years
    checks = checks_for("marts", schema=schema, tables=tables, nibrs_years=years)
    sources = [n for n, marts in (("nibrs", NIBRS_MARTS), ("chicago", CHICAGO_MARTS))
               if set(marts) & set(tables)]  # fmt: skip
    target = f"{schema} ({', '.join(sources) or 'no source loaded yet'})"
    if not checks:  # nothing loaded: nothing published that could be wrong
        now = dt.datetime.now(dt.UTC)
        return QualityReport(f"{now:%Y%m%dT%H%M%SZ}-marts-empty", "marts", target, now, [])
    if years is not None and "nibrs" in sources:
        target += f", NIBRS {'-'.join(map(str, years[:1] + years[-1:])) or 'unchanged'}"
    return validate(
        settings, "marts", target, checks, store=store, docs=docs,
        raise_on_critical=raise_on_critical,
    )  # fmt: skip


def _loaded_sources(settings: Settings) -> set[str]:
    """The sources raw holds: a source never loaded has no marts to check."""
    from crimewh.warehouse import fetch

    [(nibrs, chicago)] = fetch(settings, "select to_regclass('raw.nibrs_batch_header') is not "
                               "null, to_regclass('raw.chicago_crimes') is not null")  # fmt: skip
    return {name for name, present in (("nibrs", nibrs), ("chicago", chicago)) if present}


def _nibrs_years_to_check(settings: Settings) -> list[int] | None:
    """The data years whose incidents were rebuilt since the marts suite last passed (its
    critical checks, that is); None, meaning every year, before it ever has."""
    import psycopg2

    conn = psycopg2.connect(settings.require_warehouse_url())
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select to_regclass('audit.mart_builds') is not null, "
                f"to_regclass('{RESULTS_TABLE}') is not null"
            )
            builds, results = cur.fetchone()
            if not builds:
                return None
            last_pass = "'-infinity'::timestamptz"
            if results:
                last_pass = (
                    "coalesce((select max(checked_at) from (select run_id, max(checked_at) as "
                    f"checked_at from {RESULTS_TABLE} where suite = 'marts' group by run_id "
                    "having bool_and(passed or severity <> 'critical')) as passes), "
                    "'-infinity'::timestamptz)"
                )
            cur.execute(
                "select distinct data_year from audit.mart_builds "
                f"where model = 'fct_nibrs_incidents' and built_at > {last_pass} order by 1"
            )
            return [year for (year,) in cur.fetchall()]
    finally:
        conn.close()


# -- the engine --------------------------------------------------------------------------------
def validate(
    settings: Settings,
    suite: str,
    target: str,
    checks: list[Check],
    *,
    frames: dict[str, pa.Table] | Iterable[dict[str, pa.Table]] | None = None,
    store: bool | None = None,
    docs: bool = True,
    raise_on_critical: bool = True,
) -> QualityReport:
    """Run ``checks`` on ``frames`` (Arrow tables by name, or an iterable of such chunks
    whose results add up) or, without frames, on warehouse tables named ``schema.table``;
    record, document, and raise if a critical check failed.

    ``store`` None stores the results when the settings name a warehouse.
    """
    import time

    started = time.perf_counter()
    checked_at = dt.datetime.now(dt.UTC)
    run_id = f"{checked_at:%Y%m%dT%H%M%SZ}-{suite}-{_slug(target)}-{secrets.token_hex(3)}"
    context = _context(settings)
    by_frame: dict[str, list[Check]] = {}
    for check in checks:
        by_frame.setdefault(check.frame, []).append(check)
    source = _source(context, suite, settings, checks if frames is None else None)
    chunks = [frames] if frames is None or isinstance(frames, dict) else frames
    definitions: dict[str, Any] = {}
    merged: dict[str, CheckResult] = {}
    for chunk in chunks:
        for frame, frame_checks in by_frame.items():
            if chunk is not None and frame not in chunk:
                continue  # a frame of the whole year comes with one chunk only
            try:
                validation = _run_frame(
                    context, source, suite, frame, frame_checks, chunk, run_id, definitions
                )
                outcome = _results(frame_checks, validation)
            except Exception as error:
                if frames is not None:  # the frames were built here: a bug, not the data
                    raise
                # a warehouse table that is missing or unreadable fails its checks, loudly
                outcome = [_unchecked(check, error) for check in frame_checks]
            for result in outcome:
                merged[result.check] = _merged(merged.get(result.check), result)
    results = [
        merged.get(check.name) or _unchecked(check, LookupError(f"no frame {check.frame}"))
        for check in checks
    ]
    report = QualityReport(run_id, suite, target, checked_at, results)
    if docs:
        report.data_docs = _build_docs(context, settings, run_id)
    if store is None:
        store = bool(settings.warehouse_url)
    if store:
        store_results(settings, report)
        report.stored = True
    report.seconds = time.perf_counter() - started
    if raise_on_critical:
        report.raise_for_critical()
    return report


def _merged(before: CheckResult | None, chunk: CheckResult) -> CheckResult:
    """One check's result over the chunks so far: counts add up, examples gather, and it
    passes only if every chunk passed."""
    if before is None:
        return chunk

    def total(a, b):
        return None if a is None and b is None else (a or 0) + (b or 0)

    details = dict(before.details)
    if "partial_unexpected_counts" in chunk.details or "partial_unexpected_counts" in details:
        counts: dict[str, int] = {}
        for part in (details, chunk.details):
            for example in part.get("partial_unexpected_counts") or []:
                key = str(example["value"])
                counts[key] = counts.get(key, 0) + int(example["count"])
        details["partial_unexpected_counts"] = [
            {"value": value, "count": count}
            for value, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[
                : EXAMPLES * 4
            ]
        ]
    for key in ("unexpected_count", "element_count"):
        if key in details or key in chunk.details:
            details[key] = total(details.get(key), chunk.details.get(key))
    if "error" in chunk.details:
        details["error"] = chunk.details["error"]
    details["chunks"] = details.get("chunks", 1) + 1
    unexpected = total(before.unexpected_count, chunk.unexpected_count)
    if unexpected is not None and "error" not in details:
        observed = _observed(details)
    else:  # a value observed per chunk (a row count): the failing chunk's says why
        observed = chunk.observed if not chunk.passed else before.observed
    return dataclasses.replace(
        before,
        passed=before.passed and chunk.passed,
        observed=observed,
        unexpected_count=unexpected,
        element_count=total(before.element_count, chunk.element_count),
        details=details,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9=._-]+", "_", text).strip("_")


def quality_dir(settings: Settings) -> Path:
    return settings.data_dir / "quality"


def _context(settings: Settings):
    """An in-memory GX context whose validation results and data docs live on disk."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    root = quality_dir(settings)
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    config.stores["validation_results_store"] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(root / "validations"),
        },
    }
    config.data_docs_sites = {
        DOCS_SITE: {
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(root / "data_docs"),
            },
        }
    }
    return gx.get_context(project_config=config, mode="ephemeral")


def _source(context, suite: str, settings: Settings, sql_checks: list[Check] | None):
    """A pandas source for frames, or the warehouse for checks on ``schema.table`` frames."""
    if sql_checks is None:
        return context.data_sources.add_pandas(suite)
    from urllib.parse import quote

    schemas = {check.frame.split(".", 1)[0] for check in sql_checks}
    if len(schemas) != 1:
        raise ValueError(f"suite {suite}: its tables must share one schema, not {schemas}")
    # GX wants the schema in the connection, not on each table: set the search path
    url = settings.require_warehouse_url()
    options = quote(f"-c search_path={schemas.pop()}", safe="")
    url += ("&" if "?" in url else "?") + f"options={options}"
    # the context lives in memory only, so the password never reaches a file
    return context.data_sources.add_postgres("warehouse", connection_string=url)


def _run_frame(context, source, suite, frame, checks, frames, run_id, definitions):
    """Validate one frame (an Arrow table of ``frames``, or the warehouse table); the suite
    and its validation definition are made once and reused for every chunk."""
    from great_expectations.core.run_identifier import RunIdentifier

    if frame not in definitions:
        definitions[frame] = _definition(context, source, suite, frame, checks, frames)
    parameters = None
    if frames is not None:
        if frame not in frames:
            raise KeyError(f"suite {suite} names frame {frame!r}, which was not built")
        from crimewh.quality.frames import to_pandas

        parameters = {"dataframe": to_pandas(frames[frame])}
    return definitions[frame].run(
        batch_parameters=parameters,
        run_id=RunIdentifier(run_name=run_id),
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
    )


def _definition(context, source, suite, frame, checks, frames):
    import great_expectations as gx

    expectations = gx.ExpectationSuite(name=f"{suite}.{frame}")
    for check in checks:
        expectations.add_expectation(_expectation(check))
    expectations = context.suites.add(expectations)
    if frames is not None:
        asset = source.add_dataframe_asset(frame)
        batch = asset.add_batch_definition_whole_dataframe("whole")
    else:
        asset = source.add_table_asset(frame, table_name=frame.split(".", 1)[1])
        batch = asset.add_batch_definition_whole_table("whole")
    return context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite}.{frame}", data=batch, suite=expectations)
    )


def _expectation(check: Check):
    import great_expectations.expectations as gxe

    try:
        kind = getattr(gxe, check.expectation)
    except AttributeError:
        raise ValueError(
            f"check {check.name}: great_expectations has no expectation {check.expectation}"
        ) from None
    options: dict[str, Any] = {
        "severity": check.severity,
        "description": check.description,
        "meta": {"check": check.name},
    }
    if check.row_condition:
        options["row_condition"] = _row_condition(check.row_condition)
    return kind(**check.kwargs, **options)


def _row_condition(condition: tuple[str, str, Any]):
    from great_expectations.expectations.row_conditions import Column

    column, operator, value = condition
    if operator == "in":
        return Column(column).is_in(value)
    operations = {
        "==": Column.__eq__, "!=": Column.__ne__, "<": Column.__lt__, "<=": Column.__le__,
        ">": Column.__gt__, ">=": Column.__ge__,
    }  # fmt: skip
    return operations[operator](Column(column), value)


def _results(checks: list[Check], validation) -> list[CheckResult]:
    by_name = {check.name: check for check in checks}
    results = []
    for outcome in validation.results:
        name = (outcome.expectation_config.meta or {}).get("check")
        check = by_name[name]
        summary = _jsonable(dict(outcome.result or {}))
        exception = outcome.exception_info or {}
        if exception.get("raised_exception") is None:  # keyed by metric when a metric failed
            exception = next(iter(exception.values()), {}) if exception else {}
        if exception.get("raised_exception"):
            message = str(exception.get("exception_message") or "unknown error")
            observed = f"could not be checked: {message}"
            summary["error"] = message
        else:
            observed = _observed(summary)
        results.append(
            CheckResult(
                check=check.name,
                frame=check.frame,
                expectation=check.expectation,
                severity=check.severity,
                passed=bool(outcome.success),
                observed=observed,
                description=check.description,
                unexpected_count=summary.get("unexpected_count"),
                element_count=summary.get("element_count"),
                details=summary,
            )
        )
    return results


def _unchecked(check: Check, error: Exception) -> CheckResult:
    message = " ".join(str(error).split())[:500] or type(error).__name__
    return CheckResult(
        check=check.name, frame=check.frame, expectation=check.expectation,
        severity=check.severity, passed=False, observed=f"could not be checked: {message}",
        description=check.description, details={"error": message},
    )  # fmt: skip


def _observed(summary: dict) -> str:
    if "observed_value" in summary:
        return f"observed {summary['observed_value']}"
    if summary.get("unexpected_count") is None:
        return "no result"
    unexpected, total = summary["unexpected_count"], summary.get("element_count") or 0
    share = f" ({100 * unexpected / total:.3g}%)" if total and unexpected else ""
    text = f"{unexpected:,} of {total:,} unexpected{share}"
    examples = summary.get("partial_unexpected_counts") or []
    if examples:
        quoted = ", ".join(f"{e['value']} ({e['count']:,})" for e in examples[:EXAMPLES])
        text += f": {quoted}"
    return text


def _jsonable(value: Any) -> Any:
    """GX's result summary with NumPy/pandas scalars and NaN turned into plain JSON."""
    if isinstance(value, dict):
        return {
            str(k): _jsonable(v) for k, v in value.items() if k != "partial_unexpected_index_list"
        }
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            value = str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@contextmanager
def _locked(path: Path):
    """One process at a time renders the docs (parallel Airflow tasks share the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_docs(context, settings: Settings, run_id: str) -> Path:
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    root = quality_dir(settings)
    with _locked(root / ".docs.lock"):
        keys = [
            key
            for key in context.validation_results_store.list_keys()
            if key.run_id.run_name == run_id
        ]
        suites = {key.expectation_suite_identifier.name for key in keys}
        context.build_data_docs(
            site_names=[DOCS_SITE],
            resource_identifiers=[*keys, *(ExpectationSuiteIdentifier(name=s) for s in suites)],
        )
    return root / "data_docs" / "index.html"


# -- audit.quality_results ---------------------------------------------------------------------
def store_results(settings: Settings, report: QualityReport) -> None:
    """Append the report's results to ``audit.quality_results`` in one transaction."""
    import psycopg2
    from psycopg2.extras import Json, execute_values

    rows = [
        (
            report.run_id, report.suite, report.target, r.check, r.frame, r.expectation,
            r.severity, r.passed, r.observed, r.unexpected_count, r.element_count,
            Json(r.details), report.checked_at,
        )
        for r in report.results
    ]  # fmt: skip
    connection = psycopg2.connect(settings.require_warehouse_url())
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(RESULTS_DDL)
            execute_values(
                cursor,
                f"insert into {RESULTS_TABLE} (run_id, suite, target, check_name, frame, "
                "expectation, severity, passed, observed_value, unexpected_count, "
                "element_count, details, checked_at) values %s",
                rows,
            )
    finally:
        connection.close()


def stored_results(settings: Settings, run_id: str) -> list[dict]:
    """The rows a run left in ``audit.quality_results``, in check order."""
    import psycopg2
    import psycopg2.extras

    connection = psycopg2.connect(settings.require_warehouse_url())
    try:
        with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            cursor.execute(
                f"select * from {RESULTS_TABLE} where run_id = %s order by result_id", (run_id,)
            )
            return [dict(row) for row in cursor.fetchall()]
    finally:
        connection.close()


def as_json(report: QualityReport) -> str:
    results = [
        {"check": r.check, "severity": r.severity, "passed": r.passed, "observed": r.observed}
        for r in report.results
    ]
    return json.dumps(
        {
            "run_id": report.run_id,
            "suite": report.suite,
            "target": report.target,
            "passed": report.passed,
            "data_docs": str(report.data_docs) if report.data_docs else None,
            "results": results,
        },
        indent=2,
    )
