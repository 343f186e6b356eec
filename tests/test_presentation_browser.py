"""What the reader sees first (issue 24), in a real browser: Debian's headless Chromium at
1280x800, driven by Playwright, against a real Datasette on 127.0.0.1 (map tiles refused).
No page may log a JavaScript error, empty results included."""

from __future__ import annotations

import re
import sqlite3

import pytest

from pge_outages.pages import map_shade
from support.browser import AREAS, chromium_page, watch_errors

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1280, 800
# What a page shows of its data: a table's first row, a map, the chart of customers_over_time.
DATA = "table.rows-and-columns tbody tr, .leaflet-container, #customers-chart svg"
# The pages that draw a map of their rows.
MAPPED = ("most_recent_snapshot", "most_recent_areas", "outages", "outages_expanded", "outage_snapshots",
          "largest_outages")


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")


def data_top(page) -> float | None:
    """How far down the page its data starts, in pixels: the top of the first of DATA."""
    return page.eval_on_selector_all(
        DATA, "els => els.length ? Math.min(...els.map(e => e.getBoundingClientRect().top + window.scrollY)) : null")


def test_database_page_leads_with_the_questions(chromium, areas_server):
    with chromium_page(chromium, WIDTH, HEIGHT) as page:
        errors = watch_errors(page)
        open_page(page, f"{areas_server}/outages")
        headings = page.eval_on_selector_all("section.content h2", "hs => hs.map(h => h.textContent.trim())")
        assert headings[:3] == ["Questions", "Views", "Tables"]
        # The first question is within the first screen; the SQL box is last, on outages.
        top = page.eval_on_selector("ul.questions li", "li => li.getBoundingClientRect().top")
        assert top < HEIGHT
        editor = page.eval_on_selector("form.sql", "f => f.getBoundingClientRect().top + window.scrollY")
        tables = page.eval_on_selector("#tables", "h => h.getBoundingClientRect().top + window.scrollY")
        assert editor > tables
        assert "select * from outages" in page.inner_text("form.sql")
        assert errors == []


@pytest.mark.parametrize(
    "path",
    [
        "/outages/most_recent_snapshot",
        "/outages/most_recent_areas",
        "/outages/outages",
        "/outages/snapshots",
        "/outages/outages_expanded",
        "/outages/outage_snapshots?snapshot=1",
        "/outages/coverage_by_day",
        "/outages/customers_over_time",
        "/outages/largest_outages",
        "/outages/counties_at",
    ],
)
def test_data_starts_within_the_first_screen(chromium, areas_server, path):
    with chromium_page(chromium, WIDTH, HEIGHT) as page:
        errors = watch_errors(page)
        open_page(page, f"{areas_server}{path}")
        if path.split("?")[0].rsplit("/", 1)[-1] in MAPPED:
            page.wait_for_selector(".leaflet-container", timeout=20_000)
        if "customers_over_time" in path:
            page.wait_for_selector("#customers-chart svg", timeout=20_000)
        top = data_top(page)
        # At least 100 pixels of it show before any scrolling.
        assert top is not None and top < HEIGHT - 100, f"{path}: the data starts at {top} px"
        assert errors == []


def test_column_descriptions_open_on_demand(chromium, areas_server):
    with chromium_page(chromium, WIDTH, HEIGHT) as page:
        errors = watch_errors(page)
        open_page(page, f"{areas_server}/outages/most_recent_snapshot")
        assert not page.is_visible("dl.column-descriptions")
        page.click("details.column-glossary summary")
        assert page.is_visible("dl.column-descriptions")
        assert "outageStartTime" in page.inner_text("dl.column-descriptions")
        assert errors == []


def test_numbers_are_formatted(chromium, areas_server):
    with chromium_page(chromium, WIDTH, HEIGHT) as page:
        errors = watch_errors(page)
        open_page(page, f"{areas_server}/outages/outages?_size=20")
        shown = {
            column: page.eval_on_selector_all(f"td.col-{column}", "tds => tds.map(td => td.innerText.trim())")
            for column in ("customer_minutes", "max_estCustAffected", "id", "latitude")
        }
        thousands = re.compile(r"\d{1,3}(,\d{3})*")
        assert any("," in value for value in shown["customer_minutes"])
        assert all(thousands.fullmatch(value) for value in shown["customer_minutes"] + shown["max_estCustAffected"])
        # Ids and coordinates as they are stored.
        assert shown["id"] and all(re.fullmatch(r"\d+", value) for value in shown["id"])
        assert all(re.fullmatch(r"-?\d+\.\d+", value) for value in shown["latitude"])
        assert errors == []


def test_areas_map_is_fitted_and_coloured_by_customers(chromium, areas_server, areas_database):
    conn = sqlite3.connect(areas_database)
    try:
        expected = dict(conn.execute("select outage, estCustAffected from most_recent_areas"))
    finally:
        conn.close()
    assert len(expected) > 5
    with chromium_page(chromium, WIDTH, HEIGHT) as page:
        errors = watch_errors(page)
        open_page(page, f"{areas_server}/outages/most_recent_areas")
        page.wait_for_selector(AREAS, timeout=20_000)
        page.wait_for_selector(".areas-legend", timeout=20_000)
        drawn = page.evaluate("""() => {
            const areas = [];
            let bounds = null;
            window.map.eachLayer(layer => {
                if (layer.feature && layer.getBounds) {
                    areas.push([layer.feature.properties.outage, layer.options.fillColor]);
                    bounds = bounds ? bounds.extend(layer.getBounds()) : layer.getBounds();
                }
            });
            const view = window.map.getBounds();
            return {
                areas,
                inside: view.contains(bounds),
                share: Math.max(
                    (bounds.getNorth() - bounds.getSouth()) / (view.getNorth() - view.getSouth()),
                    (bounds.getEast() - bounds.getWest()) / (view.getEast() - view.getWest())),
            };
        }""")
        # Every area, in the shade of its customers (the county map's), none in the default grey.
        assert sorted(outage for outage, _ in drawn["areas"]) == sorted(expected)
        assert all(colour == map_shade(expected[outage]) for outage, colour in drawn["areas"])
        # The map fits the areas: all of them in view, filling most of it one way.
        assert drawn["inside"] and drawn["share"] > 0.6
        assert errors == []




def test_outage_page_shows_round_ticks_and_snapshot_times(chromium, areas_server, areas_database):
    conn = sqlite3.connect(areas_database)
    try:
        (outage,) = conn.execute(
            "select id from outages where last_snapshot - first_snapshot > 20 order by id limit 1").fetchone()
    finally:
        conn.close()
    with chromium_page(chromium, WIDTH, HEIGHT) as page:
        errors = watch_errors(page)
        open_page(page, f"{areas_server}/outages/outages/{outage}")
        ticks = page.eval_on_selector_all(".outage-chart text", "ts => ts.map(t => t.textContent.trim())")
        times = [tick for tick in ticks if re.search(r"\d\d:\d\d$", tick)]
        assert len(times) >= 2 and all(int(tick[-2:]) % 10 == 0 for tick in times)
        for column in ("first_snapshot", "last_snapshot"):
            link = page.eval_on_selector(f"td.col-{column} a", "a => [a.getAttribute('href'), a.innerText]")
            assert re.fullmatch(r"/outages/snapshots/\d+", link[0])
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? P[SD]T \(-0[78]:00\)", link[1])
        assert errors == []
