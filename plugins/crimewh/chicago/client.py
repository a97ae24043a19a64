"""sodapy 2.2.0, wrapped so that a nightly job can rely on it.

sodapy itself has no retries, a 10-second default timeout, and a ``get_all`` that pages by
offset without an order (docs/reference/chicago-crimes-soda.md §2.4, §5). This wrapper adds:

* keyset paging: ``$order=id`` and ``id > <last id of the previous page>``, so rows that are
  inserted, changed or deleted while a pull runs can neither shift a page nor repeat one;
* an explicit ``$select`` of the 22 fields, so computed-region columns that come and go stay out;
* a timeout on every request (default 120 s: 50 000-row pages are slow on the portal);
* retries of 429, 5xx, timeouts, dropped connections and truncated bodies, with exponential
  backoff, waiting at least as long as a 429's ``Retry-After`` says;
* the app token from the settings (sent as ``X-App-Token`` by sodapy);
* plain HTTP for a local server: a domain written ``127.0.0.1:PORT``, ``localhost:PORT`` or
  ``http://host:port`` (sodapy uses ``https://`` unless it is given a session adapter, §2.4).
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from crimewh.chicago import API_FIELDS, DATASET_ID

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SELECT = ",".join(API_FIELDS)


class SodaError(Exception):
    """The API refused a query or kept failing; the message says which and what to try."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # in all, the first try included
    backoff_base: float = 1.0  # seconds before the first retry; doubles each time
    backoff_max: float = 60.0
    retry_after_max: float = 600.0  # a longer Retry-After is cut to this (and logged)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        return min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))


def endpoint(domain: str) -> tuple[str, str]:
    """``(scheme, host[:port])`` for a configured domain.

    ``data.cityofchicago.org`` -> https; ``127.0.0.1:8765`` / ``localhost:8765`` -> http;
    an explicit ``http://`` or ``https://`` wins.
    """
    value = domain.strip().rstrip("/")
    if not value:
        raise SodaError("the SODA domain is empty: set CRIMEWH_SODA_DOMAIN")
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise SodaError(
                f"SODA domain {domain!r}: write host[:port], http://host:port or https://host"
            )
        return parts.scheme, parts.netloc
    host = urlsplit(f"//{value}").hostname or ""
    return ("http" if host in LOOPBACK_HOSTS else "https"), value


class SodaClient:
    """Reads ``ijzp-q8t2`` (or ``dataset``) through sodapy, safely."""

    def __init__(
        self,
        domain: str,
        app_token: str | None = None,
        *,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        dataset: str = DATASET_ID,
        sleep: Callable[[float], None] = time.sleep,
    ):
        from sodapy import Socrata

        self.scheme, self.host = endpoint(domain)
        self.dataset = dataset
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.retries = 0  # over the client's life, for the pull's summary
        self._sleep = sleep
        adapter = {"prefix": "http://", "adapter": HTTPAdapter()} if self.scheme == "http" else None
        self._socrata = Socrata(self.host, app_token, session_adapter=adapter, timeout=timeout)

    @classmethod
    def from_settings(cls, settings, **options) -> SodaClient:
        return cls(settings.soda_domain, settings.soda_app_token, **options)

    def __enter__(self) -> SodaClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._socrata.close()

    @property
    def where(self) -> str:
        return f"{self.scheme}://{self.host}/resource/{self.dataset}.json"

    # -- queries -------------------------------------------------------------------------------
    def get(self, **query) -> list[dict]:
        """One request (``select=``, ``where=``, ``order=``, ``limit=``, ``offset=``), retried."""
        return self._retrying(lambda: self._socrata.get(self.dataset, **query), query)

    def count(self, where: str | None = None) -> int:
        rows = self.get(select="count(1) as n", where=where)
        try:
            return int(rows[0]["n"])
        except (IndexError, KeyError, TypeError, ValueError):
            raise SodaError(f"{self.where}: count(1) came back as {rows!r}") from None

    def pages(
        self, where: str | None, *, page_size: int, after_id: int | None = None
    ) -> Iterator[list[dict]]:
        """Pages of rows matching ``where``, by rising id, each starting after the last.

        ``after_id`` resumes after a checkpoint. Ends after the first page shorter than
        ``page_size``.
        """
        while True:
            clauses = [f"({where})"] if where else []
            if after_id is not None:
                clauses.append(f"id > {after_id}")
            rows = self.get(
                select=SELECT, where=" AND ".join(clauses) or None, order="id", limit=page_size
            )
            if rows:
                after_id = self._last_id(rows, after_id)
                yield rows
            if len(rows) < page_size:
                return

    def _last_id(self, rows: list[dict], after_id: int | None) -> int:
        """The page's last id, after checking the page rises by id past ``after_id``."""
        try:
            ids = [int(row["id"]) for row in rows]
        except (KeyError, TypeError, ValueError):
            bad = next(r for r in rows if not str(r.get("id", "")).strip().isdigit())
            raise SodaError(f"{self.where}: a row without a numeric id: {bad!r}") from None
        floor = -1 if after_id is None else after_id
        if any(b <= a for a, b in zip([floor, *ids], ids, strict=False)):
            raise SodaError(
                f"{self.where}: the page is not ordered by id after {after_id} "
                f"(ids {ids[0]}..{ids[-1]}); the server ignored $order=id, so keyset paging "
                "would skip or repeat rows"
            )
        return ids[-1]

    # -- retries -------------------------------------------------------------------------------
    def _retrying(self, call: Callable[[], list[dict]], query: dict) -> list[dict]:
        policy = self.retry
        for attempt in range(1, policy.attempts + 1):
            try:
                result = call()
            except requests.HTTPError as error:
                status = error.response.status_code if error.response is not None else None
                if status not in RETRY_STATUSES:
                    reason = " ".join(str(error).split())  # sodapy puts the message on a new line
                    raise SodaError(
                        f"{self.where} refused {query}: {reason}. Check the query; the API "
                        "answers 400 for unknown columns and malformed $where"
                    ) from error
                wait = policy.backoff(attempt)
                if status == 429:
                    wait = max(wait, self._retry_after(error.response))
                problem = f"HTTP {status}"
            except (requests.Timeout, requests.ConnectionError) as error:
                wait, problem = policy.backoff(attempt), type(error).__name__
            except requests.exceptions.ChunkedEncodingError as error:
                wait, problem = policy.backoff(attempt), type(error).__name__
            except ValueError as error:  # a body cut short: requests' JSONDecodeError
                wait, problem = policy.backoff(attempt), f"unreadable body ({error})"
            else:
                if not isinstance(result, list):
                    raise SodaError(f"{self.where}: expected a JSON array, got {result!r:.200}")
                return result
            if attempt == policy.attempts:
                raise SodaError(
                    f"{self.where}: gave up after {attempt} attempts, the last {problem}. "
                    "A pull resumes from its last checkpoint when run again"
                )
            self.retries += 1
            log.warning(
                "%s: %s on attempt %d of %d; retrying in %.1fs",
                self.where, problem, attempt, policy.attempts, wait,
            )  # fmt: skip
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _retry_after(self, response: requests.Response) -> float:
        value = (response.headers.get("Retry-After") or "").strip()
        if not value:
            return 0.0
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return 0.0
            seconds = (when - datetime.now(UTC)).total_seconds()
        if seconds > self.retry.retry_after_max:
            log.warning(
                "%s: Retry-After %s is longer than %ss; waiting that long instead",
                self.where, value, self.retry.retry_after_max,
            )  # fmt: skip
        return max(0.0, min(seconds, self.retry.retry_after_max))
