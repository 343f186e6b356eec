"""What the reader sees first (issue 24), through a real Datasette's client: the database page
leads with the questions, column descriptions are folded, numbers are formatted in HTML only
(the JSON and CSV keep the stored values), areas are not shown as GeoJSON text, and the outage
page's chart has honest ticks and its snapshots are times."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from datetime import UTC, datetime

import pytest
import yaml
from datasette.app import Datasette

from pge_outages.datasette_plugin import PACIFIC, describe_geometry, format_number
from pge_outages.pages import count_step, draw_customers_chart, time_ticks
from support.browser import METADATA, SERVE_SETTINGS

METADATA_DICT = yaml.safe_load(METADATA.read_text())


@pytest.fixture
def ds(areas_database) -> Datasette:
    return Datasette([str(areas_database)], metadata=METADATA_DICT, settings=SERVE_SETTINGS)


async def get(ds: Datasette, path: str):
    response = await ds.client.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:500]}"
    return response


def cells(html: str, column: str) -> list[str]:
    """The inner HTML of the body cells of `column`."""
    return re.findall(rf'<td class="col-{column}(?: [^"]*)?">(.*?)</td>', html, re.S)


def text(cell: str) -> str:
    return re.sub(r"<[^>]+>", "", cell).strip()


@pytest.mark.parametrize(
    "value, column, shown",
    [
        (4996380.0, "customers_affected", "4,996,380"),
        (580125.5166, "customer_minutes", "580,126"),
        (1234, "estCustAffected", "1,234"),
        (12.0, "gap_minutes", "12"),
        (1234.56, "gap_hours", "1,234.6"),
        (0.6, "duration_hours", "0.6"),
        # Never ids, coordinates or times, whatever their size.
        (1040840, "outage", None),
        (1040840, "id", None),
        (6017, "county_fips", None),
        (-120.70239, "longitude", None),
        (1764685137, "outageStartTime", None),
        (176, "first_snapshot", None),
        (True, "outages", None),
        ("1234", "outages", None),
        (None, "customers", None),
    ],
)
def test_format_number(value, column, shown):
    assert format_number(value, column) == shown


def test_describe_geometry():
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    two = {"type": "MultiPolygon", "coordinates": [square["coordinates"], square["coordinates"]]}
    assert describe_geometry(json.dumps(square)) == "Polygon, 5 points"
    assert describe_geometry(json.dumps(two)) == "MultiPolygon, 10 points"
    assert describe_geometry("not json") is None
    assert describe_geometry('{"type": "Feature"}') is None


@pytest.mark.asyncio
async def test_database_page_leads_with_questions_then_views_then_tables(ds):
    html = (await get(ds, "/outages")).text
    order = [html.index(f'<h2 id="{part}">') for part in ("queries", "views", "tables")]
    assert order == sorted(order)
    assert ">Questions</h2>" in html
    # The questions by their titles, the views with their descriptions.
    assert ">Customers affected and outages over time</a>" in html
    assert "most_recent_snapshot</a>: Every outage in the latest snapshot" in html
    # The SQL box comes after them all and opens on outages, never on an internal table.
    editor = re.search(r'<textarea id="sql-editor" name="sql">([^<]*)</textarea>', html)
    assert editor is not None and editor.group(1) == "select * from outages"
    assert html.index('<form class="sql"') > order[-1]
    # Internal tables are hidden, still reachable.
    assert '<a href="/outages/area_runs">' not in html
    hidden = (await get(ds, "/outages?_show_hidden=1")).text
    assert '<a href="/outages/area_runs">area_runs</a>' in hidden
    assert re.search(r'<textarea id="sql-editor" name="sql">select \* from outages</textarea>', hidden)


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/outages/most_recent_snapshot", "/outages/outages", "/outages/snapshots"])
async def test_column_descriptions_are_folded(ds, path):
    html = (await get(ds, path)).text
    folded = re.search(r'<details class="column-glossary">(.*?)</details>', html, re.S)
    assert folded is not None
    assert folded.group(1).count("<dt>") > 3
    # Once, folded: not again in full above the data.
    assert html.count('<dl class="column-descriptions">') == 1
    assert "Times are shown in Pacific time" in folded.group(1)


def test_no_description_calls_a_shown_time_utc_seconds_or_iso():
    """The cells of these columns show Pacific times (datasette_plugin.render_cell): their
    descriptions may not say they hold Unix seconds (UTC) or ISO 8601 text."""
    tables = METADATA_DICT["databases"]["outages"]["tables"]
    wrong = [
        (table, column, description)
        for table, about in tables.items()
        for column, description in (about.get("columns") or {}).items()
        if re.search(r"Unix seconds|ISO 8601|UTC offset", description)
    ]
    assert wrong == []


@pytest.mark.asyncio
async def test_numbers_are_formatted_in_html_only(ds, areas_database):
    conn = sqlite3.connect(areas_database)
    try:
        outage, minutes, peak = conn.execute(
            "select id, customer_minutes, max_estCustAffected from outages order by max_estCustAffected desc limit 1"
        ).fetchone()
    finally:
        conn.close()
    assert minutes >= 1000 and peak >= 1000 and outage >= 1000
    html = (await get(ds, "/outages/outages?_size=1")).text
    assert [text(c) for c in cells(html, "customer_minutes")] == [f"{round(minutes):,}"]
    assert [text(c) for c in cells(html, "max_estCustAffected")] == [f"{peak:,}"]
    # The id is left as it is.
    assert f">{outage}</a>" in html and f"{outage:,}" not in html
    rows = (await get(ds, "/outages/outages.json?_size=1&_shape=array")).json()
    assert rows[0]["customer_minutes"] == minutes and rows[0]["max_estCustAffected"] == peak
    table = list(csv.DictReader(io.StringIO((await get(ds, "/outages/outages.csv?_size=1")).text)))
    assert float(table[0]["customer_minutes"]) == minutes and table[0]["max_estCustAffected"] == str(peak)
    # A canned query's cells too; its JSON keeps the stored value.
    query = (await get(ds, "/outages/customers_over_time")).text
    shown = [text(c) for c in cells(query, "customers_affected")]
    assert shown and all(re.fullmatch(r"\d{1,3}(,\d{3})*", s) for s in shown)
    stored = (await get(ds, "/outages/customers_over_time.json?_shape=array")).json()
    assert [f"{round(r['customers_affected']):,}" for r in stored] == shown


@pytest.mark.asyncio
async def test_areas_are_drawn_not_written_out(ds):
    html = (await get(ds, "/outages/most_recent_areas")).text
    shown = [text(c) for c in cells(html, "geometry")]
    assert shown and all(re.fullmatch(r"(Multi)?Polygon, [\d,]+ points", s) for s in shown)
    assert '&#34;coordinates&#34;' not in html and '"coordinates"' not in html
    rows = (await get(ds, "/outages/most_recent_areas.json?_shape=array")).json()
    assert len(rows) == len(shown)
    assert all(json.loads(r["geometry"])["type"] in ("Polygon", "MultiPolygon") for r in rows)
    table = list(csv.DictReader(io.StringIO((await get(ds, "/outages/most_recent_areas.csv")).text)))
    assert [json.loads(r["geometry"]) for r in table] == [json.loads(r["geometry"]) for r in rows]
    # The map has the shades to colour the areas with.
    assert "window.pgeOutages" in html and "areas-map.js" in html


@pytest.mark.asyncio
async def test_customers_over_time_keeps_every_column_in_json(ds):
    rows = (await get(ds, "/outages/customers_over_time.json?_shape=array")).json()
    assert rows and {"time", "when", "customers_affected", "outage_count"} <= set(rows[0])
    html = (await get(ds, "/outages/customers_over_time")).text
    assert "pages.css" in html and "customers-chart.js" in html


@pytest.mark.asyncio
async def test_outage_page_shows_its_snapshots_as_times(ds, areas_database):
    conn = sqlite3.connect(areas_database)
    try:
        outage, first, last, first_when, last_when = conn.execute(
            """select o.id, o.first_snapshot, o.last_snapshot, f.[when], l.[when] from outages o
            join snapshots f on f.id = o.first_snapshot join snapshots l on l.id = o.last_snapshot
            where o.first_snapshot < o.last_snapshot order by o.id limit 1""").fetchone()
    finally:
        conn.close()
    html = (await get(ds, f"/outages/outages/{outage}")).text
    for column, snapshot, when in (("first_snapshot", first, first_when), ("last_snapshot", last, last_when)):
        [cell] = cells(html, column)
        assert f'<a href="/outages/snapshots/{snapshot}">' in cell
        local = datetime.fromtimestamp(when, PACIFIC)
        assert f"{local:%Y-%m-%d %H:%M}" in text(cell)
    # The chart's ticks: round times, whole customers.
    labels = re.findall(r'<text x="[\d.]+" y="[\d.]+" text-anchor="\w+">([^<]+)</text>', html)
    times = [label for label in labels if re.search(r"\d\d:\d\d$", label)]
    assert times and all(int(label[-2:]) % 5 == 0 for label in times)


def test_chart_of_a_0_customer_outage_has_honest_ticks():
    chart = draw_customers_chart([(1572139020, 0), (1572142500, 0)], str)
    assert chart is not None
    assert [label for _, label in chart["y_ticks"]] == ["0", "1"]
    assert chart["peak"] == 0


@pytest.mark.parametrize(
    "peak, labels",
    [(0, ["0", "1"]), (1, ["0", "1"]), (3, ["0", "1", "2", "3"]), (7, ["0", "2", "4", "6", "8"]),
     (2921, ["0", "1,000", "2,000", "3,000"])],
)
def test_chart_y_ticks_are_whole_round_numbers(peak, labels):
    chart = draw_customers_chart([(0, peak), (600, peak)], str)
    assert chart is not None and [label for _, label in chart["y_ticks"]] == labels
    assert count_step(peak) * 4 >= peak


@pytest.mark.parametrize(
    "start, end, step",
    [
        ("2019-10-26T19:37:00", "2019-10-26T20:35:00", 600),
        ("2019-10-26T19:37:00", "2019-10-27T01:12:00", 3600),
        ("2019-10-26T19:37:00", "2019-10-29T08:00:00", 12 * 3600),
        ("2019-10-20T03:10:00", "2019-11-02T20:00:00", 7 * 86400),
    ],
)
def test_chart_x_ticks_fall_on_round_pacific_times(start, end, step):
    def utc_offset(when: int) -> int:
        offset = datetime.fromtimestamp(when, PACIFIC).utcoffset()
        assert offset is not None
        return int(offset.total_seconds())

    first, last = (int(datetime.fromisoformat(t).replace(tzinfo=PACIFIC).timestamp()) for t in (start, end))
    ticks = time_ticks(first, last, utc_offset)
    assert 2 <= len(ticks) <= 6 and ticks == sorted(ticks)
    assert all(first <= t <= last for t in ticks)
    for t in ticks:
        local = datetime.fromtimestamp(t, PACIFIC)
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        assert seconds % min(step, 86400) == 0, local
    assert datetime.fromtimestamp(ticks[0], UTC) >= datetime.fromtimestamp(first, UTC)
