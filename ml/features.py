"""One feature definition per model, used by training and by every kind of scoring.

A model's ``ModelSpec`` names the mart it reads, the key, the time column the out-of-time split
orders by, the label, the groups its metrics are broken down by, and its features: each a mart
column (or a SQL expression over the mart) that is either categorical or numeric. The same
spec writes the SQL that reads training rows and scoring rows, and ``FittedFeatures`` (the
spec plus the category vocabularies learnt on the training window, saved with the model)
turns those rows into XGBoost's matrix. Rows that do not come from the marts (a user's CSV of
Chicago crimes) are first brought into the mart's shape by ``chicago_source_features``, which
mirrors ``stg_chicago__crimes`` and ``fct_chicago_crimes`` column for column.

Leakage guards (docs/reference/nibrs-master-file.md §6, chicago-crimes-soda.md §4.3):

* clearance: nothing from the arrestee segments or the clearance fields (outcome, codes,
  dates, counts, days to clearance), and nothing the police record because of an arrest
  (drugs seized). What is known about the offender (sequence 00 or not, how many, the
  victim's relationship to them) is often recorded only once someone is arrested, so it
  is left out unless ``offender_known=True`` asks for it;
* arrest: never ``updated_on`` (written after the fact, and moved by late arrests), ``iucr``
  or ``description`` (they encode how the crime was found), ids or the year (drift). By
  default (``exclude_on_view=True``) the arrest-generated types (narcotics, prostitution,
  gambling, liquor law, public indecency: the report exists because of the arrest) are left
  out of training, evaluation and scoring;
* neither model ever uses a personal demographic attribute (age, sex, race, ethnicity,
  residency, juvenile status) of a victim, offender or arrestee.

``check_leakage`` enforces all three when a spec is built and again when a saved one is
loaded, so a hand-edited feature list cannot slip a leaky column in.
"""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ml.db import MLError, identifier

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

CATEGORICAL, NUMERIC = "categorical", "numeric"
MODELS = ("clearance", "arrest")
MAX_CATEGORIES = 1000  # per feature: the rarest beyond this become missing


class LeakageError(MLError):
    """A feature would leak the outcome or use a personal attribute."""


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # CATEGORICAL or NUMERIC
    sql: str | None = None  # an expression over the mart; default: the column of that name
    min_count: int = 1  # categories seen fewer times in training become missing

    def select(self) -> str:
        return f"{self.sql} as {self.name}" if self.sql else self.name


@dataclass(frozen=True)
class ModelSpec:
    model: str
    mart: str  # table in the marts schema
    key: str
    key_type: str  # the key's PostgreSQL type, for the scores table
    time_column: str  # a date: what the out-of-time split orders by
    partition_column: str  # scores are replaced one value of this at a time
    label_sql: str  # 0/1, or a class index for several classes
    classes: tuple[str, ...]  # the label values' names, by index
    group_columns: tuple[str, ...]  # metrics per value of each
    features: tuple[Feature, ...]
    eligible_sql: str = "true"  # rows the model covers
    maturity_days: int = 0  # the newest days, whose labels are still filling in, are left out
    options: dict = field(default_factory=dict)
    forbidden: tuple[str, ...] = ()  # mart columns that must never be features
    # False when a key names a row only within its partition (a NIBRS incident_key is a hash
    # within its data year): scores are then matched on (partition, key)
    key_unique_across_partitions: bool = True

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def positive_class(self) -> str:
        return "cleared" if self.model == "clearance" else "arrest"

    def select_sql(self, schema: str, where: str = "true", *, sample: str | None = None) -> str:
        """The rows of the model: key, date, partition, label, groups and features.

        ``where`` narrows them (a window, a partition); ``sample`` is a further condition
        that keeps a deterministic share of keys (see ``sample_condition``).
        """
        table = identifier(f"{schema}.{self.mart}")
        columns = [
            f"{self.key} as row_key",
            f"{self.time_column} as event_date",
            f"{self.partition_column}::text as scored_partition",
            "source_loaded_at",
            f"({self.label_sql}) as label",
            *(f"{column}::text as group_{column}" for column in self.group_columns),
            *(feature.select() for feature in self.features),
        ]
        conditions = [f"({self.eligible_sql})", f"({where})"]
        if sample:
            conditions.append(f"({sample})")
        return f"select {', '.join(columns)} from {table} where {' and '.join(conditions)}"

    def sample_condition(self, share: float) -> str | None:
        """Keeps about ``share`` of the rows, always the same ones for the same keys."""
        if share >= 1:
            return None
        buckets = 1_000_000
        return f"(hashtext({self.key}::text) & 2147483647) % {buckets} < {int(share * buckets)}"

    def to_json(self) -> dict:
        data = asdict(self)
        data["features"] = [asdict(f) for f in self.features]
        return data

    @classmethod
    def from_json(cls, data: dict) -> ModelSpec:
        data = dict(data)
        data["features"] = tuple(Feature(**f) for f in data["features"])
        for name in ("classes", "group_columns", "forbidden"):
            data[name] = tuple(data[name])
        spec = cls(**data)
        check_leakage(spec)
        return spec


# -- leakage -------------------------------------------------------------------------------------
# name tokens (split on "_") that mark a personal demographic attribute or the outcome
DEMOGRAPHIC_TOKENS = {
    "age",
    "sex",
    "gender",
    "race",
    "ethnicity",
    "ethnic",
    "juvenile",
    "resident",
    "residency",
}
OUTCOME_TOKENS = {
    "arrest",
    "arrestee",
    "arrestees",
    "cleared",
    "clearance",
    "exceptional",
    "exceptionally",
}
CLEARANCE_FORBIDDEN = (
    "clearance_outcome",
    "is_cleared",
    "is_cleared_by_arrest",
    "is_cleared_exceptionally",
    "cleared_exceptionally_code",
    "exceptional_clearance_reason",
    "exceptional_clearance_date",
    "first_arrest_date",
    "arrestee_count",
    "clearance_date",
    "days_to_clearance",
    "declared_arrestee_count",
    "has_drugs_seized",
    "has_juvenile_victim",
    "source_loaded_at",
    "incident_key",
    "incident_number",
)
# known about the offender: often only because of the arrest (reference §6, edit 558)
OFFENDER_KNOWN = (
    "has_unknown_offender",
    "offender_count",
    "victim_offender_relationship_group",
    "victim_offender_relationship_code",
    "declared_offender_count",
)
ARREST_FORBIDDEN = (
    "arrest",
    "updated_on",
    "iucr",
    "description",
    "id",
    "case_number",
    "source_partition",
    "source_loaded_at",
    "year",
    "block",
    "is_arrest_generated",
)


def check_leakage(spec: ModelSpec) -> None:
    """Raise LeakageError if any feature is an outcome, post-outcome or personal column."""
    problems = []
    allowed_offender = spec.model == "clearance" and spec.options.get("offender_known")
    for feature in spec.features:
        names = {feature.name}
        if feature.sql:  # the columns an expression reads count too
            names |= set(re.findall(r"[a-z_][a-z0-9_]*", feature.sql.lower()))
        for name in sorted(names):
            tokens = set(name.split("_"))
            if name in spec.forbidden:
                problems.append(
                    f"{feature.name}: reads {name}, which is known only after the "
                    "outcome or is not a predictor"
                )
            elif tokens & OUTCOME_TOKENS:
                problems.append(f"{feature.name}: reads {name}, an outcome column")
            elif tokens & DEMOGRAPHIC_TOKENS:
                problems.append(f"{feature.name}: reads {name}, a personal demographic attribute")
            elif spec.model == "clearance" and name in OFFENDER_KNOWN and not allowed_offender:
                problems.append(
                    f"{feature.name}: reads {name}, which is often recorded because "
                    "of an arrest (pass offender_known=True to accept it)"
                )
    if problems:
        raise LeakageError(f"model {spec.model!r} would leak: " + "; ".join(problems))


# -- the two models ------------------------------------------------------------------------------
def _categorical(*names: str, min_count: int = 1) -> list[Feature]:
    return [Feature(name, CATEGORICAL, min_count=min_count) for name in names]


def _numeric(*names: str) -> list[Feature]:
    return [Feature(name, NUMERIC) for name in names]


def clearance_spec(*, offender_known: bool = False) -> ModelSpec:
    """NIBRS incident clearance: open (0), by arrest (1), exceptionally (2); binary = 1 or 2."""
    features = [
        *_categorical(
            "primary_offense_code",
            "location_type_code",
            "state_abbreviation",
            "population_group",
            "agency_type_code",
            "country_region",
        ),
        # the agency's own practice matters (a random effect in the generator; real agencies
        # differ widely), but only agencies seen often enough get a category of their own
        *_categorical("agency_ori", min_count=50),
        *_numeric(
            "incident_hour",
            "incident_month",
            "incident_day_of_week",
            "is_weekend",
            "is_night",
            "is_report_date",
            "offense_count",
            "has_crime_against_person",
            "has_crime_against_property",
            "has_crime_against_society",
            "is_attempted_only",
            "has_weapon",
            "has_firearm",
            "offender_used_alcohol",
            "offender_used_drugs",
            "offender_used_computer",
            "is_bias_motivated",
            "is_cargo_theft",
            "victim_count",
            "person_victim_count",
            "has_business_victim",
            "has_officer_victim",
            "has_injured_victim",
            "stolen_property_value",
            "damaged_property_value",
            "has_unknown_property_value",
            "agency_population",
        ),
    ]
    if offender_known:
        features += [
            *_numeric("has_unknown_offender", "offender_count"),
            *_categorical("victim_offender_relationship_group"),
        ]
    spec = ModelSpec(
        model="clearance",
        # the narrow fact with the agency's attributes and the derived times joined
        mart="fct_nibrs_incidents_labelled",
        key="incident_key",
        key_type="bigint",
        time_column="incident_date",
        partition_column="data_year",
        label_sql="case clearance_outcome when 'arrest' then 1 when 'exceptional' then 2 "
        "else 0 end",
        classes=("open", "arrest", "exceptional"),
        group_columns=("state_abbreviation", "population_group"),
        features=tuple(features),
        eligible_sql="incident_date is not null",
        maturity_days=0,
        options={"offender_known": offender_known},
        forbidden=CLEARANCE_FORBIDDEN,
        key_unique_across_partitions=False,
    )
    check_leakage(spec)
    return spec


# the time was a best estimate (00:00, 12:00, 00:01): the report came after the fact
TIME_IS_ESTIMATE_SQL = (
    "(extract(hour from occurred_at) in (0, 12) and extract(minute from occurred_at) in (0, 1))"
)


def arrest_spec(*, exclude_on_view: bool = True) -> ModelSpec:
    """Chicago arrest: was anyone arrested for the crime (1) or not (0)."""
    features = (
        *_categorical("primary_type", "fbi_code", "location_group", "district"),
        *_categorical("location_description", min_count=20),
        *_categorical("beat", "ward", "community_area", min_count=10),
        *_numeric(
            "hour",
            "day_of_week",
            "month",
            "is_night",
            "is_weekend",
            "domestic",
            "latitude",
            "longitude",
            "has_coordinates",
        ),
        Feature("time_is_estimate", NUMERIC, sql=TIME_IS_ESTIMATE_SQL),
        Feature("is_first_of_month", NUMERIC, sql="(extract(day from occurred_at) = 1)"),
    )
    spec = ModelSpec(
        model="arrest",
        mart="fct_chicago_crimes",
        key="id",
        key_type="bigint",
        time_column="occurred_date",
        partition_column="year",
        label_sql="arrest::int",
        classes=("no_arrest", "arrest"),
        group_columns=("district",),
        features=features,
        eligible_sql="not is_arrest_generated" if exclude_on_view else "true",
        # recent rows under-report arrests recorded later (reference §4.3 point 4)
        maturity_days=28,
        options={"exclude_on_view": exclude_on_view},
        forbidden=ARREST_FORBIDDEN,
    )
    check_leakage(spec)
    return spec


def model_spec(model: str, **options) -> ModelSpec:
    if model == "clearance":
        return clearance_spec(**options)
    if model == "arrest":
        return arrest_spec(**options)
    raise MLError(f"unknown model {model!r}: use one of {', '.join(MODELS)}")


# -- encoding ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FittedFeatures:
    """A spec with the category vocabularies of its training window: rows -> matrix."""

    spec: ModelSpec
    vocabularies: dict[str, list[str]]

    @classmethod
    def fit(cls, spec: ModelSpec, table: pa.Table) -> FittedFeatures:
        import pyarrow.compute as pc

        vocabularies = {}
        for feature in spec.features:
            if feature.kind != CATEGORICAL:
                continue
            counts = pc.value_counts(_as_text(table.column(feature.name)))
            pairs = [(item["values"], item["counts"]) for item in counts.to_pylist()]
            kept = [(v, n) for v, n in pairs if v is not None and n >= feature.min_count]
            kept.sort(key=lambda vn: (-vn[1], vn[0]))
            vocabularies[feature.name] = [v for v, _ in kept[:MAX_CATEGORIES]]
        return cls(spec, vocabularies)

    @property
    def feature_types(self) -> list[str]:
        return ["c" if f.kind == CATEGORICAL else "q" for f in self.spec.features]

    def encode(self, table: pa.Table) -> np.ndarray:
        """float32 matrix, one column per feature; unseen categories and nulls are NaN."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        matrix = np.empty((table.num_rows, len(self.spec.features)), np.float32)
        for j, feature in enumerate(self.spec.features):
            if feature.name not in table.column_names:
                raise MLError(f"the rows lack the feature column {feature.name!r}")
            column = table.column(feature.name)
            if feature.kind == CATEGORICAL:
                vocabulary = pa.array(self.vocabularies[feature.name], pa.string())
                codes = pc.index_in(_as_text(column), value_set=vocabulary)
                values = codes.cast(pa.float32())
            else:
                if pa.types.is_boolean(column.type):
                    column = column.cast(pa.int8())
                values = column.cast(pa.float32())
            matrix[:, j] = values.to_numpy(zero_copy_only=False)  # nulls become NaN
        return matrix

    def dmatrix(self, table: pa.Table, label=None, *, nthread: int = 2):
        import xgboost as xgb

        return xgb.DMatrix(
            self.encode(table),
            label=label,
            feature_names=self.spec.feature_names,
            feature_types=self.feature_types,
            enable_categorical=True,
            nthread=nthread,
        )

    def describe(self, name: str, value: float) -> str:
        """A feature's encoded value as a person reads it (the category's name)."""
        import math

        if math.isnan(value):
            return "missing"
        if name in self.vocabularies:
            return self.vocabularies[name][int(value)]
        return f"{value:g}"

    def to_json(self) -> dict:
        return {"spec": self.spec.to_json(), "vocabularies": self.vocabularies}

    @classmethod
    def from_json(cls, data: dict) -> FittedFeatures:
        return cls(ModelSpec.from_json(data["spec"]), data["vocabularies"])


def _as_text(column):
    import pyarrow as pa

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    if pa.types.is_floating(column.type):  # 25.0 -> "25", as an integer column would say
        column = column.cast(pa.int64(), safe=False)
    return column.cast(pa.string())


# -- Chicago rows that are not in the mart (a user's CSV) ------------------------------------------
# the portal's CSV export names columns by display name; the API by field name
DISPLAY_NAMES = {
    "id": "id",
    "case number": "case_number",
    "date": "date",
    "block": "block",
    "iucr": "iucr",
    "primary type": "primary_type",
    "description": "description",
    "location description": "location_description",
    "arrest": "arrest",
    "domestic": "domestic",
    "beat": "beat",
    "district": "district",
    "ward": "ward",
    "community area": "community_area",
    "fbi code": "fbi_code",
    "x coordinate": "x_coordinate",
    "y coordinate": "y_coordinate",
    "year": "year",
    "updated on": "updated_on",
    "latitude": "latitude",
    "longitude": "longitude",
    "location": "location",
}
REQUIRED_SOURCE_FIELDS = ("date", "primary_type")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_PORTAL = re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}(:\d{2})? ?[AaPp][Mm]$")
_WHOLE = re.compile(r"^-?[0-9]+(\.0*)?$")
_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$")


def api_field(header: str) -> str | None:
    """``"Primary Type"`` or ``"primary_type"`` -> ``"primary_type"``; None if unknown."""
    text = header.strip().lstrip("\ufeff").lower()
    if text in DISPLAY_NAMES:
        return DISPLAY_NAMES[text]
    text = text.replace(" ", "_")
    return text if text in DISPLAY_NAMES.values() else None


def chicago_seeds(seeds_dir: Path) -> Path:
    """The Chicago seeds in the dbt project's seeds folder (a workspace's ``seeds_dir``)."""
    return Path(seeds_dir) / "chicago"


@cache
def location_groups(seeds_dir: Path) -> dict[str, str]:
    """``ref.chicago_location_groups``, from the dbt seed that builds it."""
    with (chicago_seeds(seeds_dir) / "chicago_location_groups.csv").open(newline="") as handle:
        return {
            row["location_description"]: row["location_group"] for row in csv.DictReader(handle)
        }


@cache
def arrest_generated_types(seeds_dir: Path) -> frozenset[str]:
    """Primary types whose reports exist because of the arrest (``ref.chicago_primary_types``)."""
    with (chicago_seeds(seeds_dir) / "chicago_primary_types.csv").open(newline="") as handle:
        return frozenset(
            row["primary_type"]
            for row in csv.DictReader(handle)
            if row["is_arrest_generated"].strip().lower() == "true"
        )


@dataclass(frozen=True)
class FieldError:
    """One thing wrong with a row of Chicago crimes.

    ``field`` names the value it is about: an API field name (``latitude``) for a column the
    dataset defines, else the file's own header; None when it is about the row as a whole
    (say, its number of fields). ``message`` names the field too, for a person to read.
    """

    field: str | None
    message: str


@dataclass
class SourceRows:
    """Chicago rows brought into the mart's shape, with each bad row's errors by row index
    (0-based): ``field_errors`` one per problem, ``errors`` their messages joined by "; "."""

    table: pa.Table
    errors: dict[int, str] = field(default_factory=dict)
    field_errors: dict[int, list[FieldError]] = field(default_factory=dict)


def chicago_source_features(
    columns: dict[str, list[str | None]], spec: ModelSpec, seeds_dir: Path
) -> SourceRows:
    """The arrest model's feature columns from rows in the dataset's own schema.

    ``columns`` maps API field names to the rows' text values (the portal CSV export's
    strings or the API's). Each value is checked the way the staging model types it, and
    the coordinates against the box the quality gate holds the City's batches to; a row with
    a value it cannot read, a location outside Chicago, or a type the model does not cover
    gets an error naming the field and null features, and the other rows go on. The
    location groups and the arrest-generated types come from the dbt seeds in ``seeds_dir``,
    as the marts' do.
    """
    rows = _SourceColumns(columns)
    when = _moments(rows.column("date"), rows.fail)
    primary_type = rows.text("primary_type", upper=True)
    _check_primary_types(rows, primary_type, spec, seeds_dir)
    description = rows.text("location_description", upper=True)
    groups = location_groups(seeds_dir)
    latitude, longitude, has_coordinates = _coordinates(rows)
    hour = [m.hour if m else None for m in when]
    weekday = [m.weekday() if m else None for m in when]
    values = {
        "primary_type": primary_type,
        "fbi_code": rows.text("fbi_code", upper=True),
        "location_group": [
            "Unknown/Other" if d is None else groups.get(d, "Unmapped") for d in description
        ],
        "district": rows.padded("district", 3),
        "location_description": description,
        "beat": rows.padded("beat", 4),
        "ward": rows.whole("ward", 1, 50),
        "community_area": rows.whole("community_area", 1, 77),
        "hour": hour,
        "day_of_week": weekday,
        "month": [m.month if m else None for m in when],
        "is_night": [None if h is None else (h >= 18 or h < 6) for h in hour],
        "is_weekend": [None if d is None else d >= 5 for d in weekday],
        "domestic": rows.flag("domestic"),
        "latitude": latitude,
        "longitude": longitude,
        "has_coordinates": has_coordinates,
        "time_is_estimate": [
            None if m is None else (m.hour in (0, 12) and m.minute in (0, 1)) for m in when
        ],
        "is_first_of_month": [None if m is None else m.day == 1 for m in when],
    }
    return rows.result(values, spec.feature_names)


class _SourceColumns:
    """Text columns read as the staging model types them; each bad value is an error of its
    row, naming the field."""

    def __init__(self, columns: dict[str, list[str | None]]):
        self.columns = columns
        self.n = len(next(iter(columns.values()))) if columns else 0
        self.errors: dict[int, list[FieldError]] = {}

    @staticmethod
    def blank(value) -> bool:
        return value is None or not str(value).strip()

    def column(self, name: str) -> list:
        return self.columns.get(name) or [None] * self.n

    def fail(self, i: int, name: str, message: str) -> None:
        self.errors.setdefault(i, []).append(FieldError(name, message))

    def text(self, name: str, *, upper: bool = False) -> list:
        out = []
        for value in self.column(name):
            cleaned = None if self.blank(value) else str(value).strip()
            out.append(cleaned.upper() if cleaned and upper else cleaned)
        return out

    def _parsed(self, name: str, parse, message) -> list:
        """Each value parsed, or None: blank, or not parseable (then an error)."""
        out = []
        for i, value in enumerate(self.column(name)):
            parsed = None if self.blank(value) else parse(str(value).strip())
            if parsed is None and not self.blank(value):
                self.fail(i, name, message(value))
            out.append(parsed)
        return out

    def whole(self, name: str, low: int, high: int) -> list:
        def parse(text):
            return (
                int(float(text)) if _WHOLE.match(text) and low <= int(float(text)) <= high else None
            )

        return self._parsed(
            name, parse, lambda v: f"{name} {v!r} is not a whole number from {low} to {high}"
        )

    def decimal(self, name: str) -> list:
        return self._parsed(
            name, lambda t: float(t) if _DECIMAL.match(t) else None,
            lambda v: f"{name} {v!r} is not a number",
        )  # fmt: skip

    def padded(self, name: str, width: int) -> list:
        return self._parsed(
            name, lambda t: str(int(float(t))).zfill(width) if _WHOLE.match(t) else None,
            lambda v: f"{name} {v!r} is not a {name} number (e.g. {'7'.zfill(width)})",
        )  # fmt: skip

    def flag(self, name: str) -> list:
        words = {"true": True, "t": True, "false": False, "f": False}
        return self._parsed(
            name, lambda t: words.get(t.lower()), lambda v: f"{name} {v!r} is not true or false"
        )

    def result(self, values: dict[str, list], feature_names) -> SourceRows:
        """The features as a table, nulls on every row with an error."""
        import numpy as np
        import pyarrow as pa

        bad = np.zeros(self.n, bool)
        bad[list(self.errors)] = True
        arrays = {}
        for name in feature_names:
            if name not in values:
                raise MLError(
                    f"the CSV path does not derive feature {name!r}; add it to "
                    "ml.features.chicago_source_features"
                )
            array = pa.array(values[name])
            arrays[name] = pa.compute.if_else(pa.array(bad), pa.nulls(self.n, array.type), array)
        joined = {i: "; ".join(e.message for e in found) for i, found in self.errors.items()}
        return SourceRows(pa.table(arrays), joined, self.errors)


def _check_primary_types(
    rows: _SourceColumns, primary_type: list, spec: ModelSpec, seeds_dir: Path
) -> None:
    on_view = spec.options.get("exclude_on_view")
    excluded = arrest_generated_types(seeds_dir) if on_view else frozenset()
    for i, value in enumerate(primary_type):
        if value is None:
            rows.fail(i, "primary_type", "primary_type is empty")
        elif value in excluded:
            rows.fail(
                i,
                "primary_type",
                f"not scored: {value} reports exist because of an arrest, and this model "
                "covers the other types (reference: chicago-crimes-soda.md §4.3)",
            )


def _coordinates(rows: _SourceColumns) -> tuple[list, list, list]:
    """Latitude and longitude as features (null without a location), and whether there is
    one; coordinates outside Chicago, or one of the pair missing, are errors."""
    from crimewh.quality.codes import CHICAGO_LATITUDE, CHICAGO_LONGITUDE

    latitude, longitude = rows.decimal("latitude"), rows.decimal("longitude")
    x = rows.decimal("x_coordinate") if "x_coordinate" in rows.columns else None
    rows.decimal("y_coordinate")  # not a feature, but a value that is not a number is an error
    for i, (lat, lon) in enumerate(zip(latitude, longitude, strict=True)):
        if x is not None and x[i] == 0:
            continue  # the geocoder's X = Y = 0 placeholder: no location (stg_chicago__crimes)
        if (lat is None) != (lon is None):
            given, empty = ("latitude", "longitude") if lon is None else ("longitude", "latitude")
            if not rows.errors.get(i) or all(e.field != empty for e in rows.errors[i]):
                rows.fail(i, empty, f"{empty} is empty but {given} is given")
        for name, value, (low, high) in (
            ("latitude", lat, CHICAGO_LATITUDE),
            ("longitude", lon, CHICAGO_LONGITUDE),
        ):
            if value is not None and not low <= value <= high:
                as_given = rows.column(name)[i]
                rows.fail(i, name, f"{name} {as_given!r} is outside Chicago ({low} to {high})")
    has_coordinates = [
        lat is not None and 41 <= lat <= 43 and (x is None or (x[i] or 0) != 0)
        for i, lat in enumerate(latitude)
    ]  # the X = Y = 0 placeholder is no location (stg_chicago__crimes)
    return (
        [v if ok else None for v, ok in zip(latitude, has_coordinates, strict=True)],
        [v if ok else None for v, ok in zip(longitude, has_coordinates, strict=True)],
        has_coordinates,
    )


def _moments(values, fail) -> list:
    """Floating timestamps, ISO (the API) or ``MM/DD/YYYY hh:mm:ss AM`` (the portal's CSV)."""
    from datetime import datetime

    out = []
    for i, value in enumerate(values):
        text = "" if value is None else str(value).strip()
        moment = None
        try:
            if _ISO.match(text):
                moment = datetime.fromisoformat(text.replace(" ", "T"))
            elif _PORTAL.match(text):
                compact = re.sub(r"\s*([AaPp][Mm])$", r" \1", text).upper()
                pattern = "%m/%d/%Y %I:%M:%S %p" if compact.count(":") == 2 else "%m/%d/%Y %I:%M %p"
                moment = datetime.strptime(compact, pattern)
        except ValueError:
            moment = None
        if moment is None:
            problem = f"{value!r} is not a date and time" if text else "is empty"
            fail(
                i,
                "date",
                f"date {problem}: write 11/16/2025 11:00:00 PM (the portal's CSV) or "
                "2025-11-16T23:00:00 (the API)",
            )
        out.append(moment)
    return out
