"""One round of the scraper: read the feed, write the files, commit what changed (or a liveness mark), push.

The command runs one round; the loop (`loop.py`) runs one on every mark of the
clock. Errors are raised as the core's own exceptions for the caller to report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from . import gitops
from .base import USER_AGENT, Feed, FeedError, FetchPolicy, http_get_json, scrape_to_file
from .commits import Recorded, Snapshot, Stamp, customers, push_snapshot, record_snapshot

STATUS_TIMEOUT = 10.0  # seconds: the status is a nicety, never worth holding a round up


@dataclass(frozen=True)
class Job:
    """What every round of one scraper does: which feed, which files, how to commit and push.

    >>> Job(pge.ARCGIS, Path("outages.json"), None, pge.MAPSERVER_URL, FetchPolicy(),  # doctest: +SKIP
    ...     identity, commit=True)

    `heartbeat` is the length in seconds of the windows of the clock in which at
    most one liveness mark is made (0: none); `every` the loop's interval.
    """

    feed: Feed
    output: Path
    areas: Path | None
    url: str
    policy: FetchPolicy
    identity: gitops.Identity
    commit: bool = False
    push: bool = False
    remote: str = "origin"
    push_attempts: int = 5
    skip_ci: bool = False
    heartbeat: int = 1800
    every: int | None = None

    @property
    def paths(self) -> list[Path]:
        return [self.output] if self.areas is None else [self.output, self.areas]


@dataclass(frozen=True)
class RoundReport:
    """What one round did, and the line that says so."""

    line: str
    fetched_at: int
    recorded: Recorded | None


def new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def read_feed_updated(job: Job, session: requests.Session) -> str | None:
    """The feed's own time of its last refresh, or None when it has none or does not answer."""
    if job.feed.fetch_updated is None:
        return None
    timeout = min(job.policy.timeout, STATUS_TIMEOUT)
    try:
        return job.feed.fetch_updated(lambda url, params: http_get_json(session, url, params, timeout), job.url)
    except FeedError:
        return None


def run_round(
    job: Job,
    session: requests.Session,
    mark: float | None = None,
    watched_since: int | None = None,
    clock: Callable[[], float] = time.time,
) -> RoundReport:
    """Scrape once: write the files when the feed changed and, with job.commit, commit (and push) them.

    >>> run_round(job, new_session()).line  # doctest: +SKIP

    The line reads, for example, "outages.json: 12 outages, 345 customers
    affected; written; committed 0a1b2c3d4e5f". `mark` is the mark of the clock the round stands for (default: now): a
    liveness mark is made when the branch holds no look at the feed since the
    start of its heartbeat window. In a loop (job.every), `watched_since` is
    when the unbroken run of rounds this one ends began (None: with this one).
    Raises FeedError or OutputError with the files left as they were, GitError
    when the commit or push failed.
    """
    result = scrape_to_file(job.feed, job.output, job.url, session, job.policy, areas_output=job.areas)
    fetched_at = int(clock())
    # Asked after the layers, so a feed that is down costs no extra wait.
    feed_updated = read_feed_updated(job, session) if job.commit else None
    if job.every is not None and watched_since is None:
        watched_since = fetched_at  # the first round of an unbroken run
    stamp = Stamp(fetched_at, feed_updated, watched_since, job.every)
    total = sum(customers(job.feed, record) for record in result.records)
    count = len(result.records)
    parts = [
        f"{job.output}: {count:,} outage{'' if count == 1 else 's'}, "
        f"{total:,} customer{'' if total == 1 else 's'} affected",
        "written" if result.written else "unchanged",
    ]
    if job.areas is not None and result.areas is None and result.area_note:
        parts.append(f"{job.areas}: {result.area_note.removeprefix('Areas: ').rstrip('.')}")
    elif job.areas is not None:
        count_areas = len(result.areas or {})
        parts.append(
            f"{job.areas}: {count_areas:,} area{'' if count_areas == 1 else 's'}, "
            + ("written" if result.areas_written else "unchanged")
        )
        if result.area_note:
            parts.append(result.area_note.removeprefix("Areas: ").rstrip("."))
    if result.rechecked:
        parts.append("refetched after an empty answer" if count else "empty feed confirmed by a second fetch")
    recorded = None
    if job.commit:
        window = None
        if job.heartbeat > 0:
            moment = mark if mark is not None else fetched_at
            window = int(moment // job.heartbeat * job.heartbeat)
        snapshot = Snapshot(
            job.feed, job.output, result.records, stamp, job.areas,
            # Areas kept from before (layer 8 failed) are not ours to write again after a rebase:
            # the other scraper's may be newer.
            result.areas_data,
            result.area_note, window, job.skip_ci,
        )
        recorded = record_snapshot(snapshot, job.identity)
        parts.append(_describe(recorded, "committed"))
        repo = gitops.find_repo(job.output)
        if job.push and recorded.sha is None and not gitops.has_unpushed(repo, job.remote):
            parts.append("nothing to push")  # no round need ask the remote when it has nothing new
        elif job.push:
            ours = recorded
            recorded = push_snapshot(snapshot, job.identity, job.remote, job.push_attempts, recorded)
            head = gitops.run_git(repo, "rev-parse", "HEAD").stdout.strip()
            parts.append(f"pushed {head[:12]} to {job.remote}")
            if recorded.superseded:
                parts.append("another scraper had pushed a newer snapshot")
            elif ours.sha is not None and recorded.sha is None:
                parts.append("another scraper had pushed the same state first")
            elif ours.sha is not None and recorded.sha != ours.sha:
                parts.append("made again on top of another scraper's push")
    return RoundReport("; ".join(parts), fetched_at, recorded)


def _describe(recorded: Recorded, verb: str) -> str:
    if recorded.superseded:
        return "another scraper had committed a newer snapshot"
    if recorded.sha is None:
        return "nothing to commit"
    kind = "liveness mark" if recorded.liveness else ""
    return f"{verb} {kind + ' ' if kind else ''}{recorded.sha[:12]}"
