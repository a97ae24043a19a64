"""raw -> marts on synthetic data: `dbt build` on the embedded warehouse, checked against
what the generators drew (their truth files and the decoded records), computed here in
Python, never read back from the marts' own logic.

One module fixture loads the years and pull batches, builds, backfills one year, pulls
again and builds once more; the tests then look at the result.
"""

import collections
import csv
import dataclasses
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from crimewh.chicago.client import SodaClient
from crimewh.chicago.pull import pull
from crimewh.dbt import run_dbt
from crimewh.nibrs_ingest import ingest_year
from crimewh.settings import project_dir
from decoder.decode import decode_zip
from testkit.chicago_synth import synthesize as synthesize_crimes
from testkit.nibrs_synth import synthesize
from testkit.soda_server import Dataset, SodaServer

PROJECT_DIR = project_dir() / "dbt_project"
MODERN_YEAR = 2018
LEGACY_YEAR = 2000  # B1/B2/B3 batch headers, and the year without current populations
CHICAGO_YEARS = (2023, 2024)
ID_OFFSET = 900_000_000  # keeps these crimes apart from other tests' rows in the shared raw table
UNKNOWN_LABEL = "SPACEPORT"  # a location description no mapping knows
ARRESTS_RECORDED = "2026-06-01T15:40:00.000"
RECLASSIFIED = "2026-07-01T15:40:00.000"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
LOADED_BY_YEAR = (
    "select data_year, max(source_loaded_at) from audit.mart_builds "
    "where model = 'fct_nibrs_incidents' group by data_year"
)
NIBRS_MARTS = (
    "fct_nibrs_incidents",
    "fct_nibrs_offenses",
    "fct_nibrs_agency_years",
    "agg_nibrs_agency_year_offenses",
)


def query(url: str, sql: str, params=None) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def records(url: str, sql: str, params=None) -> list[dict]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    conn.close()
    return rows


def year_rows(url: str, table: str, year: int, key: str | None = None):
    """One data year of a mart: a list of row dicts, or a dict of them by ``key``."""
    rows = records(url, f"select * from marts.{table} where data_year = %s", (year,))
    return {row[key]: row for row in rows} if key else rows


def year_fingerprint(url: str, table: str, year: int) -> tuple:
    """Rows, and a hash of every column of every row, of one data year of a mart."""
    return query(
        url,
        f"select count(*), md5(string_agg(t::text, '' order by t::text)) "
        f"from marts.{table} as t where data_year = %s",
        (year,),
    )[0]


def offset_ids(table: pa.Table) -> pa.Table:
    ids = pc.cast(pc.add(pc.cast(table["id"], pa.int64()), ID_OFFSET), pa.string())
    return table.set_column(table.schema.get_field_index("id"), "id", ids)


@dataclasses.dataclass
class Built:
    settings: object
    url: str
    analyst_url: str
    target: dict
    builds: list
    before: dict  # the legacy year's marts and the Chicago rows before the second build
    truth: pa.Table  # the backfilled modern year's truth
    decoded: Path  # the backfilled modern year, decoded here
    legacy_decoded: Path
    legacy_population: dict[str, int]
    crimes: dict[int, dict]  # the served rows at the end (API wire form), by id


@pytest.fixture(scope="module")
def built(warehouse, tmp_path_factory) -> Built:
    root = tmp_path_factory.mktemp("dbt-build")
    settings = dataclasses.replace(
        warehouse.settings, data_dir=root, lake_url=f"file://{root}/lake"
    )
    target = {"DBT_TARGET_PATH": str(root / "target"), "DBT_LOG_PATH": str(root / "logs")}
    quiet = lambda _: None  # noqa: E731

    # -- NIBRS: a modern year, and a legacy-header file loaded as 2000 ------------------------
    first = root / "first" / f"nibrs-{MODERN_YEAR}.zip"
    synthesize(first, year=MODERN_YEAR, incidents=2500, seed=18)
    ingest_year(settings, MODERN_YEAR, first, force=True, echo=quiet)

    # A legacy-header year 2000, with the 2000 file's gap: its current populations blank,
    # the last census's present.
    legacy = root / "legacy" / f"nibrs-{LEGACY_YEAR}.zip"
    synthesize(legacy, year=LEGACY_YEAR, incidents=300, seed=1, legacy_headers=True)
    legacy_population: dict[str, int] = {}

    def blank_current_population(decoded: Path, year: int) -> None:
        folder = decoded / "batch_header"
        table = pq.read_table(folder)
        columns = {name: table[name].to_pylist() for name in table.column_names}
        for i, ori in enumerate(columns["ori"]):
            legacy_population[ori] = sum(
                int(columns[f"current_population_{s}"][i] or 0) for s in range(1, 6)
            )
        for slot in range(1, 6):
            columns[f"last_population_{slot}"] = columns[f"current_population_{slot}"]
            columns[f"current_population_{slot}"] = [None] * table.num_rows
        for part in folder.glob("*.parquet"):
            part.unlink()
        arrays = [
            pa.array(columns[f.name], f.type)
            if not pa.types.is_dictionary(f.type)
            else table[f.name]
            for f in table.schema
        ]
        pq.write_table(pa.Table.from_arrays(arrays, schema=table.schema), folder / "part-0.parquet")

    ingest_year(
        settings, LEGACY_YEAR, legacy, force=True, echo=quiet, before_load=blank_current_population
    )
    legacy_decoded = root / "legacy-decoded"
    decode_zip(legacy, legacy_decoded, year=LEGACY_YEAR)

    # -- Chicago: a backfill batch, then a batch of arrests recorded later and new labels ------
    crimes = offset_ids(synthesize_crimes(1500, seed=40, years=CHICAGO_YEARS).table)
    with SodaServer(Dataset.from_wire_table(crimes)) as server:
        soda = dataclasses.replace(settings, soda_domain=server.domain, soda_page_size=500)
        pull(soda, years=CHICAGO_YEARS, client=SodaClient.from_settings(soda))
        served = sorted(server.dataset.rows(), key=lambda r: int(r["id"]))
        arrested = [
            dict(r, arrest=True, updated_on=ARRESTS_RECORDED)
            for r in served[:120]
            if not r["arrest"]
        ]
        relabeled = [
            dict(r, location_description=UNKNOWN_LABEL, updated_on=ARRESTS_RECORDED)
            for r in served[200:215]
        ]
        server.dataset.upsert(arrested + relabeled)
        pull(soda, client=SodaClient.from_settings(soda))

        builds = [run_dbt(["build"], settings, capture=True, env=target)]
        before = {
            table: year_fingerprint(warehouse.url, table, LEGACY_YEAR) for table in NIBRS_MARTS
        }
        before["incidents_loaded_at"] = query(warehouse.url, LOADED_BY_YEAR)
        before["crimes"] = query(
            warehouse.url,
            "select count(*) from marts.fct_chicago_crimes where id > %s",
            (ID_OFFSET,),
        )[0][0]

        # -- a backfill of the modern year from another file, and one more pull batch ---------
        second = root / "second" / f"nibrs-{MODERN_YEAR}.zip"
        synthesize(second, year=MODERN_YEAR, incidents=3000, seed=81)
        ingest_year(settings, MODERN_YEAR, second, force=True, echo=quiet)
        reclassified = [
            dict(
                r,
                arrest=not r["arrest"],
                primary_type="ROBBERY",
                fbi_code="03",
                iucr="031A",
                updated_on=RECLASSIFIED,
            )
            for r in served[300:310]
        ]
        server.dataset.upsert(reclassified)
        pull(soda, client=SodaClient.from_settings(soda))
        final_crimes = {int(r["id"]): r for r in server.dataset.rows()}

    builds.append(run_dbt(["build"], settings, capture=True, env=target))
    decoded = root / "second-decoded"
    decode_zip(second, decoded)
    return Built(
        settings=settings,
        url=warehouse.url,
        analyst_url=warehouse.analyst_url,
        target=target,
        builds=builds,
        before=before,
        truth=pq.read_table(second.with_suffix(".truth.parquet")),
        decoded=decoded,
        legacy_decoded=legacy_decoded,
        legacy_population=legacy_population,
        crimes=final_crimes,
    )


def read(folder: Path, segment: str) -> list[dict]:
    return pq.read_table(folder / segment).to_pylist()


def summary(output: str) -> dict[str, int]:
    done = re.search(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", output)
    assert done, output[-2000:]
    return dict(zip(("pass", "warn", "error", "skip"), map(int, done.groups()), strict=True))


# -- the build ---------------------------------------------------------------------------------
def test_build_passes_every_model_and_test_twice(built):
    for build in built.builds:
        counts = summary(build.output)
        assert build.returncode == 0
        assert counts["error"] == counts["skip"] == counts["warn"] == 0, build.output[-3000:]
        assert counts["pass"] > 150  # 19 seeds, the models and the marts' tests


def test_backfill_rebuilds_only_the_reloaded_year(built):
    second = built.builds[1].output
    assert f"fct_nibrs_incidents: rebuilding data years {MODERN_YEAR}\n" in second
    # only the constant-reporter marts, whose every year depends on the whole range of
    # years (here 2000-2018), rebuild the other year too
    rebuilt_legacy = re.findall(rf"(\w+): rebuilding data years .*\b{LEGACY_YEAR}\b", second)
    assert set(rebuilt_legacy) <= {
        "fct_nibrs_constant_reporters",
        "agg_nibrs_constant_reporter_counts",
    }, rebuilt_legacy
    for table in NIBRS_MARTS:  # the other year's rows are untouched, to the byte
        assert year_fingerprint(built.url, table, LEGACY_YEAR) == built.before[table], table
    loaded_before = dict(built.before["incidents_loaded_at"])
    loaded_after = dict(query(built.url, LOADED_BY_YEAR))
    assert loaded_after[LEGACY_YEAR] == loaded_before[LEGACY_YEAR]
    assert loaded_after[MODERN_YEAR] > loaded_before[MODERN_YEAR]
    assert query(
        built.url,
        "select count(*) from marts.fct_nibrs_incidents where data_year = %s",
        (MODERN_YEAR,),
    ) == [(3000,)]


def test_models_and_seeds_are_in_exactly_the_warehouse_schemas(built):
    placed = dict(
        query(
            built.url,
            """
        select table_name, table_schema from information_schema.tables
        where table_schema in ('staging', 'intermediate', 'ref', 'marts')""",
        )
    )
    assert placed["stg_nibrs__incidents"] == placed["stg_chicago__crimes"] == "staging"
    assert placed["int_nibrs_agency_months_unpivoted"] == "intermediate"
    assert placed["nibrs_offense_codes"] == placed["chicago_location_groups"] == "ref"
    assert placed["fct_nibrs_incidents"] == placed["agg_chicago_arrests"] == "marts"
    assert placed["fct_nibrs_incidents_labelled"] == "marts"
    schemas = {name for (name,) in query(built.url, "select nspname from pg_namespace")}
    assert not {s for s in schemas if s.endswith(("_staging", "_marts", "_ref"))}


# -- statistics and plans: what makes a real-size year finish -----------------------------------
def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_every_raw_partition_is_analyzed_as_it_is_loaded(built):
    """Raw partitions are written with autovacuum off: nothing but the loader analyzes them,
    and without statistics the planner takes every scan for one row."""
    partitions = query(
        built.url,
        """
        select c.relname, c.reltuples, (
            select count(*) from pg_stats as s
            where s.schemaname = 'raw' and s.tablename = c.relname
        )
        from pg_class as c
        join pg_inherits as i on c.oid = i.inhrelid
        join pg_class as p on i.inhparent = p.oid
        join pg_namespace as n on p.relnamespace = n.oid
        where n.nspname = 'raw' and p.relname like 'nibrs%'""",
    )
    assert len(partitions) >= 2 * 11  # both years, every segment
    never_analyzed = [name for name, tuples, _ in partitions if tuples < 0]
    assert never_analyzed == []
    assert all(columns > 0 for name, tuples, columns in partitions if tuples > 0)


def test_the_incidents_mart_joins_no_big_scan_inside_a_nested_loop(built):
    """The plan that hung a year's backfill: nested loops re-reading raw or staged rows.

    The mart's SQL as the last build ran it (after its pre-hook, which stages the year's
    incidents in an analyzed temporary table), planned and run with EXPLAIN ANALYZE: no
    scan on the inner side of a nested loop may read more than a few rows per loop, many
    times. The staging query the pre-hook runs is held to the same rule.
    """
    compiled = Path(built.target["DBT_TARGET_PATH"]) / "compiled" / "crimewh" / "models"
    sql = (compiled / "marts" / "nibrs" / "fct_nibrs_incidents.sql").read_text()
    staging = f"select * from staging.stg_nibrs__incidents where data_year = {MODERN_YEAR}"
    with psycopg2.connect(built.url) as conn, conn.cursor() as cur:
        cur.execute(f"explain (analyze, format json) {staging}")
        plans = [cur.fetchone()[0][0]["Plan"]]
        cur.execute(f"create temporary table nibrs_incidents_staged as {staging}")
        cur.execute("analyze nibrs_incidents_staged")
        cur.execute(f"explain (analyze, verbose, format json) {sql}")
        plans.append(cur.fetchone()[0][0]["Plan"])
        conn.rollback()
    repeated = [
        f"{scan['Node Type']} on {scan.get('Schema')}.{scan['Relation Name']}: "
        f"{scan['Actual Rows']} rows x {scan['Actual Loops']} loops"
        for plan in plans
        for node in _plan_nodes(plan)
        if node["Node Type"] == "Nested Loop"
        for scan in _plan_nodes(node["Plans"][1])
        if "Relation Name" in scan and scan.get("Schema") in ("raw", "staging", "marts")
        and scan["Actual Loops"] > 1 and scan["Actual Rows"] > 10
    ]  # fmt: skip
    assert repeated == []
    assert "nibrs_incidents_staged" in json.dumps(plans[1])  # the plan read the staged year


def test_marts_are_one_partition_per_year_and_tests_check_the_built_years(built):
    partitions = query(
        built.url,
        """
        select c.relname from pg_class as c join pg_inherits as i on c.oid = i.inhrelid
        where i.inhparent = 'marts.fct_nibrs_incidents'::regclass order by 1""",
    )
    held = query(built.url, "select distinct data_year from marts.fct_nibrs_incidents order by 1")
    # one partition per year held (the session's warehouse may hold other modules' years)
    assert partitions == [(f"fct_nibrs_incidents__y{year}",) for (year,) in held]
    assert {LEGACY_YEAR, MODERN_YEAR} <= {year for (year,) in held}
    # the second build rebuilt, and so tested, the backfilled year only
    built_years = query(
        built.url,
        "select invocation_id, array_agg(distinct data_year order by data_year) "
        "from audit.mart_builds where model = 'fct_nibrs_incidents' "
        "group by invocation_id order by min(built_at)",
    )
    first, second = (years for _, years in built_years[-2:])
    assert {LEGACY_YEAR, MODERN_YEAR} <= set(first)
    assert second == [MODERN_YEAR]


def test_a_partitioned_marts_tests_check_the_years_it_built_both_sides_alike(built):
    """Tests once read the years every model of the invocation had built so far: a number
    that grew while other models built on other threads. matches_a_row_of reads its years
    first and its rows later, so it checked a parent read for fewer years than its child and
    failed on rows that were there (29 600 scores in a clean-clone run). Each mart's tests now
    read the years that mart built, and both sides of matches_a_row_of the same years."""
    years_by_model = dict(
        query(
            built.url,
            "select model, array_agg(distinct data_year order by data_year) "
            "from audit.mart_builds where invocation_id = ("
            "  select invocation_id from audit.mart_builds order by built_at desc limit 1"
            ") group by model",
        )
    )
    # the second build: the scores mart rebuilt the backfilled year, others rebuilt more
    assert years_by_model["fct_nibrs_incident_clearance_scores"] == [MODERN_YEAR]
    assert set(years_by_model["fct_nibrs_constant_reporters"]) > {MODERN_YEAR}
    folder = Path(built.target["DBT_TARGET_PATH"]) / "run" / "crimewh" / "models" / "marts"
    (run_sql,) = folder.glob("nibrs/fct_nibrs_incident_clearance_scores.yml/matches_a_row_of_*.sql")
    sql = run_sql.read_text()
    assert "built.model = 'fct_nibrs_incident_clearance_scores'" in sql
    # the years the test read at its start, the same on both sides
    child_years = re.search(r"as dbt_subquery\s+where (.+)", sql).group(1)
    parent_years = re.search(r'"fct_nibrs_incidents"\s+where (.+)', sql).group(1)
    assert child_years == parent_years
    assert query(built.url, sql) == [(0, False, False)]


def test_every_year_of_the_agency_offenses_has_the_all_rows_index(built):
    """The dashboard's national trend finds each year's `all` rows by an index: the parent
    has it, and every year's partition, the one rebuilt by the second build included."""
    partitions = query(
        built.url,
        """
        select c.relname from pg_class as c join pg_inherits as i on c.oid = i.inhrelid
        where i.inhparent = 'marts.agg_nibrs_agency_year_offenses'::regclass order by 1""",
    )
    assert len(partitions) >= 2
    for (table,) in [("agg_nibrs_agency_year_offenses",), *partitions]:
        indexes = [definition for (definition,) in query(
            built.url, "select indexdef from pg_indexes where tablename = %s", (table,)
        )]  # fmt: skip
        assert any("(category_type, data_year)" in d for d in indexes), (table, indexes)


# -- clearance, against the generator's truth ---------------------------------------------------
def test_every_incidents_clearance_outcome_is_the_generators(built):
    truth = {(r["ori"], r["incident_number"]): r["outcome"] for r in built.truth.to_pylist()}
    marts = {
        (r["ori"], r["incident_number"]): r["clearance_outcome"]
        for r in year_rows(built.url, "fct_nibrs_incidents", MODERN_YEAR)
    }
    assert marts == truth
    assert set(truth.values()) == {"arrest", "exceptional", "open"}


def test_days_to_clearance_from_the_decoded_records(built):
    first_arrest: dict[tuple, str] = {}
    for row in read(built.decoded, "arrestee"):
        key = (row["ori"], row["incident_number"])
        first_arrest[key] = min(first_arrest.get(key, row["arrest_date"]), row["arrest_date"])
    expected = {}
    for row in read(built.decoded, "administrative"):
        key = (row["ori"], row["incident_number"])
        start = dt.datetime.strptime(row["incident_date"], "%Y%m%d").date()
        if key in first_arrest:
            end = first_arrest[key]
        elif row["cleared_exceptionally"] in tuple("ABCDE"):
            end = row["exceptional_clearance_date"]
        else:
            expected[key] = None
            continue
        expected[key] = (dt.datetime.strptime(end, "%Y%m%d").date() - start).days
    marts = {
        (r["ori"], r["incident_number"]): r["days_to_clearance"]
        for r in year_rows(built.url, "fct_nibrs_incidents_labelled", MODERN_YEAR)
    }
    assert marts == expected
    assert any(d for d in expected.values())


def test_agency_clearance_rates_are_the_truths(built):
    outcomes = collections.defaultdict(collections.Counter)
    for row in built.truth.to_pylist():
        outcomes[row["ori"]][row["outcome"]] += 1
    stats = {
        r["ori"]: r
        for r in records(
            built.url,
            "select * from marts.agg_nibrs_agency_year_offenses "
            "where data_year = %s and category_type = 'all'",
            (MODERN_YEAR,),
        )
    }
    for ori, counts in outcomes.items():
        total = sum(counts.values())
        row = stats[ori]
        assert row["incident_count"] == total
        assert row["cleared_by_arrest_count"] == counts["arrest"]
        assert row["cleared_exceptionally_count"] == counts["exceptional"]
        assert row["clearance_rate"] == round(
            Decimal(counts["arrest"] + counts["exceptional"]) / total, 6
        )
        assert row["arrest_clearance_rate"] == round(Decimal(counts["arrest"]) / total, 6)
    # agencies without incidents still have their (empty) row, with no rate
    quiet = [r for ori, r in stats.items() if ori not in outcomes]
    assert quiet
    assert all(r["incident_count"] == 0 and r["clearance_rate"] is None for r in quiet)


# -- compliance and rates, against the decoded batch headers ------------------------------------
def batch_headers(folder: Path) -> dict[str, dict]:
    return {row["ori"]: row for row in read(folder, "batch_header")}


def months_by_flags(header: dict) -> int:
    return sum(header[f"{m}_zero_report"] == "Y" or header[f"{m}_group_a_b"] == "Y" for m in MONTHS)


def test_compliance_is_the_batch_headers(built):
    headers = batch_headers(built.decoded)
    years = year_rows(built.url, "fct_nibrs_agency_years", MODERN_YEAR, key="ori")
    assert set(years) == set(headers)
    for ori, header in headers.items():
        row = years[ori]
        assert row["months_reported"] == months_by_flags(header), ori
        assert row["months_reported_in_header"] == int(header["months_reported"])
        assert row["is_full_year"] == (months_by_flags(header) == 12)
        assert row["is_covered_by_another_agency"] == (header["agency_indicator"] == "0")
        assert row["covered_by_ori"] == header["covered_by_ori"]
        assert row["population"] == sum(
            int(header[f"current_population_{s}"] or 0) for s in range(1, 6)
        )
    full_year = sum(months_by_flags(h) == 12 for h in headers.values())
    assert sum(r["is_full_year"] for r in years.values()) == full_year
    assert 0 < full_year < len(headers)  # the file has partial and non-reporters too


def test_agency_months_are_the_flags_and_the_incidents(built):
    headers = batch_headers(built.decoded)
    incidents = collections.Counter(
        (row["ori"], int(row["incident_date"][4:6]))
        for row in read(built.decoded, "administrative")
    )
    months = year_rows(built.url, "fct_nibrs_agency_months", MODERN_YEAR)
    assert len(months) == 12 * len(headers)
    for row in months:
        header, month = headers[row["ori"]], MONTHS[row["month_number"] - 1]
        assert row["zero_report_submitted"] == (header[f"{month}_zero_report"] == "Y")
        assert row["group_a_b_submitted"] == (header[f"{month}_group_a_b"] == "Y")
        assert row["is_reported"] == (
            header[f"{month}_zero_report"] == "Y" or header[f"{month}_group_a_b"] == "Y"
        )
        assert row["incident_count"] == incidents[(row["ori"], row["month_number"])]


def test_rates_per_100k_only_over_full_year_agencies(built):
    headers = batch_headers(built.decoded)
    population = {
        o: sum(int(h[f"current_population_{s}"] or 0) for s in range(1, 6))
        for o, h in headers.items()
    }
    served = dict(population)
    for ori, header in headers.items():
        if header["covered_by_ori"]:
            served[header["covered_by_ori"]] += population[ori]
    offenses = collections.Counter(row["ori"] for row in read(built.decoded, "offense"))
    by_code = collections.Counter(
        (row["ori"], row["ucr_offense_code"]) for row in read(built.decoded, "offense")
    )
    stats = year_rows(built.url, "agg_nibrs_agency_year_offenses", MODERN_YEAR)
    eligible = 0
    for row in stats:
        header = headers[row["ori"]]
        full = months_by_flags(header) == 12
        covered = header["agency_indicator"] == "0" or bool(header["covered_by_ori"])
        if row["category_type"] == "all":
            assert row["offense_count"] == offenses[row["ori"]]
        if row["category_type"] == "offense":
            assert row["offense_count"] == by_code[(row["ori"], row["category"])]
        if full and not covered and served[row["ori"]] > 0:
            eligible += row["category_type"] == "all"
            expected = round(Decimal(row["offense_count"] * 100_000) / served[row["ori"]], 4)
            assert row["offenses_per_100k"] == expected, row
        else:
            assert row["offenses_per_100k"] is None, row
    assert eligible > 0
    assert {r["category_type"] for r in stats} == {
        "all",
        "crime_against",
        "offense_category",
        "offense",
    }


def test_legacy_headers_merge_and_2000_falls_back_to_last_population(built):
    headers = batch_headers(built.legacy_decoded)  # B1/B2/B3, merged by the decoder
    assert {h["segment_level"] for h in headers.values()} == {"B1"}
    years = year_rows(built.url, "fct_nibrs_agency_years", LEGACY_YEAR, key="ori")
    assert set(years) == set(headers) == set(built.legacy_population)
    for ori, row in years.items():
        assert row["population"] == built.legacy_population[ori]
        assert row["population_source"] == "last_population"
        assert row["months_reported"] == months_by_flags(headers[ori])
    assert any(built.legacy_population.values())


# -- typing in staging ------------------------------------------------------------------------
def test_property_values_and_drug_quantities_are_typed(built):
    decoded = {
        (r["ori"], r["incident_number"], r["type_property_loss"], r["property_description"]): r
        for r in read(built.decoded, "property")
    }
    marts = records(
        built.url,
        "select properties.*, incidents.ori, incidents.incident_number "
        "from marts.fct_nibrs_properties as properties join marts.fct_nibrs_incidents "
        "as incidents using (data_year, incident_key) where data_year = %s",
        (MODERN_YEAR,),
    )
    assert len(marts) == len(decoded)
    unknown = 0
    for row in marts:
        raw = decoded[
            (
                row["ori"],
                row["incident_number"],
                row["loss_type_code"],
                row["property_description_code"],
            )
        ]
        if raw["property_value"] == "000000001":
            unknown += 1
            assert row["property_value"] is None
            assert row["is_property_value_unknown"]
        else:
            assert row["property_value"] == (
                int(raw["property_value"]) if raw["property_value"] else None
            )
        for slot in (1, 2, 3):
            whole = raw[f"est_drug_quantity_{slot}"]
            if whole is None or raw[f"drug_measurement_{slot}"] == "XX":
                assert row[f"drug_quantity_{slot}"] is None
            else:
                thousandths = Decimal(int(raw[f"est_drug_quantity_thousandths_{slot}"] or 0))
                assert row[f"drug_quantity_{slot}"] == int(whole) + thousandths / 1000
    assert unknown > 0


# -- Chicago ----------------------------------------------------------------------------------
def location_groups() -> dict[str, str]:
    path = PROJECT_DIR / "seeds" / "chicago" / "chicago_location_groups.csv"
    return {r["location_description"]: r["location_group"] for r in csv.DictReader(path.open())}


def test_chicago_crimes_are_each_rows_latest_version_with_features(built):
    groups = location_groups()
    crimes = records(
        built.url, "select * from marts.fct_chicago_crimes where id > %s", (ID_OFFSET,)
    )
    marts = {r["id"]: r for r in crimes}
    assert set(marts) == set(built.crimes)
    assert len(marts) == built.before["crimes"]  # the third batch's updates replaced rows
    for crime_id, wire in built.crimes.items():
        row = marts[crime_id]
        occurred = dt.datetime.fromisoformat(wire["date"])
        assert row["occurred_at"] == occurred
        assert (row["hour"], row["day_of_week"], row["month"]) == (
            occurred.hour,
            occurred.weekday(),
            occurred.month,
        )
        assert row["is_weekend"] == (occurred.weekday() >= 5)
        assert row["arrest"] == wire["arrest"]
        assert row["primary_type"] == wire["primary_type"]
        assert row["updated_on"] == dt.datetime.fromisoformat(wire["updated_on"])
        assert row["district"] == wire.get("district")
        assert row["community_area"] == (
            int(wire["community_area"]) if wire.get("community_area") else None
        )
        label = wire.get("location_description")
        expected = "Unknown/Other" if not label else groups.get(label, "Unmapped")
        assert row["location_group"] == expected, label
        assert row["is_location_unmapped"] == (expected == "Unmapped")
    unmapped = [r for r in marts.values() if r["location_group"] == "Unmapped"]
    assert {r["location_description"] for r in unmapped} == {UNKNOWN_LABEL}
    reclassified = [
        r for r in marts.values() if r["updated_on"] == dt.datetime.fromisoformat(RECLASSIFIED)
    ]
    assert len(reclassified) == 10  # the third batch's, built incrementally
    assert {(r["primary_type"], r["fbi_code"], r["index_class"]) for r in reclassified} == {
        ("ROBBERY", "03", "violent")
    }


def test_chicago_arrest_stats_match_the_raw_rows(built):
    """Every row of raw.chicago_crimes (other tests' batches too), deduplicated here."""
    latest: dict[int, tuple] = {}
    for row in records(built.url, "select * from raw.chicago_crimes where id is not null"):
        # the latest updated_on wins, then the latest load
        rank = (row["updated_on"] is not None, row["updated_on"] or dt.datetime.min,
                row["_loaded_at"], row["_load_id"])  # fmt: skip
        if row["id"] not in latest or rank > latest[row["id"]][0]:
            latest[row["id"]] = (rank, row)
    expected = collections.defaultdict(collections.Counter)
    for _, row in latest.values():
        district = row["district"].zfill(3) if row["district"] else None
        area = int(row["community_area"]) if row["community_area"] else None
        key = (row["year"] or row["date"].year, district, area)
        expected[key]["crimes"] += 1
        expected[key]["arrests"] += bool(row["arrest"])
        expected[key]["domestic"] += bool(row["domestic"])
    stats = {
        (r["year"], r["district"], r["community_area"]): r
        for r in records(built.url, "select * from marts.agg_chicago_arrests")
    }
    assert set(stats) == set(expected)
    for key, counts in expected.items():
        row = stats[key]
        assert (row["crime_count"], row["arrest_count"], row["domestic_count"]) == (
            counts["crimes"],
            counts["arrests"],
            counts["domestic"],
        )
        assert row["arrest_rate"] == round(Decimal(counts["arrests"]) / counts["crimes"], 6)


def test_chicago_type_hours_are_the_facts_grouped(built):
    """The dashboard's Chicago page reads agg_chicago_type_hours in place of the facts: each
    of its rows is the facts' count for that year, type, weekday and hour."""
    grouped = records(built.url, """
        select year, primary_type, day_of_week, hour, count(*) as crimes,
            count(*) filter (where arrest) as arrests
        from marts.fct_chicago_crimes group by 1, 2, 3, 4""")  # fmt: skip
    stored = records(built.url, "select * from marts.agg_chicago_type_hours")
    assert len(stored) == len(grouped) > 0

    def key(row):
        return (row["year"], row["primary_type"], row["day_of_week"], row["hour"])

    expected = {key(r): (r["crimes"], r["arrests"]) for r in grouped}
    assert {key(r): (r["crime_count"], r["arrest_count"]) for r in stored} == expected
    # and the month the page maps is found by an index, not by reading the whole history
    indexes = records(built.url, "select indexdef from pg_indexes where tablename = %s",
                      ("fct_chicago_crimes",))  # fmt: skip
    assert any("(year, month)" in r["indexdef"] for r in indexes), indexes


def test_unmapped_location_share_is_tested(built):
    """The build passed with ~1% unmapped; a lower ceiling makes the same test fail."""
    strict = run_dbt(
        [
            "test",
            "--select",
            "fct_chicago_crimes_unmapped_location_share",
            "--vars",
            json.dumps({"chicago_unmapped_location_max_share": 0.001}),
        ],
        built.settings,
        capture=True,
        check=False,
        env=built.target,
    )
    assert strict.returncode == 1
    assert summary(strict.output)["error"] == 1


# -- documentation and access --------------------------------------------------------------
def test_docs_generate_catalogs_every_mart(built):
    # the second build's manifest is in the target folder: catalog it without recompiling
    run_dbt(["docs", "generate", "--no-compile"], built.settings, capture=True, env=built.target)
    assert (Path(built.target["DBT_TARGET_PATH"]) / "index.html").exists()
    catalog = json.loads((Path(built.target["DBT_TARGET_PATH"]) / "catalog.json").read_text())
    marts = {
        n["metadata"]["name"]: n
        for n in catalog["nodes"].values()
        if n["metadata"]["schema"] == "marts"
    }
    assert {"fct_nibrs_incidents", "fct_chicago_crimes", "agg_nibrs_agency_year_offenses"} <= set(
        marts
    )
    incidents = marts["fct_nibrs_incidents"]
    assert incidents["metadata"]["comment"].startswith("One row per NIBRS Group A incident")
    assert incidents["columns"]["data_year"]["type"] == "integer"
    assert incidents["columns"]["clearance_outcome"]["comment"]


def test_the_analyst_reads_marts_but_not_staging(built):
    assert query(built.analyst_url, "select count(*) from marts.fct_nibrs_incidents")[0][0] > 0
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        query(built.analyst_url, "select count(*) from staging.stg_nibrs__incidents")
