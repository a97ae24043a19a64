"""Pull Chicago crimes into the lake and ``raw.chicago_crimes``: incremental or by year range.

One pull is one batch: the rows it fetched become the lake partition
``chicago/crimes/batch=<UTC start, e.g. 20261121T031500Z>``, which the loader then copies
into ``raw.chicago_crimes`` (replacing exactly that partition, so a reload is harmless).

* **Incremental** (the default): ``updated_on > watermark - overlap`` (one day by default:
  rows are published late and with old ``updated_on`` values, §2.3 of the reference), or
  ``updated_on > --since`` when given. Rows whose ``(id, updated_on)`` an earlier batch
  already holds are dropped, so a rerun with nothing new adds nothing.
* **Backfill** (``years=(A, B)``): ``year >= A AND year <= B``, everything, no dropping.

Either way pages come by keyset on ``id`` (see ``client``), and each page is parsed and
written to a staging Parquet file before the checkpoint records it. A pull killed at any
point resumes from its checkpoint when run again: the same batch, the page after the last
recorded one, so every id comes once and none is missed. Within a batch rows are
deduplicated on ``id`` keeping the latest ``updated_on``; across batches the raw table keeps
every version and staging picks the latest.

The watermark (the newest ``updated_on`` loaded) moves only after the batch is in the lake
*and* loaded. A backfill sets it only when there is none yet, so backfill all the years
you want kept current before the first incremental pull.

State lives in ``<data_dir>/state/chicago.json`` (written atomically; see ``PullState``), with
the staged pages of the batch in progress under ``<data_dir>/state/chicago/<batch>/``. A lock
file beside it keeps two pulls from running at once.

Because every pull resumes the unfinished batch first, a batch the API refuses would block
every later pull. So the arguments are checked before a batch is saved (``check_*``), and
``abandon`` (``crimewh chicago abandon``) drops an unfinished batch and its staged pages,
keeping the watermark, for a batch that is refused all the same (say, saved by an older
version, or refused after a change on the portal).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crimewh import failpoints
from crimewh.chicago import FIRST_YEAR
from crimewh.chicago.arrow import from_numpy, to_numpy
from crimewh.chicago.parse import CHICAGO, RAW_SCHEMA, ParseReport, parse_rows

log = logging.getLogger(__name__)
SOURCE, TABLE = "chicago", "crimes"
DEFAULT_OVERLAP = timedelta(days=1)
STATE_VERSION = 1
FLOATING = "%Y-%m-%dT%H:%M:%S"
# SODA 2.0 endpoints refuse a $limit over 50 000 (400 "length must be <= 50000"); 2.1 has no
# maximum, but bigger pages time out more (docs/reference/chicago-crimes-soda.md §2.4, §5)
MAX_PAGE_SIZE = 50_000
MAX_OVERLAP = timedelta(days=366)  # more than a year is a typo, not an overlap
ABANDON_COMMAND = "crimewh chicago abandon"


def producer() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"crimewh-chicago {version('crime-warehouse')}"
    except PackageNotFoundError:
        return "crimewh-chicago 0+unknown"


class PullError(Exception):
    """A pull cannot start or go on; the message says why and what to do."""


# -- state ---------------------------------------------------------------------------------------
@dataclass
class PullState:
    """``<data_dir>/state/chicago.json``.

    ``watermark``: the newest ``updated_on`` loaded (floating Chicago time), or null before the
    first load. ``recent_batches``: batches whose rows may fall in the next overlap window
    (partition, newest ``updated_on``, rows), for dropping rows already held.
    ``in_progress``: the batch being pulled (its query, pages written, stage), or null.
    ``last_pull``: the summary of the last finished pull.
    """

    watermark: str | None = None
    recent_batches: list[dict] = field(default_factory=list)
    in_progress: dict | None = None
    last_pull: dict | None = None
    version: int = STATE_VERSION


class StateStore:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "state" / "chicago.json"
        self.staging_root = Path(data_dir) / "state" / "chicago"

    def load(self) -> PullState:
        if not self.path.exists():
            return PullState()
        try:
            data = json.loads(self.path.read_text())
            return PullState(**data)
        except (ValueError, TypeError) as error:
            raise PullError(
                f"{self.path} is not a pull state this version can read ({error}). Restore it, "
                "or move it aside to start over (the next pull then needs --since or --years)"
            ) from None

    def save(self, state: PullState) -> None:
        """Atomically: a crash leaves the old file or the new one, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        with partial.open("w") as out:
            json.dump(asdict(state), out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(self.path)

    def staging(self, partition: str) -> Path:
        return self.staging_root / partition

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / "chicago.lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PullError(
                    f"another Chicago pull holds {handle.name}; wait for it to finish"
                ) from None
            yield


# -- results -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PageDone:
    """Told to ``on_page`` after each page is checkpointed."""

    partition: str
    number: int
    rows: int  # in this page
    fetched: int  # in the batch so far
    expected: int | None  # count(1) when the batch started
    after_id: int


@dataclass
class PullResult:
    kind: str
    where: str
    partition: str | None  # None when nothing new came
    rows: int  # written to the batch
    fetched: int
    duplicates: int
    unchanged: int  # already held by an earlier batch
    pages: int
    resumed: bool
    watermark_before: str | None
    watermark_after: str | None
    seconds: float
    retries: int
    report: ParseReport
    load: object | None = None

    def as_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("report", "load")}
        out["report"] = self.report.as_dict()
        if self.load is not None:
            out["load"] = {k: getattr(self.load, k, None) for k in ("rows", "seconds", "load_id")}
        return out


Loader = Callable[..., object]


def _warehouse_loader(settings, source, table, partition, *, lake=None):
    from crimewh.warehouse.loader import load_partition

    return load_partition(settings, source, table, partition, lake=lake)


# -- the pull ------------------------------------------------------------------------------------
def pull(
    settings,
    *,
    since: datetime | None = None,
    years: tuple[int, int] | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    page_size: int | None = None,
    client=None,
    loader: Loader | None = None,
    on_page: Callable[[PageDone], None] | None = None,
    before_lake: Callable[[pa.Table, str], None] | None = None,
    now: datetime | None = None,
) -> PullResult:
    """Run one pull to the end (finishing an interrupted one first) and return its summary.

    ``client``: a ``SodaClient`` (default: from the settings). ``loader``: called as
    ``loader(settings, "chicago", "crimes", partition, lake=lake)`` (default: the warehouse
    loader). ``before_lake(table, partition)``: a gate on the whole batch before it goes to
    the lake, e.g. ``check_chicago_batch``; if it raises, the batch waits, fetched, for the
    next run. ``now``: the batch's name time (default: the clock, UTC).
    """
    from crimewh.chicago.client import SodaClient
    from crimewh.lake import Lake

    # every argument is checked before the batch is saved: a saved batch is resumed by every
    # later pull, so one the API refuses would block them all
    if since is not None and years is not None:
        raise PullError("give --since or --years, not both")
    if since is not None:
        since = check_since(since, now=now)
    if years is not None:
        years = check_years(*years, now=now)
    overlap = check_overlap(overlap)
    if page_size is None:
        page_size = check_page_size(settings.soda_page_size, "CRIMEWH_SODA_PAGE_SIZE=")
    else:
        page_size = check_page_size(page_size)
    request = _request(since, years)
    store = StateStore(settings.data_dir)
    lake = Lake.from_settings(settings)
    own_client = client is None
    client = client or SodaClient.from_settings(settings)
    run = _Run(settings, store, lake, client, loader or _warehouse_loader, on_page, overlap,
               before_lake)  # fmt: skip
    try:
        with store.locked():
            state = store.load()
            if state.in_progress:
                job = state.in_progress
                _check_resumable(job)
                log.warning(
                    "resuming batch %s (%s, %s) from page %d",
                    job["partition"], job["kind"], job["where"], len(job["pages"]) + 1,
                )  # fmt: skip
                result = _finish_or_explain(run, state, resumed=True)
                if job["request"] == request:
                    return result
            state.in_progress = _new_job(state, request, overlap, page_size, lake, now)
            store.save(state)
            return _finish_or_explain(run, state, resumed=False)
    finally:
        if own_client:
            client.close()


# -- checks: each names the argument as the command line spells it -------------------------------
def check_page_size(value: object, name: str = "--page-size ") -> int:
    """Rows per request: a whole number SODA accepts. ``name`` prefixes the value in errors."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PullError(f"{name}{value!r}: rows per request must be a whole number")
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise PullError(
            f"{name}{value}: rows per request must be a whole number from 1 to {MAX_PAGE_SIZE} "
            "(SODA refuses others)"
        )
    return value


def check_years(
    first: int, last: int, *, now: datetime | None = None, name: str = "--years "
) -> tuple[int, int]:
    """A backfill's years: the dataset's (2001 to this year in Chicago), first <= last."""
    this_year = _chicago_now(now).year
    if first > last:
        raise PullError(f"{name}{first}-{last}: the first year comes first")
    if first < FIRST_YEAR or last > this_year:
        raise PullError(
            f"{name}{first}-{last}: the dataset's years go from {FIRST_YEAR} to {this_year}"
        )
    return int(first), int(last)


def check_since(
    since: datetime, *, now: datetime | None = None, name: str = "--since "
) -> datetime:
    """``--since`` as Chicago wall time (SODA's floating time), from 2001 up to now."""
    if since.tzinfo is not None:
        since = since.astimezone(CHICAGO).replace(tzinfo=None)
    text = since.isoformat(timespec="seconds")  # strftime would not pad a year before 1000
    if since.year < FIRST_YEAR:
        raise PullError(
            f"{name}{text}: the dataset starts in {FIRST_YEAR}; for all of it, backfill "
            f"with --years {FIRST_YEAR}-{_chicago_now(now).year}"
        )
    if since > _chicago_now(now).replace(tzinfo=None):
        raise PullError(
            f"{name}{text}: that is in the future (Chicago time), so nothing was updated since"
        )
    return since


def check_overlap(overlap: timedelta, name: str = "--overlap-hours ") -> timedelta:
    """How far before the watermark an incremental pull reads again: 0 to a year."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise PullError(
            f"{name}{overlap / timedelta(hours=1):g}: give a number of hours from 0 to "
            f"{MAX_OVERLAP / timedelta(hours=1):g}"
        )
    return overlap


def _chicago_now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(CHICAGO)


def _check_resumable(job: dict) -> None:
    """A batch saved with a page size SODA refuses (by a version that did not check it)
    would be refused on every resume: say so before asking, and how to get out."""
    try:
        check_page_size(job.get("page_size"), "page size ")
    except PullError as error:
        raise PullError(
            f"the unfinished batch {job['partition']} was saved with {error}, so every pull "
            f"that resumes it is refused. Drop it with `{ABANDON_COMMAND}` (the watermark and "
            "the loaded batches stay), then pull again"
        ) from None


def _finish_or_explain(run: _Run, state: PullState, *, resumed: bool) -> PullResult:
    """``run.finish``; a refusal (HTTP 4xx) of the batch's query says how to drop the batch,
    since the next pull resumes the same query and would be refused again."""
    from crimewh.chicago.client import SodaError

    job = state.in_progress
    try:
        return run.finish(state, resumed=resumed)
    except SodaError as error:
        status = _refusal_status(error)
        if status is None:
            raise  # a fault that retries could not get past: the next pull tries again
        hint = {
            401: "check CRIMEWH_SODA_APP_TOKEN; ",
            403: "check CRIMEWH_SODA_APP_TOKEN; ",
            404: "check CRIMEWH_SODA_DOMAIN; ",
        }.get(status, "")
        batch = (
            f"batch {job['partition']} ({job['kind']}, {job['where']}, page size "
            f"{job['page_size']})"
        )
        where = "the unfinished " + batch if resumed else batch + ", now unfinished,"
        raise PullError(
            f"{error}. Every pull resumes {where} first, so it will be refused the same way: "
            f"{hint}if the batch itself is at fault, drop it with `{ABANDON_COMMAND}` (the "
            "watermark and the loaded batches stay), then pull again"
        ) from error


def _refusal_status(error: Exception) -> int | None:
    """The HTTP status if the API refused the request (4xx, not retried), else None."""
    response = getattr(error.__cause__, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) and 400 <= status < 500 else None


def _request(since: datetime | None, years: tuple[int, int] | None) -> dict:
    if years is not None:
        first, last = years
        return {"kind": "backfill", "years": [int(first), int(last)]}
    return {"kind": "incremental", "since": since.strftime(FLOATING) if since else None}


def _new_job(state, request, overlap, page_size, lake, now) -> dict:
    if request["kind"] == "backfill":
        first, last = request["years"]
        where = f"year >= {first} AND year <= {last}"
    elif request["since"]:
        where = f"updated_on > '{request['since']}'"
    elif state.watermark:
        start = datetime.strptime(state.watermark, FLOATING) - overlap
        where = f"updated_on > '{start.strftime(FLOATING)}'"
    else:
        raise PullError(
            "no watermark yet: run a backfill first (crimewh chicago pull --years 2001-2025), "
            "or give --since YYYY-MM-DDTHH:MM:SS"
        )
    return {
        "kind": request["kind"],
        "request": request,
        "where": where,
        "partition": _batch_name(now, state, lake),
        "page_size": page_size,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "stage": "fetching",
        "expected": None,
        "after_id": None,
        "pages": [],
        "fetched": 0,
        "report": ParseReport().as_dict(),
        "retries": 0,
    }


def _batch_name(now: datetime | None, state: PullState, lake) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    taken = set(lake.partitions(SOURCE, TABLE)) | {b["partition"] for b in state.recent_batches}
    while (name := f"batch={moment:%Y%m%dT%H%M%SZ}") in taken:
        moment += timedelta(seconds=1)  # two pulls in one second (tests): the next second
    return name


class _Run:
    def __init__(self, settings, store, lake, client, loader, on_page, overlap, before_lake):
        self.settings, self.store, self.lake, self.client = settings, store, lake, client
        self.loader, self.on_page, self.overlap = loader, on_page, overlap
        self.before_lake = before_lake

    def finish(self, state: PullState, *, resumed: bool) -> PullResult:
        """Take ``state.in_progress`` from whatever stage it reached to loaded."""
        started = time.perf_counter()
        job = state.in_progress
        watermark_before = state.watermark
        if job["stage"] == "fetching":
            self._fetch(state, job)
        if job["stage"] == "fetched":
            self._to_lake(state, job)
        if job["stage"] == "in_lake":
            job["load"] = self._load(job)
            failpoints.reached(self.settings, "chicago.loaded")  # loaded, not yet recorded
            job["stage"] = "loaded"
            self.store.save(state)
        load = job.get("load")
        result = PullResult(
            kind=job["kind"], where=job["where"],
            partition=job["partition"] if job["rows"] else None, rows=job["rows"],
            fetched=job["fetched"], duplicates=job["duplicates"], unchanged=job["unchanged"],
            pages=len(job["pages"]), resumed=resumed, watermark_before=watermark_before,
            watermark_after=None, seconds=0.0, retries=job["retries"],
            report=ParseReport.from_dict(job["report"]),
        )  # fmt: skip
        self._advance(state, job)
        result.watermark_after = state.watermark
        result.seconds = round(time.perf_counter() - started, 3)
        result.load = _LoadSummary(**load) if load else None
        state.last_pull = result.as_dict()
        self.store.save(state)
        shutil.rmtree(self.store.staging(job["partition"]), ignore_errors=True)
        return result

    # -- stages --------------------------------------------------------------------------------
    def _fetch(self, state: PullState, job: dict) -> None:
        staging = self.store.staging(job["partition"])
        staging.mkdir(parents=True, exist_ok=True)
        retries_before = self.client.retries
        if job["expected"] is None:
            job["expected"] = self.client.count(job["where"])
            self.store.save(state)
        report = ParseReport.from_dict(job["report"])
        pages = self.client.pages(
            job["where"], page_size=job["page_size"], after_id=job["after_id"]
        )
        for rows in _prefetched(pages):
            table, page_report = parse_rows(rows)
            number = len(job["pages"]) + 1
            name = f"page-{number:06d}.parquet"
            _write_parquet(table, staging / name)  # a page written but not recorded is redone
            after_id = int(rows[-1]["id"])
            job["pages"].append({"file": name, "rows": len(rows), "last_id": after_id})
            job["after_id"] = after_id
            job["fetched"] += len(rows)
            job["report"] = report.add(page_report).as_dict()
            job["retries"] += self.client.retries - retries_before
            retries_before = self.client.retries
            self.store.save(state)  # the checkpoint
            failpoints.reached(self.settings, "chicago.fetching")
            if self.on_page:
                self.on_page(
                    PageDone(job["partition"], number, len(rows), job["fetched"],
                             job["expected"], after_id)
                )  # fmt: skip
        job["retries"] += self.client.retries - retries_before  # those of the last, empty page
        job["stage"] = "fetched"
        self.store.save(state)
        failpoints.reached(self.settings, "chicago.fetched")
        for line in report.warnings():
            log.warning("batch %s: %s", job["partition"], line)

    def _to_lake(self, state: PullState, job: dict) -> None:
        staging = self.store.staging(job["partition"])
        files = [staging / page["file"] for page in job["pages"]]
        missing = [path.name for path in files if not path.exists()]
        if missing:
            raise PullError(
                f"batch {job['partition']}: staged pages {missing[:3]} are gone from {staging}; "
                f"drop the batch with `{ABANDON_COMMAND}`, then pull again"
            )
        keys = [_keys(path) for path in files]
        ids = np.concatenate([k[0] for k in keys]) if keys else np.zeros(0, np.int64)
        updated = np.concatenate([k[1] for k in keys]) if keys else np.zeros(0, np.int64)
        keep = _latest_per_id(ids, updated)
        duplicates = int((~keep).sum())
        unchanged = np.zeros(ids.size, bool)
        if job["kind"] == "incremental":
            unchanged = self._already_held(state, ids, updated) & keep
            keep &= ~unchanged
        job["duplicates"], job["unchanged"] = duplicates, int(unchanged.sum())
        job["rows"] = int(keep.sum())
        kept_updated = updated[keep & (updated != _NO_TIME)]
        job["max_updated_on"] = _floating(kept_updated.max()) if kept_updated.size else None
        if not job["rows"]:
            job["stage"] = "loaded"  # nothing new: nothing to write or load
            job["load"] = None
            self.store.save(state)
            return
        written, start = [], 0
        for path, (page_ids, _) in zip(files, keys, strict=True):
            page_keep = keep[start : start + page_ids.size]
            start += page_ids.size
            if page_keep.all():
                written.append(path)
            elif page_keep.any():
                kept = path.with_name("kept-" + path.name)
                table = pq.ParquetFile(path).read().filter(from_numpy(page_keep))
                _write_parquet(table, kept)
                written.append(kept)
        if self.before_lake:
            batch = pa.concat_tables(pq.ParquetFile(path).read() for path in written)
            self.before_lake(batch, job["partition"])
        digest = _sha256(ids[keep], updated[keep])
        self.lake.put_partition(
            SOURCE, TABLE, job["partition"], written, source_sha256=digest, producer=producer()
        )
        job["stage"] = "in_lake"
        job["source_sha256"] = digest
        self.store.save(state)
        failpoints.reached(self.settings, "chicago.in_lake")

    def _already_held(self, state: PullState, ids: np.ndarray, updated: np.ndarray) -> np.ndarray:
        """True for rows whose (id, updated_on) a recent batch in the lake already holds."""
        from crimewh.lake import LakeError

        held_ids, held_updated = [], []
        for batch in state.recent_batches:
            try:
                manifest = self.lake.manifest(SOURCE, TABLE, batch["partition"])
            except LakeError as error:  # gone from the lake: nothing to compare with
                log.warning("recent batch %s unreadable (%s)", batch["partition"], error)
                continue
            for path in self.lake.partition_files(manifest):
                held = pq.ParquetFile(path, filesystem=self.lake.fs).read(
                    columns=["id", "updated_on"]
                )
                held_ids.append(to_numpy(held.column("id")))
                held_updated.append(_micros(held.column("updated_on")))
        if not held_ids:
            return np.zeros(ids.size, bool)
        return _in_pairs(ids, updated, np.concatenate(held_ids), np.concatenate(held_updated))

    def _load(self, job: dict) -> dict:
        result = self.loader(self.settings, SOURCE, TABLE, job["partition"], lake=self.lake)
        return {
            "rows": getattr(result, "rows", None),
            "seconds": getattr(result, "seconds", None),
            "load_id": getattr(result, "load_id", None),
        }

    def _advance(self, state: PullState, job: dict) -> None:
        """The batch is in the lake and loaded: move the watermark, forget the job."""
        newest = job.get("max_updated_on")
        if newest and (job["kind"] == "incremental" or state.watermark is None):
            state.watermark = max(filter(None, [state.watermark, newest]))
        if job["rows"]:
            state.recent_batches.append(
                {"partition": job["partition"], "max_updated_on": newest, "rows": job["rows"]}
            )
        if state.watermark:
            window = datetime.strptime(state.watermark, FLOATING) - self.overlap
            state.recent_batches = [
                b for b in state.recent_batches
                if b["max_updated_on"] and datetime.strptime(b["max_updated_on"], FLOATING) > window
            ]  # fmt: skip
        state.in_progress = None


# -- abandoning a batch --------------------------------------------------------------------------
@dataclass(frozen=True)
class Abandoned:
    """What ``abandon`` dropped: the batch, how far it got, and the watermark it kept."""

    partition: str
    kind: str
    where: str
    page_size: object  # as saved, which may be what made the API refuse it
    stage: str
    pages: int
    fetched: int
    started_at: str | None
    watermark: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def abandon(settings, *, force: bool = False) -> Abandoned | None:
    """Drop the unfinished batch and its staged pages; None if there is none.

    The watermark and the recent batches stay, so the next incremental pull asks for what
    it would have asked for before this batch. A batch already in the lake (``in_lake``, or
    ``loaded`` but not yet recorded) only needs loading, which the next pull does; dropping
    it would leave its partition in the lake unloaded, so that takes ``force``.
    """
    store = StateStore(settings.data_dir)
    with store.locked():
        state = store.load()
        job = state.in_progress
        if not job:
            return None
        if job.get("stage") in ("in_lake", "loaded") and not force:
            raise PullError(
                f"batch {job['partition']} is already in the lake and only needs loading: run "
                "`crimewh chicago pull` once the warehouse is reachable. To drop it anyway "
                "(its lake partition stays, unloaded), add --force"
            )
        dropped = Abandoned(
            partition=job["partition"], kind=job.get("kind", "?"), where=job.get("where", "?"),
            page_size=job.get("page_size"), stage=job.get("stage", "?"),
            pages=len(job.get("pages") or []), fetched=int(job.get("fetched") or 0),
            started_at=job.get("started_at"), watermark=state.watermark,
        )  # fmt: skip
        state.in_progress = None
        store.save(state)  # first: a crash before the pages go leaves only unused files
        shutil.rmtree(store.staging(job["partition"]), ignore_errors=True)
    log.warning(
        "abandoned batch %s (%s, %s): %d pages, %d rows fetched; watermark kept at %s",
        dropped.partition, dropped.kind, dropped.where, dropped.pages, dropped.fetched,
        dropped.watermark,
    )  # fmt: skip
    return dropped


@dataclass(frozen=True)
class _LoadSummary:
    rows: int | None
    seconds: float | None
    load_id: int | None


# -- helpers -------------------------------------------------------------------------------------
_NO_TIME = np.iinfo(np.int64).min
_END = object()


def _prefetched(pages: Iterator[list[dict]]) -> Iterator[list[dict]]:
    """The same pages, the next one requested while this one is parsed and written.

    The server's work and the wire overlap with ours; nothing is checkpointed early, so a
    page fetched ahead of a crash is simply fetched again on resume.
    """
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        handoff.put(page, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(_END)
        except BaseException as error:  # handed to the consumer, raised there
            handoff.put(error)

    worker = threading.Thread(target=produce, name="chicago-prefetch", daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def _write_parquet(table: pa.Table, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    pq.write_table(table.cast(RAW_SCHEMA), partial, compression="zstd")
    partial.replace(path)


def _micros(column) -> np.ndarray:
    return to_numpy(column.cast(pa.int64()), fill=_NO_TIME)


def _keys(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = pq.ParquetFile(path).read(columns=["id", "updated_on"])
    return to_numpy(table.column("id")), _micros(table.column("updated_on"))


def _latest_per_id(ids: np.ndarray, updated: np.ndarray) -> np.ndarray:
    """Keep one row per id: the latest ``updated_on`` (the later-fetched on a tie)."""
    keep = np.zeros(ids.size, bool)
    if not ids.size:
        return keep
    order = np.lexsort((np.arange(ids.size), updated, ids))
    last_of_id = np.append(ids[order][1:] != ids[order][:-1], True)
    keep[order[last_of_id]] = True
    return keep


def _in_pairs(ids, updated, held_ids, held_updated) -> np.ndarray:
    """True where (ids[i], updated[i]) is among the held pairs."""
    all_ids = np.concatenate([held_ids, ids])
    all_updated = np.concatenate([held_updated, updated])
    origin = np.concatenate([np.zeros(held_ids.size, np.int8), np.ones(ids.size, np.int8)])
    order = np.lexsort((origin, all_updated, all_ids))
    same_as_before = np.zeros(order.size, bool)
    same_as_before[1:] = (all_ids[order][1:] == all_ids[order][:-1]) & (
        all_updated[order][1:] == all_updated[order][:-1]
    )
    # a held pair sorts before an equal fetched one, so an equal predecessor means "held"
    held = np.zeros(all_ids.size, bool)
    held[order] = same_as_before
    return held[held_ids.size :]


def _sha256(ids: np.ndarray, updated: np.ndarray) -> str:
    """Of the batch's content keys, sorted: the same rows give the same digest, however paged."""
    order = np.lexsort((updated, ids))
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(ids[order], "<i8").tobytes())
    digest.update(np.ascontiguousarray(updated[order], "<i8").tobytes())
    return digest.hexdigest()


def _floating(micros: int) -> str:
    """Microseconds of a floating time as the watermark text, floored to the second."""
    return str(np.datetime64(int(micros), "us").astype("datetime64[s]")).replace(" ", "T")
