"""A local SODA-compatible server for ``/resource/ijzp-q8t2.json``: tests, the demo, the benchmark.

It implements the subset the client uses, the way the City's portal answers it
(docs/reference/chicago-crimes-soda.md §2):

* ``$select`` (column names, ``*``, or ``count(1)`` / ``count(*)`` with an optional ``as``
  alias), ``$where`` (comparisons ``= != <> < <= > >=`` joined by ``AND``, parentheses
  allowed, on ``id``, ``updated_on``, ``date`` and ``year``), ``$order`` (``field [ASC|DESC]``,
  comma-separated), ``$limit`` (default 1000), ``$offset``, and plain ``field=value``
  equality filters;
* JSON with ``Content-Type: application/json``; numbers as strings, checkboxes as booleans,
  the keys of missing values left out; without ``$order`` rows come in storage order, which
  a mutation can change, so paging without an order is as unsafe here as on the portal;
* errors as ``{"error": true, "message": ...}`` with status 400;
* faults at ``fail_rate``: 429 with ``Retry-After``, 500, or a response held back
  ``slow_seconds`` (longer than a short client timeout), drawn from a seeded generator.

Rows are held in memory as JSON text per column (about 450 bytes a row), with the filter
columns parsed once into NumPy arrays; a page is cut with NumPy and rendered with Arrow
string kernels, so the server is rarely what a pull waits for. Tests change the rows while
a client pages through them with ``upsert`` and ``delete``.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crimewh.chicago import API_FIELDS, DATASET_ID
from crimewh.chicago.arrow import from_numpy, is_valid, strings, text, to_numpy

RESOURCE = f"/resource/{DATASET_ID}.json"
DEFAULT_LIMIT = 1000  # SODA's default when $limit is absent
FILTER_FIELDS = {"id": "number", "year": "number", "date": "time", "updated_on": "time"}
FAULTS = ("429", "500", "slow")
JSON_COLUMNS = ("location",)  # object values in the wire table, held as JSON text
NOT_A_TIME = np.iinfo(np.int64).min
_TOKEN = re.compile(
    r"""\s*(?:(?P<open>\()|(?P<close>\))|(?P<op><=|>=|!=|<>|=|<|>)"""
    r"""|(?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")|(?P<number>-?\d+(?:\.\d+)?)"""
    r"""|(?P<word>[:@A-Za-z_][\w:@]*))"""
)
_COUNT = re.compile(r"^count\(\s*(1|\*)\s*\)(?:\s+as\s+([A-Za-z_]\w*))?$", re.IGNORECASE)
_FLOATING = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?))?$")


class QueryError(Exception):
    """The query cannot be answered; the message goes back to the client with a 400."""


# -- the rows ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Snapshot:
    """Immutable: a mutation builds a new one and swaps it in, so readers never lock."""

    names: tuple[str, ...]
    columns: dict[str, pa.Array]  # JSON text per value, null where the key is absent
    ids: np.ndarray  # int64, rows sorted by it
    id_valid: np.ndarray
    year: np.ndarray
    year_valid: np.ndarray
    date: np.ndarray  # int64 milliseconds of the floating time, NOT_A_TIME when absent
    updated_on: np.ndarray

    def __len__(self) -> int:
        return self.ids.size


class Dataset:
    """The served rows. Thread-safe: queries read a snapshot, mutations replace it."""

    def __init__(self, columns: dict[str, pa.Array]):
        self._lock = threading.Lock()
        self._snapshot = _build(columns)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_wire_table(cls, table: pa.Table) -> Dataset:
        """From ``testkit.chicago_synth`` output: strings, booleans, ``location`` JSON text."""
        return cls({name: _json_text(name, table.column(name)) for name in table.column_names})

    @classmethod
    def from_json_rows(cls, rows: list[dict]) -> Dataset:
        """From decoded JSON rows (any keys, any values), e.g. a ``--from-file`` array."""
        return cls(_columns_from_rows(rows))

    @classmethod
    def from_file(cls, path: Path) -> Dataset:
        path = Path(path)
        try:
            rows = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: cannot read a JSON array of rows ({error})") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{path}: expected a JSON array of objects, one per row")
        return cls.from_json_rows(rows)

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._snapshot)

    @property
    def columns(self) -> tuple[str, ...]:
        return self._snapshot.names

    def ids(self) -> np.ndarray:
        snap = self._snapshot
        return snap.ids[snap.id_valid].copy()

    def rows(self) -> list[dict]:
        """Every row as the API would return it (slow; for tests)."""
        return json.loads(self.query({"$limit": str(len(self) + 1)}))

    # -- mutating ------------------------------------------------------------------------------
    def upsert(self, rows: list[dict]) -> None:
        """Insert rows, replacing any row with the same id."""
        incoming = _columns_from_rows(rows)
        with self._lock:
            old = self._snapshot
            new_ids = set(_parse_ints(incoming["id"])[0].tolist())
            keep = np.flatnonzero(~np.isin(old.ids, list(new_ids)) | ~old.id_valid)
            self._snapshot = _build(_concat(old, keep, incoming))

    def delete(self, ids) -> None:
        with self._lock:
            old = self._snapshot
            keep = np.flatnonzero(~np.isin(old.ids, np.asarray(list(ids), np.int64)))
            self._snapshot = _build(_concat(old, keep, {}))

    # -- querying ------------------------------------------------------------------------------
    def query(self, params: dict[str, str]) -> str:
        """The JSON body answering SODA ``params`` (``$select``, ``$where`` …)."""
        snap = self._snapshot
        select, count_alias = _parse_select(params.get("$select"), snap.names)
        mask = np.ones(len(snap), bool)
        for column, op, value in _parse_where(params.get("$where")):
            mask &= _compare(snap, column, op, value)
        for name, value in params.items():
            if not name.startswith("$"):
                mask &= _equals(snap, name, value)
        rows = np.flatnonzero(mask)
        if count_alias:
            return json.dumps([{count_alias: str(rows.size)}])
        rows = _ordered(snap, rows, params.get("$order"))
        offset = _non_negative(params.get("$offset"), "$offset", 0)
        limit = _non_negative(params.get("$limit"), "$limit", DEFAULT_LIMIT)
        rows = rows[offset : offset + limit]
        return _render(snap, rows, select)


def _json_text(name: str, column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A wire column as the JSON text of each value (null stays null)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_boolean(column.type):
        return pc.if_else(column, text("true"), text("false"))
    if name in JSON_COLUMNS:
        return column.cast(pa.string())
    column = column.cast(pa.string())
    escaped = pc.replace_substring(column, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    return pc.binary_join_element_wise(text('"'), escaped, text('"'), text(""))


def _columns_from_rows(rows: list[dict]) -> dict[str, pa.Array]:
    names = list(API_FIELDS)
    seen = set(names)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                names.append(key)
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    return {
        name: strings([dumps(row[name]) if name in row else None for row in rows]) for name in names
    }


def _concat(old: _Snapshot, keep: np.ndarray, incoming: dict[str, pa.Array]) -> dict:
    names = list(old.names) + [n for n in incoming if n not in old.names]
    take = from_numpy(keep.astype(np.int64))
    count = len(next(iter(incoming.values()))) if incoming else 0
    out = {}
    for name in names:
        kept = old.columns.get(name)
        kept = kept.take(take) if kept is not None else pa.nulls(keep.size, pa.string())
        out[name] = pa.concat_arrays([kept, incoming.get(name, pa.nulls(count, pa.string()))])
    return out


def _build(columns: dict[str, pa.Array]) -> _Snapshot:
    if "id" not in columns:
        raise ValueError("rows without an 'id' column cannot be served")
    ids, id_valid = _parse_ints(columns["id"])
    order = np.lexsort((ids, ~id_valid))  # by id; rows without one last
    take = from_numpy(order.astype(np.int64))
    if (order != np.arange(order.size)).any():
        columns = {name: array.take(take) for name, array in columns.items()}
        ids, id_valid = ids[order], id_valid[order]
    empty = pa.nulls(ids.size, pa.string())
    year, year_valid = _parse_ints(columns.get("year", empty))
    return _Snapshot(
        names=tuple(columns), columns=columns, ids=ids, id_valid=id_valid, year=year,
        year_valid=year_valid, date=_parse_times(columns.get("date", empty)),
        updated_on=_parse_times(columns.get("updated_on", empty)),
    )  # fmt: skip


def _unquoted(column: pa.Array) -> pa.Array:
    return pc.utf8_trim(column, characters='"')


def _parse_ints(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integers from JSON text (``"123"`` or ``123``); False where absent or not a number."""
    bare = _unquoted(column)
    try:
        values = pc.cast(bare, pa.int64())
        return to_numpy(values), is_valid(values)
    except pa.ArrowInvalid:
        out = np.zeros(len(bare), np.int64)
        valid = np.zeros(len(bare), bool)
        for i, value in enumerate(bare.to_pylist()):
            with contextlib.suppress(TypeError, ValueError):
                out[i], valid[i] = int(float(value)), True
        return out, valid


def _parse_times(column: pa.Array) -> np.ndarray:
    """Floating timestamps (milliseconds) from JSON text; NOT_A_TIME where absent or bad."""
    bare = _unquoted(column)
    try:
        values = pc.cast(bare, pa.timestamp("ms"))
        return to_numpy(values.cast(pa.int64()), fill=NOT_A_TIME)
    except pa.ArrowInvalid:
        out = np.full(len(bare), NOT_A_TIME, np.int64)
        for i, value in enumerate(bare.to_pylist()):
            with contextlib.suppress(QueryError):
                out[i] = _time_literal(value)
        return out


# -- SoQL ----------------------------------------------------------------------------------------
def _tokens(where: str) -> list[tuple[str, str]]:
    out, at = [], 0
    where = where.rstrip()
    while at < len(where):
        match = _TOKEN.match(where, at)
        if not match or match.end() == at:
            raise QueryError(f"$where: cannot read {where[at : at + 30]!r} (at character {at})")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        at = match.end()
    return out


def _parse_where(where: str | None) -> list[tuple[str, str, object]]:
    """``a > 1 AND (b <= '…')`` -> [(column, op, literal)]; only AND is supported."""
    if not where or not where.strip():
        return []
    tokens = _tokens(where)
    depth = 0
    flat = []
    for kind, value in tokens:
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
            if depth < 0:
                raise QueryError("$where: unbalanced parentheses")
        else:
            flat.append((kind, value))
    if depth:
        raise QueryError("$where: unbalanced parentheses")
    usage = (
        f"$where {where!r}: this server reads comparisons `field op literal` joined by AND, "
        f"on {', '.join(FILTER_FIELDS)}"
    )
    terms = []
    at = 0
    while True:
        term = flat[at : at + 3]
        kinds = [kind for kind, _ in term]
        if len(term) < 3 or kinds[:2] != ["word", "op"] or kinds[2] not in ("string", "number"):
            raise QueryError(usage)
        (_, column), (_, op), (kind, raw) = term
        column = "id" if column == ":id" else column
        if column not in FILTER_FIELDS:
            raise QueryError(f"$where: cannot filter on {column!r}; use {', '.join(FILTER_FIELDS)}")
        literal = raw[1:-1].replace(raw[0] * 2, raw[0]) if kind == "string" else raw
        terms.append((column, op, _literal(column, literal)))
        at += 3
        if at == len(flat):
            return terms
        kind, word = flat[at]
        if kind != "word" or word.upper() != "AND" or at + 1 == len(flat):
            raise QueryError(usage)
        at += 1


def _literal(column: str, literal: str) -> int:
    if FILTER_FIELDS[column] == "number":
        try:
            return int(float(literal))
        except ValueError:
            raise QueryError(f"$where: {column} is a number; {literal!r} is not") from None
    return _time_literal(literal)


def _time_literal(literal) -> int:
    match = _FLOATING.match(str(literal).strip())
    if not match:
        raise QueryError(
            f"{literal!r} is not a floating timestamp: write 'YYYY-MM-DDTHH:MM:SS' (no zone)"
        )
    day, clock = match.groups()
    moment = np.datetime64(f"{day}T{clock or '00:00'}", "ms")
    return int(moment.astype(np.int64))


_OPS = {
    "=": np.equal, "!=": np.not_equal, "<>": np.not_equal, "<": np.less, "<=": np.less_equal,
    ">": np.greater, ">=": np.greater_equal,
}  # fmt: skip


def _compare(snap: _Snapshot, column: str, op: str, value: int) -> np.ndarray:
    if column == "id":
        values, valid = snap.ids, snap.id_valid
    elif column == "year":
        values, valid = snap.year, snap.year_valid
    else:
        values = getattr(snap, column)
        valid = values != NOT_A_TIME
    return _OPS[op](values, value) & valid


def _equals(snap: _Snapshot, name: str, value: str) -> np.ndarray:
    if name not in snap.columns:
        raise QueryError(f"No such column: {name}")
    column = _unquoted(snap.columns[name])
    return to_numpy(pc.equal(column, text(value)), fill=False)


def _parse_select(select: str | None, names: tuple[str, ...]) -> tuple[list[str], str | None]:
    if not select or select.strip() == "*":
        return [n for n in names if not n.startswith(":")], None
    count = _COUNT.match(select.strip())
    if count:
        return [], count.group(2) or ("count_1" if count.group(1) == "1" else "count")
    out = []
    for item in select.split(","):
        name = item.strip()
        if name == "*":
            out += [n for n in names if not n.startswith(":")]
        elif name in names:
            out.append(name)
        else:
            raise QueryError(f"No such column: {name!r} ($select={select!r})")
    return out, None


def _ordered(snap: _Snapshot, rows: np.ndarray, order: str | None) -> np.ndarray:
    if not order or not order.strip():
        return rows  # storage order, as the portal promises nothing either
    keys = []
    for item in order.split(","):
        parts = item.split()
        direction = parts[1].upper() if len(parts) == 2 else "ASC"
        if not parts or len(parts) > 2 or direction not in ("ASC", "DESC"):
            raise QueryError(f"$order {order!r}: write `field [ASC|DESC]`, comma-separated")
        name = "id" if parts[0] == ":id" else parts[0]
        descending = direction == "DESC"
        keys.append((name, descending))
    if keys == [("id", False)]:
        return rows  # stored by id already
    sort_keys = []
    for name, descending in keys:
        if name == "id":
            values = np.where(snap.id_valid, snap.ids, np.iinfo(np.int64).max)[rows]
        elif name == "year":
            values = np.where(snap.year_valid, snap.year, np.iinfo(np.int64).max)[rows]
        elif name in ("date", "updated_on"):
            raw = getattr(snap, name)
            values = np.where(raw == NOT_A_TIME, np.iinfo(np.int64).max, raw)[rows]
        elif name in snap.columns:
            texts = snap.columns[name].take(from_numpy(rows.astype(np.int64))).to_pylist()
            _, values = np.unique(np.array([t or "\uffff" for t in texts], dtype=object),
                                  return_inverse=True)  # fmt: skip
        else:
            raise QueryError(f"$order: no such column {name!r}")
        sort_keys.append(-values if descending else values)
    return rows[np.lexsort(sort_keys[::-1])]


def _non_negative(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise QueryError(f"{name}={value!r}: expected a whole number >= 0")
    return number


def _render(snap: _Snapshot, rows: np.ndarray, select: list[str]) -> str:
    if rows.size == 0:
        return "[]"
    take = from_numpy(rows.astype(np.int64))
    fragments = [
        pc.binary_join_element_wise(
            text(json.dumps(name) + ":"), snap.columns[name].take(take), text("")
        )
        for name in select
    ]
    if not fragments:
        return "[" + ",".join(["{}"] * rows.size) + "]"
    body = pc.binary_join_element_wise(*fragments, text(","), null_handling="skip")
    objects = pc.binary_join_element_wise(text("{"), body, text("}"), text(""))
    return "[" + ",".join(objects.to_pylist()) + "]"


# -- HTTP ----------------------------------------------------------------------------------------
@dataclass
class Stats:
    """What the server saw, for tests and the log."""

    requests: int = 0
    faults: Counter = field(default_factory=Counter)
    app_tokens: set = field(default_factory=set)
    queries: list = field(default_factory=list)  # the params of each answered data request


class SodaServer:
    """``Dataset`` over HTTP on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fail_rate: float = 0.0,
        seed: int = 0,
        retry_after: int = 1,
        slow_seconds: float = 3.0,
        delay_seconds: float = 0.0,
    ):
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate={fail_rate}: expected 0 to 1")
        self.dataset = dataset
        self.fail_rate = fail_rate
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.delay_seconds = delay_seconds  # every data response, to give tests time to act
        self.stats = Stats()
        self._random = random.Random(seed)
        self._forced: deque[str] = deque()
        self._lock = threading.Lock()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.soda = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def domain(self) -> str:
        """What ``CRIMEWH_SODA_DOMAIN`` should say to reach this server."""
        return f"{self._httpd.server_address[0]}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.domain}{RESOURCE}"

    def start(self) -> SodaServer:
        """Serve (again, after ``stop``: on the same address, as a portal back from an
        outage)."""
        if self._httpd.socket.fileno() == -1:  # closed by stop()
            address = self._httpd.server_address
            self._httpd = _HTTPServer(address, _Handler)
            self._httpd.soda = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"soda-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SodaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def inject(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` data requests fail with ``kind`` (429, 500 or slow)."""
        if kind not in FAULTS:
            raise ValueError(f"fault {kind!r}: use one of {FAULTS}")
        with self._lock:
            self._forced.extend([kind] * times)

    def _draw_fault(self) -> str | None:
        with self._lock:
            self.stats.requests += 1
            if self._forced:
                kind = self._forced.popleft()
                self.stats.faults[kind] += 1
                return kind
            if self.fail_rate and self._random.random() < self.fail_rate:
                kind = self._random.choice(FAULTS)
                self.stats.faults[kind] += 1
                return kind
        return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    soda: SodaServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_GET(self) -> None:
        soda = self.server.soda
        parts = urlsplit(self.path)
        if parts.path != RESOURCE:
            self._send(HTTPStatus.NOT_FOUND, _error(f"no resource at {parts.path}; try {RESOURCE}"))
            return
        token = self.headers.get("X-App-Token")
        if token:
            with soda._lock:
                soda.stats.app_tokens.add(token)
        fault = soda._draw_fault()
        if fault == "429":
            self._send(
                HTTPStatus.TOO_MANY_REQUESTS, _error("Too many requests (injected)"),
                {"Retry-After": str(soda.retry_after)},
            )  # fmt: skip
            return
        if fault == "500":
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, _error("Internal error (injected)"))
            return
        if fault == "slow":
            time.sleep(soda.slow_seconds)
        elif soda.delay_seconds:
            time.sleep(soda.delay_seconds)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        params.pop("$$app_token", None)
        params.pop("$$exclude_system_fields", None)
        try:
            body = soda.dataset.query(params)
        except QueryError as error:
            self._send(HTTPStatus.BAD_REQUEST, _error(str(error)))
            return
        except Exception as error:  # a bug here: say so, as the portal's 500s do
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, _error(f"{type(error).__name__}: {error}"))
            return
        with soda._lock:
            soda.stats.queries.append(params)
            del soda.stats.queries[:-10_000]
        self._send(HTTPStatus.OK, body)

    def _send(self, status: HTTPStatus, body: str, headers: dict | None = None) -> None:
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): nothing to tell it

    def log_message(self, format: str, *args) -> None:
        pass  # the CLI prints its own one-line summary; tests stay quiet


def _error(message: str) -> str:
    return json.dumps({"error": True, "message": message, "code": "query.soql.invalid"})
