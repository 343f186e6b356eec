"""The plugin's own pages in a real browser: Debian's headless Chromium, driven by
Playwright, against a real Datasette server on 127.0.0.1, everything else refused
(map tiles included: the outages and areas must be drawn anyway).

The replay plays a storm week, 1,000 snapshots of 4,000 outages (tests/support/storm.py).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

import pytest

from pge_outages.datasette_plugin import pacific_time
from support.browser import chromium_page, running_datasette
from support.helpers import rows
from support.storm import fill_storm

pytestmark = pytest.mark.browser

OUTAGES = "path.replay-outage"
AREAS = "path.replay-area"
STORM_PERIOD = "from=2019-10-26&to=2019-11-03"


@pytest.fixture(scope="module")
def storm(tmp_path_factory):
    return fill_storm(tmp_path_factory.mktemp("storm-browser") / "outages.db")


@pytest.fixture(scope="module")
def storm_server(chromium, storm):
    with running_datasette(storm) as url:
        yield url


def trustworthy(db) -> list[tuple[int, str, int, int]]:
    """(id, clock text, outages, areas) of each trustworthy snapshot, in order."""
    conn = sqlite3.connect(db)
    try:
        return [
            (id, pacific_time(datetime.fromtimestamp(when, UTC)), outages, areas)
            for id, when, outages, areas in conn.execute(
                """select id, [when],
                    (select count(*) from outage_snapshots o where o.snapshot = s.id and o.latitude is not null),
                    (select count(*) from area_snapshots a where a.snapshot = s.id)
                from snapshots s where suspect is null order by id""")
        ]
    finally:
        conn.close()


def shown(page) -> tuple[int, str, int, int]:
    """(slider position, clock text, outages drawn, areas drawn) on the replay page."""
    return page.evaluate(f"""() => [
        Number(document.getElementById("replay-slider").value),
        document.getElementById("replay-clock").textContent,
        document.querySelectorAll("{OUTAGES}").length,
        document.querySelectorAll("{AREAS}").length,
    ]""")


def wait_for_clock(page, text: str, timeout: float = 20_000) -> None:
    page.wait_for_function("text => document.getElementById('replay-clock').textContent === text",
                           arg=text, timeout=timeout)


def test_replay_plays_a_storm_week(chromium, storm_server, storm, tmp_path):
    snapshots = trustworthy(storm)
    assert len(snapshots) == 990 and min(s[2] for s in snapshots) > 3800
    errors = []
    with chromium_page(chromium) as page:
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{storm_server}/-/replay?{STORM_PERIOD}")
        wait_for_clock(page, snapshots[0][1])
        page.wait_for_load_state("networkidle")
        # The first frame: every outage of the first snapshot as a circle, every area drawn.
        assert tuple(shown(page)) == (0, *snapshots[0][1:])
        assert page.inner_text("#replay-play") == "Play"

        page.select_option("#replay-speed", "16")
        page.click("#replay-play")
        assert page.inner_text("#replay-play") == "Pause"
        started = time.perf_counter()
        page.wait_for_timeout(4000)
        page.click("#replay-play")
        elapsed = time.perf_counter() - started
        assert page.inner_text("#replay-play") == "Play"
        position, clock, outages, areas = shown(page)
        print(f"replay: {position} frames of about 4,000 outages in {elapsed:.1f} s (16 a second asked)")
        # Smooth: it keeps well ahead of the default 4 snapshots a second, fetching ahead.
        assert position >= 4 * elapsed
        assert (clock, outages, areas) == snapshots[position][1:]
        page.screenshot(path=tmp_path / "replay.png")
        # Paused: the clock stands still.
        page.wait_for_timeout(1000)
        assert tuple(shown(page)) == (position, *snapshots[position][1:])

        # The slider, moved with the keyboard as a visitor would.
        page.focus("#replay-slider")
        page.keyboard.press("End")
        wait_for_clock(page, snapshots[-1][1])
        assert tuple(shown(page)) == (len(snapshots) - 1, *snapshots[-1][1:])
        page.keyboard.press("Home")
        wait_for_clock(page, snapshots[0][1])
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        wait_for_clock(page, snapshots[3][1])
        assert tuple(shown(page)) == (3, *snapshots[3][1:])
    # The blocked tiles broke nothing.
    assert errors == []


def test_replay_skips_the_suspect_snapshots(chromium, storm_server, storm):
    conn = sqlite3.connect(storm)
    try:
        glitch = conn.execute("select id from snapshots where suspect is not null order by id limit 1").fetchone()[0]
    finally:
        conn.close()
    snapshots = trustworthy(storm)
    after = next(i for i, s in enumerate(snapshots) if s[0] > glitch)
    assert snapshots[after][0] == glitch + 1
    with chromium_page(chromium) as page:
        page.goto(f"{storm_server}/-/replay?{STORM_PERIOD}")
        wait_for_clock(page, snapshots[0][1])
        page.focus("#replay-slider")
        for _ in range(after - 1):
            page.keyboard.press("ArrowRight")
        wait_for_clock(page, snapshots[after - 1][1])
        page.keyboard.press("ArrowRight")
        # From the snapshot before the glitch straight to the one after it.
        wait_for_clock(page, snapshots[after][1])
        assert page.inner_text("#replay-status").endswith(f"(snapshot {glitch + 1}, {after + 1} of 990)")
        assert tuple(shown(page)) == (after, *snapshots[after][1:])


def test_outage_page_draws_its_chart_and_its_place(chromium, areas_server, areas_database, tmp_path):
    outage = rows(areas_database, "select o.id from outages o join areas a on a.outage = o.id"
                                  " order by o.max_estCustAffected desc limit 1")[0][0]
    errors = []
    with chromium_page(chromium, width=1280) as page:
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{areas_server}/outages/outages/{outage}")
        page.wait_for_selector("#outage-map .leaflet-marker-icon", timeout=20_000)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=tmp_path / "outage.png", full_page=True)
        chart = page.eval_on_selector("svg.outage-chart", "svg => svg.getBoundingClientRect().width")
        line = page.eval_on_selector("svg.outage-chart path.line", "path => path.getBoundingClientRect().width")
        markers = page.eval_on_selector_all("#outage-map .leaflet-marker-icon", "icons => icons.length")
        areas = page.eval_on_selector_all("#outage-map .leaflet-overlay-pane path",
                                          "paths => paths.filter(p => /L/.test(p.getAttribute('d') || '')).length")
        # The row's own columns are still there, above.
        assert page.locator("table.rows-and-columns").first.is_visible()
    assert chart >= 900 and line > 0.9 * (chart - 80)
    assert markers == 1 and areas == 1
    assert errors == []
