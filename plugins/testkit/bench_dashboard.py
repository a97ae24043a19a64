"""The dashboard's warehouse and its page timings.

``build_warehouse`` fills a warehouse the way the pipeline does (synthetic NIBRS years
ingested, a Chicago pull from the local SODA server, ``dbt build``, the models trained and
scored), once per recipe: a marker file in the data folder says what was built, so the tests'
modules and repeated benchmark runs reuse it.

``bench_dashboard`` times every query each page runs, as the analyst, ``ROUNDS`` times after
a warm-up run, and reports p50 and p95 per page: a page's time is the sum of its queries,
which is what a reader waits for on a cold cache.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

NIBRS_YEARS = (2019, 2020)
CHICAGO_YEARS = (2021, 2022)
CHICAGO_ID_OFFSET = 700_000_000  # apart from other tests' crimes in a shared warehouse
MARKER = "dashboard-warehouse.json"
ROUNDS = 20
TARGET_P95_MS = 300


def settings_beside(base, data_dir: Path):
    """Settings for a data folder of its own on ``base``'s warehouse (a test's shared stack),
    with the URLs spelled out, so that a child process (the dashboard) reaches the same
    warehouse from a data folder that holds no stack of its own."""
    return dataclasses.replace(
        base,
        data_dir=data_dir,
        lake_url=f"file://{data_dir}/lake",
        landing_url=f"file://{data_dir}/landing",
        embedded_warehouse=False,
    )


def _landing(settings) -> Path:
    from urllib.parse import urlsplit

    return Path(urlsplit(settings.landing_url).path)


def build_warehouse(
    settings,
    *,
    incidents: int,
    chicago_rows: int,
    models: bool = True,
    echo: Callable[[str], None] = lambda _: None,
) -> dict:
    """Ingest, pull, build and (with ``models``) train and score; skipped when the data
    folder's marker shows the same recipe already built into the same warehouse."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from crimewh.chicago.client import SodaClient
    from crimewh.chicago.pull import pull
    from crimewh.dbt import run_dbt
    from crimewh.nibrs_ingest import ingest_year
    from crimewh.settings import redact
    from testkit.chicago_synth import synthesize as synthesize_crimes
    from testkit.nibrs_synth import synthesize
    from testkit.soda_server import Dataset, SodaServer

    recipe = {
        "incidents": incidents, "chicago_rows": chicago_rows, "models": models,
        "nibrs_years": list(NIBRS_YEARS), "chicago_years": list(CHICAGO_YEARS),
        "warehouse": redact(settings.warehouse_url),
    }  # fmt: skip
    marker = settings.data_dir / MARKER
    if marker.exists() and json.loads(marker.read_text()) == recipe:
        return recipe
    started = time.perf_counter()
    landing = _landing(settings)
    landing.mkdir(parents=True, exist_ok=True)
    for year in NIBRS_YEARS:
        zip_path = landing / f"nibrs-{year}.zip"
        echo(f"dashboard warehouse: NIBRS {year}, {incidents:,} incidents")
        # one seed for every year: the same agencies, so trends and constant reporters exist
        synthesize(zip_path, year=year, incidents=incidents, seed=7)
        ingest_year(settings, year, zip_path, force=True, echo=lambda _: None)

    echo(f"dashboard warehouse: Chicago, {chicago_rows:,} crimes")
    crimes = synthesize_crimes(chicago_rows, seed=21, years=CHICAGO_YEARS).table
    ids = pc.cast(pc.add(pc.cast(crimes["id"], pa.int64()), CHICAGO_ID_OFFSET), pa.string())
    crimes = crimes.set_column(crimes.schema.get_field_index("id"), "id", ids)
    with SodaServer(Dataset.from_wire_table(crimes)) as server:
        soda = dataclasses.replace(settings, soda_domain=server.domain)
        pull(soda, years=CHICAGO_YEARS, client=SodaClient.from_settings(soda))

    echo("dashboard warehouse: dbt build")
    # the marts, not their tests: test_dbt_build and the quality gate test them
    build = run_dbt(
        [
            "build",
            "--exclude-resource-type",
            "test",
            "--exclude-resource-type",
            "unit_test",
            # these years, whatever else a shared test warehouse holds
            "--vars",
            json.dumps({"nibrs_constant_reporter_years": list(NIBRS_YEARS)}),
        ],
        settings,
        capture=True,
    )
    if build.returncode:
        raise RuntimeError(f"dbt build failed:\n{build.output[-3000:]}")
    if models:
        from crimewh_orchestration.workspace import ml_workspace
        from ml.score import score
        from ml.train import TrainConfig, train

        for model in ("clearance", "arrest"):
            echo(f"dashboard warehouse: train and score {model}")
            workspace = ml_workspace(settings)
            train(workspace, model, TrainConfig(max_rounds=200), echo=lambda _: None)
            score(workspace, model, echo=lambda _: None)
    marker.write_text(json.dumps(recipe))
    echo(f"dashboard warehouse: built in {time.perf_counter() - started:.0f} s")
    return recipe


def drift_queries(connection, settings) -> list[tuple]:
    """The Models page's drift queries, with the champion's training window from the
    registry and the sample share the page computes."""
    import pandas as pd

    from crimewh_orchestration.workspace import ml_workspace
    from dashboard import queries as q
    from ml.registry import Registry

    registry = Registry(ml_workspace(settings))
    sizes = dict(q.run(connection, q.MART_ROWS).itertuples(index=False))
    has_scores = dict(q.run(connection, q.SCORE_TABLES).itertuples(index=False))
    found = [(q.MART_ROWS, {})]
    for model in ("clearance", "arrest"):
        champion = registry.champion(model)
        if champion is None or not has_scores[model]:
            continue
        latest = q.run(connection, q.LATEST_SCORED[model])["latest"].iloc[0]
        if pd.isna(latest):  # no partition scored yet
            continue
        window = registry.read_json(model, champion["version"], "metrics.json")["windows"]
        percent = min(
            100.0, round(100 * q.DRIFT_SAMPLE_ROWS / max(sizes[q.DRIFT_MART[model]], 1), 3)
        )
        found += [
            (q.LATEST_SCORED[model], {}),
            (q.DRIFT[model], {
                "latest": int(latest), "percent": percent,
                "train_start": window["train"]["start"], "train_end": window["train"]["end"],
            }),
        ]  # fmt: skip
    return found


def page_queries(connection, settings=None) -> dict[str, list[tuple]]:
    """Each page's queries with the parameters a reader's first view of it uses; no Chicago
    page on a warehouse without Chicago marts (a NIBRS-only pipeline's), as on the site."""
    from dashboard import queries as q

    def first(query, column, **params):
        frame = q.run(connection, query, params)
        if frame.empty:
            return None
        value = frame[column].iloc[0]
        return value.item() if hasattr(value, "item") else value  # NumPy to Python

    year = first(q.NIBRS_YEARS, "data_year")
    state = first(q.STATE_COVERAGE, "state_abbreviation", year=year)
    ori = first(q.STATE_AGENCIES, "ori", year=year, state=state, constant=False)
    has_chicago = bool(first(q.WAREHOUSE_CONTENTS, "has_chicago_marts"))
    chicago_year = first(q.CHICAGO_YEARS, "year") if has_chicago else None
    nation = [
        (q.WAREHOUSE_CONTENTS, {}), (q.NIBRS_YEARS, {}), (q.STATE_COVERAGE, {"year": year}),
        (q.STATE_AGENCIES, {"year": year, "state": state, "constant": False}),
        (q.NATIONAL_BY_YEAR, {"constant": False}),
        (q.CAVEATS, {"year": year, "state": None, "ori": None}),
    ]  # fmt: skip
    pages = {
        "nation": nation,
        "nation_constant": [
            *((query, {**params, "constant": True} if "constant" in params else params)
              for query, params in nation),
            (q.CONSTANT_RANGE, {}),
        ],
        "agency": [
            (q.WAREHOUSE_CONTENTS, {}), (q.NIBRS_YEARS, {}),
            (q.AGENCY_SEARCH, {"pattern": q.search_pattern(ori[:5]), "text": ori[:5]}),
            (q.AGENCY, {"ori": ori}), (q.AGENCY_YEARS, {"ori": ori}),
            (q.AGENCY_MONTHS, {"ori": ori, "year": year}),
            (q.AGENCY_PEERS, {"ori": ori, "year": year}),
            (q.AGENCY_SRS, {"ori": ori, "year": year}),
            (q.CAVEATS, {"year": year, "state": state, "ori": ori}),
            (q.AGENCY_CATEGORIES, {"ori": ori}),
        ],
        "compliance": [
            (q.WAREHOUSE_CONTENTS, {}), (q.NIBRS_YEARS, {}), (q.STATES, {"year": year}),
            (q.COMPLIANCE_GRID, {"year": year, "state": state, "constant": False}),
        ],
        "chicago": [
            (q.WAREHOUSE_CONTENTS, {}), (q.CHICAGO_YEARS, {}), (q.CHICAGO_BY_YEAR, {}),
            (q.CHICAGO_BY_TYPE, {"year": chicago_year}),
            (q.CHICAGO_BY_DISTRICT, {"year": chicago_year}),
            (q.CHICAGO_BY_COMMUNITY_AREA, {"year": chicago_year}),
            (q.CHICAGO_HOUR_WEEKDAY, {"year": chicago_year}),
            (q.CHICAGO_POINTS, {"year": chicago_year, "month": 1, "limit": 20_000}),
        ],
        "models": [
            (q.WAREHOUSE_CONTENTS, {}), (q.SCORE_TABLES, {}),
            *((query, {}) for query in q.SCORE_DISTRIBUTION.values()),
            *(drift_queries(connection, settings) if settings is not None else ()),
        ],
    }  # fmt: skip
    if not has_chicago:
        del pages["chicago"]
    return pages


def time_pages(analyst_url: str, settings=None, *, rounds: int = ROUNDS) -> dict[str, dict]:
    """p50/p95 milliseconds per page (the sum of its queries), and its slowest query."""
    from dashboard import queries as q

    connection = q.connect(analyst_url)
    try:
        pages = page_queries(connection, settings)
        has_scores = dict(q.run(connection, q.SCORE_TABLES).itertuples(index=False))
        pages["models"] = [
            (query, params)
            for query, params in pages["models"]
            if not query.name.endswith(("_score_distribution", "_latest_scored", "_drift"))
            or has_scores[query.name.split("_")[0]]
        ]
        results = {}
        for page, runs in pages.items():
            for query, params in runs:  # warm-up: what a page reads once the cache is cold
                q.run(connection, query, params)
            totals, per_query = [], {query.name: [] for query, _ in runs}
            for _ in range(rounds):
                total = 0.0
                for query, params in runs:
                    clock = time.perf_counter()
                    q.run(connection, query, params)
                    elapsed = (time.perf_counter() - clock) * 1000
                    per_query[query.name].append(elapsed)
                    total += elapsed
                totals.append(total)
            slowest = max(per_query, key=lambda name: statistics.median(per_query[name]))
            results[page] = {
                "p50_ms": round(statistics.median(totals), 1),
                "p95_ms": round(_percentile(totals, 95), 1),
                "queries": len(runs),
                "slowest_query": slowest,
                "slowest_query_p50_ms": round(statistics.median(per_query[slowest]), 1),
            }
        return results
    finally:
        connection.close()


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(percent / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def bench_dashboard(folder: Path, *, incidents: int) -> dict:
    """Page query times on a warehouse of two synthetic NIBRS years of ``incidents`` each,
    Chicago crimes and both models, in its own data folder and embedded stack."""
    from crimewh.settings import Settings
    from crimewh.warehouse import stack

    data_dir = folder / "dashboard"
    environ = {"CRIMEWH_DATA_DIR": str(data_dir)}
    stack.up(Settings.load(environ), echo=lambda _: None)
    settings = Settings.load(environ)
    chicago_rows = max(20_000, incidents // 4)
    try:
        build_warehouse(
            settings,
            incidents=incidents,
            chicago_rows=chicago_rows,
            echo=lambda line: print(f"bench: {line}", file=sys.stderr),
        )
        pages = time_pages(settings.analyst_url, settings)
    finally:
        stack.down(settings, echo=lambda _: None)  # the data stays for the next run
    return page_report(
        pages,
        warehouse="dashboard",
        nibrs_years=len(NIBRS_YEARS),
        incidents_per_year=incidents,
        chicago_rows=chicago_rows,
    )


def page_report(pages: dict[str, dict], **warehouse) -> dict:
    """One `bench dashboard` line: what the warehouse held, each page's times, and the pages
    whose p95 is over the target."""
    return {
        "bench": "dashboard",
        **warehouse,
        "rounds": ROUNDS,
        "target_p95_ms": TARGET_P95_MS,
        "pages": pages,
        "over_target": sorted(p for p, r in pages.items() if r["p95_ms"] > TARGET_P95_MS),
    }
