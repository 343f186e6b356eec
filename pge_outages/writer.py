"""Write snapshots of the feed into the database's tables (schema.py), one batch at a time.

A batch of snapshots becomes new outage versions, runs extended or started,
and outages updated, in one transaction; all the writer's state is in the
database, so a new writer carries on where the last flush left it.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from . import where, wire
from .feed import COLUMNS, count_stale, outage_id, parse_record, record_columns
from .glitches import REPLAY_AGE, Look, Snapshot, SnapshotTail, earliest_change, is_replay
from .schema import BUCKET, LOOKUPS, SNAPSHOT_COLUMNS, get_meta, live_version, set_meta

# PG&E reuses outage numbers (its counter restarted around 21 Aug 2025): a
# number seen again more than REUSE_AFTER seconds after its outage was last
# seen, with another start time, is a new outage, whose id is
# k * REUSE_BASE + number for the k-th reuse.
REUSE_BASE = 10**10
REUSE_AFTER = 7 * 24 * 3600

_CUSTOMERS = COLUMNS.index("estCustAffected")
_LOOKUP_INDEXES = {COLUMNS.index(column): table for column, table in LOOKUPS.items()}
# Named, as an upgrade in place adds its columns last, in the order of the steps.
_VERSION_NAMES = ("id", "outage", *COLUMNS, "county_fips")
_INSERT_VERSIONS = (f"insert into outage_versions ({', '.join(f'[{column}]' for column in _VERSION_NAMES)}) "
                    f"values ({', '.join('?' for _ in _VERSION_NAMES)})")
_START, _LATITUDE, _LONGITUDE, _REGION, _ETOR, _UPDATE = (
    COLUMNS.index(c) for c in ("outageStartTime", "latitude", "longitude", "regionName", "currentEtor",
                               "lastUpdateTime")
)


class _Lookup:
    """Ids of the texts of one lookup table, read from the database as needed."""

    def __init__(self, conn: sqlite3.Connection, table: str):
        self.conn = conn
        self.table = table
        self.ids: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self.new: list[tuple[int, str]] = []
        self.next_id = (conn.execute(f"select max(id) from {table}").fetchone()[0] or 0) + 1
        # Started empty, every text the table will hold passes through here.
        self.complete = self.next_id == 1

    def id_for(self, name: str) -> int:
        id = self.ids.get(name)
        if id is None:
            row = None if self.complete else self.conn.execute(
                f"select id from {self.table} where name = ?", (name,)).fetchone()
            if row is None:
                id = self.next_id
                self.next_id += 1
                self.new.append((id, name))
            else:
                id = row[0]
            self.ids[name] = id
            self.names[id] = name
        return id

    def name_for(self, id: int) -> str:
        name = self.names.get(id)
        if name is None:
            name = self.conn.execute(f"select name from {self.table} where id = ?", (id,)).fetchone()[0]
            self.ids[name] = id
            self.names[id] = name
        return name

    def write_new(self) -> None:
        self.conn.executemany(f"insert into {self.table} (id, name) values (?, ?)", self.new)
        self.new = []


class _Entry:
    """An outage as last seen: its normalised values, its version and its run."""

    __slots__ = ("outage", "values", "version", "run", "customers")

    def __init__(self, outage, values, version, run):
        self.outage = outage
        self.values = values
        self.version = version
        self.run = run
        self.customers = values[_CUSTOMERS] or 0


class _AreaRun:
    """A row of `area_runs`: the consecutive snapshots of one bucket an area was seen in."""

    __slots__ = ("bucket", "first", "area", "last")

    def __init__(self, bucket: int, first: int, area: int, last: int):
        self.bucket = bucket
        self.first = first
        self.area = area
        self.last = last

    def row(self) -> tuple[int, int, int, int]:
        return self.bucket, self.first, self.area, self.last


class _ShownArea:
    """An outage's area in the newest snapshot: the area's id, its geometry and its run."""

    __slots__ = ("area", "geometry", "run")

    def __init__(self, area: int, geometry: str, run: _AreaRun):
        self.area = area
        self.geometry = geometry
        self.run = run


class _Areas:
    """The areas of the newest snapshot, and the rows of `areas` and `area_runs` not yet written.

    An area is one outage's shape: the same outage with the same geometry text
    is one row of `areas`, however often it comes and goes. Its runs are kept
    like those of outage versions, one per bucket at most.
    """

    def __init__(self, conn: sqlite3.Connection, last_snapshot: int):
        self.conn = conn
        self.next_id = (conn.execute("select max(id) from areas").fetchone()[0] or 0) + 1
        # As for outages: a number above every stored one has no stored area.
        self.stored_max_outage = conn.execute(
            "select max(outage) from areas where outage < ?", (REUSE_BASE,)).fetchone()[0] or 0
        self.last_snapshot = last_snapshot
        # outage -> its area in the newest snapshot
        self.active: dict[int, _ShownArea] = {}
        for bucket, first, last, outage, area, geometry in conn.execute(
            """select r.bucket, r.first_snapshot, r.last_snapshot, a.outage, a.id, a.geometry
            from area_runs r join areas a on a.id = r.area
            where r.bucket = ? and r.last_snapshot = ?""",
            (last_snapshot // BUCKET, last_snapshot),
        ):
            self.active[outage] = _ShownArea(area, geometry, _AreaRun(bucket, first, area, last))
        # outage -> {geometry: area id}, for the outages this batch touched
        self.ids: dict[int, dict[str, int]] = {}
        # The list of areas the newest snapshot was given, while it still describes `active`.
        self.applied: list | None = None
        self.applied_reuses = 0
        self._reset_batch()

    def _reset_batch(self) -> None:
        self.new: list[tuple[int, int, str]] = []
        self.runs: list[_AreaRun] = [shown.run for shown in self.active.values()]

    def add(self, sid: int, areas: list | None, reused: dict[int, int], reuses: int) -> int:
        """Record the areas of snapshot `sid`: (number, geometry) pairs, or None to keep the
        areas of the snapshot before. `reused` maps the numbers PG&E used again to the
        outage each means now, `reuses` counts them. Returns how many areas were new."""
        if sid != self.last_snapshot + 1:
            self.active = {}  # the snapshot before had no areas recorded
            self.applied = None
        self.last_snapshot = sid
        bucket = sid // BUCKET
        if areas is None or (areas is self.applied and reuses == self.applied_reuses):
            # The same areas as the snapshot before, and numbers that still mean the same outages.
            for kept in self.active.values():
                self._extend(kept, bucket, sid)
            return 0
        self.applied, self.applied_reuses = areas, reuses
        before = len(self.new)
        previous = self.active
        current: dict[int, _ShownArea] = {}
        outage_for = reused.get
        for number, geometry in areas:
            outage = outage_for(number, number)
            if outage in current:
                continue  # several features of one outage: the first one counts
            shown = previous.get(outage)
            if shown is not None and shown.geometry == geometry:
                self._extend(shown, bucket, sid)
            else:
                area = self._area_id(outage, geometry)
                shown = _ShownArea(area, geometry, self._new_run(bucket, sid, area))
            current[outage] = shown
        self.active = current
        return len(self.new) - before

    def _extend(self, shown: _ShownArea, bucket: int, sid: int) -> None:
        """Seen in snapshot `sid` too: the run goes on, or a new one starts in a new bucket."""
        if shown.run.bucket == bucket:
            shown.run.last = sid
        else:
            shown.run = self._new_run(bucket, sid, shown.area)

    def _new_run(self, bucket: int, sid: int, area: int) -> _AreaRun:
        run = _AreaRun(bucket, sid, area, sid)
        self.runs.append(run)
        return run

    def _area_id(self, outage: int, geometry: str) -> int:
        known = self.ids.get(outage)
        if known is None:
            if self.stored_max_outage < outage < REUSE_BASE:
                known = {}
            else:
                known = dict(self.conn.execute("select geometry, id from areas where outage = ?", (outage,)))
            self.ids[outage] = known
        area = known.get(geometry)
        if area is None:
            area = self.next_id
            self.next_id += 1
            known[geometry] = area
            self.new.append((area, outage, geometry))
        return area

    def write(self) -> None:
        """Write the batch's rows; the caller holds the transaction."""
        self.conn.executemany("insert into areas values (?, ?, ?)", self.new)
        self.conn.executemany("insert or replace into area_runs values (?, ?, ?, ?)", [run.row() for run in self.runs])

    def written(self) -> None:
        """Forget what the database now holds, keeping what the next snapshot needs."""
        for _, outage, _ in self.new:
            if self.stored_max_outage < outage < REUSE_BASE:
                self.stored_max_outage = outage
        self.ids = {outage: self.ids[outage] for outage in self.active if outage in self.ids}
        self._reset_batch()


# A run is a list [bucket, first_snapshot, version, last_snapshot, outage, counted_up_to,
# replayed]: mutable, because the hot path extends it in place snapshot after
# snapshot. A run of a replayed snapshot stands alone and counts for nothing.
_BUCKET, _FIRST, _VERSION, _LAST, _OUTAGE, _COUNTED, _REPLAYED = range(7)


class SnapshotWriter:
    """Turns versions of the file into rows, written one transaction per flush.

    All state lives in the database: a new writer on a database where another
    one stopped (or was killed) carries on exactly where the last flush left it.
    """

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.next_snapshot = (conn.execute("select max(id) from snapshots").fetchone()[0] or 0) + 1
        self.next_version = (conn.execute("select max(id) from outage_versions").fetchone()[0] or 0) + 1
        self.lookups = {index: _Lookup(conn, table) for index, table in _LOOKUP_INDEXES.items()}
        # Each outage's county and place, from its point: one lookup per distinct point.
        self.located = where.Locator()
        # Outage numbers mostly grow: one above every stored number, and not
        # created by this writer, is new without asking the database.
        self.stored_max_outage = conn.execute(
            "select max(id) from outages where id < ?", (REUSE_BASE,)).fetchone()[0] or 0
        self.created: set[int] = set()
        # PG&E numbers used again for a new outage: number -> the outage it means now.
        self.reused: dict[int, int] = dict(conn.execute(
            "select id % ?, max(id) from outages where id >= ? group by 1", (REUSE_BASE, REUSE_BASE)))
        # Snapshot times this writer added, to tell how long ago an outage was seen.
        self.times: dict[int, int] = {}
        self.tail = SnapshotTail.load(conn)
        replayed_last = bool(self.tail.rows) and self.tail.rows[-1].suspect == "replay"
        self.active: dict[int, _Entry] = {} if replayed_last else self._load_active()
        # The previous snapshot's records by their exact body: an unchanged
        # record is found here without being parsed.
        self.active_bodies: dict[bytes, _Entry] = {}
        self.minutes_settled_before = int(get_meta(conn, "minutes_settled_before") or 1)
        self.areas = _Areas(conn, self.next_snapshot - 1)
        self.reuses = 0  # numbers found reused by this writer, so areas know when to look again
        self._reset_batch()

    def _reset_batch(self) -> None:
        self.runs: list[list] = [entry.run for entry in self.active.values()]
        self.departed: dict[int, _Entry] = {}
        self.versions: list[tuple] = []
        self.outage_updates: dict[int, list] = {}
        # outage -> currentEtor of its first version in this batch that has one
        self.first_etors: dict[int, int] = {}
        self.skipped: list[tuple] = []
        self.skipped_areas: list[tuple] = []
        self.marks: list[tuple] = []
        self.pending = 0
        self.replaying = False
        # The feed's times of the changes the snapshot being added first shows.
        self.updates: list[int] = []

    def _entry_from_row(self, outage: int, row: tuple, run: list | None) -> _Entry:
        version, *values = row
        for index, lookup in self.lookups.items():
            if values[index] is not None:
                values[index] = lookup.name_for(values[index])
        return _Entry(outage, tuple(values), version, run)

    def _load_active(self) -> dict[int, _Entry]:
        last = self.next_snapshot - 1
        columns = ", ".join(f"v.[{c}]" for c in COLUMNS)
        rows = self.conn.execute(
            f"""select r.bucket, r.first_snapshot, r.last_snapshot, v.outage, v.id, {columns}
            from version_runs r join outage_versions v on v.id = r.version
            where r.bucket = ? and r.last_snapshot = ?""",
            (last // BUCKET, last),
        ).fetchall()
        active = {}
        for bucket, first, last_seen, outage, *row in rows:
            run = [bucket, first, row[0], last_seen, outage, last_seen, False]
            active[outage] = self._entry_from_row(outage, tuple(row), run)
        return active

    def _stored_latest(self, outage: int) -> _Entry | None:
        """The newest version of an outage not in the previous snapshot, if it was ever seen."""
        entry = self.departed.get(outage)
        if entry is not None:
            return entry
        if self.stored_max_outage < outage < REUSE_BASE and outage not in self.created:
            self.created.add(outage)
            return None
        columns = ", ".join(f"[{c}]" for c in COLUMNS)
        # What a replayed snapshot showed is no outage's state, and an outage it alone showed none of the history's.
        row = self.conn.execute(
            f"""select id, {columns} from outage_versions v where outage = ?
            and exists (select 1 from outages where outages.id = ?) and {live_version('v')}
            order by id desc limit 1""",
            (outage, outage),
        ).fetchone()
        return None if row is None else self._entry_from_row(outage, row, None)

    def add_skipped(self, hash: str, when: int, title: str, reason: str) -> None:
        self.skipped.append((hash, when, title, reason))
        self.pending += 1

    def add_skipped_areas(self, hash: str, when: int, title: str, reason: str) -> None:
        self.skipped_areas.append((hash, when, title, reason))
        self.pending += 1

    def add_areas(self, sid: int, areas: list | None) -> None:
        """Record the areas of snapshot `sid`, just added: (PG&E number, geometry) pairs, or
        None to keep those of the snapshot before. Each number is the outage it means
        in this snapshot, as the outages table has it."""
        self.pending += self.areas.add(sid, areas, self.reused, self.reuses) // 16

    def add_look(self, hash: str, when: int, watched_since: int | None, interval: int | None) -> None:
        """Record a liveness mark: the scraper read the feed at `when` and it had not changed."""
        self.tail.add_look(Look(when, watched_since))
        self.marks.append((hash, when, watched_since, interval))
        self.pending += 1

    def add_snapshot(self, hash: str, when: int, title: str, bodies: list[bytes],
                     watched_since: int | None = None, interval: int | None = None) -> int:
        """Record one version of the file, given as its records' bodies, as the next snapshot.

        `watched_since` and `interval` are the scraper's trailers, when the commit has them.
        Raises InvalidVersion, having changed nothing, when a record is not JSON.
        """
        known = self.active_bodies
        parsed = {text: parse_record(text) for text in bodies if text not in known}
        # Only records new since the last snapshot can be stale: the ones before
        # were judged then, and after a replay every record is new.
        stale = count_stale(parsed.values(), when - REPLAY_AGE) if parsed else 0
        replay = is_replay(len(bodies), stale)
        sid = self.next_snapshot
        self.next_snapshot += 1
        self.times[sid] = when
        bucket = sid // BUCKET
        previous = self.active
        if replay:
            # A replay continues no run and starts none that the next snapshot continues.
            known = {}
            parsed = {text: parse_record(text) for text in bodies}
            previous = {}
            self.replaying = True
        current: dict[int, _Entry] = {}
        current_bodies: dict[bytes, _Entry] = {}
        customers = ignored = 0
        self.updates = []
        for text in bodies:
            entry = known.get(text)
            if entry is None:
                entry = self._changed(parsed[text], sid, when, bucket, previous, current)
                if entry is None:
                    ignored += 1
                    continue
            elif entry.outage in current:
                ignored += 1
                continue
            elif entry.run[_BUCKET] == bucket:
                entry.run[_LAST] = sid  # the hot path: seen last time, unchanged
            else:
                entry = self._new_run(entry.outage, entry.values, entry.version, sid, bucket)
            current[entry.outage] = entry
            current_bodies[text] = entry
            customers += entry.customers
        if replay:
            self.replaying = False
            # The outages seen before the replay are what the next snapshot continues from;
            # what the replay showed is no outage's latest state.
            self.departed.update(self.active)
            self.active = {}
            self.active_bodies = {}
        else:
            for outage in previous.keys() - current.keys():
                self.departed[outage] = previous[outage]
            self.active = current
            self.active_bodies = current_bodies
        capped_feed = bool(bodies) and wire.is_arcgis(bodies[0])
        snapshot = Snapshot(sid, hash, when, title, len(current), customers, ignored,
                            watched_since=watched_since, scrape_interval=interval)
        # What a replay shows is no evidence of when anything changed.
        self.tail.add(snapshot, capped_feed, stale, [] if replay else self.updates)
        self.pending += 1 + len(parsed) // 16
        return sid

    def _changed(self, record, sid: int, when: int, bucket: int, previous, current) -> _Entry | None:
        number = outage_id(record)
        if number is None:
            return None
        outage = self.reused.get(number, number)
        if outage in current:
            return None
        values = record_columns(record)
        entry = previous.get(outage)
        if self.replaying:
            # What a replay says becomes no fact: no new outage, no reuse of a number.
            return self._new_run(outage, values, self._new_version(outage, values), sid, bucket)
        latest = entry if entry is not None else self._stored_latest(outage)
        if latest is not None and self._is_new_outage(latest, values, when):
            outage = self._reuse(number)
            entry = latest = None
        updated = values[_UPDATE]
        if updated is not None and (latest is None or latest.values[_UPDATE] is None
                                    or updated > latest.values[_UPDATE]):
            self.updates.append(updated)
        if latest is not None and latest.values == values:
            version = latest.version
        else:
            version = self._new_version(outage, values)
        if entry is not None and entry.version == version and entry.run[_BUCKET] == bucket:
            entry.run[_LAST] = sid
            return _Entry(outage, values, version, entry.run)
        return self._new_run(outage, values, version, sid, bucket)

    def _is_new_outage(self, latest: _Entry, values: tuple, when: int) -> bool:
        """Whether a number seen again is a new outage: last seen over REUSE_AFTER ago, and started anew."""
        start, before = values[_START], latest.values[_START]
        if start is None or before is None or start == before:
            return False
        if latest.run is not None:
            seen = self._when(latest.run[_LAST])
        else:
            seen = self.conn.execute(
                "select s.[when] from outages o join snapshots s on s.id = o.last_snapshot where o.id = ?",
                (latest.outage,)).fetchone()[0]
        return when - seen > REUSE_AFTER

    def _when(self, sid: int) -> int:
        when = self.times.get(sid)
        if when is None:
            when = self.conn.execute("select [when] from snapshots where id = ?", (sid,)).fetchone()[0]
        return when

    def _reuse(self, number: int) -> int:
        """The outage id of the next outage that PG&E numbers `number`: k * REUSE_BASE + number."""
        outage = (self.reused.get(number, number) // REUSE_BASE + 1) * REUSE_BASE + number
        self.reused[number] = outage
        self.created.add(outage)
        self.reuses += 1
        return outage

    def _new_version(self, outage: int, values: tuple) -> int:
        version = self.next_version
        self.next_version += 1
        stored = list(values)
        for index, lookup in self.lookups.items():
            if stored[index] is not None:
                stored[index] = lookup.id_for(stored[index])
        self.versions.append((version, outage, *stored))
        if self.replaying:
            return version
        if values[_ETOR] is not None and outage not in self.first_etors:
            self.first_etors[outage] = values[_ETOR]
        customers = values[_CUSTOMERS]
        update = self.outage_updates.get(outage)
        if update is None:
            self.outage_updates[outage] = [None, values, customers, customers]
        else:
            update[1] = values
            if customers is not None:
                update[2] = customers if update[2] is None else min(update[2], customers)
                update[3] = customers if update[3] is None else max(update[3], customers)
        return version

    def _new_run(self, outage: int, values: tuple, version: int, sid: int, bucket: int) -> _Entry:
        run = [bucket, sid, version, sid, outage, sid - 1, self.replaying]
        self.runs.append(run)
        if self.replaying:
            return _Entry(outage, values, version, run)
        update = self.outage_updates.get(outage)
        if update is None:
            self.outage_updates[outage] = [sid, None, None, None]
        elif update[0] is None:
            update[0] = sid
        return _Entry(outage, values, version, run)

    def flush(self, last_commit: str) -> None:
        """Write everything since the last flush, and `last_commit`, in one transaction."""
        conn = self.conn
        counts: dict[int, list[int]] = {}
        for run in self.runs:
            # A replayed snapshot stretches no outage's life, and an outage seen only
            # in one is no outage of the history: it has no row.
            if run[_REPLAYED]:
                continue
            tally = counts.setdefault(run[_OUTAGE], [0, 0])
            tally[0] += run[_LAST] - run[_COUNTED]
            tally[1] = max(tally[1], run[_LAST])
        outage_rows: list[tuple] = []
        for outage, (seen, last) in counts.items():
            first, values, low, high = self.outage_updates.get(outage) or (None, None, None, None)
            if values is None:
                values = (self.active.get(outage) or self.departed[outage]).values
            outage_rows.append(
                (
                    outage,
                    values[_START],
                    values[_LATITUDE],
                    values[_LONGITUDE],
                    values[_REGION],
                    first if first is not None else last,
                    last,
                    seen,
                    low,
                    high,
                    self.first_etors.get(outage),
                )
            )
        # Each version's county, and each outage's county and place: new points looked up together.
        counties = self.located.counties_all([(row[2 + _LATITUDE], row[2 + _LONGITUDE]) for row in self.versions])
        versions = [row + (fips,) for row, fips in zip(self.versions, counties, strict=True)]
        where_rows = self.located.locate_all([row[2:5] for row in outage_rows])
        outage_rows = [row + located for row, located in zip(outage_rows, where_rows, strict=True)]
        # An outage seen only in a replayed snapshot of this batch has no row to
        # write, but its versions are stored, and so is the first estimate among them.
        late_etors = [(etor, outage) for outage, etor in self.first_etors.items() if outage not in counts]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for lookup in self.lookups.values():
                lookup.write_new()
            conn.executemany(_INSERT_VERSIONS, versions)
            conn.executemany(
                "insert or replace into version_runs values (?, ?, ?, ?)",
                [run[:4] for run in self.runs],
            )
            conn.executemany(_UPSERT_OUTAGE, outage_rows)
            conn.executemany(
                "update outages set first_currentEtor = ? where id = ? and first_currentEtor is null", late_etors)
            conn.executemany(_UPSERT_SNAPSHOT, [row.row() for row in self.tail.take_changed()])
            conn.executemany("insert into skipped_versions values (?, ?, ?, ?)", self.skipped)
            self.areas.write()
            conn.executemany("insert into skipped_areas values (?, ?, ?, ?)", self.skipped_areas)
            conn.executemany("insert or replace into liveness_marks values (?, ?, ?, ?)", self.marks)
            self._update_customer_minutes()
            set_meta(conn, "last_commit", last_commit)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        for run in self.runs:
            run[_COUNTED] = run[_LAST]
        self.minutes_settled_before = self.tail.settled_before
        self.areas.written()
        self._reset_batch()

    def _update_customer_minutes(self) -> None:
        """Settle the customer-minutes of snapshots whose weight is final; recount the rest."""
        conn = self.conn
        old = self.minutes_settled_before
        new = self.tail.settled_before
        last = self.next_snapshot - 1
        if new > old:
            conn.execute(
                f"""with c as ({_CUSTOMER_MINUTES})
                update outages set customer_minutes_settled = customer_minutes_settled + c.minutes
                from c where outages.id = c.outage""",
                {"lo": old, "hi": new - 1},
            )
        conn.execute("update outages set customer_minutes = customer_minutes_settled where last_snapshot >= ?", (old,))
        conn.execute(
            f"""with c as ({_CUSTOMER_MINUTES})
            update outages set customer_minutes = customer_minutes_settled + c.minutes
            from c where outages.id = c.outage""",
            {"lo": new, "hi": last},
        )
        set_meta(conn, "minutes_settled_before", str(new))


_UPSERT_SNAPSHOT = (
    f"insert or replace into snapshots ({', '.join(f'[{c}]' for c in SNAPSHOT_COLUMNS)}) "
    f"values ({', '.join('?' for _ in SNAPSHOT_COLUMNS)})"
)

# Customer-minutes that the runs of each outage collect in snapshots lo..hi:
# estCustAffected times the trusted minutes of the snapshots each run covers.
_CUSTOMER_MINUTES = f"""
select v.outage as outage,
    total(v.estCustAffected * (l.trusted_minutes_cum - f.trusted_minutes_cum + f.trusted_minutes)) as minutes
from version_runs r
join outage_versions v on v.id = r.version
join snapshots f on f.id = max(r.first_snapshot, :lo)
join snapshots l on l.id = min(r.last_snapshot, :hi)
where r.bucket between :lo / {BUCKET} and :hi / {BUCKET}
    and r.first_snapshot <= :hi and r.last_snapshot >= :lo
group by v.outage
"""

_UPSERT_OUTAGE = """
insert into outages (id, outageStartTime, latitude, longitude, regionName, first_snapshot,
    last_snapshot, snapshot_count, min_estCustAffected, max_estCustAffected, first_currentEtor,
    county_fips, place, place_inferred)
values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
on conflict (id) do update set
    outageStartTime = excluded.outageStartTime,
    latitude = excluded.latitude,
    longitude = excluded.longitude,
    regionName = excluded.regionName,
    last_snapshot = max(last_snapshot, excluded.last_snapshot),
    snapshot_count = snapshot_count + excluded.snapshot_count,
    min_estCustAffected = coalesce(min(min_estCustAffected, excluded.min_estCustAffected),
        min_estCustAffected, excluded.min_estCustAffected),
    max_estCustAffected = coalesce(max(max_estCustAffected, excluded.max_estCustAffected),
        max_estCustAffected, excluded.max_estCustAffected),
    first_currentEtor = coalesce(first_currentEtor, excluded.first_currentEtor),
    county_fips = excluded.county_fips,
    place = excluded.place,
    place_inferred = excluded.place_inferred
"""



def classify_stored(conn: sqlite3.Connection, versions: dict[str, tuple], marks: list[tuple]) -> None:
    """Class every stored snapshot's gap and weigh it again, as a clean build would have: for a
    database built before gaps had classes (schema 4), upgraded in place.

    `versions` maps the hash of each commit with the scraper's trailers to (Fetched-At,
    Watched-Since, Scrape-Interval); `marks` are the liveness marks (hash, when,
    watched_since, interval). What changed in each snapshot comes from the stored
    versions: a version first seen in a snapshot, newer by the feed's time than the
    outage's version before it.
    """
    columns = ", ".join(f"[{c}]" for c in SNAPSHOT_COLUMNS)
    rows = [Snapshot(*row) for row in conn.execute(f"select {columns} from snapshots order by id")]
    if not rows:
        return
    updates: dict[int, list[int]] = {}
    for sid, updated in conn.execute(
        f"""select r.first_snapshot, v.lastUpdateTime
        from version_runs r join outage_versions v on v.id = r.version
        where v.lastUpdateTime is not null
            and not exists (
                select 1 from version_runs q where q.version = r.version and q.first_snapshot < r.first_snapshot)
            and v.lastUpdateTime > coalesce((
                select p.lastUpdateTime from outage_versions p where p.outage = v.outage and p.id < v.id
                and {live_version('p')}
                order by p.id desc limit 1), -1)"""
    ):
        updates.setdefault(sid, []).append(updated)
    previous = trusted = None
    for row in rows:
        trailers = versions.get(row.hash)
        if trailers is not None:
            row.when, row.watched_since, row.scrape_interval = trailers
            row.title = datetime.fromtimestamp(row.when, UTC).isoformat()
        if previous is not None:
            row.seconds_since_previous = row.when - previous.when
        # As the writer: after the trustworthy snapshot before (flags before a snapshot
        # are final once it is added), and no evidence from a replay.
        row.earliest_change = None if row.suspect == "replay" else earliest_change(
            updates.get(row.id, []), row.when, trusted.when if trusted is not None else None)
        previous = row
        if row.suspect is None:
            trusted = row
    tail = SnapshotTail(rows, 0.0, [Look(when, since) for _, when, since, _ in marks])
    tail._weigh()
    tail._settle()
    settled = tail.settled_before
    last = rows[-1].id
    conn.executemany(_UPSERT_SNAPSHOT, [row.row() for row in rows])
    for table in ("skipped_versions", "skipped_areas"):
        conn.executemany(
            f"update {table} set [when] = ?, title = ? where hash = ?",
            [(fetched, datetime.fromtimestamp(fetched, UTC).isoformat(), hash)
             for hash, (fetched, _, _) in versions.items()],
        )
    conn.executemany("insert or replace into liveness_marks values (?, ?, ?, ?)", marks)
    conn.execute("update outages set customer_minutes_settled = 0, customer_minutes = 0")
    conn.execute(
        f"""with c as ({_CUSTOMER_MINUTES}) update outages set customer_minutes_settled = c.minutes
        from c where outages.id = c.outage""", {"lo": 1, "hi": settled - 1})
    conn.execute(
        f"""with c as ({_CUSTOMER_MINUTES}) update outages set customer_minutes = customer_minutes_settled + c.minutes
        from c where outages.id = c.outage""", {"lo": settled, "hi": last})
    conn.execute("update outages set customer_minutes = customer_minutes_settled where last_snapshot < ?", (settled,))
    set_meta(conn, "minutes_settled_before", str(settled))
    set_meta(conn, "gaps_to_classify", None)
