"""Events and reliability figures (pge_outages/events.py), on histories whose answers are known:
storms written straight into the tables, a synthetic history built through git, and the real ones."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest

from pge_outages.build import build_database
from pge_outages.events import CUSTOMERS_SERVED, major_event_threshold, update_events
from pge_outages.synthetic import generate_history
from support.events_history import FRESNO, MARIN, SONOMA, Snap, fill_history
from support.helpers import git

START = 1704700800  # 2024-01-08 00:00 -08:00: no daylight saving change for weeks
STEP = 600
DAY = 86400
# The background outage's customers, day by day (Fresno), and the day the storm comes.
BACKGROUND = [20, 80, 35, 60, 25, 50, 50, 30, 45, 55]
STORM_DAY = 5
STORM = START + STORM_DAY * DAY + 12 * 3600  # noon, Pacific
HOUR = 3600


def storm_outages(t: int) -> dict:
    """The storm's outages at time t: renumbered, split and merged as the legacy feed does."""
    h = (t - STORM) / HOUR
    if h < 0 or h >= 30:
        return {}
    if h < 1:
        return {10: (4000, SONOMA, "STORM"), 11: (2000, (38.45, -122.70), "STORM")}
    if h < 2:  # a dip below everything for an hour: still the same storm
        return {10: (10, SONOMA, "STORM")}
    if h < 3:  # renumbered: the same customers under new numbers
        return {101: (4000, SONOMA, "STORM"), 102: (2000, (38.45, -122.70), "STORM")}
    if h == 3:  # the peak: a new outage in Marin too
        return {101: (4000, SONOMA, "STORM"), 102: (2000, (38.45, -122.70), "STORM"), 20: (3950, MARIN, "STORM")}
    if h < 6:  # 101 and 102 merged into one
        return {200: (6000, SONOMA, "STORM")}
    if h < 11:
        return {200: (4950, SONOMA, "STORM")}
    if h < 23:
        return {200: (950, SONOMA, "STORM")}
    return {200: (450, SONOMA, "STORM")}


def ten_days(extra=None) -> list[Snap]:
    snaps = []
    for t in range(START, START + len(BACKGROUND) * DAY, STEP):
        outages = {1: (BACKGROUND[(t - START) // DAY], FRESNO, "EQUIPMENT"), **storm_outages(t)}
        snaps.append(Snap(t, outages))
        if extra:
            extra(snaps)
    return snaps


def glitches(snaps: list[Snap]) -> None:
    """Suspect snapshots a build would flag: a capped one in the storm, a replay on a calm day."""
    t = snaps[-1].when
    if t == STORM + 4 * HOUR:
        snaps[-1] = Snap(t, {**snaps[-1].outages, 900: (50_000, SONOMA, "STORM")}, suspect="capped")
    if t == START + 2 * DAY:
        snaps[-1] = Snap(t, {999: (1_000_000, FRESNO, "STORM")}, suspect="replay")


@pytest.fixture
def storm(tmp_path):
    conn = fill_history(tmp_path / "storm.db", ten_days(glitches))
    update_events(conn)
    yield conn
    conn.close()


def event_rows(conn) -> list[dict]:
    cursor = conn.execute("select * from events order by id")
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def test_the_storm_is_one_event_with_its_peak_and_restoration_times(storm):
    onset = storm.execute("select unusual_threshold_customer_minutes / 1440 from reliability_basis").fetchone()[0]
    # The premise: the background never reaches half the onset level, the storm does.
    assert max(BACKGROUND) < onset / 2 and 6000 > onset
    [event] = event_rows(storm)
    assert event["start"] == "2024-01-13T20:00:00Z"  # the storm's first snapshot, noon Pacific
    assert event["end"] == "2024-01-15T02:00:00Z"  # 30 hours on: the last snapshot above, and its 10 minutes
    assert event["hours"] == 30.0
    assert event["peak_customers"] == 10_000  # not the capped snapshot's 56,050
    assert event["peak_at"] == "2024-01-13T23:00:00Z"
    # The last when the storm is over, and only the background is left.
    assert (event["restore_50_hours"], event["restore_90_hours"], event["restore_99_hours"]) == (3.0, 8.0, 27.0)
    # Snapshots of 10 minutes: 6 x 6,050, 6 x 60 (the dip), 6 x 6,050, the peak, 17 x 6,050 but the capped
    # one (weighing nothing, so its 10 minutes count for the snapshot before it), 30 x 5,000, 72 x 1,000, 42 x 500.
    customer_snapshots = 6 * 6050 + 6 * 60 + 6 * 6050 + 10_000 + 17 * 6050 + 30 * 5000 + 72 * 1000 + 42 * 500
    assert event["customer_hours"] == pytest.approx(customer_snapshots * 10 / 60, abs=0.1)
    assert event["ongoing"] == 0


def test_a_storm_still_going_is_ongoing_and_not_yet_restored(tmp_path):
    snaps = [snap for snap in ten_days() if snap.when <= STORM + 10 * HOUR]
    conn = fill_history(tmp_path / "ongoing.db", snaps)
    update_events(conn)
    [event] = event_rows(conn)
    assert event["ongoing"] == 1
    assert (event["restore_50_hours"], event["restore_90_hours"], event["restore_99_hours"]) == (3.0, None, None)


def test_the_estimate_counts_renumbered_split_and_merged_outages_once(storm):
    [event] = event_rows(storm)
    # Sonoma: 6,000 at once, under numbers 10+11, 101+102 and 200; Marin 3,950; Fresno's background 50.
    assert event["customers_affected"] == 6000 + 3950 + 50
    assert event["sum_of_outage_peaks"] == 4000 + 2000 + 4000 + 2000 + 3950 + 6000 + 50
    assert event["outages"] == 7  # 10, 11, 101, 102, 20, 200 and the background; not the capped snapshot's 900
    assert json.loads(event["worst_counties"]) == {"Sonoma": 6000, "Marin": 3950, "Fresno": 50}
    assert json.loads(event["causes"]) == {"STORM": 6, "EQUIPMENT": 1}
    assert list(json.loads(event["worst_places"]))[0] == "Santa Rosa"


def test_waves_in_two_counties_add_up_beyond_the_peak(tmp_path):
    """A storm that hits Sonoma, then Marin once Sonoma is back: each county's customers count."""
    def waves(t):
        h = (t - STORM) / HOUR
        if 0 <= h < 6:
            return {30: (5000, SONOMA, "STORM")}
        if 6 <= h < 12:
            return {31: (4000, MARIN, "STORM")}
        return {}
    snaps = [Snap(t, {1: (BACKGROUND[(t - START) // DAY], FRESNO, "EQUIPMENT"), **waves(t)})
             for t in range(START, START + len(BACKGROUND) * DAY, STEP)]
    conn = fill_history(tmp_path / "waves.db", snaps)
    update_events(conn)
    [event] = event_rows(conn)
    assert event["peak_customers"] == 5050
    assert event["customers_affected"] == 5000 + 4000 + 50
    assert event["hours"] == 12.0


def test_blind_and_suspect_time_never_make_or_extend_an_event(tmp_path):
    """The storm is last seen at 5 hours, then the scraper is blind for 8 hours: the event ends where
    it was last seen. A replay of a million customers on a calm day makes no event."""
    snaps = []
    for t in range(START, START + len(BACKGROUND) * DAY, STEP):
        h = (t - STORM) / HOUR
        if 5 < h < 13:
            continue  # blind: no snapshot
        outages = {1: (BACKGROUND[(t - START) // DAY], FRESNO, "EQUIPMENT")}
        if 0 <= h <= 5:
            outages[40] = (6000, SONOMA, "STORM")
        snaps.append(Snap(t, outages, minutes=10 if h == 5 else None, gap_class="blind" if h == 13 else "watched"))
        if t == START + 2 * DAY:
            snaps[-1] = Snap(t, {999: (1_000_000, FRESNO, "STORM")}, suspect="replay")
    conn = fill_history(tmp_path / "blind.db", snaps)
    update_events(conn)
    [event] = event_rows(conn)
    assert event["start"] == "2024-01-13T20:00:00Z"
    assert event["end"] == "2024-01-14T01:10:00Z"  # 5 hours and the last look's 10 minutes, not 13 hours
    assert event["customer_hours"] == pytest.approx(31 * 6050 * 10 / 60, abs=0.1)
    assert conn.execute("select max(customers_interrupted) from reliability_days").fetchone()[0] < 1_000_000


# Major event days, by hand: one snapshot at each Pacific midnight standing for the whole day.
# Customers out 10 for eight days, 100 for one, 1,000,000 for one: in units of ln 10, ln(daily
# customer-minutes) is ln 1440 plus 1 (8 times), 2 and 6. Mean 1.6, sample deviation
# sqrt((8 x 0.36 + 0.16 + 19.36) / 9) = 1.5776: the threshold is 1.6 + 2.5 x 1.5776 = 5.544, passed by
# the day of 1,000,000 alone. The robust threshold (median 1, deviation 0) is 1: both days above it.
DAILY = [10, 10, 10, 100, 10, 10, 1_000_000, 10, 10, 10]


def test_major_event_threshold_by_hand():
    assert math.log(major_event_threshold([1440 * c for c in DAILY])) == pytest.approx(
        math.log(1440) + 5.544 * math.log(10), abs=0.001 * math.log(10))
    assert major_event_threshold([1440 * c for c in DAILY], robust=True) == pytest.approx(1440 * 10)
    assert major_event_threshold([0, 5]) is None  # a single day above zero


def test_major_event_days_and_yearly_indices(tmp_path):
    snaps = [Snap(START + i * DAY, {1: (c, FRESNO, "EQUIPMENT")}, minutes=1440) for i, c in enumerate(DAILY)]
    conn = fill_history(tmp_path / "daily.db", snaps)
    update_events(conn)
    days = conn.execute("select day, customer_minutes, major_event, unusual from reliability_days").fetchall()
    assert days == [(f"2024-01-{8 + i:02d}", 1440.0 * c, int(c == 1_000_000), int(c > 10))
                    for i, c in enumerate(DAILY)]
    basis = conn.execute("select customers_served, days, provisional from reliability_basis").fetchone()
    assert basis == (CUSTOMERS_SERVED, 10, 1)
    year = conn.execute(
        """select year, major_event_days, saidi_minutes, saidi_minutes_without_med, saifi, caidi_minutes,
        provisional, basis from reliability_years""").fetchone()
    total = 1440 * sum(DAILY)
    assert year == ("2024", 1, round(total / CUSTOMERS_SERVED, 3),
                    round((total - 1440 * 1_000_000) / CUSTOMERS_SERVED, 3),
                    round(1_000_000 / CUSTOMERS_SERVED, 4), round(total / 1_000_000, 1), 1,
                    "estimate from the public outage map")
    # The customers served can be changed in place; a later run keeps it.
    conn.execute("update reliability_basis set customers_served = 1000")
    update_events(conn)
    assert conn.execute("select saidi_minutes from reliability_by_day where day = '2024-01-14'").fetchone() == (
        1440.0 * 1_000_000 / 1000,)


# Through git and the builder: the events a build writes step by step are those of a clean build.


def dump_events(db) -> dict:
    conn = sqlite3.connect(db)
    try:
        return {table: conn.execute(f"select * from {table} order by 1").fetchall()
                for table in ("events", "reliability_days", "reliability_basis")}
    finally:
        conn.close()


def test_events_built_step_by_step_equal_a_clean_build(tmp_path, stormy_history):
    repo, clean = stormy_history
    whole = dump_events(clean)
    assert whole["events"], "the synthetic storms are events"
    hashes = git(repo, "rev-list", "--reverse", "HEAD").split()
    stepwise = tmp_path / "stepwise.db"
    for at in (500, 640, 641, 800, 1100):
        build_database(repo, stepwise, branch=hashes[at - 1])
    build_database(repo, stepwise)
    assert dump_events(stepwise) == whole


def test_a_build_stopped_before_its_events_writes_them_next_time(tmp_path):
    repo = generate_history(tmp_path / "history", commits=300, era="today", outages=40, storms=1, seed=5)
    db = tmp_path / "outages.db"
    build_database(repo, db)
    written = dump_events(db)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("delete from events")
        conn.execute("delete from reliability_days")
        conn.execute("update _meta set value = '1' where key = 'events_through'")
    conn.close()
    result = build_database(repo, db)
    assert result.commits_read == 0
    assert dump_events(db) == written


# The real histories.


@pytest.fixture
def layer4_month(layer4_bundle):
    return layer4_bundle[1]


def events_between(db, start: str, end: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            """select e.id, e.start, e.[end], e.peak_customers, e.customers_affected,
                (select max(customers_affected) from snapshots s
                 where s.id between e.first_snapshot and e.last_snapshot and s.suspect is null)
            from events e where e.start < ? and e.[end] > ? order by e.start""", (end, start)).fetchall()
    finally:
        conn.close()


@pytest.mark.shared
def test_the_october_2019_shutoffs(legacy_bundle):
    _, db = legacy_bundle
    # The shutoff of 26 October, one event from its start to its end, with the month's largest snapshot.
    [shutoff] = events_between(db, "2019-10-26T12:00", "2019-10-30T00:00")
    assert shutoff[3] == shutoff[5] == 1_074_065
    assert shutoff[1] < "2019-10-27T02:00" and shutoff[2] > "2019-10-30T12:00"
    assert shutoff[3] <= shutoff[4] < 2 * shutoff[3]
    # And those of 9 and 23 October.
    for start, end in (("2019-10-09T12:00", "2019-10-10T12:00"), ("2019-10-23T23:00", "2019-10-24T12:00")):
        [event] = events_between(db, start, end)
        assert event[3] == event[5]


@pytest.mark.shared
def test_the_december_2025_storm(layer4_month):
    # The Christmas storm is one event, not a dozen.
    [storm] = events_between(layer4_month, "2025-12-24T12:00", "2025-12-26T12:00")
    assert storm[3] == storm[5] == 166_245
    assert len(events_between(layer4_month, "2025-12-24T00:00", "2025-12-28T00:00")) == 1
    # The San Francisco outage of 20 December: mostly one county's.
    [fire] = events_between(layer4_month, "2025-12-20T22:00", "2025-12-21T06:00")
    assert fire[3] == fire[5] == 131_867
