"""What a visitor sees, in Debian's headless Chromium driven by Playwright against a real
Datasette on 127.0.0.1, with everything else refused (so it all works offline): the chart of
customers over time drawn at full width as the page loads, on a time axis in Pacific time,
and no bare Unix timestamps in the tables.

The synthetic history spans the night of 2-3 November 2019, when Pacific time went back
from PDT (-07:00) to PST (-08:00).
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from support.browser import (
    CUSTOMERS_CHART,
    bare_timestamps,
    chromium_page,
    open_customers_chart,
    running_datasette,
)
from support.helpers import build_synthetic

pytestmark = pytest.mark.browser

PACIFIC = ZoneInfo("America/Los_Angeles")
START = 1572721200  # 2019-11-02 12:00 PDT
# The pages with time columns a visitor starts from.
PAGES = ["most_recent_snapshot", "outages", "outages_expanded", "snapshots", "customers_over_time",
         "restoration_slips", "outage_snapshots?snapshot=150"]


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    return build_synthetic(tmp_path_factory.mktemp("visitor"), commits=300, era="arcgis", seed=5, start=START)


@pytest.fixture(scope="module")
def server(chromium, database):
    with running_datasette(database) as url:
        yield url


def pacific_ticks(first: int, last: int, hours: int) -> list[tuple[int, str]]:
    """Every Pacific hour divisible by `hours` from first to last: (Unix time, label), dated
    on the first tick and at midnight, as the chart labels them."""
    ticks = []
    moment = datetime.fromtimestamp(first, UTC).replace(minute=0, second=0)
    if moment.timestamp() < first:
        moment += timedelta(hours=1)
    while moment.timestamp() <= last:
        local = moment.astimezone(PACIFIC)
        if local.hour % hours == 0:
            date = f"{local:%b} {local.day} " if not ticks or local.hour == 0 else ""
            ticks.append((int(moment.timestamp()), f"{date}{local:%H}:00"))
        moment += timedelta(hours=1)
    return ticks


def test_customers_chart_is_full_width_in_pacific_time_without_a_click(chromium, server, database, tmp_path):
    conn = sqlite3.connect(database)
    first, last = conn.execute("select min([when]), max([when]) from snapshots where suspect is null").fetchone()
    conn.close()
    with chromium_page(chromium, width=1280, height=900) as page:
        chart = open_customers_chart(page, f"{server}/outages/customers_over_time")
        page.screenshot(path=tmp_path / "customers_over_time.png", full_page=True)
        # Where Pacific midnight on 3 November (07:00 UTC, still PDT) falls along the time axis.
        position = page.eval_on_selector(
            CUSTOMERS_CHART,
            """svg => {
                const axes = [...svg.querySelectorAll(".role-axis-domain line, .role-axis-domain path")]
                    .map(p => p.getBoundingClientRect());
                const x = axes.reduce((a, b) => (b.width > a.width ? b : a));
                const label = [...svg.querySelectorAll(".role-axis-label text")]
                    .find(t => t.textContent === "Nov 3 00:00").getBoundingClientRect();
                return ((label.left + label.right) / 2 - x.left) / x.width;
            }""",
        )
    assert chart["width"] >= 900
    # About 50 hours across 1,200 pixels: a tick every 6 hours of Pacific time, dated at midnight.
    ticks = pacific_ticks(first, last, 6)
    assert [label for label in chart["labels"] if label.endswith(":00")] == [label for _, label in ticks]
    assert {"Nov 2 12:00", "Nov 3 00:00", "Nov 4 00:00"} <= set(chart["labels"])
    midnight = datetime(2019, 11, 3, tzinfo=PACIFIC).timestamp()
    assert position == pytest.approx((midnight - first) / (last - first), abs=0.01)


@pytest.mark.parametrize("name", PAGES)
def test_no_bare_unix_timestamps_in_the_tables(chromium, server, name, tmp_path):
    with chromium_page(chromium, width=1280, height=900) as page:
        page.goto(f"{server}/outages/{name}")
        page.wait_for_selector("table.rows-and-columns td")
        bare = bare_timestamps(page)
        shown = page.eval_on_selector_all("table.rows-and-columns td", "cells => cells.map(c => c.textContent)")
        page.screenshot(path=tmp_path / f"{name.split('?')[0]}.png", full_page=True)
    assert bare == []
    # The times are there, in Pacific time with the offset.
    assert [text for text in shown if re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? P[DS]T \(-0[78]:00\)", text)]
