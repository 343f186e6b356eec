"""The project's Datasette plugin: expanded views are not counted whole, times are shown in
Pacific time in HTML only, and customers_over_time gets its chart from installed files."""

import re
from datetime import UTC, datetime

import pytest
import yaml
from datasette.app import Datasette

from pge_outages.build import build_database
from pge_outages.datasette_plugin import PACIFIC, VEGA_FILES, needs_nocount, pacific_time, read_time
from support.browser import METADATA
from support.helpers import fixture_versions, make_repo


@pytest.mark.parametrize(
    "path, query, expected",
    [
        ("/outages/outage_snapshots", "", True),
        ("/outages/outage_snapshots.json", "_size=5", True),
        ("/outages/outage_snapshots", "cause=STORM", True),
        ("/outages/outage_snapshots", "snapshot=3", False),
        ("/outages/outage_snapshots", "outage__exact=7&_size=5", False),
        ("/outages/outages", "", False),
        ("/outages/most_recent_snapshot", "", False),
        ("/outages/area_snapshots", "", True),
        ("/outages/area_snapshots.geojson", "", True),  # what datasette-geojson-map draws
        ("/outages/area_snapshots", "outage=7", False),
        ("/outages/most_recent_areas", "", False),
    ],
)
def test_needs_nocount(path, query, expected):
    assert needs_nocount(path, query) is expected


@pytest.mark.asyncio
async def test_plugin_is_installed_and_skips_the_count(tmp_path):
    repo = make_repo(tmp_path / "repo", fixture_versions("legacy"), "pge-outages.json")
    db = tmp_path / "outages.db"
    build_database(repo, db)
    ds = Datasette([str(db)])
    plugins = (await ds.client.get("/-/plugins.json")).json()
    assert {"pge-outages", "datasette-vega", "datasette-cluster-map"} <= {p["name"] for p in plugins}
    whole = (await ds.client.get("/outages/outage_snapshots.json")).json()
    assert whole["filtered_table_rows_count"] is None
    assert len(whole["rows"]) == 7
    one = (await ds.client.get("/outages/outage_snapshots.json?snapshot=2")).json()
    assert one["filtered_table_rows_count"] == 3


@pytest.mark.parametrize(
    "when, shown",
    [
        (1572127200, "2019-10-26 15:00 PDT (-07:00)"),
        (1572139445, "2019-10-26 18:24:05 PDT (-07:00)"),
        # The night the clocks go back: 01:30 twice, told apart by the offset.
        (1572769800, "2019-11-03 01:30 PDT (-07:00)"),
        (1572773400, "2019-11-03 01:30 PST (-08:00)"),
        (1706774400, "2024-02-01 00:00 PST (-08:00)"),
    ],
)
def test_pacific_time(when, shown):
    assert pacific_time(datetime.fromtimestamp(when, UTC)) == shown


@pytest.mark.parametrize(
    "column, value, expected",
    [
        ("when", 1572127200, 1572127200),
        ("currentEtor", 1572127200, 1572127200),
        ("first_currentEtor", 1572127200, 1572127200),
        ("title", "2019-10-26T15:00:00-07:00", 1572127200),
        ("started", "2019-10-26T22:00:00Z", 1572127200),
        ("time", "2019-10-26T22:00:00+00:00", 1572127200),
        ("estCustAffected", 1572127200, None),  # not a time column
        ("when", True, None),
        ("when", None, None),
        ("title", "version 3", None),
        ("time", "2019-10-26T22:00:00", None),  # no offset: which zone is unknown
    ],
)
def test_read_time(column, value, expected):
    moment = read_time(value, column)
    assert (None if moment is None else moment.timestamp()) == expected


@pytest.fixture
def legacy_db(tmp_path):
    repo = make_repo(tmp_path / "repo", fixture_versions("legacy"), "pge-outages.json")
    db = tmp_path / "outages.db"
    build_database(repo, db)
    return db


def cells(html: str, column: str) -> list[str]:
    return re.findall(rf'<td class="col-{column}[^"]*">(.*?)</td>', html, re.DOTALL)


@pytest.mark.asyncio
async def test_times_are_pacific_in_html_and_unix_seconds_in_json(legacy_db):
    ds = Datasette([str(legacy_db)], metadata=yaml.safe_load(METADATA.read_text()))
    rows = (await ds.client.get("/outages/snapshots.json?_shape=array&_sort=id")).json()
    assert all(isinstance(row["when"], int) for row in rows)
    html = (await ds.client.get("/outages/snapshots?_sort=id")).text
    first = datetime.fromtimestamp(rows[0]["when"], UTC)
    assert cells(html, "when")[0] == (
        f'<time datetime="{first.astimezone(PACIFIC).isoformat()}" title="{rows[0]["when"]}">'
        f"{pacific_time(first)}</time>")
    assert pacific_time(first) in cells(html, "title")[0]
    # The feed's times, in a view.
    html = (await ds.client.get("/outages/most_recent_snapshot")).text
    starts = cells(html, "outageStartTime")
    assert starts and all(re.search(r">20\d\d-\d\d-\d\d \d\d:\d\d(:\d\d)? P[DS]T \(-0[78]:00\)<", c) for c in starts)
    # A snapshot a row refers to is shown by its time, linked to it.
    outages = (await ds.client.get("/outages/outages.json?_shape=array&_sort=id")).json()
    html = (await ds.client.get("/outages/outages?_sort=id")).text
    snapshot = rows[outages[0]["first_snapshot"] - 1]
    cell = cells(html, "first_snapshot")[0]
    assert cell.startswith(f'<a href="/outages/snapshots/{snapshot["id"]}"><time ')
    assert pacific_time(datetime.fromisoformat(snapshot["title"])) in cell
    assert outages[0]["outageStartTime"] == int(fixture_versions("legacy")[0][0]["outageStartTime"])


@pytest.mark.asyncio
async def test_only_customers_over_time_gets_the_chart_from_installed_files(legacy_db):
    ds = Datasette([str(legacy_db)], metadata=yaml.safe_load(METADATA.read_text()))
    urls = [f"/-/static-plugins/datasette_dashboards/{name}" for name in VEGA_FILES]
    html = (await ds.client.get("/outages/customers_over_time")).text
    assert [url for url in urls if f'<script src="{url}">' in html] == urls
    chart = "/-/static-plugins/pge-outages/customers-chart.js"
    assert f'<script type="module" src="{chart}">' in html  # the project's script, from its static/
    assert 'holder.id = "customers-chart"' in (await ds.client.get(chart)).text
    for url in urls:
        response = await ds.client.get(url)
        assert response.status_code == 200 and len(response.content) > 10_000, url
    for other in ("/outages/outages_at", "/outages/snapshots", "/outages", "/outages?sql=select+1"):
        html = (await ds.client.get(other)).text
        assert "datasette_dashboards" not in html and "customers-chart" not in html, other



def test_the_home_page_covers_the_last_30_days_of_a_longer_history(tmp_path):
    """Forty days of snapshots an hour apart, the last ten days' gaps blind: 30 days, a third blind."""
    import sqlite3

    from pge_outages.datasette_plugin import read_recent_coverage
    from pge_outages.schema import connect, create_schema

    conn = connect(tmp_path / "outages.db")
    create_schema(conn)
    start = 1_700_000_000
    for n in range(40 * 24 + 1):
        gap_class = None if n == 0 else ("blind" if n > 30 * 24 else "quiet")
        conn.execute("insert into snapshots (id, hash, [when], title, outage_count, customers_affected, gap_class, "
                     "gap_seconds) values (?, ?, ?, 't', 0, 0, ?, ?)",
                     (n + 1, f"h{n}", start + n * 3600, gap_class, 3600 if n else None))
    conn.close()
    found = read_recent_coverage(sqlite3.connect(tmp_path / "outages.db"))
    assert found["period"] == "the 30 days"
    assert found["total"] == 30 * 24
    assert dict((name, share) for name, _, share in found["classes"]) == {
        "watched": 0, "quiet": 67, "blind": 33, "unknown": 0}


@pytest.mark.asyncio
async def test_an_uncounted_page_draws_no_cluster_map_and_a_counted_one_does(legacy_db):
    """Unfiltered, outage_snapshots is not counted: no map of its first rows (and no failing
    "showing N of null"); filtered by snapshot it is counted, and mapped."""
    ds = Datasette([str(legacy_db)], metadata=yaml.safe_load(METADATA.read_text()))
    script = "datasette-cluster-map.js"
    assert script not in (await ds.client.get("/outages/outage_snapshots")).text
    assert script in (await ds.client.get("/outages/outage_snapshots?snapshot=1")).text
    assert script in (await ds.client.get("/outages/most_recent_snapshot")).text
    # The request after an uncounted one is mapped as before: the setting is the request's own.
    assert script in (await ds.client.get("/outages/outages")).text
