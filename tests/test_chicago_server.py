"""The local SODA server over real HTTP: the query subset, the wire form, faults, the CLI."""

import json
import os
import signal
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import requests
from sodapy import Socrata

from crimewh.chicago.client import RetryPolicy, SodaClient, SodaError, endpoint
from testkit.chicago_synth import synthesize, to_json_rows
from testkit.soda_server import Dataset, SodaServer


@pytest.fixture(scope="module")
def synthetic():
    return synthesize(1200, seed=4)


@pytest.fixture(scope="module")
def server(synthetic):
    with SodaServer(Dataset.from_wire_table(synthetic.table)) as running:
        yield running


def get(server, **params):
    response = requests.get(server.url, params=params, timeout=10)
    return response.status_code, response.headers.get("Content-Type"), response.json()


def test_rows_come_back_as_the_api_sends_them(server, synthetic):
    status, content_type, rows = get(server, **{"$limit": "5000"})
    assert status == 200
    assert content_type.startswith("application/json")
    assert rows == to_json_rows(synthetic.table)  # missing values: keys left out
    assert any("ward" not in row for row in rows)
    status, _, rows = get(server)
    assert len(rows) == 1000  # SODA's default $limit


def test_select_where_order_limit_offset_count(server, synthetic):
    everything = to_json_rows(synthetic.table)
    _, _, rows = get(
        server,
        **{"$select": "id, updated_on", "$where": "(year >= 2010 AND year <= 2012) AND id > 0",
           "$order": "updated_on DESC, id", "$limit": "7", "$offset": "3"},
    )  # fmt: skip
    wanted = sorted(
        ({"id": r["id"], "updated_on": r["updated_on"]} for r in everything
         if "2010" <= r["year"] <= "2012"),
        key=lambda r: (r["updated_on"], -int(r["id"])), reverse=True,
    )  # fmt: skip
    assert rows == wanted[3:10]
    _, _, rows = get(
        server, **{"$where": "date >= '2020-01-01T00:00:00' AND updated_on < '2025-06-01'",
                   "$select": "count(1) as n"},
    )  # fmt: skip
    expected = sum(r["date"] >= "2020-01-01" and r["updated_on"] < "2025-06-01" for r in everything)
    assert rows == [{"n": str(expected)}]
    _, _, rows = get(server, **{"$select": "count(*)"})
    assert rows == [{"count": str(len(everything))}]
    _, _, rows = get(server, **{"$select": "id,iucr", "iucr": "0486", "$order": "id"})
    assert [r["id"] for r in rows] == [r["id"] for r in everything if r["iucr"] == "0486"]


def test_malformed_queries_get_a_400_with_a_message(server):
    for params, message in (
        ({"$where": "id > 3 OR id < 2"}, "joined by AND"),
        ({"$where": "id >"}, "joined by AND"),
        ({"$where": "id > 3 AND"}, "joined by AND"),
        ({"$where": "(id > 3"}, "unbalanced"),
        ({"$where": "ward = 3"}, "cannot filter on 'ward'"),
        ({"$where": "updated_on > 'yesterday'"}, "not a floating timestamp"),
        ({"$select": "id,rd_no"}, "No such column"),
        ({"$order": "id sideways"}, "ASC|DESC"),
        ({"$limit": "-1"}, "$limit"),
    ):
        status, _, body = get(server, **params)
        assert status == 400, params
        assert body["error"] is True
        assert message in body["message"]
    client = SodaClient(server.domain, timeout=5)
    with pytest.raises(SodaError, match=r"refused .*joined by AND"):
        client.get(where="id > 3 OR id < 2")


def test_sodapy_reaches_it_over_plain_http_with_the_token(server):
    assert endpoint(server.domain) == ("http", server.domain)
    assert endpoint("data.cityofchicago.org") == ("https", "data.cityofchicago.org")
    assert endpoint(f"http://{server.domain}") == ("http", server.domain)
    assert endpoint("localhost:8080") == ("http", "localhost:8080")
    with SodaClient(f"http://{server.domain}", "TOKEN-1", timeout=5) as client:
        assert client.count() == 1200
    assert "TOKEN-1" in server.stats.app_tokens
    # sodapy as it comes (no adapter) would try HTTPS on the same address
    with pytest.raises(requests.exceptions.SSLError):
        Socrata(server.domain, None, timeout=2).get("ijzp-q8t2", limit=1)


def test_injected_faults_are_retried_and_retry_after_is_honoured(synthetic):
    # a stall far past the client's timeout, and a timeout far past any honest answer's
    # time, so that a busy machine cannot turn an ordinary request into a timeout
    with SodaServer(Dataset.from_wire_table(synthetic.table), retry_after=1,
                    slow_seconds=8.0) as server:  # fmt: skip
        waits: list[float] = []
        client = SodaClient(server.domain, timeout=2.0, retry=RetryPolicy(backoff_base=0.01),
                            sleep=waits.append)  # fmt: skip
        server.inject("429", times=2)
        assert client.count() == 1200
        assert waits == [1.0, 1.0]  # each 429's Retry-After: 1, not the 10 ms backoff
        assert client.retries == 2
        server.inject("500")
        server.inject("slow")
        assert client.count() == 1200
        assert client.retries == 4
        assert server.stats.faults == {"429": 2, "500": 1, "slow": 1}
        server.inject("500", times=3)
        impatient = SodaClient(server.domain, retry=RetryPolicy(attempts=3, backoff_base=0.01))
        with pytest.raises(SodaError, match="gave up after 3 attempts, the last HTTP 500"):
            impatient.count()


def test_fault_rate_is_seeded(synthetic):
    seen = []
    for _ in range(2):
        dataset = Dataset.from_wire_table(synthetic.table)
        with SodaServer(dataset, fail_rate=0.5, seed=9, slow_seconds=0.01) as server:
            codes = [
                requests.get(server.url, params={"$limit": "1"}, timeout=5).status_code
                for _ in range(16)
            ]
            seen.append((codes, dict(server.stats.faults)))
    assert seen[0] == seen[1]
    codes, faults = seen[0]
    assert codes.count(429) == faults["429"] > 0
    assert codes.count(500) == faults["500"] > 0
    assert codes.count(200) == 16 - faults["429"] - faults["500"]


def test_mutations_replace_rows_by_id(synthetic):
    dataset = Dataset.from_wire_table(synthetic.table)
    first = dataset.rows()[0]
    changed = dict(first, arrest=not first["arrest"], updated_on="2026-01-01T15:40:00.000")
    dataset.upsert([changed, {"id": "1", "case_number": "JZ000001", "year": "2026"}])
    dataset.delete([int(dataset.rows()[-1]["id"])])
    rows = dataset.rows()
    assert len(rows) == 1200
    assert rows[0] == {"id": "1", "case_number": "JZ000001", "year": "2026"}
    assert next(r for r in rows if r["id"] == first["id"]) == changed


def test_serve_command_serves_and_writes_the_truth(tmp_path):
    truth = tmp_path / "truth.parquet"
    env = dict(os.environ, CRIMEWH_DATA_DIR=str(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-m", "testkit", "chicago-serve", "--port", "0", "--rows", "300",
         "--seed", "3", "--truth-out", str(truth), "--fail-rate", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert "serving 300 rows" in line, line + process.stderr.read()
        url = line.split(" at ")[1].strip()
        rows = requests.get(url, params={"$select": "count(1) as n"}, timeout=10).json()
        assert rows == [{"n": "300"}]
        ids = [r["id"] for r in requests.get(url, params={"$order": "id"}, timeout=10).json()]
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "answered" in err
    stored = pq.read_table(truth)
    assert [str(i) for i in stored.column("id").to_pylist()] == ids
    assert stored.column_names == ["id", "arrest_probability"]


def test_serve_from_file(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"id": "2", "extra": {"a": 1}}, {"id": "1", "arrest": True}]))
    with SodaServer(Dataset.from_file(path)) as server:
        _, _, rows = get(server, **{"$order": "id"})
    assert rows == [{"id": "1", "arrest": True}, {"id": "2", "extra": {"a": 1}}]
    path.write_text('{"id": "1"}')
    with pytest.raises(ValueError, match="expected a JSON array of objects"):
        Dataset.from_file(path)
