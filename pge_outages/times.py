"""Reading times typed as ISO 8601 text: one owner for the rule, whoever reads them (the
scraper's trailers, the plugin's pages and canned queries, the cells of its tables).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime


def parse_time(text: str) -> int | None:
    """A trailer's ISO 8601 time as Unix seconds (UTC when it names no offset); None when it is not one.

    >>> parse_time("2026-02-19T19:27:04Z")
    1771529224
    """
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def read_aware_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def sqlite_seconds(text: str) -> int | None:
    """Unix seconds of a time as the canned queries read it (SQLite's strftime), or None."""
    with sqlite3.connect(":memory:") as conn:
        return conn.execute("select cast(strftime('%s', ?) as integer)", (text,)).fetchone()[0]
