"""Storms as events, and the IEEE 1366 reliability figures behind them, derived from the snapshots.

After each build, `update_events` writes `reliability_days` (customer-minutes per Pacific day, with
major event days by the standard's 2.5-beta method), `reliability_basis` (the customers served and
the thresholds) and `events` (each stretch of unusual outage activity, sized). Only trustworthy
snapshots count, each for its trusted minutes (glitches.py): suspect and blind time never creates,
extends or sizes an event.
"""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from . import where
from .schema import BUCKET, get_meta, set_meta
from .times import PACIFIC, format_time

# PG&E's published count of electric customers: "approximately 5.5 million electric customer
# accounts" (PG&E Corporation, company profile, pge.com). SAIDI and SAIFI divide by it; change it
# with `update reliability_basis set customers_served = ...` (a build keeps what is set).
CUSTOMERS_SERVED = 5_500_000
CUSTOMERS_SERVED_SOURCE = (
    "PG&E company profile (pge.com): approximately 5.5 million electric customer accounts"
)
# IEEE 1366's major event day rule: a day whose SAIDI exceeds exp(alpha + 2.5 beta), alpha and
# beta the mean and standard deviation of ln(daily SAIDI) over the last five years of days.
BETA_MULTIPLE = 2.5
STANDARD_YEARS = 5
# The standard deviation of a normal distribution is 1.4826 times its median absolute deviation.
MAD_TO_SD = 1.4826
# Two stretches of unusual activity less than this far apart are one event.
MERGE_GAP = 6 * 3600
# An event lasts while customers out stay above this share of the onset level (hysteresis: a
# storm that dips below its onset for an hour is not two storms).
OFF_SHARE = 0.5
# Shares of the peak whose restoration is timed.
RESTORED = (0.5, 0.9, 0.99)
# The worst counties and places of an event: this many of each.
WORST = 5
DAY_MINUTES = 24 * 60


@dataclass
class Point:
    """A trustworthy snapshot: its id, time, customers out and the minutes it counts for."""

    id: int
    when: int
    customers: int
    minutes: float


def pacific_day(when: int) -> date:
    return datetime.fromtimestamp(when, PACIFIC).date()


def event_key(day: date, nth: int = 1) -> str:
    """An event's key, which lasts as the history grows: the Pacific day it began, `.2` and on for a
    second event begun that day. Its id numbers events by start and may change when a longer
    history moves the thresholds; its start may move by an hour or so, its day hardly ever. Pages
    and the alerts feed name events by it.

    >>> event_key(date(2019, 10, 26)), event_key(date(2019, 10, 27), 2)
    ('2019-10-26', '2019-10-27.2')
    """
    return day.isoformat() if nth == 1 else f"{day.isoformat()}.{nth}"


def _midnight(day: date) -> int:
    return int(datetime.combine(day, time(0), PACIFIC).timestamp())


def split_by_day(start: int, seconds: float) -> list[tuple[date, float]]:
    """The seconds of [start, start + seconds) that fall in each Pacific day.

    >>> split_by_day(1572159600 - 600, 1200)  # 10 minutes either side of midnight, 27 Oct 2019
    [(datetime.date(2019, 10, 26), 600), (datetime.date(2019, 10, 27), 600)]
    """
    parts = []
    day = pacific_day(start)
    at, end = start, start + seconds
    while at < end:
        following = _midnight(day + timedelta(days=1))
        step = min(end, following) - at
        parts.append((day, step))
        at, day = following, day + timedelta(days=1)
    return parts


def major_event_threshold(values: list[float], robust: bool = False) -> float | None:
    """IEEE 1366's 2.5-beta threshold of a series of daily values (SAIDI, or customer-minutes: the
    rule is the same on either): exp(alpha + 2.5 beta) over the days above zero; None under 2 days.

    `robust` takes alpha as the median of the logarithms and beta from their median absolute
    deviation, so that the days it is meant to find do not raise it: in one month holding a shutoff,
    the standard's mean and deviation put the threshold above every day.

    >>> round(major_event_threshold([math.e, math.e ** 3]), 3)  # alpha 2, beta sqrt(2)
    253.543
    """
    logs = [math.log(value) for value in values if value > 0]
    if len(logs) < 2:
        return None
    if robust:
        alpha = statistics.median(logs)
        beta = MAD_TO_SD * statistics.median(abs(x - alpha) for x in logs)
    else:
        alpha, beta = statistics.mean(logs), statistics.stdev(logs)
    return math.exp(alpha + BETA_MULTIPLE * beta)


def read_points(conn: sqlite3.Connection) -> list[Point]:
    return [Point(*row) for row in conn.execute(
        "select id, [when], customers_affected, trusted_minutes from snapshots where suspect is null order by id")]


def daily_figures(conn: sqlite3.Connection, points: list[Point]) -> dict[date, list[float]]:
    """Per Pacific day from the first snapshot's to the last's: [seen hours, customer-minutes,
    outages started, customers interrupted], each outage counted on the day it was first seen,
    with its most customers."""
    days: dict[date, list[float]] = {}
    bounds = conn.execute("select min([when]), max([when]) from snapshots").fetchone()
    if bounds[0] is None:
        return days
    day, last = pacific_day(bounds[0]), pacific_day(bounds[1])
    while day <= last:
        days[day] = [0.0, 0.0, 0, 0]
        day += timedelta(days=1)
    # Most snapshots stand for time within one day: that day is found among the midnights.
    order = list(days)
    midnights = [_midnight(day) for day in order] + [_midnight(last + timedelta(days=1))]
    for point in points:
        seconds = point.minutes * 60
        index = bisect_right(midnights, point.when) - 1
        if 0 <= index < len(order) and point.when + seconds <= midnights[index + 1]:
            parts = [(order[index], seconds)]
        else:
            parts = split_by_day(point.when, seconds)
        for day, part in parts:
            figures = days.setdefault(day, [0.0, 0.0, 0, 0])
            figures[0] += part / 3600
            figures[1] += point.customers * part / 60
    for when, outages, customers in conn.execute(
        """select s.[when], count(*), total(coalesce(o.max_estCustAffected, 0))
        from outages o join snapshots s on s.id = o.first_snapshot group by o.first_snapshot"""
    ):
        figures = days[pacific_day(when)]
        figures[2] += outages
        figures[3] += int(customers)
    return days


@dataclass
class Span:
    """A stretch of trustworthy snapshots, points[first..last] (indexes)."""

    first: int
    last: int


def find_events(points: list[Point], threshold: float) -> list[Span]:
    """The events of a series, given the daily threshold of unusual customer-minutes.

    The onset level is the customers out which, held for a whole day, would make it unusual
    (threshold / 1440). A stretch begins at a snapshot at or above it and lasts, back and forth,
    while customers out stay above OFF_SHARE of it (and above the series' median); stretches less
    than MERGE_GAP apart (from the end of what the one was seen for to the other's first snapshot)
    are one; a stretch is an event when its own customer-minutes reach the threshold: a day's worth
    of the unusual.
    """
    onset = threshold / DAY_MINUTES
    # Never below the usual level: a storm is over when things are back to normal.
    floor = max(onset * OFF_SHARE, statistics.median(p.customers for p in points)) if points else onset
    stretches: list[Span] = []
    index = 0
    while index < len(points):
        if points[index].customers < onset:
            index += 1
            continue
        first = index
        while first > 0 and points[first - 1].customers > floor:
            first -= 1
        last = index
        while last + 1 < len(points) and points[last + 1].customers > floor:
            last += 1
        if stretches and (stretches[-1].last >= first - 1
                          or points[first].when - _seen_until(points[stretches[-1].last]) < MERGE_GAP):
            stretches[-1].last = last
        else:
            stretches.append(Span(first, last))
        index = last + 1
    return [span for span in stretches
            if sum(p.customers * p.minutes for p in points[span.first:span.last + 1]) >= threshold]


def _seen_until(point: Point) -> float:
    return point.when + point.minutes * 60


def restoration_hours(points: list[Point], peak: int, floor: float) -> list[float | None]:
    """Hours from the peak (points[peak]) until customers out first fell to each share of RESTORED
    restored, or to `floor` (the history's usual level) if that is higher; None where not yet."""
    top = points[peak]
    answers: list[float | None] = []
    for share in RESTORED:
        level = max(top.customers - share * top.customers, floor)
        answer = None
        for point in points[peak + 1:]:
            if point.customers <= level:
                answer = (point.when - top.when) / 3600
                break
        answers.append(answer)
    return answers


class _Trusted:
    """Which snapshot ids are trustworthy, to clip an outage's runs to the snapshots that count."""

    def __init__(self, points: list[Point]):
        self.ids = [p.id for p in points]

    def clip(self, first: int, last: int) -> tuple[int, int] | None:
        """The first and last trustworthy snapshot ids within [first, last], or None."""
        low = bisect_left(self.ids, first)
        high = bisect_right(self.ids, last) - 1
        if low > high:
            return None
        return self.ids[low], self.ids[high]


def describe_span(conn: sqlite3.Connection, trusted: _Trusted, first: int, last: int) -> dict:
    """What the outages seen in snapshots first..last (trustworthy ones only) add up to: their
    number, the sum of each one's peak, the cause mix (outages by the cause they last gave), and
    the customers affected, estimated by county, with the worst counties and places.

    The estimate sums, over counties, the most customers out at once in the county during the
    span. It reads only what each snapshot shows, so an outage the feed renumbers, splits or
    merges is never counted twice; it is never below the peak snapshot's customers out, and
    misses a county's customers only when a second wave there hits others than the first did.
    """
    runs = conn.execute(
        f"""select r.first_snapshot, r.last_snapshot, v.outage, coalesce(v.estCustAffected, 0),
            v.latitude, v.longitude, v.cause, v.regionName, v.county_fips, v.id
        from version_runs r join outage_versions v on v.id = r.version
        where r.bucket between ? / {BUCKET} and ? / {BUCKET}
            and r.first_snapshot <= ? and r.last_snapshot >= ?""",
        (first, last, last, first),
    ).fetchall()
    causes = dict(conn.execute("select id, name from causes"))
    regions = dict(conn.execute("select id, name from regions"))
    outage_peak: dict[int, int] = {}
    outage_cause: dict[int, tuple[int, int | None]] = {}
    kept = []
    for run_first, run_last, outage, customers, latitude, longitude, cause, region, fips, version in runs:
        clipped = trusted.clip(max(run_first, first), min(run_last, last))
        if clipped is None:
            continue
        outage_peak[outage] = max(outage_peak.get(outage, 0), customers)
        if outage not in outage_cause or version > outage_cause[outage][0]:
            outage_cause[outage] = (version, cause)
        kept.append((clipped, customers, fips, (latitude, longitude, regions.get(region))))
    # A place is PG&E's name where the record gives one, else the one its point is given (where.py).
    unnamed = list({(lat, lon): None for *_, (lat, lon, region) in kept if not region})
    inferred = dict(zip(unnamed, where.shipped_gazetteer().places_of(unnamed), strict=True)) if unnamed else {}
    names = dict(conn.execute("select fips, name from counties"))
    by_county = _peaks((clipped, customers, fips) for clipped, customers, fips, _ in kept)
    by_place = _peaks((clipped, customers, region or inferred.get((lat, lon)))
                      for clipped, customers, _, (lat, lon, region) in kept)
    mix: dict[str, int] = defaultdict(int)
    for _, cause in outage_cause.values():
        mix[causes.get(cause, "unknown") if cause is not None else "unknown"] += 1
    return {
        "outages": len(outage_peak),
        "sum_of_outage_peaks": sum(outage_peak.values()),
        "customers_affected": sum(by_county.values()),
        "causes": _ranked(mix, len(mix)),
        "worst_counties": _ranked({names.get(f, str(f)): n for f, n in by_county.items() if f is not None}, WORST),
        "worst_places": _ranked({p: n for p, n in by_place.items() if p}, WORST),
    }


def _peaks(spans: Iterable[tuple[tuple[int, int], int, Any]]) -> dict[Any, int]:
    """For each key, the most customers out at once: spans are ((first, last), customers, key),
    the snapshots one outage version was seen in with its customers."""
    steps: dict[Any, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for (first, last), customers, key in spans:
        steps[key][first] += customers
        steps[key][last + 1] -= customers
    peaks = {}
    for key, changes in steps.items():
        level = best = 0
        for _, change in sorted(changes.items()):
            level += change
            best = max(best, level)
        peaks[key] = best
    return peaks


def _ranked(counts: dict[str, int], limit: int) -> str:
    """A JSON object of the `limit` largest counts, largest first (ties by name)."""
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return json.dumps(dict(top), separators=(",", ":"))


_DETAIL = ("outages", "sum_of_outage_peaks", "customers_affected", "causes", "worst_counties",
           "worst_places")
EVENT_COLUMNS = (
    "id", "key", "start", "end", "hours", "first_snapshot", "last_snapshot", "peak_at", "peak_snapshot",
    "peak_customers", "customer_hours", "restore_50_hours", "restore_90_hours", "restore_99_hours",
    *_DETAIL, "ongoing",
)


def update_events(conn: sqlite3.Connection) -> None:
    """Write reliability_days, reliability_basis's thresholds and events anew from the snapshots, in
    one transaction. What an event's outages add up to is kept from the last build when its
    snapshots are the same and settled (their flags and weights final), so it is read once."""
    points = read_points(conn)
    days = daily_figures(conn, points)
    last_day = max(days) if days else None
    recent = [figures[1] for day, figures in days.items()
              if last_day is not None and day > last_day - timedelta(days=365 * STANDARD_YEARS)]
    # Rounded as stored.
    standard, robust = (None if t is None else round(t, 1)
                        for t in (major_event_threshold(recent), major_event_threshold(recent, robust=True)))
    years = len(recent) / 365.25
    settled = int(get_meta(conn, "minutes_settled_before") or 1)
    kept = {
        (row[0], row[1]): row[2:]
        for row in conn.execute(
            f"select first_snapshot, last_snapshot, {', '.join(_DETAIL)} from events where last_snapshot < ?",
            (settled,))
    }
    rows = []
    if robust is not None and points:
        usual = statistics.median(p.customers for p in points)
        trusted = _Trusted(points)
        newest = points[-1].id
        begun_on: dict[date, int] = {}
        for number, span in enumerate(find_events(points, robust), start=1):
            stretch = points[span.first:span.last + 1]
            peak = max(range(span.first, span.last + 1), key=lambda i: (points[i].customers, -i))
            first, last = stretch[0], stretch[-1]
            detail = kept.get((first.id, last.id))
            if detail is None:
                described = describe_span(conn, trusted, first.id, last.id)
                detail = tuple(described[name] for name in _DETAIL)
            end = _seen_until(last)
            day = pacific_day(first.when)
            begun_on[day] = begun_on.get(day, 0) + 1
            rows.append((
                number, event_key(day, begun_on[day]), format_time(first.when), format_time(end),
                round((end - first.when) / 3600, 2), first.id, last.id,
                format_time(points[peak].when), points[peak].id, points[peak].customers,
                round(sum(p.customers * p.minutes for p in stretch) / 60, 1),
                *(None if h is None else round(h, 2) for h in restoration_hours(points, peak, usual)),
                *detail, int(last.id == newest),
            ))
    # Customer-minutes as stored, so that a day is above a threshold as the tables show it, or not.
    day_rows = [(day, seen, round(minutes, 1), started, interrupted)
                for day, (seen, minutes, started, interrupted) in sorted(days.items())]
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("delete from reliability_days")
        conn.executemany(
            "insert into reliability_days values (?, ?, ?, ?, ?, ?, ?)",
            [(day.isoformat(), round(seen, 3), minutes, int(started), int(interrupted),
              int(standard is not None and minutes > standard), int(robust is not None and minutes > robust))
             for day, seen, minutes, started, interrupted in day_rows],
        )
        conn.execute(
            "insert or ignore into reliability_basis (id, customers_served, source) values (1, ?, ?)",
            (CUSTOMERS_SERVED, CUSTOMERS_SERVED_SOURCE),
        )
        conn.execute(
            """update reliability_basis set days = ?, years = ?, provisional = ?,
            med_threshold_customer_minutes = ?, unusual_threshold_customer_minutes = ? where id = 1""",
            (len(recent), round(years, 2), int(years < STANDARD_YEARS), standard, robust),
        )
        conn.execute("delete from events")
        conn.executemany(
            f"insert into events ({', '.join(f'[{c}]' for c in EVENT_COLUMNS)}) "
            f"values ({', '.join('?' for _ in EVENT_COLUMNS)})", rows)
        set_meta(conn, "events_through", str(conn.execute("select max(id) from snapshots").fetchone()[0] or 0))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def events_are_current(conn: sqlite3.Connection) -> bool:
    """Whether the events were written after the last snapshot was (a build killed between its last
    batch and the events leaves them behind, and the next build writes them)."""
    newest = conn.execute("select max(id) from snapshots").fetchone()[0] or 0
    return get_meta(conn, "events_through") == str(newest)
