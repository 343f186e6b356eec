"""The Events page (/<database>/-/events), an event's own page (/<database>/-/events/<key>, the
Pacific day it began: events.event_key) and the
Reliability page (/<database>/-/reliability): their data from event_pages.py, their templates in
templates/. Registered by the plugin's register_routes.
"""

from __future__ import annotations

from urllib.parse import urlencode

from datasette.utils.asgi import NotFound, Response

from ..event_pages import ORDERS, event_chart, event_period, event_time, read_event, read_events, read_reliability
from . import _clock, _named, _pacific_offset, _read, _tick, outages_database, shown_county_map

EVENTS_TEMPLATE = "pge-outages-events.html"
EVENT_TEMPLATE = "pge-outages-event.html"
RELIABILITY_TEMPLATE = "pge-outages-reliability.html"


def _links(datasette, database: str, event: dict) -> dict[str, str]:
    """Where an event leads: its chart, its replay, its largest outages, its counties, its page."""
    period = urlencode(event_period(event))
    base = datasette.urls.database(database)
    return {
        "page": f"{base}/-/events/{event['key']}",
        "chart": f"{base}/customers_over_time?{period}",
        "replay": f"{base}/-/replay?{period}",
        "largest": f"{base}/largest_outages?{period}",
        "counties": f"{base}/counties_between?{period}",
    }


def _shown(event: dict) -> dict:
    """An event's times as the pages show them, in Pacific time."""
    return dict(event, start_shown=_clock(event_time(event["start"])), end_shown=_clock(event_time(event["end"])),
                peak_shown=_clock(event_time(event["peak_at"])))


async def events_page(datasette, request):
    """Every event the builder found, largest first (?order=newest: newest first)."""
    database = outages_database(datasette, _named(request)).name
    order = request.args.get("order") or "largest"
    if order not in ORDERS:
        order = "largest"
    events = await _read(datasette, lambda conn: read_events(conn, order), database)
    shown = [dict(_shown(event), links=_links(datasette, database, event)) for event in events or []]
    html = await datasette.render_template(EVENTS_TEMPLATE, {
        "events": shown, "has_events": events is not None, "order": order, "orders": list(ORDERS),
        "database": database, "events_url": datasette.urls.database(database) + "/-/events",
        "reliability_url": datasette.urls.database(database) + "/-/reliability",
        "events_table": datasette.urls.table(database, "events"),
    }, request=request)
    return Response.html(html)


async def event_page(datasette, request):
    """One event: its restoration curve, peak, estimate and method, and the map at its peak."""
    database = outages_database(datasette, _named(request)).name
    key = request.url_vars["event"]
    event = await _read(datasette, lambda conn: read_event(conn, key), database)
    if event is None:
        raise NotFound(f"No event began on {key} in {database}")
    county_map = event.pop("county_map")
    if county_map is not None:
        shown_county_map(county_map)
    html = await datasette.render_template(EVENT_TEMPLATE, {
        "event": dict(_shown(event), links=_links(datasette, database, event)),
        "chart": event_chart(event, _tick, _pacific_offset),
        "county_map": county_map,
        "counties_at": datasette.urls.database(database) + "/counties_at",
        "events_url": datasette.urls.database(database) + "/-/events",
        "database": database,
    }, request=request)
    return Response.html(html)


async def reliability_page(datasette, request):
    """Customer-minutes per day with the major event day threshold, and the yearly indices."""
    database = outages_database(datasette, _named(request)).name
    found = await _read(datasette, read_reliability, database)
    html = await datasette.render_template(RELIABILITY_TEMPLATE, {
        "reliability": found, "database": database,
        "events_url": datasette.urls.database(database) + "/-/events",
        "days_url": datasette.urls.table(database, "reliability_by_day"),
        "years_url": datasette.urls.table(database, "reliability_years"),
    }, request=request)
    return Response.html(html)
