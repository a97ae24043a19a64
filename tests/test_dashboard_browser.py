"""The dashboard in a real browser: `crimewh dashboard up` against a demo-sized warehouse,
every page opened in headless Chromium (Debian's, driven by Playwright through
``executable_path``; Playwright's own download cannot work offline).

Each page must draw its charts and no error element; every request the pages make is
recorded, and one to any host but the dashboard's fails the test (no tiles, CDNs or fonts
from elsewhere). A screenshot of each page is saved under the test's own temporary folder,
and the time until each page's first chart is drawn is printed.
"""

import time
from urllib.parse import urlsplit

import psycopg2
import pytest

from crimewh.processes import free_port
from crimewh_orchestration import dashboard_runtime
from testkit.bench_dashboard import NIBRS_YEARS, build_warehouse, settings_beside

INCIDENTS = 3000  # the same recipe as test_dashboard.py, so one module builds for both
CHICAGO_ROWS = 4000
YEAR = NIBRS_YEARS[-1]
# each page: its address (the default page is the app's root: Streamlit serves it there, and
# answers its url_path with a "Page not found" dialog), its title, and how many charts it draws
# on a warehouse with both models scored
PAGES = {
    "nation": ("/", "Nation and states", 3),
    "agency": ("/agency", "Agency", 4),
    "compliance": ("/compliance", "Reporting compliance", 1),
    "chicago": ("/chicago", "Chicago", 7),
    "models": ("/models", "Models", 8),
}


@pytest.fixture(scope="module")
def dashboard(warehouse):
    """The dashboard, started as `make dashboard` starts it, stopped however the test ends."""
    settings = settings_beside(warehouse.settings, warehouse.settings.data_dir / "dashboard")
    build_warehouse(settings, incidents=INCIDENTS, chicago_rows=CHICAGO_ROWS)
    report = dashboard_runtime.up(settings, port=free_port(), echo=lambda _: None)
    try:
        yield report["url"]
    finally:
        dashboard_runtime.down(settings, echo=lambda _: None)


def an_agency(warehouse) -> str:
    with psycopg2.connect(warehouse.url) as conn, conn.cursor() as cur:
        cur.execute(
            "select ori from marts.fct_nibrs_agency_years where data_year = %s and is_full_year "
            "order by incident_count desc, ori limit 1",
            (YEAR,),
        )
        (ori,) = cur.fetchone()
    conn.close()
    return ori


def screenshot(page, path) -> None:
    """The whole page: Streamlit scrolls inside its own container, not the document, so the
    window is made as tall as that container's content first."""
    height = page.evaluate(
        "Math.max(...Array.from(document.querySelectorAll('section, div'))"
        ".map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": 1400, "height": min(max(height, 1000), 12_000)})
    page.wait_for_timeout(500)  # the charts redraw at their new width
    page.screenshot(path=path, full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_every_page_draws_its_charts_offline(dashboard, chromium, warehouse, tmp_path, capsys):
    local = urlsplit(dashboard).netloc
    requests: list[str] = []
    foreign: list[str] = []

    def record(route):
        url = route.request.url
        requests.append(url)
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and (
            urlsplit(url).netloc != local
        ):
            foreign.append(url)
            route.abort()  # and the test fails below: nothing may leave the machine
        else:
            route.continue_()

    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", record)
    page = context.new_page()
    page.on("websocket", lambda socket: requests.append(socket.url))
    page.on("websocket", lambda s: urlsplit(s.url).netloc != local and foreign.append(s.url))
    query = {"agency": f"?ori={an_agency(warehouse)}&year={YEAR}"}
    timings = {}
    try:
        for name, (path, title, charts) in PAGES.items():
            started = time.perf_counter()
            page.goto(dashboard + path + query.get(name, ""))
            page.wait_for_selector(".js-plotly-plot", timeout=60_000)
            timings[name] = time.perf_counter() - started
            # the script has finished once the status widget stops showing "Running"
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot').length >= {charts}",
                timeout=60_000,
            )
            page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached",
                                   timeout=60_000)  # fmt: skip
            screenshot(page, tmp_path / f"{name}.png")
            drawn = page.locator(".js-plotly-plot").count()
            errors = page.locator(
                '[data-testid="stException"], [data-testid="stAlertContentError"]'
            )
            assert errors.count() == 0, f"{name}: {errors.first.inner_text()}"
            # a dialog over the page is Streamlit's "Page not found", or a failure of its own
            dialogs = page.locator('[role="dialog"], [data-testid="stDialog"]')
            assert dialogs.count() == 0, f"{name}: {dialogs.first.inner_text()}"
            heading = page.locator("h1").first.inner_text().strip()
            assert heading == title, f"{name}: the page is titled {heading!r}"
            assert drawn == charts, f"{name}: {drawn} charts, expected {charts}"
    finally:
        context.close()
    assert not foreign, f"requests left the machine: {sorted(set(foreign))}"
    assert requests  # the recorder saw the pages' own traffic
    with capsys.disabled():
        print(f"\ndashboard screenshots: {tmp_path}")
        for name, seconds in timings.items():
            print(f"  {name:<11} first chart drawn after {seconds:5.2f} s")
    for name in PAGES:
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
