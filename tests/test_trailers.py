"""The trailers have one owner (pge_outages/trailers.py): what the scraper writes is what the builder reads."""

from __future__ import annotations

import pytest

from pge_outages.trailers import FETCHED_AT, SCRAPE_INTERVAL, WATCHED_SINCE, format_time, parse_time, read_trailers
from scrapers.commits import Stamp

T = 1771529224  # 2026-02-19T19:27:04Z


@pytest.mark.parametrize("stamp", [
    Stamp(T), Stamp(T, "2026-02-19T19:20:00Z"), Stamp(T, None, T - 3600, 600), Stamp(T, "x", T, 2),
])
def test_what_the_scraper_writes_the_builder_reads(stamp):
    read = read_trailers("\x1f".join(stamp.trailers()))
    expected = {FETCHED_AT: stamp.fetched_at}
    if stamp.watched_since is not None:
        expected[WATCHED_SINCE] = stamp.watched_since
    if stamp.interval is not None:
        expected[SCRAPE_INTERVAL] = stamp.interval
    assert read == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Fetched-At: soon", {}),
    ("Fetched-At: soon\x1fFetched-At: 2026-02-19T19:27:04Z", {FETCHED_AT: T}),
    ("Fetched-At: 2026-02-19T19:27:04Z\x1fFetched-At: 2026-02-19T20:00:00Z", {FETCHED_AT: T}),
    ("Fetched-At: 2026-02-19T11:27:04-08:00", {FETCHED_AT: T}),
    ("Fetched-At: 2026-02-19T19:27:04", {FETCHED_AT: T}),
    ("Scrape-Interval: 0\x1fScrape-Interval: ten", {}),
    ("Watched-Since: 2026-02-19T19:27:04Z\x1fScrape-Interval: 600", {WATCHED_SINCE: T, SCRAPE_INTERVAL: 600}),
    ("Signed-off-by: someone\x1f\x1f", {}),
])
def test_trailers_that_do_not_read_are_left_out(text, expected):
    assert read_trailers(text) == expected


def test_times_round_trip():
    assert format_time(T) == "2026-02-19T19:27:04Z"
    assert parse_time(format_time(T)) == T
    assert parse_time("") is None
