"""The map and the chart render in a real browser: Debian's headless Chromium,
driven by Playwright, against a real Datasette server on 127.0.0.1.

Map tiles come from the internet and are refused; markers and areas must render anyway.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from support.browser import (
    CHART_FRAGMENT,
    chromium_page,
    open_area_map,
    open_chart,
    open_map,
    running_datasette,
)
from support.helpers import build_synthetic, rows

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    return build_synthetic(tmp_path_factory.mktemp("browser"), commits=300, era="arcgis", seed=3)


@pytest.fixture(scope="module")
def server(chromium, database):
    with running_datasette(database) as url:
        yield url


def test_map_of_the_latest_snapshot_shows_every_outage(chromium, server, database, tmp_path):
    with chromium_page(chromium) as page:
        mapped = open_map(page, f"{server}/outages/most_recent_snapshot")
        page.screenshot(path=tmp_path / "most_recent_snapshot.png", full_page=True)
    assert mapped == rows(database, "select outage_count from snapshots order by id desc limit 1")[0][0]


def test_map_of_outages_at_a_moment(chromium, server, database, tmp_path):
    title, count = rows(database, "select title, outage_count from snapshots where id = 150")[0]
    with chromium_page(chromium) as page:
        mapped = open_map(page, f"{server}/outages/outages_at?{urlencode({'at': title})}")
        page.screenshot(path=tmp_path / "outages_at.png", full_page=True)
    assert mapped == count


def test_chart_of_customers_over_time_is_drawn(chromium, server, tmp_path):
    with chromium_page(chromium) as page:
        coloured = open_chart(page, f"{server}/outages/customers_over_time{CHART_FRAGMENT}")
        page.screenshot(path=tmp_path / "customers_over_time.png", full_page=True)
        # The same chart of a column that does not exist: axes, but no line.
        no_column = CHART_FRAGMENT.replace("customers_affected", "nothing")
        empty = open_chart(page, f"{server}/outages/customers_over_time{no_column}")
    assert empty == 0
    assert coloured > 200


def test_map_of_the_latest_areas_draws_every_polygon(chromium, areas_server, areas_database, tmp_path):
    count = rows(areas_database, "select count(*) from most_recent_areas")[0][0]
    assert count > 20
    with chromium_page(chromium) as page:
        drawn = open_area_map(page, f"{areas_server}/outages/most_recent_areas")
        page.screenshot(path=tmp_path / "most_recent_areas.png", full_page=True)
        # Its own map, not the cluster map of points: the view has no latitude and longitude.
        assert page.query_selector_all(".leaflet-marker-icon") == []
    assert drawn == count


def test_map_of_areas_at_a_moment(chromium, areas_server, areas_database, tmp_path):
    title = rows(areas_database, "select title from snapshots where id = 150")[0][0]
    count = rows(areas_database,
                 "select count(*) from area_snapshots a join outage_snapshots o on o.snapshot = a.snapshot "
                 "and o.outage = a.outage where a.snapshot = 150")[0][0]
    with chromium_page(chromium) as page:
        drawn = open_area_map(page, f"{areas_server}/outages/areas_at?{urlencode({'at': title})}")
        page.screenshot(path=tmp_path / "areas_at.png", full_page=True)
    assert drawn == count > 0
