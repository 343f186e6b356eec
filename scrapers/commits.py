"""Describe and record a snapshot in git: what changed, the commit message, the commit and the push.

The base fetches and writes the files; this module turns two versions of them
into a commit message and a commit, and pushes it past other scrapers' pushes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pge_outages.trailers import FEED_UPDATED, FETCHED_AT, SCRAPE_INTERVAL, WATCHED_SINCE, format_time, parse_time
from pge_outages.wire import render_records

from . import areas, gitops
from .base import Feed, OutputError, Record, parse_snapshot, read_output, record_id, write_atomically


@dataclass(frozen=True)
class Stamp:
    """When a snapshot was read, written as trailers that no rebase can change.

    >>> Stamp(fetched_at=1771529224, feed_updated="2026-02-19T19:24:00Z").trailers()
    ['Fetched-At: 2026-02-19T19:27:04Z', 'Feed-Updated: 2026-02-19T19:24:00Z']

    `watched_since` is the fetch time of the first of an unbroken run of rounds,
    one on every mark of `interval` seconds, that ends with this one: the
    scraper looked at the feed all that time.
    """

    fetched_at: int
    feed_updated: str | None = None
    watched_since: int | None = None
    interval: int | None = None

    def trailers(self) -> list[str]:
        lines = [f"{FETCHED_AT}: {format_time(self.fetched_at)}"]
        if self.feed_updated:
            lines.append(f"{FEED_UPDATED}: {self.feed_updated}")
        if self.watched_since is not None:
            lines.append(f"{WATCHED_SINCE}: {format_time(self.watched_since)}")
        if self.interval is not None:
            lines.append(f"{SCRAPE_INTERVAL}: {self.interval}")
        return lines


@dataclass
class Changes:
    """What differs between two snapshots, as records keyed by outage id."""

    added: list[Record] = field(default_factory=list)
    removed: list[Record] = field(default_factory=list)
    changed: list[Record] = field(default_factory=list)


def customers(feed: Feed, record: Record) -> int:
    """The number of customers an outage affects, 0 when the feed does not say.

    >>> from scrapers.pge import LEGACY
    >>> customers(LEGACY, {"estCustAffected": "9"})
    9
    """
    try:
        return int(record.get(feed.customers_key) or 0)
    except (TypeError, ValueError):
        return 0


def diff_records(feed: Feed, previous: list[Record] | None, records: list[Record]) -> Changes:
    """Outages added, removed and changed between two snapshots, each list in id order.

    >>> from scrapers.pge import ARCGIS
    >>> diff_records(ARCGIS, [{"F_OUTAGE_ID": 1}], [{"F_OUTAGE_ID": 2}]).added
    [{'F_OUTAGE_ID': 2}]
    """
    # Compared as text, so an id the feed sent as a number once and as a string
    # later is the same outage.
    before = {str(record_id(feed, r)): r for r in previous or []}
    after = {str(record_id(feed, r)): r for r in records}
    changes = Changes()
    for key, record in after.items():
        if key not in before:
            changes.added.append(record)
        elif before[key] != record:
            changes.changed.append(record)
    changes.removed = [record for key, record in before.items() if key not in after]
    for group in (changes.added, changes.removed, changes.changed):
        group.sort(key=lambda r: _numeric_id(feed, r))
    return changes


def _numeric_id(feed: Feed, record: Record) -> tuple[int, str]:
    value = str(record_id(feed, record))
    return (int(value), value) if value.isdigit() else (-1, value)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _describe_outage(feed: Feed, record: Record) -> str:
    place = record.get(feed.place_key) or "unknown place"
    cause = record.get(feed.cause_key) or "cause unknown"
    count = _plural(customers(feed, record), "customer")
    return f"  {record_id(feed, record)} {place}: {count}, {cause}"


def commit_message(
    feed: Feed,
    previous: list[Record] | None,
    records: list[Record],
    skip_ci: bool = False,
    area_changes: str | None = None,
    stamp: Stamp | None = None,
) -> str:
    """A commit message: a one-line summary, the count per layer, the added and removed outages, the trailers.

    >>> from scrapers.pge import ARCGIS
    >>> before = [{"F_OUTAGE_ID": 1, "EST_CUSTOMERS": 5}]
    >>> print(commit_message(ARCGIS, before, [{"F_OUTAGE_ID": 2, "EST_CUSTOMERS": 1200, "CITY": "Oakland"}]))
    1 outage added, 1 removed, 0 changed; 1 outage, 1,200 customers affected
    <BLANKLINE>
    Added:
      2 Oakland: 1,200 customers, cause unknown
    <BLANKLINE>
    Removed:
      1 unknown place: 5 customers, cause unknown
    <BLANKLINE>

    With skip_ci a "[skip ci]" line follows the summary, so CI services that
    honour it leave scrape commits alone. With a stamp, its trailers
    (Fetched-At: ...) close the message.
    """
    changes = diff_records(feed, previous, records)
    total = sum(customers(feed, record) for record in records)
    lines = [
        f"{_plural(len(changes.added), 'outage')} added, {len(changes.removed):,} removed, "
        f"{len(changes.changed):,} changed; {_plural(len(records), 'outage')}, "
        f"{_plural(total, 'customer')} affected"
    ]
    if skip_ci:
        # CircleCI reads only the first 250 characters of a message for it.
        lines += ["", "[skip ci]"]
    parts = _count_parts(feed, records)
    if parts:
        lines += ["", "; ".join(parts) + "."]
    if area_changes:
        lines += ["", area_changes]
    for title, group in (("Added:", changes.added), ("Removed:", changes.removed)):
        if group:
            lines += ["", title] + [_describe_outage(feed, record) for record in group]
    if stamp is not None:
        lines += ["", *stamp.trailers()]
    return "\n".join(lines) + "\n"


def liveness_message(feed: Feed, records: list[Record], stamp: Stamp, skip_ci: bool = False) -> str:
    """The message of an empty commit that says the scraper looked and the feed had not changed.

    >>> from scrapers.pge import ARCGIS
    >>> liveness_message(ARCGIS, [{"F_OUTAGE_ID": 1, "EST_CUSTOMERS": 5}], Stamp(fetched_at=0)).splitlines()[0]
    'No change; 1 outage, 5 customers affected'
    """
    total = sum(customers(feed, record) for record in records)
    lines = [f"No change; {_plural(len(records), 'outage')}, {_plural(total, 'customer')} affected"]
    if skip_ci:
        lines += ["", "[skip ci]"]
    lines += [
        "",
        "A liveness mark: the scraper read the feed and it had not changed since the last commit.",
        "",
        *stamp.trailers(),
    ]
    return "\n".join(lines) + "\n"


def _count_parts(feed: Feed, records: list[Record]) -> list[str]:
    """"Layer 4: 1,694 outages, 88,370 customers" for each part of the feed, in order."""
    if feed.part_key is None:
        return []
    tallies: dict[Any, list[int]] = {}
    for record in records:
        for part in record.get(feed.part_key) or ():
            tally = tallies.setdefault(part, [0, 0])
            tally[0] += 1
            tally[1] += customers(feed, record)
    return [
        f"Layer {part}: {_plural(count, 'outage')}, {_plural(total, 'customer')}"
        for part, (count, total) in sorted(tallies.items())
    ]


def commit_snapshot(
    feed: Feed,
    output: Path,
    records: list[Record],
    identity: gitops.Identity,
    skip_ci: bool = False,
    areas_output: Path | None = None,
    stamp: Stamp | None = None,
    area_note: str | None = None,
) -> str | None:
    """Commit output (and areas_output) in the repository that holds it if either differs from HEAD.

    >>> commit_snapshot(feed, Path("outages.json"), records,  # doctest: +SKIP
    ...                 gitops.Identity("bot", "bot@example.com"))

    Returns the new commit's hash, or None. The message compares with the
    committed versions, so an earlier run's uncommitted write is described too.
    """
    repo = gitops.find_repo(output)
    relatives = [gitops.relative_path(repo, output)]
    if areas_output is not None:
        relatives.append(gitops.relative_path(repo, areas_output))
    if not gitops.has_changes(repo, *relatives):
        return None
    committed = gitops.read_committed(repo, relatives[0])
    try:
        previous = parse_snapshot(committed, relatives[0]) if committed is not None else None
    except OutputError:
        previous = None  # a broken committed version: describe every outage as added
    area_changes = None
    if areas_output is not None:
        area_changes = describe_area_changes(
            areas.read_areas(gitops.read_committed(repo, relatives[1])),
            areas.read_areas(read_output(areas_output)),
        )
        if area_note:
            detail = area_note.removeprefix("Areas: ")
            area_changes += " " + detail[:1].upper() + detail[1:]
    message = commit_message(feed, previous, records, skip_ci, area_changes, stamp)
    return gitops.commit_files(repo, relatives, message, identity)


def describe_area_changes(before: Mapping[int, str], after: Mapping[int, str]) -> str:
    """"Areas: 2 added, 1 removed, 3 changed; 25 in all." for the body of a commit message."""
    added = len(after.keys() - before.keys())
    removed = len(before.keys() - after.keys())
    changed = sum(before[key] != after[key] for key in before.keys() & after.keys())
    return f"Areas: {added:,} added, {removed:,} removed, {changed:,} changed; {len(after):,} in all."


def liveness_due(last_look: int | None, window_start: int | None) -> bool:
    """Whether a liveness mark is due: the branch holds no look at the feed since window_start.

    >>> liveness_due(last_look=1000, window_start=1800)
    True

    window_start is the start of the current heartbeat window (None: no marks);
    last_look the newest Fetched-At on the branch (None: none on record). One
    mark per window at most, so 30-minute windows give at most 48 marks a day.
    """
    return window_start is not None and (last_look is None or last_look < window_start)


def last_fetched_at(repo: Path, depth: int = 100) -> int | None:
    """When the scraper last recorded a look at the feed on this branch: the Fetched-At of the most
    recent of the last `depth` first-parent commits that has one; None when none has (a history from
    before trailers). Snapshots only go on top of older ones (record_snapshot), so it is the newest.

    >>> last_fetched_at(Path("history"))  # doctest: +SKIP

    A commit without the trailer (a person's, or an older scraper's) says nothing of when the feed was read.
    """
    result = gitops.run_git(
        repo, "log", "--first-parent", f"-{depth}",
        f"--format=%x00%(trailers:key={FETCHED_AT},valueonly,separator=%x01)", check=False,
    )
    if result.returncode != 0:
        return None  # no commits yet
    for entry in result.stdout.split("\x00")[1:]:
        if entry.strip():
            return parse_time(entry.split("\x01")[0])
    return None


@dataclass(frozen=True)
class Recorded:
    """What a round left on the branch: the commit it made (None: none), whether it was a liveness mark,
    and whether another scraper had already pushed a newer snapshot, so ours was dropped."""

    sha: str | None
    liveness: bool = False
    superseded: bool = False


@dataclass(frozen=True)
class Snapshot:
    """One round's snapshot, ready to be committed: the feed, the files, what they hold, and when it was read.

    >>> Snapshot(pge.ARCGIS, Path("outages.json"), records, Stamp(fetched_at=1771529224))  # doctest: +SKIP

    `liveness_window` is the start of the current heartbeat window (None: no liveness marks).
    """

    feed: Feed
    output: Path
    records: list[Record]
    stamp: Stamp
    areas_output: Path | None = None
    areas_data: bytes | None = None
    area_note: str | None = None
    liveness_window: int | None = None
    skip_ci: bool = False


def record_snapshot(snapshot: Snapshot, identity: gitops.Identity) -> Recorded:
    """Commit the snapshot's files if they changed, or else an empty liveness commit if one is due.

    >>> record_snapshot(Snapshot(feed, Path("outages.json"), records, stamp,  # doctest: +SKIP
    ...                          liveness_window=1800), identity)

    A snapshot older than the newest commit's (another scraper looked later) is
    not put on top of it: that would tell readers the feed went back in time.
    """
    repo = gitops.find_repo(snapshot.output)
    last_look = last_fetched_at(repo)
    if last_look is not None and last_look > snapshot.stamp.fetched_at:
        _restore_committed(repo, snapshot)
        return Recorded(None, superseded=True)
    sha = commit_snapshot(
        snapshot.feed, snapshot.output, snapshot.records, identity, snapshot.skip_ci,
        snapshot.areas_output, snapshot.stamp, snapshot.area_note,
    )
    if sha is not None:
        return Recorded(sha)
    if liveness_due(last_look, snapshot.liveness_window):
        message = liveness_message(snapshot.feed, snapshot.records, snapshot.stamp, snapshot.skip_ci)
        return Recorded(gitops.commit_empty(repo, message, identity), liveness=True)
    return Recorded(None)


def _restore_committed(repo: Path, snapshot: Snapshot) -> None:
    """Put the files back to what HEAD holds, so the working tree matches the branch after a dropped snapshot."""
    for path in (snapshot.output, snapshot.areas_output):
        if path is None:
            continue
        data = gitops.read_committed(repo, gitops.relative_path(repo, path))
        if data is not None:
            write_atomically(path, data)


def push_snapshot(
    snapshot: Snapshot, identity: gitops.Identity, remote: str, attempts: int, recorded: Recorded
) -> Recorded:
    """Push the branch; when another scraper pushed first, record our snapshot again on top of theirs and retry.

    >>> push_snapshot(snapshot, identity, "origin", 5, record_snapshot(snapshot, identity))  # doctest: +SKIP

    Returns what is on the branch once pushed: the commit made again on top of
    theirs, none when theirs already held the same feed state (one commit per
    state) or a newer one.
    """
    repo = gitops.find_repo(snapshot.output)
    outcome = recorded

    def recommit() -> bool:
        nonlocal outcome
        write_atomically(snapshot.output, render_records(snapshot.records))
        if snapshot.areas_output is not None and snapshot.areas_data is not None:
            write_atomically(snapshot.areas_output, snapshot.areas_data)
        outcome = record_snapshot(snapshot, identity)
        return outcome.sha is not None

    gitops.push_with_rebase(repo, remote, identity, attempts, recorded.sha is not None, recommit, FETCHED_AT)
    return outcome
