"""Describe and record a snapshot in git: what changed, the commit message, the commit and the push.

The base fetches and writes the files; this module turns two versions of them
into a commit message and a commit, and pushes it past other scrapers' pushes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import areas, gitops
from .base import Feed, OutputError, Record, parse_snapshot, read_output, record_id, render_records, write_atomically


@dataclass
class Changes:
    """What differs between two snapshots, as records keyed by outage id."""

    added: list[Record] = field(default_factory=list)
    removed: list[Record] = field(default_factory=list)
    changed: list[Record] = field(default_factory=list)


def customers(feed: Feed, record: Record) -> int:
    """The number of customers an outage affects, 0 when the feed does not say.

    Example: customers(legacy_feed, {"estCustAffected": "9"}) == 9
    """
    try:
        return int(record.get(feed.customers_key) or 0)
    except (TypeError, ValueError):
        return 0


def diff_records(feed: Feed, previous: list[Record] | None, records: list[Record]) -> Changes:
    """Outages added, removed and changed between two snapshots, each list in id order.

    Example: diff_records(feed, [{"F_OUTAGE_ID": 1}], [{"F_OUTAGE_ID": 2}]).added == [{"F_OUTAGE_ID": 2}]
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
) -> str:
    """A commit message: a one-line summary, the count per layer, then the added and removed outages.

    Example first line: "12 outages added, 3 removed, 40 changed; 1,702 outages, 88,537 customers affected"
    With skip_ci a "[skip ci]" line follows the summary, so CI services that
    honour it leave scrape commits alone.
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
) -> str | None:
    """Commit output (and areas_output) in the repository that holds it if either differs from HEAD.

    Example: commit_snapshot(feed, Path("outages.json"), records, gitops.Identity("bot", "bot@example.com"))
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
    message = commit_message(feed, previous, records, skip_ci, area_changes)
    return gitops.commit_files(repo, relatives, message, identity)


def describe_area_changes(before: Mapping[int, str], after: Mapping[int, str]) -> str:
    """"Areas: 2 added, 1 removed, 3 changed; 25 in all." for the body of a commit message."""
    added = len(after.keys() - before.keys())
    removed = len(before.keys() - after.keys())
    changed = sum(before[key] != after[key] for key in before.keys() & after.keys())
    return f"Areas: {added:,} added, {removed:,} removed, {changed:,} changed; {len(after):,} in all."


def push_snapshot(
    feed: Feed,
    output: Path,
    records: list[Record],
    identity: gitops.Identity,
    remote: str,
    attempts: int,
    committed: bool,
    skip_ci: bool = False,
    areas_output: Path | None = None,
    areas_data: bytes | None = None,
) -> str:
    """Push the branch; when another run pushed first, redo our commit on top of theirs and try again.

    Example: push_snapshot(feed, Path("outages.json"), records, identity, "origin", 3, committed=True)
    Returns the hash of the commit pushed, which differs from ours when it had to be made again.
    """
    repo = gitops.find_repo(output)

    def recommit() -> bool:
        write_atomically(output, render_records(records))
        if areas_output is not None and areas_data is not None:
            write_atomically(areas_output, areas_data)
        return commit_snapshot(feed, output, records, identity, skip_ci, areas_output) is not None

    gitops.push_with_rebase(repo, remote, identity, attempts, committed, recommit)
    return gitops.run_git(repo, "rev-parse", "HEAD").stdout.strip()
