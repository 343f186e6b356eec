"""Browsing in Datasette: every page, view and canned query of metadata.yml
answers with the rows that the git history itself says it should.

Expected rows are read straight from the blobs with the json module, not
through the builder, on a synthetic history with broken scrapes, a two-hour
hole in the scraper's coverage and an empty scrape, a glitch of the feed.
The last scrapes have outage areas too (tests/test_areas.py checks those).
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from datasette.app import Datasette

from pge_outages.build import build_database
from pge_outages.datasette_plugin import EXPANDED_VIEWS, needs_nocount, prepare_connection
from pge_outages.schema import OUR_TABLES, VIEWS_SQL
from pge_outages.synthetic import generate_history
from pge_outages.times import PACIFIC
from support.browser import CHART_FRAGMENT, METADATA, SERVE_SETTINGS
from support.helpers import areas_file, commit_files, git

FILE = "outages.json"
GAP = 2 * 3600
METADATA_DICT = yaml.safe_load(METADATA.read_text())
DATABASE = METADATA_DICT["databases"]["outages"]
QUERIES = DATABASE["queries"]
VIEWS = re.findall(r"^CREATE VIEW (\w+)", VIEWS_SQL.read_text(), re.MULTILINE)
TABLES = [t for t in OUR_TABLES if t != "_meta"]
LOOKUPS = ("causes", "crew_statuses", "regions", "device_lists")


@dataclass
class Scrape:
    """One readable version of the feed file: its commit and its records by outage number."""

    sha: str
    when: int
    title: str
    records: dict[int, dict]

    def customers(self) -> int:
        return sum(r["EST_CUSTOMERS"] or 0 for r in self.records.values())


@dataclass
class History:
    repo: Path
    db: Path
    scrapes: list[Scrape]
    skipped: list[int]  # commit times of the versions that are no list of outages
    suspect: set[int]  # indexes into scrapes of the glitches of the feed

    def trustworthy(self) -> list[Scrape]:
        return [s for i, s in enumerate(self.scrapes) if i not in self.suspect]


def read_scrapes(repo: Path) -> tuple[list[Scrape], list[int]]:
    """Every commit that changed the file, read with the json module: (scrapes, skipped times)."""
    log = git(repo, "log", "--reverse", "--format=%H %ct %cI", "--", FILE).splitlines()
    commits = [line.split() for line in log]
    shown = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=repo, check=True, capture_output=True,
        input="".join(f"{sha}:{FILE}\n" for sha, _, _ in commits).encode(),
    ).stdout
    scrapes, skipped = [], []
    for sha, when, title in commits:
        header, _, shown = shown.partition(b"\n")
        version = None
        if not header.endswith(b"missing"):
            size = int(header.split()[2])
            blob, shown = shown[:size], shown[size + 1:]
            try:
                version = json.loads(blob)
            except ValueError:
                pass
        if isinstance(version, list):
            records = {}
            for record in version:
                records.setdefault(record["F_OUTAGE_ID"], record)
            scrapes.append(Scrape(sha, int(when), title, records))
        else:
            skipped.append(int(when))
    return scrapes, skipped


def _square(longitude: float, latitude: float, size: float = 0.01) -> dict:
    east, north = round(longitude + size, 5), round(latitude + size, 5)
    ring = [[longitude, latitude], [east, latitude], [east, north], [longitude, north], [longitude, latitude]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> History:
    base = tmp_path_factory.mktemp("browsing")
    repo = generate_history(base / "history", commits=300, era="arcgis", seed=7, broken=4)
    scrapes, _ = read_scrapes(repo)
    # The scraper comes back after a two-hour hole, now writing outage areas
    # too, an outage ends, the feed glitches once (an empty list) and another
    # outage ends.
    last = list(scrapes[-1].records.values())
    assert len(last) >= 20, "an empty list is a glitch only after 20 outages or more"
    commits = int(git(repo, "rev-list", "--count", "HEAD"))
    start = int(git(repo, "log", "-1", "--format=%ct")) + GAP - commits * 600
    areas = areas_file({r["F_OUTAGE_ID"]: _square(r["OUTAGE_LONGITUDE"], r["OUTAGE_LATITUDE"]) for r in last})
    commit_files(repo, [{FILE: last[1:], "outage-areas.geojson": areas}, {FILE: []}, {FILE: last[2:]}], start=start)
    db = base / "outages.db"
    build_database(repo, db)
    scrapes, skipped = read_scrapes(repo)
    assert skipped, "the history should hold broken versions"
    suspect = {len(scrapes) - 2}
    conn = sqlite3.connect(db)
    flagged = {row[0] - 1 for row in conn.execute("select id from snapshots where suspect is not null")}
    conn.close()
    assert flagged == suspect, "the builder should flag the empty scrape, and only it"
    return History(repo, db, scrapes, skipped, suspect)


@pytest.fixture
def ds(history) -> Datasette:
    return Datasette([str(history.db)], metadata=METADATA_DICT, settings=SERVE_SETTINGS)


async def get_html(ds: Datasette, path: str) -> str:
    response = await ds.client.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:500]}"
    return response.text


async def get_json(ds: Datasette, path: str) -> dict:
    response = await ds.client.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:500]}"
    return response.json()


async def get_rows(ds: Datasette, path: str) -> list[dict]:
    data = await get_json(ds, path)
    assert not data.get("truncated"), f"{path} was truncated"
    return [row if isinstance(row, dict) else dict(zip(data["columns"], row, strict=True)) for row in data["rows"]]


def query_path(name: str, **params: str) -> str:
    return f"/outages/{name}.json" + (f"?{urlencode(params)}" if params else "")


def utc(when: int) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pacific_clock(when: int) -> str:
    """The moment as typed without an offset: the Pacific wall clock."""
    return datetime.fromtimestamp(when, PACIFIC).strftime("%Y-%m-%dT%H:%M:%S")


def columns_of(db: Path, name: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        # table_xinfo, as Datasette reads it: generated columns (snapshots.bucket) included.
        return [row[1] for row in conn.execute(f"pragma table_xinfo([{name}])") if row[6] != 1]
    finally:
        conn.close()


def last_records(scrapes: list[Scrape]) -> dict[int, tuple[Scrape, dict]]:
    """Each outage's last sighting: the scrape and its record there."""
    last = {}
    for scrape in scrapes:
        for outage, record in scrape.records.items():
            last[outage] = (scrape, record)
    return last


def overlapping(scrapes: list[Scrape], start: int, end: int) -> set[int]:
    """Outages seen at some time between start and end (inclusive) or over it."""
    first, last = {}, {}
    for scrape in scrapes:
        for outage in scrape.records:
            first.setdefault(outage, scrape.when)
            last[outage] = scrape.when
    return {o for o in first if last[o] >= start and first[o] <= end}


# Pages, views and tables


@pytest.mark.asyncio
async def test_the_map_and_chart_plugins_are_installed(ds):
    plugins = {p["name"] for p in await get_json(ds, "/-/plugins.json")}
    assert {"datasette-vega", "datasette-cluster-map", "datasette-geojson-map"} <= plugins


def test_every_table_view_and_column_is_described(history):
    conn = sqlite3.connect(history.db)
    names = [row[0] for row in conn.execute(
        "select name from sqlite_master where type in ('table', 'view') and name not like 'sqlite_%'")]
    conn.close()
    assert METADATA_DICT["title"] and METADATA_DICT["source_url"] and METADATA_DICT["license"]
    tables = DATABASE["tables"]
    undescribed = {}
    for name in names:
        described = tables.get(name, {})
        if not (described.get("description") or described.get("description_html")):
            undescribed[name] = "no description"
        elif name not in LOOKUPS and name != "_meta":
            missing = [c for c in columns_of(history.db, name) if c not in described.get("columns", {})]
            if missing:
                undescribed[name] = missing
    assert undescribed == {}, "describe these tables, views and columns in metadata.yml"


@pytest.mark.asyncio
@pytest.mark.parametrize(("path", "message"), [
    ("/outages/outages_at?at=yesterday",
     "at: &#39;yesterday&#39; is not a time the query can read, such as 2019-10-27T15:00-07:00"),
    ("/outages/outage_history?outage=abc", "outage: &#39;abc&#39; is not an outage number, such as 3116600"),
    ("/outages/customers_over_time?from=2024-02-03&to=2024-02-02",
     "from (2024-02-03) is after to (2024-02-02): nothing lies between them"),
    ("/outages/counties_between?from=2024-02-02T25:00&to=", "from: &#39;2024-02-02T25:00&#39; is not a time"),
])
async def test_a_parameter_the_query_cannot_read_gets_a_message_that_names_it(ds, path, message):
    text = await get_html(ds, path)
    assert 'class="message-error parameter-problems"' in text
    assert message in text


@pytest.mark.asyncio
async def test_readable_parameters_get_no_message(ds):
    for path in ["/outages/outages_at?at=2024-02-02T12:00-08:00", "/outages/outages_at",
                 "/outages/customers_over_time?from=2024-02-01&to=2024-02-02", "/outages?sql=select+1"]:
        assert "parameter-problems" not in await get_html(ds, path)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(QUERIES))
async def test_a_canned_querys_tab_is_titled_with_its_title_not_its_sql(ds, name):
    text = await get_html(ds, f"/outages/{name}")
    tab = html.unescape(re.search(r"<title>(.*?)</title>", text, re.S)[1])
    assert tab == f"{QUERIES[name]['title']} · outages"
    # Arbitrary SQL keeps Datasette's own title.
    text = await get_html(ds, "/outages?sql=select+1")
    assert re.search(r"<title>(.*?)</title>", text, re.S)[1] == "outages: select 1"


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/", "/outages", "/-/metadata"])
async def test_index_pages_answer(ds, path):
    text = await get_html(ds, path)
    if path == "/":
        assert "PG&amp;E power outages" in text


@pytest.mark.asyncio
@pytest.mark.parametrize("name", TABLES + VIEWS)
async def test_every_table_and_view_answers(ds, history, name):
    await get_html(ds, f"/outages/{name}")
    data = await get_json(ds, f"/outages/{name}.json")
    assert data["columns"] == columns_of(history.db, name)
    conn = sqlite3.connect(history.db)
    count = conn.execute(f"select count(*) from [{name}]").fetchone()[0]
    conn.close()
    # outage_snapshots and area_snapshots unfiltered are shown without counting (pge_outages/datasette_plugin/)
    assert data["filtered_table_rows_count"] == (None if name in EXPANDED_VIEWS else count)
    assert len(data["rows"]) == min(count, DATABASE["tables"][name].get("size", 100))


@pytest.mark.asyncio
async def test_tables_hold_what_the_history_holds(ds, history):
    snapshots = await get_json(ds, "/outages/snapshots.json?_shape=objects")
    assert snapshots["filtered_table_rows_count"] == len(history.scrapes)
    newest = [(r["hash"], r["customers_affected"], r["outage_count"]) for r in snapshots["rows"][:5]]
    assert newest == [(s.sha, s.customers(), len(s.records)) for s in history.scrapes[::-1][:5]]
    skipped = await get_json(ds, "/outages/skipped_versions.json")
    assert skipped["filtered_table_rows_count"] == len(history.skipped)
    outages = await get_json(ds, "/outages/outages.json")
    assert outages["filtered_table_rows_count"] == len(last_records(history.scrapes))


@pytest.mark.asyncio
async def test_most_recent_snapshot_is_sorted_and_faceted(ds, history):
    latest = history.scrapes[-1]
    data = await get_json(ds, "/outages/most_recent_snapshot.json?_shape=objects&_size=max")
    rows = data["rows"]
    assert sorted(r["outage"] for r in rows) == sorted(latest.records)
    assert [r["estCustAffected"] for r in rows] == sorted(
        (r["EST_CUSTOMERS"] for r in latest.records.values()), reverse=True)
    statuses = {}
    for record in latest.records.values():
        statuses[record["CREW_CURRENT_STATUS"]] = statuses.get(record["CREW_CURRENT_STATUS"], 0) + 1
    facets = data["facet_results"]
    assert {"cause", "crewCurrentStatus", "regionName"} <= set(facets)
    assert {f["value"]: f["count"] for f in facets["crewCurrentStatus"]["results"]} == statuses


@pytest.mark.asyncio
async def test_outage_snapshots_filtered_by_snapshot_and_outage(ds, history):
    index = len(history.scrapes) // 2
    scrape = history.scrapes[index]
    rows = await get_rows(ds, f"/outages/outage_snapshots.json?snapshot={index + 1}&_size=max")
    assert {r["outage"]: r["estCustAffected"] for r in rows} == {
        o: r["EST_CUSTOMERS"] for o, r in scrape.records.items()}
    outage = next(iter(scrape.records))
    rows = await get_rows(ds, f"/outages/outage_snapshots.json?outage={outage}&_size=max")
    assert [r["snapshot"] for r in rows] == [
        i + 1 for i, s in enumerate(history.scrapes) if outage in s.records]


# Canned queries


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(QUERIES))
async def test_every_canned_query_runs_with_its_defaults(ds, name):
    text = await get_html(ds, f"/outages/{name}")
    for param in QUERIES[name].get("params", []):
        assert f'name="{param}"' in text, f"{name} has no field for {param}"
    assert await get_rows(ds, query_path(name)), f"{name} returned no rows"


@pytest.mark.asyncio
async def test_customers_over_time_leaves_glitches_out(ds, history):
    expected = [(s.title, s.customers(), len(s.records)) for s in history.trustworthy()]
    rows = await get_rows(ds, query_path("customers_over_time"))
    assert [(r["time"], r["customers_affected"], r["outage_count"]) for r in rows] == expected
    # A range, given with an offset, in UTC with a Z, and on the Pacific clock without an offset.
    first, last = history.scrapes[10], history.scrapes[20]
    for start, end in [(first.title, last.title), (utc(first.when), utc(last.when)),
                       (pacific_clock(first.when), pacific_clock(last.when))]:
        rows = await get_rows(ds, query_path("customers_over_time", **{"from": start, "to": end}))
        assert [r["time"] for r in rows] == [s.title for s in history.scrapes[10:21]]


@pytest.mark.asyncio
async def test_outages_at_picks_the_latest_snapshot_at_or_before(ds, history):
    rows = await get_rows(ds, query_path("outages_at"))
    assert {r["outage"] for r in rows} == set(history.scrapes[-1].records)
    scrape = history.scrapes[100]
    for at in [scrape.title, pacific_clock(scrape.when + 300), utc(scrape.when + 599)]:
        rows = await get_rows(ds, query_path("outages_at", at=at))
        assert {r["snapshot_time"] for r in rows} == {scrape.title}, at
        assert [(r["outage"], r["estCustAffected"]) for r in rows] == sorted(
            ((o, r["EST_CUSTOMERS"]) for o, r in scrape.records.items()), key=lambda x: (-x[1], x[0]))
        record = scrape.records[rows[0]["outage"]]
        assert [rows[0]["latitude"], rows[0]["longitude"]] == [
            record["OUTAGE_LATITUDE"], record["OUTAGE_LONGITUDE"]]
        assert rows[0]["started"] == utc(record["OUTAGE_START"] // 1000)
    assert await get_rows(ds, query_path("outages_at", at=utc(history.scrapes[0].when - 60))) == []
    # At the glitch, the snapshot before it.
    glitch = history.scrapes[max(history.suspect)]
    rows = await get_rows(ds, query_path("outages_at", at=glitch.title))
    before = history.scrapes[max(history.suspect) - 1]
    assert {r["snapshot_time"] for r in rows} == {before.title}
    assert {r["outage"] for r in rows} == set(before.records)


@pytest.mark.asyncio
async def test_outage_history_lists_every_version_and_what_changed(ds, history):
    states: dict[int, list[tuple[Scrape, dict]]] = {}
    for scrape in history.scrapes:
        for outage, record in scrape.records.items():
            seen = states.setdefault(outage, [])
            if not seen or seen[-1][1] != record:
                seen.append((scrape, record))
    outage = max(states, key=lambda o: (len(states[o]), o))
    rows = await get_rows(ds, query_path("outage_history", outage=str(outage)))
    assert [(r["first_seen"], r["estCustAffected"], r["crewCurrentStatus"]) for r in rows] == [
        (s.title, r["EST_CUSTOMERS"], r["CREW_CURRENT_STATUS"]) for s, r in states[outage]]
    assert rows[0]["changes"] == "first seen"
    for row, (before, after) in zip(rows[1:], pairwise(states[outage]), strict=True):
        old, new = before[1], after[1]
        assert (f"customers {old['EST_CUSTOMERS']} -> {new['EST_CUSTOMERS']}" in row["changes"]) == (
            old["EST_CUSTOMERS"] != new["EST_CUSTOMERS"])
        if new["CURRENT_ETOR"] > old["CURRENT_ETOR"]:
            hours = (new["CURRENT_ETOR"] - old["CURRENT_ETOR"]) / 3_600_000
            assert f"restoration estimate slipped {round(hours, 1)} h" in row["changes"]
        assert (f"crew: {new['CREW_CURRENT_STATUS']}" in row["changes"]) == (
            old["CREW_CURRENT_STATUS"] != new["CREW_CURRENT_STATUS"])
    # Left empty, it shows the largest outage.
    largest = max(last_records(history.scrapes), key=lambda o: (
        max(s.records[o]["EST_CUSTOMERS"] for s in history.scrapes if o in s.records), -o))
    assert {r["outage"] for r in await get_rows(ds, query_path("outage_history"))} == {largest}


@pytest.mark.asyncio
async def test_largest_outages_with_durations(ds, history):
    peaks, first_seen = {}, {}
    for scrape in history.scrapes:
        for outage, record in scrape.records.items():
            peaks[outage] = max(peaks.get(outage, 0), record["EST_CUSTOMERS"])
            first_seen.setdefault(outage, scrape.when)
    last = last_records(history.scrapes)
    rows = await get_rows(ds, query_path("largest_outages"))
    expected = sorted(peaks, key=lambda o: (-peaks[o], o))[:100]
    assert [(r["outage"], r["peak_customers"]) for r in rows] == [(o, peaks[o]) for o in expected]
    for row in rows:
        scrape, record = last[row["outage"]]
        began = min(record["OUTAGE_START"] // 1000, first_seen[row["outage"]])
        assert row["duration_hours"] == pytest.approx((scrape.when - began) / 3600, abs=0.0051)
        assert row["ongoing"] == (row["outage"] in history.scrapes[-1].records)
        assert row["cause"] == record["OUTAGE_CAUSE"]


@pytest.mark.asyncio
async def test_restoration_slips_compare_the_first_estimate_with_the_last_and_the_end(ds, history):
    first, last, ended, seen_first = {}, {}, {}, {}
    for scrape in history.scrapes:
        for outage, record in scrape.records.items():
            seen_first.setdefault(outage, scrape.when)
            ended[outage] = scrape.when
            if record["CURRENT_ETOR"] is not None:
                first.setdefault(outage, record["CURRENT_ETOR"] // 1000)
                last[outage] = record["CURRENT_ETOR"] // 1000
    assert len(first) > 50 and any(first[o] != last[o] for o in first), "the history should hold slips"
    newest = history.trustworthy()[-1]
    rows = await get_rows(ds, query_path("restoration_slips"))
    assert [r["outage"] for r in rows] == sorted(first, key=lambda o: (first[o] - ended[o], o))[:1000]
    for row in rows:
        outage = row["outage"]
        assert (row["first_currentEtor"], row["last_currentEtor"], row["ended"]) == (
            first[outage], last[outage], ended[outage])
        # Rounded to a tenth of an hour by SQLite.
        assert row["etor_slipped_hours"] == pytest.approx((last[outage] - first[outage]) / 3600, abs=0.05)
        assert row["hours_past_first_etor"] == pytest.approx((ended[outage] - first[outage]) / 3600, abs=0.05)
        assert row["ongoing"] == (outage in newest.records)
    # A range: the outages seen in it.
    middle = history.scrapes[len(history.scrapes) // 2]
    start, end = middle.when - 3600, middle.when + 3600
    rows = await get_rows(ds, query_path("restoration_slips", **{"from": utc(start), "to": utc(end)}))
    assert {r["outage"] for r in rows} == {
        o for o in first if ended[o] >= start and seen_first[o] <= end}


@pytest.mark.asyncio
async def test_outages_by_cause_and_by_region(ds, history):
    middle = history.scrapes[len(history.scrapes) // 2]
    start, end = middle.when - 3600, middle.when + 3600
    picked = overlapping(history.scrapes, start, end)
    last = last_records(history.scrapes)
    region = last[next(iter(middle.records))][1]["CITY"]

    def counted(key, outages):
        counts = {}
        for outage in outages:
            value = last[outage][1][key]
            counts[value] = counts.get(value, 0) + 1
        return counts

    params = {"from": utc(start), "to": utc(end)}
    rows = await get_rows(ds, query_path("outages_by_cause", **params))
    assert {r["cause"]: r["outages"] for r in rows} == counted("OUTAGE_CAUSE", picked)
    in_region = {o for o in picked if last[o][1]["CITY"] == region}
    rows = await get_rows(ds, query_path("outages_by_cause", region=region.upper(), **params))
    assert {r["cause"]: r["outages"] for r in rows} == counted("OUTAGE_CAUSE", in_region)
    rows = await get_rows(ds, query_path("outages_by_region", **params))
    assert {r["place"]: r["outages"] for r in rows} == counted("CITY", picked)
    assert {r["inferred"] for r in rows} == {0}  # layer 5 names every outage's city
    rows = await get_rows(ds, query_path("outages_by_region"))
    assert sum(r["outages"] for r in rows) == len(last)


@pytest.mark.asyncio
async def test_scraper_gaps_lists_the_blind_and_unknown_stretches_longest_first(ds, history):
    conn = sqlite3.connect(history.db)
    classes = dict(conn.execute("select id, gap_class from snapshots"))
    conn.close()
    trusted = [(n, s.when) for n, s in enumerate(history.scrapes, 1) if n - 1 not in history.suspect]
    expected = sorted(
        ((round((after - before) / 60, 1), sum(before < k < after for k in history.skipped), classes[number])
         for (_, before), (number, after) in pairwise(trusted) if classes[number] in ("blind", "unknown")),
        key=lambda row: -row[0],
    )
    rows = await get_rows(ds, query_path("scraper_gaps"))
    assert [(r["gap_minutes"], r["skipped_versions"], r["gap_class"]) for r in rows] == expected
    # The two-hour hole, after which an outage had only ended: nothing says whether it was quiet.
    assert rows[0]["gap_minutes"] == GAP / 60 and rows[0]["gap_class"] == "unknown"
    # A period around it lists it alone.
    hole = rows[0]
    around = await get_rows(ds, query_path("scraper_gaps", **{"from": hole["last_before"], "to": hole["first_after"]}))
    assert [(r["snapshot_before"], r["snapshot_after"]) for r in around] == [
        (hole["snapshot_before"], hole["snapshot_after"])]


# Maps and charts


@pytest.mark.asyncio
@pytest.mark.parametrize("path", [f"/outages/{n}" for n in TABLES + VIEWS + list(QUERIES)])
async def test_pages_with_latitude_and_longitude_get_a_map(ds, path):
    columns = (await get_json(ds, path + ".json"))["columns"]
    text = await get_html(ds, path)
    assert "/-/static-plugins/datasette_vega/" in text
    has_map = "datasette-cluster-map.js" in text
    # An uncounted page (outage_snapshots unfiltered) is not mapped: its first rows are of any snapshot.
    assert has_map == ({"latitude", "longitude"} <= set(columns) and not needs_nocount(path, ""))


@pytest.mark.asyncio
@pytest.mark.parametrize("path", [f"/outages/{n}" for n in TABLES + VIEWS + list(QUERIES)])
async def test_pages_with_a_geometry_get_a_map_of_areas(ds, path):
    columns = (await get_json(ds, path + ".json"))["columns"]
    text = await get_html(ds, path)
    has_map = "/-/static-plugins/datasette-geojson-map/map.js" in text
    assert has_map == ("geometry" in columns)
    if has_map:
        drawn = (await ds.client.get(path + ".geojson")).json()
        assert drawn["type"] == "FeatureCollection" and drawn["features"]
        assert {f["geometry"]["type"] for f in drawn["features"]} <= {"Polygon", "MultiPolygon"}


@pytest.mark.asyncio
async def test_chart_links_carry_the_vega_fragment(ds):
    text = await get_html(ds, "/outages/customers_over_time")
    assert html.escape(f"/outages/customers_over_time{CHART_FRAGMENT}") in text
    assert html.escape(CHART_FRAGMENT) in await get_html(ds, "/")


@pytest.mark.asyncio
async def test_an_immutable_copy_serves_the_same_rows(history):
    ds = Datasette(immutables=[str(history.db)], metadata=METADATA_DICT, settings=SERVE_SETTINGS)
    rows = await get_rows(ds, "/outages/most_recent_snapshot.json?_shape=objects&_size=max")
    assert {r["outage"] for r in rows} == set(history.scrapes[-1].records)


# The user-facing contract on real data


def _legacy_pages(db: Path) -> list:
    conn = sqlite3.connect(db)
    outage = conn.execute("select id from outages order by snapshot_count desc limit 1").fetchone()[0]
    changing = conn.execute(
        "select outage from outage_versions group by outage order by count(*) desc limit 1").fetchone()[0]
    latest = conn.execute("select max(id) from snapshots").fetchone()[0]
    largest, title = conn.execute(
        "select id, title from snapshots order by outage_count desc limit 1").fetchone()
    conn.close()
    pages = ["/", "/outages"]
    pages += [f"/outages/{name}" for name in TABLES + VIEWS if name != "outage_snapshots"]
    for where in [f"snapshot={latest}", f"snapshot={largest}", f"outage={outage}"]:
        pages.append(f"/outages/outage_snapshots?{where}")
    pages += [f"/outages/{name}" for name in QUERIES]
    pages += [f"/outages/{name}.json" for name in QUERIES]
    # The biggest moment of the month, and the outage that changed most often.
    pages.append("/outages/outages_at?" + urlencode({"at": title}))
    pages.append(f"/outages/outage_history?outage={changing}")
    return pages


@pytest.mark.shared
@pytest.mark.asyncio
async def test_pages_answer_in_under_500_ms_on_the_legacy_history(legacy_bundle):
    _, db = legacy_bundle
    ds = Datasette([str(db)], metadata=METADATA_DICT, settings=SERVE_SETTINGS)
    await get_html(ds, "/")  # start up: read the schema once, as a running server has
    timings = {}
    for path in _legacy_pages(db):
        started = time.perf_counter()
        response = await ds.client.get(path)
        timings[path] = time.perf_counter() - started
        assert response.status_code == 200, path
    for path, seconds in timings.items():
        print(f"{seconds * 1000:7.0f} ms  {path}")
    slow = {path: round(seconds, 3) for path, seconds in timings.items() if seconds >= 0.5}
    assert slow == {}


@pytest.mark.shared
@pytest.mark.asyncio
async def test_unfiltered_outage_snapshots_answers_in_under_500_ms(legacy_bundle):
    _, db = legacy_bundle
    ds = Datasette([str(db)], metadata=METADATA_DICT, settings=SERVE_SETTINGS)
    await get_html(ds, "/")
    started = time.perf_counter()
    response = await ds.client.get("/outages/outage_snapshots")
    assert response.status_code == 200
    assert time.perf_counter() - started < 0.5
    # filtered by snapshot, it is still counted
    largest = sqlite3.connect(db).execute(
        "select id, outage_count from snapshots order by outage_count desc").fetchone()
    counted = await ds.client.get(f"/outages/outage_snapshots.json?snapshot={largest[0]}&_size=1")
    assert counted.json()["filtered_table_rows_count"] == largest[1]


@pytest.mark.shared
@pytest.mark.asyncio
async def test_customers_over_time_thins_a_month_and_keeps_its_peak(legacy_bundle):
    _, db = legacy_bundle
    ds = Datasette([str(db)], metadata=METADATA_DICT, settings=SERVE_SETTINGS)
    rows = await get_rows(ds, query_path("customers_over_time"))
    conn = sqlite3.connect(db)
    count, peak = conn.execute("select count(*), max(customers_affected) from snapshots").fetchone()
    conn.close()
    assert count > 1000 >= len(rows) > 500
    assert max(r["customers_affected"] for r in rows) == peak


def test_customers_over_time_thinned_reports_each_stretchs_peak_and_its_bands(tmp_path):
    """2,000 snapshots thinned to 1,000 points: each point is its stretch's peak snapshot, whole."""
    import random

    from pge_outages.schema import connect, create_schema

    conn = connect(tmp_path / "outages.db")
    create_schema(conn)
    prepare_connection(conn)  # the plugin's SQL functions, as Datasette's connections have them
    rng = random.Random(1)
    conn.executemany(
        "insert into snapshots (id, hash, [when], title, outage_count, customers_affected, gap_class, gap_seconds) "
        "values (?, ?, ?, ?, ?, ?, ?, ?)",
        [(n, f"h{n}", 1_700_000_000 + n * 600, f"t{n}", n % 7, rng.randint(0, 1000),
          "blind" if n == 1500 else "watched", 600) for n in range(1, 2001)])
    cursor = conn.execute(METADATA_DICT["databases"]["outages"]["queries"]["customers_over_time"]["sql"],
                          {"from": "", "to": ""})
    names = [d[0] for d in cursor.description]
    points = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert len(points) == 1000
    for point in points:
        stored = conn.execute("select title, customers_affected, outage_count, [when] from snapshots where id = ?",
                              (point["snapshot"],)).fetchone()
        assert stored == (point["time"], point["customers_affected"], point["outage_count"], point["when"])
        first = point["snapshot"] - (point["snapshot"] - 1) % 2  # stretches of two: 1-2, 3-4, ...
        stretch = conn.execute("select max(customers_affected) from snapshots where id between ? and ?",
                               (first, first + 1)).fetchone()[0]
        assert point["customers_affected"] == stretch
    banded = [p for p in points if p["unseen"]]
    assert [(p["unseen_from"], p["unseen_to"], p["unseen"]) for p in banded] == [
        (1_700_000_000 + 1499 * 600, 1_700_000_000 + 1500 * 600, 2)]
