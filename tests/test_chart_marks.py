"""The marks of the customers_over_time chart: the feed's changes, known (April 2024) and recorded
by the history (the ArcGIS feed after the legacy feed, a layer begun or ended), the runs of suspect
snapshots, and the spans the scraper did not see; drawn by static/customers-chart.js in a real
Chromium with no console errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml
from datasette.app import Datasette

from pge_outages.build import build_database
from pge_outages.pages import KNOWN_FEED_CHANGES, LAYER_CHANGE_OUTAGES, read_feed_changes, read_suspect_spans
from support.browser import (
    METADATA,
    SERVE_SETTINGS,
    chromium_page,
    open_customers_chart,
    running_datasette,
    watch_errors,
)
from support.helpers import fixture_versions, make_repo

APRIL_2024 = KNOWN_FEED_CHANGES[0][0]
T0 = APRIL_2024 - 4 * 3600  # the history runs across the known change of the feed


def layer5(ids, start: int) -> list[dict]:
    return [{"F_OUTAGE_ID": i, "EST_CUSTOMERS": 3, "CITY": "Oakland", "OUTAGE_LATITUDE": 37.8,
             "OUTAGE_LONGITUDE": -122.27, "OUTAGE_START": start * 1000, "LAST_UPDATE": start * 1000, "layers": [5]}
            for i in ids]


def layer4(ids, start: int) -> list[dict]:
    return [{"OUTAGE_ID": i, "EST_CUSTOMERS": 7, "geometry_x": -13603453.0, "geometry_y": 4549466.0,
             "OUTAGE_START": start * 1000, "LAST_UPDATE": start * 1000, "layers": [4]} for i in ids]


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    """Layer 5 alone, then layer 4 as well (20 outages at once) from the 13th scrape; a drop of
    the feed (suspect) at the 21st; three hours unseen before the 26th, with a change made early in
    them (blind); a lone layer-4 outage at the end is not a change of the feed."""
    versions, times, when = [], [], T0
    for n in range(30):
        records = layer5(range(1, 151), T0 - 3600)
        if n >= 12:
            records += layer4(range(5001, 5021), T0 + 12 * 600 - 300)
        if n == 20:
            records = layer5(range(1, 11), T0 - 3600)
        if n == 25:
            when += 3 * 3600
            records += layer5([900], when - 3 * 3600 + 600)
        if n > 25:
            records += layer5([900], when - 3 * 3600 + 600)
        versions.append(records)
        times.append(when)
        when += 600
    path = tmp_path_factory.mktemp("marks")
    repo = make_repo(path / "repo", versions, times=times)
    build_database(repo, path / "outages.db")
    return path / "outages.db"


def snapshots(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select id, [when], suspect, gap_class from snapshots order by id").fetchall()
    finally:
        conn.close()


def marks(db: Path, start=None, end=None) -> tuple[list[dict], list[dict]]:
    conn = sqlite3.connect(db)
    try:
        return read_feed_changes(conn), read_suspect_spans(conn, start, end)
    finally:
        conn.close()


def test_the_history_records_the_change_of_layers_and_the_glitch(history):
    rows = snapshots(history)
    layer4_from = next(when for _, when, *_ in rows if when >= T0 + 12 * 600)
    drop = [(id, when) for id, when, suspect, _ in rows if suspect == "drop"]
    assert len(drop) == 1 and [gap for *_, gap in rows].count("blind") == 1
    changes, suspects = marks(history)
    assert changes == [
        {"when": APRIL_2024, "label": KNOWN_FEED_CHANGES[0][1], "certainty": "about the end of April 2024"},
        {"when": layer4_from, "label": "Layer 4 read from here on", "certainty": "recorded"},
    ]
    assert suspects == [{"from": drop[0][1], "to": drop[0][1], "snapshots": 1, "why": "drop"}]
    # Only in the period asked for.
    assert marks(history, drop[0][1] + 1, None)[1] == [] and marks(history, None, drop[0][1] - 1)[1] == []


def test_a_layer_that_comes_and_goes_one_outage_at_a_time_is_no_change(tmp_path):
    versions = [layer5(range(1, 40), T0)] * 3 + [layer5(range(1, 40), T0) + layer4([7], T0)] * 2
    versions += [layer5(range(1, 41), T0)]
    repo = make_repo(tmp_path / "repo", versions, times=[T0 + 600 * n for n in range(len(versions))])
    build_database(repo, tmp_path / "outages.db")
    assert LAYER_CHANGE_OUTAGES > 1
    assert [c["label"] for c in marks(tmp_path / "outages.db")[0]] == [KNOWN_FEED_CHANGES[0][1]]


def test_the_arcgis_feed_after_the_legacy_feed_is_marked(tmp_path):
    arcgis = [layer5(range(1, 4 + n), T0)[: 3 + n] for n in range(3)]
    for version in arcgis:
        for record in version:
            del record["layers"]  # as the 2024 public history has them: the layer of its id key
    repo = make_repo(tmp_path / "repo", fixture_versions("legacy") + arcgis)
    build_database(repo, tmp_path / "outages.db")
    first_arcgis = snapshots(tmp_path / "outages.db")[3][1]
    changes = marks(tmp_path / "outages.db")[0]
    assert changes[1:] == [{"when": first_arcgis, "label": "The ArcGIS feed follows the legacy feed",
                            "certainty": "recorded"}]


@pytest.mark.asyncio
async def test_the_chart_page_passes_the_marks_of_its_period(history):
    ds = Datasette([str(history)], metadata=yaml.safe_load(METADATA.read_text()), settings=SERVE_SETTINGS)
    page = (await ds.client.get("/outages/customers_over_time")).text
    assert "window.pgeOutagesChartMarks = " in page and '"why": "drop"' in page
    assert "Layer 4 read from here on" in page
    # A period without the glitch: none of its suspect snapshots.
    page = (await ds.client.get("/outages/customers_over_time?from=2024-04-30T00:00-07:00")).text
    assert '"suspectSpans": []' in page and "Layer 4 read from here on" in page
    # Other pages get no such script.
    assert "pgeOutagesChartMarks" not in (await ds.client.get("/outages/largest_outages")).text


@pytest.mark.browser
def test_the_chart_draws_its_marks_with_a_legend_and_no_console_errors(chromium, history, tmp_path):
    with running_datasette(history) as server, chromium_page(chromium) as page:
        errors = watch_errors(page)
        open_customers_chart(page, f"{server}/outages/customers_over_time")
        drawn = page.eval_on_selector("#customers-chart svg", """svg => ({
            fills: [...svg.querySelectorAll("g.mark-rect.role-mark path")].map(p => p.getAttribute("fill")),
            rules: [...svg.querySelectorAll("g.mark-rule.role-mark path, g.mark-rule.role-mark line")]
                .map(r => r.getAttribute("stroke")),
            labels: [...svg.querySelectorAll("g.mark-text.role-mark text")].map(t => t.textContent),
            legend: [...svg.querySelectorAll(".role-legend-label text")].map(t => t.textContent),
        })""")
        page.locator("#customers-chart").screenshot(path=tmp_path / "customers-chart-marks.png")
    assert errors == []
    # Blind, not seen and suspect spans, each in its own colour.
    assert {"#7f8c8d", "#f0b27a"} <= set(drawn["fills"]), drawn
    assert drawn["legend"] == ["blind: the scraper missed changes", "not seen: no evidence either way",
                               "suspect snapshots, left out"]
    # Both changes of the feed, each a dashed rule with its label.
    assert drawn["rules"].count("#6c3483") == 2, drawn
    assert sorted(drawn["labels"]) == ["Layer 4 read from here on",
                                       "Layer 5 stops holding the outages that have an area"], drawn
