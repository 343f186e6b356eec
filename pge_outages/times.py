"""Reading times written as ISO 8601 text: one reader, whoever reads them (the feed's text
times, the scraper's trailers, the plugin's pages and canned queries, the cells of its
tables), so a time means the same wherever it is written.

A time with an offset (`-07:00`, `Z`) is that moment. A time without one is read in the
zone its reader names: Pacific time for what people type into the pages (every time the
pages show is Pacific) and for the feed (PG&E's local time), UTC for the scraper's trailers
(it writes them in UTC), none for a table's cells (no offset, no moment).
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")
# The name of the SQL function the canned queries read their time parameters with.
SQL_FUNCTION = "unix_time"
# Said in every message about a time that does not read, and (with the DST rule) beside every
# box a time is typed into.
NAIVE_RULE = "without an offset: Pacific time"
DST_RULE = ("in the hour repeated when clocks go back, the first (PDT); in the hour skipped when they go "
            "forward, the offset before the change (PST)")
# A `+` left unencoded in a URL arrives as a space: `2019-10-27T15:00 07:00`.
_SPACE_FOR_PLUS = re.compile(r"(T.*) (\d\d(:?\d\d)?)$")


def read_time(text: str | None, naive: tzinfo | None = PACIFIC) -> datetime | None:
    """The moment ISO 8601 `text` names; None when it is empty or not such a time.

    Text without an offset is read in `naive` (None: it is not a moment). DST follows
    Python's fold=0: in the hour repeated when clocks go back (01:00-02:00 on the first Sunday
    of November) the first, PDT; in the hour skipped when they go forward (02:00-03:00 on the
    second Sunday of March) the offset before the change, PST, so 02:30 is 03:30 PDT.

    >>> read_time("2019-10-27T15:00-07:00").isoformat()
    '2019-10-27T15:00:00-07:00'
    >>> read_time("2019-10-27T15:00").isoformat()
    '2019-10-27T15:00:00-07:00'
    >>> read_time("2019-10-27T15:00 07:00").isoformat()
    '2019-10-27T15:00:00+07:00'
    >>> read_time("2019-10-27T15:00", naive=None) is None, read_time("yesterday") is None
    (True, True)
    """
    if text is None or not text.strip():
        return None
    text = _SPACE_FOR_PLUS.sub(r"\1+\2", text.strip())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        if naive is None:
            return None
        moment = moment.replace(tzinfo=naive)
    return moment


def stored_moment(value) -> datetime | None:
    """The moment a stored value names: Unix seconds, or ISO 8601 text with an offset; None otherwise.

    >>> stored_moment(1572214818).isoformat(), stored_moment("2019-12-01T08:05:00Z").isoformat()
    ('2019-10-27T22:20:18+00:00', '2019-12-01T08:05:00+00:00')
    >>> stored_moment("2019-12-01T08:05"), stored_moment(True), stored_moment(1e300)
    (None, None, None)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return read_time(value, naive=None) if isinstance(value, str) else None


def read_seconds(text: str | None, naive: tzinfo | None = PACIFIC) -> int | None:
    """Unix seconds of `text` as read_time reads it; None when it does not read.

    >>> read_seconds("2024-01-15T12:00"), read_seconds("2024-01-15T12:00", naive=UTC)
    (1705348800, 1705320000)
    """
    moment = read_time(text, naive)
    return None if moment is None else int(moment.timestamp())


def format_time(seconds: float) -> str:
    """A Unix time written in UTC, to the second, as the trailers, the pages' links and the events
    write it: the one writer, as read_time is the one reader.

    >>> format_time(1771529224)
    '2026-02-19T19:27:04Z'
    """
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> int | None:
    """A trailer's ISO 8601 time as Unix seconds (UTC when it names no offset); None when it is not one.

    >>> parse_time("2026-02-19T19:27:04Z")
    1771529224
    """
    return read_seconds(text, naive=UTC)


def _sql_unix_time(text) -> int | None:
    return read_seconds(text) if isinstance(text, str) else None


def register_sql_functions(conn: sqlite3.Connection) -> None:
    """unix_time(text): Unix seconds of a time typed into a canned query, read as the pages read
    it (read_seconds: Pacific without an offset); NULL when empty or unreadable. Deterministic,
    so `[when] <= unix_time(:at)` is a constant the planner searches an index with."""
    conn.create_function(SQL_FUNCTION, 1, _sql_unix_time, deterministic=True)
