"""Build or update the database from the git history of the outage file.

`build_database` checks everything it can before it writes anything, then
adds the commits that are new since the last run, one transaction per batch.
The areas file beside the outage file, where the history holds one, is read
from the same commits.
"""

from __future__ import annotations

import gc
import sqlite3
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from . import history
from .areas import AreaReader, InvalidAreas
from .events import events_are_current, update_events
from .feed import InvalidVersion, parse_version, record_bodies, split_records
from .glitches import coverage_hours, describe_coverage
from .lock import writing
from .schema import (
    SCHEMA_VERSION,
    UPGRADABLE,
    DatabaseError,
    checkpoint,
    connect,
    create_schema,
    read_meta,
    schema_is_current,
    set_meta,
    table_names,
)
from .writer import SnapshotWriter, classify_stored

# Seconds a build waits for another build of the same database to finish.
DEFAULT_WAIT = 60.0
# A batch is flushed after this many commits, or sooner when it holds many rows.
BATCH_COMMITS = 500
BATCH_WEIGHT = 4000


class HistoryRewritten(RuntimeError):
    """The last commit the database holds is no longer in the branch's history."""


@dataclass
class BuildResult:
    commits_read: int
    snapshots_added: int
    versions_skipped: int
    seconds: float
    # Hours of each gap class among the snapshots added (glitches.coverage_hours).
    coverage: dict[str, float] | None = None
    # Outages seen in the snapshots added whose point lies in no California county.
    outside_counties: int = 0

    def summary(self) -> str:
        line = (
            f"{self.commits_read:,} commits read, {self.snapshots_added:,} snapshots added, "
            f"{self.versions_skipped:,} versions skipped in {self.seconds:.2f}s"
        )
        if self.coverage and any(self.coverage.values()):
            line += f"; their coverage: {describe_coverage(self.coverage)}"
        if self.outside_counties:
            noun = "outage" if self.outside_counties == 1 else "outages"
            line += f"; {self.outside_counties:,} {noun} outside every California county"
        return line


def build_database(
    repo_path: str | Path,
    db_path: str | Path,
    file: str | None = None,
    branch: str | None = None,
    rebuild: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_commit: Callable[[], None] | None = None,
    wait: float = DEFAULT_WAIT,
    areas_file: str | None = None,
    locked: bool = False,
) -> BuildResult:
    """Add every commit of `file` (or of `areas_file`) on `branch` not yet in the database at `db_path`.

    `areas_file` defaults to outage-areas.geojson beside `file`, read where the
    history holds it. Raises HistoryError, DatabaseError or HistoryRewritten,
    before writing anything, when the repository, the files or the database
    will not do, and DatabaseBusy when another build still writes the database
    after `wait` seconds. `on_start` is told how many commits there are to
    read; `on_commit` is called after each. With `locked`, the caller holds the
    database's lock already (a refresh, which pulls under it) and it is not taken again.
    """
    started = time.perf_counter()
    repo = history.open_repo(repo_path)
    try:
        tip = history.resolve_branch(repo, branch)
        path = history.find_file(repo, tip, file)
        areas = history.find_areas_file(repo, tip, areas_file, path)
        conn = connect(db_path)
        try:
            with nullcontext() if locked else writing(db_path, wait):
                since = _check_database(conn, repo, db_path, path, areas, tip, rebuild)
                total = history.count_versions(repo, (path, areas), tip, since)
                if since is not None and total == 0 and schema_is_current(conn) and events_are_current(conn):
                    return BuildResult(0, 0, 0, time.perf_counter() - started)
                create_schema(conn, rebuild=rebuild)
                if rebuild or since is None:
                    _start_meta(conn, repo_path, path)
                with conn:
                    set_meta(conn, "areas_file", areas)
                if read_meta(conn).get("gaps_to_classify"):
                    _classify_stored_gaps(conn, repo, since or tip)
                if on_start:
                    on_start(total)
                result = _add_versions(conn, repo, (path, areas), tip, since, on_commit)
                # Events span snapshots and days: they are written after the last batch, in a
                # transaction of their own, from the snapshots as they now stand.
                update_events(conn)
                checkpoint(conn)
        finally:
            conn.close()
    finally:
        repo.close()
    result.seconds = time.perf_counter() - started
    return result


def _check_database(
    conn: sqlite3.Connection, repo, db_path: str | Path, path: str, areas: str, tip: str, rebuild: bool
) -> str | None:
    """The last commit the database holds, or None to start from the first; raise if it won't do.

    In a shallow clone the first commit may be missing; the last must be there.
    """
    try:
        tables = table_names(conn)
    except sqlite3.DatabaseError as error:
        raise DatabaseError(f"{db_path} is not a usable SQLite database: {error}") from None
    meta = read_meta(conn)
    if not meta:
        if tables:
            raise DatabaseError(
                f"{db_path} is a SQLite database that this tool did not build "
                f"(it has tables {', '.join(sorted(tables))}); give a new file"
            )
        _refuse_shallow(repo)
        return None  # a build from the first commit
    if rebuild:
        _refuse_shallow(repo)
        return None
    if meta.get("schema_version") not in (SCHEMA_VERSION, *UPGRADABLE):
        raise DatabaseError(
            f"{db_path} was built by another version of this tool (schema {meta.get('schema_version')}, "
            f"this one writes {SCHEMA_VERSION}); use --rebuild to start over"
        )
    if meta.get("file") != path:
        raise DatabaseError(
            f"{db_path} was built from {meta.get('file')!r}, not {path!r}; "
            "use --rebuild to start over, or another database file"
        )
    # A database built before areas were read has no areas_file: it takes them from now on.
    if meta.get("areas_file", areas) != areas:
        raise DatabaseError(
            f"{db_path} was built with the areas of {meta['areas_file']!r}, not {areas!r}; "
            f"pass --areas-file {meta['areas_file']}, or use --rebuild to start over"
        )
    first = meta.get("first_commit")
    last = meta.get("last_commit")
    if first and not history.commit_exists(repo, first):
        if not history.is_shallow(repo):
            raise DatabaseError(
                f"{db_path} was built from a different repository (its first commit {first[:12]} "
                "is not in this one); use --rebuild to start over, or another database file"
            )
        # A shallow clone (the build workflow fetches only what the database
        # lacks) may stop short of the first commit: the new commits are read
        # from the last one to the tip, so that one must be there.
        if not (last and history.commit_exists(repo, last)):
            raise history.HistoryError(
                f"{db_path} was built up to commit {(last or first)[:12]}, which this shallow clone lacks; "
                "fetch the history back to it (git fetch --deepen=N, or --unshallow) and run again"
            )
    if last and not history.is_ancestor(repo, last, tip):
        raise HistoryRewritten(
            f"the history was rewritten: {db_path} was built up to commit {last[:12]}, "
            f"which is no longer in the history of {tip[:12]}; use --rebuild to start over"
        )
    return last


def _classify_stored_gaps(conn: sqlite3.Connection, repo, last: str) -> None:
    """Give a database upgraded from schema 4 its gap classes, from its stored versions and the
    trailers and liveness marks of the commits it holds (up to `last`), in one transaction."""
    marks = [(m.hash, m.when, m.watched_since, m.interval) for m in history.iter_liveness_marks(repo, last)]
    conn.execute("BEGIN IMMEDIATE")
    try:
        classify_stored(conn, history.read_all_trailers(repo, last), marks)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _refuse_shallow(repo) -> None:
    """Raise if `repo` is a shallow clone, which would hide the first commits from a build that starts there."""
    if history.is_shallow(repo):
        raise history.HistoryError(
            f"{repo.working_tree_dir or repo.git_dir} is a shallow clone: a database built from it "
            "would miss every commit before the clone's depth; fetch the whole history first "
            "(git fetch --unshallow)"
        )


def _start_meta(conn: sqlite3.Connection, repo_path: str | Path, path: str) -> None:
    with conn:
        set_meta(conn, "file", path)
        set_meta(conn, "repository", str(repo_path))


def _add_versions(conn, repo, paths, tip, since, on_commit) -> BuildResult:
    # Parsed versions are large trees of short-lived dicts and lists, none of
    # them cyclic: the cycle collector would only rescan the live state again
    # and again, so it is paused for the build.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _read_versions(conn, repo, paths, tip, since, on_commit)
    finally:
        if gc_was_enabled:
            gc.enable()


def _read_versions(conn, repo, paths, tip, since, on_commit) -> BuildResult:
    """Add each commit as a snapshot, or a skipped version when its outage file is not a list of outages.

    A commit that changed only the areas file is a snapshot too: the outage
    file as it stands there, with the new areas. A broken areas file is
    recorded in skipped_areas and the snapshot keeps the areas of the one before.
    """
    writer = SnapshotWriter(conn)
    first_new = writer.next_snapshot
    reader = AreaReader()
    # The scraper's liveness marks, each given to the writer before the first snapshot after it.
    marks = list(history.iter_liveness_marks(repo, tip, since))
    next_mark = 0
    commits = snapshots = skipped = 0
    first_commit = None
    last = None
    bodies = None  # the records of the outage file as last read, while the file is unchanged
    areas: list | None = None  # the areas of the areas file as last read; None: broken
    for version, (blob, areas_blob), (blob_changed, areas_changed) in history.iter_contents(repo, paths, tip, since):
        if first_commit is None and since is None:
            first_commit = version.hash
            set_meta(conn, "first_commit", first_commit)
        commits += 1
        last = version.hash
        while next_mark < len(marks) and marks[next_mark].when <= version.when:
            mark = marks[next_mark]
            writer.add_look(mark.hash, mark.when, mark.watched_since, mark.interval)
            next_mark += 1
        if areas_changed or commits == 1:
            try:
                areas = reader.read(areas_blob)
            except InvalidAreas as reason:
                areas = None
                if areas_changed:
                    writer.add_skipped_areas(version.hash, version.when, version.title, str(reason))
        if blob_changed:
            bodies = None
        try:
            if bodies is None:
                if blob is None:
                    raise InvalidVersion("file deleted")
                bodies = split_records(blob)
            try:
                sid = writer.add_snapshot(version.hash, version.when, version.title, bodies,
                                          version.watched_since, version.interval)
            except InvalidVersion:
                # A record that does not parse alone: parse the whole file, which
                # says what is wrong with it or, if the split was fooled, reads it.
                assert blob is not None  # bodies were split from it
                bodies = record_bodies(parse_version(blob))
                sid = writer.add_snapshot(version.hash, version.when, version.title, bodies,
                                          version.watched_since, version.interval)
        except InvalidVersion as reason:
            bodies = None
            writer.add_skipped(version.hash, version.when, version.title, str(reason))
            skipped += 1
        else:
            writer.add_areas(sid, areas)
            snapshots += 1
        if writer.pending >= BATCH_WEIGHT or commits % BATCH_COMMITS == 0:
            writer.flush(last)
        if on_commit:
            on_commit()
    for mark in marks[next_mark:]:
        writer.add_look(mark.hash, mark.when, mark.watched_since, mark.interval)
    if last is not None:
        writer.flush(last)
    outside = conn.execute(
        "select count(*) from outages where last_snapshot >= ? and latitude is not null and county_fips is null",
        (first_new,)).fetchone()[0]
    return BuildResult(commits, snapshots, skipped, 0.0, coverage_hours(conn, first_new), outside)
