"""A page with no rows says why, where the database knows: a history without areas, a time
outside the history, an outage number it never held, a database with no snapshots yet. A page
with rows, or an empty page the database cannot explain, says nothing of the kind."""

import sqlite3

import pytest
from datasette.app import Datasette

from pge_outages.schema import connect, create_schema
from support.helpers import build_synthetic

MESSAGE = 'class="message-info empty-reasons"'


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    """A legacy-feed history: no areas file."""
    return build_synthetic(tmp_path_factory.mktemp("empty-legacy"), commits=60, era="legacy", outages=20, seed=2)


@pytest.fixture(scope="module")
def today(tmp_path_factory):
    """Today's feed, with the areas file."""
    return build_synthetic(tmp_path_factory.mktemp("empty-today"), commits=60, era="today", outages=20, seed=2)


def span(db):
    return sqlite3.connect(db).execute("select min([when]), max([when]), max(id) from snapshots").fetchone()


async def page(db, path: str) -> str:
    response = await Datasette([str(db)]).client.get(path)
    assert response.status_code == 200, path
    return response.text


def reasons(html: str) -> str:
    return html.split(MESSAGE, 1)[1].split("</div>", 1)[0] if MESSAGE in html else ""


@pytest.mark.asyncio
async def test_a_history_without_areas_says_so(legacy, today):
    for path in ("/outages/most_recent_areas", "/outages/area_snapshots", "/outages/areas_at"):
        assert "This history has no areas" in reasons(await page(legacy, path)), path
    # With areas there are rows, and no message.
    assert MESSAGE not in await page(today, "/outages/most_recent_areas")
    # A page with nothing to do with areas says nothing of them.
    assert "no areas" not in await page(legacy, "/outages/most_recent_snapshot")


@pytest.mark.asyncio
async def test_a_time_outside_the_history_is_named(legacy):
    first, last, _ = span(legacy)
    said = reasons(await page(legacy, "/outages/outages_at?at=1990-01-01T00:00Z"))
    assert "at (1990-01-01T00:00Z) is before the history starts" in said
    said = reasons(await page(legacy, "/outages/largest_outages?from=2090-01-01T00:00Z"))
    assert "from (2090-01-01T00:00Z) is after the history" in said
    # A time inside the history with rows: no message at all.
    assert MESSAGE not in await page(legacy, "/outages/outages_at")


@pytest.mark.asyncio
async def test_an_outage_number_the_history_never_held(legacy):
    low, high = sqlite3.connect(legacy).execute("select min(id), max(id) from outages").fetchone()
    said = reasons(await page(legacy, f"/outages/outage_history?outage={high + 1000}"))
    assert f"holds no outage {high + 1000}: its outage numbers run from {low} to {high}" in said
    assert MESSAGE not in await page(legacy, f"/outages/outage_history?outage={high}")


@pytest.mark.asyncio
async def test_a_database_with_no_snapshots_yet(tmp_path):
    conn = connect(tmp_path / "outages.db")
    create_schema(conn)
    conn.close()
    for path in ("/outages/most_recent_snapshot", "/outages/outages_at"):
        assert "holds no snapshots yet" in reasons(await page(tmp_path / "outages.db", path)), path


@pytest.mark.asyncio
async def test_a_database_this_tool_did_not_build_gets_no_reasons(tmp_path):
    conn = sqlite3.connect(tmp_path / "other.db")
    conn.execute("create table snapshots (id integer primary key, [when] integer)")
    conn.commit()
    conn.close()
    assert MESSAGE not in await page(tmp_path / "other.db", "/other/snapshots")
