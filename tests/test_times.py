"""The one reader of typed times (pge_outages/times.py), and what it means for the pages: a time
without an offset is Pacific time in the canned queries, /-/replay and /-/counties, in winter (PST)
and in summer (PDT), while times with an offset or a Z mean what they did."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import yaml
from datasette.app import Datasette

from pge_outages.build import build_database
from pge_outages.pages import query_parameter_problems, read_moment
from pge_outages.times import PACIFIC, parse_time, read_seconds, read_time, register_sql_functions
from support.browser import METADATA, SERVE_SETTINGS
from support.helpers import fixture_versions, make_repo


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize("text, seconds", [
    # With an offset or a Z: that moment, as before.
    ("2019-10-27T15:00-07:00", utc("2019-10-27T22:00")),
    ("2019-10-27T22:00Z", utc("2019-10-27T22:00")),
    ("2019-10-27T22:00:00.000Z", utc("2019-10-27T22:00")),
    ("2020-01-15T12:00+00:00", utc("2020-01-15T12:00")),
    # Without one: the Pacific clock, PDT in summer, PST in winter.
    ("2019-10-27T15:00", utc("2019-10-27T22:00")),
    ("2020-01-15T12:00", utc("2020-01-15T20:00")),
    ("2020-01-15 12:00:30", utc("2020-01-15T20:00:30")),
    ("2020-01-15", utc("2020-01-15T08:00")),
    # The hour repeated when clocks go back (3 Nov 2019, 01:00-02:00): the first, PDT.
    ("2019-11-03T01:30", utc("2019-11-03T08:30")),
    ("2019-11-03T01:30-08:00", utc("2019-11-03T09:30")),
    # The hour skipped when they go forward (8 Mar 2020, 02:00-03:00): PST, the offset before.
    ("2020-03-08T02:30", utc("2020-03-08T10:30")),
    ("2020-03-08T03:30", utc("2020-03-08T10:30")),
    # A + left unencoded in a URL arrives as a space.
    ("2019-10-27T15:00 07:00", utc("2019-10-27T08:00")),
    ("  2019-10-27T15:00-07:00 ", utc("2019-10-27T22:00")),
])
def test_a_typed_time(text, seconds):
    assert read_seconds(text) == seconds
    assert read_moment(text, "at") == seconds
    moment = read_time(text)
    assert moment is not None and moment.tzinfo is not None


@pytest.mark.parametrize("text", ["", "   ", "yesterday", "2019-13-01", "2024-02-02T25:00", "1572214818", "now"])
def test_what_is_not_a_time(text):
    assert read_seconds(text) is None
    assert read_time(text) is None


def test_the_readers_of_stored_times_keep_their_own_zone():
    # The scraper's trailers are UTC; a cell without an offset is no moment at all.
    assert parse_time("2026-02-19T19:27:04") == parse_time("2026-02-19T19:27:04Z") == utc("2026-02-19T19:27:04")
    assert read_time("2019-10-26T22:00:00", naive=None) is None
    assert read_time("2019-10-26T22:00:00-07:00", naive=None) == datetime(2019, 10, 27, 5, tzinfo=UTC)
    assert read_time("2019-11-03T01:30").utcoffset() == PACIFIC.utcoffset(datetime(2019, 7, 1))


def test_the_sql_function_reads_as_the_pages_do():
    conn = sqlite3.connect(":memory:")
    register_sql_functions(conn)
    for text in ("2019-10-27T15:00", "2020-01-15T12:00", "2019-10-27T22:00Z", "2019-10-27T15:00-07:00",
                 "2020-03-08T02:30", "yesterday", ""):
        assert conn.execute("select unix_time(?)", (text,)).fetchone()[0] == read_seconds(text), text
    assert conn.execute("select unix_time(null), unix_time(3)").fetchone() == (None, None)
    # The messages about parameters go by the same reader.
    assert query_parameter_problems({"at": "2020-01-15T12:00", "from": "2020-01-15", "to": "2020-01-16"}) == []
    assert query_parameter_problems({"from": "2020-01-15T12:00", "to": "2020-01-15T19:30Z"}) == [
        "from (2020-01-15T12:00) is after to (2020-01-15T19:30Z): nothing lies between them"]


# Snapshots an hour apart around noon Pacific on a summer day (PDT, UTC-7) and a winter day
# (PST, UTC-8), each with an outage of its own.
SUMMER = [utc("2019-10-27T18:00"), utc("2019-10-27T19:00"), utc("2019-10-27T20:00")]
WINTER = [utc("2020-01-15T19:00"), utc("2020-01-15T20:00"), utc("2020-01-15T21:00")]


@pytest.fixture(scope="module")
def ds(tmp_path_factory) -> Datasette:
    base = fixture_versions("legacy")[0]
    versions = []
    for i, when in enumerate(SUMMER + WINTER):
        common = [dict(record, outageStartTime=str(SUMMER[0] - 3600), lastUpdateTime=str(SUMMER[0] - 1800))
                  for record in base]
        own = dict(base[0], outageNumber=str(900000 + i), estCustAffected=str(i + 1),
                   outageStartTime=str(when - 600), lastUpdateTime=str(when - 300))
        versions.append([*common, own])
    path = tmp_path_factory.mktemp("times")
    repo = make_repo(path / "repo", versions, times=SUMMER + WINTER)
    build_database(repo, path / "outages.db")
    metadata = yaml.safe_load(METADATA.read_text())
    return Datasette([str(path / "outages.db")], metadata=metadata, settings=SERVE_SETTINGS)


async def get_rows(ds: Datasette, name: str, **params: str) -> list[dict]:
    response = await ds.client.get(f"/outages/{name}.json?{urlencode({**params, '_shape': 'array'})}")
    assert response.status_code == 200, response.text
    return response.json()


async def outages_at(ds: Datasette, at: str) -> int | None:
    """The snapshot outages_at answers for `at`, or None when it lists none."""
    snapshots = {row["snapshot"] for row in await get_rows(ds, "outages_at", at=at)}
    assert len(snapshots) <= 1
    return snapshots.pop() if snapshots else None


@pytest.mark.asyncio
@pytest.mark.parametrize("at, snapshot", [
    # Noon PDT is 19:00 UTC: the second summer snapshot. Read as UTC it was before the first.
    ("2019-10-27T12:00", 2),
    ("2019-10-27T12:59:59", 2),
    ("2019-10-27T11:59", 1),
    # Noon PST is 20:00 UTC: the second winter snapshot, not the first (read as UTC, 12:00 was
    # before every winter snapshot: the last summer one).
    ("2020-01-15T12:00", 5),
    ("2020-01-15T11:59", 4),
    # With an offset or a Z, as before.
    ("2019-10-27T12:00-07:00", 2),
    ("2019-10-27T19:00Z", 2),
    ("2019-10-27T12:00Z", None),
    ("2020-01-15T12:00-08:00", 5),
    ("2020-01-15T20:00Z", 5),
    ("2020-01-15T12:00Z", 3),
])
async def test_outages_at_reads_a_time_without_an_offset_as_pacific(ds, at, snapshot):
    assert await outages_at(ds, at) == snapshot


@pytest.mark.asyncio
@pytest.mark.parametrize("start, end, snapshots", [
    ("2019-10-27T11:30", "2019-10-27T12:30", [2]),  # PDT
    ("2020-01-15T11:30", "2020-01-15T13:00", [5, 6]),  # PST
    ("2020-01-15T11:30-08:00", "2020-01-15T21:00Z", [5, 6]),
    ("2019-10-27", "2019-10-28", [1, 2, 3]),  # whole Pacific days
    ("2020-01-15T11:30Z", "2020-01-15T12:30Z", []),
])
async def test_periods_read_a_time_without_an_offset_as_pacific(ds, start, end, snapshots):
    rows = await get_rows(ds, "customers_over_time", **{"from": start, "to": end})
    assert [row["snapshot"] for row in rows] == snapshots


@pytest.mark.asyncio
async def test_the_replay_and_the_county_map_read_it_as_pacific_too(ds):
    period = {"from": "2020-01-15T12:00", "to": "2020-01-15T13:00"}
    response = await ds.client.get(f"/-/replay.json?{urlencode(period)}")
    assert response.status_code == 200, response.text
    frames = response.json()
    assert (frames["from"], frames["to"]) == ("2020-01-15T20:00:00Z", "2020-01-15T21:00:00Z")
    assert [s[0] for s in frames["snapshots"]] == [5, 6]
    period = {"from": "2019-10-27T12:00", "to": "2019-10-27T12:00"}
    response = await ds.client.get(f"/-/replay.json?{urlencode(period)}")
    assert [s[0] for s in response.json()["snapshots"]] == [2]
    response = await ds.client.get("/-/replay.json?from=someday")
    assert response.status_code == 400
    assert "(without an offset: Pacific time)" in response.json()["error"]
    page = (await ds.client.get("/-/counties?at=2020-01-15T12:30")).text
    # The snapshot of 12:00 PST (20:00 UTC), read as Pacific, not the last one before 12:30 UTC.
    assert "2020-01-15 12:00 PST" in page and "2019-10-27 13:00" not in page
    assert 'value="2020-01-15T12:30" placeholder="2019-10-27T15:00-07:00"></label> ' + RULE in page
    replay = (await ds.client.get("/-/replay")).text
    assert 'placeholder="2019-10-28T00:00-07:00"></label> ' + RULE in replay


RULE = ('<small class="time-rule">ISO 8601, without an offset: Pacific time (in the hour repeated when clocks '
        'go back, the first (PDT); in the hour skipped when they go forward, the offset before the change (PST))'
        '</small>')


@pytest.mark.asyncio
@pytest.mark.parametrize("name, boxes", [("outages_at", ["at"]), ("customers_over_time", ["from", "to"]),
                                         ("outage_history", [])])
async def test_each_box_for_a_time_says_how_it_is_read(ds, name, boxes):
    text = (await ds.client.get(f"/outages/{name}")).text
    assert text.count(RULE) == len(boxes)
    for box in boxes:
        assert f'name="{box}" value=""> {RULE}' in text


def test_no_query_reads_a_time_parameter_with_strftime():
    # strftime reads a time without an offset as UTC: every time parameter goes through unix_time().
    text = METADATA.read_text()
    assert "strftime('%s'" not in text
    assert text.count("unix_time(:") >= 20
