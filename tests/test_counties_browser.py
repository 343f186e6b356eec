"""The county map where a reader sees it, in Debian's headless Chromium against a real Datasette
on 127.0.0.1: California's 58 counties drawn from the shipped boundaries, each shaded by the
customers out at the chosen moment, with no tiles to fetch. No page may log a JavaScript error.
"""

from __future__ import annotations

import pytest

from pge_outages import wire
from pge_outages.build import build_database
from pge_outages.pages import map_shade
from support.browser import chromium_page, running_datasette, watch_errors
from support.helpers import make_repo

pytestmark = pytest.mark.browser

T0 = 1706745600  # 2024-02-01 00:00 UTC
OAKLAND = (-122.2712, 37.8044)  # Alameda, 06001
FRESNO = (-119.7871, 36.7378)  # Fresno, 06019


def outage(number: int, customers: int, point: tuple[float, float]) -> dict:
    x, y = wire.to_web_mercator(*point)
    return {wire.LAYER4_ID: number, "EST_CUSTOMERS": customers, wire.POINT_X: round(x, 3), wire.POINT_Y: round(y, 3)}


SNAPSHOTS = [
    [outage(1, 1500, OAKLAND), outage(2, 40, OAKLAND), outage(3, 7, FRESNO)],
    [outage(3, 250, FRESNO)],
]


@pytest.fixture(scope="module")
def server(chromium, tmp_path_factory):
    base = tmp_path_factory.mktemp("counties")
    repo = make_repo(base / "repo", SNAPSHOTS, times=[T0, T0 + 600])
    db = base / "outages.db"
    build_database(repo, db)
    with running_datasette(db) as url:
        yield url


def shades(page) -> dict[str, str]:
    return page.eval_on_selector_all(
        "svg.counties-map a", "links => Object.fromEntries(links.map(a => "
        "[a.dataset.fips, a.querySelector('path').getAttribute('fill')]))")


@pytest.mark.parametrize(("at", "expected"), [
    ("2024-02-01T00:05Z", {"06001": 1540, "06019": 7}),
    ("", {"06001": 0, "06019": 250}),  # empty: the newest snapshot
])
def test_each_county_is_shaded_by_the_customers_out_then(chromium, server, at, expected):
    requests: list[str] = []
    with chromium_page(chromium) as page:
        errors = watch_errors(page)
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{server}/-/counties?at={at}")
        found = shades(page)
        box = page.eval_on_selector("svg.counties-map", "svg => svg.getBoundingClientRect().height")
        moment = page.inner_text("#counties-moment")
        titles = page.eval_on_selector_all("svg.counties-map title", "ts => ts.map(t => t.textContent)")
        table = page.get_attribute("#counties-moment a", "href")
    assert errors == []
    # The same figures as a table: counties_at at the snapshot's own time, which SQLite reads.
    assert table.endswith("/outages/counties_at?at=2024-02-01T00%3A" + ("00" if at else "10") + "%3A00Z")
    assert len(found) == 58 and box > 300
    for fips, customers in expected.items():
        assert found[fips] == map_shade(customers)
    assert sum(1 for shade in found.values() if shade != map_shade(0)) == sum(1 for c in expected.values() if c)
    assert f"{sum(expected.values()):,} customers out" in moment
    assert f"Alameda: {expected['06001']:,} customers out" in " ".join(titles)
    # Drawn from the shipped boundaries: nothing is fetched from anywhere but the server.
    assert all(url.startswith(server) for url in requests)


def test_a_time_that_cannot_be_read_gets_a_message_that_names_it(chromium, server):
    with chromium_page(chromium) as page:
        errors = watch_errors(page)
        response = page.goto(f"{server}/-/counties?at=yesterday")
        message = page.inner_text(".counties-error")
        drawn = page.query_selector("svg.counties-map")
    # The one message in the console is Chromium's note of the page's own status: no script failed.
    assert errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    assert response.status == 400
    assert "at: 'yesterday' is not an ISO 8601 time" in message
    assert drawn is None


def test_a_page_of_areas_with_no_rows_logs_no_error(chromium, server):
    # This history never had an areas file: most_recent_areas has no rows to draw.
    with chromium_page(chromium) as page:
        errors = watch_errors(page)
        page.goto(f"{server}/outages/most_recent_areas")
        page.wait_for_function("window.map !== undefined", timeout=20_000)
        page.wait_for_load_state("networkidle")
        centre = page.evaluate("[window.map.getCenter().lat, window.map.getCenter().lng]")
        said = page.inner_text(".empty-reasons")
    assert errors == []
    assert [round(c, 1) for c in centre] == [37.5, -120.5]  # an empty map shows California
    assert said.startswith("This history has no areas")  # and the page says why it is empty
