"""Tell feed glitches from real change: flag suspect snapshots and weigh the rest.

A snapshot is suspect when the feed most likely failed rather than the grid
changed: it came back empty, it holds exactly a server's record cap, it lost
most outages for one scrape only, or it replayed old outages. Suspect snapshots stay in the database as the
feed gave them; durations, customer-minutes and "probably ended" skip them.

Customer-minutes weigh each trustworthy snapshot by the minutes until the next
trustworthy one, at most GAP_SECONDS: across a longer gap in coverage nobody
knows what happened.
"""

from __future__ import annotations

import sqlite3
from itertools import pairwise

# Snapshots further apart than this are a gap in coverage. views.sql and
# metadata.yml say 1800 and 30 minutes: tests/test_constants.py checks them.
GAP_SECONDS = 30 * 60
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


def drop_confirmed(next_count: int, reference: int) -> bool:
    """Whether a dropped snapshot was a glitch: the next one is back above half the reference."""
    return next_count > DROP_RECOVERS * reference


class Snapshot:
    """One snapshot row, kept in memory while its flag or weight may still change."""

    __slots__ = ("id", "hash", "when", "title", "outage_count", "customers_affected",
                 "ignored_records", "suspect", "seconds_since_previous",
                 "trusted_minutes", "trusted_minutes_cum")

    def __init__(self, id, hash, when, title, outage_count, customers_affected,
                 ignored_records=0, suspect=None, seconds_since_previous=None,
                 trusted_minutes=0.0, trusted_minutes_cum=0.0):
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

    def row(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)


COLUMNS = Snapshot.__slots__


class SnapshotTail:
    """The newest snapshots, from the last one whose weight is settled.

    Everything before `rows[0]` is final: its flag cannot be revised and the
    next trustworthy snapshot after it is known. `base` is the running total of
    trusted minutes before `rows[0]`.
    """

    def __init__(self, rows: list[Snapshot], base: float):
        self.rows = rows
        self.base = base
        self.changed: dict[int, Snapshot] = {}
        self.settled_before = rows[0].id if rows else 1

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> SnapshotTail:
        """Read the unsettled tail back from the database."""
        last = conn.execute("select max(id) from snapshots").fetchone()[0]
        if last is None:
            return cls([], 0.0)
        start = conn.execute(
            "select max(id) from snapshots where suspect is null and id <= ?", (last - 2,)
        ).fetchone()[0] or 1
        columns = ", ".join(f"[{c}]" for c in COLUMNS)
        rows = [Snapshot(*row) for row in conn.execute(
            f"select {columns} from snapshots where id >= ? order by id", (start,))]
        base = conn.execute(
            "select trusted_minutes_cum from snapshots where id = ?", (start - 1,)
        ).fetchone()
        return cls(rows, base[0] if base else 0.0)

    def _trusted_before(self, index: int) -> Snapshot | None:
        for row in reversed(self.rows[:index]):
            if row.suspect is None:
                return row
        return None

    def add(self, snapshot: Snapshot, capped_feed: bool = True, stale: int = 0) -> None:
        """Flag a new snapshot, revise the one before it, and weigh the tail again."""
        rows = self.rows
        if rows:
            previous = rows[-1]
            snapshot.seconds_since_previous = snapshot.when - previous.when
            if previous.suspect == "drop":
                reference = self._trusted_before(len(rows) - 1)
                if reference is None or not drop_confirmed(snapshot.outage_count, reference.outage_count):
                    previous.suspect = None
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
        for row, following in pairwise(trusted):
            row.trusted_minutes = min(following.when - row.when, GAP_SECONDS) / 60
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

    def take_changed(self) -> list[Snapshot]:
        changed = sorted(self.changed.values(), key=lambda row: row.id)
        self.changed = {}
        return changed
