"""The synthetic Chicago rows: deterministic, in the API's wire form, with the published shape."""

import json
import re
from collections import Counter

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from crimewh.chicago import API_FIELDS
from crimewh.chicago.arrow import to_numpy
from testkit.chicago_synth import (
    SENTINEL,
    synthesize,
    to_json_rows,
    truth_path_for,
    write_json,
    write_truth,
)


@pytest.fixture(scope="module")
def big():
    """80 000 rows over 2001-2025: enough for shares to within a point or two."""
    return synthesize(80_000, seed=11)


def column(synthetic, name):
    return np.array(synthetic.table.column(name).to_pylist(), dtype=object)


def test_same_seed_same_rows_other_seed_other_rows():
    first, again = synthesize(3000, seed=5), synthesize(3000, seed=5)
    other = synthesize(3000, seed=6)
    assert first.table.equals(again.table)
    assert first.truth.equals(again.truth)
    assert not first.table.equals(other.table)


def test_wire_form_is_what_the_api_sends(big):
    table = big.table
    assert table.column_names == list(API_FIELDS)
    rows = to_json_rows(table.slice(0, 2000))
    for row in rows:
        assert all(value is not None for value in row.values())  # missing keys are absent
        assert isinstance(row["arrest"], bool)
        assert isinstance(row["domestic"], bool)
        for name in ("id", "ward", "year", "x_coordinate", "latitude"):
            assert name not in row or isinstance(row[name], str)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000", row["date"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000", row["updated_on"])
        assert re.fullmatch(r"\d{4}", row["beat"])
        assert re.fullmatch(r"\d{3}", row["district"])
        assert re.fullmatch(r"[A-Z]{2}\d{6}", row["case_number"])
        assert re.fullmatch(r"(\d{3}XX|0000X) [NSEW] .+", row["block"])
        assert row["updated_on"] >= row["date"]
        assert row["year"] == row["date"][:4]
        if "location" in row:  # the legacy object of the 2025 API
            assert row["location"]["latitude"] == row["latitude"]
            assert json.loads(row["location"]["human_address"]) == {
                "address": "", "city": "", "state": "", "zip": "",
            }  # fmt: skip
    point = to_json_rows(synthesize(50, seed=1, location_shape="point").table)
    located = next(r for r in point if "location" in r)
    assert located["location"]["type"] == "Point"
    assert located["location"]["coordinates"] == [
        float(located["longitude"]),
        float(located["latitude"]),
    ]


def test_ids_unique_and_rows_sorted_by_id(big):
    ids = to_numpy(pc.cast(big.table.column("id"), "int64"))
    assert len(np.unique(ids)) == ids.size
    assert (np.diff(ids) > 0).all()
    homicide = column(big, "primary_type") == "HOMICIDE"
    assert ids[homicide].max() < 30_000 < ids[~homicide].min()  # their own range, as on the portal
    truth_ids = to_numpy(big.truth.column("id"))
    assert (truth_ids == ids).all()


def test_arrest_rates_fall_from_about_27_to_about_12_percent(big):
    year = column(big, "year").astype(int)
    arrest = column(big, "arrest").astype(bool)
    probability = to_numpy(big.truth.column("arrest_probability"))
    early, late = year <= 2005, year >= 2022
    assert 0.26 < arrest[early].mean() < 0.31
    assert 0.10 < arrest[late].mean() < 0.145
    # the drawn arrests agree with the probabilities they were drawn from
    assert abs(probability.mean() - arrest.mean()) < 0.01
    assert ((probability > 0) & (probability < 1)).all()
    # the oracle ranks arrests well, but not perfectly: there is noise no column records
    order = np.argsort(probability)
    ranks = np.empty(order.size)
    ranks[order] = np.arange(order.size)
    positives = arrest.sum()
    auc = (ranks[arrest].sum() - positives * (positives - 1) / 2) / (
        positives * (arrest.size - positives)
    )
    assert 0.8 < auc < 0.95


def test_type_mix_and_rates_by_type_follow_the_reference(big):
    year = column(big, "year").astype(int)
    kind = column(big, "primary_type")
    arrest = column(big, "arrest").astype(bool)
    late = year >= 2022
    shares = Counter(kind[late])
    total = late.sum()
    assert 0.19 < shares["THEFT"] / total < 0.26  # 22.3% in 2022-2023
    assert 0.14 < shares["BATTERY"] / total < 0.20  # 16.9%
    assert shares["NARCOTICS"] / total < 0.04  # 2.0% (10.4% over 2001-2019)
    assert (kind[year <= 2010] == "NARCOTICS").mean() > 0.08
    narcotics = kind == "NARCOTICS"
    assert arrest[narcotics].mean() > 0.95  # police-initiated: arrest-generated reports
    assert arrest[kind == "THEFT"].mean() < arrest[kind == "BATTERY"].mean()
    assert arrest[kind == "BURGLARY"].mean() < 0.08
    # labels changed: the old primary type before 2019, the new one since
    sexual = np.isin(kind, ["CRIM SEXUAL ASSAULT", "CRIMINAL SEXUAL ASSAULT"])
    assert set(kind[sexual & (year <= 2017)]) == {"CRIM SEXUAL ASSAULT"}
    assert set(kind[sexual & (year >= 2020)]) == {"CRIMINAL SEXUAL ASSAULT"}


def test_codes_are_consistent(big):
    iucr, fbi, kind = column(big, "iucr"), column(big, "fbi_code"), column(big, "primary_type")
    pairs = set(zip(iucr, fbi, strict=True))
    assert len({code for code, _ in pairs}) == len(pairs)  # each IUCR one FBI code
    assert ("0486", "08B") in pairs
    assert ("143A", "15") in pairs
    assert set(kind[iucr == "0760"]) == {"BURGLARY"}
    assert column(big, "year")[iucr == "0760"].astype(int).min() >= 2022  # the 2021 code
    beat, district = column(big, "beat"), column(big, "district")
    assert np.mean([b[:2] == d[1:] for b, d in zip(beat, district, strict=True)]) > 0.999


def test_domestic_hours_and_missing_values(big):
    year = column(big, "year").astype(int)
    late = year >= 2022
    domestic = column(big, "domestic").astype(bool)
    assert 0.15 < domestic[late].mean() < 0.22  # 18.3% in 2022-2023
    assert domestic[column(big, "iucr") == "0486"].all()
    hours = Counter(d[11:13] for d in column(big, "date")[late])
    assert hours["00"] > 2 * hours["01"]  # best-estimate times at midnight
    assert hours["12"] > 1.15 * hours["11"]
    minutes = Counter(d[11:16] for d in column(big, "date"))
    assert minutes["00:01"] > minutes["00:02"] * 3
    kind = column(big, "primary_type")
    no_coords = np.array(pc.is_null(big.table.column("latitude")).to_pylist())
    assert 0.004 < no_coords.mean() < 0.03
    assert no_coords[kind == "SEX OFFENSE"].mean() > 3 * no_coords.mean()
    assert not no_coords[kind == "HOMICIDE"].any()
    no_ward = np.array(pc.is_null(big.table.column("ward")).to_pylist())
    assert no_ward[year == 2001].mean() > 0.9
    assert no_ward[year >= 2010].mean() < 0.001
    latitude = column(big, "latitude")
    sentinel = latitude == str(SENTINEL[0])
    assert (column(big, "x_coordinate")[sentinel] == "0").all()


def test_updated_on_has_bulk_touches_and_late_updates(big):
    date = column(big, "date")
    updated = column(big, "updated_on")
    stamps = Counter(updated)
    biggest, count = stamps.most_common(1)[0]
    assert count > 0.05 * len(updated)  # one stamp on a large share of the rows
    assert biggest.startswith(("2015-08-17", "2018-02-10"))
    jan_2025 = np.char.startswith(date.astype(str), "2025-01")
    assert (updated[jan_2025] == "2025-05-17T15:40:52.000").mean() > 0.8  # §2.3
    lag_days = (
        (np.array(updated, dtype="datetime64[ms]") - np.array(date, dtype="datetime64[ms]"))
        .astype("timedelta64[D]")
        .astype(int)
    )
    recent = np.char.startswith(date.astype(str), "2024")
    assert np.median(lag_days[recent]) >= 7  # the portal lags a week
    assert (lag_days[recent] > 60).mean() > 0.04  # reclassified or arrested later
    clock = Counter(u[11:13] for u in updated[recent])
    assert clock.most_common(1)[0][0] == "15"  # the daily load job's hour


def test_json_file_and_truth_beside_it(tmp_path):
    synthetic = synthesize(200, seed=2)
    out = write_json(tmp_path / "rows.json", synthetic.table)
    truth = write_truth(truth_path_for(out), synthetic.truth)
    assert truth == tmp_path / "rows.truth.parquet"
    rows = json.loads(out.read_text())
    assert len(rows) == 200
    assert rows == to_json_rows(synthetic.table)
    stored = pq.read_table(truth)
    assert stored.column_names == ["id", "arrest_probability"]
    assert [str(i) for i in stored.column("id").to_pylist()] == [r["id"] for r in rows]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="covers 2001-2025"):
        synthesize(10, years=(1999, 2002))
    with pytest.raises(ValueError, match="location_shape"):
        synthesize(10, location_shape="wkt")
