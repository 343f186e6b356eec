"""The data behind the Events and Reliability pages: the events the builder found (events.py),
one event's restoration curve and its county map at the peak, and the daily and yearly figures
with the major event day threshold.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable

from .events import EVENT_COLUMNS, RESTORED
from .pages import count_step, draw_customers_chart, has_table, read_county_map
from .times import format_time, read_seconds

# How the Events page can list them.
ORDERS = {"largest": "peak_customers desc, id", "newest": "start desc, id desc"}
# An event's links open this long before its start and after its end.
MARGIN = 3600

_SELECT = f"select {', '.join(f'[{column}]' for column in EVENT_COLUMNS)} from events"


def read_events(conn: sqlite3.Connection, order: str = "largest") -> list[dict] | None:
    """Every event, largest first or newest first; None when the database has no events table
    (built before events were found)."""
    if not has_table(conn, "events"):
        return None
    return [_event(row) for row in conn.execute(f"{_SELECT} order by {ORDERS[order]}")]


def read_event(conn: sqlite3.Connection, key: str) -> dict | None:
    """One event, by its key (events.event_key), with its customers out per trustworthy snapshot
    and the county map at its peak; None when there is no such event."""
    row = conn.execute(f"{_SELECT} where key = ?", (key,)).fetchone() if has_table(conn, "events") else None
    if row is None:
        return None
    event = _event(row)
    event["customers"] = conn.execute(
        "select [when], customers_affected from snapshots where id between ? and ? and suspect is null order by id",
        (event["first_snapshot"], event["last_snapshot"])).fetchall()
    event["county_map"] = read_county_map(conn, event_time(event["peak_at"]))
    return event


def event_period(event: dict) -> dict[str, str]:
    """The `from` and `to` of the pages an event links to: its span, with a margin each side."""
    start, end = event_time(event["start"]), event_time(event["end"])
    return {"from": format_time(start - MARGIN), "to": format_time(end + MARGIN)}


def event_chart(event: dict, label: Callable[[int], str], utc_offset: Callable[[int], int]) -> dict | None:
    """The restoration curve: customers out over the event, with the peak's level and the levels
    at which 50, 90 and 99% of it is restored."""
    chart = draw_customers_chart(event["customers"], label, utc_offset=utc_offset)
    if chart is None:
        return None
    top, baseline, ceiling = chart["top"], chart["baseline"], chart["ceiling"]
    levels = [(event["peak_customers"], "peak")]
    levels += [(event["peak_customers"] * (1 - share), f"{share:.0%} restored") for share in RESTORED[:2]]
    chart["levels"] = [(round(baseline - level / ceiling * (baseline - top), 1), name) for level, name in levels]
    return chart


def read_reliability(conn: sqlite3.Connection) -> dict | None:
    """The daily figures with the major event day threshold, the yearly indices and their basis;
    None when the database has none (built before them, or with no snapshot yet)."""
    if not has_table(conn, "reliability_basis"):
        return None
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    basis = cursor.execute("select * from reliability_basis").fetchone()
    if basis is None:
        return None
    days = [dict(row) for row in cursor.execute("select * from reliability_by_day order by day")]
    years = [dict(row) for row in cursor.execute("select * from reliability_years order by year")]
    chart = daily_chart(days, basis["med_threshold_customer_minutes"])
    return {"basis": dict(basis), "days": days, "years": years, "chart": chart}


def daily_chart(days: list[dict], threshold: float | None, width: int = 900, height: int = 240) -> dict | None:
    """Bars of customer-minutes per day, major event days marked, with the threshold's line when
    it falls within reach of the bars (else its value is said beside the chart)."""
    if not days:
        return None
    left, right, top, bottom = 84, 16, 12, 40
    most = max(day["customer_minutes"] or 0 for day in days)
    shown_threshold = threshold if threshold is not None and threshold <= 3 * max(most, 1) else None
    reach = max(most, shown_threshold or 0, 1)
    step = count_step(math.ceil(reach))
    ceiling = step * math.ceil(reach / step)
    inner = width - left - right
    slot = inner / len(days)

    def y(value: float) -> float:
        return round(height - bottom - value / ceiling * (height - top - bottom), 1)

    bars = [{
        "x": round(left + i * slot + slot * 0.1, 1),
        "width": round(max(slot * 0.8, 0.5), 1),
        "y": y(day["customer_minutes"] or 0),
        "height": round(y(0) - y(day["customer_minutes"] or 0), 1),
        "day": day["day"],
        "customer_minutes": day["customer_minutes"] or 0,
        "major_event": bool(day["major_event"]),
    } for i, day in enumerate(days)]
    every = max(1, math.ceil(len(days) / 8))
    return {
        "width": width, "height": height, "left": left, "right": width - right, "baseline": y(0),
        "bars": bars,
        "y_ticks": [(y(value), f"{value:,}") for value in range(0, ceiling + 1, step)],
        "x_ticks": [(round(left + (i + 0.5) * slot, 1), day["day"]) for i, day in enumerate(days) if i % every == 0],
        "threshold_y": y(shown_threshold) if shown_threshold is not None else None,
    }


def _event(row: tuple) -> dict:
    event = dict(zip(EVENT_COLUMNS, row, strict=True))
    for key in ("causes", "worst_counties", "worst_places"):
        event[key] = json.loads(event[key]) if event[key] else {}
    return event


def event_time(text: str) -> int:
    """Unix seconds of an event's time (ISO 8601 text in UTC, as events.py writes them)."""
    when = read_seconds(text)
    assert when is not None, text
    return when
