"""Tell feed glitches from real change, and quiet from blind: flag suspect snapshots, class the gaps, weigh.

A snapshot is suspect when the feed most likely failed rather than the grid
changed: it came back empty, it holds exactly a server's record cap, it lost
most outages for one scrape only, or it replayed old outages. Suspect snapshots stay in the database as the
feed gave them; durations, customer-minutes and "probably ended" skip them.

Each gap between two trustworthy snapshots gets a class (snapshots.gap_class, on
the later one): `watched` when it is short enough that a scraper on its schedule
missed nothing; `quiet` when the scraper's own liveness marks show it looked all
along, or the feed's own times show that nothing the later snapshot holds changed
until just before it; `blind` when they show a change made long before it, which
a scraper that was looking would have seen sooner; `unknown` when there is no
evidence either way. Customer-minutes weigh each trustworthy snapshot by the time
until the next one where the gap is watched or quiet; a blind gap counts only the
scrape interval after the last look, an unknown one at most GAP_SECONDS.
"""

from __future__ import annotations

import bisect
import sqlite3
from datetime import datetime
from itertools import pairwise

from .schema import SNAPSHOT_COLUMNS
from .times import PACIFIC

# An unknown gap counts at most this long: the state a snapshot saw is taken to
# hold for half an hour, as every gap counted before gaps had classes. views.sql
# and metadata.yml say 1800 and 30 minutes: tests/test_constants.py checks them.
GAP_SECONDS = 30 * 60
# The gap classes.
WATCHED, QUIET, BLIND, UNKNOWN = "watched", "quiet", "blind", "unknown"
GAP_CLASSES = (WATCHED, QUIET, BLIND, UNKNOWN)
# The scraper's interval where its commits do not say (Scrape-Interval): every ten minutes.
SCRAPE_INTERVAL = 10 * 60
# A scheduler starts a scrape up to this late.
SCHEDULER_DELAY = 5 * 60
# A gap this short is watched: one interval, and a scheduler's delay.
WATCHED_SECONDS = SCRAPE_INTERVAL + SCHEDULER_DELAY
# How late the feed publishes a change after its own time for it (LAST_UPDATE,
# lastUpdateTime): measured on the real histories, 99% of changes within 22 to
# 30 minutes (docs/design.md, "Quiet or blind").
FEED_LAG = 25 * 60
# A change first seen this long after its own time was missed: a scraper looking
# on its schedule would have seen it within WATCHED_SECONDS of its publication.
BLIND_AFTER = WATCHED_SECONDS + FEED_LAG
EMPTY_AFTER = 20  # an empty snapshot is suspect after one of at least this many outages
RECORD_CAPS = (1000, 2000)  # the ArcGIS server's page caps, hit by scrapers that did not page
DROP_FROM = 100  # a drop is judged only after a snapshot of at least this many outages
DROP_BELOW = 0.2  # ...to under this share of it
DROP_RECOVERS = 0.5  # ...and back above this share in the next snapshot
MAX_TAIL = 1000  # snapshots kept unsettled at most, in a long run of suspect ones
# A replay: most outages last updated longer ago than any live outage ever was.
# The stalest live last update in the real histories is 31 days, the longest
# outage known (Oroville, after the 2020 North Complex fire) 66 days; the
# August 2025 replay's were 548 days old.
REPLAY_AGE = 180 * 24 * 3600


def suspect_reason(count: int, reference: int | None, capped_feed: bool = True, stale: int = 0) -> str | None:
    """Why a snapshot of `count` outages is suspect, given the last trustworthy one's count.

    Only a feed served by a capped server (the ArcGIS one) can be 'capped': the
    legacy feed had no cap, and passes through 2,000 outages in a big storm.
    'drop' is provisional: `drop_confirmed` decides when the next snapshot comes.
    `stale` outages were last updated more than REPLAY_AGE before the snapshot:
    when they are most of it, the feed served an old snapshot again ('replay').
    """
    if is_replay(count, stale):
        return "replay"
    if reference is not None and count == 0 and reference >= EMPTY_AFTER:
        return "empty"
    if capped_feed and count in RECORD_CAPS:
        return "capped"
    if reference is not None and reference >= DROP_FROM and count < DROP_BELOW * reference:
        return "drop"
    return None


def is_replay(count: int, stale: int) -> bool:
    """Whether a snapshot of `count` outages, `stale` of them last updated over REPLAY_AGE ago, is a replay."""
    return stale * 2 > count


def earliest_change(updates: list[int], when: int, previous: int | None) -> int | None:
    """The earliest of the feed's times for the changes a snapshot taken at `when` first shows
    (`updates`), of those after the snapshot before it, taken at `previous`; None when there is none.

    >>> earliest_change([1000, 1500], when=1600, previous=1200)
    1500

    PG&E's layer 5 wrote Pacific time as if it were UTC in 2024, so that every
    change looked 7 or 8 hours old: when the newest change is older than the gap
    and the feed's lag can explain, and the Pacific offset explains it, the times
    are read as Pacific.
    """
    if not updates or previous is None:
        return None
    shift = clock_shift(max(updates), when, when - previous)
    after = [t + shift for t in updates if t + shift > previous]
    return min(after) if after else None


def clock_shift(newest: int, when: int, gap: int) -> int:
    age = when - newest
    if age <= gap + FEED_LAG:
        return 0
    offset = -int(datetime.fromtimestamp(when, PACIFIC).utcoffset().total_seconds())  # type: ignore[union-attr]  # a ZoneInfo always has one
    return offset if -WATCHED_SECONDS <= age - offset <= gap + FEED_LAG else 0


def drop_confirmed(next_count: int, reference: int) -> bool:
    """Whether a dropped snapshot was a glitch: the next one is back above half the reference."""
    return next_count > DROP_RECOVERS * reference


class Snapshot:
    """One snapshot row, kept in memory while its flag, class or weight may still change.

    `earliest_change` is the earliest time the feed gives a change this snapshot
    first shows, of those after the trustworthy snapshot before (None: no dated
    change); `gap_seconds` the time since that snapshot, the gap `gap_class`
    classes; `watched_since` and `scrape_interval` come from the scraper's trailers.
    """

    __slots__ = tuple(SNAPSHOT_COLUMNS)

    def __init__(self, id, hash, when, title, outage_count, customers_affected,
                 ignored_records=0, suspect=None, seconds_since_previous=None,
                 trusted_minutes=0.0, trusted_minutes_cum=0.0, gap_class=None, earliest_change=None,
                 watched_since=None, scrape_interval=None, gap_seconds=None):
        self.id = id
        self.hash = hash
        self.when = when
        self.title = title
        self.outage_count = outage_count
        self.customers_affected = customers_affected
        self.ignored_records = ignored_records
        self.suspect = suspect
        self.seconds_since_previous = seconds_since_previous
        self.trusted_minutes = trusted_minutes
        self.trusted_minutes_cum = trusted_minutes_cum
        self.gap_class = gap_class
        self.earliest_change = earliest_change
        self.watched_since = watched_since
        self.scrape_interval = scrape_interval
        self.gap_seconds = gap_seconds

    def row(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)




class Look:
    """A liveness mark: the scraper read the feed at `when` and it had not changed."""

    __slots__ = ("when", "watched_since")

    def __init__(self, when: int, watched_since: int | None):
        self.when = when
        self.watched_since = watched_since


def classify_gap(before: Snapshot, after: Snapshot, looks: list[Look]) -> tuple[str, float]:
    """The class of the gap between two trustworthy snapshots, and how many of its seconds count.

    `looks` are the liveness marks between them. A history this project's scraper
    wrote in a loop is classed by its trailers alone: `after` and the marks carry
    Watched-Since, the start of an unbroken run of looks; the gap is quiet when
    those runs reach back to `before`, and blind from where they stop. Otherwise
    the marks, single looks, and then the feed's own times decide.
    """
    gap = after.when - before.when
    interval = after.scrape_interval or before.scrape_interval or SCRAPE_INTERVAL
    if gap <= interval + SCHEDULER_DELAY:
        return WATCHED, gap
    looked = [*looks, Look(after.when, after.watched_since)]
    if before.watched_since is not None and after.watched_since is not None:
        covered = before.when
        for look in looked:
            start = look.watched_since if look.watched_since is not None else look.when
            if start - covered <= WATCHED_SECONDS:
                covered = max(covered, look.when)
        if covered >= after.when:
            return QUIET, gap
        return BLIND, min(gap, covered - before.when + interval)
    covered = before.when
    for look in looked:
        if look.when - covered <= WATCHED_SECONDS:
            covered = look.when
    if covered >= after.when:
        return QUIET, gap
    if after.earliest_change is not None and after.earliest_change > before.when:
        if after.earliest_change < after.when - BLIND_AFTER:
            return BLIND, min(gap, interval)
        return QUIET, gap
    return UNKNOWN, min(gap, GAP_SECONDS)


class SnapshotTail:
    """The newest snapshots, from the last one whose weight is settled.

    Everything before `rows[0]` is final: its flag cannot be revised and the
    next trustworthy snapshot after it is known. `base` is the running total of
    trusted minutes before `rows[0]`.
    """

    def __init__(self, rows: list[Snapshot], base: float, looks: list[Look] | None = None):
        self.rows = rows
        self.base = base
        self.changed: dict[int, Snapshot] = {}
        self.settled_before = rows[0].id if rows else 1
        # The liveness marks from the first row on, in time order, and their times.
        self.looks = sorted(looks or [], key=lambda look: look.when)
        self.look_times = [look.when for look in self.looks]

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> SnapshotTail:
        """Read the unsettled tail back from the database."""
        last = conn.execute("select max(id) from snapshots").fetchone()[0]
        if last is None:
            return cls([], 0.0)
        start = conn.execute(
            "select max(id) from snapshots where suspect is null and id <= ?", (last - 2,)
        ).fetchone()[0] or 1
        columns = ", ".join(f"[{c}]" for c in SNAPSHOT_COLUMNS)
        rows = [Snapshot(*row) for row in conn.execute(
            f"select {columns} from snapshots where id >= ? order by id", (start,))]
        base = conn.execute(
            "select trusted_minutes_cum from snapshots where id = ?", (start - 1,)
        ).fetchone()
        looks = [Look(when, since) for when, since in conn.execute(
            "select [when], watched_since from liveness_marks where [when] >= ?", (rows[0].when,))]
        return cls(rows, base[0] if base else 0.0, looks)

    def add_look(self, look: Look) -> None:
        """A liveness mark, made after every snapshot so far."""
        index = bisect.bisect_right(self.look_times, look.when)
        self.look_times.insert(index, look.when)
        self.looks.insert(index, look)

    def _looks_between(self, start: int, end: int) -> list[Look]:
        low = bisect.bisect_right(self.look_times, start)
        high = bisect.bisect_left(self.look_times, end)
        return self.looks[low:high]

    def _trusted_before(self, index: int) -> Snapshot | None:
        for row in reversed(self.rows[:index]):
            if row.suspect is None:
                return row
        return None

    def add(self, snapshot: Snapshot, capped_feed: bool = True, stale: int = 0,
            updates: list[int] | None = None) -> None:
        """Flag a new snapshot, revise the one before it, and weigh the tail again.

        `updates` are the feed's times of the changes the snapshot first shows: the
        earliest after the trustworthy snapshot before it is its evidence.
        """
        rows = self.rows
        if rows:
            previous = rows[-1]
            snapshot.seconds_since_previous = snapshot.when - previous.when
            if previous.suspect == "drop":
                reference = self._trusted_before(len(rows) - 1)
                if reference is None or not drop_confirmed(snapshot.outage_count, reference.outage_count):
                    previous.suspect = None
        before = self._trusted_before(len(rows))
        snapshot.earliest_change = earliest_change(updates or [], snapshot.when, before.when if before else None)
        rows.append(snapshot)
        reference = self._trusted_before(len(rows) - 1)
        snapshot.suspect = suspect_reason(
            snapshot.outage_count, None if reference is None else reference.outage_count, capped_feed, stale
        )
        self._weigh()
        self._settle()

    def _weigh(self) -> None:
        trusted = [row for row in self.rows if row.suspect is None]
        for row in self.rows:
            row.trusted_minutes = 0.0
            if row.suspect is not None:
                row.gap_class = row.gap_seconds = None
        for row, following in pairwise(trusted):
            following.gap_class, seconds = classify_gap(row, following, self._looks_between(row.when, following.when))
            following.gap_seconds = following.when - row.when
            row.trusted_minutes = seconds / 60
        self._weigh_from(self.rows)

    def _weigh_from(self, rows: list[Snapshot]) -> None:
        total = self.base
        for row in rows:
            total += row.trusted_minutes
            row.trusted_minutes_cum = total
            self.changed[row.id] = row

    def _settle(self) -> None:
        # The last trustworthy snapshot at least two back starts the tail: the
        # flags before it are final, and so is the weight of each.
        rows = self.rows
        start = None
        for index in range(len(rows) - 3, -1, -1):
            if rows[index].suspect is None:
                start = index
                break
        if start is None and len(rows) > MAX_TAIL:
            # A long run of suspect snapshots: the next trustworthy one will
            # come more than GAP_SECONDS after the last, which settles it.
            start = len(rows) - 3
            trusted = self._trusted_before(start)
            if trusted is not None and rows[-1].when - trusted.when >= GAP_SECONDS:
                trusted.trusted_minutes = GAP_SECONDS / 60
                self._weigh_from(rows)
        if start:
            self.base = rows[start - 1].trusted_minutes_cum
            self.rows = rows[start:]
            self.settled_before = self.rows[0].id
            keep = bisect.bisect_left(self.look_times, self.rows[0].when)
            self.looks, self.look_times = self.looks[keep:], self.look_times[keep:]

    def take_changed(self) -> list[Snapshot]:
        changed = sorted(self.changed.values(), key=lambda row: row.id)
        self.changed = {}
        return changed


def coverage_hours(conn: sqlite3.Connection, first_snapshot: int = 1, since: int | None = None) -> dict[str, float]:
    """Hours of each gap class among the gaps that end at snapshot `first_snapshot` or later (and,
    with `since`, at a Unix time after it): every class, 0.0 where there is none.

    >>> coverage_hours(conn, since=latest - 30 * 86400)  # doctest: +SKIP
    """
    hours = dict.fromkeys(GAP_CLASSES, 0.0)
    for gap_class, seconds in conn.execute(
        """select gap_class, total(gap_seconds) from snapshots
        where id >= ? and (? is null or [when] > ?) and gap_class is not null
        group by gap_class""",
        (first_snapshot, since, since),
    ):
        hours[gap_class] = seconds / 3600
    return hours


def describe_coverage(hours: dict[str, float]) -> str:
    """"612.0 h watched, 98.0 h quiet, 3.5 h blind, 1.0 h unknown" (every class, in order)."""
    return ", ".join(f"{hours.get(name, 0.0):,.1f} h {name}" for name in GAP_CLASSES)
