"""A week of a big storm, written straight into the database's tables: what the replay must play.

Building such a history through git and the builder takes minutes (generate_history with
commits=1000, outages=4000 took 5 minutes here); filling the tables directly takes seconds.
Every snapshot has about `outages` outages, each outage's customers change every few
snapshots, half the outages have an area that changes now and then, and every 97th
snapshot is a glitch of the feed (`suspect = 'drop'`) in which no outage is seen.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pge_outages.schema import BUCKET, create_schema

START = 1572130800  # 2019-10-26 23:00 UTC, as the shutoffs of October 2019 began
SCRAPER_ZONE = timezone(timedelta(hours=-7))
SUSPECT_EVERY = 97
LIFE = (100, 500)  # snapshots an outage lasts
LEVEL = (4, 40)  # snapshots its customers stay the same
SHAPE = (20, 60)  # snapshots its area stays the same


def _runs(first: int, last: int):
    """(bucket, first, last) of a run of snapshots, split where a bucket ends and
    around the suspect snapshots, which see none of the outages."""
    while first <= last:
        if first % SUSPECT_EVERY == 0:
            first += 1
            continue
        end = min(last, (first // BUCKET + 1) * BUCKET - 1, (first // SUSPECT_EVERY + 1) * SUSPECT_EVERY - 1)
        yield first // BUCKET, first, end
        first = end + 1


def _square(latitude: float, longitude: float, size: float) -> str:
    north, east = round(latitude + size, 5), round(longitude + size, 5)
    ring = [[longitude, latitude], [east, latitude], [east, north], [longitude, north], [longitude, latitude]]
    coordinates = str(ring).replace(" ", "")
    return f'{{"type":"Polygon","coordinates":[{coordinates}]}}'


def fill_storm(path: Path, snapshots: int = 1000, outages: int = 4000, seed: int = 1) -> Path:
    """Write the storm into a new database at `path`; return `path`."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    create_schema(conn)
    # An outage of life L starting anywhere from 2 - L to `snapshots` is in a given snapshot
    # with chance L / (snapshots + L - 1): so many outages make `outages` a snapshot.
    lives = range(LIFE[0], LIFE[1] + 1)
    count = round(outages * len(lives) / sum(life / (snapshots + life - 1) for life in lives))
    versions, version_runs, areas, area_runs, rows = [], [], [], [], []
    active = [0] * (snapshots + 2)
    customers_at = [0] * (snapshots + 2)
    for number in range(1, count + 1):
        life = rng.randint(*LIFE)
        start = rng.randint(2 - life, snapshots)
        first, last = max(1, start), min(snapshots, start + life - 1)
        latitude, longitude = round(rng.uniform(35.0, 41.5), 5), round(rng.uniform(-123.8, -118.5), 5)
        levels = []
        at = first
        while at <= last:
            end = min(last, at + rng.randint(*LEVEL) - 1)
            levels.append((at, end, rng.choice((1, 2, 5, 20, 80, 300, 1500, 6000))))
            at = end + 1
        for at, end, customers in levels:
            versions.append((len(versions) + 1, number, customers, latitude, longitude))
            version_runs += [(bucket, a, len(versions), b) for bucket, a, b in _runs(at, end)]
            for i in range(at, end + 1):
                if i % SUSPECT_EVERY:
                    active[i] += 1
                    customers_at[i] += customers
        if number % 2:
            at = first
            while at <= last:
                end = min(last, at + rng.randint(*SHAPE) - 1)
                areas.append((len(areas) + 1, number, _square(latitude, longitude, rng.uniform(0.005, 0.05))))
                area_runs += [(bucket, a, len(areas), b) for bucket, a, b in _runs(at, end)]
                at = end + 1
        seen = last - first + 1
        peak = [c for _, _, c in levels]
        rows.append((number, latitude, longitude, first, last, seen, min(peak), max(peak)))
    conn.execute("begin")
    conn.executemany(
        "insert into snapshots (id, hash, [when], title, outage_count, customers_affected, suspect,"
        " seconds_since_previous) values (?, ?, ?, ?, ?, ?, ?, ?)",
        [(i, f"{i:040x}", START + 600 * (i - 1),
          datetime.fromtimestamp(START + 600 * (i - 1), SCRAPER_ZONE).isoformat(),
          active[i], customers_at[i], None if i % SUSPECT_EVERY else "drop", 600 if i > 1 else None)
         for i in range(1, snapshots + 1)],
    )
    conn.executemany(
        "insert into outages (id, latitude, longitude, first_snapshot, last_snapshot, snapshot_count,"
        " min_estCustAffected, max_estCustAffected) values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.executemany(
        "insert into outage_versions (id, outage, estCustAffected, latitude, longitude) values (?, ?, ?, ?, ?)",
        versions)
    conn.executemany("insert into version_runs (bucket, first_snapshot, version, last_snapshot) values (?, ?, ?, ?)",
                     version_runs)
    conn.executemany("insert into areas (id, outage, geometry) values (?, ?, ?)", areas)
    conn.executemany("insert into area_runs (bucket, first_snapshot, area, last_snapshot) values (?, ?, ?, ?)",
                     area_runs)
    conn.execute("commit")
    conn.execute("analyze")
    conn.close()
    return path
