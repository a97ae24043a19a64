"""Format-faithful synthetic NIBRS master files (``nibrs-YYYY.zip``) with known clearance truth.

The real files are large, downloaded by hand and carry no ground truth, so the decoder, the
warehouse and the clearance models are tested and benchmarked on generated years instead.
What makes them worth testing against (docs/reference/nibrs-master-file.md, sections 1-3
and 7):

* every value is placed by field name through ``decoder.layouts``; no position is written
  here. Lines have the real per-type lengths with trailing blanks, latin-1 bytes;
* the FBI's order: states by numeric code, one batch header per agency (some with no records
  after it) followed by its record sets in random order, 01-06 inside a set, and 07 and
  window records mixed in between sets;
* codes from the FBI tables in realistic mixes that depend on the offense, and record sets
  consistent with their 01 (declared counts, clearance, dates);
* clearance drawn from a known model, written beside the zip as ``<name>.truth.parquet``.

Speed: incidents are made in blocks, each record type as an ``n x length`` byte matrix filled
one field (a column block) at a time with NumPy, then scattered into the block's buffer at
line offsets computed from the per-incident record counts. A writer thread compresses one
block while the next is generated (zlib and inflate64 both release the GIL).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.lib.stride_tricks import as_strided

from decoder.layouts import LayoutVariant, RecordLayout, load_layouts, load_variants
from testkit.zipwriter import write_zip

MEMBER_NAME = "{year}_NIBRS_NATIONAL_MASTER_FILE_ENC.txt"
BLOCK_INCIDENTS = 32_768  # fixed, so the output depends on the arguments and seed only
# zlib's default level 6 runs ~2.5x slower than 1 on these lines for ~20% smaller files; the
# zips are test input that is written once per run, so speed wins
DEFLATE_LEVEL = 1
BLANK = 0x20
INCIDENTS_PER_AGENCY = 450  # ~8 M incidents a year over ~18 k agencies in the program
MIN_AGENCIES, MAX_AGENCIES = 12, 25_000
RECORD_SET = ("01", "02", "03", "04", "05", "06")
BETWEEN_SETS = ("07", "W1", "W3", "W6")  # mixed in after a record set, not part of it
HEADER_TYPES = ("BH",)
LEGACY_HEADER_TYPES = ("B1", "B2", "B3")
MAX_RELATED_OFFENDERS = 5  # of the 10 relationship slots; larger groups are rare
GROUP_B_RATE = 0.2  # 07 records per Group A incident
WINDOW_RATE = 0.0008  # each of W1, W3, W6 per Group A incident: "several thousand per year"
PLAIN_NUMBER_STATES = 0.35  # share of states whose incident numbers are not encrypted
OUTCOMES = ("arrest", "exceptional", "open")
ARREST, EXCEPTIONAL, OPEN = range(3)

# numeric state code, NCIC abbreviation (the FBI's: NB is Nebraska), Census division,
# population in millions (~2020), which weighs both the agencies and the incidents of a state
STATES = (
    (1, "AL", 6, 5.0), (2, "AZ", 8, 7.2), (3, "AR", 7, 3.0), (4, "CA", 9, 39.5),
    (5, "CO", 8, 5.8), (6, "CT", 1, 3.6), (7, "DE", 5, 1.0), (8, "DC", 5, 0.7),
    (9, "FL", 5, 21.5), (10, "GA", 5, 10.7), (11, "ID", 8, 1.8), (12, "IL", 3, 12.8),
    (13, "IN", 3, 6.8), (14, "IA", 4, 3.2), (15, "KS", 4, 2.9), (16, "KY", 6, 4.5),
    (17, "LA", 7, 4.7), (18, "ME", 1, 1.4), (19, "MD", 5, 6.2), (20, "MA", 1, 7.0),
    (21, "MI", 3, 10.1), (22, "MN", 4, 5.7), (23, "MS", 6, 3.0), (24, "MO", 4, 6.2),
    (25, "MT", 8, 1.1), (26, "NB", 4, 2.0), (27, "NV", 8, 3.1), (28, "NH", 1, 1.4),
    (29, "NJ", 2, 9.3), (30, "NM", 8, 2.1), (31, "NY", 2, 20.2), (32, "NC", 5, 10.4),
    (33, "ND", 4, 0.8), (34, "OH", 3, 11.8), (35, "OK", 7, 4.0), (36, "OR", 9, 4.2),
    (37, "PA", 2, 13.0), (38, "RI", 1, 1.1), (39, "SC", 5, 5.1), (40, "SD", 4, 0.9),
    (41, "TN", 6, 6.9), (42, "TX", 7, 29.1), (43, "UT", 8, 3.3), (44, "VT", 1, 0.6),
    (45, "VA", 5, 8.6), (46, "WA", 9, 7.7), (47, "WV", 5, 1.8), (48, "WI", 3, 5.9),
    (49, "WY", 8, 0.6), (50, "AK", 9, 0.7), (51, "HI", 9, 1.5),
)  # fmt: skip
DIVISION_REGION = {1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 3, 7: 3, 8: 4, 9: 4}
# agency indicator: 1 city, 2 county (one per county, made separately), 3 university,
# 4 state police, 5 other, 6 other state agency, 7 tribal, 8 federal, 0 covered by another
AGENCY_KINDS = "1:68 0:8 3:6 5:7 6:4 4:3 7:3 8:1"
NON_REPORTING = 0.10  # agencies with a batch header and nothing else
NAME_STARTS = (
    "SPRING", "OAK", "MAPLE", "CEDAR", "RIVER", "LAKE", "PINE", "ASH", "ELM", "GREEN", "FAIR",
    "MILL", "BROOK", "STONE", "CLEAR", "WEST", "EAST", "NORTH", "SOUTH", "HIGH", "RED", "WHITE",
    "BLACK", "SAND", "ROCK", "GLEN", "WOOD", "HAZEL", "BEL", "MOUNT", "WATER", "SILVER", "GOLD",
    "IRON", "MARION", "FRANKLIN", "JACKSON", "WASHINGTON", "LINCOLN", "MADISON", "CLAY", "GRANT",
    "HAMILTON", "MONROE", "WARREN", "UNION", "SALEM", "AUBURN", "KING", "PLEASANT",
)  # fmt: skip
NAME_ENDS = (
    "FIELD", "DALE", "VILLE", "TON", "WOOD", "BURG", "PORT", "FORD", "LAND", "HAVEN", "VIEW",
    "MONT", "CREST", "WATER", " CITY", " SPRINGS", " HEIGHTS", " PARK", " FALLS", " GROVE",
    " HILLS", " JUNCTION", " BEACH", "",
)  # fmt: skip
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# real place names with a latin-1 letter: the files are latin-1, and decoders must not choke
LATIN1_SHARE = 0.002
LATIN1_NAMES = ("ESPAÑOLA", "CAÑON CITY", "PEÑASCO", "LA CAÑADA FLINTRIDGE", "DOÑA ANA COUNTY")

# -- offense mixes (section 3) -----------------------------------------------------------------
# "code:weight ..."; "-" is a blank value
LOC_ASSAULT = (
    "20:62 13:12 18:4 05:2 03:2 21:1.5 14:2 23:1 07:1 25:6 50:1 53:1.5 52:0.5 15:1.5 09:1 11:0.5"
)
LOC_HOMICIDE = "20:52 13:22 18:8 25:6 10:3 03:2 14:2 23:2 21:1 07:1 50:1"
LOC_SEX = "20:72 25:6 13:4 53:4 52:2 14:3 05:1 18:1 10:1 50:1 09:1 58:4"
LOC_ROBBERY = "13:32 20:18 07:9 18:9 23:6 02:3 05:4 12:3 24:3 21:2 14:2 08:2 40:1 55:1 25:5"
LOC_BURGLARY = "20:66 05:8 24:3 19:5 06:3 21:2 14:2 12:1 23:1 07:1 11:1 53:1 46:1 25:5"
LOC_LARCENY = "20:42 13:10 18:8 05:7 08:5 24:3 12:3 14:2 06:2 23:2 21:2 09:2 11:1 52:1 53:1 25:9"
LOC_SHOPLIFTING = "08:34 12:20 07:14 24:10 09:7 23:5 55:4 17:2 41:1 25:3"
LOC_VEHICLE = "20:40 18:28 13:22 05:2 14:2 23:1 21:1 41:1 25:3"
LOC_FRAUD = "20:48 58:12 02:7 05:6 08:3 12:2 07:2 24:2 23:2 40:1 25:15"
LOC_VANDALISM = "20:54 13:14 18:8 05:5 24:2 11:2 53:2 21:1 23:1 50:2 06:1 25:8"
LOC_DRUGS = "13:50 20:22 18:8 14:3 23:3 07:2 50:1 15:3 53:2 52:1 25:5"
LOC_WEAPONS = "13:45 20:27 18:8 53:2 03:2 14:2 23:2 25:12"
WEAPON_HOMICIDE = "12:46 11:22 20:11 30:4 40:6 35:2 13:1 14:1 15:1 90:3 95:3"
WEAPON_AGGRAVATED = "12:20 11:10 13:1 14:1 15:1 20:18 30:12 40:14 35:6 90:12 95:5"
WEAPON_ROBBERY = "12:30 11:14 13:1 14:1 15:1 20:8 30:3 40:28 90:7 95:4 99:3"
FIREARMS = ("11", "12", "13", "14", "15")
GANG = "N:94 G:4 J:2"
REL_ASSAULT = (
    "AQ:20 BG:13 ST:11 RU:9 SE:6 OK:9 XR:4 FR:4 CH:4 PA:4 SB:3 OF:3 NE:3 XS:1.5 CS:1 IL:1 "
    "SC:0.5 SP:0.5 GP:0.3 GC:0.3 EE:0.6 ER:0.4 CF:0.4 VO:1"
)
REL_SEX = "AQ:28 OK:10 FR:8 CH:7 OF:8 ST:5 RU:6 BG:8 SC:4 GC:2 NE:3 CF:3 XR:2 SB:2 BE:1 SE:1 SP:1"
REL_ROBBERY = "ST:58 RU:22 AQ:10 OK:4 FR:2 BG:2 XR:1 NE:1"
ARMED_DEFAULT = "01:86 16:4 12:3 11:2 17:2 13:0.5 14:0.5 15:1"
VICTIMS_PROPERTY = "I:76 B:17 G:3 R:1 O:2 U:1"


@dataclass(frozen=True)
class Profile:
    """How incidents led by one kind of offense look; each text attribute is a code mix."""

    against: str  # person, property or society: victim types, relationships, victim offenses
    location: str
    victim_types: str
    victims: str = "1:92 2:7 3:1"
    offenders: str = "1:78 2:15 3:5 4:1.5 5:0.5"  # when the offenders are known
    companions: str = ""  # the other offenses of a multi-offense incident
    attempted: float = 0.0
    using: str = "N:80 A:9 D:6 C:5"
    weapon: str = ""  # empty where the FBI does not collect weapon/force for the offense
    activity: str = ""  # criminal activity or gang information
    injury: str = ""
    relationship: str = ""  # victim-offender relationships: persons and robbery only
    armed: str = ARMED_DEFAULT
    loss: str = ""  # property loss types; empty: no property records
    property: str = ""  # property descriptions
    items: str = "1:100"  # how many property descriptions
    recovered: float = 0.0  # share of stolen items also reported recovered (loss type 5)
    victim_age: tuple[float, float] = (36.0, 16.0)
    victim_sex: str = "F:50 M:48 U:2"
    report_date: float = 0.03  # share of incidents dated by the report, not the incident


PROFILES = {
    "homicide": Profile(
        "person", LOC_HOMICIDE, "I:97 L:3", victims="1:92 2:6 3:2",
        offenders="1:75 2:17 3:6 4:2", companions="13A:45 120:25 100:10 220:10 11A:10",
        weapon=WEAPON_HOMICIDE, activity=GANG, relationship=REL_ASSAULT,
        armed="01:40 12:35 11:10 16:10 13:2 14:2 15:1", victim_age=(33.0, 15.0),
        victim_sex="M:78 F:22",
    ),
    "sex": Profile(
        "person", LOC_SEX, "I:100", victims="1:95 2:5", offenders="1:90 2:8 3:2",
        companions="11D:40 13B:25 100:10 36B:10 11B:10 13C:5",
        weapon="40:75 99:18 90:5 95:2", activity=GANG, injury="N:85 M:12 O:2 I:1",
        relationship=REL_SEX, victim_age=(19.0, 11.0), victim_sex="F:86 M:13 U:1",
    ),
    "aggravated_assault": Profile(
        "person", LOC_ASSAULT, "I:96 L:4", victims="1:84 2:11 3:4 4:1",
        offenders="1:78 2:14 3:6 4:2",
        companions="13B:30 290:25 13C:15 120:10 220:10 100:5 11A:5",
        using="N:66 A:22 D:9 C:3", weapon=WEAPON_AGGRAVATED, activity=GANG,
        injury="N:34 M:36 O:10 L:8 B:4 I:3 U:2 T:1", relationship=REL_ASSAULT,
        armed="01:55 16:12 12:12 11:6 17:8 15:3 13:2 14:2", victim_sex="M:55 F:44 U:1",
    ),
    "simple_assault": Profile(
        "person", LOC_ASSAULT, "I:97 L:3", victims="1:88 2:9 3:2 4:1",
        offenders="1:84 2:12 3:3 4:1", companions="13C:35 290:35 23H:10 220:10 11D:5 120:5",
        using="N:68 A:22 D:8 C:2", weapon="40:86 99:8 90:4 95:2", activity=GANG,
        injury="N:52 M:48", relationship=REL_ASSAULT, victim_sex="F:56 M:43 U:1",
    ),
    "intimidation": Profile(
        "person", "20:60 58:8 13:8 05:5 53:4 18:2 25:13", "I:100", victims="1:90 2:8 3:2",
        offenders="1:88 2:10 3:2", companions="13B:40 290:40 220:10 23H:10",
        using="N:80 A:8 C:10 D:2", activity=GANG, relationship=REL_ASSAULT,
    ),
    "kidnapping": Profile(
        "person", "20:65 13:15 18:5 14:3 25:12", "I:100", victims="1:93 2:6 3:1",
        offenders="1:80 2:15 3:5", companions="13A:35 13B:35 11A:15 120:15",
        weapon="40:35 99:30 12:12 11:5 20:6 90:8 95:4", activity=GANG,
        injury="N:72 M:24 O:3 L:1", relationship=REL_ASSAULT, victim_age=(27.0, 14.0),
    ),
    "robbery": Profile(
        "property", LOC_ROBBERY, "I:82 B:17 F:1", victims="1:85 2:12 3:3",
        offenders="1:58 2:28 3:10 4:4", companions="13A:45 13B:25 240:10 220:10 100:10",
        attempted=0.06, weapon=WEAPON_ROBBERY, activity=GANG,
        injury="N:74 M:20 O:3 L:2 B:1", relationship=REL_ROBBERY,
        armed="01:60 12:18 11:8 16:8 17:3 15:3", loss="7:100",
        property="20:42 75:18 25:12 77:8 03:6 09:4 17:4 48:3 65:3", items="1:55 2:28 3:17",
        recovered=0.08, victim_age=(33.0, 14.0), victim_sex="M:65 F:33 U:2",
    ),
    "burglary": Profile(
        "property", LOC_BURGLARY, "I:78 B:18 G:2 R:1 O:1", offenders="1:75 2:18 3:5 4:2",
        companions="23H:35 290:35 23D:15 240:10 23F:5", attempted=0.08, loss="7:100",
        property=(
            "77:18 26:10 07:9 17:9 20:8 36:8 16:8 13:4 75:6 06:3 04:2 19:3 08:3 48:2 38:2 "
            "71:2 68:2 65:1 02:1"
        ),
        items="1:45 2:30 3:25", recovered=0.06,
    ),
    "larceny": Profile(
        "property", LOC_LARCENY, VICTIMS_PROPERTY, companions="290:35 26B:20 220:15 23F:15 13B:15",
        attempted=0.02, loss="7:100",
        property=(
            "77:22 20:12 75:9 19:8 36:5 04:5 25:5 09:4 48:5 16:4 17:4 07:3 38:3 71:3 13:2 "
            "06:2 68:2 65:1 76:1"
        ),
        items="1:70 2:20 3:10", recovered=0.06,
    ),
    "shoplifting": Profile(
        "property", LOC_SHOPLIFTING, "B:96 I:3 O:1", offenders="1:78 2:18 3:4",
        companions="23H:30 290:20 13B:20 280:15 250:15", attempted=0.02,
        using="N:92 A:3 D:5", loss="7:100", property="19:58 08:16 06:9 02:5 16:4 26:2 75:2 77:4",
        items="1:80 2:15 3:5", recovered=0.3,
    ),
    "theft_from_vehicle": Profile(
        "property", LOC_VEHICLE, "I:86 B:12 G:1 O:1", companions="290:60 23H:20 26B:10 240:10",
        attempted=0.03, loss="7:100",
        property="38:25 77:18 25:10 20:8 75:8 48:7 09:6 13:5 07:4 36:4 06:2 65:3",
        items="1:60 2:25 3:15", recovered=0.04,
    ),
    "motor_vehicle_theft": Profile(
        "property", LOC_VEHICLE, "I:80 B:18 G:1 O:1",
        companions="23F:40 290:20 220:20 26B:10 280:10", attempted=0.06, loss="7:100",
        property="03:72 37:15 24:8 28:2 05:0.5 39:1 78:1.5", items="1:92 2:8", recovered=0.5,
    ),
    "fraud": Profile(
        "property", LOC_FRAUD, "I:70 B:15 F:12 G:2 O:1", offenders="1:88 2:10 3:2",
        companions="26F:30 26B:25 26C:20 250:15 23H:10", attempted=0.05,
        using="N:70 C:28 A:1 D:1", report_date=0.18, loss="7:100",
        property="20:52 09:12 66:9 21:8 77:5 65:4 48:4 75:2 19:4", items="1:80 2:15 3:5",
        recovered=0.03,
    ),
    "counterfeiting": Profile(
        "property", "02:20 20:25 07:10 12:8 08:6 05:10 24:6 23:5 25:10", "B:45 I:35 F:15 G:5",
        companions="26A:50 26B:25 280:25", attempted=0.05, activity="C:40 P:35 U:15 D:10",
        loss="3:100", property="21:50 20:30 48:10 65:8 77:2", items="1:90 2:10",
    ),
    "embezzlement": Profile(
        "property", "05:35 24:12 08:8 12:8 21:6 07:6 20:10 02:5 25:10", "B:85 I:8 G:4 O:3",
        companions="26A:60 250:40", loss="7:100", property="20:60 19:25 77:10 21:5",
        items="1:85 2:15", recovered=0.1,
    ),
    "extortion": Profile(
        "property", "20:55 58:30 05:5 25:10", "I:85 B:15", companions="13C:70 26A:30",
        attempted=0.3, weapon="99:80 40:5 90:10 95:5", loss="7:100",
        property="20:80 77:10 21:10",
    ),
    "stolen_property": Profile(
        "property", "13:45 20:30 18:10 14:3 25:12", "S:55 I:25 B:20", offenders="1:75 2:20 3:5",
        companions="240:40 220:30 23H:30", activity="P:70 B:20 D:5 T:5", loss="5:60 6:40",
        property="03:20 77:25 75:10 13:8 36:8 19:10 07:5 26:4 17:5 38:5", items="1:75 2:20 3:5",
    ),
    "vandalism": Profile(
        "property", LOC_VANDALISM, "I:72 B:18 G:6 R:1 O:2 U:1",
        companions="13B:30 220:30 23H:20 13C:20", loss="4:100",
        property="03:32 29:22 77:15 31:6 30:6 35:4 37:3 33:2 34:1 38:4 71:1 43:2 68:1 04:1",
        items="1:88 2:10 3:2",
    ),
    "arson": Profile(
        "property", "20:55 13:10 10:8 05:6 18:4 06:2 25:15", "I:65 B:20 G:10 O:5",
        companions="290:60 220:40", attempted=0.1, loss="2:100",
        property="29:40 03:25 30:8 31:7 35:8 77:7 37:3 34:2", items="1:85 2:15",
    ),
    "drugs": Profile(
        "society", LOC_DRUGS, "S:100", victims="1:100", offenders="1:82 2:14 3:4",
        companions="35B:80 520:20", using="D:75 N:25", activity="P:68 U:16 D:8 B:3 T:2 C:3",
        loss="6:100", property="10:100",
    ),
    "drug_equipment": Profile(
        "society", LOC_DRUGS, "S:100", victims="1:100", offenders="1:85 2:12 3:3",
        companions="35A:100", using="D:70 N:30", activity="P:80 U:18 D:1 B:1", loss="6:100",
        property="11:100",
    ),
    "weapons": Profile(
        "society", LOC_WEAPONS, "S:100", victims="1:100", offenders="1:85 2:12 3:3",
        companions="35A:60 35B:40", weapon="12:56 11:18 13:7 14:5 15:6 20:3 60:1 90:4",
        activity="P:88 B:5 D:3 T:4", armed="12:55 11:20 13:6 14:5 15:6 16:5 17:3",
    ),
    "vice": Profile("society", "20:45 14:10 13:15 58:10 05:5 03:3 25:12", "S:100", victims="1:100"),
    "animal_cruelty": Profile(
        "society", "20:70 10:8 13:8 46:6 50:3 25:5", "S:100", victims="1:100",
        activity="A:55 I:35 F:7 S:3",
    ),
}  # fmt: skip

# code: (share of incidents it leads, %), profile, P(offender unknown), and for incidents with
# a known offender P(cleared by arrest) and P(cleared exceptionally), ~2021 NIBRS magnitudes
OFFENSES = {
    "09A": (0.15, "homicide", 0.30, 0.52, 0.07),
    "09B": (0.02, "homicide", 0.10, 0.39, 0.15),
    "09C": (0.01, "homicide", 0.02, 0.05, 0.43),
    "100": (0.30, "kidnapping", 0.08, 0.35, 0.11),
    "11A": (0.85, "sex", 0.12, 0.14, 0.11),
    "11B": (0.12, "sex", 0.12, 0.14, 0.11),
    "11C": (0.08, "sex", 0.12, 0.14, 0.11),
    "11D": (0.80, "sex", 0.12, 0.12, 0.10),
    "120": (1.50, "robbery", 0.45, 0.35, 0.04),
    "13A": (4.60, "aggravated_assault", 0.10, 0.35, 0.10),
    "13B": (13.0, "simple_assault", 0.06, 0.29, 0.12),
    "13C": (4.20, "intimidation", 0.15, 0.18, 0.10),
    "200": (0.25, "arson", 0.60, 0.21, 0.06),
    "210": (0.20, "extortion", 0.60, 0.13, 0.04),
    "220": (5.60, "burglary", 0.65, 0.21, 0.06),
    "23A": (0.20, "larceny", 0.85, 0.18, 0.04),
    "23B": (0.06, "larceny", 0.75, 0.21, 0.04),
    "23C": (6.30, "shoplifting", 0.25, 0.44, 0.06),
    "23D": (3.00, "larceny", 0.55, 0.20, 0.05),
    "23E": (0.10, "larceny", 0.75, 0.18, 0.04),
    "23F": (5.50, "theft_from_vehicle", 0.85, 0.18, 0.04),
    "23G": (1.40, "theft_from_vehicle", 0.85, 0.16, 0.04),
    "23H": (10.5, "larceny", 0.60, 0.20, 0.05),
    "240": (5.00, "motor_vehicle_theft", 0.70, 0.24, 0.04),
    "250": (0.90, "counterfeiting", 0.40, 0.26, 0.06),
    "26A": (3.50, "fraud", 0.45, 0.10, 0.05),
    "26B": (1.80, "fraud", 0.60, 0.10, 0.04),
    "26C": (1.30, "fraud", 0.40, 0.13, 0.05),
    "26D": (0.05, "fraud", 0.20, 0.18, 0.07),
    "26E": (0.50, "fraud", 0.55, 0.07, 0.04),
    "26F": (1.50, "fraud", 0.60, 0.07, 0.04),
    "26G": (0.10, "fraud", 0.70, 0.07, 0.04),
    "270": (0.25, "embezzlement", 0.05, 0.31, 0.15),
    "280": (0.60, "stolen_property", 0.05, 0.70, 0.04),
    "290": (9.80, "vandalism", 0.55, 0.21, 0.07),
    "35A": (6.80, "drugs", 0.02, 0.74, 0.02),
    "35B": (2.70, "drug_equipment", 0.02, 0.72, 0.02),
    "36A": (0.03, "sex", 0.05, 0.21, 0.15),
    "36B": (0.20, "sex", 0.05, 0.21, 0.15),
    "370": (0.30, "vice", 0.30, 0.31, 0.07),
    "39A": (0.01, "vice", 0.05, 0.70, 0.04),
    "39B": (0.01, "vice", 0.05, 0.70, 0.04),
    "39C": (0.01, "vice", 0.05, 0.70, 0.04),
    "40A": (0.15, "vice", 0.02, 0.79, 0.01),
    "40B": (0.05, "vice", 0.05, 0.70, 0.04),
    "40C": (0.03, "vice", 0.02, 0.79, 0.01),
    "510": (0.02, "embezzlement", 0.05, 0.52, 0.07),
    "520": (2.00, "weapons", 0.05, 0.65, 0.02),
    "64A": (0.02, "sex", 0.10, 0.35, 0.07),
    "64B": (0.01, "sex", 0.10, 0.35, 0.07),
    "720": (0.20, "animal_cruelty", 0.20, 0.31, 0.11),
}
MULTI_OFFENSE = 0.11  # incidents with a second offense; a fifth of those have a third
PANEL_ROSTER_YEAR = 1990  # a panel's agencies are drawn as of this year, whatever the file's
# A panel year's share of incidents whose offenses are one of these sets (leading offense
# first), which the SRS hierarchy rule treats each in its own way (reference §2): several
# Part I offenses, arson beside another, the rape variants (11A-11C) and the assaults.
HIERARCHY_CASES = 0.2
HIERARCHY_SETS = (
    ("09A", "13A"), ("11A", "11B"), ("11A", "11C"), ("11B",), ("11C", "11D"), ("120", "13A"),
    ("120", "240"), ("13A", "13B"), ("13A", "220"), ("220", "13B"), ("200", "220"),
    ("200", "13A"), ("200", "23H"), ("220", "240"), ("220", "23F", "240"), ("23C", "23H"),
    ("240", "23F"), ("09C", "13A"), ("11A", "120", "13A"), ("13B", "13C"),
)  # fmt: skip
# victim circumstances by offense (homicide and aggravated assault), in code order
CIRCUMSTANCES = {
    "09A": "01:30 10:35 09:12 06:8 03:5 08:5 04:3 05:2",
    "09B": "34:60 33:20 30:8 31:6 32:6",
    "09C": "20:45 21:55",
    "13A": "01:38 10:30 09:14 06:9 08:4 03:2 02:1.5 04:0.8 05:0.7",
}
JUSTIFIABLE = "A:25 B:10 C:30 D:5 E:20 F:5 G:5"
HOURS = (
    "00:4.6 01:2.6 02:2.4 03:1.9 04:1.4 05:1.3 06:1.8 07:2.8 08:3.9 09:4.1 10:4.3 11:4.4 "
    "12:6.0 13:4.6 14:4.8 15:5.3 16:5.4 17:5.6 18:5.5 19:5.1 20:5.0 21:4.6 22:4.4 23:3.6 -:5"
)  # heaped at 00 and 12, as in the real data; blank = unknown
SEASON = (0.92, 0.85, 0.97, 0.96, 1.03, 1.04, 1.08, 1.07, 1.02, 1.03, 0.98, 0.97)
BIAS = (
    "88:97.3 99:2 12:0.2 11:0.06 21:0.05 41:0.05 14:0.03 32:0.03 24:0.02 43:0.03 62:0.02 "
    "71:0.02 15:0.02 51:0.01 52:0.01 13:0.01 23:0.01 22:0.01 33:0.02"
)
CARGO = "N:97 -:3"
CARGO_THEFT = 0.003  # share of property-crime incidents flagged as cargo theft
EXCEPTIONAL_CODES = "D:46 B:44 E:4 C:4 A:2"
RACE_VICTIM = "W:62 B:26 A:2 I:1 P:0.3 U:8.7"
RACE_OFFENDER = "W:50 B:33 A:1 I:1 P:0.2 U:14.8"
ETHNICITY_VICTIM = "N:68 H:12 U:20"
ETHNICITY_OFFENDER = "N:55 H:10 U:35"
RESIDENT = "R:70 N:14 U:16"
OFFENDER_SEX = "M:72 F:22 U:6"
ARRESTEES = "1:82 2:13 3:5"
ARREST_TYPE_SAME_DAY = "O:60 T:25 S:15"
ARREST_TYPE_LATER = "T:60 S:30 O:10"
MULTIPLE_ARRESTEE = "N:93 M:4 C:3"
ARREST_OTHER_OFFENSE = "90Z:40 13B:10 35A:10 520:8 90C:8 90J:6 90D:4 23H:4 290:4 13C:6"
GROUP_B = "90D:22 90Z:44 90C:8 90J:7 90G:5 90E:5 90F:3 90B:1.5 90A:0.5 90H:0.3"
GROUP_B_ARREST_TYPE = "O:45 T:35 S:20"
GROUP_B_ARMED = "01:96 16:1.5 12:1 11:0.5 17:1"
ARRESTEE_SEX = "M:76 F:24"
WINDOW_ARREST_TYPE = "T:70 S:20 O:10"
WINDOW_OFFENSES = "13B:25 13A:10 23H:15 220:12 290:8 11D:5 23F:8 120:5 26A:6 240:6"
WINDOW_PROPERTY = "03:30 37:6 13:10 77:20 20:8 17:6 26:6 75:8 36:6"
WINDOW_PROPERTY_OFFENSE = "23F:30 23H:30 220:25 120:15"
LEOKA_ACTIVITY = "01:30 02:3 03:2 04:15 05:1 06:10 07:8 08:1 09:5 10:15 11:10"
LEOKA_ASSIGNMENT = "G:45 F:15 H:20 I:2 J:3 K:5 L:10"
DRUG_TYPES = "E:38 L:20 H:9 B:7 A:5 D:6 P:6 U:4 O:2 M:1 K:0.6 N:0.4 C:0.3 F:0.2 I:0.2 J:0.2"
DRUG_UNITS = "GM:66 DU:13 OZ:3 LB:1 KG:1 ML:2 NP:2 XX:12"
DRUG_MEDIAN = {"GM": 3.0, "DU": 4.0, "OZ": 1.5, "LB": 1.5, "KG": 1.2, "ML": 30.0, "NP": 6.0}
DRUG_WHOLE_UNITS = ("DU", "NP")
DRUG_BLOCKS = "1:85 2:12 3:3"
MOTOR_VEHICLES = ("03", "05", "24", "28", "37")
# median value in dollars of an item by property description
PROPERTY_VALUE = {
    "01": 50000, "02": 40, "03": 9000, "04": 350, "05": 30000, "06": 120, "07": 800, "08": 60,
    "09": 5, "11": 15, "13": 450, "16": 300, "17": 900, "19": 90, "20": 300, "21": 500,
    "24": 2500, "25": 60, "26": 500, "28": 15000, "29": 3000, "30": 1500, "31": 2500,
    "33": 1500, "34": 800, "35": 1000, "36": 400, "37": 12000, "38": 400, "39": 5000, "43": 600,
    "48": 10, "65": 25, "66": 1, "68": 300, "71": 350, "75": 600, "76": 250, "77": 250, "78": 2500,
}  # fmt: skip
UNKNOWN_VALUE = 0.04  # share of values reported as 000000001, "unknown"
# log-odds shifts of the clearance model, (arrest, exceptional), per unit of each feature:
# offender unknown, each victim beyond the first, several offenses, date is the report date
FEATURE_EFFECTS = np.array([(-3.2, -2.8), (0.12, 0.08), (0.3, 0.0), (-0.6, -0.2)])
AGENCY_EFFECT_SD = (0.45, 0.5)
LOCATION_EFFECT = {
    **dict.fromkeys(("07", "08", "12", "24", "55", "17", "23", "09", "41"), (0.35, 0.0)),
    "20": (0.05, 0.25),
    "13": (-0.15, 0.0),
    "18": (-0.15, 0.0),
    "58": (-0.8, -0.3),
    "03": (0.2, 0.0),
    "52": (0.2, 0.3),
    "53": (0.2, 0.3),
}
HOUR_EFFECT = {"": (-0.4, -0.2), **{f"{h:02d}": (-0.15, 0.0) for h in range(6)}}


# -- vectorised formatting -------------------------------------------------------------------
def _weights(spec: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in spec.split():
        code, _, weight = item.rpartition(":")
        weights["" if code == "-" else code] = float(weight)
    return weights


def _code_table(codes: list[str], width: int) -> np.ndarray:
    """``len(codes) x width`` bytes: each code left-justified and blank-padded."""
    raw = [c.encode("latin-1") for c in codes]
    if any(len(r) > width for r in raw):
        raise ValueError(f"a code of {codes} is wider than {width}")
    joined = b"".join(r.ljust(width) for r in raw)
    return np.frombuffer(joined, np.uint8).reshape(len(codes), width)


class _Mix:
    """Categorical distributions over one table of fixed-width codes, one row per group.

    A group is usually an offense profile, so a single vectorised draw serves records whose
    distributions differ. The blank code is always in the table; an empty spec draws it.
    """

    def __init__(self, specs: str | list[str], width: int):
        parsed = [_weights(s) or {"": 1.0} for s in ([specs] if isinstance(specs, str) else specs)]
        self.codes = sorted({"", *(c for p in parsed for c in p)})
        self.table = _code_table(self.codes, width)
        self.blank = self.codes.index("")
        weights = np.array([[p.get(c, 0.0) for c in self.codes] for p in parsed])
        cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
        cum[:, -1] = 1.0
        # row g shifted by g: one searchsorted over the concatenation serves every group
        self._flat = (cum + np.arange(len(parsed))[:, None]).ravel()

    def draw(self, rng: np.random.Generator, groups: np.ndarray | int) -> np.ndarray:
        """Code indices: one per element of ``groups``, or ``groups`` draws of group 0."""
        if isinstance(groups, int | np.integer):
            groups = np.zeros(groups, np.int64)
        picked = np.searchsorted(self._flat, rng.random(groups.size) + groups, side="right")
        return picked - groups * len(self.codes)

    def index(self, code: str) -> int:
        return self.codes.index(code)

    def lookup(self, values: dict, default) -> np.ndarray:
        """An attribute of every code, aligned with the table."""
        return np.array([values.get(c, default) for c in self.codes])

    def matches(self, codes) -> np.ndarray:
        """Whether each code of the table is one of ``codes``."""
        return np.isin(self.codes, list(codes))


_POWERS = 10 ** np.arange(11, -1, -1, dtype=np.int64)
_HEX = np.frombuffer(b"0123456789ABCDEF", np.uint8)
_MASK48 = np.uint64((1 << 48) - 1)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-filled decimal digits, ``n x width`` bytes."""
    values = np.asarray(values, np.int64)
    return (values[:, None] // _POWERS[-width:] % 10 + ord("0")).astype(np.uint8)


def _ymd(days: np.ndarray) -> np.ndarray:
    """``YYYYMMDD`` bytes of days since 1970-01-01."""
    dates = np.asarray(days, np.int64).astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    month_number = months.astype(np.int64)
    day = (dates - months).astype(np.int64) + 1
    return _digits((month_number // 12 + 1970) * 10000 + (month_number % 12 + 1) * 100 + day, 8)


def _letter(flags: np.ndarray, yes: str, no: str) -> np.ndarray:
    return np.where(flags, ord(yes), ord(no)).astype(np.uint8)[:, None]


def _scramble48(values: np.ndarray) -> np.ndarray:
    """A bijection of 48-bit integers: distinct inputs give distinct "encrypted" numbers."""
    v = values.astype(np.uint64) & _MASK48
    for multiplier, shift in ((0x9E3779B97F4A7C15, 24), (0xBF58476D1CE4E5B9, 21)):
        v = (v * np.uint64(multiplier)) & _MASK48  # odd multiplier: invertible mod 2**48
        v ^= v >> np.uint64(shift)
    return v


def _hex12(values: np.ndarray) -> np.ndarray:
    shifts = np.arange(44, -1, -4, dtype=np.uint64)
    return _HEX[((values[:, None] >> shifts) & np.uint64(15)).astype(np.intp)]


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owner (row of ``counts``) and 0-based rank of each child record."""
    owner = np.repeat(np.arange(counts.size), counts)
    first = np.cumsum(counts) - counts
    return owner, np.arange(owner.size) - first[owner]


def _lognormal_int(rng, median, sigma: float, size: int | tuple[int, int]) -> np.ndarray:
    return np.rint(median * np.exp(sigma * rng.standard_normal(size))).astype(np.int64)


def _day(year: int, month: int = 1, day: int = 1) -> int:
    return int(np.datetime64(f"{year:04d}-{month:02d}-{day:02d}").astype(np.int64))


@cache
def _codebook() -> _Codebook:
    return _Codebook()


class _Codebook:
    """Every code mix and per-offense attribute as arrays, built once from the tables above."""

    def __init__(self):
        profiles = list(PROFILES)
        specs = list(PROFILES.values())

        def per_profile(attribute: str, width: int) -> _Mix:
            return _Mix([getattr(p, attribute) for p in specs], width)

        codes = sorted(OFFENSES)  # in code order, so sorting indices sorts codes
        self.offense_codes = codes
        self.offense_table = _code_table(codes, 3)
        self.offense_index = {c: i for i, c in enumerate(codes)}
        self.offense = _Mix(" ".join(f"{c}:{OFFENSES[c][0]}" for c in codes), 3)
        self.offense_of_draw = np.array([self.offense_index.get(c, -1) for c in self.offense.codes])
        self.profile = np.array([profiles.index(OFFENSES[c][1]) for c in codes])
        kinds = ("person", "property", "society")
        self.against = np.array([kinds.index(specs[p].against) for p in self.profile])
        self.person = self.against == 0
        unknown, arrest, exceptional = (
            np.array([OFFENSES[c][k] for c in codes]) for k in (2, 3, 4)
        )
        self.unknown_offender = unknown
        self.arrest_logit = np.log(arrest / (1 - arrest - exceptional))
        self.exceptional_logit = np.log(exceptional / (1 - arrest - exceptional))
        self.has_property = np.array([bool(specs[p].loss) for p in self.profile])
        self.has_relationship = np.array([bool(specs[p].relationship) for p in self.profile])
        self.has_injury = np.array([bool(specs[p].injury) for p in self.profile])
        self.circumstance_group = np.array([list(CIRCUMSTANCES).index(c) if c in CIRCUMSTANCES
                                            else -1 for c in codes])  # fmt: skip
        self.burglary = self.offense_index["220"]
        self.hierarchy_sets = np.array([
            [self.offense_index[c] for c in codes] + [-1] * (3 - len(codes))
            for codes in HIERARCHY_SETS
        ])  # fmt: skip
        self.drug_offense = self.offense_index["35A"]

        self.attempted = np.array([p.attempted for p in specs])
        self.report_date = np.array([p.report_date for p in specs])
        self.recovered = np.array([p.recovered for p in specs])
        self.victim_age = np.array([p.victim_age for p in specs])
        self.companions = per_profile("companions", 3)
        self.companion_offense = np.array([self.offense_index.get(c, -1)
                                           for c in self.companions.codes])  # fmt: skip
        self.location = per_profile("location", 2)
        self.victim_type = per_profile("victim_types", 1)
        self.victims = per_profile("victims", 1)
        self.offenders = per_profile("offenders", 1)
        self.using = per_profile("using", 1)
        self.weapon = per_profile("weapon", 2)
        self.firearm = self.weapon.matches(FIREARMS)
        self.activity = per_profile("activity", 1)
        self.injury = per_profile("injury", 1)
        self.relationship = per_profile("relationship", 2)
        self.armed = per_profile("armed", 2)
        self.loss = per_profile("loss", 1)
        self.property = per_profile("property", 2)
        self.items = per_profile("items", 1)
        self.victim_sex = per_profile("victim_sex", 1)
        self.arrestees = _Mix(ARRESTEES, 1)
        self.drug_blocks = _Mix(DRUG_BLOCKS, 1)
        self.count_of = {
            name: np.array([int(c or 0) for c in getattr(self, name).codes])
            for name in ("victims", "offenders", "items", "arrestees", "drug_blocks")
        }
        self.circumstance = _Mix(list(CIRCUMSTANCES.values()), 2)
        self.justifiable = _Mix(JUSTIFIABLE, 1)
        self.hour = _Mix(HOURS, 2)
        self.bias = _Mix(BIAS, 2)
        self.cargo = _Mix(CARGO, 1)
        self.exceptional = _Mix(EXCEPTIONAL_CODES, 1)
        self.victim_race = _Mix(RACE_VICTIM, 1)
        self.offender_race = _Mix(RACE_OFFENDER, 1)
        self.victim_ethnicity = _Mix(ETHNICITY_VICTIM, 1)
        self.offender_ethnicity = _Mix(ETHNICITY_OFFENDER, 1)
        self.resident = _Mix(RESIDENT, 1)
        self.offender_sex = _Mix(OFFENDER_SEX, 1)
        self.arrest_type = _Mix([ARREST_TYPE_SAME_DAY, ARREST_TYPE_LATER], 1)
        self.multiple = _Mix(MULTIPLE_ARRESTEE, 1)
        self.arrest_other = _Mix(ARREST_OTHER_OFFENSE, 3)
        self.group_b = _Mix(GROUP_B, 3)
        self.group_b_type = _Mix(GROUP_B_ARREST_TYPE, 1)
        self.group_b_armed = _Mix(GROUP_B_ARMED, 2)
        self.arrestee_sex = _Mix(ARRESTEE_SEX, 1)
        self.window_arrest_type = _Mix(WINDOW_ARREST_TYPE, 1)
        self.window_offense = _Mix(WINDOW_OFFENSES, 3)
        self.window_property = _Mix(WINDOW_PROPERTY, 2)
        self.window_property_offense = _Mix(WINDOW_PROPERTY_OFFENSE, 3)
        self.leoka_activity = _Mix(LEOKA_ACTIVITY, 2)
        self.leoka_assignment = _Mix(LEOKA_ASSIGNMENT, 1)
        self.drug_type = _Mix(DRUG_TYPES, 1)
        self.drug_unit = _Mix(DRUG_UNITS, 2)
        self.drug_median = self.drug_unit.lookup(DRUG_MEDIAN, 1.0)
        self.drug_whole = self.drug_unit.matches(DRUG_WHOLE_UNITS)
        self.drug_not_reported = self.drug_unit.index("XX")

        self.person_victim = self.victim_type.matches(("I", "L"))
        self.officer = self.victim_type.index("L")
        self.value_median = self.property.lookup(PROPERTY_VALUE, 100)
        self.window_value_median = self.window_property.lookup(PROPERTY_VALUE, 100)
        self.description_number = np.array([int(c or 0) for c in self.property.codes])
        self.motor_vehicle = self.property.matches(MOTOR_VEHICLES)
        self.window_motor_vehicle = self.window_property.matches(MOTOR_VEHICLES)
        self.drug_description = self.property.index("10")
        self.lodging = self.location.matches(("14", "19"))
        self.location_effect = np.array(self.location.lookup(LOCATION_EFFECT, (0.0, 0.0)).tolist())
        self.hour_effect = np.array(self.hour.lookup(HOUR_EFFECT, (0.0, 0.0)).tolist())
        self.age_table = _code_table([f"{a:02d}" for a in range(100)] + ["NN", "NB", "BB"], 2)


# -- agencies and their batch headers ----------------------------------------------------------
@dataclass
class _Agencies:
    """Agencies in file order and what their incidents need, one row per agency."""

    headers: list[dict[str, str]]  # batch-header values by field name
    counts: np.ndarray  # Group A incidents
    start: np.ndarray  # index of the agency's first incident in the file
    state: np.ndarray  # n x 2 bytes
    ori: np.ndarray  # n x 9 bytes
    ori_text: list[str]
    city_submission: np.ndarray  # n x 4 bytes
    month_cum: np.ndarray  # n x 12 cumulative share of incidents by month
    effects: np.ndarray  # n x 2: random effects of clearance by arrest, exceptionally
    encrypted: np.ndarray  # incident numbers "encrypted" (12 hex digits) or plain
    salt: np.ndarray
    template: np.ndarray  # n x 12: the plain-number pattern, prefix and separator
    year_at: np.ndarray  # where a plain number's two year digits go
    digits_at: np.ndarray  # where its sequence digits go
    width: np.ndarray  # how many sequence digits
    first_number: np.ndarray
    # coprime with the agency's count: i -> i * stride mod count permutes its plain numbers,
    # so they follow no order in the file, like the record sets of real agencies
    stride: np.ndarray

    @property
    def end(self) -> np.ndarray:
        return self.start + self.counts

    @property
    def plain_length(self) -> np.ndarray:
        return self.digits_at + self.width


def _date_text(rng, first_year: int, last_year: int) -> str:
    # the earliest files leave no earlier year to draw from (1991, or 2000 for inactivity)
    last_year = max(first_year, last_year)
    day = rng.integers(_day(first_year), _day(last_year + 1))
    return _ymd(np.array([day]))[0].tobytes().decode()


def _place_name(rng) -> str:
    return str(rng.choice(NAME_STARTS) + rng.choice(NAME_ENDS))


def _agency_name(rng, kind: str, county_name: str, abbr: str) -> str:
    place = _place_name(rng)
    names = {
        "2": f"{county_name} COUNTY",
        "3": f"{place} STATE UNIVERSITY" if rng.random() < 0.5 else f"UNIVERSITY OF {place}",
        "4": f"{abbr} STATE PATROL: {county_name} COUNTY",
        "5": f"{place} {rng.choice(['PARK', 'TRANSIT', 'AIRPORT', 'SCHOOL DISTRICT'])} POLICE",
        "6": f"DEPT OF {rng.choice(['NATURAL RESOURCES', 'CORRECTIONS', 'REVENUE'])}",
        "7": f"{place} TRIBAL POLICE",
        "8": f"{rng.choice(['NATIONAL PARK SERVICE', 'VETERANS AFFAIRS', 'FOREST SERVICE'])}",
    }
    return names.get(kind, place)[:30]


def _population_group(kind: str, population: int, msa: bool) -> str:
    if kind == "4":
        return "9E" if msa else "8E"
    if kind == "2":
        bands = ((100_000, "A"), (25_000, "B"), (10_000, "C"), (0, "D"))
        return ("9" if msa else "8") + next(b for floor, b in bands if population >= floor)
    bands = (
        (1_000_000, "1A"), (500_000, "1B"), (250_000, "1C"), (100_000, "2 "), (50_000, "3 "),
        (25_000, "4 "), (10_000, "5 "), (2_500, "6 "),
    )  # fmt: skip
    return next((g for floor, g in bands if population >= floor), "7 ")


def _state_agencies(rng, year: int, state: tuple, count: int) -> list[dict]:
    """One state's agencies, sorted by ORI: a sheriff per county, the rest spread over them."""
    code, abbr, division, _ = state
    n_counties = min(250, max(1, count // 6))
    counties = np.sort(
        rng.choice(np.arange(1, min(3 * n_counties + 2, 500)), n_counties, replace=False)
    )
    county_names = {c: _place_name(rng) for c in counties}
    field_office = f"{rng.integers(1000, 9999)}"
    districts = [f"{rng.integers(1, 99):03d}" + ("A" if count < 40 else rng.choice(list("NSEWMC")))
                 for _ in range(1 + count // 150)]  # fmt: skip
    kinds = _Mix(AGENCY_KINDS, 1)
    agencies = [{"kind": "2", "county": c, "ori": f"{abbr}{c:03d}0000"} for c in counties]
    numbered = dict.fromkeys(counties, 0)
    patrolled: set[int] = set()
    for kind_index in kinds.draw(rng, count - n_counties):
        kind = kinds.codes[kind_index]
        county = int(rng.choice([c for c in counties if numbered[c] < 99]))
        if kind == "4" and county not in patrolled:
            patrolled.add(county)
            ori = f"{abbr}{county:03d}SP00"
        else:
            numbered[county] += 1
            ori = f"{abbr}{county:03d}{numbered[county]:02d}00"
        agencies.append({"kind": kind, "county": county, "ori": ori})
    agencies.sort(key=lambda a: a["ori"])
    sheriffs = {a["county"]: a["ori"] for a in agencies if a["kind"] == "2"}
    for agency in agencies:
        kind, county = agency["kind"], agency["county"]
        if kind in ("1", "0"):
            population = int(min(4_000_000, rng.lognormal(np.log(9000), 1.4)))
        elif kind == "2":
            population = int(max(500, min(1_200_000, rng.lognormal(np.log(18000), 1.1))))
        else:
            population = 0
        msa = bool(rng.random() < (0.85 if population > 50_000 else 0.55))
        spread = [county]
        if population and rng.random() < 0.1:
            spread += [int(c) for c in rng.choice(counties, rng.integers(1, 3)) if c != county]
        shares = rng.dirichlet(np.full(len(spread), 4.0)) if len(spread) > 1 else np.ones(1)
        name = _agency_name(rng, kind, county_names[county], abbr)
        values = {
            "state_code": f"{code:02d}",
            "ori": agency["ori"],
            "incident_number": "0" * 12,
            "city_name": name,
            "state_abbr": abbr,
            "population_group": _population_group(kind, population, msa),
            "country_division": str(division),
            "country_region": str(DIVISION_REGION[division]),
            "agency_indicator": kind,
            "core_city": "Y" if kind == "1" and rng.random() < population / 200_000 else "N",
            "covered_by_ori": sheriffs.get(county, "") if kind == "0" else "",
            "fbi_field_office": field_office,
            "judicial_district": str(rng.choice(districts)),
            "date_ori_added": _date_text(rng, 1985, year) if rng.random() < 0.15 else "",
            "master_file_year": f"{year:04d}",
        }
        for slot in range(1, 6):
            used = slot <= len(spread)
            part = round(population * shares[slot - 1]) if used else 0
            county_code = spread[slot - 1] if used else None
            values |= {
                f"current_population_{slot}": f"{part:09d}",
                f"ucr_county_code_{slot}": f"{county_code:03d}" if used else "",
                f"msa_code_{slot}": f"{rng.integers(1, 410):>3d}" if used and msa else "",
                f"last_population_{slot}": f"{0:09d}",
                f"fips_county_{slot}": f"{2 * county_code - 1:03d}" if used else "",
            }
        agency |= {"population": population, "values": values}
    return agencies


def _build_agencies(
    year: int,
    incidents: int,
    rng: np.random.Generator,
    *,
    n_agencies: int | None = None,
    year_rng: np.random.Generator | None = None,
) -> _Agencies:
    """Agencies of the chosen states, with reporting months and incidents allocated to them.

    ``n_agencies`` overrides the count that follows from ``incidents``. With ``year_rng`` (a
    panel), the agencies themselves come from ``rng`` alone, the same in every year of a seed,
    and what changes from year to year (who reports which months, how many incidents, the
    NIBRS start dates) is drawn from ``year_rng``.
    """
    if n_agencies is None:
        n_agencies = round(incidents / INCIDENTS_PER_AGENCY)
    n_agencies = int(np.clip(n_agencies, MIN_AGENCIES, MAX_AGENCIES))
    # a panel's agencies must not depend on the year: their "added" dates are drawn before it
    roster_year = year if year_rng is None else PANEL_ROSTER_YEAR
    weights = np.array([s[3] for s in STATES])
    n_states = min(len(STATES), max(2, n_agencies // 10))
    chosen = np.sort(rng.choice(len(STATES), n_states, replace=False, p=weights / weights.sum()))
    per_state = 1 + rng.multinomial(n_agencies - n_states, weights[chosen] / weights[chosen].sum())
    plain = rng.random(n_states) < PLAIN_NUMBER_STATES
    if plain.all() or not plain.any():  # both styles in every file
        plain[rng.integers(n_states)] ^= True
    agencies: list[dict] = []
    for state, count, state_plain in zip(chosen, per_state, plain, strict=True):
        for agency in _state_agencies(rng, roster_year, STATES[state], int(count)):
            agencies.append(agency | {"plain": bool(state_plain)})
    renamed = rng.random(len(agencies)) < LATIN1_SHARE
    renamed[rng.integers(len(agencies))] = True  # at least one in every file
    for i in np.flatnonzero(renamed):
        agencies[i]["values"]["city_name"] = str(rng.choice(LATIN1_NAMES))

    n = len(agencies)
    kind = np.array([a["kind"] for a in agencies])
    population = np.array([a["population"] for a in agencies], dtype=float)
    draw = rng if year_rng is None else year_rng  # what a panel draws anew each year
    reporting = (kind != "0") & (draw.random(n) >= NON_REPORTING)
    # yearly incidents expected: per capita for cities and counties, a base for the others
    base = {"3": 150, "4": 2000, "5": 300, "6": 200, "7": 400, "8": 100}
    scale = np.array([base.get(k, 0) for k in kind], dtype=float)
    rate = draw.lognormal(np.log(0.035), 0.35, n)
    expected = np.where(population > 0, population * rate, scale * draw.lognormal(0, 0.8, n))

    months = np.zeros((n, 12), bool)
    starts = np.zeros(n, np.int64)
    for i in np.flatnonzero(reporting):
        mode = draw.random()
        if mode < 0.85:
            months[i] = True
        elif mode < 0.93:
            starts[i] = draw.integers(1, 12)
            months[i, starts[i] :] = True
        else:
            months[i] = draw.random(12) < 0.7
            months[i, draw.integers(12)] = True
    expected *= months.sum(1) / 12
    monthly = incidents * expected / max(expected.sum(), 1e-9) / np.maximum(months.sum(1), 1)
    # a month in which the agency had nothing to report is sent as a zero report
    zero = months & (draw.random((n, 12)) < np.exp(-monthly)[:, None])
    active = months & ~zero
    if incidents and not active.any():
        active[np.argmax(expected)] = months[np.argmax(expected)] = True
        zero[np.argmax(expected)] = False
    window = active & (draw.random((n, 12)) < 0.04)  # months with window records submitted
    days = np.diff([_day(year, m) for m in range(1, 13)] + [_day(year + 1)])
    by_month = active * days * np.array(SEASON)
    totals = by_month.sum(1)
    weight = totals * expected
    counts = draw.multinomial(incidents, weight / weight.sum()) if incidents else np.zeros(n, int)
    month_cum = np.cumsum(by_month / np.maximum(totals, 1e-12)[:, None], axis=1)
    month_cum[:, -1] = 1.0

    headers = []
    for i, agency in enumerate(agencies):
        values = agency["values"]
        reported = int(months[i].sum())
        if reporting[i]:
            went = (f"{year}{starts[i] + 1:02d}01" if starts[i] else
                    _date_text(draw, year + 1, year + 2) if draw.random() < 0.07 else
                    _date_text(draw, 1991, year - 1))  # fmt: skip
        else:
            went = _date_text(draw, year + 1, year + 3) if draw.random() < 0.45 else ""
        values |= {
            "date_ori_went_nibrs": went,
            "agency_nibrs_flag": "A" if reporting[i] else "",
            "agency_inactive_date": _date_text(draw, 2000, year - 1)
            if not reporting[i] and kind[i] != "0" and draw.random() < 0.25
            else "",
            "ind_01_06_12": next((f"{k:02d}" for k in (12, 6, 1) if reported >= k), ""),
            "months_reported": f"{reported:02d}",
            "master_file_year": f"{year:04d}",  # a panel's roster was drawn for another
        }
        for m, month in enumerate(MONTHS):
            values |= {
                f"{month}_zero_report": "Y" if zero[i, m] else "N",
                f"{month}_group_a_b": "Y" if active[i, m] else "N",
                f"{month}_window": "Y" if window[i, m] else "N",
            }
        headers.append(values)

    letters = list("ABCDEFGHJKLMNPRSTWXZ")
    prefixes = [
        "" if rng.random() < 0.6 else "".join(rng.choice(letters, rng.integers(1, 3)))
        for _ in range(n)
    ]
    separators = rng.choice(["", "-", " "], n, p=[0.65, 0.25, 0.10])
    first_number = rng.integers(1, 3000, n)
    width = np.array([
        min(max(len(str(first_number[i] + counts[i])), int(rng.choice([5, 6, 6, 7]))),
            10 - len(prefixes[i]) - len(separators[i]))
        for i in range(n)
    ])  # fmt: skip
    year_at = np.array([len(p) for p in prefixes])
    digits_at = year_at + 2 + np.array([len(s) for s in separators])
    template = _code_table([f"{p}YY{s}" for p, s in zip(prefixes, separators, strict=True)], 12)
    city_submission = [
        f"{a['values']['state_abbr']}{rng.integers(1, 99):02d}" if rng.random() < 0.03 else ""
        for a in agencies
    ]
    return _Agencies(
        headers=headers,
        counts=counts.astype(np.int64),
        start=(np.cumsum(counts) - counts).astype(np.int64),
        state=_code_table([h["state_code"] for h in headers], 2),
        ori=_code_table([h["ori"] for h in headers], 9),
        ori_text=[h["ori"] for h in headers],
        city_submission=_code_table(city_submission, 4),
        month_cum=month_cum,
        effects=rng.normal(0.0, AGENCY_EFFECT_SD, (n, 2)),
        encrypted=~np.array([a["plain"] for a in agencies]),
        salt=rng.integers(0, 1 << 48, n, dtype=np.uint64),
        template=template,
        year_at=year_at,
        digits_at=digits_at,
        width=width,
        first_number=first_number,
        stride=np.array([_coprime(rng, int(c)) for c in counts]),
    )


def _coprime(rng, n: int) -> int:
    """A random stride in 1..n-1 sharing no factor with ``n`` (1 when n <= 2)."""
    while True:
        stride = int(rng.integers(1, max(n, 2)))
        if math.gcd(stride, n) == 1:
            return stride


def _render_header(layout: RecordLayout, values: dict[str, str], nul_fill: bool) -> bytes:
    """One batch-header record; fields past the real record length (BH's LEOKA date) are left
    out, as real files do."""
    line = bytearray(b" " * layout.length)
    for field in layout.fields:
        value = layout.record_type if field.name == "segment_level" else values.get(field.name)
        if not value or field.end > layout.length:
            continue
        raw = value.encode("latin-1")
        if len(raw) > field.length:
            raise ValueError(f"{layout.record_type}.{field.name}: {value!r} is too long")
        line[field.offset : field.end] = raw.ljust(field.length)
    if nul_fill:
        field = layout.field("incident_number")
        line[field.offset : field.end] = bytes(field.length)
    return bytes(line)


# -- one block of incidents --------------------------------------------------------------------
class _Records:
    """``n`` records of one type: an ``n x (length + line end)`` byte matrix filled by name.

    ``owner`` is each record's incident within the block and ``rank`` its place among the
    records of the same type in that incident's set, which fixes its line offset.
    """

    def __init__(self, layout: RecordLayout, owner: np.ndarray, rank: np.ndarray, eol: bytes):
        self.layout = layout
        self.owner = owner
        self.rank = rank
        self.eol = eol
        self._fields = {f.name: f for f in layout.fields}
        self.bytes = np.full((owner.size, layout.length + len(eol)), BLANK, np.uint8)
        self.bytes[:, layout.length :] = np.frombuffer(eol, np.uint8)
        self.put("segment_level", layout.record_type.encode())

    def __len__(self) -> int:
        return self.owner.size

    def relaid(self, rows: np.ndarray, layout: RecordLayout) -> _Records:
        """These records' ``rows`` in ``layout``, this one or a variant of it: each field is
        copied by name, a widened one left-justified (its added bytes stay blank)."""
        picked = self.bytes[rows]
        out = _Records(layout, self.owner[rows], self.rank[rows], self.eol)
        for field in layout.fields:
            source = self._fields[field.name]
            out.bytes[:, field.offset : field.offset + source.length] = picked[
                :, source.offset : source.end
            ]
        return out

    def put(self, name: str, values: np.ndarray | bytes, rows: np.ndarray | None = None) -> None:
        field = self._fields[name]
        if isinstance(values, bytes):
            values = np.frombuffer(values, np.uint8)
        if values.shape[-1] != field.length:
            raise ValueError(
                f"{self.layout.record_type}.{name}: {values.shape[-1]} bytes for a "
                f"{field.length}-byte field"
            )
        if rows is None:
            self.bytes[:, field.offset : field.end] = values
        else:
            self.bytes[rows, field.offset : field.end] = values


@dataclass
class _Incidents:
    """One block's Group A incidents: per-incident arrays, child-slot arrays ``n x k``."""

    agency: np.ndarray
    local: np.ndarray  # index of the incident within its agency
    number: np.ndarray  # n x 12 bytes
    day: np.ndarray  # days since 1970-01-01
    date: np.ndarray  # n x 8 bytes
    primary: np.ndarray  # the leading offense
    offenses: np.ndarray  # n x 3 offense indices in code order, -1 = none
    attempted: np.ndarray  # n x 3
    victims: np.ndarray
    unknown_offender: np.ndarray
    offenders: np.ndarray  # known offenders; the 05 count is 1 when they are unknown
    location: np.ndarray
    hour: np.ndarray
    report_date: np.ndarray
    bias: np.ndarray
    p_arrest: np.ndarray
    p_exceptional: np.ndarray
    outcome: np.ndarray
    arrestees: np.ndarray  # 06 records: 1-3 when cleared by arrest, at most the offenders

    def __len__(self) -> int:
        return self.agency.size

    @property
    def offense_count(self) -> np.ndarray:
        return (self.offenses >= 0).sum(1)

    def first_offense(self, flags: np.ndarray) -> np.ndarray:
        """The primary offense if ``flags`` holds for it, else the first that it holds for."""
        valid = self.offenses >= 0
        hits = valid & flags[np.where(valid, self.offenses, 0)]
        first = self.offenses[np.arange(len(self)), np.argmax(hits, axis=1)]
        chosen = np.where(flags[self.primary], self.primary, first)
        return np.where(hits.any(1), chosen, -1)


class _BlockMaker:
    """Generates blocks of the member text; each block depends only on the seed and its number."""

    def __init__(self, year: int, agencies: _Agencies, seed: int, *, crlf: bool,
                 legacy_headers: bool, nul_fill: bool, trim_lines: bool,
                 panel: bool = False):  # fmt: skip
        self.year = year
        # a panel's years draw their incidents apart (else every year repeats the first), and
        # a share of them exercise the SRS hierarchy rule
        self.panel = panel
        self.hierarchy_cases = panel
        self.agencies = agencies
        self.seed = seed
        self.trim_lines = trim_lines
        self.eol = b"\r\n" if crlf else b"\n"
        self.layouts = load_layouts()
        # record type -> this year's layout variants, each with which agencies write that
        # type in it: those of its state, as the decoder tells them by the state code
        self.variants: dict[str, list[tuple[LayoutVariant, np.ndarray]]] = {}
        for variant in load_variants():
            if variant.data_year == year:
                code = np.frombuffer(variant.state_code.encode(), np.uint8)
                uses = (agencies.state == code).all(axis=1)
                self.variants.setdefault(variant.layout.record_type, []).append((variant, uses))
        self.cb = _codebook()
        self.header_types = LEGACY_HEADER_TYPES if legacy_headers else HEADER_TYPES
        self.header_lines = []
        for values in agencies.headers:
            lines = [_render_header(self.layouts[rt], values, nul_fill) for rt in self.header_types]
            if trim_lines:
                lines = [line.rstrip(b" ") for line in lines]
            self.header_lines.append(b"".join(line + self.eol for line in lines))

    def block(self, number: int, first: int, count: int, total: int):
        """Text of incidents ``first .. first+count`` with the batch headers due before them,
        the truth rows of those incidents, and records written by type."""
        rng = np.random.default_rng(
            [self.seed, 1, number, self.year] if self.panel else [self.seed, 1, number]
        )
        ag = self.agencies
        # headers of agencies whose first incident is here; ones with none go before the next
        due = np.flatnonzero((ag.start >= first) & ((ag.start < first + count) |
                             ((ag.start == total) & (first + count == total))))  # fmt: skip
        before: dict[int, list[int]] = {}
        for a in due:
            before.setdefault(int(ag.start[a] - first), []).append(int(a))
        counts = dict.fromkeys(self.header_types, len(due))
        if count == 0:
            return b"".join(self.header_lines[a] for a in due), TRUTH_SCHEMA.empty_table(), counts
        inc = self._incidents(rng, first, count)
        parts = [
            self._administrative(rng, inc),
            self._offenses(rng, inc),
            self._property(rng, inc),
            *self._people(rng, inc),
            *self._between_sets(rng, inc, first_block=number == 0),
        ]
        for part in parts:  # a type some states write in a variant layout comes in two parts
            counts[part.layout.record_type] = counts.get(part.layout.record_type, 0) + len(part)
        text = memoryview(self._assemble(parts, count, before))
        return text, self._truth(inc), counts

    # -- incidents -------------------------------------------------------------------------------
    def _incidents(self, rng, first: int, count: int) -> _Incidents:
        cb, ag = self.cb, self.agencies
        index = np.arange(first, first + count)
        agency = np.searchsorted(ag.end, index, side="right")
        local = index - ag.start[agency]
        primary = cb.offense_of_draw[cb.offense.draw(rng, count)]
        profile = cb.profile[primary]

        offenses = np.full((count, 3), -1)
        offenses[:, 0] = primary
        multi = rng.random(count) < MULTI_OFFENSE
        for slot, share in ((1, 1.0), (2, 0.2)):
            more = multi & (rng.random(count) < share)
            offenses[more, slot] = cb.companion_offense[cb.companions.draw(rng, profile[more])]
        offenses[:, 2] = np.where((offenses[:, 2] == offenses[:, 1]) | (offenses[:, 2] == primary),
                                  -1, offenses[:, 2])  # fmt: skip
        offenses[:, 1] = np.where(offenses[:, 1] == primary, -1, offenses[:, 1])
        if self.hierarchy_cases:
            cases = np.flatnonzero(rng.random(count) < HIERARCHY_CASES)
            sets = cb.hierarchy_sets[rng.integers(len(HIERARCHY_SETS), size=cases.size)]
            offenses[cases] = sets
            primary = primary.copy()
            primary[cases] = sets[:, 0]
            profile = cb.profile[primary]
        offenses = np.sort(np.where(offenses < 0, len(cb.offense_codes), offenses), axis=1)
        offenses[offenses == len(cb.offense_codes)] = -1
        valid = offenses >= 0
        attempted = valid & (
            rng.random((count, 3)) < cb.attempted[cb.profile[np.maximum(offenses, 0)]]
        )

        victims = cb.count_of["victims"][cb.victims.draw(rng, profile)]
        unknown = rng.random(count) < cb.unknown_offender[primary]
        offenders = cb.count_of["offenders"][cb.offenders.draw(rng, profile)]
        location = cb.location.draw(rng, profile)
        hour = cb.hour.draw(rng, count)
        report_date = rng.random(count) < cb.report_date[profile]

        month = (ag.month_cum[agency] <= rng.random(count)[:, None]).sum(1)
        month_start = np.array([_day(self.year, m) for m in range(1, 13)] + [_day(self.year + 1)])
        length = month_start[month + 1] - month_start[month]
        day = month_start[month] + (rng.random(count) * length).astype(np.int64)

        features = np.column_stack([unknown, victims - 1, valid[:, 1:].any(1), report_date])
        p_arrest, p_exceptional = self._clearance(primary, features, location, hour, agency)
        draw = rng.random(count)
        outcome = np.select([draw < p_arrest, draw < p_arrest + p_exceptional],
                            [ARREST, EXCEPTIONAL], OPEN)  # fmt: skip
        wanted = cb.count_of["arrestees"][cb.arrestees.draw(rng, count)]
        limit = np.where(unknown, 1, offenders)
        return _Incidents(
            agency=agency, local=local, number=self._numbers(agency, local, 0, self.year),
            day=day, date=_ymd(day), primary=primary, offenses=offenses, attempted=attempted,
            victims=victims, unknown_offender=unknown, offenders=offenders, location=location,
            hour=hour, report_date=report_date, bias=cb.bias.draw(rng, count), p_arrest=p_arrest,
            p_exceptional=p_exceptional, outcome=outcome,
            arrestees=np.where(outcome == ARREST, np.minimum(wanted, limit), 0),
        )  # fmt: skip

    def _clearance(self, primary, features, location, hour, agency) -> tuple[np.ndarray, ...]:
        """The truth: P(cleared by arrest) and P(cleared exceptionally), a multinomial logit.

        The base log-odds come from the leading offense; ``features`` (offender unknown,
        extra victims, several offenses, report date) and the location, the hour and the
        agency (a random effect) shift them.
        """
        cb = self.cb
        effect = (features @ FEATURE_EFFECTS + cb.location_effect[location]
                  + cb.hour_effect[hour] + self.agencies.effects[agency])  # fmt: skip
        arrest = np.exp(cb.arrest_logit[primary] + effect[:, 0])
        exceptional = np.exp(cb.exceptional_logit[primary] + effect[:, 1])
        return arrest / (1 + arrest + exceptional), exceptional / (1 + arrest + exceptional)

    def _numbers(self, agency, sequence, space: int, year: int | np.ndarray) -> np.ndarray:
        """Incident numbers: 12 "encrypted" hex digits, distinct per agency and ``space``
        (incidents, each window type), or the agency's plain left-justified pattern, whose
        year keeps the older window incidents apart from the file year's."""
        ag = self.agencies
        out = np.empty((agency.size, 12), np.uint8)
        encrypted = ag.encrypted[agency]
        scrambled = _scramble48(sequence[encrypted] + (np.int64(space) << 40))
        out[encrypted] = _hex12(scrambled ^ ag.salt[agency[encrypted]])
        plain = ~encrypted
        a = agency[plain]
        seq = sequence[plain] * ag.stride[a] % np.maximum(ag.counts[a], 1) + ag.first_number[a]
        rows = np.arange(a.size)
        numbers = ag.template[a]
        years = np.broadcast_to(np.asarray(year) % 100, agency.shape)[plain]
        numbers[rows, ag.year_at[a]] = years // 10 + ord("0")
        numbers[rows, ag.year_at[a] + 1] = years % 10 + ord("0")
        digits = _digits(seq, 7)
        columns = np.arange(12)
        at = columns - ag.digits_at[a][:, None] + 7 - ag.width[a][:, None]
        inside = (columns >= ag.digits_at[a][:, None]) & (at < 7)
        numbers[inside] = np.take_along_axis(digits, np.clip(at, 0, 6), axis=1)[inside]
        out[plain] = numbers
        return out

    def _keyed(self, record_type: str, inc: _Incidents, owner, rank, *, dated: bool = True):
        records = _Records(self.layouts[record_type], owner, rank, self.eol)
        agency = inc.agency[owner]
        records.put("state_code", self.agencies.state[agency])
        records.put("ori", self.agencies.ori[agency])
        if record_type != "07":
            records.put("incident_number", inc.number[owner])
        if dated:
            records.put("incident_date", inc.date[owner])
        return records

    # -- record types ----------------------------------------------------------------------------
    def _administrative(self, rng, inc: _Incidents) -> _Records:
        cb, n = self.cb, len(inc)
        rec = self._keyed("01", inc, np.arange(n), np.zeros(n, np.int64))
        rec.put("report_date_indicator", b"R", rows=inc.report_date)
        rec.put("incident_hour", cb.hour.table[inc.hour])
        rec.put("total_offense_segments", _digits(inc.offense_count, 2))
        rec.put("total_victim_segments", _digits(inc.victims, 3))
        rec.put(
            "total_offender_segments", _digits(np.where(inc.unknown_offender, 1, inc.offenders), 2)
        )
        rec.put("total_arrestee_segments", _digits(inc.arrestees, 2))
        rec.put("city_submission", self.agencies.city_submission[inc.agency])
        exceptional = np.flatnonzero(inc.outcome == EXCEPTIONAL)
        reason = cb.exceptional.draw(rng, exceptional.size)
        rec.put("cleared_exceptionally", b"N")
        rec.put("cleared_exceptionally", cb.exceptional.table[reason], rows=exceptional)
        later = _lognormal_int(rng, 12.0, 1.1, exceptional.size).clip(0, 300)
        rec.put("exceptional_clearance_date", _ymd(inc.day[exceptional] + later), rows=exceptional)
        cargo = cb.cargo.table[cb.cargo.draw(rng, n)]
        cargo[(inc.first_offense(cb.has_property) >= 0) & (rng.random(n) < CARGO_THEFT)] = ord("Y")
        rec.put("cargo_theft_indicator", cargo)
        return rec

    def _offenses(self, rng, inc: _Incidents) -> _Records:
        cb = self.cb
        owner, rank = _expand(inc.offense_count)
        code = inc.offenses[owner, rank]
        profile = cb.profile[code]
        rec = self._keyed("02", inc, owner, rank)
        rec.put("ucr_offense_code", cb.offense_table[code])
        rec.put("attempted_completed", _letter(inc.attempted[owner, rank], "A", "C"))
        using = cb.using.draw(rng, profile)
        rec.put("offender_suspected_of_using_1", cb.using.table[using])
        also_drugs = (using == cb.using.index("A")) & (rng.random(code.size) < 0.15)
        rec.put("offender_suspected_of_using_2", b"D", rows=also_drugs)
        location = inc.location[owner]
        rec.put("location_type", cb.location.table[location])
        burglary = code == cb.burglary
        premises = burglary & cb.lodging[location]
        entered = np.minimum(rng.geometric(0.55, int(premises.sum())), 99)
        rec.put("premises_entered", _digits(entered, 2), rows=premises)
        rec.put("method_of_entry", _letter(rng.random(int(burglary.sum())) < 0.62, "F", "N"),
                rows=burglary)  # fmt: skip
        activity = cb.activity.draw(rng, profile)
        rec.put("criminal_activity_1", cb.activity.table[activity])
        second = cb.activity.draw(rng, profile)
        two = (rng.random(code.size) < 0.15) & (second != activity) & (code == cb.drug_offense)
        rec.put("criminal_activity_2", cb.activity.table[second[two]], rows=two)
        weapon = cb.weapon.draw(rng, profile)
        rec.put("weapon_force_1", cb.weapon.table[weapon])
        rec.put("automatic_1", b"A", rows=cb.firearm[weapon] & (rng.random(code.size) < 0.05))
        other = cb.weapon.draw(rng, profile)
        two = (rng.random(code.size) < 0.08) & (other != weapon) & (weapon != cb.weapon.blank)
        rec.put("weapon_force_2", cb.weapon.table[other[two]], rows=two)
        rec.put("bias_motivation", cb.bias.table[inc.bias[owner]])
        return rec

    def _property(self, rng, inc: _Incidents) -> _Records:
        """One record per (loss type, description) of the incident's property offense: the
        items stolen, damaged, seized..., those of them recovered (loss type 5), or a lone
        "none" (loss type 1) when the offense was only attempted."""
        cb, n = self.cb, len(inc)
        offense = inc.first_offense(cb.has_property)
        has = offense >= 0
        profile = cb.profile[np.maximum(offense, 0)]
        slot = np.argmax(inc.offenses == offense[:, None], axis=1)
        attempted = has & inc.attempted[np.arange(n), slot]
        items = cb.count_of["items"][cb.items.draw(rng, profile)]
        description = np.stack([cb.property.draw(rng, profile) for _ in range(3)], axis=1)
        distinct = np.ones((n, 3), bool)
        distinct[:, 1] = description[:, 1] != description[:, 0]
        distinct[:, 2] = (description[:, 2] != description[:, 0]) & (
            description[:, 2] != description[:, 1])  # fmt: skip
        described = (has & ~attempted)[:, None] & (np.arange(3) < items[:, None]) & distinct
        loss = cb.loss.table[cb.loss.draw(rng, profile), 0]
        recovered = described & (loss == ord("7"))[:, None] & (
            rng.random((n, 3)) < cb.recovered[profile][:, None])  # fmt: skip
        value = _lognormal_int(rng, cb.value_median[description], 1.1, (n, 3)).clip(0, 999_999)
        recovered_value = np.rint(value * rng.uniform(0.3, 1.0, (n, 3))).astype(np.int64)

        # candidates n x 7: three items, their three recoveries, the "none" of an attempt
        keep = np.hstack([described, recovered, attempted[:, None]])
        losses = np.hstack([np.repeat(loss[:, None], 3, axis=1), np.full((n, 3), ord("5")),
                            np.full((n, 1), ord("1"))]).astype(np.uint8)  # fmt: skip
        descriptions = np.hstack([description, description, np.full((n, 1), cb.property.blank)])
        values = np.hstack([value, recovered_value, np.zeros((n, 1), np.int64)])
        owner, column = np.nonzero(keep)
        loss_code, desc, item_value = (a[owner, column] for a in (losses, descriptions, values))
        order = np.lexsort((cb.description_number[desc], loss_code, owner))
        owner, loss_code, desc, item_value = (
            a[order] for a in (owner, loss_code, desc, item_value)
        )
        is_recovery = (column[order] >= 3) & (column[order] < 6)
        rank = _expand(np.bincount(owner, minlength=n))[1]

        rec = self._keyed("03", inc, owner, rank)
        rec.put("type_property_loss", loss_code[:, None])
        rec.put("property_description", cb.property.table[desc])
        drugs = desc == cb.drug_description
        valued = (loss_code != ord("1")) & ~drugs  # seized drugs carry no value
        unknown = rng.random(owner.size) < UNKNOWN_VALUE
        rec.put("property_value", _digits(np.where(unknown, 1, item_value)[valued], 9), rows=valued)
        later = _lognormal_int(rng, 3.0, 1.3, int(is_recovery.sum())).clip(0, 120)
        rec.put("date_recovered", _ymd(inc.day[owner[is_recovery]] + later), rows=is_recovery)
        vehicles = cb.motor_vehicle[desc]
        rec.put("num_stolen_motor_vehicles", b"01", rows=vehicles & (loss_code == ord("7")))
        rec.put("num_recovered_motor_vehicles", b"01", rows=vehicles & is_recovery)
        self._drugs(rng, rec, drugs)
        return rec

    def _drugs(self, rng, rec: _Records, rows: np.ndarray) -> None:
        """Up to three distinct (type, quantity, unit) blocks on each seized-drug record."""
        cb = self.cb
        where = np.flatnonzero(rows)
        wanted = cb.count_of["drug_blocks"][cb.drug_blocks.draw(rng, where.size)]
        taken = np.full((where.size, 3), -1)
        for slot in range(3):
            kind = cb.drug_type.draw(rng, where.size)
            use = (slot < wanted) & ~(taken == kind[:, None]).any(1)
            taken[use, slot] = kind[use]
            unit = cb.drug_unit.draw(rng, where.size)
            quantity = cb.drug_median[unit] * np.exp(1.4 * rng.standard_normal(where.size))
            milli = np.where(cb.drug_whole[unit], np.maximum(np.rint(quantity), 1) * 1000,
                             np.maximum(np.rint(quantity * 1000), 1))  # fmt: skip
            # "not reported" (XX) comes with a quantity of 1
            milli = np.where(unit == cb.drug_not_reported, 1000, milli).astype(np.int64)
            at, n = where[use], slot + 1
            rec.put(f"suspected_drug_type_{n}", cb.drug_type.table[kind[use]], rows=at)
            rec.put(f"est_drug_quantity_{n}", _digits(milli[use] // 1000, 9), rows=at)
            rec.put(f"est_drug_quantity_thousandths_{n}", _digits(milli[use] % 1000, 3), rows=at)
            rec.put(f"drug_measurement_{n}", cb.drug_unit.table[unit[use]], rows=at)

    def _people(self, rng, inc: _Incidents) -> list[_Records]:
        offenders, offender_people = self._offenders(rng, inc)
        victims = self._victims(rng, inc)
        arrestees = self._arrestees(rng, inc, offender_people)
        return [victims, offenders, *arrestees]

    def _victims(self, rng, inc: _Incidents) -> _Records:
        cb = self.cb
        owner, rank = _expand(inc.victims)
        profile = cb.profile[inc.primary[owner]]
        kind = cb.victim_type.draw(rng, profile)
        person = cb.person_victim[kind]
        rec = self._keyed("04", inc, owner, rank)
        rec.put("victim_sequence_number", _digits(rank + 1, 3))
        # the incident's offenses, less those against persons when the victim is not one
        offenses = inc.offenses[owner]
        against_person = (offenses >= 0) & cb.person[np.maximum(offenses, 0)]
        offenses = np.where(against_person & ~person[:, None], len(cb.offense_codes), offenses)
        offenses = np.sort(np.where(offenses < 0, len(cb.offense_codes), offenses), axis=1)
        for slot in range(3):
            listed = offenses[:, slot] < len(cb.offense_codes)
            rec.put(f"victim_ucr_offense_{slot + 1}", cb.offense_table[offenses[listed, slot]],
                    rows=listed)  # fmt: skip
        rec.put("victim_type", cb.victim_type.table[kind])

        people, m = np.flatnonzero(person), int(person.sum())
        mean, sd = cb.victim_age[profile[people]].T
        age = np.rint(rng.normal(mean, sd)).clip(1, 97).astype(np.int64)
        odd = rng.random(m)
        age[odd < 0.02] = 0  # unknown
        infant = (odd >= 0.02) & (odd < 0.023) & cb.person[inc.primary[owner[people]]]
        age[infant] = 100 + rng.integers(0, 3, int(infant.sum()))  # NN, NB, BB
        rec.put("victim_age", cb.age_table[age], rows=people)
        rec.put("victim_sex", cb.victim_sex.table[cb.victim_sex.draw(rng, profile[people])],
                rows=people)  # fmt: skip
        rec.put("victim_race", cb.victim_race.table[cb.victim_race.draw(rng, m)], rows=people)
        rec.put("victim_ethnicity", cb.victim_ethnicity.table[cb.victim_ethnicity.draw(rng, m)],
                rows=people)  # fmt: skip
        rec.put("victim_resident_status", cb.resident.table[cb.resident.draw(rng, m)], rows=people)

        offense = inc.first_offense(cb.circumstance_group >= 0)[owner]
        rows = person & (offense >= 0)
        group = cb.circumstance_group[offense[rows]]
        circumstance = cb.circumstance.draw(rng, group)
        rec.put("agg_assault_homicide_circ_1", cb.circumstance.table[circumstance], rows=rows)
        justifiable = np.flatnonzero(rows)[group == list(CIRCUMSTANCES).index("09C")]
        drawn = cb.justifiable.draw(rng, justifiable.size)
        rec.put("additional_justifiable_homicide_circ", cb.justifiable.table[drawn],
                rows=justifiable)  # fmt: skip

        offense = inc.first_offense(cb.has_injury)[owner]
        rows = person & (offense >= 0)
        injury_profile = cb.profile[offense[rows]]
        injury = cb.injury.draw(rng, injury_profile)
        rec.put("injury_1", cb.injury.table[injury], rows=rows)
        other = cb.injury.draw(rng, injury_profile)
        two = (other != injury) & (injury != cb.injury.index("N")) & (other != cb.injury.index("N"))
        rec.put("injury_2", cb.injury.table[other[two]], rows=np.flatnonzero(rows)[two])

        offense = inc.first_offense(cb.has_relationship)[owner]
        related = person & (offense >= 0)
        unknown = inc.unknown_offender[owner]
        rec.put("offender_number_related_1", b"00", rows=related & unknown)
        known = related & ~unknown
        for slot in range(MAX_RELATED_OFFENDERS):
            rows = known & (slot < inc.offenders[owner])
            drawn = cb.relationship.draw(rng, cb.profile[offense[rows]])
            rec.put(f"offender_number_related_{slot + 1}", f"{slot + 1:02d}".encode(), rows=rows)
            rec.put(f"relationship_{slot + 1}", cb.relationship.table[drawn], rows=rows)

        officers = np.flatnonzero(kind == cb.officer)
        activity = cb.leoka_activity.draw(rng, officers.size)
        rec.put("leoka_officer_activity", cb.leoka_activity.table[activity], rows=officers)
        assignment = cb.leoka_assignment.draw(rng, officers.size)
        rec.put("leoka_officer_assignment", cb.leoka_assignment.table[assignment], rows=officers)
        return rec

    def _offenders(self, rng, inc: _Incidents) -> tuple[_Records, dict[str, np.ndarray]]:
        """Offenders, sequence 00 with nothing else when unknown; also the people drawn,
        so an arrestee can be one of them."""
        owner, rank = _expand(np.where(inc.unknown_offender, 1, inc.offenders))
        known = ~inc.unknown_offender[owner]
        rec = self._keyed("05", inc, owner, rank)
        rec.put("offender_sequence_number", _digits(np.where(known, rank + 1, 0), 2))
        people = self._people_drawn(rng, owner.size, unknown_age=0.1, sex=self.cb.offender_sex)
        self._put_people(rec, people, "offender", rows=known)
        people["first"] = np.cumsum(np.bincount(owner, minlength=len(inc))) - np.bincount(
            owner, minlength=len(inc))  # fmt: skip
        return rec, people

    def _people_drawn(self, rng, m: int, *, unknown_age: float, sex: _Mix) -> dict[str, np.ndarray]:
        cb = self.cb
        age = np.rint(rng.normal(31.0, 11.0, m)).clip(10, 85).astype(np.int64)
        age[rng.random(m) < unknown_age] = 0
        return {
            "age": age,
            "sex": sex.table[sex.draw(rng, m)],
            "race": cb.offender_race.table[cb.offender_race.draw(rng, m)],
            "ethnicity": cb.offender_ethnicity.table[cb.offender_ethnicity.draw(rng, m)],
        }

    def _put_people(self, rec: _Records, people: dict, prefix: str, rows=None) -> None:
        pick = slice(None) if rows is None else rows
        rec.put(f"{prefix}_age", self.cb.age_table[people["age"][pick]], rows=rows)
        for name in ("sex", "race", "ethnicity"):
            rec.put(f"{prefix}_{name}", people[name][pick], rows=rows)

    def _arrestees(self, rng, inc: _Incidents, offenders: dict[str, np.ndarray]) -> list[_Records]:
        """Arrestees of incidents cleared by arrest: the first known offenders, 06 records in
        arrest-date order (in one part per layout: see _in_real_layouts)."""
        cb, ag = self.cb, self.agencies
        owner, rank = _expand(inc.arrestees)
        m = owner.size
        later = np.where(rng.random(m) < 0.55, 0, _lognormal_int(rng, 10.0, 1.2, m).clip(1, 400))
        later = later[np.lexsort((later, owner))]
        rec = self._keyed("06", inc, owner, rank)
        rec.put("arrestee_sequence_number", _digits(rank + 1, 2))
        # a plain incident number with room takes a suffix, as in the real "FG2102356-01"
        agency, sequence, space = inc.agency[owner], inc.local[owner] * 4 + rank, 5
        numbers = self._arrest_numbers(agency, sequence, space)
        suffixed = np.flatnonzero(~ag.encrypted[agency] & (ag.plain_length[agency] <= 9))
        at = ag.plain_length[agency[suffixed]]
        numbers[suffixed] = inc.number[owner[suffixed]]
        numbers[suffixed, at] = ord("-")
        numbers[suffixed, at + 1] = (rank[suffixed] + 1) // 10 + ord("0")
        numbers[suffixed, at + 2] = (rank[suffixed] + 1) % 10 + ord("0")
        rec.put("arrest_transaction_number", numbers)
        rec.put("arrest_date", _ymd(inc.day[owner] + later))
        rec.put("type_of_arrest", cb.arrest_type.table[cb.arrest_type.draw(rng, (later > 0) * 1)])
        rec.put("multiple_arrestee_indicator", cb.multiple.table[cb.multiple.draw(rng, m)])
        offense = inc.offenses[
            owner, np.minimum(rng.integers(0, 3, m), inc.offense_count[owner] - 1)
        ]
        choice = rng.random(m)
        code = cb.offense_table[np.where(choice < 0.82, inc.primary[owner], offense)]
        other = choice >= 0.9
        code[other] = cb.arrest_other.table[cb.arrest_other.draw(rng, int(other.sum()))]
        rec.put("arrest_offense_code", code)
        self._put_armed(rng, rec, cb.armed, cb.profile[inc.primary[owner]])

        known = ~inc.unknown_offender[owner]
        source = offenders["first"][owner] + rank
        people = self._people_drawn(rng, m, unknown_age=0.0, sex=cb.arrestee_sex)
        for name in ("age", "sex", "race", "ethnicity"):
            people[name][known] = offenders[name][source[known]]
        unknown_age = people["age"] == 0  # the arrest makes the age known
        people["age"][unknown_age] = np.rint(rng.normal(31.0, 11.0, int(unknown_age.sum()))).clip(
            10, 85)  # fmt: skip
        no_sex = people["sex"][:, 0] == ord("U")  # arrestee sex is M or F
        people["sex"][no_sex] = cb.arrestee_sex.table[cb.arrestee_sex.draw(rng, int(no_sex.sum()))]
        self._put_arrestee(rng, rec, people)
        return self._in_real_layouts(rec, agency, sequence, space)

    def _put_armed(self, rng, rec: _Records, mix: _Mix, groups: np.ndarray | int) -> None:
        armed = mix.draw(rng, groups)
        rec.put("armed_with_1", mix.table[armed])
        automatic = mix.matches(FIREARMS)[armed] & (rng.random(armed.size) < 0.03)
        rec.put("automatic_1", b"A", rows=automatic)

    def _put_arrestee(self, rng, rec: _Records, people: dict[str, np.ndarray]) -> None:
        cb, m = self.cb, people["age"].size
        self._put_people(rec, people, "arrestee")
        rec.put("arrestee_resident_status", cb.resident.table[cb.resident.draw(rng, m)])
        juvenile = (people["age"] > 0) & (people["age"] < 18)
        disposition = _letter(rng.random(int(juvenile.sum())) < 0.45, "H", "R")
        rec.put("under18_disposition", disposition, rows=juvenile)

    # -- records between sets: Group B arrests and window segments ---------------------------
    def _between_sets(self, rng, inc: _Incidents, *, first_block: bool) -> list[_Records]:
        """07, W1, W3 and W6 records, each placed after the record set of a host incident of
        the same agency and dated in one of its reporting months. The first block has at
        least one of each window type, so every file exercises them."""
        n = len(inc)
        hosts = {"07": np.flatnonzero(rng.random(n) < GROUP_B_RATE)}
        for record_type in ("W1", "W3", "W6"):
            k = max(int(first_block), rng.binomial(n, WINDOW_RATE))
            hosts[record_type] = np.sort(rng.choice(n, min(k, n), replace=False))
        return [
            self._group_b(rng, inc, hosts["07"]),
            self._window_clearance(rng, inc, hosts["W1"]),
            self._window_property(rng, inc, hosts["W3"]),
            *self._window_arrestee(rng, inc, hosts["W6"]),
        ]

    def _old_numbers(self, rng, inc: _Incidents, owner: np.ndarray, space: int):
        """Numbers and years of window incidents: submitted in a year before the file's."""
        years = self.year - rng.integers(1, 3, owner.size)
        return self._numbers(inc.agency[owner], inc.local[owner], space, years), years

    def _group_b(self, rng, inc: _Incidents, owner: np.ndarray) -> _Records:
        cb, m = self.cb, owner.size
        rec = self._keyed("07", inc, owner, np.zeros(m, np.int64), dated=False)
        agency = inc.agency[owner]
        rec.put("arrest_transaction_number", self._arrest_numbers(agency, inc.local[owner], 4))
        rec.put("arrest_date", inc.date[owner])
        rec.put("arrestee_sequence_number", b"01")
        rec.put("city_submission", self.agencies.city_submission[agency])
        rec.put("type_of_arrest", cb.group_b_type.table[cb.group_b_type.draw(rng, m)])
        rec.put("arrest_offense_code", cb.group_b.table[cb.group_b.draw(rng, m)])
        self._put_armed(rng, rec, cb.group_b_armed, m)
        self._put_arrestee(rng, rec, self._people_drawn(rng, m, unknown_age=0.0,
                                                        sex=cb.arrestee_sex))  # fmt: skip
        return rec

    def _window_clearance(self, rng, inc: _Incidents, owner: np.ndarray) -> _Records:
        """W1: an older incident cleared exceptionally this year; counts zero, per real lines."""
        cb, m = self.cb, owner.size
        rec = self._keyed("W1", inc, owner, np.zeros(m, np.int64), dated=False)
        numbers, years = self._old_numbers(rng, inc, owner, 1)
        rec.put("incident_number", numbers)
        day = np.array([_day(y) for y in years], np.int64) + rng.integers(0, 365, m)
        rec.put("incident_date", _ymd(day))
        rec.put("report_date_indicator", b"R", rows=rng.random(m) < 0.3)
        rec.put("incident_hour", cb.hour.table[cb.hour.draw(rng, m)])
        for name, width in (("offense", 2), ("victim", 3), ("offender", 2), ("arrestee", 2)):
            rec.put(f"total_{name}_segments", b"0" * width)
        rec.put("cleared_exceptionally", cb.exceptional.table[cb.exceptional.draw(rng, m)])
        rec.put("exceptional_clearance_date", inc.date[owner])
        self._window_offenses(rng, rec, "w1", cb.window_offense.draw(rng, m))
        rec.put("cargo_theft_indicator", b"N")
        return rec

    def _window_property(self, rng, inc: _Incidents, owner: np.ndarray) -> _Records:
        """W3: property of an older incident recovered this year; no incident date."""
        cb, m = self.cb, owner.size
        rec = self._keyed("W3", inc, owner, np.zeros(m, np.int64), dated=False)
        rec.put("incident_number", self._old_numbers(rng, inc, owner, 2)[0])
        rec.put("type_property_loss", b"5")
        description = cb.window_property.draw(rng, m)
        rec.put("property_description", cb.window_property.table[description])
        value = _lognormal_int(rng, cb.window_value_median[description], 1.0, m).clip(1, 999_999)
        rec.put("property_value", _digits(value, 9))
        rec.put("date_recovered", inc.date[owner])
        vehicles = cb.window_motor_vehicle[description]
        rec.put("num_recovered_motor_vehicles", b"01", rows=vehicles)
        offense = cb.window_property_offense.draw(rng, m)
        codes = np.where(vehicles[:, None], np.frombuffer(b"240", np.uint8),
                         cb.window_property_offense.table[offense])  # fmt: skip
        listed = rng.random(m) < 0.5
        rec.put("w3_ucr_offense_code_1", codes[listed], rows=listed)
        return rec

    def _window_arrestee(self, rng, inc: _Incidents, owner: np.ndarray) -> list[_Records]:
        """W6: an arrest this year for an older incident; no incident date (in one part per
        layout: see _in_real_layouts)."""
        cb, m = self.cb, owner.size
        rec = self._keyed("W6", inc, owner, np.zeros(m, np.int64), dated=False)
        rec.put("incident_number", self._old_numbers(rng, inc, owner, 3)[0])
        rec.put("arrestee_sequence_number", b"01")
        agency, sequence, space = inc.agency[owner], inc.local[owner], 6
        rec.put("arrest_transaction_number", self._arrest_numbers(agency, sequence, space))
        rec.put("arrest_date", inc.date[owner])
        rec.put("type_of_arrest", cb.window_arrest_type.table[cb.window_arrest_type.draw(rng, m)])
        rec.put("multiple_arrestee_indicator", b"N")
        offense = cb.window_offense.draw(rng, m)
        rec.put("arrest_offense_code", cb.window_offense.table[offense])
        self._put_armed(rng, rec, cb.group_b_armed, m)
        self._put_arrestee(rng, rec, self._people_drawn(rng, m, unknown_age=0.0,
                                                        sex=cb.arrestee_sex))  # fmt: skip
        rec.put("w6_window_clearance_flag", _letter(rng.random(m) < 0.75, "Y", "N"))
        self._window_offenses(rng, rec, "w6", offense)
        return self._in_real_layouts(rec, agency, sequence, space)

    def _window_offenses(self, rng, rec: _Records, prefix: str, offense: np.ndarray) -> None:
        """The original incident's offense codes: listed on about half of real window lines."""
        cb = self.cb
        listed = rng.random(offense.size) < 0.5
        rec.put(f"{prefix}_ucr_offense_code_1", cb.window_offense.table[offense[listed]],
                rows=listed)  # fmt: skip
        other = cb.window_offense.draw(rng, offense.size)
        two = listed & (other != offense) & (rng.random(offense.size) < 0.15)
        first, second = np.minimum(offense, other)[two], np.maximum(offense, other)[two]
        rec.put(f"{prefix}_ucr_offense_code_1", cb.window_offense.table[first], rows=two)
        rec.put(f"{prefix}_ucr_offense_code_2", cb.window_offense.table[second], rows=two)

    def _arrest_numbers(self, agency: np.ndarray, sequence: np.ndarray, space: int) -> np.ndarray:
        """Arrest transaction numbers: "encrypted" like the agency's incident numbers, or plain
        digits (year, then the space and sequence), left-justified."""
        ag = self.agencies
        out = np.full((agency.size, 12), BLANK, np.uint8)
        encrypted = ag.encrypted[agency]
        scrambled = _scramble48(sequence[encrypted] + (np.int64(space) << 40))
        out[encrypted] = _hex12(scrambled ^ ag.salt[agency[encrypted]])
        plain = ~encrypted
        serial = space * 10**7 + (sequence[plain] + ag.first_number[agency[plain]]) % 10**7
        out[plain, :10] = _digits((self.year % 100) * 10**8 + serial, 10)
        return out

    def _in_real_layouts(self, rec: _Records, agency, sequence, space: int) -> list[_Records]:
        """Arrestee records (06, W6) split by the layout their state really wrote this year:
        the standard, or a variant's (Vermont's of 2015), whose wider arrest transaction
        numbers are filled to their last character, as the real ones are. ``agency``,
        ``sequence`` and ``space`` are those their numbers were made from."""
        standard = np.ones(len(rec), bool)
        parts = []
        for variant, uses in self.variants.get(rec.layout.record_type, ()):
            rows = standard & uses[agency]
            if not rows.any():
                continue
            standard &= ~rows
            part = rec.relaid(rows, variant.layout)
            numbers = self._variant_arrest_numbers(variant, agency[rows], sequence[rows], space)
            part.put("arrest_transaction_number", numbers)
            parts.append(part)
        return [rec.relaid(standard, rec.layout), *parts] if parts else [rec]

    def _variant_arrest_numbers(
        self, variant: LayoutVariant, agency, sequence, space: int
    ) -> np.ndarray:
        """Arrest transaction numbers as wide as the variant's field, every character used
        (so a decoder that cut the field short would be seen to): the state's abbreviation,
        then digits, the year's two, the space's and a serial, distinct within an agency;
        "VT15500001234" in Vermont's 13 characters of 2015."""
        width = variant.layout.field("arrest_transaction_number").length
        abbreviation = next(abbr for code, abbr, _, _ in STATES if code == int(variant.state_code))
        digits = width - len(abbreviation)
        serial_digits = digits - 3
        serial = (sequence + self.agencies.first_number[agency]) % 10**serial_digits
        year_and_space = (self.year % 100) * 10 + space
        out = np.empty((agency.size, width), np.uint8)
        out[:, : len(abbreviation)] = np.frombuffer(abbreviation.encode(), np.uint8)
        out[:, len(abbreviation) :] = _digits(year_and_space * 10**serial_digits + serial, digits)
        return out

    # -- output ----------------------------------------------------------------------------------
    def _assemble(self, parts: list[_Records], count: int, before: dict[int, list[int]]):
        """Lay the block out: headers due before an incident, then its set, then what follows
        it; each record is copied to its line's offset in one vectorised scatter per part."""
        # a record type can come in several parts, one per layout (see _in_real_layouts);
        # an incident's records of one type are all of its agency, so all in one part
        set_bytes = np.zeros(count, np.int64)
        section = {}
        for rt in RECORD_SET + BETWEEN_SETS:
            section[rt] = set_bytes.copy()
            for part in parts:
                if part.layout.record_type == rt:
                    set_bytes += np.bincount(part.owner, minlength=count) * part.bytes.shape[1]
        headers = {i: b"".join(self.header_lines[a] for a in agencies)
                   for i, agencies in before.items()}  # fmt: skip
        header_bytes = np.zeros(count + 1, np.int64)
        for i, text in headers.items():
            header_bytes[i] = len(text)
        sizes = header_bytes[:count] + set_bytes
        start = np.cumsum(sizes) - sizes
        total = int(sizes.sum() + header_bytes[count])
        buffer = np.empty(total, np.uint8)
        for i, text in headers.items():
            at = start[i] if i < count else total - len(text)
            buffer[at : at + len(text)] = np.frombuffer(text, np.uint8)
        cuts = []
        for part in parts:
            line = part.bytes.shape[1]
            first = start + header_bytes[:count] + section[part.layout.record_type]
            offsets = first[part.owner] + part.rank * line
            _scatter(buffer, part.bytes, offsets)
            if self.trim_lines:
                length = part.layout.length
                content = part.bytes[:, :length] != BLANK
                kept = length - np.argmax(content[:, ::-1], axis=1)
                trimmed = kept < length
                cuts.append((offsets[trimmed] + kept[trimmed], offsets[trimmed] + length))
        if cuts:
            change = np.zeros(total + 1, np.int8)
            for first, end in cuts:
                change[first] = 1
                change[end] = -1
            buffer = buffer[np.cumsum(change[:-1], dtype=np.int8) == 0]
        return buffer

    def _truth(self, inc: _Incidents) -> pa.Table:
        numbers = pa.array(np.ascontiguousarray(inc.number).view("S12").ravel())
        dates = pa.array(np.ascontiguousarray(inc.date).view("S8").ravel())
        return pa.Table.from_arrays(
            [
                pa.array(self.agencies.ori_text).take(pa.array(inc.agency)),
                pc.utf8_trim(numbers.cast(pa.string()), " "),
                dates.cast(pa.string()),
                pa.array(inc.p_arrest + inc.p_exceptional),
                pa.array(inc.p_arrest),
                pa.array(inc.p_exceptional),
                pa.array(OUTCOMES).take(pa.array(inc.outcome)),
            ],
            schema=TRUTH_SCHEMA,
        )


TRUTH_SCHEMA = pa.schema(
    [
        ("ori", pa.string()),
        ("incident_number", pa.string()),
        ("incident_date", pa.string()),
        ("p_cleared", pa.float64()),
        ("p_arrest", pa.float64()),
        ("p_exceptional", pa.float64()),
        ("outcome", pa.string()),
    ]
)


def _scatter(buffer: np.ndarray, rows: np.ndarray, offsets: np.ndarray) -> None:
    """``buffer[offsets[i] : offsets[i] + width] = rows[i]`` for every row at once, through
    a writable view of every width-long window of the buffer."""
    if not rows.size:
        return
    width = rows.shape[1]
    windows = as_strided(buffer, shape=(buffer.size - width + 1, width), strides=(1, 1))
    windows[offsets] = rows


def synthesize(
    out: str | Path,
    *,
    year: int,
    incidents: int,
    seed: int = 0,
    deflate64: bool = False,
    crlf: bool = False,
    legacy_headers: bool = False,
    nul_fill: bool = False,
    trim_lines: bool = False,
    agencies: int | None = None,
    panel: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write a synthetic master file ``out`` (a zip of one member) and its truth beside it.

    ``incidents`` Group A incidents of ``year`` (one 01 record each), spread over agencies of
    several states. ``deflate64`` compresses as the FBI does (zip method 9), ``crlf`` ends
    lines with CR LF, ``legacy_headers`` writes B1/B2/B3 batch headers (1991-2012),
    ``nul_fill`` puts NUL bytes in the batch headers' incident-number filler, and
    ``trim_lines`` right-trims every line (older years). ``agencies`` sets how many agencies
    there are (default: one per 450 incidents, at least 12). ``panel`` makes the years of a
    seed one panel: the same agencies (ORIs, populations, counties, who covers whom) in every
    year, while each year draws anew who reports which months (some agencies stop for months
    or a year, some start) and its incidents, a fifth of which hold offense sets that exercise
    the SRS hierarchy rule (several Part I offenses, arson beside another, the rape variants and
    the assaults: ``HIERARCHY_SETS``). The member text depends only on the arguments and
    ``seed``. ``progress``, if given, is called after each block with the
    number of incidents it added (an increment, as tqdm's update takes).

    Beside the zip, ``<name>.truth.parquet`` has one row per incident, in file order: ori,
    incident_number (outer blanks stripped, as decoded), incident_date, p_cleared,
    p_arrest, p_exceptional and the outcome drawn from them (arrest, exceptional or open).
    Both files appear only once complete.

    Returns a summary: path, year, incidents, records by type, uncompressed bytes, seconds,
    and the truth path and compression.
    """
    if incidents < 0:
        raise ValueError(f"incidents must be >= 0, not {incidents}")
    started = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    truth_path = out.with_suffix(".truth.parquet")
    partial_zip = out.with_name(out.name + ".partial")
    partial_truth = truth_path.with_name(truth_path.name + ".partial")
    roster = _build_agencies(
        year, incidents, np.random.default_rng([seed, 0]), n_agencies=agencies,
        year_rng=np.random.default_rng([seed, 2, year]) if panel else None,
    )  # fmt: skip
    maker = _BlockMaker(year, roster, seed, crlf=crlf, legacy_headers=legacy_headers,
                        nul_fill=nul_fill, trim_lines=trim_lines, panel=panel)  # fmt: skip
    records = dict.fromkeys(maker.header_types + RECORD_SET + BETWEEN_SETS, 0)
    pieces: queue.Queue = queue.Queue(maxsize=2)
    written: dict = {}

    def compress() -> None:
        blocks = iter(pieces.get, None)
        try:
            written["bytes"] = write_zip(
                partial_zip, MEMBER_NAME.format(year=year),
                blocks,
                deflate64=deflate64, level=DEFLATE_LEVEL,
            )  # fmt: skip
        except BaseException as exc:  # raised in the caller's thread
            written["error"] = exc
            while pieces.get() is not None:  # keep the producer from blocking
                pass

    writer = threading.Thread(target=compress, name="synth-zip-writer", daemon=True)
    writer.start()
    try:
        try:
            with pq.ParquetWriter(partial_truth, TRUTH_SCHEMA) as truth:
                for number, first, count in _blocks(incidents):
                    if "error" in written:
                        break
                    text, truth_rows, counts = maker.block(number, first, count, incidents)
                    pieces.put(text)
                    truth.write_table(truth_rows)
                    for record_type, n in counts.items():
                        records[record_type] += n
                    if progress:
                        progress(count)
        finally:
            pieces.put(None)
            writer.join()
        if "error" in written:
            raise written["error"]
    except BaseException:
        partial_zip.unlink(missing_ok=True)
        partial_truth.unlink(missing_ok=True)
        raise
    partial_zip.replace(out)
    partial_truth.replace(truth_path)
    return {
        "path": str(out),
        "year": year,
        "incidents": incidents,
        "records": records,
        "bytes": written["bytes"],
        "seconds": round(time.perf_counter() - started, 3),
        "truth": str(truth_path),
        "compression": "deflate64" if deflate64 else "deflate",
    }


def _blocks(incidents: int) -> Iterator[tuple[int, int, int]]:
    """(block number, first incident, incidents in it); one empty block when there are none,
    so the batch headers are still written."""
    for number, first in enumerate(range(0, max(incidents, 1), BLOCK_INCIDENTS)):
        yield number, first, min(BLOCK_INCIDENTS, incidents - first)
