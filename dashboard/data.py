"""The pages' access to the warehouse: one connection pool per process, results cached
across sessions for ``CACHE_TTL_S``, and the messages a reader sees when there is nothing
to show (no warehouse, an empty one, an unknown agency)."""

from __future__ import annotations

import io
from collections.abc import Mapping

import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.queries import DashboardError, Query

CACHE_TTL_S = 600  # the marts change once a night; ten minutes keeps a page fresh enough
RUN_DEMO = (
    "The warehouse holds no {what} yet: run `make demo` first (or, on your own data, the "
    "nightly DAG), then reload this page."
)


@st.cache_resource(show_spinner=False)
def _pool():
    from psycopg2.pool import ThreadedConnectionPool

    from crimewh.settings import settings

    url = settings().analyst_url
    if not url:
        raise DashboardError(
            "no warehouse is configured: run `make demo` first (it starts the embedded "
            "PostgreSQL), or set CRIMEWH_ANALYST_URL to the analyst role's postgresql:// URL"
        )
    return ThreadedConnectionPool(1, 4, url, **queries.CONNECT_OPTIONS)


def _run(query: Query, params: Mapping[str, object]) -> pd.DataFrame:
    import psycopg2

    try:
        pool = _pool()
        connection = pool.getconn()
    except psycopg2.OperationalError as error:
        _pool.clear()
        raise DashboardError(
            "cannot reach the warehouse: start it with `make up` (or `make demo` the first "
            f"time). The driver said: {str(error).strip().splitlines()[0]}"
        ) from None
    try:
        connection.autocommit = True  # each query its own read-only snapshot
        return queries.run(connection, query, params)
    except psycopg2.OperationalError:
        pool.putconn(connection, close=True)
        connection = None
        raise
    finally:
        if connection is not None:
            pool.putconn(connection)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=2000)
def _cached(name: str, params: tuple[tuple[str, object], ...]) -> pd.DataFrame:
    return _run(queries.QUERIES[name], dict(params))


def fetch(query: Query, **params) -> pd.DataFrame:
    """The query's rows (cached for every session), as a DataFrame."""
    return _cached(query.name, tuple(sorted(params.items())))


def stop_with(message: str, *, kind: str = "info") -> None:
    """Show one message in place of the page and end this run of it."""
    getattr(st, kind)(message)
    st.stop()


def contents() -> dict:
    """What the warehouse holds; stops the page with a message a reader can act on."""
    try:
        found = fetch(queries.WAREHOUSE_CONTENTS).iloc[0].to_dict()
        queries.check_role(found)
    except DashboardError as error:
        stop_with(str(error), kind="error")
    return found


def nibrs_years() -> list[int]:
    """The NIBRS years held, newest first; stops the page when there are none."""
    if not contents()["has_nibrs_marts"]:
        stop_with(RUN_DEMO.format(what="NIBRS marts"))
    years = fetch(queries.NIBRS_YEARS)["data_year"].astype(int).tolist()
    if not years:
        stop_with(RUN_DEMO.format(what="NIBRS year"))
    return years


def chicago_years() -> list[int]:
    if not contents()["has_chicago_marts"]:
        stop_with(RUN_DEMO.format(what="Chicago marts"))
    years = fetch(queries.CHICAGO_YEARS)["year"].astype(int).tolist()
    if not years:
        stop_with(RUN_DEMO.format(what="Chicago crimes"))
    return years


def constant_only() -> bool:
    """The site-wide constant-reporters toggle (in the sidebar, and ``?constant=1``)."""
    return bool(st.session_state.get("constant", False))


def constant_range() -> str:
    """Which agencies the toggle keeps, in words: the mart's range and how many."""
    try:
        found = fetch(queries.CONSTANT_RANGE).iloc[0]
    except Exception:  # no mart yet: the pages themselves say what to run
        return "No constant-reporters mart yet: run `make demo` first."
    if pd.isna(found["first_year"]):
        return "No constant-reporters mart yet: run `make demo` first."
    return (
        f"Constant reporters {int(found['first_year'])}-{int(found['last_year'])}: "
        f"{int(found['agencies']):,} agencies reported all twelve months in every year."
    )


def csv_download(frame: pd.DataFrame, name: str, *, label: str = "Download CSV") -> None:
    """A CSV of exactly the table shown."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    st.download_button(
        label,
        buffer.getvalue(),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"csv-{name}",
        on_click="ignore",
    )


def table(frame: pd.DataFrame, name: str) -> None:
    """A table and its CSV download, together: every table on the site has one."""
    st.dataframe(frame, hide_index=True)
    csv_download(frame, name)
