"""The refresh loop: pull the data repository, add its new commits, one line per run.

Real repositories: the scraper's repository pushes to a bare "upstream", and
the server's clone of it is what the refresh pulls. A failed run must leave the
database and the clone as they were, and say which snapshot is still served.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from pge_outages.build import build_database
from pge_outages.cli import cli
from pge_outages.refresh import latest_snapshot, parse_duration, refresh_loop, refresh_once
from pge_outages.synthetic import iter_versions
from support.helpers import ROOT, commit_versions, dump_database, git, make_repo

STAMP = "2026-11-27T21:40:00Z"
# The build's seconds, and the coverage of what it added (tests/test_coverage.py checks that part).
SECONDS = r"\d+\.\d\ds(?:; their coverage: [\d.,]+ h watched, [\d.,]+ h quiet, [\d.,]+ h blind, [\d.,]+ h unknown)?"


def _changed_scrapes(count: int) -> list[tuple[int, bytes]]:
    """The first `count` scrapes of a synthetic ArcGIS feed that changed the file."""
    scrapes, previous = [], None
    for when, _, blob in iter_versions(200, era="arcgis", seed=5, outages=12):
        if blob != previous:
            scrapes.append((when, blob))
        previous = blob
    return scrapes[:count]


SCRAPES = _changed_scrapes(8)
# commit_versions commits at UTC-7; a snapshot's title is its commit time as git shows it.
_UTC_7 = timezone(timedelta(hours=-7))
SERVING_3 = f"still serving snapshot 3 ({datetime.fromtimestamp(SCRAPES[2][0], _UTC_7).isoformat()})"


def now() -> datetime:
    return datetime(2026, 11, 27, 21, 40, tzinfo=UTC)


@dataclass
class Setup:
    source: Path  # where the scraper commits
    upstream: Path  # the bare repository it pushes to
    history: Path  # the server's clone, which the refresh pulls
    db: Path

    def scrape(self, scrapes) -> list[str]:
        """Commit the scrapes in the scraper's repository and push them upstream."""
        hashes = commit_versions(self.source, [blob for _, blob in scrapes],
                                 times=[when for when, _ in scrapes])
        git(self.source, "push", "-q", "upstream", "main")
        return hashes

    def state(self) -> tuple:
        """What a failed run must not change: every row, and the clone's branch."""
        return dump_database(self.db), git(self.history, "rev-parse", "HEAD")


@pytest.fixture
def setup(tmp_path) -> Setup:
    source = make_repo(tmp_path / "source", [blob for _, blob in SCRAPES[:3]],
                       times=[when for when, _ in SCRAPES[:3]])
    upstream = tmp_path / "upstream.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(upstream)], check=True)
    git(source, "remote", "add", "upstream", str(upstream))
    git(source, "push", "-q", "upstream", "main")
    subprocess.run(["git", "clone", "-q", str(upstream), str(tmp_path / "history")], check=True)
    return Setup(source, upstream, tmp_path / "history", tmp_path / "outages.db")


def served(setup: Setup) -> str:
    """The end of a failed run's line: the snapshot Datasette still has."""
    number, title = latest_snapshot(setup.db)
    return f"still serving snapshot {number:,} ({title})"


def test_first_run_builds_later_runs_add_only_new_commits(setup, tmp_path):
    line = refresh_once(setup.history, setup.db, now=now)
    assert re.fullmatch(f"{STAMP} refresh: pulled 0 commits; 3 commits read, 3 snapshots added, "
                        f"0 versions skipped in {SECONDS}", line), line

    setup.scrape(SCRAPES[3:4])
    line = refresh_once(setup.history, setup.db, now=now)
    assert re.fullmatch(f"{STAMP} refresh: pulled 1 commit; 1 commits read, 1 snapshots added, "
                        f"0 versions skipped in {SECONDS}", line), line

    setup.scrape(SCRAPES[4:])
    line = refresh_once(setup.history, setup.db, now=now)
    assert re.fullmatch(f"{STAMP} refresh: pulled 4 commits; 4 commits read, 4 snapshots added, "
                        f"0 versions skipped in {SECONDS}", line), line

    line = refresh_once(setup.history, setup.db, now=now)
    assert re.fullmatch(f"{STAMP} refresh: pulled 0 commits; 0 commits read, 0 snapshots added, "
                        f"0 versions skipped in {SECONDS}", line), line
    # Refreshed bit by bit, the database is the one a single build makes.
    clean = tmp_path / "clean.db"
    build_database(setup.source, clean)
    assert dump_database(setup.db) == dump_database(clean)


def _unreachable(setup: Setup) -> str:
    gone = setup.upstream.with_name("moved.git")
    setup.upstream.rename(gone)
    return f"'{setup.upstream}' does not appear to be a git repository"


def _rewritten(setup: Setup) -> str:
    # Upstream history replaced from the second scrape on, which the clone already has.
    second = git(setup.source, "rev-list", "--reverse", "main").split()[1]
    git(setup.source, "reset", "-q", "--hard", second)
    commit_versions(setup.source, [SCRAPES[7][1]], times=[SCRAPES[7][0]])
    git(setup.source, "push", "-q", "--force", "upstream", "main")
    return "Not possible to fast-forward, aborting"


def _no_upstream(setup: Setup) -> str:
    git(setup.history, "branch", "--unset-upstream")
    return "There is no tracking information for the current branch"


@pytest.mark.parametrize("fault", [_unreachable, _rewritten, _no_upstream],
                         ids=["unreachable", "rewritten", "no-upstream"])
def test_a_failed_pull_changes_nothing_and_says_what_is_served(setup, fault):
    refresh_once(setup.history, setup.db, now=now)
    setup.scrape(SCRAPES[3:5])
    before = setup.state()
    reason = fault(setup)

    line = refresh_once(setup.history, setup.db, now=now)

    assert line == f"{STAMP} refresh failed: git pull --ff-only: {reason}; {served(setup)}"
    assert served(setup) == SERVING_3
    assert setup.state() == before


def test_history_rewritten_under_the_database_is_reported_and_changes_nothing(setup):
    refresh_once(setup.history, setup.db, now=now)
    _rewritten(setup)
    assert "refresh failed: git pull --ff-only: Not possible" in refresh_once(setup.history, setup.db, now=now)
    # What an operator does next: take the rewritten history as it is.
    git(setup.history, "reset", "-q", "--hard", "origin/main")
    before = setup.state()
    last = dump_database(setup.db)["snapshots"][-1][1]

    line = refresh_once(setup.history, setup.db, now=now)

    tip = git(setup.history, "rev-parse", "HEAD")
    assert line == (
        f"{STAMP} refresh failed: the history was rewritten: {setup.db} was built up to commit "
        f"{last[:12]}, which is no longer in the history of {tip[:12]}; use --rebuild to start over; "
        f"{SERVING_3}"
    )
    assert setup.state() == before


def test_without_a_database_a_failed_run_creates_none(setup):
    _unreachable(setup)
    line = refresh_once(setup.history, setup.db, now=now)
    assert line.endswith("; no snapshot to serve yet")
    assert not setup.db.exists()


def test_a_file_that_is_not_a_database_is_left_alone(setup):
    setup.db.write_text("not a database\n")
    line = refresh_once(setup.history, setup.db, now=now)
    assert line == (f"{STAMP} refresh failed: {setup.db} is not a SQLite database; "
                    "no snapshot to serve yet")
    assert setup.db.read_text() == "not a database\n"


def test_a_second_refresh_of_the_same_database_waits_its_turn(setup):
    refresh_once(setup.history, setup.db, now=now)
    setup.scrape(SCRAPES[3:5])
    before = setup.state()
    fd = os.open(f"{setup.db}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        line = refresh_once(setup.history, setup.db, now=now)
    finally:
        os.close(fd)
    assert line == f"{STAMP} refresh failed: another build is writing {setup.db}; {served(setup)}"
    assert setup.state() == before
    assert "pulled 2 commits" in refresh_once(setup.history, setup.db, now=now)


class FakeTime:
    """A clock that moves only when the loop sleeps or a run takes `run_seconds`."""

    def __init__(self, run_seconds: float):
        self.now = 0.0
        self.run_seconds = run_seconds
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_loop_carries_on_after_a_failed_run(setup):
    refresh_once(setup.history, setup.db, now=now)
    setup.scrape(SCRAPES[3:5])
    gone = setup.upstream.with_name("moved.git")
    setup.upstream.rename(gone)
    fake = FakeTime(run_seconds=5)
    lines = []

    def echo(line):
        lines.append(line)
        fake.now += fake.run_seconds
        if len(lines) == 1:
            gone.rename(setup.upstream)  # the network is back

    failures = refresh_loop(setup.history, setup.db, every=600, echo=echo, sleep=fake.sleep,
                            clock=fake.clock, iterations=3, now=now)

    assert failures == 1
    assert [re.sub(SECONDS, "Ns", line) for line in lines] == [
        f"{STAMP} refresh failed: git pull --ff-only: '{setup.upstream}' does not appear to be a git "
        f"repository; {SERVING_3}",
        f"{STAMP} refresh: pulled 2 commits; 2 commits read, 2 snapshots added, 0 versions skipped in Ns",
        f"{STAMP} refresh: pulled 0 commits; 0 commits read, 0 snapshots added, 0 versions skipped in Ns",
    ]
    # Runs start every 600 seconds: the sleep makes up what the run did not take.
    assert fake.sleeps == [595, 595]


def test_a_run_longer_than_the_period_is_followed_at_once(setup):
    fake = FakeTime(run_seconds=90)
    refresh_loop(setup.history, setup.db, every=60, echo=lambda line: setattr(fake, "now", fake.now + 90),
                 sleep=fake.sleep, clock=fake.clock, iterations=3, now=now)
    assert fake.sleeps == [0, 0]


def test_the_loop_stops_when_asked(setup):
    stop = threading.Event()
    lines = []

    def echo(line):
        lines.append(line)
        if len(lines) == 2:
            stop.set()

    assert refresh_loop(setup.history, setup.db, every=600, echo=echo, sleep=lambda s: None,
                        stop=stop, now=now) == 0
    assert len(lines) == 2


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("10m", 600), ("1h", 3600), ("1h30m", 5400), (" 2M ", 120)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "10x", "m", "1.5h", "-1m", "10m 5s"])
def test_not_durations(text):
    with pytest.raises(ValueError, match="is not a duration such as 30s, 10m or 1h"):
        parse_duration(text)


def invoke(*args):
    return CliRunner().invoke(cli, ["refresh", *[str(a) for a in args]], catch_exceptions=False)


def test_command_once(setup):
    result = invoke(setup.history, setup.db, "--once")
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ refresh: pulled 0 commits; 3 commits read, "
                        f"3 snapshots added, 0 versions skipped in {SECONDS}\n", result.output), result.output


def test_command_once_exits_1_when_the_run_fails(setup):
    refresh_once(setup.history, setup.db, now=now)
    _unreachable(setup)
    result = invoke(setup.history, setup.db, "--once")
    assert result.exit_code == 1
    assert result.output.endswith(
        f"refresh failed: git pull --ff-only: '{setup.upstream}' does not appear to be a git repository; "
        f"{SERVING_3}\n"
    )


@pytest.mark.parametrize("args, error", [
    (["--every", "10x"], "Invalid value for '--every': '10x' is not a duration such as 30s, 10m or 1h"),
    (["--every", "0s"], "Invalid value for '--every': '0s' is not a duration longer than zero"),
    (["--every", "1m", "--once"], "give --every or --once, not both"),
])
def test_command_option_errors(setup, args, error):
    result = invoke(setup.history, setup.db, *args)
    assert result.exit_code == 2
    assert result.output.endswith(f"Error: {error}\n")
    assert not setup.db.exists()


def test_command_missing_repository(tmp_path):
    result = invoke(tmp_path / "nowhere", tmp_path / "outages.db", "--once")
    assert result.exit_code == 2
    assert result.output.endswith(
        f"Error: Invalid value for 'REPO': Directory '{tmp_path / 'nowhere'}' does not exist.\n")


def test_the_service_logs_each_run_at_once_and_stops_on_sigterm(setup):
    """As systemd runs it: stdout is a pipe, and SIGTERM asks it to stop."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pge_outages", "refresh", str(setup.history), str(setup.db), "--every", "1h"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = process.stdout.readline()  # printed, not held in a buffer for an hour
        assert " refresh: pulled 0 commits; 3 commits read, 3 snapshots added" in first
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == ""
        assert process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_help_names_every_option():
    result = CliRunner().invoke(cli, ["refresh", "--help"])
    assert result.exit_code == 0
    for option in ("--every DURATION", "--once", "--remote NAME", "--branch BRANCH", "--file PATH"):
        assert option in result.output
