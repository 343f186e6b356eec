"""Feed glitches: suspect snapshots, revised flags, gaps, and customer-minutes."""

import sqlite3

import pytest

from pge_outages.build import build_database
from pge_outages.glitches import suspect_reason
from support.helpers import FIRST_COMMIT_TIME, commit_versions, dump_database, make_repo

T0 = FIRST_COMMIT_TIME


def feed(outages: dict[int, int] | range, customers: int = 1) -> list[dict]:
    """An ArcGIS-era version: {outage id: customers}, or a range of ids with `customers` each."""
    if isinstance(outages, range):
        outages = {i: customers for i in outages}
    return [
        {"F_OUTAGE_ID": id, "EST_CUSTOMERS": c, "CITY": "Oakland",
         "OUTAGE_LATITUDE": 37.8, "OUTAGE_LONGITUDE": -122.27}
        for id, c in outages.items()
    ]


def build(tmp_path, versions, times=None, name="repo"):
    repo = make_repo(tmp_path / name, versions, times=times)
    db = tmp_path / f"{name}.db"
    build_database(repo, db)
    return repo, db


def query(db, sql, *params):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    result = [dict(r) for r in conn.execute(sql, params)]
    conn.close()
    return result


def flags(db):
    return [r["suspect"] for r in query(db, "select suspect from snapshots order by id")]


@pytest.mark.parametrize(
    "count, reference, expected",
    [
        (0, 20, "empty"), (0, 19, None), (0, None, None),
        (1000, 1000, "capped"), (2000, None, "capped"), (1999, 2100, None),
        (19, 100, "drop"), (20, 100, None), (10, 99, None),
    ],
)
def test_suspect_reason(count, reference, expected):
    assert suspect_reason(count, reference) == expected


def test_legacy_feed_is_never_capped(tmp_path):
    legacy = [{"outageNumber": str(i), "estCustAffected": "1"} for i in range(1, 2001)]
    repo = make_repo(tmp_path / "repo", [legacy[:1990], legacy, legacy[:1995]], "pge-outages.json")
    build_database(repo, tmp_path / "out.db")
    assert flags(tmp_path / "out.db") == [None, None, None]
    assert suspect_reason(2000, 1990, capped_feed=False) is None


def test_empty_snapshot_is_suspect_and_outages_continue_across_it(tmp_path):
    _, db = build(tmp_path, [feed(range(1, 26)), [], feed(range(1, 26))])
    assert flags(db) == [None, "empty", None]
    expanded = query(db, "select * from outages_expanded where outage = 1")[0]
    assert expanded["probably_ended"] == 0
    assert expanded["possible_duration_hours"] == pytest.approx(20 / 60, abs=0.01)
    # outage_snapshots stays literal: the feed said nothing in snapshot 2
    assert query(db, "select count(*) as n from outage_snapshots where snapshot = 2")[0]["n"] == 0
    assert query(db, "select snapshot_count from outages where id = 1")[0]["snapshot_count"] == 2


def test_capped_snapshot(tmp_path):
    _, db = build(tmp_path, [feed(range(1, 1200)), feed(range(1, 1001)), feed(range(1, 1200))])
    assert flags(db) == [None, "capped", None]


def test_drop_is_flagged_when_the_next_snapshot_recovers(tmp_path):
    _, db = build(tmp_path, [feed(range(1, 151)), feed(range(1, 11)), feed(range(1, 151))])
    assert flags(db) == [None, "drop", None]
    assert query(db, "select probably_ended from outages_expanded where outage = 100")[0]["probably_ended"] == 0


def test_drop_flag_revised_when_the_next_snapshot_does_not_recover(tmp_path):
    repo, db = build(tmp_path, [feed(range(1, 151)), feed(range(1, 11))])
    # the newest snapshot lost most outages: suspect until the next one says otherwise
    assert flags(db) == [None, "drop"]
    assert query(db, "select probably_ended from outages_expanded where outage = 100")[0]["probably_ended"] == 0
    commit_versions(repo, [feed(range(1, 12))])
    build_database(repo, db)
    assert flags(db) == [None, None, None]
    assert query(db, "select probably_ended from outages_expanded where outage = 100")[0]["probably_ended"] == 1
    clean = make_repo(tmp_path / "clean", [feed(range(1, 151)), feed(range(1, 11)), feed(range(1, 12))])
    build_database(clean, tmp_path / "clean.db")
    assert flags(tmp_path / "clean.db") == [None, None, None]
    assert query(db, "select id, customer_minutes from outages order by id") == query(
        tmp_path / "clean.db", "select id, customer_minutes from outages order by id")


def test_customer_minutes_arithmetic(tmp_path):
    # 10 customers for 10 minutes, then 20 for 20 minutes, then restored
    _, db = build(tmp_path, [feed({7: 10, 8: 1}), feed({7: 20, 8: 1}), feed({7: 20, 8: 1}), feed({8: 1})])
    assert query(db, "select customer_minutes from outages_expanded where outage = 7")[0]["customer_minutes"] == 500
    # outage 8 is still on: counted up to the newest snapshot, not beyond
    assert query(db, "select customer_minutes from outages_expanded where outage = 8")[0]["customer_minutes"] == 30


def test_outage_bridged_across_a_suspect_snapshot(tmp_path):
    many = dict.fromkeys(range(1, 151), 5)
    repo, db = build(tmp_path, [feed(many), feed(range(1, 11), 5), feed(many)])
    assert flags(db) == [None, "drop", None]
    # outage 100: seen in 1 and 3, missing from the suspect 2: 20 minutes at 5 customers
    assert query(db, "select customer_minutes from outages where id = 100")[0]["customer_minutes"] == 100
    commit_versions(repo, [feed({**many, 1: 6})])
    build_database(repo, db)
    assert query(db, "select customer_minutes from outages where id = 100")[0]["customer_minutes"] == 150


def test_an_unknown_gap_makes_uncertain_only_the_lives_that_begin_or_end_in_it(tmp_path):
    times = [T0, T0 + 600, T0 + 600 + 7200, T0 + 1200 + 7200]
    versions = [feed({1: 4, 3: 1}), feed({1: 4, 2: 1, 3: 1}), feed({1: 4, 2: 2}), feed({2: 1})]
    _, db = build(tmp_path, versions, times=times)
    # These records carry no times of their own: nothing says whether the two hours were quiet.
    gaps = query(db, "select * from coverage_gaps")
    assert gaps == [{"before_snapshot": 2,
                     "gap_start": query(db, "select title from snapshots where id = 2")[0]["title"],
                     "after_snapshot": 3,
                     "gap_end": query(db, "select title from snapshots where id = 3")[0]["title"],
                     "gap_hours": 2.0,
                     "gap_class": "unknown"}]
    assert [r["gap_class"] for r in query(db, "select gap_class from snapshots order by id")] == [
        None, "watched", "unknown", "watched"]
    # Outage 1 lived across the gap: seen before and after it, its life is known.
    one = query(db, "select * from outages_expanded where outage = 1")[0]
    assert one["duration_uncertain"] == 0
    assert one["possible_duration_hours"] == pytest.approx((600 + 7200) / 3600, abs=0.01)
    # Outage 3 ended somewhere in it.
    three = query(db, "select * from outages_expanded where outage = 3")[0]
    assert three["duration_uncertain"] == 1
    assert three["possible_duration_hours"] is None
    assert three["duration_hours"] == pytest.approx(600 / 3600, abs=0.01)
    assert three["duration_hours_max"] == pytest.approx((600 + 7200) / 3600, abs=0.01)
    # Across an unknown gap only its first 30 minutes are counted: 4 x (10 + 30 + 10)
    assert one["customer_minutes"] == 200


def test_incremental_build_equals_clean_build_one_commit_at_a_time(tmp_path):
    versions = [feed(range(1, 151)), [], feed(range(1, 151)), feed(range(1, 11)), feed(range(1, 151)),
                feed(range(5, 1005)), feed(range(1, 9)), feed(range(1, 10)), feed(range(3, 160))]
    times = [T0 + 600 * i + (7200 if i >= 6 else 0) for i in range(len(versions))]
    repo = make_repo(tmp_path / "step", versions[:1], times=times[:1])
    db = tmp_path / "step.db"
    build_database(repo, db)
    for version, when in zip(versions[1:], times[1:], strict=True):
        commit_versions(repo, [version], times=[when])
        build_database(repo, db)
    _, clean = build(tmp_path, versions, times=times, name="clean")
    assert flags(db) == [None, "empty", None, "drop", None, "capped", None, None, None]
    assert dump_database(db, tables_only=True) == dump_database(clean, tables_only=True)
