"""Synthetic rows of the Chicago crimes dataset (ijzp-q8t2), with each row's true arrest odds.

The real portal is slow to page through, changes under you and carries no ground truth, so the
client, the pipeline and the arrest model are tested and benchmarked on generated rows served
by ``testkit.soda_server``. What makes them worth testing against
(docs/reference/chicago-crimes-soda.md §1 and §3):

* the API's wire form: every number a JSON string, checkboxes booleans, floating timestamps
  ``YYYY-MM-DDTHH:MM:SS.000``, ``beat``/``district`` zero-padded, missing values absent, and
  ``location`` in the current "legacy" object shape or the older GeoJSON point;
* volumes per year (~485k in 2001 falling to ~210k-260k in the 2020s), the primary-type mix
  moving from the 2001-2019 shares to the 2022-2023 ones, IUCR -> type -> FBI code kept
  consistent, labels that changed over time ("CRIM SEXUAL ASSAULT", old location strings);
* arrest rates by type (§3.2) and by year, overall falling from ~28% to ~12%; domestic ~18%;
  type-dependent location descriptions; hour spikes at 00:00 and 12:00 (dates that are best
  estimates, often on the 1st); missing coordinates (~1%, more for sex offences), missing ward
  and community area in 2001-2002; beats inside their district; the X = Y = 0 sentinel;
* ``updated_on``: first published 7+ days after the incident by a daily job at ~15:40, late
  updates (reclassifications, arrests recorded later) weeks to months afterwards, and bulk
  touches that stamp one timestamp on a large share of the rows (2025-05-17T15:40:52 is real;
  the older ones are modelled on it);
* homicides keep their own small id range, as in the real dataset; other ids rise with the date.

Each row's arrest is drawn from a logistic model (IUCR base rate, location, domestic, an
estimated time, district and beat effects, the year, and noise standing for what no column
records). The probability it was drawn from goes to the truth table, so an arrest model can be
compared with the oracle. Codes beyond the IUCR table in §3.8 are plausible stand-ins, not
CPD's list.

Everything is vectorised with NumPy and Arrow compute: a million rows take a few seconds,
and the output depends only on the arguments and the seed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crimewh.chicago import API_FIELDS, FIRST_YEAR, LAST_YEAR, LOCATION_SHAPES
from crimewh.chicago.arrow import from_numpy, iso_seconds, strings, text

AS_OF = datetime(2025, 11, 23, 16, 10)  # the snapshot's "now", after that day's load job
PUBLICATION_LAG_DAYS = 7
WORLD_SEED = 20_011_111  # the fixed city: beats, blocks, district effects; not the row seed
NOISE_SD = 0.8  # log-odds spread of what no column records
TRUTH_SCHEMA = pa.schema([("id", pa.int64()), ("arrest_probability", pa.float64())])

# Rows per year in thousands: the real counts, consistent with §3.1 (6.8 M rows by Feb 2019,
# ~8.4 M by Oct 2025, ~250k per recent year). 2025 is cut at the snapshot.
YEAR_VOLUME = {
    2001: 485, 2002: 486, 2003: 475, 2004: 469, 2005: 453, 2006: 448, 2007: 437, 2008: 427,
    2009: 392, 2010: 370, 2011: 352, 2012: 336, 2013: 307, 2014: 275, 2015: 264, 2016: 269,
    2017: 269, 2018: 268, 2019: 261, 2020: 212, 2021: 209, 2022: 239, 2023: 262, 2024: 258,
    2025: 240,
}  # fmt: skip
# Overall arrest share per year: 27.5% over 2001-2019 (volume-weighted), 11.99% in
# 2022-2023, 12.5% in the Jan 2025 sample (§3.2); the path between is interpolated.
ARREST_TARGET = {
    2001: 0.290, 2005: 0.290, 2010: 0.275, 2013: 0.255, 2015: 0.225, 2016: 0.195, 2018: 0.195,
    2019: 0.200, 2020: 0.160, 2021: 0.135, 2022: 0.120, 2025: 0.122,
}  # fmt: skip
MONTH_COUNTS = (37038, 33758, 39225, 38861, 42492, 43600, 46399, 46600, 45057, 46364, 42289,
                41317)  # fmt: skip
# §3.6 hours, with the spikes at 00 and 12 taken out: those rows are drawn as estimates
HOUR_COUNTS = (18500, 16522, 14600, 12355, 10095, 8859, 9413, 12646, 17078, 21148, 21301, 21836,
               22500, 22271, 23384, 26953, 26216, 26833, 26408, 25686, 24878, 23164, 22257,
               20217)  # fmt: skip

# primary type: 2001-2019 rows and arrest rate (theBraindonor, §3.2), 2022-2023 rows (§3.3),
# police-initiated (reports filed after an arrest: the rate does not fall over the years),
# share of rows whose time is a best estimate (00:00 / 12:00), share without coordinates
TYPES = (
    ("THEFT", 1293290, 0.1164, 112383, False, 0.06, 0.010),
    ("BATTERY", 1118667, 0.2285, 85200, False, 0.02, 0.008),
    ("CRIMINAL DAMAGE", 701948, 0.0694, 57337, False, 0.03, 0.008),
    ("NARCOTICS", 638107, 0.9940, 10210, True, 0.005, 0.004),
    ("ASSAULT", 380951, 0.2310, 43440, False, 0.02, 0.008),
    ("OTHER OFFENSE", 379694, 0.1788, 30338, False, 0.10, 0.015),
    ("BURGLARY", 356438, 0.0565, 15081, False, 0.04, 0.006),
    ("MOTOR VEHICLE THEFT", 280677, 0.0866, 50722, False, 0.03, 0.008),
    ("DECEPTIVE PRACTICE", 236969, 0.1603, 34495, False, 0.30, 0.040),
    ("ROBBERY", 233188, 0.0966, 20016, False, 0.01, 0.006),
    ("CRIMINAL TRESPASS", 176475, 0.7269, 8941, False, 0.01, 0.006),
    ("WEAPONS VIOLATION", 65841, 0.7925, 17388, False, 0.005, 0.004),
    ("PROSTITUTION", 59984, 0.9957, 492, True, 0.005, 0.004),
    ("PUBLIC PEACE VIOLATION", 44444, 0.6661, 1574, False, 0.02, 0.010),
    ("OFFENSE INVOLVING CHILDREN", 41011, 0.2031, 3630, False, 0.30, 0.085),
    ("CRIMINAL SEXUAL ASSAULT", 24040, 0.1481, 3279, False, 0.25, 0.070),
    ("SEX OFFENSE", 21595, 0.3043, 2594, False, 0.25, 0.078),
    ("INTERFERENCE WITH PUBLIC OFFICER", 14809, 0.9241, 978, True, 0.005, 0.004),
    ("GAMBLING", 13217, 0.9932, 24, True, 0.005, 0.004),
    ("LIQUOR LAW VIOLATION", 11984, 0.9903, 389, True, 0.005, 0.004),
    ("ARSON", 9847, 0.1253, 933, False, 0.03, 0.008),
    ("HOMICIDE", 9137, 0.4637, 1375, False, 0.01, 0.0),
    ("KIDNAPPING", 5494, 0.1059, 257, False, 0.05, 0.020),
    ("INTIMIDATION", 3582, 0.1681, 420, False, 0.08, 0.020),
    ("STALKING", 3116, 0.1531, 982, False, 0.10, 0.030),
    ("OBSCENITY", 544, 0.8199, 90, False, 0.10, 0.030),
    ("CONCEALED CARRY LICENSE VIOLATION", 308, 0.9383, 381, True, 0.005, 0.004),
    ("PUBLIC INDECENCY", 152, 0.9934, 11, True, 0.005, 0.004),
    ("OTHER NARCOTIC VIOLATION", 114, 0.6930, 9, False, 0.02, 0.010),
    ("HUMAN TRAFFICKING", 53, 0.1132, 23, False, 0.20, 0.050),
    ("NON-CRIMINAL", 40, 0.0500, 8, False, 0.10, 0.020),
)
OLD_TYPE_LABELS = {"CRIMINAL SEXUAL ASSAULT": "CRIM SEXUAL ASSAULT"}  # before 2019 (§1.3)
LABELS_CHANGED = 2019  # rows dated before this carry the old labels

# IUCR: primary type, description, FBI code, weight in the type (2001-2019 rows where known),
# arrest rate where known (§3.8; else solved so the type keeps its rate), P(domestic),
# first year, older description
IUCRS = (
    ("0820", "THEFT", "$500 AND UNDER", "06", 470963, 0.058, 0.03, 0, None),
    ("0810", "THEFT", "OVER $500", "06", 307493, 0.034, 0.03, 0, None),
    ("0890", "THEFT", "FROM BUILDING", "06", 227246, 0.027, 0.03, 0, None),
    ("0860", "THEFT", "RETAIL THEFT", "06", 168832, 0.603, 0.0, 0, None),
    ("0870", "THEFT", "POCKETPICKING", "06", 60000, None, 0.01, 0, None),
    ("0710", "THEFT", "THEFT FROM MOTOR VEHICLE", "06", 60000, None, 0.01, 0, None),
    ("0486", "BATTERY", "DOMESTIC BATTERY SIMPLE", "08B", 520257, 0.232, 1.0, 0, None),
    ("0460", "BATTERY", "SIMPLE", "08B", 407119, 0.201, 0.15, 0, None),
    ("041A", "BATTERY", "AGGRAVATED - HANDGUN", "04B", 25000, None, 0.05, 0,
     "AGGRAVATED: HANDGUN"),
    ("0420", "BATTERY", "AGGRAVATED - KNIFE / CUTTING INSTRUMENT", "04B", 35000, None, 0.25, 0,
     "AGGRAVATED:KNIFE/CUTTING INSTR"),
    ("0430", "BATTERY", "AGGRAVATED - OTHER DANGEROUS WEAPON", "04B", 45000, None, 0.25, 0,
     "AGGRAVATED: OTHER DANG WEAPON"),
    ("0454", "BATTERY", "AGGRAVATED P.O. - HANDS, FISTS, FEET, NO / MINOR INJURY", "08B", 20000,
     0.90, 0.0, 0, "AGG PO HANDS NO/MIN INJURY"),
    ("0497", "BATTERY", "AGGRAVATED DOMESTIC BATTERY - OTHER DANGEROUS WEAPON", "04B", 25000,
     None, 1.0, 0, "AGGRAVATED DOMESTIC BATTERY: OTHER DANG WEAPON"),
    ("1310", "CRIMINAL DAMAGE", "TO PROPERTY", "14", 320337, 0.078, 0.2, 0, None),
    ("1320", "CRIMINAL DAMAGE", "TO VEHICLE", "14", 328572, 0.042, 0.08, 0, None),
    ("1305", "CRIMINAL DAMAGE", "CRIMINAL DEFACEMENT", "14", 53000, None, 0.02, 0, None),
    ("1811", "NARCOTICS", "POSSESS - CANNABIS 30 GRAMS OR LESS", "18", 255604, 0.994, 0.0, 0,
     "POSS: CANNABIS 30GMS OR LESS"),
    ("2024", "NARCOTICS", "POSSESS - HEROIN (WHITE)", "18", 120000, None, 0.0, 0,
     "POSS: HEROIN(WHITE)"),
    ("2022", "NARCOTICS", "POSSESS - COCAINE", "18", 60000, None, 0.0, 0, "POSS: COCAINE"),
    ("2027", "NARCOTICS", "POSSESS - CRACK", "18", 120000, None, 0.0, 0, "POSS: CRACK"),
    ("2170", "NARCOTICS", "POSSESSION OF DRUG EQUIPMENT", "18", 80000, None, 0.0, 0, None),
    ("0560", "ASSAULT", "SIMPLE", "08A", 262468, 0.177, 0.3, 0, None),
    ("051A", "ASSAULT", "AGGRAVATED - HANDGUN", "04A", 60000, None, 0.05, 0,
     "AGGRAVATED: HANDGUN"),
    ("0530", "ASSAULT", "AGGRAVATED - OTHER DANGEROUS WEAPON", "04A", 40000, None, 0.2, 0,
     "AGGRAVATED: OTHER DANG WEAPON"),
    ("0554", "ASSAULT", "AGGRAVATED P.O. - HANDS, FISTS, FEET, NO / MINOR INJURY", "08A", 18000,
     0.85, 0.0, 0, "AGG PO HANDS NO/MIN INJURY"),
    ("4387", "OTHER OFFENSE", "VIOLATE ORDER OF PROTECTION", "26", 90000, None, 0.95, 0, None),
    ("2825", "OTHER OFFENSE", "HARASSMENT BY TELEPHONE", "26", 110000, None, 0.3, 0, None),
    ("2826", "OTHER OFFENSE", "HARASSMENT BY ELECTRONIC MEANS", "26", 60000, None, 0.3, 0, None),
    ("2820", "OTHER OFFENSE", "TELEPHONE THREAT", "08A", 60000, None, 0.4, 0, None),
    ("4625", "OTHER OFFENSE", "PAROLE VIOLATION", "26", 30000, 0.95, 0.0, 0, None),
    ("0610", "BURGLARY", "FORCIBLE ENTRY", "05", 240381, 0.053, 0.03, 0, None),
    ("0620", "BURGLARY", "UNLAWFUL ENTRY", "05", 80000, None, 0.05, 0, None),
    ("0630", "BURGLARY", "ATTEMPT FORCIBLE ENTRY", "05", 36000, None, 0.03, 0, None),
    ("0760", "BURGLARY", "BURGLARY FROM MOTOR VEHICLE", "06", 40000, None, 0.0, 2022, None),
    ("0910", "MOTOR VEHICLE THEFT", "AUTOMOBILE", "07", 221221, 0.075, 0.01, 0, None),
    ("0920", "MOTOR VEHICLE THEFT", "ATTEMPT - AUTOMOBILE", "07", 20000, None, 0.01, 0,
     "ATT: AUTOMOBILE"),
    ("0930", "MOTOR VEHICLE THEFT", "THEFT / RECOVERY - AUTOMOBILE", "07", 40000, None, 0.01, 0,
     "THEFT/RECOVERY: AUTOMOBILE"),
    ("1153", "DECEPTIVE PRACTICE", "FINANCIAL IDENTITY THEFT OVER $ 300", "11", 80000, None,
     0.0, 0, None),
    ("1150", "DECEPTIVE PRACTICE", "CREDIT CARD FRAUD", "11", 60000, None, 0.02, 0, None),
    ("1120", "DECEPTIVE PRACTICE", "FORGERY", "10", 30000, None, 0.01, 0, None),
    ("1110", "DECEPTIVE PRACTICE", "BOGUS CHECK", "11", 40000, None, 0.0, 0, None),
    ("031A", "ROBBERY", "ARMED - HANDGUN", "03", 90000, None, 0.0, 0, "ARMED: HANDGUN"),
    ("0320", "ROBBERY", "STRONG ARM - NO WEAPON", "03", 100000, None, 0.02, 0,
     "STRONGARM - NO WEAPON"),
    ("0325", "ROBBERY", "VEHICULAR HIJACKING", "03", 15000, None, 0.0, 0, None),
    ("0330", "ROBBERY", "AGGRAVATED", "03", 28000, None, 0.01, 0, None),
    ("1330", "CRIMINAL TRESPASS", "TO LAND", "26", 110000, None, 0.05, 0, None),
    ("1340", "CRIMINAL TRESPASS", "TO STATE SUP LAND", "26", 30000, None, 0.0, 0, None),
    ("1350", "CRIMINAL TRESPASS", "TO RESIDENCE", "26", 36000, None, 0.2, 0, None),
    ("143A", "WEAPONS VIOLATION", "UNLAWFUL POSSESSION - HANDGUN", "15", 40000, None, 0.0, 0,
     "UNLAWFUL POSS OF HANDGUN"),
    ("1477", "WEAPONS VIOLATION", "RECKLESS FIREARM DISCHARGE", "15", 15000, 0.2, 0.01, 0,
     None),
    ("141A", "WEAPONS VIOLATION", "UNLAWFUL USE - HANDGUN", "15", 11000, None, 0.0, 0,
     "UNLAWFUL USE HANDGUN"),
    ("1513", "PROSTITUTION", "SOLICIT FOR PROSTITUTE", "16", 40000, None, 0.0, 0, None),
    ("1515", "PROSTITUTION", "SOLICIT ON PUBLIC WAY", "16", 20000, None, 0.0, 0, None),
    ("2890", "PUBLIC PEACE VIOLATION", "OTHER VIOLATION", "24", 30000, None, 0.05, 0, None),
    ("2850", "PUBLIC PEACE VIOLATION", "BOMB THREAT", "24", 14000, 0.1, 0.0, 0, None),
    ("1750", "OFFENSE INVOLVING CHILDREN", "CHILD ABUSE", "08B", 15000, None, 0.6, 0, None),
    ("1710", "OFFENSE INVOLVING CHILDREN", "ENDANGERING LIFE / HEALTH OF CHILD", "20", 16000,
     None, 0.5, 0, "ENDANGERING LIFE/HEALTH CHILD"),
    ("1752", "OFFENSE INVOLVING CHILDREN",
     "AGGRAVATED CRIMINAL SEXUAL ABUSE BY FAMILY MEMBER", "17", 10000, None, 0.9, 0, None),
    ("0281", "CRIMINAL SEXUAL ASSAULT", "NON-AGGRAVATED", "02", 16000, None, 0.15, 0, None),
    ("0265", "CRIMINAL SEXUAL ASSAULT", "AGGRAVATED - OTHER", "02", 8000, None, 0.1, 0,
     "AGGRAVATED: OTHER"),
    ("1562", "SEX OFFENSE", "AGGRAVATED CRIMINAL SEXUAL ABUSE", "17", 9000, None, 0.1, 0, None),
    ("1563", "SEX OFFENSE", "CRIMINAL SEXUAL ABUSE", "17", 9000, None, 0.1, 0, None),
    ("1544", "SEX OFFENSE", "SEXUAL EXPLOITATION OF A CHILD", "17", 3600, None, 0.1, 0, None),
    ("3710", "INTERFERENCE WITH PUBLIC OFFICER", "RESIST / OBSTRUCT / DISARM OFFICER", "24",
     10000, None, 0.0, 0, "RESIST/OBSTRUCT/DISARM OFFICER"),
    ("3731", "INTERFERENCE WITH PUBLIC OFFICER", "OBSTRUCTING IDENTIFICATION", "24", 4800, None,
     0.0, 0, None),
    ("1661", "GAMBLING", "GAME / DICE", "19", 13217, None, 0.0, 0, "GAME/DICE"),
    ("2230", "LIQUOR LAW VIOLATION", "ILLEGAL CONSUMPTION BY MINOR", "22", 8000, None, 0.0, 0,
     None),
    ("2220", "LIQUOR LAW VIOLATION", "SELL / GIVE / DELIVER LIQUOR TO MINOR", "22", 4000, None,
     0.0, 0, None),
    ("1020", "ARSON", "BY FIRE", "09", 9847, None, 0.1, 0, None),
    ("0110", "HOMICIDE", "FIRST DEGREE MURDER", "01A", 9000, None, 0.08, 0, None),
    ("0142", "HOMICIDE", "RECKLESS HOMICIDE", "01B", 137, 0.90, 0.0, 0, None),
    ("1792", "KIDNAPPING", "CHILD ABDUCTION / STRANGER", "26", 2500, None, 0.0, 0, None),
    ("1790", "KIDNAPPING", "KIDNAPPING", "26", 3000, None, 0.3, 0, None),
    ("3960", "INTIMIDATION", "INTIMIDATION", "26", 3582, None, 0.2, 0, None),
    ("0580", "STALKING", "SIMPLE", "26", 3116, None, 0.5, 0, None),
    ("1582", "OBSCENITY", "CHILD PORNOGRAPHY", "26", 544, None, 0.0, 0, None),
    ("1481", "CONCEALED CARRY LICENSE VIOLATION", "UNDER THE INFLUENCE OF ALCOHOL / DRUGS", "15",
     308, None, 0.0, 2014, None),
    ("1536", "PUBLIC INDECENCY", "PUBLIC INDECENCY", "24", 152, None, 0.0, 0, None),
    ("2091", "OTHER NARCOTIC VIOLATION", "FORFEIT PROPERTY", "26", 114, None, 0.0, 0, None),
    ("1590", "HUMAN TRAFFICKING", "INVOLUNTARY SERVITUDE", "26", 53, None, 0.0, 0, None),
    ("5114", "NON-CRIMINAL", "FOID - REVOCATION", "26", 40, None, 0.0, 0, None),
)  # fmt: skip

# location description: 2001-2019 label, 2019- label, rows in 2001-2019 (thousands; §3.4 where
# listed), log-odds effect on arrest within an offence
LOCATIONS = (
    ("STREET", "STREET", 1582, 0.0),
    ("RESIDENCE", "RESIDENCE", 1017, -0.35),
    ("APARTMENT", "APARTMENT", 662, -0.2),
    ("SIDEWALK", "SIDEWALK", 628, 0.35),
    ("OTHER", "OTHER (SPECIFY)", 228, 0.0),
    ("PARKING LOT/GARAGE(NON.RESID.)", "PARKING LOT / GARAGE (NON RESIDENTIAL)", 174, 0.0),
    ("ALLEY", "ALLEY", 138, 0.3),
    ("SCHOOL, PUBLIC, BUILDING", "SCHOOL - PUBLIC BUILDING", 128, 0.4),
    ("RESIDENCE-GARAGE", "RESIDENCE - GARAGE", 119, -0.5),
    ("SMALL RETAIL STORE", "SMALL RETAIL STORE", 110, 0.3),
    ("RESIDENCE PORCH/HALLWAY", "RESIDENCE - PORCH / HALLWAY", 107, 0.1),
    ("VEHICLE NON-COMMERCIAL", "VEHICLE NON-COMMERCIAL", 103, 0.3),
    ("RESTAURANT", "RESTAURANT", 98, 0.0),
    ("GROCERY FOOD STORE", "GROCERY FOOD STORE", 77, 0.4),
    ("DEPARTMENT STORE", "DEPARTMENT STORE", 76, 0.5),
    ("GAS STATION", "GAS STATION", 67, 0.3),
    ("COMMERCIAL / BUSINESS OFFICE", "COMMERCIAL / BUSINESS OFFICE", 60, -0.1),
    ("CHA PARKING LOT/GROUNDS", "CHA PARKING LOT / GROUNDS", 44, 0.6),
    ("PARK PROPERTY", "PARK PROPERTY", 45, 0.3),
    ("CTA PLATFORM", "CTA PLATFORM", 32, 0.6),
    ("BAR OR TAVERN", "BAR OR TAVERN", 30, 0.2),
    ("CHA APARTMENT", "CHA APARTMENT", 30, 0.0),
    ("HOTEL/MOTEL", "HOTEL / MOTEL", 25, 0.1),
    ("CTA TRAIN", "CTA TRAIN", 22, 0.5),
    ("CTA BUS", "CTA BUS", 20, 0.3),
    ("VACANT LOT/LAND", "VACANT LOT / LAND", 20, 0.3),
    ("HOSPITAL BUILDING/GROUNDS", "HOSPITAL BUILDING / GROUNDS", 20, 0.2),
    ("CONVENIENCE STORE", "CONVENIENCE STORE", 25, 0.3),
    ("DRUG STORE", "DRUG STORE", 20, 0.4),
    ("BANK", "BANK", 15, 0.2),
    ("POLICE FACILITY/VEH PARKING LOT", "POLICE FACILITY / VEHICLE PARKING LOT", 12, 1.5),
    ("AIRPORT TERMINAL UPPER LEVEL - SECURE AREA",
     "AIRPORT TERMINAL UPPER LEVEL - SECURE AREA", 4, 0.5),
)  # fmt: skip
# where offences happen: weight multipliers per IUCR, or per primary type
LOCATION_AFFINITY = {
    "0860": "DEPARTMENT STORE:90 SMALL RETAIL STORE:60 GROCERY FOOD STORE:50 DRUG STORE:60 "
            "CONVENIENCE STORE:30 STREET:0.02 RESIDENCE:0.01 APARTMENT:0.01 SIDEWALK:0.02",
    "0486": "APARTMENT:3 RESIDENCE:3 RESIDENCE PORCH/HALLWAY:2 STREET:0.4 SIDEWALK:0.3",
    "0497": "APARTMENT:3 RESIDENCE:3 RESIDENCE PORCH/HALLWAY:2 STREET:0.4",
    "4387": "APARTMENT:3 RESIDENCE:3 STREET:0.5",
    "0910": "STREET:3 PARKING LOT/GARAGE(NON.RESID.):3 RESIDENCE-GARAGE:2 APARTMENT:0.05 "
            "RESIDENCE:0.2",
    "0710": "STREET:3 PARKING LOT/GARAGE(NON.RESID.):3 VEHICLE NON-COMMERCIAL:4 APARTMENT:0.05",
    "0760": "STREET:3 PARKING LOT/GARAGE(NON.RESID.):3 VEHICLE NON-COMMERCIAL:4 APARTMENT:0.05",
    "1320": "STREET:3 PARKING LOT/GARAGE(NON.RESID.):3 VEHICLE NON-COMMERCIAL:2",
    "NARCOTICS": "SIDEWALK:4 STREET:2 ALLEY:4 VEHICLE NON-COMMERCIAL:3 CHA PARKING LOT/GROUNDS:5 "
                 "APARTMENT:0.3 RESIDENCE:0.4",
    "PROSTITUTION": "STREET:4 SIDEWALK:3 HOTEL/MOTEL:6 APARTMENT:0.1 RESIDENCE:0.1",
    "BURGLARY": "RESIDENCE:2 APARTMENT:2 SMALL RETAIL STORE:2 COMMERCIAL / BUSINESS OFFICE:3 "
                "RESTAURANT:2 STREET:0.05 SIDEWALK:0.02",
    "ROBBERY": "SIDEWALK:3 STREET:2 ALLEY:2 CTA PLATFORM:3 CTA TRAIN:3 GAS STATION:2",
    "DECEPTIVE PRACTICE": "RESIDENCE:2 APARTMENT:2 BANK:20 COMMERCIAL / BUSINESS OFFICE:4 "
                          "STREET:0.1 SIDEWALK:0.1",
    "CRIMINAL TRESPASS": "CHA APARTMENT:6 CHA PARKING LOT/GROUNDS:6 SCHOOL, PUBLIC, BUILDING:3 "
                         "CTA TRAIN:4 HOSPITAL BUILDING/GROUNDS:4",
    "WEAPONS VIOLATION": "STREET:3 SIDEWALK:3 ALLEY:3 VEHICLE NON-COMMERCIAL:4 "
                         "AIRPORT TERMINAL UPPER LEVEL - SECURE AREA:20 APARTMENT:0.3",
    "LIQUOR LAW VIOLATION": "BAR OR TAVERN:30 STREET:2 PARK PROPERTY:4",
    "INTERFERENCE WITH PUBLIC OFFICER": "POLICE FACILITY/VEH PARKING LOT:40 STREET:2",
    "OFFENSE INVOLVING CHILDREN": "RESIDENCE:3 APARTMENT:3 SCHOOL, PUBLIC, BUILDING:4 STREET:0.2",
    "SEX OFFENSE": "RESIDENCE:2 APARTMENT:2 SCHOOL, PUBLIC, BUILDING:3 CTA TRAIN:3",
    "CRIMINAL SEXUAL ASSAULT": "RESIDENCE:3 APARTMENT:3 HOTEL/MOTEL:3 STREET:0.3",
    "HOMICIDE": "STREET:2 ALLEY:2 APARTMENT:0.6",
    "GAMBLING": "SIDEWALK:4 STREET:3 ALLEY:4",
    "PUBLIC PEACE VIOLATION": "SCHOOL, PUBLIC, BUILDING:6 STREET:2",
}  # fmt: skip
# district: 2022-2023 rows (§3.7), lat/lon of its middle (approximate)
DISTRICTS = (
    ("001", 27464, 41.880, -87.628), ("002", 25400, 41.805, -87.620),
    ("003", 25188, 41.765, -87.600), ("004", 29010, 41.720, -87.560),
    ("005", 20342, 41.690, -87.625), ("006", 30575, 41.748, -87.645),
    ("007", 21224, 41.778, -87.665), ("008", 31888, 41.778, -87.725),
    ("009", 22079, 41.820, -87.670), ("010", 21096, 41.850, -87.710),
    ("011", 27957, 41.878, -87.720), ("012", 30366, 41.868, -87.665),
    ("014", 17544, 41.918, -87.700), ("015", 16605, 41.890, -87.765),
    ("016", 19036, 41.970, -87.800), ("017", 14880, 41.965, -87.720),
    ("018", 25803, 41.900, -87.632), ("019", 26062, 41.940, -87.660),
    ("020", 10579, 41.978, -87.670), ("022", 15977, 41.700, -87.670),
    ("024", 17857, 42.005, -87.675), ("025", 26040, 41.920, -87.765),
    ("031", 3, 41.978, -87.905),
)  # fmt: skip
BBOX = (41.6450507596849, 42.0225475701143, -87.9345672302934, -87.5246181500076)
SENTINEL = (36.619446395, -91.686565684)  # where X = Y = 0 lands (§3.7)
SENTINEL_SHARE = 0.00003
STREETS = (
    "S HALSTED ST", "S ASHLAND AVE", "W MADISON ST", "N CLARK ST", "S STATE ST", "W 63RD ST",
    "S COTTAGE GROVE AVE", "W CHICAGO AVE", "N MILWAUKEE AVE", "W NORTH AVE", "S PULASKI RD",
    "W 79TH ST", "S KEDZIE AVE", "N BROADWAY", "W DIVISION ST", "S WESTERN AVE", "E 71ST ST",
    "S PRAIRIE AVE", "N HARLEM AVE", "S CRANDON AVE", "S TALMAN AVE", "W RICE ST", "E 100 PL",
    "N LAWNDALE AVE", "W FULLERTON AVE", "W BELMONT AVE", "N SHERIDAN RD", "S DR MARTIN LUTHER "
    "KING JR DR", "W ROOSEVELT RD", "S MICHIGAN AVE", "W JACKSON BLVD", "N CENTRAL AVE",
    "W LAWRENCE AVE", "S STONY ISLAND AVE", "W 87TH ST", "S RACINE AVE", "W IRVING PARK RD",
    "N CICERO AVE", "W AUGUSTA BLVD", "E ILLINOIS ST", "S KING DR", "W GARFIELD BLVD",
    "S VINCENNES AVE", "W WASHINGTON BLVD", "N KEDZIE AVE", "W HOWARD ST", "S DAMEN AVE",
    "W CERMAK RD", "S WENTWORTH AVE", "E 79TH ST", "S EXCHANGE AVE", "W 111TH ST",
)  # fmt: skip
# bulk touches: when, dates affected, share of those rows re-stamped
BULK_TOUCHES = (
    (datetime(2015, 8, 17, 15, 3, 40), datetime(2001, 1, 1), datetime(2015, 8, 1), 0.35),
    (datetime(2016, 1, 15, 11, 8, 45), datetime(2001, 1, 1), datetime(2003, 1, 1), 0.50),
    (datetime(2018, 2, 10, 15, 50, 1), datetime(2001, 1, 1), datetime(2018, 1, 1), 0.30),
    (datetime(2025, 5, 17, 15, 40, 52), datetime(2025, 1, 1), datetime(2025, 5, 1), 0.95),
)
# id anchors: incident date -> id (§3.7: 2002 ~2.0 M, 2017 ~11.16 M, 2019 ~11.7 M, 2025 ~14 M)
ID_ANCHORS = (
    (datetime(2001, 1, 1), 1_310_000), (datetime(2002, 4, 7), 2_068_284),
    (datetime(2003, 1, 1), 2_600_000), (datetime(2017, 11, 26), 11_160_347),
    (datetime(2019, 6, 1), 11_700_000), (datetime(2025, 1, 1), 13_700_000),
    (datetime(2025, 11, 16), 14_032_654),
)  # fmt: skip
HOMICIDE_IDS = 27_000  # homicides are numbered on their own, from 1
# CPD report-number prefixes: two letters from this alphabet, one step a year (JA = 2017)
RD_LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"
HUMAN_ADDRESS = json.dumps(json.dumps({"address": "", "city": "", "state": "", "zip": ""}))


@dataclass(frozen=True)
class Synthetic:
    """Rows in the API's wire form (strings, booleans, ``location`` as JSON text; missing values
    null) sorted by id, and the truth: each row's arrest probability."""

    table: pa.Table
    truth: pa.Table


# -- the fixed city ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Catalog:
    type_names: np.ndarray  # new labels, by type index
    type_old_names: np.ndarray
    type_police: np.ndarray
    type_estimated: np.ndarray
    type_no_coords: np.ndarray
    mix_early: np.ndarray
    mix_late: np.ndarray
    iucr_codes: np.ndarray
    iucr_type: np.ndarray
    iucr_fbi: np.ndarray
    iucr_new_description: np.ndarray
    iucr_old_description: np.ndarray
    iucr_weight: np.ndarray
    iucr_since: np.ndarray
    iucr_logit: np.ndarray
    iucr_domestic: np.ndarray
    iucr_location_p: np.ndarray  # iucr x location
    location_old: np.ndarray
    location_new: np.ndarray
    location_effect_centred: np.ndarray  # iucr x location, mean zero within each IUCR
    district_codes: np.ndarray
    district_weight: np.ndarray
    district_centre: np.ndarray  # district x (lat, lon)
    district_effect: np.ndarray
    beat_codes: np.ndarray
    beat_district: np.ndarray
    beat_centre: np.ndarray
    beat_effect: np.ndarray
    beat_ward: np.ndarray
    beat_community: np.ndarray
    blocks: np.ndarray  # district x pool
    xy_fit: np.ndarray  # (3, 2): [1, lon, lat] -> (x, y)


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@cache
def _catalog() -> _Catalog:
    rng = np.random.default_rng(WORLD_SEED)
    names = [t[0] for t in TYPES]
    type_index = {name: i for i, name in enumerate(names)}
    n_loc = len(LOCATIONS)
    loc_index = {old: i for i, (old, *_rest) in enumerate(LOCATIONS)}
    base_loc = np.array([loc[2] for loc in LOCATIONS], float)
    loc_effect = np.array([loc[3] for loc in LOCATIONS])

    iucr_type = np.array([type_index[e[1]] for e in IUCRS])
    location_p = np.empty((len(IUCRS), n_loc))
    for i, entry in enumerate(IUCRS):
        weights = base_loc.copy()
        spec = LOCATION_AFFINITY.get(entry[0]) or LOCATION_AFFINITY.get(entry[1]) or ""
        for label, factor in re.findall(r"\s*([^:]+?):([0-9.]+)", spec):
            weights[loc_index[label]] *= float(factor)  # a KeyError here is a typo above
        location_p[i] = weights / weights.sum()
    # within one IUCR the location shifts the odds but leaves the IUCR's own rate in place
    centred = loc_effect[None, :] - (location_p * loc_effect[None, :]).sum(1, keepdims=True)

    # IUCRs without a published rate share one shift that keeps their type at its rate
    type_rate = np.array([t[2] for t in TYPES])
    logit = np.array([_logit(e[5]) if e[5] is not None else np.nan for e in IUCRS])
    weight = np.array([e[4] for e in IUCRS], float)
    for t in range(len(TYPES)):
        members = iucr_type == t
        unknown = members & np.isnan(logit)
        if not unknown.any():
            continue
        known = members & ~np.isnan(logit)
        known_mass = (weight[known] * _sigmoid(logit[known])).sum()
        need = type_rate[t] * weight[members].sum() - known_mass
        share = np.clip(need / weight[unknown].sum(), 0.01, 0.995)
        logit[unknown] = _logit(share)

    codes = np.array([d[0] for d in DISTRICTS])
    centres = np.array([(d[2], d[3]) for d in DISTRICTS])
    beats, beat_district, beat_centre = [], [], []
    for d, code in enumerate(codes):
        sectors = 1 if code == "031" else 3 + (rng.random() < 0.4)
        for sector in range(1, sectors + 1):
            for beat in range(1, (1 if code == "031" else 4) + 1):
                beats.append(f"{code[1:]}{sector}{beat}" if code != "031" else "3100")
                beat_district.append(d)
                beat_centre.append(centres[d] + rng.normal(0, (0.012, 0.015)))
    beat_district = np.array(beat_district)
    # wards (1-50) and community areas (1-77): each beat sits in one, neighbours share them
    ward_of_district = np.array_split(rng.permutation(np.arange(1, 51)), len(codes) - 1)
    area_of_district = np.array_split(rng.permutation(np.arange(1, 78)), len(codes) - 1)
    beat_ward = np.array([rng.choice(ward_of_district[min(d, len(codes) - 2)])
                          for d in beat_district])  # fmt: skip
    beat_community = np.array([rng.choice(area_of_district[min(d, len(codes) - 2)])
                               for d in beat_district])  # fmt: skip

    blocks = np.empty((len(codes), 160), dtype=object)
    for d in range(len(codes)):
        hundreds = rng.integers(0, 130, 160)
        streets = rng.choice(STREETS, 160)
        blocks[d] = [("0000X" if h == 0 else f"{h:03d}XX") + " " + s
                     for h, s in zip(hundreds, streets, strict=True)]  # fmt: skip

    # Illinois State Plane feet from lat/lon: exact through the three real rows of §1.2/§1.4
    points = np.array([[1, -87.761401563, 41.895796081], [1, -87.622651588, 41.711840612],
                       [1, -87.619480201, 41.805072258]])  # fmt: skip
    feet = np.array([[1139962, 1905137], [1178292, 1838387], [1178876, 1872367]], float)
    return _Catalog(
        type_names=np.array(names, dtype=object),
        type_old_names=np.array([OLD_TYPE_LABELS.get(n, n) for n in names], dtype=object),
        type_police=np.array([t[4] for t in TYPES]),
        type_estimated=np.array([t[5] for t in TYPES]),
        type_no_coords=np.array([t[6] for t in TYPES]),
        mix_early=_normalised([t[1] for t in TYPES]),
        mix_late=_normalised([t[3] for t in TYPES]),
        iucr_codes=np.array([e[0] for e in IUCRS], dtype=object),
        iucr_type=iucr_type,
        iucr_fbi=np.array([e[3] for e in IUCRS], dtype=object),
        iucr_new_description=np.array([e[2] for e in IUCRS], dtype=object),
        iucr_old_description=np.array([e[8] or e[2] for e in IUCRS], dtype=object),
        iucr_weight=weight,
        iucr_since=np.array([e[7] for e in IUCRS]),
        iucr_logit=logit,
        iucr_domestic=np.array([e[6] for e in IUCRS]),
        iucr_location_p=location_p,
        location_old=np.array([loc[0] for loc in LOCATIONS], dtype=object),
        location_new=np.array([loc[1] for loc in LOCATIONS], dtype=object),
        location_effect_centred=centred,
        district_codes=codes.astype(object),
        district_weight=_normalised([d[1] for d in DISTRICTS]),
        district_centre=centres,
        district_effect=rng.normal(0, 0.2, len(codes)),
        beat_codes=np.array(beats, dtype=object),
        beat_district=beat_district,
        beat_centre=np.array(beat_centre),
        beat_effect=rng.normal(0, 0.15, len(beats)),
        beat_ward=beat_ward,
        beat_community=beat_community,
        blocks=blocks,
        xy_fit=np.linalg.solve(points, feet),
    )


def _normalised(values) -> np.ndarray:
    values = np.asarray(values, float)
    return values / values.sum()


def _mix_weight(years: np.ndarray) -> np.ndarray:
    """0 = the 2001-2019 mix (centred on ~2008 by volume), 1 = the 2022-2023 mix."""
    return np.clip((years - 2008) / (2021 - 2008), 0.0, 1.0)


def _draw_grouped(rng, keys: np.ndarray, probabilities) -> np.ndarray:
    """For each row, a draw from ``probabilities(key)`` (weights over categories); one
    vectorised draw per distinct key."""
    out = np.empty(keys.size, np.int64)
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        p = np.asarray(probabilities(key), float)
        out[rows] = rng.choice(p.size, rows.size, p=p / p.sum())
    return out


# -- rows ----------------------------------------------------------------------------------------
@dataclass
class _Rows:
    year: np.ndarray
    type: np.ndarray
    iucr: np.ndarray
    domestic: np.ndarray
    location: np.ndarray
    estimated: np.ndarray
    when: np.ndarray  # datetime64[s], Chicago wall time
    beat: np.ndarray
    district: np.ndarray
    logit: np.ndarray  # without the year shift
    police: np.ndarray


def _features(rng, years: np.ndarray, as_of: datetime) -> _Rows:
    cat = _catalog()
    n = years.size

    def mix(year):
        w = _mix_weight(np.asarray(year))
        return (1 - w) * cat.mix_early + w * cat.mix_late

    types = _draw_grouped(rng, years, mix)

    # IUCR within the type; codes that did not exist yet weigh nothing
    def codes(key):
        t, year = divmod(key, 10_000)
        weights = cat.iucr_weight * (cat.iucr_type == t)
        active = weights * (year >= cat.iucr_since)
        return active if active.sum() else weights

    iucr = _draw_grouped(rng, types * 10_000 + years, codes)

    domestic = rng.random(n) < cat.iucr_domestic[iucr]
    location = _draw_grouped(rng, iucr, lambda code: cat.iucr_location_p[code])
    estimated = rng.random(n) < cat.type_estimated[types]

    # the date: month by §3.6, day uniform; estimates at 00:00 / 12:00 / 00:01, often the 1st
    month = rng.choice(12, n, p=_normalised(MONTH_COUNTS))
    starts = ((years - 1970) * 12 + month).astype("datetime64[M]")
    days_in_month = ((starts + 1).astype("datetime64[D]") - starts.astype("datetime64[D]")).astype(
        np.int64
    )
    day = (rng.random(n) * days_in_month).astype(np.int64)
    day[estimated & (rng.random(n) < 0.25)] = 0
    hour = rng.choice(24, n, p=_normalised(HOUR_COUNTS))
    minute_kind = rng.random(n)
    minute = np.where(minute_kind < 0.18, 0, np.where(minute_kind < 0.26, 30, np.where(
        minute_kind < 0.56, rng.integers(0, 12, n) * 5, rng.integers(0, 60, n))))  # fmt: skip
    estimate_kind = rng.random(n)
    hour = np.where(estimated, np.where(estimate_kind < 0.2, 12, 0), hour)
    minute = np.where(estimated, np.where(estimate_kind > 0.88, 1, 0), minute)
    when = starts.astype("datetime64[s]") + (day * 86400 + hour * 3600 + minute * 60).astype(
        "timedelta64[s]"
    )
    # the portal holds nothing from the last seven days before the snapshot
    latest = np.datetime64(as_of - timedelta(days=PUBLICATION_LAG_DAYS), "s")
    late = when > latest
    if late.any():
        span = (latest - np.datetime64(f"{LAST_YEAR}-01-01", "s")).astype(np.int64)
        when[late] = np.datetime64(f"{LAST_YEAR}-01-01", "s") + (
            rng.random(late.sum()) * span
        ).astype("timedelta64[s]")

    district = rng.choice(len(cat.district_codes), n, p=cat.district_weight)
    beat = np.empty(n, np.int64)
    for d in np.unique(district):
        rows = np.flatnonzero(district == d)
        choices = np.flatnonzero(cat.beat_district == d)
        beat[rows] = rng.choice(choices, rows.size)
    # 0.009% of rows put a beat in another district (peterskipper)
    stray = rng.random(n) < 0.00009
    beat[stray] = rng.integers(0, len(cat.beat_codes), stray.sum())

    police = cat.type_police[types]
    logit = (
        cat.iucr_logit[iucr]
        + cat.location_effect_centred[iucr, location]
        + np.where(domestic & (cat.iucr_domestic[iucr] < 1), 0.15, 0.0)
        + np.where(estimated, -0.6, 0.0)
        + np.where((hour >= 18) | (hour < 2), 0.1, 0.0)
        + cat.district_effect[district]
        + cat.beat_effect[beat]
        + rng.normal(0, NOISE_SD, n) * np.where(police, 0.4, 1.0)
    )
    return _Rows(
        year=years, type=types, iucr=iucr, domestic=domestic, location=location,
        estimated=estimated, when=when, beat=beat, district=district, logit=logit, police=police,
    )  # fmt: skip


@cache
def _year_shifts() -> dict[int, float]:
    """The log-odds shift per year (for types that are not police-initiated) that brings the
    overall arrest share to ``ARREST_TARGET``; solved once on a fixed reference sample."""
    rng = np.random.default_rng(WORLD_SEED + 1)
    years = np.repeat(np.arange(FIRST_YEAR, LAST_YEAR + 1), 6000)
    rows = _features(rng, years, AS_OF)
    marks = sorted(ARREST_TARGET)
    shifts = {}
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        target = np.interp(year, marks, [ARREST_TARGET[m] for m in marks])
        mask = rows.year == year
        logit, movable = rows.logit[mask], ~rows.police[mask]
        low, high = -4.0, 4.0
        for _ in range(40):
            mid = (low + high) / 2
            share = _sigmoid(logit + np.where(movable, mid, 0.0)).mean()
            low, high = (mid, high) if share < target else (low, mid)
        shifts[year] = (low + high) / 2
    return shifts


def synthesize(
    rows: int,
    *,
    seed: int = 0,
    years: tuple[int, int] = (FIRST_YEAR, LAST_YEAR),
    as_of: datetime = AS_OF,
    location_shape: str = "legacy",
) -> Synthetic:
    """``rows`` synthetic crimes dated in ``years`` (inclusive), as the API serves them."""
    first, last = years
    if not FIRST_YEAR <= first <= last <= LAST_YEAR:
        raise ValueError(f"years {first}-{last}: the generator covers {FIRST_YEAR}-{LAST_YEAR}")
    if location_shape not in LOCATION_SHAPES:
        raise ValueError(f"location_shape {location_shape!r}: use one of {LOCATION_SHAPES}")
    if rows < 0:
        raise ValueError(f"rows={rows}: expected a count >= 0")
    shifts = _year_shifts()
    rng = np.random.default_rng(seed)

    span = np.arange(first, last + 1)
    volume = np.array([YEAR_VOLUME[y] for y in span], float)
    year = rng.choice(span, rows, p=volume / volume.sum())
    r = _features(rng, year, as_of)
    shift = np.array([shifts[y] for y in year]) if rows else np.zeros(0)
    probability = _sigmoid(r.logit + np.where(r.police, 0.0, shift))
    arrest = rng.random(rows) < probability

    published, updated = _updated_on(rng, r, arrest, as_of)
    ids = _ids(rng, r, published)
    order = np.argsort(ids, kind="stable")  # the server keeps rows in id order
    r = _Rows(**{name: value[order] for name, value in vars(r).items()})
    ids, arrest, updated = ids[order], arrest[order], updated[order]
    probability = probability[order]
    table = _wire_table(rng, r, ids, arrest, updated, location_shape)
    truth = pa.table([from_numpy(ids), from_numpy(probability)], schema=TRUTH_SCHEMA)
    return Synthetic(table=table, truth=truth)


def _daily_job(day: np.ndarray, rng, n: int) -> np.ndarray:
    """The load job's time on ``day``: ~15:40-16:05 local."""
    seconds = 15 * 3600 + 40 * 60 + rng.integers(0, 25 * 60, n)
    return day.astype("datetime64[D]").astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def _updated_on(rng, r: _Rows, arrest: np.ndarray, as_of: datetime) -> tuple[np.ndarray, ...]:
    n = r.when.size
    now = np.datetime64(as_of, "s")
    # first published 7+ days later; estimated dates are often reported long after
    lag = PUBLICATION_LAG_DAYS + rng.exponential(2.0, n) + np.where(
        r.estimated, rng.exponential(45.0, n), 0.0
    )  # fmt: skip
    day = r.when.astype("datetime64[D]") + lag.astype(np.int64).astype("timedelta64[D]")
    published = _daily_job(day, rng, n)
    # not out yet at the snapshot: published by the snapshot day's job instead
    published = np.where(published > now, _daily_job(np.full(n, now), rng, n), published)
    published = np.minimum(published, now)
    updated = published.copy()
    # later updates: reclassifications, arrests recorded after the first report
    later = rng.random(n) < np.where(arrest, 0.15, 0.06)
    later_day = published.astype("datetime64[D]") + rng.exponential(90.0, n).astype(
        np.int64
    ).astype("timedelta64[D]")
    later_stamp = _daily_job(later_day, rng, n)
    later &= later_stamp <= now  # not happened yet at the snapshot
    updated = np.where(later, np.maximum(updated, later_stamp), updated)
    for stamp, start, end, share in BULK_TOUCHES:
        stamp64 = np.datetime64(stamp, "s")
        if stamp64 > now:
            continue
        hit = (
            (r.when >= np.datetime64(start, "s")) & (r.when < np.datetime64(end, "s"))
            & (published < stamp64) & (rng.random(n) < share)
        )  # fmt: skip
        updated = np.where(hit, np.maximum(updated, stamp64), updated)
    return published, np.minimum(updated, now)


def _ids(rng, r: _Rows, published: np.ndarray) -> np.ndarray:
    """Ids are handed out at publication, so they rise with it; homicides are numbered apart."""
    cat = _catalog()
    n = r.when.size
    ids = np.empty(n, np.int64)
    homicide = cat.type_names[r.type] == "HOMICIDE"
    anchor_t = np.array([np.datetime64(t, "s").astype(np.int64) for t, _ in ID_ANCHORS], float)
    anchor_id = np.array([i for _, i in ID_ANCHORS], float)
    entered = published.astype(np.int64) - PUBLICATION_LAG_DAYS * 86400 + rng.normal(
        0, 86400, n
    )  # fmt: skip
    others = np.flatnonzero(~homicide)
    ranked = others[np.argsort(entered[others], kind="stable")]
    ids[ranked] = _rising(np.interp(entered[ranked], anchor_t, anchor_id).astype(np.int64))
    victims = np.flatnonzero(homicide)
    ranked = victims[np.argsort(entered[victims], kind="stable")]
    step = max(1, HOMICIDE_IDS // max(ranked.size, 1))
    ids[ranked] = _rising(1 + np.arange(ranked.size) * step + rng.integers(0, step, ranked.size))
    return ids


def _rising(wanted: np.ndarray) -> np.ndarray:
    """The smallest strictly rising sequence at or above ``wanted``."""
    steps = np.arange(wanted.size)
    return np.maximum.accumulate(wanted - steps) + steps


def _strings(values: np.ndarray, index: np.ndarray) -> pa.Array:
    """``values[index]`` as an Arrow string array, built without a Python object per row."""
    dictionary = strings(list(values))
    indices = from_numpy(np.asarray(index, np.int32))
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())


def _masked(array: pa.Array, missing: np.ndarray) -> pa.Array:
    if not missing.any():
        return array
    return pc.if_else(from_numpy(missing), pa.nulls(len(array), array.type), array)


def _wire_table(rng, r: _Rows, ids, arrest, updated, location_shape: str) -> pa.Table:
    cat = _catalog()
    n = ids.size
    old = r.when < np.datetime64(f"{LABELS_CHANGED}-01-01", "s")

    type_labels = np.concatenate([cat.type_names, cat.type_old_names])
    type_index = r.type + np.where(old, len(cat.type_names), 0)
    description = np.concatenate([cat.iucr_new_description, cat.iucr_old_description])
    description_index = r.iucr + np.where(old, len(cat.iucr_codes), 0)
    locations = np.concatenate([cat.location_new, cat.location_old])
    location_index = r.location + np.where(old, len(cat.location_new), 0)
    missing_location_description = rng.random(n) < np.where(
        (cat.type_names[r.type] == "DECEPTIVE PRACTICE") & (r.year >= 2020), 0.06, 0.0007
    )

    # coordinates: around the beat's middle; some withheld (privacy) or not geocoded yet
    lat = cat.beat_centre[r.beat, 0] + rng.normal(0, 0.006, n)
    lon = cat.beat_centre[r.beat, 1] + rng.normal(0, 0.008, n)
    lat = np.round(np.clip(lat, BBOX[0], BBOX[1]), 9)
    lon = np.round(np.clip(lon, BBOX[2], BBOX[3]), 9)
    design = np.column_stack([np.ones(n), lon, lat])
    xy = np.rint(design @ cat.xy_fit)
    no_coords = rng.random(n) < np.where(r.year <= 2019, 0.7, 1.5) * cat.type_no_coords[r.type]
    sentinel = (rng.random(n) < SENTINEL_SHARE) & ~no_coords
    lat[sentinel], lon[sentinel] = SENTINEL
    xy[sentinel] = 0

    # ward and community area: most 2001 rows and a third of 2002 rows have neither
    no_area = rng.random(n) < np.where(r.year == 2001, 0.95, np.where(r.year == 2002, 0.35,
                                                                         0.00003))  # fmt: skip

    # report numbers: the report year's two letters and a number rising through the year
    report_year = r.year + ((r.when.astype("datetime64[D]") - r.when.astype("datetime64[Y]"))
                            .astype(np.int64) > 360) * (rng.random(n) < 0.3)  # fmt: skip
    step = report_year - 2017 + RD_LETTERS.index("J") * len(RD_LETTERS)
    prefixes = np.array([a + b for a in RD_LETTERS for b in RD_LETTERS], dtype=object)
    rank = np.empty(n, np.int64)
    order = np.lexsort((r.when.astype(np.int64), report_year))
    rank[order] = np.arange(n)
    first = np.searchsorted(report_year[order], report_year, side="left")
    count = np.searchsorted(report_year[order], report_year, side="right") - first
    number = 100_000 + ((rank - first) * 880_000 // np.maximum(count, 1)) + rng.integers(
        0, 7, n
    )  # fmt: skip
    case_number = pc.binary_join_element_wise(
        _strings(prefixes, np.clip(step, 0, prefixes.size - 1)),
        pc.cast(from_numpy(number), pa.string()), text(""),
    )  # fmt: skip

    lat_text = pc.cast(from_numpy(lat), pa.string())
    lon_text = pc.cast(from_numpy(lon), pa.string())
    if location_shape == "point":
        location = pc.binary_join_element_wise(
            text('{"type":"Point","coordinates":['), lon_text, text(","), lat_text, text("]}"),
            text(""),
        )  # fmt: skip
    else:
        location = pc.binary_join_element_wise(
            text('{"latitude":"'), lat_text, text('","longitude":"'), lon_text,
            text(f'","human_address":{HUMAN_ADDRESS}}}'), text(""),
        )  # fmt: skip
    block_index = r.district * cat.blocks.shape[1] + rng.integers(0, cat.blocks.shape[1], n)
    columns = {
        "id": pc.cast(from_numpy(ids), pa.string()),
        "case_number": case_number,
        "date": iso_seconds(r.when),
        "block": _strings(cat.blocks.ravel(), block_index),
        "iucr": _strings(cat.iucr_codes, r.iucr),
        "primary_type": _strings(type_labels, type_index),
        "description": _strings(description, description_index),
        "location_description": _masked(
            _strings(locations, location_index), missing_location_description
        ),
        "arrest": from_numpy(arrest),
        "domestic": from_numpy(r.domestic),
        "beat": _strings(cat.beat_codes, r.beat),
        "district": _strings(cat.district_codes, cat.beat_district[r.beat]),
        "ward": _masked(pc.cast(from_numpy(cat.beat_ward[r.beat]), pa.string()), no_area),
        "community_area": _masked(
            pc.cast(from_numpy(cat.beat_community[r.beat]), pa.string()), no_area
        ),
        "fbi_code": _strings(cat.iucr_fbi, r.iucr),
        "x_coordinate": _masked(
            pc.cast(from_numpy(xy[:, 0].astype(np.int64)), pa.string()), no_coords
        ),
        "y_coordinate": _masked(
            pc.cast(from_numpy(xy[:, 1].astype(np.int64)), pa.string()), no_coords
        ),
        "year": pc.cast(from_numpy(r.year.astype(np.int64)), pa.string()),
        "updated_on": iso_seconds(updated),
        "latitude": _masked(lat_text, no_coords),
        "longitude": _masked(lon_text, no_coords),
        "location": _masked(location, no_coords),
    }
    return pa.table({name: columns[name] for name in API_FIELDS})


# -- files ---------------------------------------------------------------------------------------
def to_json_rows(table: pa.Table) -> list[dict]:
    """The rows as the API's JSON would decode: missing values absent, ``location`` an object."""
    rows = []
    for row in table.to_pylist():
        item = {key: value for key, value in row.items() if value is not None}
        if "location" in item and isinstance(item["location"], str):
            item["location"] = json.loads(item["location"])
        rows.append(item)
    return rows


def write_json(path: Path, table: pa.Table) -> Path:
    """A JSON array of rows, as ``serve --from-file`` reads them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w") as out:
        json.dump(to_json_rows(table), out, separators=(",", ":"))
    partial.replace(path)
    return path


def truth_path_for(path: Path) -> Path:
    """``rows.json`` -> ``rows.truth.parquet``, beside it."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".json") + ".truth.parquet")


def write_truth(path: Path, truth: pa.Table) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    pq.write_table(truth, partial)
    partial.replace(path)
    return path
