"""Histories whose truth is known: a synthetic feed every ten minutes, and what a scraper looking
at some of those moments commits, as this project's scraper does (the file when it changed, its
trailers, a liveness mark in each half hour with no commit). Used by tests/test_coverage.py and
tests/test_coverage_browser.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pge_outages.synthetic import INTERVAL, iter_versions
from pge_outages.trailers import format_time as iso

from .helpers import git

HEARTBEAT = 1800
TICKS = 432  # three days of ten-minute moments


@dataclass
class Truth:
    """The feed at every moment: its records, and when each moment was."""

    times: list[int]
    states: list[list[dict]]
    blobs: list[bytes]

    def customers(self, tick: int) -> int:
        return sum(r["EST_CUSTOMERS"] for r in self.states[tick])


@dataclass
class Scraped:
    """What a scraper left: the repository, the moments it looked at, the snapshot ticks."""

    repo: Path
    looked: list[int]
    snapshots: list[int] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)


def truth(seed: int = 3, ticks: int = TICKS, outages: int = 30) -> Truth:
    times, states, blobs = [], [], []
    for when, _, blob in iter_versions(ticks, era="arcgis", seed=seed, outages=outages, storms=1):
        times.append(when)
        states.append(json.loads(blob))
        blobs.append(blob)
    return Truth(times, states, blobs)


def scrape(path: Path, feed: Truth, looked: list[int], loop: bool = True, trailers: bool = True,
           restarts: tuple[int, ...] = ()) -> Scraped:
    """Commit what a scraper looking at the ticks in `looked` would: the file when it changed, and a
    liveness mark when a half hour of the clock has no look on record. In a loop, Watched-Since
    is the first tick of each unbroken run of ticks, and of each run after a restart of the loop."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    scraped = Scraped(path, looked)
    committed: bytes | None = None
    last_look: int | None = None
    since: int | None = None
    previous: int | None = None
    for tick in looked:
        when = feed.times[tick]
        if previous is None or tick != previous + 1 or tick in restarts:
            since = when  # the watch starts again
        previous = tick
        lines = [f"Fetched-At: {iso(when)}"]
        if loop:
            lines += [f"Watched-Since: {iso(since)}", f"Scrape-Interval: {INTERVAL}"]
        message = "\n".join(lines) if trailers else ""
        env = {"GIT_COMMITTER_DATE": f"{when} +0000", "GIT_AUTHOR_DATE": f"{when} +0000"}
        if feed.blobs[tick] != committed:
            (path / "outages.json").write_bytes(feed.blobs[tick])
            git(path, "add", "outages.json")
            git(path, "commit", "-q", "-m", f"A change\n\n{message}", env=env)
            committed = feed.blobs[tick]
            scraped.snapshots.append(tick)
            last_look = when
        elif trailers and (last_look is None or last_look < when // HEARTBEAT * HEARTBEAT):
            git(path, "commit", "-q", "--allow-empty", "-m", f"No change; a liveness mark\n\n{message}", env=env)
            scraped.marks.append(tick)
            last_look = when
    return scraped
