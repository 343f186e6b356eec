"""SnapshotWriter on its own: record bodies in, rows of a real SQLite database out.

Each test feeds snapshots as build.py does (split_records bodies, add_snapshot,
add_areas, flush) and reads the tables back; whole builds are tested elsewhere.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pge_outages.feed import InvalidVersion, record_bodies, split_records
from pge_outages.schema import BUCKET, connect, create_schema
from pge_outages.writer import REUSE_AFTER, REUSE_BASE, SnapshotWriter
from support.helpers import FIRST_COMMIT_TIME, dump_database

T0 = FIRST_COMMIT_TIME
STEP = 600  # seconds between snapshots, as the scraper commits
DAY = 24 * 3600


def legacy(number: int, customers: int = 10, start: int = T0, **fields) -> dict:
    """A record of the legacy feed: every value a string."""
    return {"outageNumber": str(number), "estCustAffected": str(customers), "outageStartTime": str(start),
            "lastUpdateTime": str(start), **fields}


def arcgis(number: int, customers: int = 10, start: int = T0, **fields) -> dict:
    """A record of the ArcGIS feed (layer 4): times in milliseconds."""
    return {"OUTAGE_ID": number, "EST_CUSTOMERS": customers, "OUTAGE_START": start * 1000,
            "LAST_UPDATE": start * 1000, "OUTAGE_CAUSE": "EMERG REPAIRS", "CITY": "Oakland",
            "geometry_x": -13611000.0, "geometry_y": 4551000.0, **fields}


def square(size: int) -> str:
    """An area's geometry as the writer is given it: compact GeoJSON text."""
    ring = [[0, 0], [size, 0], [size, size], [0, size], [0, 0]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))


def bodies(records: list) -> list[bytes]:
    """The records' bodies as build.py hands them over: split from the indented file."""
    return split_records(json.dumps(records, indent=2).encode())


def writer_on(db: Path) -> tuple[sqlite3.Connection, SnapshotWriter]:
    """A new connection to the database file, as a build opens it, and a writer on it."""
    conn = connect(db)
    create_schema(conn)
    return conn, SnapshotWriter(conn)


def add(writer: SnapshotWriter, records: list, when: int | None = None, areas: list | None = None) -> int:
    """Add one snapshot (STEP seconds after the one before unless `when`) and its areas; its id."""
    sid = writer.next_snapshot
    when = T0 + STEP * (sid - 1) if when is None else when
    sid = writer.add_snapshot(f"commit-{sid}", when, f"version {sid}", bodies(records))
    writer.add_areas(sid, areas)
    return sid


def rows(conn: sqlite3.Connection, sql: str, *params) -> list[tuple]:
    return conn.execute(sql, params).fetchall()


def runs(conn: sqlite3.Connection, outage: int) -> list[tuple]:
    """(first_snapshot, last_snapshot, version) of each run of an outage, in order."""
    return rows(conn, """select r.first_snapshot, r.last_snapshot, r.version from version_runs r
        join outage_versions v on v.id = r.version where v.outage = ? order by r.first_snapshot""", outage)


def seen(conn: sqlite3.Connection, outage: int) -> list[tuple]:
    """(snapshot, estCustAffected) of each snapshot the outage_snapshots view shows the outage in."""
    return rows(conn, "select snapshot, estCustAffected from outage_snapshots where outage = ? order by snapshot",
                outage)


@pytest.fixture
def open_writer(tmp_path):
    """Opens a new writer on the test's database, each as a new build would; all closed after the test."""
    conns = []

    def open_writer() -> tuple[sqlite3.Connection, SnapshotWriter]:
        conn, writer = writer_on(tmp_path / "outages.db")
        conns.append(conn)
        return conn, writer

    yield open_writer
    for conn in conns:
        conn.close()


# Versions and runs


def test_an_unchanged_outage_is_one_version_whose_run_extends(open_writer):
    conn, writer = open_writer()
    for n in range(5):
        # OBJECTID is a row number that changes without meaning: new bytes, the same values.
        add(writer, [arcgis(7, OBJECTID=n % 2)])
    writer.flush("last")
    assert rows(conn, "select id, outage from outage_versions") == [(1, 7)]
    assert rows(conn, "select * from version_runs") == [(0, 1, 1, 5)]
    assert seen(conn, 7) == [(n, 10) for n in range(1, 6)]


def test_a_change_is_a_new_version_and_run_and_going_back_is_a_third(open_writer):
    conn, writer = open_writer()
    for customers in (10, 10, 20, 20, 10):
        add(writer, [legacy(7, customers)])
    writer.flush("last")
    assert runs(conn, 7) == [(1, 2, 1), (3, 4, 2), (5, 5, 3)]
    # A version is compared with the outage's latest one only: back to the first
    # state, it is stored again (areas, below, are not).
    versions = rows(conn, "select * from outage_versions order by id")
    assert len(versions) == 3 and versions[2][1:] == versions[0][1:]
    assert seen(conn, 7) == [(1, 10), (2, 10), (3, 20), (4, 20), (5, 10)]


def test_an_outage_back_soon_unchanged_keeps_its_version_in_a_new_run(open_writer):
    conn, writer = open_writer()
    for present in (True, True, False, False, True):
        add(writer, [legacy(1)] + ([legacy(7, 30)] if present else []))
    writer.flush("last")
    assert runs(conn, 7) == [(1, 2, 2), (5, 5, 2)]
    assert rows(conn, "select count(*) from outage_versions where outage = 7") == [(1,)]


def test_runs_never_cross_a_bucket(open_writer):
    conn, writer = open_writer()
    last, changed = 2 * BUCKET + 5, BUCKET + 6
    for n in range(last):
        # 1 the same bytes (found without parsing), 2 new bytes with the same values,
        # 3 changed in the second bucket. The area is kept (None) into the second bucket, given into the third.
        add(writer, [arcgis(1), arcgis(2, OBJECTID=n), arcgis(3, 5 if n + 1 < changed else 6)],
            areas=None if n and n % 3 == 0 else [(1, square(1))])
    writer.flush("last")
    cut = [(1, BUCKET - 1), (BUCKET, 2 * BUCKET - 1), (2 * BUCKET, last)]
    assert [(first, end) for first, end, _ in runs(conn, 1)] == cut
    assert [(first, end) for first, end, _ in runs(conn, 2)] == cut
    assert runs(conn, 3) == [(1, BUCKET - 1, 3), (BUCKET, changed - 1, 3), (changed, 2 * BUCKET - 1, 4),
                             (2 * BUCKET, last, 4)]
    assert rows(conn, "select outage, count(*) from outage_versions group by outage") == [(1, 1), (2, 1), (3, 2)]
    assert rows(conn, "select first_snapshot, last_snapshot from area_runs order by first_snapshot") == cut
    for table in ("version_runs", "area_runs"):
        assert rows(conn, f"""select * from {table} where bucket != first_snapshot / {BUCKET}
            or bucket != last_snapshot / {BUCKET}""") == []
    assert rows(conn, "select id, snapshot_count, last_snapshot from outages order by id") == [
        (n, last, last) for n in (1, 2, 3)]


def test_long_texts_are_stored_once_and_referenced_by_id(open_writer):
    devices = [{"latitude": "38.44", "longitude": "-122.71"}]
    texts = {"cause": "Equipment failure", "crewCurrentStatus": "Crew on site", "regionName": "Sonoma",
             "outageDevices": devices}
    weather = {**texts, "cause": "Weather"}
    conn, writer = open_writer()
    add(writer, [legacy(1, 10, **texts), legacy(2, 5, **texts), legacy(3, 1, **weather)])
    add(writer, [legacy(1, 20, **texts), legacy(2, 5, **texts)])
    writer.flush("second")
    # A new writer finds the stored texts, even those no outage of the last snapshot holds.
    conn, writer = open_writer()
    add(writer, [legacy(1, 30, **texts), legacy(4, 2, **weather)])
    writer.flush("third")
    assert rows(conn, "select * from causes") == [(1, "Equipment failure"), (2, "Weather")]
    assert rows(conn, "select * from crew_statuses") == [(1, "Crew on site")]
    assert rows(conn, "select * from regions") == [(1, "Sonoma")]
    assert rows(conn, "select * from device_lists") == [(1, '[{"latitude":"38.44","longitude":"-122.71"}]')]
    assert rows(conn, """select outage, cause, crewCurrentStatus, regionName, outageDevices
        from outage_versions order by id""") == [
        (1, 1, 1, 1, 1), (2, 1, 1, 1, 1), (3, 2, 1, 1, 1), (1, 1, 1, 1, 1), (1, 1, 1, 1, 1), (4, 2, 1, 1, 1)]
    assert rows(conn, "select distinct cause, regionName, outageDevices from outage_snapshots where outage = 1") == [
        ("Equipment failure", "Sonoma", '[{"latitude":"38.44","longitude":"-122.71"}]')]
    assert rows(conn, "select id, regionName from outages order by id") == [
        (1, "Sonoma"), (2, "Sonoma"), (3, "Sonoma"), (4, "Sonoma")]


# Outage numbers used again


@pytest.mark.parametrize(
    "away, start, outages",
    [
        (REUSE_AFTER, T0 + 60, [(512, 1, 4, 4, 40, T0 + 60)]),
        (REUSE_AFTER + 1, T0 + 60, [(512, 1, 2, 2, 10, T0), (REUSE_BASE + 512, 3, 4, 2, 40, T0 + 60)]),
        (30 * DAY, T0, [(512, 1, 4, 4, 40, T0)]),  # the same start: the scraper was down, the outage went on
        (2 * 3600, T0 + 60, [(512, 1, 4, 4, 40, T0 + 60)]),  # PG&E corrected the start time
    ],
    ids=["exactly-reuse-after", "past-reuse-after", "same-start", "back-soon"],
)
def test_a_number_back_long_after_with_another_start_is_a_new_outage(open_writer, away, start, outages):
    conn, writer = open_writer()
    add(writer, [legacy(512), legacy(900)], when=T0)
    add(writer, [legacy(512), legacy(900)], when=T0 + STEP)
    back = T0 + STEP + away
    add(writer, [legacy(512, 40, start), legacy(900)], when=back)
    add(writer, [legacy(512, 40, start), legacy(900)], when=back + STEP)
    writer.flush("last")
    assert rows(conn, """select id, first_snapshot, last_snapshot, snapshot_count, max_estCustAffected, outageStartTime
        from outages where id != 900 order by id""") == outages
    # The last snapshot shows the outage the number means now.
    assert {outage for outage, in rows(conn, "select outage from outage_snapshots where snapshot = 4")} == {
        900, outages[-1][0]}


def test_a_reused_number_keeps_meaning_its_new_outage_across_writers(open_writer):
    conn, writer = open_writer()
    add(writer, [arcgis(77)], when=T0, areas=[(77, square(1))])
    writer.flush("first")
    for k in (1, 2):
        later = T0 + k * 20 * DAY
        # Each writer starts from the database alone.
        conn, writer = open_writer()
        add(writer, [arcgis(77, start=later)], when=later, areas=[(77, square(1))])
        writer.flush("reused")
        conn, writer = open_writer()
        add(writer, [arcgis(77, start=later)], when=later + STEP, areas=[(77, square(1))])
        writer.flush("again")
    assert rows(conn, "select id, first_snapshot, last_snapshot, snapshot_count from outages order by id") == [
        (77, 1, 1, 1), (REUSE_BASE + 77, 2, 3, 2), (2 * REUSE_BASE + 77, 4, 5, 2)]
    assert [runs(conn, outage) for outage in (77, REUSE_BASE + 77, 2 * REUSE_BASE + 77)] == [
        [(1, 1, 1)], [(2, 3, 2)], [(4, 5, 3)]]
    # One geometry, three outages: an area each, each area continuing its run.
    assert rows(conn, "select a.outage, r.first_snapshot, r.last_snapshot from areas a"
                      " join area_runs r on r.area = a.id order by a.id") == [
        (77, 1, 1), (REUSE_BASE + 77, 2, 3), (2 * REUSE_BASE + 77, 4, 5)]


def test_areas_given_again_follow_a_number_used_again(open_writer):
    conn, writer = open_writer()
    areas = [(512, square(1))]  # one list while the areas file is unchanged, as build.py gives it
    later = T0 + 30 * DAY
    add(writer, [arcgis(512)], when=T0, areas=areas)
    add(writer, [arcgis(512, start=later)], when=later, areas=areas)
    add(writer, [arcgis(512, start=later)], when=later + STEP, areas=areas)
    writer.flush("last")
    assert rows(conn, "select * from areas order by id") == [(1, 512, square(1)), (2, REUSE_BASE + 512, square(1))]
    assert rows(conn, "select first_snapshot, last_snapshot, area from area_runs order by first_snapshot") == [
        (1, 1, 1), (2, 3, 2)]


# The outages table


@pytest.mark.parametrize("flush_every_snapshot", [False, True])
def test_outage_figures(open_writer, flush_every_snapshot):
    # PG&E's first estimate is neither its earliest nor its last.
    first_etor, earlier = T0 + 7200, T0 + 3600
    outage_7 = [None, legacy(7, 30, regionName="Napa"), legacy(7, 10, currentEtor=str(first_etor)), None,
                legacy(7, 50, currentEtor=str(earlier)), legacy(7, 20, T0 + 60, currentEtor=str(earlier),
                                                               regionName="Sonoma")]
    conn, writer = open_writer()
    for record in outage_7:
        add(writer, [legacy(900, 1)] + ([record] if record else []))
        if flush_every_snapshot:
            writer.flush("one")
    writer.flush("last")
    assert rows(conn, """select first_snapshot, last_snapshot, snapshot_count, min_estCustAffected,
        max_estCustAffected, first_currentEtor, regionName, outageStartTime from outages where id = 7""") == [
        (2, 6, 4, 10, 50, first_etor, "Sonoma", T0 + 60)]
    assert rows(conn, "select outage_count, customers_affected from snapshots order by id") == [
        (1, 1), (2, 31), (2, 11), (1, 1), (2, 51), (2, 21)]
    # Customer-minutes: each snapshot the outage is in, at the minutes it is trusted for.
    minutes = rows(conn, """select total(o.estCustAffected * s.trusted_minutes) from outage_snapshots o
        join snapshots s on s.id = o.snapshot where o.outage = 7""")[0][0]
    assert minutes == 10 * (30 + 10 + 50)  # ten watched minutes each; the newest counts none yet
    assert rows(conn, "select customer_minutes from outages where id = 7") == [(minutes,)]


# Areas


@pytest.mark.parametrize("given", ["same-list", "equal-lists", "kept"])
def test_an_unchanged_area_is_stored_once_with_one_run(open_writer, given):
    conn, writer = open_writer()
    first = [(1, square(1)), (2, square(2))]
    for n in range(4):
        areas = {"same-list": first, "equal-lists": list(first), "kept": None}[given] if n else first
        add(writer, [arcgis(1), arcgis(2)], areas=areas)
    writer.flush("last")
    assert rows(conn, "select * from areas order by id") == [(1, 1, square(1)), (2, 2, square(2))]
    assert rows(conn, "select * from area_runs order by area") == [(0, 1, 1, 4), (0, 1, 2, 4)]


def test_a_changed_area_is_a_new_one_and_going_back_is_the_first_again(open_writer):
    conn, writer = open_writer()
    for size in (1, 2, 1):
        # Two features of one outage: the first counts.
        add(writer, [arcgis(1)], areas=[(1, square(size)), (1, square(9))])
    add(writer, [arcgis(1)], areas=[])
    add(writer, [arcgis(1)], areas=[(1, square(2))])
    writer.flush("last")
    assert rows(conn, "select * from areas order by id") == [(1, 1, square(1)), (2, 1, square(2))]
    assert rows(conn, "select first_snapshot, last_snapshot, area from area_runs order by first_snapshot") == [
        (1, 1, 1), (2, 2, 2), (3, 3, 1), (5, 5, 2)]


# Resuming


def history() -> list[tuple[list, int, list | None]]:
    """Snapshots (records, when, areas) across a bucket boundary and a month's gap: outages
    unchanged, changing, away and back, and a number used again after the gap."""
    snapshots = []
    for n in range(BUCKET + 6):
        when = T0 + STEP * n + (30 * DAY if n >= BUCKET - 4 else 0)
        records = [arcgis(1), arcgis(2, 10 + n // 10, OUTAGE_CAUSE=f"cause {n // 20}")]
        areas = [(1, square(1)), (2, square(2 + n // 40))]
        if not 20 <= n < 30:
            records.append(arcgis(3, 3))
        if 5 <= n < 10:
            records.append(arcgis(4, 4))
            areas.append((4, square(4)))
        if n >= BUCKET - 2:
            records.append(arcgis(4, 8, start=T0 + 30 * DAY))
            areas.append((4, square(4)))
        snapshots.append((records, when, None if n % 5 == 3 else areas))  # kept, at times across a bucket
    return snapshots


def write_history(db: Path, snapshots: list, flush_at: set[int] = frozenset(), resume: bool = False) -> None:
    """Write the snapshots, flushing after each index in `flush_at`, with a new writer after each when resuming."""
    conn, writer = writer_on(db)
    for n, (records, when, areas) in enumerate(snapshots):
        add(writer, records, when, areas)
        if n in flush_at:
            writer.flush(f"commit-{n + 1}")
            if resume:
                conn.close()
                conn, writer = writer_on(db)
    writer.flush("last")
    conn.close()


@pytest.fixture(scope="module")
def whole_history(tmp_path_factory) -> dict:
    db = tmp_path_factory.mktemp("whole") / "outages.db"
    write_history(db, history())
    return dump_database(db, tables_only=True)


def test_the_history_has_what_resuming_must_continue(whole_history):
    outages = {row[0]: row for row in whole_history["outages"]}
    assert sorted(outages) == [1, 2, 3, 4, REUSE_BASE + 4]
    assert len(whole_history["version_runs"]) > len(whole_history["outage_versions"]) > 5
    assert {row[0] for row in whole_history["area_runs"]} == {0, 1}


@pytest.mark.parametrize("split", [0, 9, 24, BUCKET - 5, BUCKET - 3, BUCKET - 2, BUCKET - 1, BUCKET, BUCKET + 3])
@pytest.mark.parametrize("resume", [True, False], ids=["new-writer", "same-writer"])
def test_flushing_and_resuming_anywhere_gives_the_same_database(tmp_path, whole_history, split, resume):
    db = tmp_path / "outages.db"
    write_history(db, history(), {split}, resume)
    assert dump_database(db, tables_only=True) == whole_history


def test_resuming_after_every_snapshot_gives_the_same_database(tmp_path, whole_history):
    snapshots = history()
    db = tmp_path / "outages.db"
    write_history(db, snapshots, set(range(len(snapshots))), resume=True)
    assert dump_database(db, tables_only=True) == whole_history


# What is not an outage


def test_records_without_an_outage_number_are_ignored_and_counted(open_writer):
    records = [legacy(1, 10), 5, "text", None, [1], {"cause": "no number"}, {"outageNumber": "n/a"},
               legacy(1, 99), legacy(2, 3), legacy(2, 3)]
    conn, writer = open_writer()
    for n in range(2):  # the second time the same bytes, found without parsing
        sid = writer.add_snapshot(f"commit-{n}", T0 + STEP * n, "title", record_bodies(records))
        writer.add_areas(sid, None)
    writer.flush("last")
    # Four records that are not objects, two without a usable number, two repeating a number.
    assert rows(conn, "select outage_count, customers_affected, ignored_records from snapshots") == [(2, 13, 8)] * 2
    assert rows(conn, "select outage, estCustAffected from outage_versions") == [(1, 10), (2, 3)]


def test_a_version_that_does_not_parse_changes_nothing(open_writer):
    conn, writer = open_writer()
    add(writer, [legacy(1)])
    with pytest.raises(InvalidVersion, match="invalid JSON"):
        writer.add_snapshot("broken", T0 + STEP, "broken", [*bodies([legacy(1)]), b'"outageNumber": '])
    writer.add_skipped("broken", T0 + STEP, "broken", "invalid JSON")
    writer.add_look("look", T0 + STEP + 60, T0, STEP)
    assert rows(conn, "select count(*) from snapshots") == [(0,)]  # nothing is written before the flush
    assert add(writer, [legacy(1)]) == 2
    writer.flush("last")
    assert rows(conn, "select id, hash from snapshots") == [(1, "commit-1"), (2, "commit-2")]
    assert runs(conn, 1) == [(1, 2, 1)]
    assert rows(conn, "select hash, reason from skipped_versions") == [("broken", "invalid JSON")]
    assert rows(conn, "select * from liveness_marks") == [("look", T0 + STEP + 60, T0, STEP)]


def test_a_replayed_snapshot_stands_alone(open_writer):
    old = T0 - 400 * DAY
    conn, writer = open_writer()
    add(writer, [legacy(1)])
    add(writer, [legacy(1)])
    add(writer, [legacy(8, 5, old), legacy(9, 5, old)])  # long-ended outages served again
    add(writer, [legacy(1)])
    writer.flush("last")
    assert rows(conn, "select id, suspect from snapshots where suspect is not null") == [(3, "replay")]
    assert rows(conn, "select id, first_snapshot, last_snapshot, snapshot_count from outages") == [(1, 1, 4, 3)]
    assert runs(conn, 1) == [(1, 2, 1), (4, 4, 1)]
    # The database stays literal: the replayed outages are there at that snapshot.
    assert rows(conn, "select outage, snapshot from outage_snapshots where snapshot = 3 order by outage") == [
        (8, 3), (9, 3)]
