"""Exports of a built database in other datasets' layouts, so our archive can stand beside them.

EAGLE-I, Oak Ridge National Laboratory's national dataset of customers out per
county every 15 minutes (Brelsford et al., "A dataset of recorded electricity
outages by United States county 2014-2022", Scientific Data 11:271, 2024), has
one row per county with customers out at each 15-minute step:
`fips_code, county, state, customers_out, run_start_time` (UTC).
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO

from .glitches import GAP_SECONDS

EAGLEI_STEP = 900  # seconds: EAGLE-I's 15 minutes
EAGLEI_COLUMNS = ("fips_code", "county", "state", "customers_out", "run_start_time")
STATE = "California"

# The state at a moment is that of the latest trustworthy snapshot at or before it.
_SNAPSHOT_AT = """
select id from snapshots where [when] <= ? and suspect is null order by [when] desc, id desc limit 1
"""
# The gap a moment falls in: closed by the first trustworthy snapshot after it.
_GAP_AFTER = """
select gap_class, gap_seconds from snapshots where [when] > ? and suspect is null order by [when], id limit 1
"""
_BY_COUNTY = """
select o.county_fips, c.name, sum(s.estCustAffected)
from outage_snapshots s
join outages o on o.id = s.outage
join counties c on c.fips = o.county_fips
where s.snapshot = ?
group by o.county_fips
having sum(s.estCustAffected) > 0
order by o.county_fips
"""


def eaglei_rows(conn: sqlite3.Connection, start: int, end: int) -> Iterator[tuple]:
    """EAGLE-I's rows for the 15-minute steps from `start` to before `end` (Unix seconds).

    Steps are whole quarter hours (UTC). A step's value is the state at that
    moment; a step the scraper did not see (a blind gap, or an unknown one
    longer than GAP_SECONDS, the rule of outages_expanded) is left out, not
    filled, and so is a step after the last trustworthy snapshot.
    """
    step = -(-start // EAGLEI_STEP) * EAGLEI_STEP
    while step < end:
        if _seen(conn, step):
            snapshot = conn.execute(_SNAPSHOT_AT, (step,)).fetchone()
            if snapshot is not None:
                moment = datetime.fromtimestamp(step, UTC).strftime("%Y-%m-%d %H:%M:%S")
                for fips, name, customers in conn.execute(_BY_COUNTY, snapshot):
                    yield f"{fips:05d}", name, STATE, customers, moment
        step += EAGLEI_STEP


def _seen(conn: sqlite3.Connection, moment: int) -> bool:
    """Whether the scraper saw the feed at `moment`: a snapshot then, or a gap around it it vouches for."""
    if conn.execute("select 1 from snapshots where [when] = ? and suspect is null", (moment,)).fetchone():
        return True
    after = conn.execute(_GAP_AFTER, (moment,)).fetchone()
    if after is None:
        return False  # after the last trustworthy snapshot: the archive does not know
    gap_class, gap_seconds = after
    return not (gap_class == "blind" or gap_class == "unknown" and (gap_seconds or 0) > GAP_SECONDS)


def write_eaglei(conn: sqlite3.Connection, out: IO[str], start: int, end: int) -> int:
    """Write EAGLE-I's CSV (a header, then eaglei_rows) to `out`; return the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EAGLEI_COLUMNS)
    count = 0
    for row in eaglei_rows(conn, start, end):
        writer.writerow(row)
        count += 1
    return count
