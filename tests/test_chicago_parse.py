"""JSON rows to the raw table: the reference's real rows, and every drift the portal has shown."""

import json
from datetime import datetime

import pyarrow as pa
import pytest

from crimewh.chicago.client import SodaClient
from crimewh.chicago.parse import RAW_SCHEMA, ParseError, parse_rows
from testkit.soda_server import Dataset, SodaServer

# docs/reference/chicago-crimes-soda.md §1.4, verbatim
ROW_2017 = json.loads("""{
   ":@computed_region_43wa_7qmu":"45", ":@computed_region_6mkv_f3dw":"4299",
   ":@computed_region_awaf_s7ux":"4", ":@computed_region_bdys_3d7i":"562",
   ":@computed_region_d3ds_rm58":"67", ":@computed_region_d9mm_jgwp":"25",
   ":@computed_region_rpca_8um6":"5", ":@computed_region_vrxf_vc4k":"26",
   "arrest":true, "beat":"1524", "block":"054XX W RICE ST", "case_number":"JA526401",
   "community_area":"25", "date":"2017-11-26T23:53:00.000", "description":"SIMPLE",
   "district":"015", "domestic":false, "fbi_code":"08B", "id":"11160347", "iucr":"0460",
   "latitude":"41.895796081",
   "location":{"type":"Point", "coordinates":[-87.761401563, 41.895796081]},
   "location_description":"ALLEY", "longitude":"-87.761401563", "primary_type":"BATTERY",
   "updated_on":"2017-12-03T15:49:45.000", "ward":"37", "x_coordinate":"1139962",
   "y_coordinate":"1905137", "year":"2017"
}""")
ROW_2002 = {
    "arrest": False, "beat": "0511", "block": "0000X E 100 PL", "case_number": "HH291477",
    "date": "2002-04-07T14:45:00.000", "description": "HARASSMENT BY TELEPHONE",
    "district": "005", "domestic": False, "fbi_code": "26", "id": "2068284", "iucr": "2825",
    "latitude": "41.711840612",
    "location": {"type": "Point", "coordinates": [-87.622652, 41.711841]},
    "location_description": "RESIDENCE", "longitude": "-87.622651588",
    "primary_type": "OTHER OFFENSE", "updated_on": "2016-01-15T11:08:45.000",
    "x_coordinate": "1178292", "y_coordinate": "1838387", "year": "2002",
}  # fmt: skip
EXPECTED_2017 = {
    "id": 11160347, "case_number": "JA526401", "date": datetime(2017, 11, 26, 23, 53),
    "block": "054XX W RICE ST", "iucr": "0460", "primary_type": "BATTERY",
    "description": "SIMPLE", "location_description": "ALLEY", "arrest": True, "domestic": False,
    "beat": "1524", "district": "015", "ward": 37, "community_area": "25", "fbi_code": "08B",
    "x_coordinate": 1139962.0, "y_coordinate": 1905137.0, "year": 2017,
    "updated_on": datetime(2017, 12, 3, 15, 49, 45), "latitude": 41.895796081,
    "longitude": -87.761401563,
}  # fmt: skip
EXPECTED_2002 = {
    "id": 2068284, "case_number": "HH291477", "date": datetime(2002, 4, 7, 14, 45),
    "block": "0000X E 100 PL", "iucr": "2825", "primary_type": "OTHER OFFENSE",
    "description": "HARASSMENT BY TELEPHONE", "location_description": "RESIDENCE",
    "arrest": False, "domestic": False, "beat": "0511", "district": "005", "ward": None,
    "community_area": None, "fbi_code": "26", "x_coordinate": 1178292.0,
    "y_coordinate": 1838387.0, "year": 2002, "updated_on": datetime(2016, 1, 15, 11, 8, 45),
    "latitude": 41.711840612, "longitude": -87.622651588,
}  # fmt: skip


def fetch(rows: list[dict]) -> list[dict]:
    """Serve ``rows`` locally and read them back the way a pull does: sodapy over HTTP."""
    with SodaServer(Dataset.from_json_rows(rows)) as server:
        client = SodaClient(server.domain, timeout=5)
        return [row for page in client.pages(None, page_size=1000) for row in page]


def test_the_reference_rows_parse_to_the_right_types():
    served = fetch([ROW_2017, ROW_2002])
    assert [r["id"] for r in served] == ["2068284", "11160347"]  # by id
    assert ":@computed_region_43wa_7qmu" not in served[1]  # the explicit $select leaves it out
    table, report = parse_rows(served)
    assert table.schema == RAW_SCHEMA
    assert table.to_pylist() == [EXPECTED_2002, EXPECTED_2017]
    assert not report.bad_values
    assert not report.unknown_columns


def test_unknown_columns_are_ignored_and_reported():
    table, report = parse_rows([ROW_2017, ROW_2002])
    assert table.to_pylist() == [EXPECTED_2017, EXPECTED_2002]
    assert report.unknown_columns == {f":@computed_region_{k}": 1 for k in (
        "43wa_7qmu", "6mkv_f3dw", "awaf_s7ux", "bdys_3d7i", "d3ds_rm58", "d9mm_jgwp",
        "rpca_8um6", "vrxf_vc4k")}  # fmt: skip
    assert "ignored columns the raw table does not have" in report.warnings()[0]


def drifted(row_id: int, **changes) -> dict:
    row = dict(ROW_2017, id=str(row_id))
    for key, value in changes.items():
        if value is None:
            row.pop(key, None)
        else:
            row[key] = value
    return row


def test_schema_drift_over_http():
    """Every shape the portal has sent for the same columns, served and pulled back."""
    human = json.dumps({"address": "", "city": "", "state": "", "zip": ""})
    rows = [
        # location shapes, with latitude/longitude absent so they must come from location
        drifted(1, latitude=None, longitude=None,
                location={"type": "Point", "coordinates": [-87.7, 41.9]}),
        drifted(2, latitude=None, longitude=None,
                location={"latitude": "41.891062111", "longitude": "-87.617043461",
                          "human_address": human}),
        drifted(3, latitude=None, longitude=None, location="(41.805072258, -87.619480201)"),
        drifted(4, latitude=None, longitude=None, location="POINT (-87.6 41.7)"),
        drifted(5, latitude=None, longitude=None, location=None, x_coordinate=None,
                y_coordinate=None),  # not geocoded yet
        # older exports: booleans as strings, numbers unpadded or as JSON numbers
        drifted(6, arrest="true", domestic="False", beat=511, district="5", ward="37.0",
                year=2017, community_area=25),
        # keys missing altogether, and a brand-new column
        drifted(7, ward=None, community_area=None, location_description=None,
                rd_no="JA000007"),
        # fixed timestamps with a zone, and the CSV export's format
        drifted(8, date="2017-11-27T05:53:00.000Z", updated_on="12/03/2017 03:49:45 PM"),
        # values nobody can read become null, and are counted
        drifted(9, x_coordinate="n/a", arrest="maybe", location={"oops": 1}, latitude=None),
    ]  # fmt: skip
    table, report = parse_rows(fetch(rows))
    by_id = {row["id"]: row for row in table.to_pylist()}
    assert (by_id[1]["latitude"], by_id[1]["longitude"]) == (41.9, -87.7)
    assert (by_id[2]["latitude"], by_id[2]["longitude"]) == (41.891062111, -87.617043461)
    assert (by_id[3]["latitude"], by_id[3]["longitude"]) == (41.805072258, -87.619480201)
    assert (by_id[4]["latitude"], by_id[4]["longitude"]) == (41.7, -87.6)
    assert by_id[5]["latitude"] is by_id[5]["x_coordinate"] is None
    assert report.coordinates_from_location == 4
    six = by_id[6]
    assert (six["arrest"], six["domestic"], six["beat"], six["district"]) == (
        True, False, "0511", "005"
    )  # fmt: skip
    assert (six["ward"], six["year"], six["community_area"]) == (37, 2017, "25")
    seven = by_id[7]
    assert seven["ward"] is seven["community_area"] is seven["location_description"] is None
    assert seven["case_number"] == "JA526401"  # the rest intact
    # 05:53 UTC on 27 Nov 2017 is 23:53 the day before in Chicago (CST, UTC-6)
    assert by_id[8]["date"] == datetime(2017, 11, 26, 23, 53)
    assert by_id[8]["updated_on"] == datetime(2017, 12, 3, 15, 49, 45)
    assert report.zoned_timestamps == 1
    nine = by_id[9]
    assert nine["x_coordinate"] is nine["arrest"] is nine["latitude"] is None
    assert report.bad_values == {"x_coordinate": 1, "arrest": 1, "location": 1}
    assert report.examples["arrest"] == "id 9: 'maybe'"
    assert all(row["date"] is not None for row in by_id.values())


def test_the_server_also_serves_unknown_columns_when_asked():
    """`select *` returns a new column; the parser then reports it instead of failing."""
    with SodaServer(Dataset.from_json_rows([drifted(1, rd_no="JA000001")])) as server:
        rows = SodaClient(server.domain, timeout=5).get(select="*")
    assert rows[0]["rd_no"] == "JA000001"
    _, report = parse_rows(rows)
    assert report.unknown_columns["rd_no"] == 1


def test_a_row_without_an_id_stops_the_parse():
    with pytest.raises(ParseError, match="no usable id"):
        parse_rows([ROW_2017, dict(ROW_2002, id="")])


def test_an_empty_page_is_an_empty_table():
    table, report = parse_rows([])
    assert table.schema == RAW_SCHEMA
    assert table.num_rows == report.rows == 0
    assert isinstance(table.column("date").type, pa.TimestampType)
