"""PG&E's outage numbers are not forever: its counter restarted around 21 Aug 2025.

A number seen again long after its outage was last seen, with another start
time, is a new outage with an id of its own; a long outage stays whole.
"""

from __future__ import annotations

import pytest

from pge_outages.build import build_database
from pge_outages.writer import REUSE_BASE
from support.helpers import FIRST_COMMIT_TIME, dump_database, make_repo, rows

T0 = FIRST_COMMIT_TIME
DAY = 24 * 3600


def outage(number: int, start: int, customers: int = 5) -> dict:
    return {"OUTAGE_ID": number, "OUTAGE_START": start * 1000, "EST_CUSTOMERS": customers,
            "LAST_UPDATE": start * 1000, "geometry_x": -13580000.0, "geometry_y": 4500000.0}


def build(tmp_path, versions, times):
    repo = make_repo(tmp_path / "repo", versions, times=times)
    db = tmp_path / "outages.db"
    build_database(repo, db)
    return repo, db


def scrapes(first: int, count: int, records) -> tuple[list, list]:
    # Every scrape differs (a key with no column of its own), so each commit is a snapshot.
    versions = [[{**record, "SCRAPE": first + n} for record in records] for n in range(count)]
    return versions, [first + 600 * n for n in range(count)]


def history(*stretches):
    versions, times = [], []
    for first, count, records in stretches:
        v, t = scrapes(first, count, records)
        versions += v
        times += t
    return versions, times


def test_a_number_back_weeks_later_with_another_start_is_a_new_outage(tmp_path):
    later = T0 + 30 * DAY
    versions, times = history(
        (T0, 3, [outage(512, T0), outage(900, T0)]),
        (T0 + 1800, 3, [outage(900, T0)]),
        (later, 4, [outage(512, later - 300, customers=40)]),
    )
    _, db = build(tmp_path, versions, times)
    assert rows(db, "select id, first_snapshot, last_snapshot, snapshot_count, max_estCustAffected"
                    " from outages order by id") == [
        (512, 1, 3, 3, 5), (900, 1, 6, 6, 5), (REUSE_BASE + 512, 7, 10, 4, 40),
    ]
    assert rows(db, "select distinct outage from outage_snapshots where snapshot >= 7") == [(REUSE_BASE + 512,)]
    # Neither outage lasted a month: the second from its own start, five minutes before it was seen.
    assert rows(db, "select outage, duration_hours from outages_expanded where outage % ? = 512"
                    " order by outage", REUSE_BASE) == [(512, 0.33), (REUSE_BASE + 512, 0.58)]


def test_a_number_used_three_times_is_three_outages(tmp_path):
    starts = [T0, T0 + 20 * DAY, T0 + 40 * DAY]
    versions, times = history(*((start, 2, [outage(77, start)]) for start in starts))
    _, db = build(tmp_path, versions, times)
    assert rows(db, "select id from outages order by id") == [(77,), (REUSE_BASE + 77,), (2 * REUSE_BASE + 77,)]


def test_a_number_back_soon_or_with_its_start_is_the_same_outage(tmp_path):
    versions, times = history(
        (T0, 3, [outage(1, T0), outage(2, T0)]),
        # Gone for two hours, back with a revised start time: PG&E corrected it.
        (T0 + 3 * 3600, 2, [outage(1, T0 + 60)]),
        # Gone for ten days (the scraper was down), back with the same start time.
        (T0 + 10 * DAY, 2, [outage(1, T0 + 60), outage(2, T0)]),
    )
    _, db = build(tmp_path, versions, times)
    assert rows(db, "select id, snapshot_count from outages order by id") == [(1, 7), (2, 5)]


@pytest.mark.slow
def test_a_long_outage_seen_throughout_stays_whole(tmp_path):
    """Like the Oroville outages after the 2020 North Complex fire: 66 days in consecutive snapshots."""
    every = 6 * 3600
    count = 66 * 4
    versions = [[outage(4242, T0 if n < count // 2 else T0 + 600, customers=100 + n)] for n in range(count)]
    times = [T0 + every * n for n in range(count)]
    _, db = build(tmp_path, versions, times)
    assert rows(db, "select id, snapshot_count from outages") == [(4242, count)]


def test_building_one_commit_at_a_time_gives_the_same_outages(tmp_path):
    later = T0 + 30 * DAY
    versions, times = history(
        (T0, 3, [outage(512, T0)]),
        (later, 2, [outage(512, later)]),
        (later + 3600, 2, [outage(512, later), outage(513, later)]),
        (later + 20 * DAY, 2, [outage(512, later + 20 * DAY)]),
    )
    repo, clean = build(tmp_path, versions, times)
    stepwise = tmp_path / "stepwise.db"
    for back in range(len(versions) - 1, -1, -1):
        build_database(repo, stepwise, branch=f"HEAD~{back}")
    assert dump_database(stepwise, tables_only=True) == dump_database(clean, tables_only=True)
    assert [r[0] for r in rows(clean, "select id from outages order by id")] == [
        512, 513, REUSE_BASE + 512, 2 * REUSE_BASE + 512]
