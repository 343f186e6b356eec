"""The data behind the plugin's own pages: a period replayed on the map, and one outage's history.

The replay reads the database in frames of a few dozen trustworthy snapshots. A request
lists each outage once for each stretch of its frames in which it looks the same on the
map, rather than once per snapshot: a storm's 4,000 outages change little from one scrape
to the next.
"""

from __future__ import annotations

import math
import sqlite3
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from functools import lru_cache
from itertools import pairwise

import orjson

from .schema import BUCKET
from .times import NAIVE_RULE, format_time, read_seconds

FRAME_SIZE = 50  # snapshots per request, unless the request asks for another number
MAX_FRAME_SIZE = 200
DEFAULT_PERIOD = 24 * 3600  # replayed when the request gives no `from`
EXAMPLE_TIME = "2019-10-27T15:00-07:00"
OUTAGE_COLUMNS = ["outage", "latitude", "longitude", "customers", "first", "last"]
AREA_COLUMNS = ["area", "outage", "first", "last", "geometry"]
SNAPSHOT_COLUMNS = ["id", "when", "time", "outage_count", "customers_affected"]
MAX_VERSIONS = 1000  # status changes listed on an outage's page


class BadReplayParameter(ValueError):
    """A parameter of a replay request that cannot be read."""


def read_moment(text: str | None, name: str) -> int | None:
    """Unix seconds of an ISO 8601 time (times.read_time: Pacific time without an offset); None when empty."""
    if text is None or not text.strip():
        return None
    seconds = read_seconds(text)
    if seconds is None:
        raise BadReplayParameter(
            f"{name}: {text.strip()!r} is not an ISO 8601 time, such as {EXAMPLE_TIME} ({NAIVE_RULE})")
    return seconds


# The parameters of the canned queries (metadata.yml) that hold a time, read by SQL's unix_time (times.py).
TIME_PARAMETERS = ("at", "from", "to")


def query_parameter_problems(args: Mapping[str, str]) -> list[str]:
    """What a canned query's parameters hold that its SQL cannot read, one message each, naming
    the parameter and showing an example: SQL would read such a value as empty and say nothing.

    >>> for problem in query_parameter_problems({"at": "yesterday", "outage": "abc"}):
    ...     print(problem)
    at: 'yesterday' is not a time the query can read, such as 2019-10-27T15:00-07:00 (without an offset: ...; ...
    outage: 'abc' is not an outage number, such as 3116600
    >>> query_parameter_problems({"from": "2019-10-28", "to": "2019-10-27"})
    ['from (2019-10-28) is after to (2019-10-27): nothing lies between them']
    >>> query_parameter_problems({"min_customers": "5,000"})
    ["min_customers: '5,000' is not a whole number of customers, such as 5000; it was read as empty"]
    """
    problems = []
    moments = {}
    for name in TIME_PARAMETERS:
        text = (args.get(name) or "").strip()
        if not text:
            continue
        seconds = read_seconds(text)
        if seconds is None:
            problems.append(f"{name}: {text!r} is not a time the query can read, such as {EXAMPLE_TIME} "
                            f"({NAIVE_RULE}); it was read as empty")
        else:
            moments[name] = seconds
    if "from" in moments and "to" in moments and moments["from"] > moments["to"]:
        problems.append(f"from ({args['from'].strip()}) is after to ({args['to'].strip()}): nothing lies between them")
    outage = (args.get("outage") or "").strip()
    if outage and not outage.isdigit():
        problems.append(f"outage: {outage!r} is not an outage number, such as 3116600")
    customers = (args.get("min_customers") or "").strip()
    if customers and not (customers.isascii() and customers.isdigit()):
        problems.append(f"min_customers: {customers!r} is not a whole number of customers, such as 5000; "
                        "it was read as empty")
    return problems


def read_count(text: str | None, name: str, default: int, low: int, high: int | None = None) -> int:
    """A whole number from `low` to `high`; `default` when empty."""
    if text is None or not text.strip():
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise BadReplayParameter(f"{name}: {text!r} is not a whole number {bounds}")
    return value


def read_period(args: Mapping[str, str]) -> tuple[int | None, int | None]:
    """The `from` and `to` of a replay request, as Unix seconds (None when not given)."""
    start, end = read_moment(args.get("from"), "from"), read_moment(args.get("to"), "to")
    if start is not None and end is not None and start > end:
        raise BadReplayParameter(f"from ({args.get('from')}) is after to ({args.get('to')})")
    return start, end


def read_frame_request(args: Mapping[str, str]) -> tuple[int | None, int | None, int, int]:
    """(from, to, offset, limit) of a request for replay frames."""
    start, end = read_period(args)
    offset = read_count(args.get("offset"), "offset", 0, 0)
    limit = read_count(args.get("limit"), "limit", FRAME_SIZE, 1, MAX_FRAME_SIZE)
    return start, end, offset, limit


def resolve_period(conn: sqlite3.Connection, start: int | None, end: int | None) -> tuple[int, int]:
    """Fill a period's open ends: `to` is the newest snapshot, `from` a day before `to`."""
    if end is None:
        end = conn.execute("select max([when]) from snapshots").fetchone()[0] or 0
    if start is None:
        start = end - DEFAULT_PERIOD
    return start, end


def read_frames(conn: sqlite3.Connection, start: int | None, end: int | None, offset: int, limit: int,
                label: Callable[[int], str] = str) -> dict:
    """Frames `offset` to `offset + limit - 1` of the replay of a period: its trustworthy snapshots.

    `outages` holds [outage, latitude, longitude, customers, first, last]: the outage is
    on the map, there and that large, from frame `first` to frame `last` of this response
    (indexes into `snapshots`). `areas` holds the areas the same way, [area, outage,
    first, last, geometry], geometry as GeoJSON. `label(when)` is a snapshot's time as
    shown on the clock.
    """
    start, end = resolve_period(conn, start, end)
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: a frame of a storm has tens of thousands of rows
    total = cursor.execute(
        "select count(*) from snapshots where suspect is null and [when] between ? and ?", (start, end)
    ).fetchone()[0]
    snapshots = [
        [id, when, label(when), count, customers]
        for id, when, count, customers in cursor.execute(
            """select id, [when], outage_count, customers_affected from snapshots
            where suspect is null and [when] between ? and ? order by id limit ? offset ?""",
            (start, end, limit, offset),
        )
    ]
    frame = {
        "from": format_time(start),
        "to": format_time(end),
        "from_time": label(start),
        "to_time": label(end),
        "total": total,
        "offset": offset,
        "limit": limit,
        "next": offset + limit if offset + limit < total else None,
        "columns": {"snapshots": SNAPSHOT_COLUMNS, "outages": OUTAGE_COLUMNS, "areas": AREA_COLUMNS},
        "snapshots": snapshots,
        "outages": [],
        "areas": [],
    }
    if not snapshots:
        return frame
    ids = [row[0] for row in snapshots]
    # Runs never cross a bucket, so those seen in these snapshots are in their buckets.
    window = {"first": ids[0], "last": ids[-1], "low": ids[0] // BUCKET, "high": ids[-1] // BUCKET}
    # A version differing from the one before in a field the map does not show (a crew's
    # status, an estimate) is the same row: rows are in order of outage and time.
    runs = cursor.execute(
        """select v.outage, v.latitude, v.longitude, v.estCustAffected, r.first_snapshot, r.last_snapshot
        from version_runs r join outage_versions v on v.id = r.version
        where r.bucket between :low and :high and r.first_snapshot <= :last and r.last_snapshot >= :first
            and v.latitude is not null and v.longitude is not null
        order by v.outage, r.first_snapshot""",
        window,
    )
    frame["outages"] = _in_frames(ids, runs, 4)
    if has_table(conn, "area_runs"):
        runs = cursor.execute(
            """select a.id, a.outage, r.first_snapshot, r.last_snapshot, a.geometry
            from area_runs r join areas a on a.id = r.area
            where r.bucket between :low and :high and r.first_snapshot <= :last and r.last_snapshot >= :first
            order by r.area, r.first_snapshot""",
            window,
        )
        # The geometry is GeoJSON text already: passed through, not parsed and written again.
        frame["areas"] = [[*run[:4], orjson.Fragment(run[4])] for run in _in_frames(ids, runs, 2)]
    return frame


def _in_frames(ids: list[int], runs, at: int) -> list[list]:
    """Runs (what is shown, the first and last snapshot at `at` and `at + 1`, more), in
    order of what is shown and time, with the indexes of the first and last of `ids` they
    cover instead. A run covering none of them (suspect snapshots only) is left out; runs
    showing the same that follow each other in `ids` (split by a bucket's end, a suspect
    snapshot, or a change the map does not show) are one."""
    found: list[list] = []
    shown = None
    for run in runs:
        first, last = bisect_left(ids, run[at]), bisect_right(ids, run[at + 1]) - 1
        if first > last:
            continue
        if run[:at] == shown and found[-1][at + 1] >= first - 1:
            found[-1][at + 1] = max(last, found[-1][at + 1])
        else:
            found.append([*run[:at], first, last, *run[at + 2:]])
            shown = run[:at]
    return found


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the database has the table `name` (one built before it was added may not)."""
    return conn.execute("select 1 from sqlite_master where type = 'table' and name = ?", (name,)).fetchone() is not None


def read_outage_history(conn: sqlite3.Connection, outage: int) -> dict | None:
    """One outage's page: where it is, its customers over its trustworthy snapshots, its status changes.

    `customers` is [(when, customers)], kept only where the number changes (the first and last
    snapshot of each level); `versions` the outage's versions with what changed, like the
    canned query outage_history; `duration_hours` how long it lasted, as outages_expanded says
    (with `duration_uncertain`); `area` its latest area (GeoJSON text) or None.
    """
    row = conn.execute(
        """select o.id, o.latitude, o.longitude, first.[when], last.[when]
        from outages o join snapshots first on first.id = o.first_snapshot
        join snapshots last on last.id = o.last_snapshot where o.id = ?""",
        (outage,),
    ).fetchone()
    if row is None:
        return None
    _, latitude, longitude, first_seen, last_seen = row
    levels = conn.execute(
        """select s.[when], v.estCustAffected
        from outage_versions v
        join version_runs r on r.version = v.id
        join snapshots s on s.bucket = r.bucket and s.id between r.first_snapshot and r.last_snapshot
        where v.outage = ? and s.suspect is null
        order by s.id""",
        (outage,),
    ).fetchall()
    customers = [
        (when, count) for i, (when, count) in enumerate(levels)
        if i in (0, len(levels) - 1) or count != levels[i - 1][1] or count != levels[i + 1][1]
    ]
    versions = conn.execute(
        """select v.id, first.[when], last.[when], snapshots, v.estCustAffected, crew_statuses.name,
            causes.name, v.currentEtor, v.crewEta, regions.name, v.latitude, v.longitude, v.hazardFlag
        from (
            select version, min(first_snapshot) as first_snapshot, max(last_snapshot) as last_snapshot,
                sum(last_snapshot - first_snapshot + 1) as snapshots
            from version_runs where version in (select id from outage_versions where outage = :outage)
            group by version
        ) runs
        join outage_versions v on v.id = runs.version
        join snapshots first on first.id = runs.first_snapshot
        join snapshots last on last.id = runs.last_snapshot
        left join crew_statuses on crew_statuses.id = v.crewCurrentStatus
        left join causes on causes.id = v.cause
        left join regions on regions.id = v.regionName
        order by v.id
        limit :limit""",
        {"outage": outage, "limit": MAX_VERSIONS},
    ).fetchall()
    # Its duration as outages_expanded defines it (views.sql), the one definition; none from a
    # database whose views predate it, until a build brings them up to date.
    try:
        duration_hours, duration_uncertain = conn.execute(
            "select duration_hours, duration_uncertain from outages_expanded where outage = ?", (outage,)).fetchone()
    except sqlite3.OperationalError:
        duration_hours, duration_uncertain = None, None
    area = None
    if has_table(conn, "areas"):
        found = conn.execute(
            "select geometry from areas where outage = ? order by id desc limit 1", (outage,)).fetchone()
        area = found[0] if found else None
    return {
        "outage": outage,
        "latitude": latitude,
        "longitude": longitude,
        "first_seen": first_seen,
        "last_seen": last_seen,
        "duration_hours": duration_hours,
        "duration_uncertain": bool(duration_uncertain),
        "customers": customers,
        "versions": [_version_changes(tuple(v), tuple(p) if p else None)
                     for p, v in pairwise([None, *versions])],
        "more_versions": len(versions) == MAX_VERSIONS,
        "area": area,
    }


def _version_changes(version: tuple, previous: tuple | None) -> dict:
    (id, first_seen, last_seen, snapshots, customers, crew, cause, etor, eta, region,
     latitude, longitude, hazard) = version
    if previous is None:
        changes = ["first seen"]
    else:
        (_, _, _, _, was_customers, was_crew, was_cause, was_etor, was_eta, was_region,
         was_latitude, was_longitude, was_hazard) = previous
        changes = []
        if customers != was_customers:
            changes.append(f"customers {_or_dash(was_customers)} -> {_or_dash(customers)}")
        if crew != was_crew:
            changes.append(f"crew: {_or_dash(crew)}")
        if cause != was_cause:
            changes.append(f"cause: {_or_dash(cause)}")
        if etor != was_etor:
            if etor is None or was_etor is None:
                changes.append("restoration estimate changed")
            elif etor > was_etor:
                changes.append(f"restoration estimate slipped {(etor - was_etor) / 3600:.1f} h")
            else:
                changes.append(f"restoration estimate moved earlier {(was_etor - etor) / 3600:.1f} h")
        if eta != was_eta:
            changes.append("crew ETA changed")
        if region != was_region:
            changes.append(f"region: {_or_dash(region)}")
        if (latitude, longitude) != (was_latitude, was_longitude):
            changes.append("moved")
        if hazard != was_hazard:
            changes.append(f"hazard flag {_or_dash(hazard)}")
    return {
        "version": id, "first_seen": first_seen, "last_seen": last_seen, "snapshots": snapshots,
        "customers": customers, "crew": crew, "cause": cause, "etor": etor,
        "changes": "; ".join(changes) or "other fields",
    }


def _or_dash(value) -> str:
    return "-" if value is None else str(value)


def draw_customers_chart(customers: list[tuple[int, int | None]], label: Callable[[int], str],
                         width: int = 900, height: int = 260,
                         utc_offset: Callable[[int], int] = lambda when: 0) -> dict | None:
    """An SVG step chart of customers over time: the path, its axes' ticks and their labels.

    The y ticks are whole numbers of customers at a round step from 0; the x ticks fall on round
    times of the clock `utc_offset` gives (seconds east of UTC at a moment), which `label` names.
    """
    if not customers:
        return None
    left, right, top, bottom = 64, 16, 12, 40
    start, end = customers[0][0], customers[-1][0]
    peak = max(count or 0 for _, count in customers)
    step = count_step(peak)
    ceiling = max(step * math.ceil(peak / step), step)
    span = (end - start) or 1

    def x(when: int) -> float:
        return round(left + (when - start) / span * (width - left - right), 1)

    def y(count: float | None) -> float:
        return round(height - bottom - (count or 0) / ceiling * (height - top - bottom), 1)

    steps = []
    for i, (when, count) in enumerate(customers):
        if i and count != customers[i - 1][1]:
            steps.append(f"L{x(when)},{y(customers[i - 1][1])}")
        steps.append(f"{'L' if i else 'M'}{x(when)},{y(count)}")
    if end == start:  # seen at one moment only: its level across the chart
        steps.append(f"L{width - right},{y(customers[-1][1])}")
    moments = time_ticks(start, end, utc_offset) if end > start else [start]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "baseline": height - bottom,
        "path": " ".join(steps),
        "x_ticks": [(x(when), label(when)) for when in moments],
        "y_ticks": [(y(count), f"{count:,}") for count in range(0, ceiling + 1, step)],
        "peak": peak,
        "ceiling": ceiling,
    }


def count_step(peak: int, most: int = 4) -> int:
    """The step of at most `most` + 1 whole-number ticks from 0 that reach `peak`: 1, 2 or 5 times a power of 10.

    >>> count_step(0), count_step(1), count_step(7), count_step(2921), count_step(4996380)
    (1, 1, 2, 1000, 2000000)
    """
    scale = 1
    while True:
        for multiple in (1, 2, 5):
            if multiple * scale * most >= peak:
                return multiple * scale
        scale *= 10


# Steps of the outage chart's time axis, in seconds: round times of the clock.
TIME_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)


def time_ticks(start: int, end: int, utc_offset: Callable[[int], int] = lambda when: 0, most: int = 6) -> list[int]:
    """At most `most` moments from `start` to `end` at a round time of the local clock
    (`utc_offset(when)` seconds east of UTC): 19:40, 20:00 and so on, midnight for days.

    >>> [f"{t // 60 % 60:02d}" for t in time_ticks(1572139020, 1572142500)]  # 01:17 to 02:15 UTC
    ['20', '30', '40', '50', '00', '10']
    """
    span = end - start
    step = next((s for s in TIME_STEPS if span / s <= most), TIME_STEPS[-1] * math.ceil(span / (most * TIME_STEPS[-1])))
    local = start + utc_offset(start)
    first = local + (-local) % step - utc_offset(start)
    ticks = []
    when = first
    while when <= end:
        # Across a change of the clocks, keep each tick on a round local time.
        ticks.append(when - (utc_offset(when) - utc_offset(start)) if step >= 3600 else when)
        when += step
    return sorted({t for t in ticks if start <= t <= end})


# The county map: each county shaded by customers out at one moment, drawn as SVG on the
# server from the counties table (no tiles, no script), so it works offline.
MAP_WIDTH = 640
# Customers out at which each shade starts, lightest first; 0 is unshaded.
MAP_SHADES = ((1, "#fee5d9"), (100, "#fcae91"), (1_000, "#fb6a4a"), (10_000, "#de2d26"), (100_000, "#a50f15"))
_NO_CUSTOMERS = "#f2f2f2"
_COUNTY_CUSTOMERS = """
select o.county_fips, count(*), sum(o.estCustAffected)
from outage_snapshots o
where o.snapshot = ? and o.county_fips is not null
group by o.county_fips
"""


def read_county_map(conn: sqlite3.Connection, at: int | None) -> dict | None:
    """The county map at the latest trustworthy snapshot at or before `at` (None: the newest):
    the snapshot, and each county's name, outages, customers out, shade and SVG path.
    None when the database has no counties (built before them) or no such snapshot."""
    if not has_table(conn, "counties"):
        return None
    snapshot = conn.execute(
        "select id, [when] from snapshots where (? is null or [when] <= ?) and suspect is null "
        "order by [when] desc, id desc limit 1", (at, at)).fetchone()
    if snapshot is None:
        return None
    rows = conn.execute(_COUNTY_CUSTOMERS, snapshot[:1])
    out = {fips: (outages, customers or 0) for fips, outages, customers in rows}
    outlines, height = _outlines(tuple(conn.execute("select fips, name, geometry from counties order by fips")))
    if not outlines:
        return None
    counties = []
    for fips, name, path in outlines:
        outages, customers = out.get(fips, (0, 0))
        counties.append({"fips": f"{fips:05d}", "name": name, "outages": outages, "customers": customers,
                         "shade": map_shade(customers), "path": path})
    return {"snapshot": snapshot[0], "when": snapshot[1], "counties": counties, "width": MAP_WIDTH,
            "height": height, "shades": MAP_SHADES, "customers": sum(c["customers"] for c in counties)}


@lru_cache(maxsize=4)
def _outlines(rows: tuple[tuple[int, str, str], ...]) -> tuple[list[tuple[int, str, str]], int]:
    """Each county's (fips, name, SVG path), and the map's height: the same for every moment, so
    drawn once per set of boundaries, not on every request."""
    if not rows:
        return [], 0
    geometries = [orjson.loads(geometry) for _, _, geometry in rows]
    project, height = _projection(geometries)
    return [(fips, name, _svg_path(geometry, project)) for (fips, name, _), geometry in zip(rows, geometries,
                                                                                          strict=True)], height


def map_shade(customers: int) -> str:
    """The fill of a county with this many customers out.

    >>> map_shade(0), map_shade(250), map_shade(2_000_000)
    ('#f2f2f2', '#fcae91', '#a50f15')
    """
    shade = _NO_CUSTOMERS
    for least, colour in MAP_SHADES:
        if customers >= least:
            shade = colour
    return shade


def _projection(geometries: list[dict]) -> tuple[Callable[[float, float], tuple[float, float]], int]:
    """Longitude and latitude to SVG pixels, MAP_WIDTH wide: equirectangular at the middle latitude."""
    points = [point for geometry in geometries for ring in _rings(geometry) for point in ring]
    west, east = min(p[0] for p in points), max(p[0] for p in points)
    south, north = min(p[1] for p in points), max(p[1] for p in points)
    stretch = math.cos(math.radians((south + north) / 2))
    scale = MAP_WIDTH / ((east - west) * stretch)

    def project(longitude: float, latitude: float) -> tuple[float, float]:
        return round((longitude - west) * stretch * scale, 1), round((north - latitude) * scale, 1)

    return project, math.ceil((north - south) * scale)


def _rings(geometry: dict) -> list[list]:
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [ring for polygon in polygons for ring in polygon]


def _svg_path(geometry: dict, project: Callable[[float, float], tuple[float, float]]) -> str:
    parts = []
    for ring in _rings(geometry):
        points = [project(longitude, latitude) for longitude, latitude, *_ in ring]
        parts.append("M" + " L".join(f"{x},{y}" for x, y in points) + " Z")
    return " ".join(parts)


# The marks on the chart of customers_over_time: where the feed changed, so that a step in the
# line is not read as a change in the outages, and the spans its line does not stand for.

# Changes of PG&E's feed known from outside the database (see the README of the real histories):
# (Unix seconds, label, how sure the time is).
KNOWN_FEED_CHANGES = (
    # 2024-04-30T00:00-07:00: from about then layer 5, the layer the 2024 public history scraped,
    # holds only the few outages without an area; the others are in layer 4.
    (1714460400, "Layer 5 stops holding the outages that have an area: its count falls, not the outages",
     "about the end of April 2024"),
)
MAX_SUSPECT_SPANS = 500
# A layer counts as begun (or ended) where it brings (or takes away) at least this many outages at
# once: a layer that starts being read brings its whole population, while a sparse one (today's
# layer 5 holds a handful) comes and goes one outage at a time, which is no change of the feed.
LAYER_CHANGE_OUTAGES = 10
_FEED_CHANGES: dict[tuple, list[dict]] = {}


def read_feed_changes(conn: sqlite3.Connection) -> list[dict]:
    """The changes of the feed the chart marks: the known ones (KNOWN_FEED_CHANGES), and those the
    history records (outage_versions.layers, and the legacy feed's hazardFlag): where the ArcGIS
    feed follows the legacy feed, and where a layer begins or ends with LAYER_CHANGE_OUTAGES or
    more outages at once, other than at the history's own start or end.

    Each is {"when", "label", "certainty"}. Kept per database until new versions come: reading
    them reads every version once.
    """
    newest = conn.execute("select max(id) from outage_versions").fetchone()[0]
    key = (conn.execute("pragma database_list").fetchone()[2], newest)
    if key not in _FEED_CHANGES:
        _FEED_CHANGES.clear()  # one database's at a time: a new version makes the old ones stale
        _FEED_CHANGES[key] = _recorded_feed_changes(conn) if newest is not None else []
    return [{"when": when, "label": label, "certainty": certainty}
            for when, label, certainty in KNOWN_FEED_CHANGES] + _FEED_CHANGES[key]


def _recorded_feed_changes(conn: sqlite3.Connection) -> list[dict]:
    # Each source's first and last snapshot: a legacy version has no layers and, unlike an ArcGIS
    # one, a hazardFlag; an ArcGIS version names its layers.
    layers: dict[str, list[int]] = {}
    legacy: list[int] = []
    for names, hazard, first, last in conn.execute(
            """select v.layers, v.hazardFlag is not null, min(r.first_snapshot), max(r.last_snapshot)
            from version_runs r join outage_versions v on v.id = r.version group by 1, 2"""):
        if names is None:
            if hazard:
                legacy = [min(legacy[0], first), max(legacy[1], last)] if legacy else [first, last]
            continue
        for layer in names.split(","):
            seen = layers.setdefault(layer, [first, last])
            seen[0], seen[1] = min(seen[0], first), max(seen[1], last)
    oldest, newest = conn.execute("select min(id), max(id) from snapshots").fetchone()
    changes = []
    arcgis = min((first for first, _ in layers.values()), default=None)
    if legacy and arcgis is not None and arcgis > legacy[0]:
        changes.append(_change(conn, arcgis, "The ArcGIS feed follows the legacy feed"))
    for layer, (first, last) in sorted(layers.items()):
        if first not in (oldest, arcgis):
            changes.append(_change(conn, first, f"Layer {layer} read from here on", layer))
        if last != newest:
            changes.append(_change(conn, last, f"Layer {layer} read until here", layer))
    return sorted((c for c in changes if c is not None), key=lambda change: change["when"])


def _change(conn: sqlite3.Connection, snapshot: int, label: str, layer: str | None = None) -> dict | None:
    """The change at `snapshot`; for a layer, only when that snapshot holds LAYER_CHANGE_OUTAGES or
    more of the layer's outages."""
    if layer is not None:
        outages = conn.execute(
            """select count(*) from version_runs r join outage_versions v on v.id = r.version
            where r.bucket = ? / ? and r.first_snapshot <= ? and r.last_snapshot >= ?
                and ',' || v.layers || ',' like ?""",
            (snapshot, BUCKET, snapshot, snapshot, f"%,{layer},%")).fetchone()[0]
        if outages < LAYER_CHANGE_OUTAGES:
            return None
    when = conn.execute("select [when] from snapshots where id = ?", (snapshot,)).fetchone()[0]
    return {"when": when, "label": label, "certainty": "recorded"}


def read_suspect_spans(conn: sqlite3.Connection, start: int | None, end: int | None) -> list[dict]:
    """The runs of suspect snapshots (snapshots.suspect, glitches of the feed the chart leaves out)
    from `start` to `end`: {"from", "to", "snapshots", "why"}, at most MAX_SUSPECT_SPANS of them."""
    rows = conn.execute(
        """select min([when]), max([when]), count(*), group_concat(distinct suspect)
        from (select [when], suspect, id - row_number() over (order by id) as run from snapshots
              where suspect is not null and [when] between ? and ?)
        group by run order by run limit ?""",
        (start if start is not None else 0, end if end is not None else 10**12, MAX_SUSPECT_SPANS))
    return [{"from": first, "to": last, "snapshots": count, "why": why} for first, last, count, why in rows]
