"""The models' feature definitions, leakage guards, windows and metrics (no database)."""

from dataclasses import replace
from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from crimewh.settings import project_dir
from ml.evaluate import binary_metrics, calibration_table, choose_windows, group_metrics
from ml.features import (
    CATEGORICAL,
    NUMERIC,
    Feature,
    FittedFeatures,
    LeakageError,
    ModelSpec,
    api_field,
    arrest_spec,
    check_leakage,
    chicago_source_features,
    clearance_spec,
)

# verbatim rows of the portal's CSV export (docs/reference/chicago-crimes-soda.md §1.2)
SEEDS = project_dir() / "dbt_project" / "seeds"  # Chicago's location groups, as dbt has them
PORTAL_HEADER = [
    "ID",
    "Case Number",
    "Date",
    "Block",
    "IUCR",
    "Primary Type",
    "Description",
    "Location Description",
    "Arrest",
    "Domestic",
    "Beat",
    "District",
    "Ward",
    "Community Area",
    "FBI Code",
    "X Coordinate",
    "Y Coordinate",
    "Year",
    "Updated On",
    "Latitude",
    "Longitude",
    "Location",
]
PORTAL_ROWS = [
    [
        "14031121",
        "JJ492014",
        "11/16/2025 11:00:00 PM",
        "049XX S PRAIRIE AVE",
        "0810",
        "THEFT",
        "OVER $500",
        "RESIDENCE",
        "false",
        "true",
        "0224",
        "002",
        "3",
        "38",
        "06",
        "1178876",
        "1872367",
        "2025",
        "11/22/2025 03:41:52 PM",
        "41.805072258",
        "-87.619480201",
        "(41.805072258, -87.619480201)",
    ],
    [
        "14032654",
        "JJ494065",
        "11/16/2025 12:00:00 AM",
        "052XX N HARLEM AVE",
        "0460",
        "BATTERY",
        "SIMPLE",
        "COMMERCIAL / BUSINESS OFFICE",
        "false",
        "false",
        "1613",
        "016",
        "41",
        "10",
        "08B",
        "1127352",
        "1933963",
        "2025",
        "11/23/2025 03:42:58 PM",
        "41.975119511",
        "-87.807066347",
        "(41.975119511, -87.807066347)",
    ],
]


def columns_of(header, rows):
    fields = {api_field(name): i for i, name in enumerate(header)}
    return {name: [row[i] for row in rows] for name, i in fields.items() if name}


def test_no_leaky_or_personal_column_is_a_feature():
    clearance = clearance_spec()
    arrest = arrest_spec()
    leaky_nibrs = {
        "clearance_outcome",
        "is_cleared",
        "is_cleared_by_arrest",
        "arrestee_count",
        "cleared_exceptionally_code",
        "exceptional_clearance_date",
        "first_arrest_date",
        "clearance_date",
        "days_to_clearance",
        "declared_arrestee_count",
        "has_drugs_seized",
        "has_juvenile_victim",
    }
    assert not leaky_nibrs & set(clearance.feature_names)
    # what is known about the offender is often recorded because of the arrest: opt-in only
    assert "has_unknown_offender" not in clearance.feature_names
    assert "has_unknown_offender" in clearance_spec(offender_known=True).feature_names
    leaky_chicago = {
        "arrest",
        "updated_on",
        "iucr",
        "description",
        "id",
        "case_number",
        "year",
        "is_arrest_generated",
        "source_loaded_at",
    }
    assert not leaky_chicago & set(arrest.feature_names)
    for spec in (clearance, arrest):
        for name in spec.feature_names:
            tokens = set(name.split("_"))
            assert not tokens & {"age", "sex", "race", "ethnicity", "arrest", "cleared"}, name


@pytest.mark.parametrize(
    ("spec", "feature", "why"),
    [
        (clearance_spec(), Feature("arrestee_count", NUMERIC), "known only after"),
        (clearance_spec(), Feature("days_to_clearance", NUMERIC), "known only after"),
        (clearance_spec(), Feature("victim_age", NUMERIC), "demographic"),
        (clearance_spec(), Feature("has_unknown_offender", NUMERIC), "offender_known=True"),
        (clearance_spec(), Feature("x", NUMERIC, sql="coalesce(arrestee_count, 0)"), "after"),
        (arrest_spec(), Feature("updated_on", NUMERIC), "known only after"),
        (arrest_spec(), Feature("iucr", CATEGORICAL), "known only after"),
        (arrest_spec(), Feature("offender_race", CATEGORICAL), "demographic"),
    ],
)
def test_leakage_guard_refuses_a_leaky_feature(spec, feature, why):
    leaky = replace(spec, features=(*spec.features, feature))
    with pytest.raises(LeakageError, match=why):
        check_leakage(leaky)
    # and a saved spec that was edited by hand is refused when it is loaded
    with pytest.raises(LeakageError):
        ModelSpec.from_json(leaky.to_json())


def test_spec_round_trips_through_json():
    spec = arrest_spec(exclude_on_view=False)
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert spec.eligible_sql == "true"
    assert arrest_spec().eligible_sql == "not is_arrest_generated"


def test_portal_csv_rows_get_the_marts_features():
    rows = chicago_source_features(columns_of(PORTAL_HEADER, PORTAL_ROWS), arrest_spec(), SEEDS)
    assert rows.errors == {}
    first, second = rows.table.to_pylist()
    # 2025-11-16 is a Sunday; 11 PM is night
    assert first["hour"] == 23
    assert first["day_of_week"] == 6
    assert first["month"] == 11
    assert first["is_night"]
    assert first["is_weekend"]
    assert first["domestic"] is True
    assert first["district"] == "002"
    assert first["beat"] == "0224"
    assert first["ward"] == 3
    assert first["community_area"] == 38
    assert first["location_group"] == "Residential"
    assert first["fbi_code"] == "06"
    assert first["latitude"] == pytest.approx(41.805072258)
    assert first["time_is_estimate"] is False
    # midnight sharp is how the City writes a best-estimate time
    assert second["hour"] == 0
    assert second["time_is_estimate"] is True
    assert second["location_group"] == "Commercial Retail"


def test_api_field_names_and_iso_dates_give_the_same_features():
    portal = chicago_source_features(columns_of(PORTAL_HEADER, PORTAL_ROWS), arrest_spec(), SEEDS)
    header = [api_field(name) for name in PORTAL_HEADER]
    api_rows = [list(row) for row in PORTAL_ROWS]
    api_rows[0][2], api_rows[1][2] = "2025-11-16T23:00:00.000", "2025-11-16T00:00:00.000"
    api_rows[0][10], api_rows[0][11] = "224", "2"  # unpadded, as pandas would write them
    api = chicago_source_features(columns_of(header, api_rows), arrest_spec(), SEEDS)
    assert api.table.equals(portal.table)


def test_bad_values_and_arrest_generated_types_are_row_errors():
    rows = [list(PORTAL_ROWS[0]) for _ in range(5)]
    rows[1][2] = "13/45/2025 11:00:00 PM"
    rows[2][11] = "two"
    rows[3][5] = "NARCOTICS"
    rows[4][9] = "maybe"
    result = chicago_source_features(columns_of(PORTAL_HEADER, rows), arrest_spec(), SEEDS)
    assert set(result.errors) == {1, 2, 3, 4}
    assert "date '13/45/2025 11:00:00 PM'" in result.errors[1]
    assert "district 'two'" in result.errors[2]
    assert "NARCOTICS reports exist because of an arrest" in result.errors[3]
    assert "domestic 'maybe'" in result.errors[4]
    table = result.table.to_pylist()
    assert table[0]["hour"] == 23
    assert all(row["primary_type"] is None for row in table[1:])  # bad rows carry no features
    # with the on-view types kept, narcotics is an ordinary row
    kept = chicago_source_features(
        columns_of(PORTAL_HEADER, rows[3:4]), arrest_spec(exclude_on_view=False), SEEDS
    )
    assert kept.errors == {}


def test_unseen_and_rare_categories_are_missing_not_a_guess():
    spec = replace(
        arrest_spec(),
        features=(Feature("beat", CATEGORICAL, min_count=2), Feature("hour", NUMERIC)),
    )
    train = pa.table({"beat": ["0111", "0111", "0222", None], "hour": [1, 2, None, 4]})
    fitted = FittedFeatures.fit(spec, train)
    assert fitted.vocabularies == {"beat": ["0111"]}
    matrix = fitted.encode(pa.table({"beat": ["0111", "0222", "9999"], "hour": [3, None, 5]}))
    assert matrix[0, 0] == 0
    assert np.isnan(matrix[1, 0])
    assert np.isnan(matrix[2, 0])
    assert np.isnan(matrix[1, 1])
    assert matrix[2, 1] == 5
    assert FittedFeatures.from_json(fitted.to_json()) == fitted


def _months(first: date, count: int, rows: int = 100):
    out, year, month = [], first.year, first.month
    for _ in range(count):
        out.append((date(year, month, 1), rows))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def test_windows_are_out_of_time_for_a_long_history():
    train, valid, test = choose_windows(_months(date(2018, 1, 1), 94), date(2025, 10, 19))
    assert (test.start, test.end) == (date(2024, 11, 1), date(2025, 10, 20))
    assert (valid.start, valid.end) == (date(2023, 11, 1), date(2024, 11, 1))
    assert (train.start, train.end) == (date(2021, 11, 1), date(2023, 11, 1))
    assert train.rows == 2400
    assert valid.rows == 1200


def test_windows_step_over_years_that_are_not_loaded():
    """2012-2014 and 2020 loaded, 2015-2019 not: validation and training come from before the
    gap (still out of time), not from empty calendar years."""
    loaded = _months(date(2012, 1, 1), 36) + _months(date(2020, 1, 1), 12)
    train, valid, test = choose_windows(loaded, date(2020, 12, 31))
    assert (test.start, test.end, test.rows) == (date(2020, 1, 1), date(2021, 1, 1), 1200)
    assert (valid.start, valid.end, valid.rows) == (date(2014, 1, 1), date(2020, 1, 1), 1200)
    assert (train.start, train.end, train.rows) == (date(2012, 1, 1), date(2014, 1, 1), 2400)


def test_a_few_late_reports_from_old_years_do_not_make_a_long_history():
    stray = [(date(2015, 3, 1), 2), (date(2019, 7, 1), 5)]
    train, valid, test = choose_windows(stray + _months(date(2022, 1, 1), 12), date(2022, 12, 31))
    assert train.start == date(2022, 1, 1)
    assert valid.start > train.start
    assert test.end == date(2023, 1, 1)


def test_windows_are_out_of_time_for_a_single_year():
    train, valid, test = choose_windows(_months(date(2022, 1, 1), 12), date(2022, 12, 31))
    assert train.start == date(2022, 1, 1)
    assert train.end == valid.start < valid.end == test.start < test.end == date(2023, 1, 1)
    assert test.rows >= 0.15 * 1200
    assert valid.rows >= 0.15 * 1200
    assert train.rows >= 600
    with pytest.raises(Exception, match="at least three"):
        choose_windows(_months(date(2022, 1, 1), 2), date(2022, 2, 28))


def test_metrics_calibration_and_groups():
    rng = np.random.default_rng(0)
    p = rng.random(4000)
    y = (rng.random(4000) < p).astype(int)  # perfectly calibrated by construction
    metrics = binary_metrics(y, p, 0.5)
    assert 0.7 < metrics["roc_auc"] < 0.9
    assert metrics["brier"] < 0.2
    table = calibration_table(y, p)
    assert sum(row["rows"] for row in table) == 4000
    for row in table:
        assert abs(row["mean_predicted"] - row["observed_rate"]) < 0.06
    groups = np.where(np.arange(4000) < 3950, "big", "small")
    by_group = group_metrics(y, p, groups, 0.5, oracle=p)
    assert [g["group"] for g in by_group] == ["big", "small"]
    assert by_group[0]["oracle_auc"] == by_group[0]["roc_auc"]
    assert "roc_auc" not in by_group[1]
    assert "counts only" in by_group[1]["note"]
