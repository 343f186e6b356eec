"""Why a page shows no rows, where the database can tell: a history without areas, a time
outside the history, an outage number it never held, a database with no snapshots yet.

The plugin asks on every table, view and canned query page of a database this tool built and
shows the answer only when the page has no rows (templates/query.html, table.html).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime

from . import pages
from .times import PACIFIC, read_seconds

# Pages that list outage areas, which only a history with the areas file has.
AREA_PAGES = frozenset({"areas", "area_runs", "skipped_areas", "area_snapshots", "most_recent_areas", "areas_at"})
AREAS_FILE = "outage-areas.geojson"


def empty_reasons(conn: sqlite3.Connection, page: str, args: Mapping[str, str]) -> list[str]:
    """What the database knows that would leave `page` (a table, view or canned query) empty.

    `args` are the page's parameters (a canned query's at, from, to, outage). Each reason is one
    sentence; none when nothing here explains an empty page (it may simply have no rows).
    """
    first, last = conn.execute("select min([when]), max([when]) from snapshots").fetchone()
    if first is None:
        return ["This database holds no snapshots yet: build it from a history with "
                "pge-outages build HISTORY DATABASE, or wait for the first build to finish."]
    reasons = []
    if page in AREA_PAGES and conn.execute("select 1 from areas limit 1").fetchone() is None:
        reasons.append(f"This history has no areas: no snapshot of it holds an outage's area, so its scraper "
                       f"wrote no {AREAS_FILE} beside the outages, or wrote it empty. This project's scraper "
                       "records PG&E's areas (layer 8 of its feed); the public 2019 and 2024 histories have none.")
    for name in pages.TIME_PARAMETERS:
        text = (args.get(name) or "").strip()
        moment = read_seconds(text) if text else None
        if moment is None:
            continue
        if moment < first:
            reasons.append(f"{name} ({text}) is before the history starts, at {_shown(first)}.")
        elif moment > last and name == "from":
            reasons.append(f"from ({text}) is after the history's last snapshot, at {_shown(last)}.")
    outage = (args.get("outage") or "").strip()
    if outage.isdigit() and conn.execute("select 1 from outages where id = ?", (int(outage),)).fetchone() is None:
        low, high = conn.execute("select min(id), max(id) from outages").fetchone()
        span = f": its outage numbers run from {low} to {high}" if low is not None else ""
        reasons.append(f"This history holds no outage {outage}{span}.")
    return reasons


def _shown(when: int) -> str:
    """A time as the pages show it, in Pacific time: 2019-10-01 00:00 PDT."""
    return datetime.fromtimestamp(when, UTC).astimezone(PACIFIC).strftime("%Y-%m-%d %H:%M %Z")
