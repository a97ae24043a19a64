"""Synthetic Chicago crimes as the portal's CSV export: display names, ``MM/DD/YYYY hh:mm:ss
AM`` dates, ``true``/``false`` flags and ``(lat, lon)`` locations, as a person downloads them
and uploads them to the scoring page."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pyarrow as pa

# the portal's export header, in its order
PORTAL_HEADER = {
    "id": "ID", "case_number": "Case Number", "date": "Date", "block": "Block", "iucr": "IUCR",
    "primary_type": "Primary Type", "description": "Description",
    "location_description": "Location Description", "arrest": "Arrest", "domestic": "Domestic",
    "beat": "Beat", "district": "District", "ward": "Ward", "community_area": "Community Area",
    "fbi_code": "FBI Code", "x_coordinate": "X Coordinate", "y_coordinate": "Y Coordinate",
    "year": "Year", "updated_on": "Updated On", "latitude": "Latitude", "longitude": "Longitude",
    "location": "Location",
}  # fmt: skip


def portal_rows(table: pa.Table) -> list[list[str]]:
    """The generator's wire rows (``chicago_synth.synthesize(...).table``) as export cells."""
    columns = {name: table.column(name).to_pylist() for name in PORTAL_HEADER}
    rows = []
    for i in range(table.num_rows):
        row = []
        for name in PORTAL_HEADER:
            value = columns[name][i]
            if name in ("date", "updated_on") and value:
                value = datetime.fromisoformat(value).strftime("%m/%d/%Y %I:%M:%S %p")
            elif name == "location":
                lat, lon = columns["latitude"][i], columns["longitude"][i]
                value = f"({lat}, {lon})" if lat and lon else ""
            elif isinstance(value, bool):
                value = "true" if value else "false"
            row.append("" if value is None else str(value))
        rows.append(row)
    return rows


def write_portal_csv(path: Path, table: pa.Table, *, extra_rows=()) -> Path:
    """Write ``table`` as the portal's export, then ``extra_rows`` (lists of cells) as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PORTAL_HEADER.values())
        writer.writerows(portal_rows(table))
        writer.writerows(extra_rows)
    return path
