"""Pulls against the local server over HTTP with sodapy: paging under change, kills, faults.

The warehouse end (raw.chicago_crimes) is in test_chicago_warehouse.py; here a batch is checked
in the lake, and ``loader`` is a recorder that reads the partition back the way the warehouse
loader does, so the watermark rules can be tested on their own.
"""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import numpy as np
import pyarrow.parquet as pq
import pytest
from requests.adapters import HTTPAdapter
from sodapy import Socrata

from crimewh.chicago.client import RetryPolicy, SodaClient
from crimewh.chicago.pull import PullError, StateStore, _latest_per_id, abandon, pull
from crimewh.lake import Lake
from crimewh.settings import Settings
from testkit.chicago_synth import synthesize
from testkit.soda_server import Dataset, SodaServer

FAST = RetryPolicy(attempts=8, backoff_base=0.02, backoff_max=0.2)


class Recorder:
    """Stands in for the warehouse loader: reads each partition back from the lake."""

    def __init__(self, fail_times: int = 0):
        self.loaded: list[str] = []
        self.fail_times = fail_times

    def __call__(self, settings, source, table, partition, *, lake):
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("the warehouse went away (injected)")
        rows = lake.read(source, table, partition).num_rows
        self.loaded.append(partition)
        return type("Loaded", (), {"rows": rows, "seconds": 0.0, "load_id": len(self.loaded)})()


@pytest.fixture
def served():
    """1 500 synthetic rows of 2001-2025 on a fresh local server."""
    synthetic = synthesize(1500, seed=21)
    with SodaServer(Dataset.from_wire_table(synthetic.table)) as server:
        yield server


def settings_for(server, tmp_path, page_size=100) -> Settings:
    return Settings.load({
        "CRIMEWH_DATA_DIR": str(tmp_path), "CRIMEWH_SODA_DOMAIN": server.domain,
        "CRIMEWH_SODA_PAGE_SIZE": str(page_size), "CRIMEWH_SODA_APP_TOKEN": "test-token",
        "CRIMEWH_WAREHOUSE_URL": "postgresql://nobody:secret@127.0.0.1:1/none",
    })  # fmt: skip


def client_for(settings, timeout=5.0) -> SodaClient:
    return SodaClient.from_settings(settings, timeout=timeout, retry=FAST)


def batch_rows(settings, partition) -> list[dict]:
    table = Lake.from_settings(settings).read("chicago", "crimes", partition)
    return table.drop_columns([c for c in table.column_names if c == "batch"]).to_pylist()


def server_state(server) -> dict[int, str]:
    """id -> updated_on of every row the server holds now."""
    return {int(r["id"]): r["updated_on"][:19] for r in server.dataset.rows()}


def latest(rows_by_batch: list[list[dict]]) -> dict[int, str]:
    out: dict[int, str] = {}
    for rows in rows_by_batch:
        for row in rows:
            stamp = row["updated_on"].isoformat()
            if row["id"] not in out or stamp > out[row["id"]]:
                out[row["id"]] = stamp
    return out


def test_backfill_writes_one_typed_batch_and_sets_the_watermark(served, tmp_path):
    settings = settings_for(served, tmp_path)
    recorder = Recorder()
    result = pull(settings, years=(2001, 2025), client=client_for(settings), loader=recorder)

    assert result.partition.startswith("batch=")
    assert result.partition.endswith("Z")
    assert recorder.loaded == [result.partition]
    rows = batch_rows(settings, result.partition)
    assert sorted(r["id"] for r in rows) == sorted(server_state(served))
    assert result.rows == result.fetched == 1500
    assert result.pages == 15
    manifest = Lake.from_settings(settings).manifest("chicago", "crimes", result.partition)
    assert manifest.rows == 1500
    assert manifest.producer.startswith("crimewh-chicago ")
    assert len(manifest.source_sha256) == 64
    newest = max(server_state(served).values())
    assert result.watermark_after == newest
    state = json.loads(StateStore(tmp_path).path.read_text())
    assert state["watermark"] == newest
    assert state["in_progress"] is None
    assert not (tmp_path / "state" / "chicago" / result.partition).exists()  # staging cleared
    # the client asked the way a nightly job must: keyset on id, explicit columns, the token
    pages = [q for q in served.stats.queries if q.get("$order")]
    assert all(q["$order"] == "id" and q["$limit"] == "100" for q in pages)
    assert all(q["$select"].split(",")[0] == "id" and len(q["$select"].split(",")) == 22
               for q in pages)  # fmt: skip
    assert "$offset" not in pages[0]
    assert pages[1]["$where"].endswith("AND id > " + str(sorted(server_state(served))[99]))
    assert served.stats.app_tokens == {"test-token"}


class ChangingSource(SodaClient):
    """A client that changes the server's rows just before it requests page ``at_page``.

    The change happens in the thread that fetches the page, right before the request, so
    what the pull may and may not see is fixed by the order of requests, not by how fast
    either side runs: the pull reads ahead, and a hook on the page *processed* would race it.
    """

    def __init__(self, *args, at_page: int, change, **kwargs):
        super().__init__(*args, **kwargs)
        self.at_page, self.change = at_page, change
        self.pages_requested = 0

    def get(self, **query):
        if query.get("order") == "id":
            self.pages_requested += 1
            if self.pages_requested == self.at_page:
                where = query.get("where") or ""
                self.change(int(where.rsplit("id > ", 1)[1]))
        return super().get(**query)


def test_paging_stays_exact_while_rows_change_between_pages(served, tmp_path):
    """The promise: each row is as it was when its page was read.

    Rows past the cursor are read as they are when their page is requested (inserted ones
    arrive, deleted ones do not, updated ones in their new version); rows behind the cursor
    were read already, so a deletion there does not take them back and a change there
    arrives with the next pull. No row is read twice and none that stayed is missed.
    """
    settings = settings_for(served, tmp_path)
    before = server_state(served)
    ids = sorted(before)
    later = "2026-01-05T15:41:00.000"  # after everything: an incremental pull must see it
    changes = {}

    def change(cursor: int) -> None:
        above = [i for i in ids if i > cursor]
        below = [i for i in ids if i <= cursor]
        rows = {int(r["id"]): r for r in served.dataset.rows()}
        changes["inserted_above"] = [ids[-1] + 1 + k for k in range(5)]
        changes["inserted_below"] = [i + 1 for i in below[10:15] if i + 1 not in before]
        changes["deleted_above"] = above[150:155]
        changes["deleted_below"] = below[30:35]
        changes["updated_above"] = above[100:105]
        changes["updated_below"] = below[20:25]
        fresh = [dict(rows[below[0]], id=str(i), updated_on=later)
                 for i in changes["inserted_above"] + changes["inserted_below"]]  # fmt: skip
        touched = [dict(rows[i], updated_on=later, arrest=not rows[i]["arrest"])
                   for i in changes["updated_above"] + changes["updated_below"]]  # fmt: skip
        served.dataset.upsert(fresh + touched)
        served.dataset.delete(changes["deleted_above"] + changes["deleted_below"])

    source = ChangingSource(settings.soda_domain, settings.soda_app_token, timeout=5.0,
                            retry=FAST, at_page=6, change=change)  # fmt: skip
    recorder = Recorder()
    first = pull(settings, years=(2001, 2025), client=source, loader=recorder)
    assert changes, "the rows never changed: the pull read fewer than six pages"
    rows = batch_rows(settings, first.partition)
    got = [r["id"] for r in rows]
    assert len(got) == len(set(got))  # no row twice
    untouched = set(before) - set(changes["deleted_above"]) - set(changes["deleted_below"])
    assert untouched <= set(got)  # none of the rows that stayed is missing
    assert set(changes["inserted_above"]) <= set(got)  # new rows past the cursor arrive
    assert not set(changes["deleted_above"]) & set(got)  # deleted before their page was read
    assert set(changes["deleted_below"]) <= set(got)  # read before they were deleted
    assert not set(changes["inserted_below"]) & set(got)  # behind the cursor: next pull
    version = {r["id"]: r["updated_on"].isoformat() for r in rows}
    assert all(version[i] == later[:19] for i in changes["updated_above"])
    assert all(version[i] == before[i] for i in changes["updated_below"])

    # the next incremental pull catches what was behind the cursor, and nothing twice
    second = pull(settings, client=client_for(settings), loader=recorder)
    caught = {r["id"] for r in batch_rows(settings, second.partition)}
    assert caught == set(changes["inserted_below"]) | set(changes["updated_below"])
    assert second.unchanged == len(changes["inserted_above"]) + len(changes["updated_above"])
    assert second.watermark_after == later[:19]
    union = latest([rows, batch_rows(settings, second.partition)])
    expected = server_state(served)
    # a row deleted behind the cursor stays in the warehouse until a pull that sees deletions;
    # the portal's API has no tombstones, so no incremental pull can
    assert {i: v for i, v in union.items() if i not in changes["deleted_below"]} == expected


def test_offset_paging_without_order_breaks_under_the_same_changes(served):
    """Why keyset paging: sodapy's get_all over the same kind of change repeats rows."""
    ids = sorted(server_state(served))
    template = served.dataset.rows()[0]
    adapter = {"prefix": "http://", "adapter": HTTPAdapter()}
    client = Socrata(served.domain, None, timeout=5, session_adapter=adapter)
    seen = []
    for row in client.get_all("ijzp-q8t2", limit=100):
        seen.append(int(row["id"]))
        if len(seen) == 500:  # five pages in, ten rows appear before the cursor
            gaps = [i + 1 for i in ids[:400] if i + 1 not in ids][:10]
            served.dataset.upsert([dict(template, id=str(i)) for i in gaps])
    assert len(seen) != len(set(seen))  # duplicated rows


def test_a_pull_killed_by_an_exception_resumes_exactly(served, tmp_path):
    settings = settings_for(served, tmp_path)
    recorder = Recorder()

    def crash(page):
        if page.number == 4:
            raise KeyboardInterrupt  # as if the operator pressed Ctrl-C after page 4

    with pytest.raises(KeyboardInterrupt):
        pull(settings, years=(2001, 2025), client=client_for(settings), loader=recorder,
             on_page=crash)  # fmt: skip
    state = StateStore(tmp_path).load()
    assert [p["rows"] for p in state.in_progress["pages"]] == [100] * 4
    assert state.watermark is None
    assert not recorder.loaded
    checkpoint = state.in_progress["after_id"]
    served.stats.queries.clear()

    result = pull(settings, years=(2001, 2025), client=client_for(settings), loader=recorder)
    assert result.resumed
    assert result.partition == state.in_progress["partition"]
    first_query = next(q for q in served.stats.queries if q.get("$order"))
    assert first_query["$where"].endswith(f"AND id > {checkpoint}")  # not from the start
    got = [r["id"] for r in batch_rows(settings, result.partition)]
    assert sorted(got) == sorted(server_state(served))  # every id once, none missing
    assert result.pages == 15


def test_a_pull_killed_by_sigkill_resumes_exactly(tmp_path):
    synthetic = synthesize(1200, seed=8)
    with SodaServer(Dataset.from_wire_table(synthetic.table), delay_seconds=0.15) as server:
        settings = settings_for(server, tmp_path)
        script = (
            "from crimewh.settings import settings\n"
            "from crimewh.chicago.pull import pull\n"
            "pull(settings(), years=(2001, 2025))\n"
        )
        env = dict(os.environ, CRIMEWH_DATA_DIR=str(tmp_path),
                   CRIMEWH_SODA_DOMAIN=server.domain, CRIMEWH_SODA_PAGE_SIZE="100")  # fmt: skip
        child = subprocess.Popen([sys.executable, "-c", script], env=env,
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
        store = StateStore(tmp_path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            if store.path.exists():
                job = store.load().in_progress or {}
                if len(job.get("pages", [])) >= 3:
                    break
            time.sleep(0.02)
        assert child.poll() is None, child.stderr.read()  # still mid-pull
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stderr.close()
        killed_at = store.load().in_progress
        assert 3 <= len(killed_at["pages"]) < 12

        server.delay_seconds = 0
        recorder = Recorder()
        result = pull(settings, years=(2001, 2025), client=client_for(settings), loader=recorder)
        assert result.resumed
        assert result.partition == killed_at["partition"]
        got = [r["id"] for r in batch_rows(settings, result.partition)]
        assert len(got) == len(set(got)) == 1200
        assert set(got) == set(server_state(server))


def test_twenty_percent_faults_still_give_every_row_once(tmp_path):
    synthetic = synthesize(2000, seed=5)
    dataset = Dataset.from_wire_table(synthetic.table)
    # a stall well past the client's timeout, and a timeout well past an honest answer's
    # time even on a busy machine: only the injected faults may count as retries
    with SodaServer(dataset, fail_rate=0.2, seed=26, retry_after=1, slow_seconds=4.0) as server:
        settings = settings_for(server, tmp_path, page_size=125)
        client = SodaClient.from_settings(settings, timeout=2.0, retry=FAST,
                                          sleep=lambda seconds: None)  # fmt: skip
        result = pull(settings, years=(2001, 2025), client=client, loader=Recorder())
        got = [r["id"] for r in batch_rows(settings, result.partition)]
        assert len(got) == len(set(got)) == 2000
        assert set(got) == set(server_state(server))
        faults = server.stats.faults
        assert min(faults["429"], faults["500"], faults["slow"]) > 0, faults
        assert result.retries == sum(faults.values()) > 0.1 * server.stats.requests


def test_the_watermark_waits_for_the_load(served, tmp_path):
    settings = settings_for(served, tmp_path)
    failing = Recorder(fail_times=1)
    with pytest.raises(RuntimeError, match="went away"):
        pull(settings, years=(2001, 2025), client=client_for(settings), loader=failing)
    state = StateStore(tmp_path).load()
    assert state.watermark is None  # in the lake, not loaded: the watermark stays
    assert state.in_progress["stage"] == "in_lake"
    partition = state.in_progress["partition"]
    assert Lake.from_settings(settings).partitions("chicago", "crimes") == [partition]
    served.stats.queries.clear()
    result = pull(settings, years=(2001, 2025), client=client_for(settings), loader=failing)
    assert failing.loaded == [partition] == [result.partition]
    assert not served.stats.queries  # nothing fetched again
    assert StateStore(tmp_path).load().watermark == result.watermark_after is not None


def test_incremental_pulls_use_the_overlap_and_add_nothing_when_nothing_changed(served, tmp_path):
    settings = settings_for(served, tmp_path)
    recorder = Recorder()
    with pytest.raises(PullError, match="no watermark yet"):
        pull(settings, client=client_for(settings), loader=recorder)
    pull(settings, years=(2001, 2025), client=client_for(settings), loader=recorder)
    watermark = StateStore(tmp_path).load().watermark

    again = pull(settings, client=client_for(settings), loader=recorder)
    assert again.partition is None
    assert again.rows == 0
    assert again.fetched == again.unchanged > 0  # the overlap window, all held already
    assert again.where == f"updated_on > '{_minus_a_day(watermark)}'"
    assert again.watermark_after == watermark
    assert len(recorder.loaded) == 1

    # a row published late with an updated_on just before the watermark: the overlap finds it
    row = served.dataset.rows()[3]
    late = (datetime.fromisoformat(watermark).replace(hour=3)).isoformat() + ".000"
    served.dataset.upsert([dict(row, updated_on=late, primary_type="ASSAULT")])
    third = pull(settings, client=client_for(settings), loader=recorder)
    changed = batch_rows(settings, third.partition)
    assert [(r["id"], r["primary_type"]) for r in changed] == [(int(row["id"]), "ASSAULT")]
    assert third.watermark_after == watermark  # older than the watermark: it does not move


def _minus_a_day(stamp: str) -> str:
    return (datetime.fromisoformat(stamp) - timedelta(days=1)).isoformat()


def test_since_and_two_pulls_at_once(served, tmp_path):
    settings = settings_for(served, tmp_path)
    result = pull(settings, since=datetime(2025, 11, 1), client=client_for(settings),
                  loader=Recorder())  # fmt: skip
    expected = {i for i, u in server_state(served).items() if u > "2025-11-01T00:00:00"}
    assert {r["id"] for r in batch_rows(settings, result.partition)} == expected
    with StateStore(tmp_path).locked(), pytest.raises(PullError, match="another Chicago pull"):
        pull(settings, client=client_for(settings), loader=Recorder())


def test_duplicates_in_a_batch_keep_the_latest_updated_on():
    ids = np.array([5, 3, 5, 7, 3, 5])
    updated = np.array([10, 20, 30, 5, 20, 25])
    keep = _latest_per_id(ids, updated)
    assert keep.tolist() == [False, False, True, True, True, False]


def test_pull_command_reports_missing_warehouse_before_fetching(served, tmp_path):
    env = dict(os.environ, CRIMEWH_DATA_DIR=str(tmp_path), CRIMEWH_SODA_DOMAIN=served.domain)
    env.pop("CRIMEWH_WAREHOUSE_URL", None)
    run = subprocess.run(
        [sys.executable, "-m", "crimewh_orchestration.chicago_cli", "pull", "--years", "2020-2021"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 1
    assert "CRIMEWH_WAREHOUSE_URL" in run.stderr
    assert not [q for q in served.stats.queries if q.get("$order")]


def test_staged_pages_are_typed_parquet(served, tmp_path):
    settings = settings_for(served, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        pull(settings, years=(2001, 2025), client=client_for(settings), loader=Recorder(),
             on_page=lambda page: (_ for _ in ()).throw(KeyboardInterrupt))  # fmt: skip
    job = StateStore(tmp_path).load().in_progress
    page = pq.read_table(tmp_path / "state" / "chicago" / job["partition"] / "page-000001.parquet")
    assert page.schema.field("beat").type == "string"
    assert page.num_rows == 100


def test_an_unfinished_backfill_is_finished_before_the_next_pull(served, tmp_path):
    settings = settings_for(served, tmp_path)
    recorder = Recorder()

    def crash(page):
        if page.number == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pull(settings, years=(2001, 2025), client=client_for(settings), loader=recorder,
             on_page=crash)  # fmt: skip
    unfinished = StateStore(tmp_path).load().in_progress["partition"]
    result = pull(settings, client=client_for(settings), loader=recorder)  # an incremental
    assert recorder.loaded[0] == unfinished  # the backfill first, complete
    assert len(batch_rows(settings, unfinished)) == 1500
    assert result.kind == "incremental"
    assert result.partition is None  # and then nothing new since it
    assert StateStore(tmp_path).load().in_progress is None


def test_a_gate_before_the_lake_holds_the_batch_back(served, tmp_path):
    settings = settings_for(served, tmp_path)
    seen = []

    def gate(table, partition):
        seen.append((table.num_rows, partition))
        if len(seen) == 1:
            raise ValueError("critical check failed (injected)")

    with pytest.raises(ValueError, match="injected"):
        pull(settings, years=(2001, 2025), client=client_for(settings), loader=Recorder(),
             before_lake=gate)  # fmt: skip
    assert Lake.from_settings(settings).partitions("chicago", "crimes") == []
    assert StateStore(tmp_path).load().in_progress["stage"] == "fetched"
    result = pull(settings, years=(2001, 2025), client=client_for(settings), loader=Recorder(),
                  before_lake=gate)  # fmt: skip
    assert seen == [(1500, result.partition)] * 2
    assert result.rows == 1500


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        ({"page_size": -5}, r"--page-size -5: .* from 1 to 50000"),
        ({"page_size": 0}, r"--page-size 0: .* from 1 to 50000"),
        ({"page_size": 50_001}, r"--page-size 50001: .* from 1 to 50000"),
        ({"years": (1999, 2005)}, r"--years 1999-2005: .* from 2001"),
        ({"years": (2010, 2005)}, r"--years 2010-2005: the first year comes first"),
        ({"since": datetime(1900, 1, 1)}, r"--since 1900-01-01T00:00:00: .* 2001"),
        ({"since": datetime(2999, 1, 1)}, r"--since 2999-01-01T00:00:00: .* future"),
        ({"overlap": -timedelta(hours=1)}, r"--overlap-hours -1: .* from 0 to"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_saved(served, tmp_path, arguments, why):
    settings = settings_for(served, tmp_path)
    with pytest.raises(PullError, match=why):
        pull(settings, client=client_for(settings), loader=Recorder(), **arguments)
    assert not StateStore(tmp_path).path.exists()
    assert not served.stats.queries


def test_a_page_size_setting_soda_refuses_is_named(served, tmp_path):
    settings = settings_for(served, tmp_path, page_size=60_000)
    with pytest.raises(PullError, match=r"CRIMEWH_SODA_PAGE_SIZE=60000: .* from 1 to 50000"):
        pull(settings, years=(2001, 2025), client=client_for(settings), loader=Recorder())
    assert not StateStore(tmp_path).path.exists()


def test_a_batch_the_api_keeps_refusing_can_be_abandoned(served, tmp_path):
    settings = settings_for(served, tmp_path)
    recorder = Recorder()
    pull(settings, since=datetime(2025, 11, 1), client=client_for(settings), loader=recorder)
    watermark = StateStore(tmp_path).load().watermark

    def crash(page):
        if page.number == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pull(settings, years=(2001, 2025), client=client_for(settings), loader=recorder,
             on_page=crash)  # fmt: skip
    store = StateStore(tmp_path)
    state = store.load()
    stuck = state.in_progress["partition"]
    state.in_progress["where"] = "beat = 'x'"  # a query the API refuses (400), as if saved so
    store.save(state)
    for _ in range(2):  # refused on every resume, and each time told the way out
        with pytest.raises(PullError) as refused:
            pull(settings, years=(2001, 2025), client=client_for(settings), loader=recorder)
        message = str(refused.value)
        assert "400" in message
        assert f"Every pull resumes the unfinished batch {stuck}" in message
        assert "crimewh chicago abandon" in message
        assert "\n" not in message
    assert store.load().in_progress["partition"] == stuck  # never dropped behind one's back

    dropped = abandon(settings)
    assert dropped.partition == stuck
    assert (dropped.pages, dropped.fetched, dropped.stage) == (2, 200, "fetching")
    assert dropped.watermark == watermark
    after = store.load()
    assert after.in_progress is None
    assert after.watermark == watermark
    assert not store.staging(stuck).exists()
    assert abandon(settings) is None  # nothing left to drop

    result = pull(settings, years=(2001, 2025), client=client_for(settings), loader=recorder)
    assert not result.resumed  # a new batch, every row of it fetched afresh
    assert result.rows == result.fetched == 1500


def test_a_batch_already_in_the_lake_is_abandoned_only_when_forced(served, tmp_path):
    settings = settings_for(served, tmp_path)
    with pytest.raises(RuntimeError, match="went away"):
        pull(settings, years=(2001, 2025), client=client_for(settings),
             loader=Recorder(fail_times=1))  # fmt: skip
    partition = StateStore(tmp_path).load().in_progress["partition"]
    with pytest.raises(PullError, match=r"already in the lake.*--force"):
        abandon(settings)
    assert StateStore(tmp_path).load().in_progress["partition"] == partition
    dropped = abandon(settings, force=True)
    assert (dropped.partition, dropped.stage) == (partition, "in_lake")
    assert StateStore(tmp_path).load().in_progress is None
    assert Lake.from_settings(settings).partitions("chicago", "crimes") == [partition]


def test_benchmark_reports_rows_per_second(tmp_path):
    from testkit.bench_chicago import bench_pull

    result = bench_pull(tmp_path, rows=3000, page_size=1000)
    assert result["bench"] == "chicago_pull"
    assert result["rows"] == 3000
    assert result["pages"] == 3
    assert result["rows_per_s"] > 0
    assert result["loaded"] is False
    assert [p.name for p in tmp_path.iterdir()] == ["truth.parquet"]  # the run cleaned up


def test_the_test_kit_command_line_writes_synthetic_chicago_rows(tmp_path, capsys):
    from testkit.cli import main

    assert main(["chicago-synth", "--rows", "40", "--out", str(tmp_path / "r.json")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 40
    assert len(json.loads((tmp_path / "r.json").read_text())) == 40
    assert (tmp_path / "r.truth.parquet").exists()
