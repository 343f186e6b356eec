"""The trailers the scraper ends its commits with, and how the builder reads them back: one owner
for their names and the form of their times (scrapers/commits.py writes them, history.py reads them).

    Fetched-At: 2026-02-19T19:27:04Z      when the scraper read the feed
    Feed-Updated: 2026-02-19T19:24:00Z    PG&E's own time of its last refresh (status.json)
    Watched-Since: 2026-02-19T14:00:03Z   a loop read the feed on every mark from then on
    Scrape-Interval: 600                  that loop's interval, in seconds
"""

from __future__ import annotations

from .times import format_time, parse_time

FETCHED_AT = "Fetched-At"
FEED_UPDATED = "Feed-Updated"
WATCHED_SINCE = "Watched-Since"
SCRAPE_INTERVAL = "Scrape-Interval"

__all__ = [
    "FEED_UPDATED", "FETCHED_AT", "SCRAPE_INTERVAL", "WATCHED_SINCE", "format_time", "parse_time", "read_trailers",
]


def read_trailers(text: str, separator: str = "\x1f") -> dict[str, int]:
    """The timing trailers in `text` ("Key: value" entries, as git's %(trailers) writes them with
    `separator`): Fetched-At and Watched-Since as Unix seconds, Scrape-Interval as seconds. The
    first of each that reads counts; the others are left out.

    >>> read_trailers("Fetched-At: 2026-02-19T19:27:04Z\\x1fScrape-Interval: 600")
    {'Fetched-At': 1771529224, 'Scrape-Interval': 600}
    """
    found: dict[str, int] = {}
    for entry in text.split(separator):
        key, _, value = entry.partition(":")
        key = key.strip()
        if key in found or not value:
            continue
        if key == SCRAPE_INTERVAL:
            number = value.strip()
            if number.isdigit() and int(number) > 0:
                found[key] = int(number)
        elif key in (FETCHED_AT, WATCHED_SINCE):
            moment = parse_time(value)
            if moment is not None:
                found[key] = moment
    return found
