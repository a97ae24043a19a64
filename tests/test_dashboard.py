"""The dashboard's pages through Streamlit's AppTest, against a small warehouse built the
way the pipeline builds it (two synthetic NIBRS years, a Chicago pull, dbt, both models
trained and scored), read as the analyst role.

What a page shows is held against the marts read here as the pipeline role with SQL of the
test's own, never against the dashboard's queries. The warehouse is shared with the other
test modules, so expectations are about this module's years and agencies only.
"""

import contextlib
import dataclasses

import numpy as np
import pandas as pd
import psycopg2
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import charts as figures
from dashboard import drift, queries
from testkit.bench_dashboard import NIBRS_YEARS, build_warehouse, settings_beside

INCIDENTS = 3000
CHICAGO_ROWS = 4000
YEAR = NIBRS_YEARS[-1]


def rows(url: str, sql: str, params=None) -> list[dict]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        names = [c.name for c in cur.description]
        found = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    conn.close()
    return found


@pytest.fixture(scope="module")
def site(warehouse):
    """The built warehouse, and this process's settings pointing at it as the analyst."""
    from crimewh.settings import settings

    data_dir = warehouse.settings.data_dir / "dashboard"
    built = settings_beside(warehouse.settings, data_dir)
    build_warehouse(built, incidents=INCIDENTS, chicago_rows=CHICAGO_ROWS)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in built.as_environment().items():
            patch.setenv(name, value)
        settings.cache_clear()
        yield built
    settings.cache_clear()


def open_page(page: str, *, query_params=None, session=None) -> AppTest:
    """A fresh run of the app on ``page``, with cold caches (tests change what they read)."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file("../dashboard/app.py", default_timeout=60)
    # as a browser opening a shared link: the parameters are there from the session's start
    for key, value in (query_params or {}).items():
        app.query_params[key] = value
    app.run()
    if page != "nation":  # the default page is there already (and keeps the sidebar's toggle)
        app.switch_page(f"views/{page}.py")
        for key, value in (query_params or {}).items():
            app.query_params[key] = value
    for key, value in (session or {}).items():
        app.session_state[key] = value
    return app.run() if page != "nation" or session else app


def shown(app: AppTest, column: str):
    """The first table on the page that has ``column``."""
    return next(t.value for t in app.dataframe if column in t.value.columns)


def charts(app: AppTest) -> list:
    return list(app.get("plotly_chart"))


def assert_clean(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


def a_full_year_agency(url: str) -> str:
    return rows(
        url,
        "select ori from marts.fct_nibrs_agency_years where data_year = %s and is_full_year "
        "order by incident_count desc, ori limit 1",
        (YEAR,),
    )[0]["ori"]


# -- no Streamlit, no database ------------------------------------------------------------------
def test_search_patterns_match_the_users_wildcards_literally():
    assert queries.search_pattern(" 50%_off ") == "%50\\%\\_off%"
    assert queries.search_pattern("a\\b") == "%a\\\\b%"


def test_psi_is_zero_for_the_same_distribution_and_flags_a_shift():
    same = pd.Series({"a": 50, "b": 50})
    assert drift.psi(same, same * 3) == pytest.approx(0)
    shifted = pd.Series({"a": 90, "b": 10})
    # (0.9 - 0.5) ln(0.9/0.5) + (0.1 - 0.5) ln(0.1/0.5)
    assert drift.psi(same, shifted) == pytest.approx(0.4 * np.log(1.8) - 0.4 * np.log(0.2))
    counts = pd.DataFrame(
        [("hour", "1", "training", 50), ("hour", "2", "training", 50),
         ("hour", "1", "latest", 90), ("hour", "2", "latest", 10),
         ("flag", "true", "training", 30), ("flag", "true", "latest", 31),
         ("flag", None, "training", 70), ("flag", None, "latest", 69)],
        columns=["feature", "value", "sample", "rows"],
    )  # fmt: skip
    found = drift.feature_drift(counts).set_index("feature")
    assert bool(found.at["hour", "drifted"])
    assert not found.at["flag", "drifted"]
    assert found.at["flag", "training_rows"] == 100


def test_a_year_the_warehouse_lacks_breaks_the_trend_line():
    years = pd.DataFrame({"data_year": [2012, 2013, 2017], "incidents": [10, 12, 30]})
    (trace,) = figures.line(years, "data_year", "incidents", "Incidents").data
    assert list(trace.x) == [2012, 2013, 2014, 2015, 2016, 2017]
    assert [None if np.isnan(v) else v for v in trace.y] == [10, 12, None, None, None, 30]
    assert not trace.connectgaps


def test_no_query_is_built_from_input():
    """Every query is a constant with named placeholders: no format fields left, no %s."""
    for query in queries.QUERIES.values():
        assert "{" not in query.sql, query.name
        assert "%s" not in query.sql, query.name


# -- the pages ----------------------------------------------------------------------------------
def test_nation_page_maps_every_state_of_the_year(site):
    app = open_page("nation")
    assert_clean(app)
    assert len(charts(app)) == 3  # the state map, national counts, national clearance
    coverage = app.dataframe[0].value.set_index("state_abbreviation")
    expected = rows(
        site.warehouse_url,
        "select state_abbreviation, agency_count, pct_population_full_year "
        "from marts.agg_nibrs_coverage_state_years where data_year = %s",
        (YEAR,),
    )
    assert set(coverage.index) == {r["state_abbreviation"] for r in expected}
    for row in expected:
        shown = coverage.loc[row["state_abbreviation"]]
        assert shown["agencies"] == row["agency_count"]
        if row["pct_population_full_year"] is not None:
            share = float(row["pct_population_full_year"]) / 100
            assert float(shown["full_year_population_share"]) == pytest.approx(share)


def test_nation_page_lists_the_years_national_caveats(site):
    notes = set(shown(open_page("nation"), "note")["note"])
    expected = rows(
        site.warehouse_url,
        "select distinct note from marts.dim_nibrs_comparability_caveats "
        "where data_year = %s and scope = 'nation'",
        (YEAR,),
    )
    assert notes == {r["note"] for r in expected}


def test_the_constant_reporters_toggle_narrows_every_national_trend(site):
    everyone = shown(open_page("nation"), "cleared_exceptionally").set_index("data_year")
    constant = open_page("nation", query_params={"constant": "1"})
    assert_clean(constant)
    assert constant.sidebar.toggle(key="constant").value is True
    narrowed = shown(constant, "cleared_exceptionally").set_index("data_year")
    panel = rows(
        site.warehouse_url,
        "select distinct ori from marts.fct_nibrs_constant_reporters where is_constant_reporter",
    )
    assert len(panel) > 0
    expected = rows(
        site.warehouse_url,
        "select data_year, sum(incident_count) as incidents "
        "from marts.agg_nibrs_agency_year_offenses "
        "where category_type = 'all' and ori = any(%s) group by data_year",
        ([r["ori"] for r in panel],),
    )
    for row in expected:
        assert narrowed.at[row["data_year"], "incidents"] == row["incidents"]
        assert (
            narrowed.at[row["data_year"], "incidents"] <= everyone.at[row["data_year"], "incidents"]
        )
    # the session's warehouse may hold other modules' years too: compare the years shown
    assert set(narrowed.index) <= set(everyone.index)
    aligned = everyone.loc[narrowed.index]
    assert (narrowed["agencies"] <= aligned["agencies"]).all()
    assert (narrowed["agencies"] < aligned["agencies"]).any()


def test_an_agency_opens_from_its_url_with_every_chart(site):
    ori = a_full_year_agency(site.warehouse_url)
    app = open_page("agency", query_params={"ori": ori, "year": str(YEAR)})
    assert_clean(app)
    assert ori in app.header[0].value
    assert len(charts(app)) == 4  # counts, clearance, months strip, offenses by category
    assert app.query_params["ori"] == ori
    assert app.query_params["year"] == str(YEAR)
    months = shown(app, "month_number")
    expected = rows(
        site.warehouse_url,
        "select month_number, is_reported, incident_count from marts.fct_nibrs_agency_months "
        "where data_year = %s and ori = %s order by month_number",
        (YEAR, ori),
    )
    assert months[["month_number", "is_reported", "incident_count"]].to_dict("records") == expected
    rates = shown(app, "rate_note")
    assert rates.set_index("data_year").at[YEAR, "rate_note"] == "full year, reports for itself"
    srs = shown(app, "srs_comparable_count")
    expected_srs = rows(
        site.warehouse_url,
        "select srs_offense_name, hierarchy_offense_count, all_offense_count "
        "from marts.agg_nibrs_srs_offense_counts where data_year = %s and ori = %s",
        (YEAR, ori),
    )
    assert {(r.srs_offense, r.srs_comparable_count, r.nibrs_count) for r in srs.itertuples()} == {
        tuple(r.values()) for r in expected_srs
    }
    peers = shown(app, "clearance_rate_median")
    assert list(peers["who"]) == ["this agency", "state peers", "national peers"]
    notes = set(shown(app, "note")["note"])
    expected_notes = rows(
        site.warehouse_url,
        "select distinct note from marts.dim_nibrs_comparability_caveats where data_year = %s "
        "and (ori = %s or (ori is null and state_abbreviation = "
        "(select state_abbreviation from marts.dim_nibrs_agencies where ori = %s)))",
        (YEAR, ori, ori),
    )
    assert notes == {r["note"] for r in expected_notes}
    assert len(app.get("download_button")) == len(app.dataframe)  # a CSV for every table


def test_a_partial_year_agency_shows_why_it_has_no_rate(site):
    partial = rows(
        site.warehouse_url,
        "select ori, months_reported from marts.fct_nibrs_agency_years "
        "where data_year = %s and not is_full_year and not is_covered_by_another_agency "
        "order by ori limit 1",
        (YEAR,),
    )
    if not partial:
        pytest.fail("the synthetic year has no partial-year agency to show")
    ori, months = partial[0]["ori"], partial[0]["months_reported"]
    app = open_page("agency", query_params={"ori": ori, "year": str(YEAR)})
    assert_clean(app)
    rates = shown(app, "rate_note")
    row = rates.set_index("data_year").loc[YEAR]
    assert row["rate_note"] == f"{months} of 12 months reported: a rate would undercount"
    assert (
        row["incidents_per_100k"] is None or row["incidents_per_100k"] != row["incidents_per_100k"]
    )  # null (None or NaN)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"ori": "ZZ9999999"}, "No agency with ORI 'ZZ9999999' is in the warehouse"),
        ({"ori": "x' or '1'='1"}, "No agency with ORI \"x' or '1'='1\" is in the warehouse"),
        ({"ori": "{ori}", "year": "1850"}, "has no data for year '1850'"),
        ({"ori": "{ori}", "year": "2020; drop table marts.x"}, "has no data for year"),
    ],
)
def test_an_unknown_ori_or_year_in_the_url_says_so(site, params, says):
    ori = a_full_year_agency(site.warehouse_url)
    params = {k: v.format(ori=ori) for k, v in params.items()}
    app = open_page("agency", query_params=params)
    assert not app.exception
    assert app.warning
    assert says in app.warning[0].value
    assert not charts(app)


def test_agency_search_finds_by_ori_or_city_and_treats_sql_as_text(site):
    ori = a_full_year_agency(site.warehouse_url)
    app = open_page("agency")
    app.text_input(key="agency-search").input(ori[:7]).run()
    assert_clean(app)
    assert any(ori in option for option in app.selectbox[0].options)
    # the files name an agency by its city or jurisdiction: typed as a reader would, any case
    city = rows(
        site.warehouse_url,
        "select agency_name from marts.dim_nibrs_agencies where ori = %s",
        (ori,),
    )[0]["agency_name"]
    app.text_input(key="agency-search").input(city.title()).run()
    assert_clean(app)
    assert any(ori in option for option in app.selectbox[0].options)
    app.text_input(key="agency-search").input("%'; drop table marts.dim_nibrs_agencies; --").run()
    assert_clean(app)
    assert "No agency matches" in app.info[0].value
    assert rows(site.warehouse_url, "select count(*) as n from marts.dim_nibrs_agencies")[0]["n"]


def test_compliance_heatmap_counts_the_months_each_agency_reported(site):
    state = rows(
        site.warehouse_url,
        "select state_abbreviation from marts.fct_nibrs_agency_years where data_year = %s "
        "group by 1 order by count(*) desc, 1 limit 1",
        (YEAR,),
    )[0]["state_abbreviation"]
    app = open_page("compliance", session={"compliance-year": YEAR, "compliance-state": state})
    assert_clean(app)
    assert len(charts(app)) == 1
    summary = app.dataframe[0].value.set_index("ori")
    expected = rows(
        site.warehouse_url,
        "select m.ori, count(*) filter (where m.is_reported) as reported "
        "from marts.fct_nibrs_agency_months as m join marts.fct_nibrs_agency_years as a "
        "using (data_year, ori) where m.data_year = %s and a.state_abbreviation = %s "
        "group by m.ori",
        (YEAR, state),
    )
    assert {r["ori"]: r["reported"] for r in expected} == summary["months_reported"].to_dict()


def test_chicago_page_draws_years_types_districts_hours_and_the_map(site):
    app = open_page("chicago")
    assert_clean(app)
    assert len(charts(app)) == 7
    by_year = app.dataframe[0].value.set_index("year")
    expected = rows(
        site.warehouse_url,
        "select year, count(*) as crimes from marts.fct_chicago_crimes group by year",
    )
    assert {r["year"]: r["crimes"] for r in expected} == by_year["crimes"].to_dict()


def test_models_page_shows_each_champion_beside_the_oracle(site):
    from crimewh_orchestration.workspace import ml_workspace
    from ml.registry import Registry

    app = open_page("models")
    assert_clean(app)
    registry = Registry(ml_workspace(site))
    for model in ("clearance", "arrest"):
        champion = registry.champion(model)["version"]
        metrics = registry.read_json(model, champion, "metrics.json")
        versions = next(
            t.value for t in app.dataframe
            if "test_auc" in t.value.columns and champion in set(t.value["version"])
        )  # fmt: skip
        row = versions.set_index("version").loc[champion]
        assert row["test_auc"] == pytest.approx(metrics["test_auc"])
        assert bool(row["champion"])
    # per model: AUC beside the oracle, calibration, score distribution, drift
    assert len(charts(app)) == 8
    drifts = [t.value for t in app.dataframe if "psi" in t.value.columns]
    assert [set(d["feature"]) >= {"primary_type", "district"} for d in drifts[1:]] == [True]
    assert {"primary_offense_code", "incident_hour"} <= set(drifts[0]["feature"])
    for found in drifts:
        assert (found["training_rows"] > 0).all()
        assert (found["latest_rows"] > 0).all()
        assert (found["drifted"] == (found["psi"] > drift.THRESHOLD)).all()
    assert len([b for b in app.get("download_button") if "card" in str(b.proto.label)]) == 2


# -- what the reader sees when something is missing ---------------------------------------------
@pytest.fixture
def empty_warehouse(warehouse, site):
    """A database of the same cluster with the analyst's grants and no marts at all."""
    from crimewh.settings import settings
    from crimewh.warehouse import stack

    name = "dashboard_empty"
    admin = psycopg2.connect(warehouse.admin_url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"drop database if exists {name}")
        cur.execute(f"create database {name}")
        cur.execute(f"grant connect on database {name} to {stack.ANALYST_ROLE}")
    url = warehouse.analyst_url.rsplit("/", 1)[0] + f"/{name}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRIMEWH_ANALYST_URL", url)
        patch.setenv("CRIMEWH_DATA_DIR", str(site.data_dir / "empty"))
        patch.setenv("CRIMEWH_LAKE_URL", f"file://{site.data_dir}/empty/lake")  # no models
        settings.cache_clear()
        yield dataclasses.replace(site, analyst_url=url)
    settings.cache_clear()
    with admin.cursor() as cur, contextlib.suppress(psycopg2.Error):
        cur.execute(f"drop database if exists {name} with (force)")
    admin.close()


@pytest.mark.parametrize("page", ["nation", "agency", "compliance", "chicago", "models"])
def test_an_empty_warehouse_asks_for_make_demo(empty_warehouse, page):
    app = open_page(page)
    assert not app.exception, [e.value for e in app.exception]
    said = " ".join(m.value for m in [*app.info, *app.warning, *app.error])
    assert "run `make demo` first" in said
    assert not charts(app)


def test_a_role_that_can_write_the_marts_is_refused(site, warehouse):
    from crimewh.settings import settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRIMEWH_ANALYST_URL", warehouse.url)  # the pipeline's own role
        settings.cache_clear()
        app = open_page("nation")
    settings.cache_clear()
    assert not app.exception
    assert "which can write the marts" in app.error[0].value
    assert not charts(app)
