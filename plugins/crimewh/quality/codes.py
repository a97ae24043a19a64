"""The allowed values the quality checks hold data to: NIBRS code tables and Chicago's ranges.

One place for every list. The NIBRS tables are the FBI's (docs/reference/nibrs-master-file.md
§3, FBI "NIBRS Records Description" 10/17/23 plus the codes added in the 2025.0 spec); where
the dbt project ships a seed for a table (``dbt_project/seeds/<seed>.csv``), the seed's codes
are used instead, so the gate and the warehouse's reference tables cannot drift apart. The
Chicago values are from docs/reference/chicago-crimes-soda.md §1 and §3.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# -- NIBRS -------------------------------------------------------------------------------------
# §3.1. Group A offenses are the incident offenses (02, victims' offense links, window
# records); Group B codes occur only as arrest offenses (06, W6, 07).
UCR_GROUP_A = _codes(
    "09A 09B 09C 100 101 103 11A 11B 11C 11D 120 13A 13B 13C 200 210 220 "
    "23A 23B 23C 23D 23E 23F 23G 23H 240 250 26A 26B 26C 26D 26E 26F 26G 26H 270 280 290 "
    "30A 30B 30C 30D 35A 35B 360 36A 36B 370 39A 39B 39C 39D 40A 40B 40C 49A 49B 49C "
    "510 520 521 522 526 58A 58B 61A 61B 620 64A 64B 720"
)
UCR_GROUP_B = _codes("90A 90B 90C 90D 90E 90F 90G 90H 90I 90J 90K 90L 90M 90Z")
# §3.4: 01-25 and 37-58 (no 26-36, no 43); 22 was superseded in 2010 but old years have it
LOCATION_TYPES = frozenset(
    [f"{n:02d}" for n in range(1, 26)] + [f"{n:02d}" for n in range(37, 59) if n != 43]
)
CLEARED_EXCEPTIONALLY = _codes("A B C D E N")  # §3.2
REPORT_DATE_INDICATOR = _codes("R")
CARGO_THEFT = _codes("Y N")
ATTEMPTED_COMPLETED = _codes("A C U")  # U (unfounded) added in 2025.0
WEAPON_FORCE = _codes("11 12 13 14 15 20 30 35 40 50 60 65 70 85 90 95 99")
BIAS_MOTIVATION = _codes(
    "11 12 13 14 15 16 31 32 33 21 22 23 24 25 26 27 28 29 81 82 83 84 85 "
    "41 42 43 44 45 51 52 61 62 71 72 88 99"
)
PROPERTY_LOSS = _codes("1 2 3 4 5 6 7 8")  # §3.5
PROPERTY_DESCRIPTION = frozenset(
    [f"{n:02d}" for n in range(1, 40)]
    + [f"{n:02d}" for n in range(41, 50)]
    + ["59", *(f"{n:02d}" for n in range(64, 81)), "88", "99"]
)
VICTIM_TYPES = _codes("I B F G R S L O U")  # §3.6
SEX = _codes("M F U")
RACE = _codes("W B I A P U")
ETHNICITY = _codes("H N U")
RESIDENT_STATUS = _codes("R N U")
ARREST_TYPES = _codes("O S T")  # §3.3
MULTIPLE_ARRESTEE = _codes("M C N")
ARMED_WITH = _codes("01 11 12 13 14 15 16 17")
# The record types of the master file, by the segment table the decoder writes them to.
SEGMENT_RECORD_TYPES = {
    "batch_header": ("BH", "B1", "B2", "B3"),
    "administrative": ("01",),
    "offense": ("02",),
    "property": ("03",),
    "victim": ("04",),
    "offender": ("05",),
    "arrestee": ("06",),
    "group_b_arrest": ("07",),
    "window_exceptional_clearance": ("W1",),
    "window_recovered_property": ("W3",),
    "window_arrestee": ("W6",),
}
RECORD_TYPES = frozenset(t for types in SEGMENT_RECORD_TYPES.values() for t in types)
EARLIEST_DATE = 19000101  # window records carry very old incident dates (reference §1.4)

# -- Chicago -----------------------------------------------------------------------------------
# Every primary type the dataset has used since 2001, old spellings included (§1.3, §3.3).
CHICAGO_PRIMARY_TYPES = frozenset(
    [
        "ARSON", "ASSAULT", "BATTERY", "BURGLARY", "CONCEALED CARRY LICENSE VIOLATION",
        "CRIM SEXUAL ASSAULT", "CRIMINAL SEXUAL ASSAULT", "CRIMINAL DAMAGE",
        "CRIMINAL TRESPASS", "DECEPTIVE PRACTICE", "DOMESTIC VIOLENCE", "GAMBLING", "HOMICIDE",
        "HUMAN TRAFFICKING", "INTERFERENCE WITH PUBLIC OFFICER", "INTIMIDATION", "KIDNAPPING",
        "LIQUOR LAW VIOLATION", "MOTOR VEHICLE THEFT", "NARCOTICS", "NON - CRIMINAL",
        "NON-CRIMINAL", "NON-CRIMINAL (SUBJECT SPECIFIED)", "OBSCENITY",
        "OFFENSE INVOLVING CHILDREN", "OTHER NARCOTIC VIOLATION", "OTHER OFFENSE",
        "PROSTITUTION", "PUBLIC INDECENCY", "PUBLIC PEACE VIOLATION", "RITUALISM", "ROBBERY",
        "SEX OFFENSE", "STALKING", "THEFT", "WEAPONS VIOLATION",
    ]
)  # fmt: skip
CHICAGO_FBI_CODES = _codes(  # §3.9, the CPD's list
    "01A 01B 02 03 04A 04B 05 06 07 08A 08B 09 10 11 12 13 14 15 16 17 18 19 20 22 24 26"
)
# §3.7: 22 active districts (13, 21 and 23 closed in 2012 but old rows keep them) and 031
CHICAGO_DISTRICTS = frozenset(f"{n:03d}" for n in [*range(1, 26), 31])
CHICAGO_WARDS = (1, 50)
CHICAGO_COMMUNITY_AREAS = (1, 77)
CHICAGO_FIRST_YEAR = 2001
# The city's extent (§3.7: an ArcGIS copy's XMin -87.9346, YMin 41.6451, XMax -87.5246,
# YMax 42.0226), widened by about 500 m so points on the edge pass.
CHICAGO_LATITUDE = (41.640, 42.030)
CHICAGO_LONGITUDE = (-87.945, -87.520)
# Illinois State Plane East, feet (§3.7: maxima 1,205,119 and 1,951,622 in 2001-2017)
CHICAGO_X_COORDINATE = (1_090_000, 1_206_000)
CHICAGO_Y_COORDINATE = (1_810_000, 1_952_000)


# -- dbt seeds ---------------------------------------------------------------------------------
# list -> (seed file under dbt_project/seeds/, its code column, (filter column, value) or None)
SEEDED: dict[str, tuple[str, str, tuple[str, str] | None]] = {
    "ucr_group_a": ("nibrs/nibrs_offense_codes.csv", "offense_code", ("offense_group", "A")),
    "ucr_group_b": ("nibrs/nibrs_offense_codes.csv", "offense_code", ("offense_group", "B")),
    "location_types": ("nibrs/nibrs_location_types.csv", "location_type_code", None),
    "cleared_exceptionally": (
        "nibrs/nibrs_clearance_codes.csv", "cleared_exceptionally_code", None
    ),
    "bias_motivation": ("nibrs/nibrs_bias_motivations.csv", "bias_motivation_code", None),
    "property_description": (
        "nibrs/nibrs_property_descriptions.csv", "property_description_code", None
    ),
    "property_loss": ("nibrs/nibrs_property_loss_types.csv", "loss_type_code", None),
    "victim_types": ("nibrs/nibrs_victim_types.csv", "victim_type_code", None),
    "weapon_force": ("nibrs/nibrs_weapon_force_codes.csv", "weapon_force_code", None),
    "armed_with": ("nibrs/nibrs_armed_with_codes.csv", "armed_with_code", None),
    **{
        name: ("nibrs/nibrs_code_values.csv", "code", ("code_set", code_set))
        for name, code_set in (
            ("sex", "sex"), ("race", "race"), ("ethnicity", "ethnicity"),
            ("resident_status", "resident_status"), ("arrest_types", "arrest_type"),
            ("attempted_completed", "attempted_completed"),
            ("multiple_arrestee", "multiple_arrestee_indicator"),
        )
    },
    "chicago_primary_types": ("chicago/chicago_primary_types.csv", "primary_type", None),
    "chicago_fbi_codes": ("chicago/chicago_fbi_codes.csv", "fbi_code", None),
}  # fmt: skip
BUILT_IN: dict[str, frozenset[str]] = {
    "ucr_group_a": UCR_GROUP_A,
    "ucr_group_b": UCR_GROUP_B,
    "location_types": LOCATION_TYPES,
    "cleared_exceptionally": CLEARED_EXCEPTIONALLY,
    "bias_motivation": BIAS_MOTIVATION,
    "property_description": PROPERTY_DESCRIPTION,
    "property_loss": PROPERTY_LOSS,
    "victim_types": VICTIM_TYPES,
    "weapon_force": WEAPON_FORCE,
    "armed_with": ARMED_WITH,
    "sex": SEX,
    "race": RACE,
    "ethnicity": ETHNICITY,
    "resident_status": RESIDENT_STATUS,
    "arrest_types": ARREST_TYPES,
    "attempted_completed": ATTEMPTED_COMPLETED,
    "multiple_arrestee": MULTIPLE_ARRESTEE,
    "chicago_primary_types": CHICAGO_PRIMARY_TYPES,
    "chicago_fbi_codes": CHICAGO_FBI_CODES,
}


def seeds_dir() -> Path | None:
    """The dbt project's seeds in the settings' project folder; None without a project."""
    from crimewh.settings import find_project_dir

    project = find_project_dir()
    return None if project is None else project / "dbt_project" / "seeds"


@cache
def code_list(name: str, seeds: Path | None = None) -> frozenset[str]:
    """The codes of list ``name``: its dbt seed's when the project has one, else built in.
    ``seeds`` is a seeds folder; by default the project's (``seeds_dir()``)."""
    if name not in BUILT_IN:
        raise KeyError(f"no code list {name!r}; the lists are {sorted(BUILT_IN)}")
    seeds = seeds or seeds_dir()
    if seeds is None:
        return BUILT_IN[name]
    seed, column, where = SEEDED[name]
    path = seeds / seed
    if not path.exists():
        return BUILT_IN[name]
    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    needed = [column] + ([where[0]] if where else [])
    if not rows or any(c not in rows[0] for c in needed):
        raise ValueError(
            f"{path}: the quality gate reads its {name} list from the column(s) {needed}, "
            f"which the seed lacks; fix the seed or SEEDED in {__name__}"
        )
    found = frozenset(
        row[column].strip() for row in rows if where is None or row[where[0]].strip() == where[1]
    )
    if not found:
        raise ValueError(f"{path}: no {name} codes ({where[0]} = {where[1]!r})")
    return found
