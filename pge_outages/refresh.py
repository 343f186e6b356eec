"""Keep a served database fresh: pull the data repository, add the new commits.

Meant for a long-running server where Datasette serves the same database file
(WAL mode, not --immutable): each build batch is one transaction, so readers see
the last good snapshot until the next one is whole. A failed run changes nothing
and says so in its one log line; the next run tries again.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from .build import HistoryRewritten, build_database
from .history import HistoryError
from .lock import DatabaseBusy, writing
from .schema import DatabaseError

PULL_TIMEOUT = 300
_DURATION = re.compile(r"(\d+)([smh])")
_UNITS = {"s": 1, "m": 60, "h": 3600}


class PullError(RuntimeError):
    """`git pull --ff-only` failed; the repository's branch and working copy are as they were."""


class _Run(NamedTuple):
    ok: bool
    line: str


def parse_duration(text: str) -> int:
    """Seconds in a duration such as "30s", "10m", "1h" or "1h30m"; raise ValueError otherwise.

    >>> parse_duration("1h30m")
    5400
    """
    text = text.strip().lower()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration such as 30s, 10m or 1h")
    seconds = sum(int(number) * _UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a duration longer than zero")
    return seconds


def pull_repository(repo: str | Path, remote: str | None = None, branch: str | None = None,
                    timeout: float = PULL_TIMEOUT) -> int:
    """Fast-forward the checked-out branch of `repo`; return how many commits it gained.

    Pulls `branch` of `remote` when given, else the branch's upstream. Raises
    PullError with git's reason when git cannot (no such remote, network down,
    history rewritten upstream so that a fast-forward is impossible).

    >>> pull_repository("/var/lib/pge-outages/history")  # doctest: +SKIP

    3
    """
    before = _head(repo)
    args = ["pull", "--ff-only", "--quiet"]
    if remote or branch:
        args += [remote or "origin"] + ([branch] if branch else [])
    _git(repo, *args, timeout=timeout)
    after = _head(repo)
    if before == after:
        return 0
    if after is None:
        raise PullError(f"{repo} has no commit after git pull")
    revisions = f"{before}..{after}" if before else after
    return int(_git(repo, "rev-list", "--count", revisions))


def _git(repo: str | Path, *args: str, timeout: float = 60) -> str:
    # No prompt for credentials (it would hang a service), messages in English.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        result = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                                text=True, env=env, timeout=timeout)
    except FileNotFoundError:
        raise PullError(f"{repo}: no such directory") from None
    except subprocess.TimeoutExpired:
        raise PullError(f"git {args[0]} took longer than {timeout:g}s") from None
    except subprocess.CalledProcessError as error:
        raise PullError(_reason(error.stderr) or f"git {args[0]} exited with {error.returncode}") from None
    return result.stdout.strip()


def _reason(stderr: str) -> str:
    """git's own words for what went wrong: its first error, without hints."""
    lines = [line.strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line and not line.startswith("hint:")]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line.split(":", 1)[1].strip().rstrip(".")
    return lines[0].rstrip(".") if lines else ""


def _head(repo: str | Path) -> str | None:
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", "HEAD")
    except PullError:
        return None


def latest_snapshot(db: str | Path) -> tuple[int, str] | None:
    """(id, title) of the newest snapshot in the database, or None when it has none to serve."""
    if not Path(db).is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{Path(db).resolve()}?mode=ro", uri=True)
        try:
            return conn.execute("select id, title from snapshots order by id desc limit 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def refresh_once(repo: str | Path, db: str | Path, remote: str | None = None,
                 branch: str | None = None, file: str | None = None,
                 now: Callable[[], datetime] | None = None) -> str:
    """Pull the data repository and add its new commits to `db`; return one log line.

    Never raises for a run that fails the expected ways (network, rewritten
    history, unusable repository or database): the line says what went wrong
    and which snapshot is still served.

    >>> refresh_once("history", "outages.db")  # doctest: +SKIP

    '2026-11-27T21:40:00Z refresh: pulled 3 commits; 3 commits read, 3 snapshots added, 0 versions skipped in 0.41s'
    """
    return _refresh(repo, db, remote, branch, file, now).line


def _refresh(repo, db, remote, branch, file, now) -> _Run:
    stamp = (now or _utc_now)().strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        with writing(db):
            try:
                pulled = pull_repository(repo, remote, branch)
            except PullError as error:
                raise PullError(f"git pull --ff-only: {error}") from None
            result = build_database(repo, db, file=file, locked=True)
    except (PullError, DatabaseBusy, HistoryError, DatabaseError, HistoryRewritten,
            sqlite3.Error, OSError) as error:
        return _Run(False, f"{stamp} refresh failed: {error}; {_serving(db)}")
    noun = "commit" if pulled == 1 else "commits"
    return _Run(True, f"{stamp} refresh: pulled {pulled:,} {noun}; {result.summary()}")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _serving(db: str | Path) -> str:
    latest = latest_snapshot(db)
    if latest is None:
        return "no snapshot to serve yet"
    return f"still serving snapshot {latest[0]:,} ({latest[1]})"


def refresh_loop(repo: str | Path, db: str | Path, every: float, remote: str | None = None,
                 branch: str | None = None, file: str | None = None,
                 echo: Callable[[str], None] = print,
                 sleep: Callable[[float], object] = time.sleep,
                 stop: threading.Event | None = None, iterations: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] | None = None) -> int:
    """Refresh every `every` seconds, echoing one line per run; return how many runs failed.

    A failed run does not stop the loop. Runs start `every` seconds apart (a
    run that takes longer is followed at once by the next). The loop ends after
    `iterations` runs, or when `stop` is set; `sleep` is called between runs
    (pass `stop.wait` to wake as soon as `stop` is set).

    >>> refresh_loop("history", "outages.db", every=600)  # until killed  # doctest: +SKIP
    """
    failures = runs = 0
    while not (stop and stop.is_set()):
        started = clock()
        run = _refresh(repo, db, remote, branch, file, now)
        echo(run.line)
        failures += not run.ok
        runs += 1
        if iterations is not None and runs >= iterations:
            break
        if stop and stop.is_set():
            break
        sleep(max(0.0, every - (clock() - started)))
    return failures
