"""The scraper's loop (--every): rounds on the clock's marks, failures that do not stop it, signals, two
loops pushing to one remote, and the liveness marks of a quiet feed.

Each test runs the real command in its own process against the fake MapServer
on 127.0.0.1, with rounds a second or two apart.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pge_outages.trailers import parse_time
from support.scraper_server import (
    FeedServer,
    Reply,
    arcgis_features,
    clone,
    fixture_bytes,
    git,
    make_remote,
    make_repo,
    refusing_port,
    serve_feed,
)

pytestmark = pytest.mark.timing

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--attempts", "2", "--backoff", "0.01", "--timeout", "2", "--deadline", "10", "--recheck-delay", "0.05"]


def scraper(output: Path, url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "scrapers", "pge", *FAST, "--output", str(output), "--url", url, *args]


def run(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def start(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 30) -> str:
    """Read the process's stdout until a line holding text; fail if it ends or takes too long first."""
    deadline = time.time() + timeout
    assert process.stdout is not None
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the scraper ended before printing {text!r}: {process.stderr.read()}")
        if text in line:
            return line
    pytest.fail(f"no {text!r} within {timeout} s")


def trailers(repo: Path, ref: str = "HEAD") -> dict[str, str]:
    text = git(repo, "log", "-1", "--format=%(trailers:only,unfold)", ref)
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def first_parent_log(repo: Path, ref: str = "HEAD") -> list[str]:
    return git(repo, "rev-list", "--first-parent", ref).split()


def stray_files(repo: Path) -> list[str]:
    return sorted(p.name for p in repo.iterdir() if p.name.endswith((".tmp", ".restore")))


def wait_until_just_after_a_mark(every: float, within: float = 0.2) -> None:
    """Sleep until the clock is just past a mark, so a test's first round is a whole interval away."""
    now = time.time()
    time.sleep(math.ceil(now / every) * every - now + 0.05)
    assert time.time() % every < within


def test_rounds_fall_on_the_clock_marks(tmp_path):
    repo = make_repo(tmp_path / "history", {"README": b"x\n"})
    with serve_feed(FeedServer()) as feed:
        result = run(scraper(repo / "outages.json", feed.root_url, "--commit", "--every", "2s", "--for", "7s",
                             "--heartbeat", "0"))
    assert result.returncode == 0, result.stderr
    # Each round's first request is its count query on layer 4.
    starts = [t for t, path, r in zip(feed.wall_times, feed.paths, feed.requests, strict=True)
              if path.endswith("/4/query") and r.get("returnCountOnly") == "true"]
    assert len(starts) in (3, 4)
    for moment in starts:
        assert moment % 2 < 0.5, f"a round began {moment % 2:.2f} s after its mark"
    marks = [math.floor(moment / 2) * 2 for moment in starts]
    assert [b - a for a, b in itertools.pairwise(marks)] == [2] * (len(marks) - 1)
    *rounds, summary = result.stdout.splitlines()
    assert len(rounds) == len(starts)
    assert summary == f"done: {len(starts)} rounds, {len(starts)} succeeded, 0 failed, 1 commit"


def test_a_failed_round_is_reported_and_the_loop_goes_on(tmp_path):
    repo = make_repo(tmp_path / "history", {"README": b"x\n"})
    # Two 502s: the first round's count query and its one retry.
    bad = Reply(502, b"<html>Bad Gateway</html>", "text/html")
    with serve_feed(FeedServer()) as feed:
        feed.once.extend([bad, bad])
        result = run(scraper(repo / "outages.json", feed.root_url, "--commit", "--every", "1s", "--for", "3s",
                             "--heartbeat", "0"))
    assert result.returncode == 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if "round failed" in line]
    assert len(errors) == 1
    assert "HTTP 502" in errors[0] and "(after 2 attempts)" in errors[0]
    assert "written; committed" in result.stdout
    assert git(repo, "status", "--porcelain") == ""
    assert stray_files(repo) == []
    assert json.loads(git(repo, "show", "HEAD:outages.json"))


def test_a_refused_push_fails_its_round_only_and_the_next_push_delivers_it(tmp_path):
    remote = make_remote(tmp_path, {"README": b"x\n"})
    checkout = clone(remote, tmp_path / "checkout")
    hook = remote / "hooks" / "pre-receive"
    refuse = tmp_path / "refuse-once"
    refuse.write_text("")
    hook.write_text(f"#!/bin/sh\nif [ -e {refuse} ]; then rm {refuse}; echo 'refused for the test' >&2; exit 1; fi\n")
    hook.chmod(0o755)
    features = arcgis_features()
    with serve_feed(FeedServer(features=features)) as feed:
        result = run(scraper(checkout / "outages.json", feed.root_url, "--push", "--every", "1s", "--for", "3s",
                             "--heartbeat", "0"))
    assert result.returncode == 0, result.stderr
    failed = [line for line in result.stderr.splitlines() if "round failed" in line]
    assert len(failed) == 1 and "pre-receive hook declined" in failed[0]
    # The snapshot stayed committed locally and went out with the next round's push.
    assert git(checkout, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")
    assert git(remote, "log", "--format=%s", "main").splitlines()[0].startswith("6 outages added")
    assert git(checkout, "status", "--porcelain") == ""


def test_a_feed_unreachable_all_along_exits_non_zero_with_a_summary(tmp_path):
    repo = make_repo(tmp_path / "history", {"README": b"x\n"})
    with refusing_port() as url:
        root = url.rsplit("/5/query", 1)[0]
        result = run(scraper(repo / "outages.json", root, "--commit", "--every", "1s", "--for", "2s"))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("done; every round failed: ")
    assert "0 succeeded" in last and "failing since" in last and "connection refused" in last
    assert git(repo, "log", "--format=%s") == "Seed\n"
    assert not (repo / "outages.json").exists()


def test_rounds_failing_for_the_give_up_time_end_the_loop(tmp_path):
    repo = make_repo(tmp_path / "history", {"README": b"x\n"})
    with serve_feed(FeedServer()) as feed:
        result = run(scraper(repo / "outages.json", feed.root_url, "--commit", "--every", "1s", "--for", "3s",
                             "--heartbeat", "0"))
        assert result.returncode == 0, result.stderr
        feed.fault = Reply.json({"error": {"code": 400, "message": "Unable to complete operation."}})
        started = time.time()
        result = run(scraper(repo / "outages.json", feed.root_url, "--commit", "--every", "1s",
                             "--give-up-after", "3s"))
    assert result.returncode == 1
    assert time.time() - started < 8
    assert result.stderr.count("round failed") == 3
    assert result.stderr.strip().splitlines()[-1].startswith("gave up after 3s of failed rounds: 3 rounds, 0 succeeded")
    assert "ArcGIS error 400" in result.stderr.strip().splitlines()[-1]


def test_sigterm_between_rounds_ends_the_loop_at_once(tmp_path):
    repo = make_repo(tmp_path / "history", {"README": b"x\n"})
    with serve_feed(FeedServer()) as feed:
        wait_until_just_after_a_mark(4)
        process = start(scraper(repo / "outages.json", feed.root_url, "--commit", "--every", "4s"))
        wait_for_line(process, "committed")
        sent = time.time()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert time.time() - sent < 1.0
    assert process.returncode == 0
    assert "stopped by a signal: 1 round, 1 succeeded" in process.stdout.read()
    assert git(repo, "status", "--porcelain") == ""
    assert stray_files(repo) == []


def test_sigterm_mid_round_lets_the_round_finish_within_the_grace_period(tmp_path):
    repo = make_repo(tmp_path / "history", {"README": b"x\n"})
    with serve_feed(FeedServer(delay=0.3)) as feed:
        process = start(scraper(repo / "outages.json", feed.root_url, "--commit", "--every", "2s",
                                "--grace", "10s"))
        while not feed.requests:
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert process.returncode == 0
    stdout = process.stdout.read()
    assert "committed" in stdout
    assert "stopped by a signal: 1 round, 1 succeeded" in stdout
    assert git(repo, "log", "-1", "--format=%s").startswith("6 outages added")
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_round_past_the_grace_period_leaves_the_repository_as_it_was(tmp_path, signal_number):
    seed = fixture_bytes("arcgis-expected.json")
    repo = make_repo(tmp_path / "history", {"outages.json": seed})
    head = git(repo, "rev-parse", "HEAD")
    with serve_feed(FeedServer(delay=1.0)) as feed:
        process = start(scraper(repo / "outages.json", feed.root_url, "--commit", "--every", "1s",
                                "--grace", "0.3s"))
        while not feed.requests:
            time.sleep(0.02)
        process.send_signal(signal_number)
        process.wait(timeout=20)
    assert process.returncode == 0
    assert "round cut short by a signal; the repository is as it was" in process.stderr.read()
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "outages.json").read_bytes() == seed
    assert stray_files(repo) == []


class ClockFeed(FeedServer):
    """A feed whose state changes every `period` seconds, half-way between two marks of the loops."""

    def __init__(self, period: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.period = period
        self.served: list[int] = []
        self.lock = threading.Lock()

    def state(self) -> int:
        return int((time.time() - self.period / 4) // self.period)

    def layer_features(self, layer: int):
        if layer != 5:
            return []
        state = self.state()
        with self.lock:
            if not self.served or self.served[-1] != state:
                self.served.append(state)
        features = arcgis_features()
        features[0]["attributes"]["EST_CUSTOMERS"] = state % 100_000
        return features


def test_two_loops_pushing_to_one_remote_record_every_change_once(tmp_path):
    remote = make_remote(tmp_path, {"README": b"x\n"})
    first = clone(remote, tmp_path / "first")
    second = clone(remote, tmp_path / "second")
    # Marks every 2 s, the feed changes every 4 s at 1 s past a mark: both loops
    # read each state of the feed twice, and race to push it.
    with serve_feed(ClockFeed(period=4)) as feed:
        wait_until_just_after_a_mark(2)
        args = ["--push", "--every", "2s", "--for", "13s", "--heartbeat", "0"]
        # Two names, so the two loops' commits of one state differ and race.
        processes = [
            start(scraper(checkout / "outages.json", feed.root_url, *args, "--author-name", checkout.name))
            for checkout in (first, second)
        ]
        outputs = [process.communicate(timeout=60) for process in processes]
    lost = 0
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
        assert "round failed" not in stderr, stderr
        for line in stdout.splitlines():
            committed = re.search(r"committed (\w+); pushed (\w+)", line)
            lost += bool(committed and committed.group(1) != committed.group(2))
    assert lost >= 2, "the loops never raced"
    git(first, "pull", "--quiet", "--ff-only")
    commits = first_parent_log(remote, "main")[:-1]  # the seed is not a scrape
    changing = int(arcgis_features()[0]["attributes"]["F_OUTAGE_ID"])
    states = [
        next(r["EST_CUSTOMERS"] for r in json.loads(git(remote, "show", f"{sha}:outages.json"))
             if r["F_OUTAGE_ID"] == changing)
        for sha in reversed(commits)
    ]
    assert states == sorted(set(states)), "a state of the feed was committed twice, or out of order"
    assert states == [state % 100_000 for state in feed.served]
    fetched = [parse_time(trailers(remote, sha)["Fetched-At"]) for sha in reversed(commits)]
    assert fetched == sorted(fetched)
    assert len(states) >= 3


def test_a_quiet_feed_leaves_one_liveness_mark_per_heartbeat_window(tmp_path):
    repo = make_repo(tmp_path / "history", {"README": b"x\n"})
    with serve_feed(FeedServer()) as feed:
        wait_until_just_after_a_mark(3)
        started = time.time()
        result = run(scraper(repo / "outages.json", feed.root_url, "--commit", "--every", "1s", "--for", "10s",
                             "--heartbeat", "3s"))
    assert result.returncode == 0, result.stderr
    shas = list(reversed(first_parent_log(repo)[:-1]))
    first, marks = shas[0], shas[1:]
    assert git(repo, "log", "-1", "--format=%s", first).startswith("6 outages added")
    subjects = [git(repo, "log", "-1", "--format=%s", sha).strip() for sha in marks]
    assert subjects and all(s == "No change; 6 outages, 60 customers affected" for s in subjects)
    assert all(git(repo, "show", "--format=", "--name-only", sha).strip() == "" for sha in marks)
    windows = [parse_time(trailers(repo, sha)["Fetched-At"]) // 3 for sha in marks]
    # One mark per window of 3 s, in every window after the first commit's, up to the last round:
    # the loop ends on a heartbeat mark, so its last looks are on record.
    first_window = parse_time(trailers(repo, first)["Fetched-At"]) // 3
    assert windows == list(range(first_window + 1, first_window + 1 + len(windows)))
    assert windows[-1] == math.floor((started + 10) / 3)
    since = {trailers(repo, sha)["Watched-Since"] for sha in shas}
    assert since == {trailers(repo, first)["Fetched-At"]}
    assert {trailers(repo, sha)["Scrape-Interval"] for sha in shas} == {"1"}
    assert {trailers(repo, sha)["Feed-Updated"] for sha in shas} == {"2026-07-09T11:14:00Z"}


def test_one_round_marks_liveness_only_when_the_branch_holds_no_look_in_this_window(tmp_path):
    repo = make_repo(tmp_path / "history", {"outages.json": b"[]\n"})
    with serve_feed(FeedServer()) as feed:
        assert run(scraper(repo / "outages.json", feed.root_url, "--commit")).returncode == 0
        old = "2026-02-19T19:27:04Z"
        git(repo, "commit", "--quiet", "--allow-empty", "-m", f"Older look\n\nFetched-At: {old}")
        result = run(scraper(repo / "outages.json", feed.root_url, "--commit"))
        assert result.returncode == 0, result.stderr
        assert "committed liveness mark" in result.stdout
        again = run(scraper(repo / "outages.json", feed.root_url, "--commit"))
        assert again.returncode == 0 and "nothing to commit" in again.stdout
        assert "Watched-Since" not in trailers(repo)
        off = run(scraper(repo / "outages.json", feed.root_url, "--commit", "--heartbeat", "0"))
        assert "nothing to commit" in off.stdout


def test_a_status_that_fails_costs_only_its_trailer(tmp_path):
    repo = make_repo(tmp_path / "history", {"README": b"x\n"})
    with serve_feed(FeedServer(status=Reply(502, b"<html>502</html>", "text/html"))) as feed:
        result = run(scraper(repo / "outages.json", feed.root_url, "--commit"))
    assert result.returncode == 0, result.stderr
    assert set(trailers(repo)) == {"Fetched-At"}
    assert feed.status_requests == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--for", "1h"], "Invalid value for '--for': needs --every"),
        (["--every", "0"], "Invalid value for '--every': must be more than 0"),
        (["--every", "7m"], "Invalid value for '--heartbeat': must be a multiple of --every (7m), or 0"),
        (["--every", "ten"], "Invalid value for '--every': 'ten' is not a duration such as 10m, 2s or 5h50m"),
    ],
)
def test_loop_options_are_checked_before_anything_runs(tmp_path, args, message):
    result = run(scraper(tmp_path / "outages.json", "http://127.0.0.1:9/arcgis/rest/services/43/outages/MapServer",
                         *args))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"Error: {message}"
    assert not (tmp_path / "outages.json").exists()


def test_environment_is_not_needed(tmp_path):
    """The loop runs with only PATH set, as under systemd."""
    repo = make_repo(tmp_path / "history", {"README": b"x\n"})
    with serve_feed(FeedServer()) as feed:
        result = subprocess.run(
            scraper(repo / "outages.json", feed.root_url, "--commit", "--every", "1s", "--for", "1s"),
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env={"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)},
        )
    assert result.returncode == 0, result.stderr
    assert "committed" in result.stdout
