"""The Atom feed of large outages and events (metadata.yml's alerts query, /<database>/alerts.atom), read
through a real Datasette and parsed as XML: on a storm written straight into the tables, so every entry
is known, on a synthetic history built through git, step by step, and on the legacy history."""

from __future__ import annotations

import sqlite3
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from datasette.app import Datasette

from pge_outages.build import build_database
from pge_outages.events import update_events
from pge_outages.schema import create_schema
from support.browser import METADATA, SERVE_SETTINGS
from support.events_history import FRESNO, MARIN, SONOMA, Snap, fill_history

ATOM = "{http://www.w3.org/2005/Atom}"
TITLE = "Alerts of large outages and storms (Atom feed)"
START = 1704700800  # 2024-01-08 00:00 -08:00
STEP = 600
DAY = 86400
HOUR = 3600
# The background outage's customers, day by day, as in tests/test_events.py: the storm stands out.
BACKGROUND = [20, 80, 35, 60, 25, 50, 50, 30, 45, 55]
STORM = START + 5 * DAY + 12 * HOUR  # Saturday 2024-01-13, noon Pacific
LAST = START + len(BACKGROUND) * DAY - STEP  # the newest snapshot: Wednesday 2024-01-17, 23:50 Pacific
# 40 is out for the last hour of the history, still out at its end.
LATE = LAST - 50 * 60
ETOR = LAST + 3 * HOUR


def outages_at(t: int) -> dict:
    """Each snapshot's outages: the storm's large ones (10 renumbered as 11), a small one beside them
    (2, 600 customers), and a large one still out at the end (40)."""
    h = (t - STORM) / HOUR
    outages = {1: (BACKGROUND[(t - START) // DAY], FRESNO, "EQUIPMENT")}
    if 0 <= h < 3:
        outages[10] = (4000, SONOMA, "STORM")
    if 3 <= h < 8:
        outages[11] = (4000, SONOMA, "STORM")
    if 1 <= h < 6:
        outages[20] = (2500, MARIN, "STORM")
    if 0 <= h < 4:
        outages[2] = (600, MARIN, "STORM")
    if 8 <= h < 20:
        outages[30] = (1200, SONOMA, "STORM")
    if t >= LATE:
        outages[40] = (1100, FRESNO, "EQUIPMENT")
    return outages


def fill_storm(path: Path) -> Path:
    conn = fill_history(path, [Snap(t, outages_at(t)) for t in range(START, LAST + 1, STEP)])
    with conn:
        # What the builder keeps of an outage that the helper leaves out: its place, the restoration
        # estimate and start PG&E gives.
        conn.execute("begin")
        conn.execute("update outages set place = 'Santa Rosa', place_inferred = 0 where id = 10")
        conn.execute("update outage_versions set currentEtor = ?, outageStartTime = ? where outage = 40",
                     (ETOR, LATE - STEP))
        conn.execute("update outages set outageStartTime = ? where id = 40", (LATE - STEP,))
        conn.execute("commit")
    update_events(conn)
    conn.close()
    return path


@pytest.fixture(scope="module")
def storm_db(tmp_path_factory) -> Path:
    return fill_storm(tmp_path_factory.mktemp("alerts") / "storm.db")


def serve(*paths: Path) -> Datasette:
    return Datasette([str(p) for p in paths], settings=SERVE_SETTINGS)


async def read_feed(ds: Datasette, path: str) -> tuple[ET.Element, list[dict]]:
    response = await ds.client.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert (feed.findtext(f"{ATOM}{required}") or "").strip(), f"the feed has no {required}"
    datetime.fromisoformat(feed.findtext(f"{ATOM}updated"))
    entries = []
    for entry in feed.findall(f"{ATOM}entry"):
        content = entry.find(f"{ATOM}content")
        links = entry.findall(f"{ATOM}link")
        entries.append({
            "id": entry.findtext(f"{ATOM}id"),
            "title": entry.findtext(f"{ATOM}title"),
            "updated": datetime.fromisoformat(entry.findtext(f"{ATOM}updated")),
            "link": links[0].get("href") if links else None,
            "content_type": None if content is None else content.get("type"),
            "content": None if content is None else content.text,
        })
    return feed, entries


def tag(database: str, kind: str, key) -> str:
    return f"tag:pge-outages,2019:{database}/{kind}/{key}"


def utc(when: int) -> datetime:
    return datetime.fromtimestamp(when, UTC)


@pytest.mark.asyncio
async def test_the_feed_holds_the_large_outages_and_the_storm_not_the_small_ones(storm_db):
    conn = sqlite3.connect(storm_db)
    [(end, peak)] = conn.execute("select [end], peak_customers from events").fetchall()
    conn.close()
    feed, entries = await read_feed(serve(storm_db), "/storm/alerts.atom")
    assert feed.findtext(f"{ATOM}title") == TITLE
    by_id = {entry["id"]: entry for entry in entries}
    assert len(by_id) == len(entries), "an id is given twice"
    assert set(by_id) == {tag("storm", "outages", n) for n in (10, 11, 20, 30, 40)} | {
        tag("storm", "events", "2024-01-13")}
    # Newest first: by when each last changed.
    assert [e["updated"] for e in entries] == sorted((e["updated"] for e in entries), reverse=True)

    outage = by_id[tag("storm", "outages", 10)]
    assert outage["title"] == "Restored: 4,000 customers in Santa Rosa, Sonoma County"
    assert outage["link"] == "http://localhost/storm/outages/10"
    # Updated when it left the map: the first snapshot without it, three hours into the storm.
    assert outage["updated"] == utc(STORM + 3 * HOUR)
    assert outage["content_type"] == "html"
    assert "<b>4,000 customers</b> out at the peak, in Santa Rosa, Sonoma County." in outage["content"]
    assert "<li>Started: Sat, Jan 13, 2024, 12:00 PM PST</li>" in outage["content"]  # its first snapshot
    assert "gone from PG&amp;E's map by Sat, Jan 13, 2024, 3:00 PM PST" in outage["content"]
    assert by_id[tag("storm", "outages", 30)]["title"] == "Restored: 1,200 customers in Sonoma County"

    still_out = by_id[tag("storm", "outages", 40)]
    assert still_out["title"] == "Outage: 1,100 customers in Fresno County"
    assert still_out["updated"] == utc(LATE)  # first seen, and unchanged since
    assert "<li>Estimated restoration: Thu, Jan 18, 2024, 2:50 AM PST</li>" in still_out["content"]
    assert "<li>Started: Wed, Jan 17, 2024, 10:50 PM PST</li>" in still_out["content"]
    assert "<li>Cause: EQUIPMENT</li>" in still_out["content"]
    assert "Still out at Wed, Jan 17, 2024, 11:50 PM PST" in still_out["content"]

    event = by_id[tag("storm", "events", "2024-01-13")]
    assert event["title"] == f"Event: {peak:,} customers out at the peak, worst in Sonoma, Marin, Fresno"
    assert event["link"] == "http://localhost/storm/-/events/2024-01-13"  # the event's page, by the same key
    assert event["updated"] == datetime.fromisoformat(end)  # it is over: updated when it ended
    assert "<li>Began: Sat, Jan 13, 2024, 12:00 PM PST</li>" in event["content"]
    assert "<li>Worst counties: Sonoma (4,000), Marin (3,100), Fresno (50)</li>" in event["content"]
    assert "customers_over_time?from=2024-01-13T20:00:00Z&amp;to=" in event["content"]


@pytest.mark.asyncio
@pytest.mark.parametrize(("query", "outages"), [
    ("", {10, 11, 20, 30, 40}),
    ("?min_customers=", {10, 11, 20, 30, 40}),
    ("?min_customers=2000", {10, 11, 20}),
    ("?min_customers=4000", {10, 11}),
    ("?min_customers=500", {2, 10, 11, 20, 30, 40}),
    ("?min_customers=0", {1, 2, 10, 11, 20, 30, 40}),
    # Unreadable: the default, and the query's page says so (below).
    ("?min_customers=5%2C000", {10, 11, 20, 30, 40}),
    # Events are in whatever the threshold.
    ("?min_customers=100000000", set()),
])
async def test_the_threshold_is_customers_at_the_peak(storm_db, query, outages):
    _, entries = await read_feed(serve(storm_db), f"/storm/alerts.atom{query}")
    assert {e["id"] for e in entries} == {tag("storm", "outages", n) for n in outages} | {
        tag("storm", "events", "2024-01-13")}


@pytest.mark.asyncio
async def test_the_querys_page_shows_the_entries_and_links_to_the_feed(storm_db):
    ds = serve(storm_db)
    page = (await ds.client.get("/storm/alerts")).text
    assert 'name="min_customers"' in page
    assert 'href="/storm/alerts.atom' in page
    # The entries as a reader shows them, not their HTML source.
    assert "<li>Cause: EQUIPMENT</li>" in page
    bad = (await ds.client.get("/storm/alerts?min_customers=lots")).text
    assert "min_customers: &#39;lots&#39; is not a whole number of customers, such as 5000" in bad
    home = (await ds.client.get("/")).text
    assert 'href="/storm/alerts.atom"' in home


@pytest.mark.asyncio
async def test_no_rows_make_a_valid_empty_feed(tmp_path):
    conn = sqlite3.connect(tmp_path / "empty.db")
    create_schema(conn)
    conn.commit()
    conn.close()
    ds = serve(tmp_path / "empty.db")
    feed, entries = await read_feed(ds, "/empty/alerts.atom")
    assert entries == []
    assert feed.findtext(f"{ATOM}title") == TITLE
    assert feed.find(f"{ATOM}link").get("href") == "http://localhost/empty/alerts.atom"
    # Any query with no rows, not only this one.
    _, entries = await read_feed(
        ds, "/empty.atom?sql=select+1+as+atom_id,+2+as+atom_title,+3+as+atom_updated+where+0")
    assert entries == []


async def feed_entries(db: Path, query: str = "") -> dict[str, dict]:
    _, entries = await read_feed(serve(db), f"/{db.stem}/alerts.atom{query}")
    return {e["id"]: e for e in entries}


@pytest.mark.slow
@pytest.mark.asyncio
async def test_ids_keep_across_a_build_with_more_commits(tmp_path, stormy_history):
    repo, whole = stormy_history
    conn = sqlite3.connect(whole)
    [(first, last)] = conn.execute("select first_snapshot, last_snapshot from events").fetchall()
    # Halfway through the storm
    [(middle,)] = conn.execute("select hash from snapshots where id = ?", ((first + last) // 2,)).fetchall()
    conn.close()
    growing = tmp_path / "growing" / "outages.db"
    growing.parent.mkdir()
    build_database(repo, growing, branch=middle)
    query = "?min_customers=3000"  # few enough that every one is in both feeds
    before = await feed_entries(growing, query)
    build_database(repo, growing)
    after = await feed_entries(growing, query)
    assert 0 < len(before) < len(after) < 100
    # Every entry keeps its id, and an entry of the same id is where it went on.
    assert set(before) <= set(after)
    [event] = [key for key in before if "/events/" in key]
    assert before[event]["title"].startswith("Ongoing event: ")
    assert after[event]["title"].startswith("Event: ")
    assert after[event]["updated"] > before[event]["updated"]
    restored = [key for key in before if before[key]["title"].startswith("Outage: ")
                and after[key]["title"].startswith("Restored: ")]
    assert restored, "outages out halfway through the history end later"
    # A build in steps writes what a clean build does.
    assert after == await feed_entries(whole, query)


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_legacy_months_feed_holds_its_three_shutoffs_and_answers_in_under_500_ms(legacy_bundle):
    import yaml

    _, db = legacy_bundle
    ds = Datasette([str(db)], metadata=yaml.safe_load(METADATA.read_text()), settings=SERVE_SETTINGS)
    await ds.client.get("/")  # start up
    conn = sqlite3.connect(db)
    peaks = [row[0] for row in conn.execute("select peak_customers from events order by start desc")]
    conn.close()
    _, entries = await read_feed(ds, "/outages/alerts.atom?min_customers=10000000")
    assert [e["title"].split(" customers")[0] for e in entries] == [f"Event: {peak:,}" for peak in peaks]
    assert [e["id"].rsplit("/", 1)[1] for e in entries] == ["2019-10-26", "2019-10-23", "2019-10-09"]
    for query in ("", "?min_customers=100000"):
        started = time.perf_counter()
        _, entries = await read_feed(ds, f"/outages/alerts.atom{query}")
        assert time.perf_counter() - started < 0.5, query
    assert len(entries) <= 100
