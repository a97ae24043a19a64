"""The analyst marts (coverage, constant reporters, SRS counts, peers, caveats, scores) on
three synthetic panel years, each measure recomputed here in Python from the decoded
records and the generator's truth, never from the marts' SQL.

One module fixture synthesizes 2012-2014 as one panel (the same agencies every year, whose
reporting changes), ingests them, puts stand-in champion scores in `ml`, and builds the
analyst marts with everything upstream in one `dbt build`; the tests look at the result.
"""

import collections
import dataclasses
import datetime as dt
import math
import re
from decimal import Decimal

import numpy as np
import psycopg2
import pyarrow.parquet as pq
import pytest

from crimewh.dbt import run_dbt
from crimewh.nibrs_ingest import ingest_year
from testkit.nibrs_synth import synthesize

YEARS = (2012, 2013, 2014)  # no other module loads these years
SEED = 20
INCIDENTS = 1200
AGENCIES = 120
SCORED_YEAR = 2013
MARTS = (
    "agg_nibrs_coverage_state_years",
    "agg_nibrs_coverage_county_years",
    "fct_nibrs_constant_reporters",
    "agg_nibrs_constant_reporter_counts",
    "agg_nibrs_srs_offense_counts",
    "agg_nibrs_agency_peers",
    "dim_nibrs_comparability_caveats",
    "fct_nibrs_incident_clearance_scores",
)
# every NIBRS model, seed and test: the analyst marts and all they are built from
SELECT = ["tag:nibrs"]
RANGE_VARS = f"{{nibrs_constant_reporter_years: [{YEARS[0]}, {YEARS[-1]}]}}"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# The reference's hierarchy (§2.2, §2.3), written out again here: SRS offense -> codes, rank
# (None: arson, exempt) and unit
SRS = {
    "murder": ({"09A"}, 1, "victims"),
    "manslaughter": ({"09B"}, 2, "victims"),
    "rape": ({"11A", "11B", "11C"}, 3, "victims"),
    "robbery": ({"120"}, 4, "incidents"),
    "aggravated_assault": ({"13A"}, 5, "victims"),
    "burglary": ({"220"}, 6, "premises"),
    "larceny": ({f"23{c}" for c in "ABCDEFGH"}, 7, "incidents"),
    "motor_vehicle_theft": ({"240"}, 8, "vehicles"),
    "arson": ({"200"}, None, "incidents"),
}
STUB_SCORES = (  # ml.clearance_scores as ml/score.py lays it out
    "create table ml.clearance_scores (scored_partition text not null, incident_key bigint "
    "not null, probability real not null, p_open real, p_arrest real, p_exceptional real, "
    "top_feature_1 smallint, top_value_1 text, top_contribution_1 real, top_feature_2 smallint,"
    " top_value_2 text, top_contribution_2 real, top_feature_3 smallint, top_value_3 text, "
    "top_contribution_3 real) partition by list (scored_partition)"
)


def query(url: str, sql: str, params=None) -> list[dict]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        names = [c.name for c in cur.description] if cur.description else []
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()] if names else []
    conn.close()
    return rows


def execute(url: str, *statements: str) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    conn.close()


def close(actual, expected, places: int) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    return abs(float(actual) - float(expected)) <= 0.5 * 10**-places + 1e-9


# -- the decoded panel, as plain Python ------------------------------------------------------
@dataclasses.dataclass
class Year:
    headers: list[dict]
    offenses: list[dict]
    victims: list[dict]
    properties: list[dict]
    outcome: dict[tuple[str, str], str]  # (ori, incident number) -> arrest/exceptional/open


def agency_years(year: Year) -> dict[str, dict]:
    """Per agency: state, group, type, population, covered-by, own and effective months,
    incidents and clearances, from the batch headers and the truth."""
    agencies = {}
    for h in year.headers:
        months = sum(h[f"{m}_zero_report"] == "Y" or h[f"{m}_group_a_b"] == "Y" for m in MONTHS)
        agencies[h["ori"]] = {
            "state": h["state_abbr"],
            "group": h["population_group"],
            "type": h["agency_indicator"],
            "population": sum(int(h[f"current_population_{s}"] or 0) for s in range(1, 6)),
            "covered_by": h["covered_by_ori"],
            "covered": h["agency_indicator"] == "0" or bool(h["covered_by_ori"]),
            "months": months,
            "portions": [
                (h[f"ucr_county_code_{s}"], int(h[f"current_population_{s}"] or 0), s)
                for s in range(1, 6)
                if h[f"ucr_county_code_{s}"]
            ],
            "went": h["date_ori_went_nibrs"],
            "incidents": 0,
            "cleared": 0,
        }
    for (ori, _), outcome in year.outcome.items():
        agencies[ori]["incidents"] += 1
        agencies[ori]["cleared"] += outcome != "open"
    for ori, a in agencies.items():
        a["covered_population"] = sum(
            b["population"] for b in agencies.values() if b["covered_by"] == ori
        )
        a["served"] = a["population"] + a["covered_population"]
        a["full_reporter"] = a["months"] == 12 and not a["covered"]
        root, seen = None, {ori}
        link = a["covered_by"]
        for _ in range(3):  # the chain, three levels, as CDE flattens it
            if not link or link in seen or link not in agencies:
                break
            root, seen = link, seen | {link}
            link = agencies[link]["covered_by"]
        a["effective"] = max(a["months"], agencies[root]["months"]) if root else a["months"]
    return agencies


def percent(part, whole):
    return None if not whole else 100 * part / whole


def tier(missing: float, population: int):
    if not population > 0:
        return None
    if missing == 0:
        return 1
    return 2 if 100 * (1 - missing / population) >= 80 else 3


@dataclasses.dataclass
class Panel:
    url: str
    analyst_url: str
    years: dict[int, Year]
    builds: list
    other_years_oris: set[str]  # agencies of years loaded by other modules, if any
    scores: dict[int, float]  # stand-in probability by incident key (SCORED_YEAR)


@pytest.fixture(scope="module")
def panel(warehouse, tmp_path_factory) -> Panel:
    root = tmp_path_factory.mktemp("analyst")
    settings = dataclasses.replace(
        warehouse.settings, data_dir=root, lake_url=f"file://{root}/lake"
    )
    target = {"DBT_TARGET_PATH": str(root / "target"), "DBT_LOG_PATH": str(root / "logs")}
    years: dict[int, Year] = {}

    def keep(decoded, year):  # the records exactly as loaded
        tables = {
            segment: pq.read_table(decoded / segment).to_pylist()
            for segment in ("batch_header", "offense", "victim", "property")
        }
        years[year] = Year(tables["batch_header"], tables["offense"], tables["victim"],
                           tables["property"], {})  # fmt: skip

    for year in YEARS:
        zip_path = root / f"nibrs-{year}.zip"
        synthesize(zip_path, year=year, incidents=INCIDENTS, seed=SEED, agencies=AGENCIES,
                   panel=True)  # fmt: skip
        ingest_year(settings, year, zip_path, force=True, echo=lambda _: None, before_load=keep)
        truth = pq.read_table(zip_path.with_suffix(".truth.parquet")).to_pylist()
        years[year].outcome = {(t["ori"], t["incident_number"]): t["outcome"] for t in truth}

    # stand-in champion scores for one year, laid out as ml/score.py writes them
    execute(
        warehouse.url,
        "create schema if not exists ml",
        "drop table if exists ml.clearance_scores, ml.clearance_score_partitions cascade",
        STUB_SCORES,
        f"create table ml.clearance_scores_y{SCORED_YEAR} partition of ml.clearance_scores "
        f"for values in ('{SCORED_YEAR}')",
        "create table ml.clearance_score_partitions (scored_partition text primary key, "
        "model_version text not null, scored_at timestamptz not null, source_loaded_at "
        "timestamptz, contribution_method text not null, rows bigint not null)",
        "create table if not exists ml.model_features (model text not null, model_version "
        "text not null, feature_index smallint not null, feature_name text not null, "
        "primary key (model, model_version, feature_index))",
        "delete from ml.model_features where model_version = 'test-v1'",
        "insert into ml.model_features values ('clearance', 'test-v1', 0, 'offense_count'), "
        "('clearance', 'test-v1', 1, 'has_weapon'), ('clearance', 'test-v1', 2, 'victim_count')",
    )
    try:
        builds = [run_dbt(["build", "--select", *SELECT, "--vars", RANGE_VARS], settings,
                          capture=True, env=target)]  # fmt: skip
        keys = [
            r["incident_key"]
            for r in query(
                warehouse.url,
                "select incident_key from marts.fct_nibrs_incidents where data_year = %s "
                "order by incident_key",
                (SCORED_YEAR,),
            )
        ]
        scored = keys[::3]  # a third of the year scored
        scores = {key: round(0.05 + 0.9 * (i % 17) / 16, 4) for i, key in enumerate(scored)}
        with psycopg2.connect(warehouse.url) as conn, conn.cursor() as cur:
            cur.execute(
                "insert into ml.clearance_scores select %s, key, p, 1 - p, p * 0.8, p * 0.2, 0, "
                "'2', 0.5, 2, '3', -0.25, null, null, null "
                "from unnest(%s::bigint[], %s::real[]) as scored (key, p)",
                (str(SCORED_YEAR), list(scores), list(scores.values())),
            )
            cur.execute(
                "insert into ml.clearance_score_partitions values (%s, 'test-v1', now(), null, "
                "'saabas', %s)",
                (str(SCORED_YEAR), len(scores)),
            )
        conn.close()
        # the scorer replaced a year's scores: the next build rebuilds that year of the mart
        builds.append(
            run_dbt(
                ["build", "--select", "fct_nibrs_incident_clearance_scores", "--vars", RANGE_VARS],
                settings,
                capture=True,
                env=target,
            )
        )
        others = query(
            warehouse.url,
            "select distinct ori from raw.nibrs_batch_header where data_year::integer <> all(%s)",
            (list(YEARS),),
        )
        yield Panel(
            url=warehouse.url,
            analyst_url=warehouse.analyst_url,
            years=years,
            builds=builds,
            other_years_oris={r["ori"] for r in others},
            scores=scores,
        )
    finally:
        execute(
            warehouse.url,
            "drop table if exists ml.clearance_scores, ml.clearance_score_partitions cascade",
            "delete from ml.model_features where model_version = 'test-v1'",
        )


def mart(panel: Panel, name: str, where: str = "true") -> list[dict]:
    return query(panel.url, f"select * from marts.{name} where {where}")


# -- the build ---------------------------------------------------------------------------------
def test_the_build_passes_its_tests_and_rebuilds_only_rescored_years(panel):
    for build in panel.builds:
        assert build.returncode == 0, build.output[-3000:]
        done = re.search(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", build.output)
        assert done, build.output[-3000:]
        assert done.group(3) == done.group(4) == "0", build.output[-3000:]
    first, second = (b.output for b in panel.builds)
    assert "unit_test" in first.lower() or "unit test" in first.lower()
    assert f"fct_nibrs_incident_clearance_scores: rebuilding data years {SCORED_YEAR}\n" in second


def test_the_analyst_role_reads_every_new_mart(panel):
    for name in MARTS:
        assert query(panel.analyst_url, f"select count(*) as n from marts.{name}")[0]["n"] >= 0
    for name in MARTS[:-1]:
        assert query(panel.analyst_url, f"select count(*) as n from marts.{name}")[0]["n"] > 0


# -- coverage ------------------------------------------------------------------------------------
def test_state_coverage_and_tiers_match_the_headers(panel):
    tiers = collections.Counter()
    for year, data in panel.years.items():
        agencies = agency_years(data)
        rows = {r["state_abbreviation"]: r for r in mart(
            panel, "agg_nibrs_coverage_state_years", f"data_year = {year}")}  # fmt: skip
        states = {a["state"] for a in agencies.values()}
        assert set(rows) == states
        for state in states:
            group = [a for a in agencies.values() if a["state"] == state]
            population = sum(a["population"] for a in group)
            missing = sum(a["population"] * (12 - a["effective"]) / 12 for a in group)
            full = [a for a in group if a["full_reporter"]]
            full_population = sum(a["served"] for a in full)
            incidents = sum(a["incidents"] for a in full)
            row = rows[state]
            assert row["agency_count"] == len(group)
            assert row["agencies_reporting_any_month"] == sum(a["months"] > 0 for a in group)
            assert row["agencies_reporting_full_year"] == sum(a["months"] == 12 for a in group)
            assert row["covered_agency_count"] == sum(a["covered"] for a in group)
            assert row["agencies_participating_full_year"] == sum(
                a["effective"] == 12 for a in group
            )
            assert row["population_total"] == population
            assert row["population_reporting_any"] == sum(
                a["population"] for a in group if a["effective"] > 0
            )
            assert row["population_full_year"] == full_population
            assert row["incident_count_full_year"] == incidents
            expected_ci = None if not population else 100 * (1 - missing / population)
            assert close(row["coverage_indicator"], expected_ci, 3), (year, state)
            assert row["coverage_tier"] == tier(missing, population), (year, state)
            assert close(row["pct_population_full_year"], percent(full_population, population), 3)
            assert close(
                row["pct_agencies_reporting_any"],
                percent(sum(a["effective"] > 0 for a in group), len(group)),
                3,
            )
            if full and full_population >= 30:
                assert close(row["incidents_per_100k"], incidents * 1e5 / full_population, 4)
                assert row["rate_unavailable_reason"] is None
            else:
                assert row["incidents_per_100k"] is None
                assert row["rate_unavailable_reason"] in (
                    "no_full_year_reporters",
                    "population_under_30",
                )
            tiers[row["coverage_tier"]] += 1
    assert tiers[2] + tiers[3] > 0, tiers  # the tiers are exercised
    assert len(tiers) >= 2, tiers


def test_county_coverage_splits_agencies_by_their_portions(panel):
    checked = 0
    for year, data in panel.years.items():
        agencies = agency_years(data)
        rows = {
            (r["state_abbreviation"], r["county_code"]): r
            for r in mart(panel, "agg_nibrs_coverage_county_years", f"data_year = {year}")
        }
        counties = collections.defaultdict(list)  # (state, county) -> [(agency, portion)]
        for a in agencies.values():
            for county in dict.fromkeys(c for c, _, _ in a["portions"]):
                share = sum(p for c, p, _ in a["portions"] if c == county)
                counties[(a["state"], county)].append((a, share))
        # each full-year reporter's incidents over the population it serves, county by county
        served = collections.defaultdict(lambda: collections.defaultdict(int))
        for ori, a in agencies.items():
            owner = a["covered_by"] or ori
            if owner in agencies and agencies[owner]["full_reporter"]:
                for county, portion, _ in a["portions"]:
                    served[owner][(a["state"], county)] += portion
        incidents = collections.defaultdict(float)
        population_full = collections.defaultdict(int)
        for ori, a in agencies.items():
            if not a["full_reporter"]:
                continue
            weights = {k: v for k, v in served[ori].items() if v > 0}
            for key, value in weights.items():
                population_full[key] += value
                incidents[key] += a["incidents"] * value / sum(weights.values())
            if not weights and a["portions"]:
                first = min(a["portions"], key=lambda p: p[2])[0]
                incidents[(a["state"], first)] += a["incidents"]
        assert set(rows) == set(counties)
        for key, group in counties.items():
            row = rows[key]
            population = sum(p for _, p in group)
            missing = sum(p * (12 - a["effective"]) / 12 for a, p in group)
            assert row["agency_count"] == len(group), key
            assert row["population_total"] == population, key
            assert row["population_full_year"] == population_full.get(key, 0), key
            assert close(row["incident_count_full_year"], incidents.get(key, 0), 4), key
            expected_ci = None if not population else 100 * (1 - missing / population)
            assert close(row["coverage_indicator"], expected_ci, 3), key
            assert row["coverage_tier"] == tier(missing, population), key
            checked += 1
    assert checked > 30


# -- constant reporters ----------------------------------------------------------------------
def test_constant_reporters_reported_every_month_of_every_year(panel):
    by_year = {year: agency_years(data) for year, data in panel.years.items()}
    oris = set().union(*by_year.values())
    constant = {
        ori for ori in oris
        if all(ori in by_year[y] and by_year[y][ori]["full_reporter"] for y in YEARS)
    }  # fmt: skip
    rows = mart(panel, "fct_nibrs_constant_reporters", f"data_year in {YEARS}")
    assert {(r["first_year"], r["last_year"]) for r in rows} == {(YEARS[0], YEARS[-1])}
    assert {(r["data_year"], r["ori"]) for r in rows} == {(y, o) for y in YEARS for o in oris}
    assert {r["ori"] for r in rows if r["is_constant_reporter"]} == constant
    # the panel has both, and agencies that were full-year reporters in some years only
    full_some_year = {o for y in YEARS for o, a in by_year[y].items() if a["full_reporter"]}
    assert len(constant) >= 10
    assert len(full_some_year - constant) >= 5

    counts = {
        (r["data_year"], r["state_abbreviation"]): r
        for r in mart(panel, "agg_nibrs_constant_reporter_counts", f"data_year in {YEARS}")
    }
    for year in YEARS:
        agencies = by_year[year]
        states = {agencies[o]["state"] for o in constant}
        for state in [*states, "ALL"]:
            group = [agencies[o] for o in constant if state in ("ALL", agencies[o]["state"])]
            row = counts[(year, state)]
            assert row["constant_reporter_count"] == len(group)
            assert row["incident_count"] == sum(a["incidents"] for a in group)
            assert row["cleared_count"] == sum(a["cleared"] for a in group)
            assert row["population_served"] == sum(a["served"] for a in group)


# -- SRS counts under the hierarchy rule -----------------------------------------------------
def srs_counts(data: Year) -> dict[tuple[str, str], dict[str, int]]:
    """(ori, srs offense) -> the mart's counts, from the decoded 02, 04 and 03 records."""
    offenses = collections.defaultdict(list)
    for o in data.offenses:
        offenses[(o["bh_ori"], o["incident_number"])].append(o)
    victims = collections.defaultdict(list)
    for v in data.victims:
        codes = {v[f"victim_ucr_offense_{k}"] for k in range(1, 11)} - {None}
        victims[(v["bh_ori"], v["incident_number"])].append(codes)
    vehicles = collections.Counter()
    for p in data.properties:
        if p["type_property_loss"] == "7":
            stolen = int(p["num_stolen_motor_vehicles"] or 0)
            vehicles[(p["bh_ori"], p["incident_number"])] += stolen
    totals = collections.defaultdict(collections.Counter)
    for key, records in offenses.items():
        codes = {o["ucr_offense_code"] for o in records}
        present = {name: spec for name, spec in SRS.items() if spec[0] & codes}
        ranked = [n for n, (_, rank, _) in present.items() if rank is not None]
        top = min(ranked, key=lambda n: SRS[n][1]) if ranked else None
        cleared = data.outcome[key] != "open"
        for name, (group, rank, unit) in present.items():
            if unit == "victims":
                units = sum(bool(group & v) for v in victims[key])
            elif unit == "vehicles":
                units = max(vehicles[key], 1)
            elif unit == "premises":
                storage = [
                    int(o["premises_entered"] or 0)
                    for o in records
                    if o["ucr_offense_code"] == "220" and o["location_type"] == "19"
                ]
                units = max(*storage, 1) if storage else 1
            else:
                units = 1
            scored = rank is None or name == top
            t = totals[(key[0], name)]
            t["all_incident_count"] += 1
            t["all_offense_count"] += units
            t["offense_record_count"] += sum(o["ucr_offense_code"] in group for o in records)
            if scored:
                t["hierarchy_incident_count"] += 1
                t["hierarchy_offense_count"] += units
                t["hierarchy_cleared_count"] += units * cleared
                t["hierarchy_cleared_by_arrest_count"] += units * (data.outcome[key] == "arrest")
    return totals


def test_srs_counts_follow_the_hierarchy_rule_and_its_units(panel):
    measures = (
        "hierarchy_incident_count", "hierarchy_offense_count", "all_incident_count",
        "all_offense_count", "offense_record_count", "hierarchy_cleared_count",
        "hierarchy_cleared_by_arrest_count",
    )  # fmt: skip
    for year, data in panel.years.items():
        expected = srs_counts(data)
        rows = {
            (r["ori"], r["srs_offense"]): {m: r[m] for m in measures}
            for r in mart(panel, "agg_nibrs_srs_offense_counts", f"data_year = {year}")
        }
        assert rows == {k: {m: v[m] for m in measures} for k, v in expected.items()}
        # every rule had incidents to act on: the hierarchy dropped offenses of each kind
        dropped = collections.Counter()
        for (_, name), v in expected.items():
            dropped[name] += v["all_incident_count"] - v["hierarchy_incident_count"]
        assert all(dropped[n] > 0 for n in ("aggravated_assault", "motor_vehicle_theft")), dropped
        assert dropped["arson"] == 0


def test_the_panel_holds_every_hierarchy_case(panel):
    """Arson beside another Part I offense, the rape variants together, simple assault beside
    burglary, murder with aggravated assault: the cases the rule treats apart occur."""
    found = collections.Counter()
    for data in panel.years.values():
        incidents = collections.defaultdict(set)
        for o in data.offenses:
            incidents[(o["bh_ori"], o["incident_number"])].add(o["ucr_offense_code"])
        for codes in incidents.values():
            found["arson+part1"] += "200" in codes and bool(codes & {"220", "13A", "23H"})
            found["rape variants"] += len(codes & {"11A", "11B", "11C"}) >= 2
            found["11B or 11C"] += bool(codes & {"11B", "11C"})
            found["13B+220"] += {"13B", "220"} <= codes
            found["09A+13A"] += {"09A", "13A"} <= codes
            found["three offenses"] += len(codes) >= 3
    assert len(found) == 6, found
    assert all(found[case] >= 3 for case in found), found


# -- peers ---------------------------------------------------------------------------------------
def peer_group(a: dict) -> str:
    if a["group"] in ("8E", "9E") or a["type"] == "4":
        return "state_police"
    if not a["served"] > 0:
        return "no_population"
    return a["group"] or "unknown"


def test_peer_medians_and_quartiles_match_numpy(panel):
    compared = 0
    for year, data in panel.years.items():
        agencies = agency_years(data)
        for a in agencies.values():
            a["peer_group"] = peer_group(a)
            a["clearance_rate"] = a["cleared"] / a["incidents"] if a["incidents"] else None
            # as agg_nibrs_agency_year_offenses publishes them, which the peers' stats read
            a["clearance_rate"] = None if a["clearance_rate"] is None else round(
                a["clearance_rate"], 6)  # fmt: skip
            a["rate"] = (round(a["incidents"] * 1e5 / a["served"], 4)
                         if a["full_reporter"] and a["served"] > 0 else None)  # fmt: skip
        rows = {r["ori"]: r for r in mart(panel, "agg_nibrs_agency_peers", f"data_year = {year}")}
        assert set(rows) == set(agencies)
        for ori, a in agencies.items():
            row = rows[ori]
            assert row["peer_group"] == a["peer_group"]
            assert close(row["clearance_rate"], a["clearance_rate"], 6)
            assert close(row["incidents_per_100k"], a["rate"], 4)
            for scope, same in (("state", lambda b, a=a: b["state"] == a["state"]),
                                ("national", lambda b: True)):  # fmt: skip
                peers = [
                    b
                    for b in agencies.values()
                    if b["full_reporter"] and b["peer_group"] == a["peer_group"] and same(b)
                ]
                assert row[f"{scope}_peer_count"] == len(peers)
                for stat, column, places in (("clearance_rate", "clearance_rate", 6),
                                             ("rate", "incidents_per_100k", 4)):  # fmt: skip
                    values = [b[stat] for b in peers if b[stat] is not None]
                    for name, q in (("p25", 25), ("median", 50), ("p75", 75)):
                        want = float(np.percentile(values, q)) if values else None
                        got = row[f"{scope}_peer_{column}_{name}"]
                        assert close(got, want, places), (year, ori, scope, column, name)
                        compared += want is not None
    assert compared > 500


def test_covered_agencies_never_get_a_rate_of_their_own(panel):
    covered = mart(panel, "agg_nibrs_agency_peers",
                   f"data_year in {YEARS} and is_covered_by_another_agency")  # fmt: skip
    assert len(covered) >= 5
    assert all(r["incidents_per_100k"] is None for r in covered)
    assert {r["rate_unavailable_reason"] for r in covered} == {"covered_by_another_agency"}
    assert not any(r["is_peer"] for r in covered)
    srs = mart(panel, "agg_nibrs_srs_offense_counts",
               f"data_year in {YEARS} and is_covered_by_another_agency")  # fmt: skip
    assert all(r["hierarchy_offenses_per_100k"] is None for r in srs)
    every = mart(panel, "agg_nibrs_srs_offense_counts", f"data_year in {YEARS}")
    assert all((r["hierarchy_offenses_per_100k"] is None) == (r["rate_unavailable_reason"]
               is not None) for r in every)  # fmt: skip


# -- caveats ---------------------------------------------------------------------------------
def test_caveats_come_from_the_reference_and_from_the_files(panel):
    rows = mart(panel, "dim_nibrs_comparability_caveats", f"data_year in {YEARS}")
    by_kind = collections.defaultdict(set)
    for r in rows:
        by_kind[r["kind"]].add((r["data_year"], r["state_abbreviation"], r["ori"]))
    by_year = {year: agency_years(data) for year, data in panel.years.items()}
    states = {y: {a["state"] for a in by_year[y].values()} for y in YEARS}

    # from the reference: the revised rape definition's adoption years, every state
    assert {(y, s) for y, s, _ in by_kind["rape_definition_revised"]} == {
        (y, s) for y in (2013, 2014) for s in states[y]
    }
    assert {y for y, _, _ in by_kind["coverage_not_national"]} == set(YEARS)
    # agencies whose NIBRS start falls inside the year: the months before are SRS
    transitions = {
        (y, a["state"], o) for y in YEARS for o, a in by_year[y].items()
        if a["went"] and a["went"][:4] == str(y) and a["went"][4:] != "0101"
    }  # fmt: skip
    assert transitions
    assert by_kind["agency_transition_year"] == transitions
    # first reports among the years loaded (agencies other modules' years also hold aside)
    first = {
        (y, by_year[y][o]["state"], o)
        for i, y in enumerate(YEARS[1:], 1) for o in by_year[y]
        if by_year[y][o]["months"] > 0 and o not in panel.other_years_oris
        and all(o not in by_year[e] or by_year[e][o]["months"] == 0 for e in YEARS[:i])
    }  # fmt: skip
    found = {c for c in by_kind["agency_first_reports"] if c[2] not in panel.other_years_oris}
    assert first
    assert found == first
    stopped = {
        (y, by_year[y][o]["state"], o) for y in YEARS[1:] for o in by_year[y]
        if by_year[y][o]["months"] == 0 and not by_year[y][o]["covered"]
        and o in by_year[y - 1] and by_year[y - 1][o]["months"] > 0
    }  # fmt: skip
    assert stopped
    assert by_kind["agency_stopped_reporting"] == stopped
    assert all(r["note"] and r["scope"] == ("agency" if r["ori"] else r["scope"]) for r in rows)


# -- scores ----------------------------------------------------------------------------------
def test_scores_sit_beside_the_facts_they_score(panel):
    rows = mart(panel, "fct_nibrs_incident_clearance_scores", f"data_year in {YEARS}")
    assert {r["incident_key"]: r["p_cleared"] for r in rows} == pytest.approx(panel.scores)
    assert {r["data_year"] for r in rows} == {SCORED_YEAR}
    facts = {
        r["incident_key"]: r
        for r in query(
            panel.url,
            "select incident_key, clearance_outcome, agency_ori from marts.fct_nibrs_incidents "
            "where data_year = %s",
            (SCORED_YEAR,),
        )
    }
    for r in rows:
        assert r["clearance_outcome"] == facts[r["incident_key"]]["clearance_outcome"]
        assert math.isclose(r["p_open"] + r["p_cleared"], 1.0, abs_tol=1e-6)
        assert (r["top_feature_1"], r["top_value_1"]) == ("offense_count", "2")
        assert (r["top_feature_2"], r["top_feature_3"]) == ("victim_count", None)
        assert r["model_version"] == "test-v1"
        assert r["contribution_method"] == "saabas"
        assert isinstance(r["scored_at"], dt.datetime)
    assert Decimal(len(rows)) == Decimal(len(panel.scores))
