"""The Events page, an event's own page and the Reliability page, on a history whose storm is
known (written straight into the tables, tests/support/events_history.py): what each shows, where
each leads, and, in a real browser, that a reader gets from the home page to an event with no
JavaScript error."""

from __future__ import annotations

import re
import shutil
from urllib.parse import parse_qs, urlsplit

import pytest
from datasette.app import Datasette

from pge_outages.events import update_events
from support.browser import chromium_page, running_datasette, watch_errors
from support.events_history import FRESNO, MARIN, SONOMA, Snap, fill_history

START = 1704700800  # 2024-01-08 00:00 -08:00
STEP = 600
DAY = 86400
HOUR = 3600
STORM = START + 5 * DAY + 12 * HOUR  # noon, Pacific, on the 13th


def storm_outages(t: int) -> dict:
    """A storm of 10 hours: 6,000 customers in Sonoma, 4,000 more in Marin at its peak (hour 3),
    then 1,000 left until it ends."""
    h = (t - STORM) / HOUR
    if h < 0 or h >= 10:
        return {}
    if 3 <= h < 4:
        return {10: (6000, SONOMA, "STORM"), 20: (4000, MARIN, "STORM")}
    if h < 6:
        return {10: (6000, SONOMA, "STORM")}
    return {11: (1000, SONOMA, "STORM")}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    path = tmp_path_factory.mktemp("event-pages") / "outages.db"
    snaps = [Snap(t, {1: (20 + (t // DAY) % 5 * 10, FRESNO, "EQUIPMENT"), **storm_outages(t)})
             for t in range(START, START + 10 * DAY, STEP)]
    conn = fill_history(path, snaps)
    update_events(conn)
    conn.close()
    return path


@pytest.fixture
def ds(history):
    return Datasette([str(history)])


@pytest.mark.asyncio
async def test_the_events_page_lists_the_storm_and_where_it_leads(ds):
    response = await ds.client.get("/outages/-/events")
    assert response.status_code == 200
    html = response.text
    rows = re.findall(r'<tr data-event="([^"]+)">(.*?)</tr>', html, re.S)
    assert [event for event, _ in rows] == ["2024-01-13"]  # its key: the Pacific day it began
    row = rows[0][1]
    assert "2024-01-13 12:00 PST (-08:00)" in row  # its start, Pacific
    # The background outage in Fresno (20-60 customers) is out during the storm too.
    assert "10,020" in row and "Sonoma, Marin, Fresno" in row
    links = dict((text, href) for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', row))
    assert links["2024-01-13"] == "/outages/-/events/2024-01-13"
    # The chart, the replay, the largest outages and the counties, for the event's span and an hour either side.
    for name, path in (("chart", "/outages/customers_over_time"), ("replay", "/outages/-/replay"),
                       ("largest outages", "/outages/largest_outages"), ("by county", "/outages/counties_between")):
        href = links[name].replace("&amp;", "&")
        assert urlsplit(href).path == path, name
        period = parse_qs(urlsplit(href).query)
        assert period == {"from": ["2024-01-13T19:00:00Z"], "to": ["2024-01-14T07:00:00Z"]}, name
        assert (await ds.client.get(href)).status_code == 200, name
    # The largest outages of that period hold the storm's, not the background's.
    largest = (await ds.client.get(links["largest outages"].replace("&amp;", "&").replace(
        "/largest_outages?", "/largest_outages.json?_shape=objects&"))).json()["rows"]
    assert {row["outage"] for row in largest} >= {10, 20, 11}
    # Both orders, and an unknown one read as the default.
    for order in ("newest", "largest", "nonsense"):
        assert 'data-event="2024-01-13"' in (await ds.client.get(f"/outages/-/events?order={order}")).text


@pytest.mark.asyncio
async def test_an_event_page_gives_its_curve_peak_estimate_and_map(ds):
    html = (await ds.client.get("/outages/-/events/2024-01-13")).text
    assert "10,020 customers out at once, at 2024-01-13 15:00 PST (-08:00)" in html
    # Each county's most at once: Sonoma 6,000, Marin 4,000, Fresno 30 (its background outage's most then).
    assert "about 10,030 (estimate, method below)" in html
    assert "for each county, the most customers out" in html
    # Half the peak (5,010) is restored when 1,020 are left (hour 6, 3 h after the peak); nine tenths
    # (1,002) only when the storm ends (hour 10).
    assert "50% in 3.0 h, 90% in 7.0 h" in html
    # The curve, with its peak and restoration levels, and the map at the peak.
    assert html.count('class="level"') == 6 and 'class="outage-chart"' in html
    sonoma = re.search(r'data-fips="06097">\s*<path d="[^"]+" fill="([^"]+)" data-customers="(\d+)"', html)
    marin = re.search(r'data-fips="06041">\s*<path d="[^"]+" fill="([^"]+)" data-customers="(\d+)"', html)
    assert sonoma[2] == "6000" and marin[2] == "4000"
    assert (await ds.client.get("/outages/-/events/2024-01-14")).status_code == 404
    assert (await ds.client.get("/outages/-/events/2024-01-13.2")).status_code == 404
    assert (await ds.client.get("/outages/-/events/1")).status_code == 404  # ids are not keys: they may change


@pytest.mark.asyncio
async def test_the_reliability_page_draws_every_day_and_the_years(ds):
    html = (await ds.client.get("/outages/-/reliability")).text
    assert html.count("<rect ") == 10  # ten days
    assert "Provisional:" in html and "where the standard asks for five" in html
    assert re.search(r"<td>2024 \(provisional\)</td>", html)
    assert "5,500,000 customers served" in html


@pytest.mark.asyncio
async def test_the_home_page_leads_to_the_events_and_the_reliability_figures(ds):
    html = (await ds.client.get("/")).text
    assert 'href="/outages/-/events"' in html and 'href="/outages/-/reliability"' in html


@pytest.mark.asyncio
async def test_a_history_without_events_says_so(tmp_path):
    conn = fill_history(tmp_path / "outages.db", [Snap(START + i * STEP, {1: (20, FRESNO, "X")}) for i in range(50)])
    update_events(conn)
    conn.close()
    ds = Datasette([str(tmp_path / "outages.db")])
    assert "No event in this history" in (await ds.client.get("/outages/-/events")).text
    assert (await ds.client.get("/outages/-/reliability")).status_code == 200


@pytest.mark.browser
def test_a_reader_gets_from_the_home_page_to_an_event(chromium, history, tmp_path):
    shutil.copy(history, tmp_path / "storms.db")  # and under another name
    with running_datasette(tmp_path / "storms.db") as url, chromium_page(chromium) as page:
        errors = watch_errors(page)
        page.goto(url)
        page.click("text=the events in this history")
        assert page.url == f"{url}/storms/-/events"
        page.click("text=2024-01-13")
        page.wait_for_selector("svg.outage-chart path.line")
        assert page.title().startswith("The event of 2024-01-13, 2024-01-13 12:00 PST")
        assert page.locator(".counties-map path").count() == 58
        page.click("text=replay on the map")
        page.wait_for_url(f"{url}/storms/-/replay?**")
        page.wait_for_function("document.getElementById('replay-clock').textContent !== ''", timeout=20_000)
        page.goto(f"{url}/storms/-/reliability")
        page.wait_for_selector("svg.daily-chart rect")
        page.wait_for_load_state("networkidle")
    assert errors == []
