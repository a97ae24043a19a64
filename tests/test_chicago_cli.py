"""`crimewh chicago pull` and `crimewh chicago abandon` as a user runs them.

A bad argument must be refused before anything is saved: a saved bad batch is resumed by
every later pull. An unfinished batch the API keeps refusing can be abandoned.
"""

import json
from datetime import datetime

import pytest

from crimewh.chicago.parse import CHICAGO
from crimewh.chicago.pull import StateStore
from crimewh_orchestration.cli import main

NEXT_YEAR = datetime.now(CHICAGO).year + 1


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A data folder of its own; the SODA domain points nowhere, so no test can fetch."""
    from crimewh.settings import settings

    monkeypatch.setenv("CRIMEWH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRIMEWH_SODA_DOMAIN", "127.0.0.1:1")
    monkeypatch.setenv("CRIMEWH_WAREHOUSE_URL", "postgresql://nobody:secret@127.0.0.1:1/none")
    yield tmp_path
    settings.cache_clear()


@pytest.mark.parametrize(
    ("arguments", "named", "why"),
    [
        (["--page-size", "-5"], "--page-size", "from 1 to 50000"),
        (["--page-size", "0"], "--page-size", "from 1 to 50000"),
        (["--page-size", "50001"], "--page-size", "from 1 to 50000"),
        (["--page-size", "1.5"], "--page-size", "whole number"),
        (["--page-size", "many"], "--page-size", "whole number"),
        (["--years", "1999-2005"], "--years", "from 2001"),
        (["--years", f"2020-{NEXT_YEAR}"], "--years", f"to {NEXT_YEAR - 1}"),
        (["--years", "2010-2005"], "--years", "first year comes first"),
        (["--years", "twenty"], "--years", "year range"),
        (["--since", "yesterday"], "--since", "ISO time"),
        (["--since", "1999-12-31T00:00:00"], "--since", "2001"),
        (["--since", f"{NEXT_YEAR}-01-02T00:00:00"], "--since", "future"),
        (["--overlap-hours", "-1"], "--overlap-hours", "from 0 to"),
        (["--overlap-hours", "nan"], "--overlap-hours", "from 0 to"),
        (["--overlap-hours", "inf"], "--overlap-hours", "from 0 to"),
        (["--overlap-hours", "a day"], "--overlap-hours", "number of hours"),
    ],
)
def test_a_bad_pull_argument_is_refused_before_anything_is_saved(
    data_dir, capsys, arguments, named, why
):
    with pytest.raises(SystemExit) as stopped:
        main(["chicago", "pull", *arguments])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"crimewh chicago pull: error: argument {named}: ")
    assert why in error
    assert not StateStore(data_dir).path.exists()


def test_abandon_with_nothing_unfinished_says_so(data_dir, capsys):
    assert main(["chicago", "abandon"]) == 0
    captured = capsys.readouterr()
    assert "no unfinished batch" in captured.err
    assert json.loads(captured.out) == {"abandoned": None}


def test_abandon_drops_a_batch_saved_with_a_bad_page_size_and_keeps_the_watermark(data_dir, capsys):
    """The tester's case: a page size of -5 saved by an earlier version blocked every pull."""
    store = StateStore(data_dir)
    state = store.load()
    state.watermark = "2025-11-20T08:00:00"
    state.in_progress = {
        "kind": "incremental", "request": {"kind": "incremental", "since": None},
        "where": "updated_on > '2025-11-19T08:00:00'", "partition": "batch=20251121T031500Z",
        "page_size": -5, "started_at": "2025-11-21T03:15:00+00:00", "stage": "fetching",
        "expected": None, "after_id": None, "pages": [], "fetched": 0, "report": {},
        "retries": 0,
    }  # fmt: skip
    store.save(state)
    staged = store.staging("batch=20251121T031500Z")
    staged.mkdir(parents=True)
    (staged / "page-000001.parquet").write_bytes(b"stand-in")

    # the pull refuses at once, before any request, and says how to get out
    assert main(["chicago", "pull", "--page-size", "1000"]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("crimewh chicago pull: ")
    assert "page size -5" in error
    assert "crimewh chicago abandon" in error

    assert main(["chicago", "abandon"]) == 0
    captured = capsys.readouterr()
    dropped = json.loads(captured.out)["abandoned"]
    assert dropped["partition"] == "batch=20251121T031500Z"
    assert dropped["page_size"] == -5
    assert dropped["watermark"] == "2025-11-20T08:00:00"
    assert "batch=20251121T031500Z" in captured.err
    after = store.load()
    assert after.in_progress is None
    assert after.watermark == "2025-11-20T08:00:00"
    assert not staged.exists()
