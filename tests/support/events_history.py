"""Histories with known events, written straight into the database's tables, as storm.py does: each
snapshot's outages given outright, so a test knows every figure an event should have.

A snapshot counts for the minutes until the next (all watched) unless it says otherwise (a blind gap
after it counts only `minutes`); a suspect snapshot counts for nothing. Outages' counties come from
their points, as the builder's do.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pge_outages import where
from pge_outages.schema import BUCKET, create_schema

# Points in three counties, far apart.
SONOMA = (38.4404, -122.7141)
FRESNO = (36.7378, -119.7871)
MARIN = (37.9735, -122.5311)


@dataclass
class Snap:
    """One snapshot: its time, its outages {number: (customers, (lat, lon), cause)}, a suspect
    flag, and the minutes it counts for (None: until the next snapshot)."""

    when: int
    outages: dict[int, tuple[int, tuple[float, float], str]] = field(default_factory=dict)
    suspect: str | None = None
    minutes: float | None = None
    gap_class: str = "watched"


def fill_history(path: Path, snaps: list[Snap]) -> sqlite3.Connection:
    """Write `snaps` (in time order) into a new database at `path`; return a connection to it."""
    conn = sqlite3.connect(path, isolation_level=None)
    create_schema(conn)
    trusted = [i for i, s in enumerate(snaps) if s.suspect is None]
    minutes = [0.0] * len(snaps)
    for a, b in zip(trusted, [*trusted[1:], None], strict=True):
        own = snaps[a].minutes
        minutes[a] = own if own is not None else (0.0 if b is None else (snaps[b].when - snaps[a].when) / 60)
    causes: dict[str, int] = {}
    versions: dict[tuple, int] = {}
    runs: list[list[int]] = []
    open_runs: dict[int, list[int]] = {}
    outages: dict[int, list] = {}
    snapshot_rows = []
    cumulative = 0.0
    fips = {point: int(where.county_of(*point)[0]) for s in snaps for _, point, _ in s.outages.values()}
    for index, snap in enumerate(snaps, start=1):
        cumulative += minutes[index - 1]
        total = sum(customers for customers, _, _ in snap.outages.values())
        snapshot_rows.append((index, f"{index:040x}", snap.when, datetime.fromtimestamp(snap.when, UTC).isoformat(),
                              len(snap.outages), total, snap.suspect, minutes[index - 1], cumulative,
                              None if snap.suspect or index == 1 else snap.gap_class))
        current = {}
        for number, (customers, point, cause) in snap.outages.items():
            cause_id = causes.setdefault(cause, len(causes) + 1)
            key = (number, customers, point, cause_id)
            version = versions.setdefault(key, len(versions) + 1)
            run = open_runs.get(number)
            if run is not None and run[2] == version and run[0] == index // BUCKET and run[3] == index - 1:
                run[3] = index
            else:
                run = [index // BUCKET, index, version, index]
                runs.append(run)
            current[number] = run
            if snap.suspect is None:
                row = outages.setdefault(number, [number, index, index, 0, customers, None])
                row[2] = index
                row[3] += 1
                row[4] = max(row[4], customers)
                row[5] = fips[point]  # its county at its latest sighting, as the builder keeps it
        open_runs = current
    conn.execute("begin")
    conn.executemany(
        "insert into snapshots (id, hash, [when], title, outage_count, customers_affected, suspect,"
        " trusted_minutes, trusted_minutes_cum, gap_class) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        snapshot_rows)
    conn.executemany("insert into causes (id, name) values (?, ?)", [(i, name) for name, i in causes.items()])
    conn.executemany(
        "insert into outage_versions (id, outage, estCustAffected, latitude, longitude, cause, county_fips)"
        " values (?, ?, ?, ?, ?, ?, ?)",
        [(version, number, customers, point[0], point[1], cause, fips[point])
         for (number, customers, point, cause), version in versions.items()])
    conn.executemany("insert into version_runs values (?, ?, ?, ?)", [tuple(run) for run in runs])
    conn.executemany(
        "insert into outages (id, first_snapshot, last_snapshot, snapshot_count, max_estCustAffected, county_fips)"
        " values (?, ?, ?, ?, ?, ?)", [tuple(row) for row in outages.values()])
    conn.execute("insert into _meta values ('minutes_settled_before', ?)", (str(len(snaps) - 1),))
    conn.execute("commit")
    return conn
