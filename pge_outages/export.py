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

from .schema import table_names

EAGLEI_STEP = 900  # seconds: EAGLE-I's 15 minutes
EAGLEI_COLUMNS = ("fips_code", "county", "state", "customers_out", "run_start_time")
STATE = "California"

# The state at a moment is that of the latest trustworthy snapshot at or before it, for as long
# as that snapshot stands for in customer-minutes (snapshots.trusted_minutes): until the next one
# when the scraper watched or the feed was quiet, a scrape interval when it was blind, at most
# GAP_SECONDS when nothing shows either way. After that the archive did not see.
_TRUSTED = """
select id, [when], [when] + trusted_minutes * 60 from snapshots
where [when] < ? and suspect is null order by [when], id
"""
_BY_COUNTY = """
select s.county_fips, c.name, sum(s.estCustAffected)
from outage_snapshots s
join counties c on c.fips = s.county_fips
where s.snapshot = ?
group by s.county_fips
having sum(s.estCustAffected) > 0
order by s.county_fips
"""


def eaglei_rows(conn: sqlite3.Connection, start: int, end: int) -> Iterator[tuple]:
    """EAGLE-I's rows for the 15-minute steps from `start` to before `end` (Unix seconds).

    Steps are whole quarter hours (UTC). A step's value is the state at that
    moment; a step the scraper did not see (a blind gap, or an unknown one
    longer than GAP_SECONDS, the rule of outages_expanded) is left out, not
    filled, and so is a step after the last trustworthy snapshot.
    """
    step = -(-start // EAGLEI_STEP) * EAGLEI_STEP
    # The trustworthy snapshots, read once and walked along with the steps; each snapshot's
    # counties are read once, however many steps it stands for.
    snapshots = conn.execute(_TRUSTED, (end,)).fetchall()
    at, shown, rows = -1, None, []
    while step < end:
        while at + 1 < len(snapshots) and snapshots[at + 1][1] <= step:
            at += 1
        if at >= 0 and step < snapshots[at][2]:
            if shown != snapshots[at][0]:
                shown = snapshots[at][0]
                rows = conn.execute(_BY_COUNTY, (shown,)).fetchall()
            moment = datetime.fromtimestamp(step, UTC).strftime("%Y-%m-%d %H:%M:%S")
            for fips, name, customers in rows:
                yield f"{fips:05d}", name, STATE, customers, moment
        step += EAGLEI_STEP


class ExportError(ValueError):
    """A database this export cannot read."""


def history_span(conn: sqlite3.Connection) -> tuple[int, int]:
    """The times of the first and last snapshot; ExportError when the database cannot be exported."""
    if "counties" not in table_names(conn):
        raise ExportError("it was built before counties were recorded: run pge-outages build on it to upgrade it")
    first, last = conn.execute("select min([when]), max([when]) from snapshots").fetchone()
    if first is None:
        raise ExportError("it holds no snapshots")
    return first, last


def write_eaglei(conn: sqlite3.Connection, out: IO[str], start: int, end: int) -> int:
    """Write EAGLE-I's CSV (a header, then eaglei_rows) to `out`; return the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EAGLEI_COLUMNS)
    count = 0
    for row in eaglei_rows(conn, start, end):
        writer.writerow(row)
        count += 1
    return count
