"""The quality suites as data: each check names its frame, its GX expectation and a severity.

A *suite* is a list of ``Check``s. A check runs one great-expectations expectation (by class
name and keyword arguments) on one *frame*: a table the suite's frame builder produces
(``frames.py``: a NIBRS segment, a derived table such as each incident's declared and present
child records, a Chicago batch) or a mart table in PostgreSQL. Keeping the checks as plain
data means this module imports nothing heavy, the tests can read the suites, and the CLI can
list them without loading GX.

Severity:
  critical  bad data would reach the marts, or the input is not what the pipeline thinks it
            is (a shifted layout, a wrong year): the run stops with ``QualityGateError``.
  warning   worth a look but the data is usable: recorded and reported, the run goes on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from crimewh.quality import codes

Severity = Literal["critical", "warning"]
CRITICAL: Severity = "critical"
WARNING: Severity = "warning"
SUITES = ("nibrs_partition", "chicago_batch", "marts")
# A row condition, kept GX-free: (column, operator, value); see run._row_condition
RowCondition = tuple[str, str, Any]


@dataclass(frozen=True)
class Check:
    name: str  # unique within its suite: "<frame>.<what>"
    frame: str  # the table it runs on
    expectation: str  # a great_expectations.expectations class name
    kwargs: Mapping[str, Any]
    severity: Severity
    description: str  # what it guards and what to do when it fails
    row_condition: RowCondition | None = field(default=None)

    def columns(self) -> set[str]:
        """The columns the check reads."""
        names = {self.kwargs.get(key) for key in ("column", "column_A", "column_B")}
        names |= set(self.kwargs.get("column_list", ()))
        if self.row_condition:
            names.add(self.row_condition[0])
        return {name for name in names if name}


def _in_set(name, frame, column, values, severity, description, **extra) -> Check:
    kwargs = {"column": column, "value_set": sorted(values), **extra}
    return Check(name, frame, "ExpectColumnValuesToBeInSet", kwargs, severity, description)


def _between(name, frame, column, low, high, severity, description, **extra) -> Check:
    kwargs = {"column": column, "min_value": low, "max_value": high, **extra}
    return Check(name, frame, "ExpectColumnValuesToBeBetween", kwargs, severity, description)


def _not_null(name, frame, column, severity, description) -> Check:
    return Check(
        name, frame, "ExpectColumnValuesToNotBeNull", {"column": column}, severity, description
    )


def _not_null_is_bad(name, frame, column, severity, description) -> Check:
    """A frame's column that says what is wrong with a row, null where nothing is."""
    kwargs = {"column": column}
    return Check(name, frame, "ExpectColumnValuesToBeNull", kwargs, severity, description)


def _pair_equal(name, frame, a, b, severity, description) -> Check:
    kwargs = {"column_A": a, "column_B": b}
    return Check(name, frame, "ExpectColumnPairValuesToBeEqual", kwargs, severity, description)


def _no_rows(name, frame, severity, description) -> Check:
    return Check(name, frame, "ExpectTableRowCountToEqual", {"value": 0}, severity, description)


# -- NIBRS: a decoded partition (one data year), before it is loaded ----------------------------
def allowed_record_lengths(year: int) -> set[str]:
    """``record_type:length`` for every length a record of ``year`` may have.

    The layout's length (what real files have), its documented width where that is longer
    (BH: a LEOKA date at 285-292 that real lines leave off), and the known variants of the
    year (Vermont 2015's 13-byte arrest transaction numbers). Files before 2013 (B1/B2/B3
    headers) may be right-trimmed (reference §1.2), so any shorter record is allowed there.
    """
    from decoder.decode import MIN_RECORD_LENGTH
    from decoder.layouts import load_layouts, load_variants

    allowed: set[str] = set()
    for layout in load_layouts().values():
        lengths = {layout.length, layout.width}
        if year < 2013:
            lengths |= set(range(MIN_RECORD_LENGTH, layout.length))
        allowed |= {f"{layout.record_type}:{n}" for n in lengths}
    for variant in load_variants():
        if variant.data_year == year:
            layout = variant.layout
            allowed |= {f"{layout.record_type}:{n}" for n in (layout.length, layout.width)}
    return allowed


def nibrs_partition_checks(year: int) -> list[Check]:
    known = codes.code_list
    group_a, group_b = known("ucr_group_a"), known("ucr_group_b")
    first, last = year * 10_000 + 101, year * 10_000 + 1231
    last_next_year = (year + 1) * 10_000 + 1231
    earliest = codes.EARLIEST_DATE
    today = int(f"{dt.date.today():%Y%m%d}")
    day_note = "(dates as YYYYMMDD numbers; 0 = not a calendar date)"
    checks = [
        # record lengths and segment codes: is this the format the decoder sliced?
        _not_null_is_bad(
            "record_lengths.match_layout", "record_lengths", "unexpected_length", CRITICAL,
            "Every record has its record type's length (allowed_record_lengths); the frame "
            "names each other record_type:length and how many records have it. Another "
            "length means shifted fields or a changed format: see the decoder's _quarantine/ "
            "and decoder/nibrs_layouts.yml.",
        ),
        _in_set(
            "quarantine.segment_codes_known", "quarantine", "record_type", codes.RECORD_TYPES,
            CRITICAL,
            "No line starts with an unknown segment code: the file holds something that is "
            "not a master-file record.",
        ),
        _no_rows(
            "quarantine.empty", "quarantine", WARNING,
            "The decoder set no record aside (too short, too long, before any batch header); "
            "set-aside records are kept in nibrs/quarantine but not loaded.",
        ),
    ]  # fmt: skip
    for segment, record_types in codes.SEGMENT_RECORD_TYPES.items():
        described = f"Every {segment} row is a {' or '.join(record_types)} record."
        checks.append(
            _in_set(f"{segment}.segment_codes", segment, "segment_level", record_types,
                    CRITICAL, described)
        )  # fmt: skip
    checks += [
        # keys
        _not_null("batch_header.ori_present", "batch_header", "ori", CRITICAL,
                  "Every batch header names its agency (ORI)."),
        Check("batch_header.ori_unique", "batch_header", "ExpectColumnValuesToBeUnique",
              {"column": "ori"}, CRITICAL,
              "One batch header per agency: fct_nibrs_agency_years is keyed on (year, ORI)."),
        _in_set("batch_header.master_file_year", "batch_header", "master_file_year",
                [str(year)], CRITICAL,
                f"Every batch header is of the {year} master file: a file of another year "
                "must not be loaded as this partition."),
        _not_null("administrative.ori_present", "administrative", "ori", CRITICAL,
                  "Every incident names its agency."),
        _not_null("administrative.incident_number_present", "administrative",
                  "incident_number", CRITICAL, "Every incident has an incident number."),
        _no_rows("duplicate_incidents.none", "duplicate_incidents", CRITICAL,
                 "(ORI, incident number) identifies one incident in a year: a duplicate would "
                 "double-count it and its child records. The frame lists the duplicates."),
        # 01 counts against the child records that follow
        *[
            _not_null_is_bad(
                f"incident_counts.{child}", "incident_counts", f"{child}_mismatch", CRITICAL,
                f"Each 01 record's declared number of {child} equals the {child} records "
                "that follow it: a difference means records were lost or mixed up.",
            )
            for child in ("offenses", "victims", "offenders", "arrestees")
        ],
        _not_null_is_bad(
            "orphan_records.none", "orphan_records", "orphan", CRITICAL,
            "Every offense, property, victim, offender and arrestee record belongs to an "
            "incident (01) of the partition; the frame lists those that do not.",
        ),
        # code values in the reference tables
        _not_null("offense.ucr_offense_code_present", "offense", "ucr_offense_code", CRITICAL,
                  "Every offense record has a UCR offense code."),
        _in_set("offense.ucr_offense_code_known", "offense", "ucr_offense_code", group_a,
                CRITICAL, "Offense codes are Group A UCR codes (reference §3.1)."),
        _in_set("offense.location_type_known", "offense", "location_type",
                known("location_types"), CRITICAL,
                "Location types are in the FBI's table (reference §3.4)."),
        _in_set("offense.attempted_completed_known", "offense", "attempted_completed",
                known("attempted_completed"), WARNING, "Attempted/completed is A, C or U."),
        _in_set("offense.weapon_force_known", "offense", "weapon_force_1", known("weapon_force"),
                WARNING, "Weapon/force codes are in the FBI's table."),
        _in_set("offense.bias_motivation_known", "offense", "bias_motivation",
                known("bias_motivation"), WARNING, "Bias motivation codes are in the FBI's table."),
        _in_set("property.loss_type_known", "property", "type_property_loss",
                known("property_loss"), WARNING, "Property loss types are 1-8."),
        _in_set("property.description_known", "property", "property_description",
                known("property_description"), WARNING,
                "Property descriptions are in the FBI's table."),
        _in_set("victim.ucr_offense_code_known", "victim", "victim_ucr_offense_1", group_a,
                CRITICAL, "A victim's first offense is a Group A UCR code."),
        _in_set("victim.type_known", "victim", "victim_type", known("victim_types"), WARNING,
                "Victim types are in the FBI's table."),
        _in_set("victim.sex_known", "victim", "victim_sex", known("sex"), WARNING,
                "Victim sex is M, F or U (lower case occurs in old years)."),
        _in_set("victim.race_known", "victim", "victim_race", known("race"), WARNING,
                "Victim race is in the FBI's table."),
        _in_set("offender.sex_known", "offender", "offender_sex", known("sex"), WARNING,
                "Offender sex is M, F or U."),
        _in_set("offender.race_known", "offender", "offender_race", known("race"), WARNING,
                "Offender race is in the FBI's table."),
        _in_set("administrative.cleared_exceptionally_known", "administrative",
                "cleared_exceptionally", known("cleared_exceptionally"), CRITICAL,
                "Exceptional clearance codes are A-E or N: the clearance marts count them."),
        _in_set("administrative.cargo_theft_known", "administrative", "cargo_theft_indicator",
                codes.CARGO_THEFT, WARNING, "The cargo theft flag is Y or N."),
        _in_set("arrestee.arrest_offense_code_known", "arrestee", "arrest_offense_code",
                group_a | group_b, CRITICAL, "Arrest offense codes are UCR Group A or B codes."),
        _in_set("arrestee.type_of_arrest_known", "arrestee", "type_of_arrest",
                known("arrest_types"), CRITICAL, "Types of arrest are O, S or T."),
        _in_set("arrestee.multiple_arrestee_known", "arrestee", "multiple_arrestee_indicator",
                known("multiple_arrestee"), WARNING, "Multiple-arrestee indicators are M, C or N."),
        _in_set("arrestee.armed_with_known", "arrestee", "armed_with_1", known("armed_with"),
                WARNING, "Armed-with codes are in the FBI's table."),
        _in_set("group_b_arrest.arrest_offense_code_known", "group_b_arrest",
                "arrest_offense_code", group_b, CRITICAL,
                "Group B arrest reports carry Group B offense codes (90A-90Z)."),
        _in_set("group_b_arrest.type_of_arrest_known", "group_b_arrest", "type_of_arrest",
                known("arrest_types"), CRITICAL, "Types of arrest are O, S or T."),
        _in_set("window_exceptional_clearance.ucr_offense_code_known",
                "window_exceptional_clearance", "w1_ucr_offense_code_1", group_a, WARNING,
                "Window clearances name Group A offenses."),
        _in_set("window_recovered_property.ucr_offense_code_known",
                "window_recovered_property", "w3_ucr_offense_code_1", group_a, WARNING,
                "Window recovered property names Group A offenses."),
        _in_set("window_arrestee.ucr_offense_code_known", "window_arrestee",
                "w6_ucr_offense_code_1", group_a, WARNING,
                "Window arrestees name Group A offenses."),
        # dates in range
        _not_null("administrative.incident_date_present", "administrative", "incident_date",
                  CRITICAL, "Every incident has a date."),
        _between("administrative.incident_date_valid", "administrative", "incident_day",
                 earliest, last, CRITICAL,
                 f"Incident dates are real dates, not after {year} {day_note}."),
        _between("administrative.incident_date_in_year", "administrative", "incident_day",
                 first, last, WARNING,
                 f"Incident dates fall in {year}; the FBI's files may hold older incidents "
                 f"with activity in the year {day_note}."),
        _between("administrative.exceptional_clearance_date_valid", "administrative",
                 "exceptional_clearance_day", earliest, today, CRITICAL,
                 f"Exceptional clearance dates are real dates, not in the future {day_note}."),
        _between("administrative.exceptional_clearance_date_in_range", "administrative",
                 "exceptional_clearance_day", first, last_next_year, WARNING,
                 f"Exceptional clearances fall in {year} or {year + 1} {day_note}."),
        _between("arrestee.arrest_date_valid", "arrestee", "arrest_day", earliest, today,
                 CRITICAL, f"Arrest dates are real dates, not in the future {day_note}."),
        _between("arrestee.arrest_date_in_range", "arrestee", "arrest_day", first,
                 last_next_year, WARNING,
                 f"Arrests fall in {year} or {year + 1}: the FBI adds next year's arrests for "
                 f"the year's incidents; later ones are unusual {day_note}."),
        Check("arrestee.arrest_after_incident", "arrestee",
              "ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": "arrest_day", "column_B": "incident_day", "or_equal": True},
              WARNING, "No arrest is dated before its incident."),
        _between("group_b_arrest.arrest_date_valid", "group_b_arrest", "arrest_day", earliest,
                 today, CRITICAL,
                 f"Group B arrest dates are real dates, not in the future {day_note}."),
        _between("group_b_arrest.arrest_date_in_range", "group_b_arrest", "arrest_day", first,
                 last_next_year, WARNING,
                 f"Group B arrests fall in {year} or {year + 1} {day_note}."),
        # batch-header monthly flags against months reported
        _between("batch_header_months.months_reported_range", "batch_header_months",
                 "months_reported", 0, 12, CRITICAL,
                 "Months reported is a number from 0 to 12 (fct_nibrs_agency_years' compliance)."),
        _pair_equal("batch_header_months.months_reported_match_flags", "batch_header_months",
                    "months_reported", "months_flagged", WARNING,
                    "Months reported equals the months whose batch-header flags say a zero "
                    "report or Group A/B data was submitted (reference §1.5)."),
        Check("batch_header_months.flags_known", "batch_header_months",
              "ExpectColumnValuesToMatchRegex",
              {"column": "monthly_flags", "regex": r"^[YN ]{36}$"}, WARNING,
              "The 36 monthly flags (zero report, A/B, window x 12 months) are Y, N or blank."),
        _in_set("incident_months.flagged", "incident_months", "flagged", [True], WARNING,
                "Every month of the year with incidents is flagged in the agency's batch "
                "header as a month with Group A/B data."),
    ]  # fmt: skip
    return checks


# -- Chicago: a pull batch, before it is loaded --------------------------------------------------
API_FIELDS = (
    "id", "case_number", "date", "block", "iucr", "primary_type", "description",
    "location_description", "arrest", "domestic", "beat", "district", "ward", "community_area",
    "fbi_code", "x_coordinate", "y_coordinate", "year", "updated_on", "latitude", "longitude",
)  # fmt: skip
# The Arrow type families each field may have in a parsed batch (see frames.type_family).
_TEXT_FIELDS = (
    "case_number", "block", "iucr", "primary_type", "description", "location_description",
    "beat", "district", "fbi_code",
)  # fmt: skip
CHICAGO_TYPES: dict[str, tuple[str, ...]] = {
    "id": ("int",),
    "date": ("timestamp",),
    "updated_on": ("timestamp",),
    "arrest": ("bool",),
    "domestic": ("bool",),
    "ward": ("int",),
    "community_area": ("int", "string"),  # text in the API, a number in some parsers
    "year": ("int",),
    "x_coordinate": ("float", "int"),
    "y_coordinate": ("float", "int"),
    "latitude": ("float",),
    "longitude": ("float",),
    **dict.fromkeys(_TEXT_FIELDS, ("string",)),
}


def chicago_batch_checks(today: dt.date | None = None) -> list[Check]:
    today = today or dt.date.today()
    latest = dt.datetime.combine(today + dt.timedelta(days=2), dt.time())
    lat, lon = codes.CHICAGO_LATITUDE, codes.CHICAGO_LONGITUDE
    located = ("x_coordinate", "!=", 0)  # the geocoder's (0, 0) sentinel has its own check
    allowed_types = {f"{name}:{kind}" for name, kinds in CHICAGO_TYPES.items() for kind in kinds}
    return [
        # types
        Check("crimes.fields_present", "crimes", "ExpectTableColumnsToMatchSet",
              {"column_set": list(API_FIELDS), "exact_match": False}, CRITICAL,
              "Every API field is in the batch (the `location` object may be dropped)."),
        Check("schema.types", "schema", "ExpectColumnValuesToBeInSet",
              {"column": "column_type", "value_set": sorted(allowed_types)}, CRITICAL,
              "Each API field has its type (field:type): ids and years integers, dates "
              "timestamps, arrest and domestic booleans, coordinates numbers.",
              ("column", "in", list(API_FIELDS))),
        _in_set("schema.no_unknown_fields", "schema", "column", [*API_FIELDS, "location"],
                WARNING, "The batch has no field the API does not document: a new field "
                "would be loaded into raw without a place in staging."),
        # keys
        _not_null("crimes.id_present", "crimes", "id", CRITICAL, "Every row has an id."),
        Check("crimes.id_unique", "crimes", "ExpectColumnValuesToBeUnique", {"column": "id"},
              CRITICAL, "No id appears twice in a batch: the id is the dataset's key."),
        Check("crimes.case_number_format", "crimes", "ExpectColumnValuesToMatchRegex",
              {"column": "case_number", "regex": r"^[A-Z]{1,2}\d{5,6}$"}, WARNING,
              "Case numbers are CPD RD numbers: letters then digits."),
        # dates
        _not_null("crimes.date_present", "crimes", "date", CRITICAL, "Every crime has a date."),
        _between("crimes.date_range", "crimes", "date",
                 dt.datetime(codes.CHICAGO_FIRST_YEAR, 1, 1), latest, CRITICAL,
                 "Dates fall between 2001 (the dataset's start) and today."),
        _pair_equal("crimes.year_matches_date", "crimes", "year", "date_year", WARNING,
                    "`year` is the calendar year of `date`."),
        Check("crimes.updated_after_date", "crimes", "ExpectColumnPairValuesAToBeGreaterThanB",
              {"column_A": "updated_on", "column_B": "date", "or_equal": True}, WARNING,
              "No row was updated before the crime happened."),
        # enumerations
        _not_null("crimes.primary_type_present", "crimes", "primary_type", CRITICAL,
                  "Every crime has a primary type."),
        _in_set("crimes.primary_type_known", "crimes", "primary_type",
                codes.code_list("chicago_primary_types"), WARNING,
                "Primary types are among the dataset's known types; a new one needs a place "
                "in the marts' groupings."),
        Check("crimes.iucr_format", "crimes", "ExpectColumnValuesToMatchRegex",
              {"column": "iucr", "regex": r"^[0-9]{3}[0-9A-Z]$"}, WARNING,
              "IUCR codes are 4 characters: 3 digits and a digit or letter."),
        _in_set("crimes.fbi_code_known", "crimes", "fbi_code", codes.code_list("chicago_fbi_codes"),
                WARNING, "FBI codes are in the CPD's list."),
        _in_set("crimes.district_known", "crimes", "district", codes.CHICAGO_DISTRICTS,
                WARNING, "Districts are 001-025 or 031."),
        Check("crimes.beat_format", "crimes", "ExpectColumnValuesToMatchRegex",
              {"column": "beat", "regex": r"^\d{4}$"}, WARNING, "Beats are 4 digits."),
        _between("crimes.ward_range", "crimes", "ward", *codes.CHICAGO_WARDS, WARNING,
                 "Wards are 1-50."),
        _between("crimes.community_area_range", "crimes", "community_area_number",
                 *codes.CHICAGO_COMMUNITY_AREAS, WARNING, "Community areas are 1-77."),
        # booleans
        _not_null("crimes.arrest_present", "crimes", "arrest", CRITICAL,
                  "Every row says whether there was an arrest (the models' target)."),
        _in_set("crimes.arrest_boolean", "crimes", "arrest", [False, True], CRITICAL,
                "Arrest is true or false."),
        _not_null("crimes.domestic_present", "crimes", "domestic", CRITICAL,
                  "Every row says whether the crime was domestic."),
        _in_set("crimes.domestic_boolean", "crimes", "domestic", [False, True], CRITICAL,
                "Domestic is true or false."),
        # coordinates inside Chicago's bounding box (missing coordinates are allowed)
        Check("crimes.latitude_in_chicago", "crimes", "ExpectColumnValuesToBeBetween",
              {"column": "latitude", "min_value": lat[0], "max_value": lat[1]}, CRITICAL,
              f"Latitudes are inside Chicago ({lat[0]} to {lat[1]}).", located),
        Check("crimes.longitude_in_chicago", "crimes", "ExpectColumnValuesToBeBetween",
              {"column": "longitude", "min_value": lon[0], "max_value": lon[1]}, CRITICAL,
              f"Longitudes are inside Chicago ({lon[0]} to {lon[1]}).", located),
        Check("crimes.x_coordinate_in_chicago", "crimes", "ExpectColumnValuesToBeBetween",
              {"column": "x_coordinate", "min_value": codes.CHICAGO_X_COORDINATE[0],
               "max_value": codes.CHICAGO_X_COORDINATE[1]}, WARNING,
              "State Plane X coordinates are inside Chicago.", located),
        Check("crimes.y_coordinate_in_chicago", "crimes", "ExpectColumnValuesToBeBetween",
              {"column": "y_coordinate", "min_value": codes.CHICAGO_Y_COORDINATE[0],
               "max_value": codes.CHICAGO_Y_COORDINATE[1]}, WARNING,
              "State Plane Y coordinates are inside Chicago.", located),
        Check("crimes.no_geocode_sentinel", "crimes", "ExpectColumnValuesToNotBeInSet",
              {"column": "x_coordinate", "value_set": [0]}, WARNING,
              "No row sits at the geocoder's (0, 0) sentinel point (lat 36.62, lon -91.69)."),
    ]  # fmt: skip


# -- the marts, in PostgreSQL, after dbt built them ---------------------------------------------
# What each layer checks, so that no check only repeats another (README, "Data quality"):
#   * PostgreSQL, on every row as it is written: the contracts' types, not-nulls and keys;
#   * dbt's tests, on the years a build wrote: relationships, accepted values, row
#     invariants (rates in 0-1, months in 0-12);
#   * this suite, on the published marts as a whole: that the marts agree with one another
#     (an aggregate's totals are its facts' counts) and that a year looks like NIBRS. dbt's
#     tests see one model at a time and cannot tell either.
NIBRS_MARTS = ("fct_nibrs_incidents", "agg_nibrs_agency_year_offenses", "fct_nibrs_agency_years")
CHICAGO_MARTS = ("fct_chicago_crimes", "agg_chicago_arrests")
MART_TABLES = NIBRS_MARTS + CHICAGO_MARTS
OPEN_SHARE = (0.3, 0.95)  # NIBRS clears 5-70% of incidents, depending on the offense mix


def _reconciles_with_chicago_aggregate(schema: str, aggregate: str) -> Check:
    return Check(
        f"fct_chicago_crimes.reconciles_with_{aggregate}", f"{schema}.fct_chicago_crimes",
        "UnexpectedRowsExpectation",
        {"unexpected_rows_query": f"""
            with facts as (select year, count(*) as crimes from {{batch}} group by year),
            aggregated as (
                select year, sum(crime_count) as crimes from {schema}.{aggregate} group by year
            )
            select year, facts.crimes as facts, aggregated.crimes as aggregated
            from facts full join aggregated using (year)
            where facts.crimes is distinct from aggregated.crimes"""},
        CRITICAL,
        f"Every crime is counted once in {aggregate}: its totals are the facts'. A difference "
        "means the aggregate missed a pull batch: rebuild it "
        f"(crimewh dbt build --select {aggregate} --full-refresh).",
    )  # fmt: skip


def _year_filter(years: list[int] | None) -> str:
    if years is None:
        return "true"
    return f"data_year in ({', '.join(str(int(y)) for y in years) or 'null'})"


def marts_checks(
    schema: str = "marts",
    tables: tuple[str, ...] = MART_TABLES,
    *,
    nibrs_years: list[int] | None = None,
) -> list[Check]:
    """Reconciliations across marts and plausibility of each year, checked in PostgreSQL.

    ``nibrs_years`` limits the NIBRS checks to those data years (the ones rebuilt since the
    gate last passed: thirty years of facts need not be counted again every night); None
    checks every year. Column names are the dbt models' (dbt_project/models/marts/).
    """
    years = _year_filter(nibrs_years)
    lat, lon = codes.CHICAGO_LATITUDE, codes.CHICAGO_LONGITUDE
    checks = [
        Check("fct_nibrs_incidents.reconciles_with_agency_year_offenses",
              f"{schema}.fct_nibrs_incidents", "UnexpectedRowsExpectation",
              {"unexpected_rows_query": f"""
                  with facts as (
                      select data_year, count(*) as incidents from {{batch}}
                      where {years} group by data_year
                  ),
                  aggregated as (
                      select data_year, sum(incident_count) as incidents
                      from {schema}.agg_nibrs_agency_year_offenses
                      where category_type = 'all' and {years} group by data_year
                  )
                  select data_year, facts.incidents as facts, aggregated.incidents as aggregated
                  from facts full join aggregated using (data_year)
                  where facts.incidents is distinct from aggregated.incidents"""},
              CRITICAL,
              "Every incident is counted once in its agency's year: the dashboards' totals "
              "(agg_nibrs_agency_year_offenses) are the facts' counts. A difference names "
              "incidents of agencies without a batch header, or a mart built from another "
              "load: rebuild the year (crimewh dbt build --vars '{nibrs_years: [Y]}')."),
        Check("fct_nibrs_agency_years.reconciles_with_agency_year_offenses",
              f"{schema}.fct_nibrs_agency_years", "UnexpectedRowsExpectation",
              {"unexpected_rows_query": f"""
                  select years.data_year, years.ori
                  from {{batch}} as years
                  left join {schema}.agg_nibrs_agency_year_offenses as offenses
                      on offenses.data_year = years.data_year and offenses.ori = years.ori
                      and offenses.category_type = 'all'
                  where {years.replace("data_year", "years.data_year")}
                      and offenses.ori is null"""},
              CRITICAL,
              "Every agency-year has its 'all' row in agg_nibrs_agency_year_offenses, zero "
              "when it had no incidents, so sums over agencies keep their whole population."),
        Check("fct_nibrs_incidents.open_share_plausible", f"{schema}.fct_nibrs_incidents",
              "UnexpectedRowsExpectation",
              {"unexpected_rows_query": f"""
                  select data_year, avg((clearance_outcome = 'open')::integer) as open_share
                  from {{batch}} where {years} group by data_year
                  having avg((clearance_outcome = 'open')::integer)
                      not between {OPEN_SHARE[0]} and {OPEN_SHARE[1]}"""},
              WARNING,
              f"A year leaves {OPEN_SHARE[0]:.0%}-{OPEN_SHARE[1]:.0%} of its incidents open, as "
              "NIBRS years do: outside it, arrestee records or clearance codes were lost or "
              "misread (a shifted layout, a truncated file)."),
        *(_reconciles_with_chicago_aggregate(schema, name)
          for name in ("agg_chicago_arrests", "agg_chicago_type_hours")),
        _between("fct_chicago_crimes.latitude_in_chicago", f"{schema}.fct_chicago_crimes",
                 "latitude", *lat, WARNING,
                 "Latitudes are inside Chicago (the batch gate stops others before the load)."),
        _between("fct_chicago_crimes.longitude_in_chicago", f"{schema}.fct_chicago_crimes",
                 "longitude", *lon, WARNING, "Longitudes are inside Chicago."),
    ]  # fmt: skip
    return [c for c in checks if c.frame.split(".", 1)[1] in tables]


def checks_for(suite: str, *, year: int | None = None, **options: Any) -> list[Check]:
    """The checks of ``suite``; the NIBRS suite needs the partition's data year."""
    if suite == "nibrs_partition":
        if year is None:
            raise ValueError("the nibrs_partition suite needs the data year (--year)")
        return nibrs_partition_checks(year)
    if suite == "chicago_batch":
        return chicago_batch_checks()
    if suite == "marts":
        return marts_checks(**options)
    raise ValueError(f"unknown suite {suite!r}; the suites are {', '.join(SUITES)}")
