"""Run a round on every mark of the clock (:00, :10, :20 ...) for a while, whatever a scheduler does.

A round that fails is reported and the loop goes on; the loop gives up, with a
one-line summary and a non-zero exit, only when rounds kept failing for long
enough that someone should look. A signal between rounds ends it at once; one
during a round gives the round a grace period, after which the round is
undone: the branch, index and files are put back as they were before it.
"""

from __future__ import annotations

import math
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pge_outages.trailers import format_time

from .base import FeedError, OutputError
from .gitops import GitError, capture_state, find_repo, restore_state
from .rounds import Job, RoundReport

EXIT_FEED = 1
EXIT_GIT = 3
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?")


class DurationError(ValueError):
    """A duration that is not of the form 10m, 2s, 5h50m or 0."""


def parse_duration(text: str) -> float:
    """Seconds in a duration written as hours, minutes and seconds.

    >>> parse_duration("5h50m")
    21000.0
    >>> parse_duration("2s")
    2.0
    """
    cleaned = text.strip().lower()
    if cleaned == "0":
        return 0.0
    match = _DURATION.fullmatch(cleaned)
    if not cleaned or match is None or not any(match.groups()):
        raise DurationError(f"{text!r} is not a duration such as 10m, 2s or 5h50m")
    hours, minutes, seconds = (float(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_duration(seconds: float) -> str:
    """A duration as parse_duration reads it.

    >>> format_duration(3900), format_duration(2)
    ('1h5m', '2s')
    """
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value)
    return text or "0s"


def next_mark(now: float, every: float) -> float:
    """The first mark of the clock (a multiple of every since the epoch) at or after now.

    >>> next_mark(605.0, 600)
    1200
    """
    return math.ceil(now / every) * every


def last_mark(first: float, end: float, every: float, heartbeat: float) -> float:
    """The mark of the loop's last round: the last heartbeat mark before end, so the loop's
    last looks are on record, or the last mark of all when no heartbeat mark falls in time.

    >>> last_mark(first=600, end=21600 + 500, every=600, heartbeat=1800)
    21600
    """
    if heartbeat > 0:
        mark = math.floor(end / heartbeat) * heartbeat
        if mark >= first:
            return mark
    return math.floor(end / every) * every


class LoopStopped(BaseException):
    """A signal between rounds: the loop ends at once."""


class RoundCutShort(BaseException):
    """A signal during a round that the round did not finish within the grace period."""


@dataclass
class Tally:
    """The loop's rounds so far, and the run of failures it is in."""

    rounds: int = 0
    succeeded: int = 0
    failed: int = 0
    commits: int = 0
    failing_since: float | None = None
    failing_rounds: int = 0
    last_error: str = ""
    last_kind: int = 0

    def succeeded_with(self, report: RoundReport) -> None:
        self.rounds += 1
        self.succeeded += 1
        self.commits += report.recorded is not None and report.recorded.sha is not None
        self.failing_since, self.failing_rounds = None, 0

    def failed_with(self, error: Exception, mark: float) -> None:
        self.rounds += 1
        self.failed += 1
        self.last_kind = EXIT_GIT if isinstance(error, GitError) else EXIT_FEED
        self.last_error = str(error)
        self.failing_rounds += 1
        if self.failing_since is None:
            self.failing_since = mark

    def summary(self, ended: str) -> str:
        text = (
            f"{ended}: {self.rounds:,} round{'' if self.rounds == 1 else 's'}, {self.succeeded:,} succeeded, "
            f"{self.failed:,} failed, {self.commits:,} commit{'' if self.commits == 1 else 's'}"
        )
        if self.failing_since is not None:
            text += (
                f"; failing since {format_time(self.failing_since)} "
                f"({self.failing_rounds:,} round{'' if self.failing_rounds == 1 else 's'}): {self.last_error}"
            )
        return text


@dataclass(frozen=True)
class LoopResult:
    """How the loop ended: its exit status and one line that says why."""

    exit_code: int
    summary: str


class _Signals:
    """SIGTERM and SIGINT handlers that know whether a round is running."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.state = "idle"  # idle | round | closing
        self.stop_requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number: int, frame: object) -> None:
        if self.state == "closing":
            self.stop_requested = True
            return
        if self.state == "idle":
            if number != signal.SIGALRM:
                raise LoopStopped(signal.Signals(number).name)
            return
        if number == signal.SIGALRM or self.stop_requested:
            raise RoundCutShort(signal.Signals(number).name)
        self.stop_requested = True
        if self.grace > 0:
            signal.setitimer(signal.ITIMER_REAL, self.grace)
        else:
            raise RoundCutShort(signal.Signals(number).name)


def run_loop(
    job: Job,
    round: Callable[[float, int | None], RoundReport],
    every: float,
    duration: float | None,
    grace: float,
    give_up_after: float,
    echo: Callable[[str, bool], None],
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> LoopResult:
    """Run round(mark, watched_since) on every mark of every seconds until duration is over or a signal.

    >>> run_loop(job, lambda mark, since: run_round(job, session, mark, since),  # doctest: +SKIP
    ...          600, 21000, 5, 3600, echo)

    echo(line, is_error) reports each round. Exit status 0 unless rounds failed
    for give_up_after seconds in a row, or none succeeded: then 1 when the feed
    failed last, 3 when git (the commit or the push) did.
    """
    start = clock()
    first = next_mark(start, every)
    final = last_mark(first, start + duration, every, job.heartbeat) if duration is not None else math.inf
    repo = find_repo(job.output) if job.commit else None
    tally = Tally()
    watched_since: int | None = None
    previous_mark: float | None = None
    mark = first
    with _Signals(grace) as signals:
        try:
            while mark <= final:
                while (wait := mark - clock()) > 0:
                    sleep(min(wait, 60.0))
                if previous_mark is not None and mark - previous_mark > every:
                    watched_since = None  # a mark went by without a round: the watch was broken
                state = capture_state(repo, job.paths)
                signals.state = "round"
                error: Exception | None = None
                try:
                    report = round(mark, watched_since)
                    signals.state = "closing"
                except (FeedError, OutputError, GitError) as exc:
                    signals.state = "closing"
                    error = exc
                except RoundCutShort:
                    signals.state = "closing"
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    restore_state(state)
                    echo(f"[{format_time(mark)}] round cut short by a signal; the repository is as it was", True)
                    return _finish(tally, "stopped by a signal")
                signal.setitimer(signal.ITIMER_REAL, 0)
                previous_mark = mark
                if error is None:
                    tally.succeeded_with(report)
                    watched_since = watched_since if watched_since is not None else report.fetched_at
                    echo(f"[{format_time(mark)}] {report.line}", False)
                else:
                    # A feed that failed left the files as they were; a commit made before a
                    # refused push stays, and goes out with the next round's push.
                    if isinstance(error, (FeedError, OutputError)):
                        restore_state(state)
                    tally.failed_with(error, mark)
                    watched_since = None
                    echo(f"[{format_time(mark)}] round failed: {error}", True)
                    if mark + every - (tally.failing_since or mark) >= give_up_after:
                        ended = f"gave up after {format_duration(give_up_after)} of failed rounds"
                        return LoopResult(tally.last_kind, tally.summary(ended))
                if signals.stop_requested:
                    return _finish(tally, "stopped by a signal")
                signals.state = "idle"
                mark = max(mark + every, next_mark(clock(), every))
        except (LoopStopped, RoundCutShort):
            # RoundCutShort here: the grace ran out just as the round ended, with its work done.
            return _finish(tally, "stopped by a signal")
    return _finish(tally, "done")


def _finish(tally: Tally, ended: str) -> LoopResult:
    # Transient failures stay green; a feed or push that never once worked does not.
    if tally.rounds and not tally.succeeded:
        return LoopResult(tally.last_kind, tally.summary(f"{ended}; every round failed"))
    return LoopResult(0, tally.summary(ended))
