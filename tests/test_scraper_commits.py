"""What a round leaves in git: trailers, liveness marks, a snapshot older than the branch's, the same
state from two scrapers, and a round undone: each on real repositories and a bare remote."""

from __future__ import annotations

import json

import pytest

from pge_outages.trailers import format_time, parse_time
from scrapers import gitops, pge
from scrapers.base import clean_records, render_records
from scrapers.commits import Snapshot, Stamp, last_fetched_at, liveness_due, push_snapshot, record_snapshot
from scrapers.loop import DurationError, last_mark, next_mark, parse_duration
from support.scraper_server import clone, fixture_bytes, git, make_remote, make_repo

BOT = gitops.Identity("pge-outages bot", "bot@example.com")
T = 1771529224  # 2026-02-19T19:27:04Z


def records(*customers: int) -> list[dict]:
    raw = [{"F_OUTAGE_ID": n, "EST_CUSTOMERS": c, "CITY": "Oakland", "layers": [5]} for n, c in enumerate(customers, 1)]
    return clean_records(pge.ARCGIS, "test", raw)


def snapshot(repo, recs, fetched_at, window=None) -> Snapshot:
    output = repo / "outages.json"
    output.write_bytes(render_records(recs))
    return Snapshot(pge.ARCGIS, output, recs, Stamp(fetched_at), liveness_window=window)


def subjects(repo, ref="HEAD") -> list[str]:
    return git(repo, "log", "--format=%s", ref).splitlines()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2s", 2), ("10m", 600), ("5h50m", 21000), ("1h", 3600), ("90s", 90), ("1.5s", 1.5), ("0", 0), ("2H", 7200)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "10x", "-5m", "5m10h", "1h 5m"])
def test_bad_durations_are_refused(text):
    with pytest.raises(DurationError, match="is not a duration such as 10m, 2s or 5h50m"):
        parse_duration(text)


def test_marks_of_the_clock():
    assert next_mark(605, 600) == 1200
    assert next_mark(1200, 600) == 1200
    # A loop started at 00:01 for 5h45m ends on the last half hour before 05:46.
    assert last_mark(first=600, end=60 + 20700, every=600, heartbeat=1800) == 19800
    assert last_mark(first=600, end=1000, every=600, heartbeat=1800) == 600
    assert last_mark(first=600, end=1300, every=600, heartbeat=0) == 1200


def test_trailers_round_trip():
    stamp = Stamp(T, "2026-02-19T19:20:00Z", T - 600, 600)
    assert stamp.trailers() == [
        "Fetched-At: 2026-02-19T19:27:04Z",
        "Feed-Updated: 2026-02-19T19:20:00Z",
        "Watched-Since: 2026-02-19T19:17:04Z",
        "Scrape-Interval: 600",
    ]
    assert parse_time(format_time(T)) == T
    assert parse_time("yesterday") is None


@pytest.mark.parametrize(
    ("last_look", "window", "due"),
    [(T, T - 10, False), (T - 1800, T - 10, True), (None, T, True), (T - 1800, None, False)],
)
def test_one_liveness_mark_per_window(last_look, window, due):
    assert liveness_due(last_look, window) is due


def test_a_commit_without_the_trailer_is_no_look_at_the_feed(tmp_path):
    repo = make_repo(tmp_path / "r", {"README": b"x\n"})
    assert last_fetched_at(repo) is None
    git(repo, "commit", "--quiet", "--allow-empty", "-m", f"look\n\nFetched-At: {format_time(T)}")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "A person's commit, made later")
    assert last_fetched_at(repo) == T
    # Pushed after our fetch, it does not make our snapshot look old.
    recorded = record_snapshot(snapshot(repo, records(7), T + 1), BOT)
    assert recorded.sha is not None and not recorded.superseded


def test_liveness_mark_is_an_empty_commit_that_leaves_staged_files_alone(tmp_path):
    repo = make_repo(tmp_path / "r", {"outages.json": render_records(records(5))})
    git(repo, "commit", "--quiet", "--allow-empty", "-m", f"look\n\nFetched-At: {format_time(T - 3600)}")
    (repo / "notes.txt").write_text("staged by hand\n")
    git(repo, "add", "notes.txt")
    recorded = record_snapshot(snapshot(repo, records(5), T, window=T - 100), BOT)
    assert recorded.liveness and recorded.sha == git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "show", "--format=", "--name-only", "HEAD").strip() == ""
    assert git(repo, "diff", "--cached", "--name-only").strip() == "notes.txt"
    assert last_fetched_at(repo) == T
    # The same window again: the branch already holds a look in it.
    assert record_snapshot(snapshot(repo, records(5), T + 60, window=T - 100), BOT).sha is None


def test_an_older_snapshot_is_not_put_on_a_newer_one_from_another_scraper(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": render_records(records(1))})
    early, late = clone(remote, tmp_path / "early"), clone(remote, tmp_path / "late")
    newer = snapshot(late, records(3), T + 5)
    push_snapshot(newer, BOT, "origin", 3, record_snapshot(newer, BOT))
    older = snapshot(early, records(2), T)
    recorded = push_snapshot(older, BOT, "origin", 3, record_snapshot(older, BOT))
    assert recorded.superseded and recorded.sha is None
    assert git(remote, "rev-parse", "main") == git(early, "rev-parse", "HEAD")
    assert json.loads(git(remote, "show", "main:outages.json"))[0]["EST_CUSTOMERS"] == 3
    assert git(early, "status", "--porcelain") == ""
    assert len(subjects(remote, "main")) == 2


def test_the_same_state_from_two_scrapers_is_one_commit_and_keeps_the_first_fetch_time(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": render_records(records(1))})
    first, second = clone(remote, tmp_path / "first"), clone(remote, tmp_path / "second")
    a = snapshot(first, records(4), T)
    push_snapshot(a, BOT, "origin", 3, record_snapshot(a, BOT))
    b = snapshot(second, records(4), T + 2)
    recorded = push_snapshot(b, gitops.Identity("other", "o@example.com"), "origin", 3,
                             record_snapshot(b, gitops.Identity("other", "o@example.com")))
    assert recorded.sha is None and not recorded.superseded
    assert len(subjects(remote, "main")) == 2
    assert last_fetched_at(remote) == T


def test_a_different_state_is_made_again_on_top_with_its_own_fetch_time(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": render_records(records(1))})
    first, second = clone(remote, tmp_path / "first"), clone(remote, tmp_path / "second")
    a = snapshot(first, records(4), T)
    push_snapshot(a, BOT, "origin", 3, record_snapshot(a, BOT))
    b = snapshot(second, records(4, 9), T + 2)
    recorded = push_snapshot(b, BOT, "origin", 3, record_snapshot(b, BOT))
    assert recorded.sha == git(remote, "rev-parse", "main").strip()
    assert last_fetched_at(remote) == T + 2
    assert subjects(remote, "main")[0].startswith("1 outage added, 0 removed, 0 changed; 2 outages")


def test_restore_state_undoes_a_round_cut_short_mid_rebase(tmp_path):
    seed = fixture_bytes("arcgis-expected.json")
    remote = make_remote(tmp_path, {"outages.json": seed})
    other = clone(remote, tmp_path / "other")
    (other / "outages.json").write_text("[]\n")
    git(other, "commit", "--quiet", "-am", "theirs")
    git(other, "push", "--quiet", "origin", "main")
    repo = clone(remote, tmp_path / "repo")
    git(repo, "reset", "--quiet", "--hard", "HEAD~1")
    (repo / "notes.txt").write_text("untracked and kept\n")
    output = repo / "outages.json"
    before = gitops.capture_state(repo, [output])
    head = git(repo, "rev-parse", "HEAD")
    # What a killed round can leave: a commit, a rebase stopped on a conflict, a lock, a temporary file.
    output.write_text('[{"F_OUTAGE_ID": 1}]\n')
    git(repo, "commit", "--quiet", "-am", "ours")
    rebased = gitops.run_git(repo, "pull", "--rebase", "--quiet", "origin", "main", identity=BOT, check=False)
    assert rebased.returncode != 0  # a conflict: the rebase stops half-way
    (repo / ".outages.json.abc.tmp").write_text("half")
    gitops.restore_state(before)
    (repo / ".git" / "index.lock").write_text("")
    gitops.restore_state(before)
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert output.read_bytes() == seed
    assert git(repo, "status", "--porcelain") == "?? notes.txt\n"
    assert not (repo / ".git" / "index.lock").exists()
    assert not (repo / ".outages.json.abc.tmp").exists()


def test_restore_state_removes_a_file_the_round_created(tmp_path):
    repo = make_repo(tmp_path / "r", {"README": b"x\n"})
    output = repo / "outages.json"
    before = gitops.capture_state(repo, [output])
    output.write_text("[]\n")
    git(repo, "add", "outages.json")
    gitops.restore_state(before)
    assert not output.exists()
    assert git(repo, "status", "--porcelain") == ""


class FakeClock:
    """A clock that moves only when the loop sleeps, and the marks the rounds were asked for."""

    def __init__(self, now: float):
        self.now = now
        self.marks: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def loop_job(tmp_path, heartbeat: int = 0):
    from scrapers.base import FetchPolicy
    from scrapers.rounds import Job

    return Job(pge.ARCGIS, tmp_path / "outages.json", None, "http://127.0.0.1:9/x/MapServer", FetchPolicy(), BOT,
               heartbeat=heartbeat, every=10)


def run_fake_loop(tmp_path, outcomes, duration=None, heartbeat=0, give_up_after=30.0, start=1000.3):
    """Run the loop on a fake clock; each round takes the next outcome: an exception to raise, or a report."""
    from scrapers.loop import run_loop
    from scrapers.rounds import RoundReport

    clock = FakeClock(start)
    lines: list[tuple[str, bool]] = []
    queue = list(outcomes)

    def round(mark, since):
        clock.marks.append(mark)
        outcome = queue.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return RoundReport(f"round at {mark:g}, watched since {since}", int(clock.now), None)

    result = run_loop(loop_job(tmp_path, heartbeat), round, 10, duration, 1.0, give_up_after,
                      lambda line, err: lines.append((line, err)), clock=clock.time, sleep=clock.sleep)
    return result, clock.marks, lines


def test_the_loop_gives_up_once_rounds_failed_for_the_given_time(tmp_path):
    from scrapers.base import FeedUnreachable

    result, marks, lines = run_fake_loop(tmp_path, [FeedUnreachable("connection refused by x")] * 5)
    assert marks == [1010, 1020, 1030]
    assert result.exit_code == 1
    assert result.summary == ("gave up after 30s of failed rounds: 3 rounds, 0 succeeded, 3 failed, 0 commits; "
                              "failing since 1970-01-01T00:16:50Z (3 rounds): connection refused by x")
    assert [err for _, err in lines] == [True, True, True]


def test_a_passing_failure_stays_green_and_breaks_the_watch(tmp_path):
    from scrapers.base import FeedHTTPError

    ok = object()
    outcomes = [ok, FeedHTTPError("HTTP 502 Bad Gateway from x"), ok, ok]
    result, marks, lines = run_fake_loop(tmp_path, outcomes, duration=40)
    assert marks == [1010, 1020, 1030, 1040]
    assert result.exit_code == 0
    assert result.summary == "done: 4 rounds, 3 succeeded, 1 failed, 0 commits"
    # Watched-Since restarts after the failed round.
    assert [line for line, _ in lines] == [
        "[1970-01-01T00:16:50Z] round at 1010, watched since None",
        "[1970-01-01T00:17:00Z] round failed: HTTP 502 Bad Gateway from x",
        "[1970-01-01T00:17:10Z] round at 1030, watched since None",
        "[1970-01-01T00:17:20Z] round at 1040, watched since 1030",
    ]


def test_a_loop_ends_on_its_last_heartbeat_mark_and_fails_if_no_round_succeeded(tmp_path):
    from scrapers.base import FeedInvalid

    # --for 55 from 1000.3 ends at 1055.3: the last heartbeat mark (of 30) in that time is 1050.
    result, marks, _ = run_fake_loop(tmp_path, [FeedInvalid("no 'features' list")] * 9, duration=55,
                                     heartbeat=30, give_up_after=3600)
    assert marks == [1010, 1020, 1030, 1040, 1050]
    assert result.exit_code == 1
    assert result.summary.startswith("done; every round failed: 5 rounds, 0 succeeded, 5 failed")


AREAS_V1 = b'{"type": "FeatureCollection", "features": [\n]}\n'
AREAS_V2 = (b'{"type": "FeatureCollection", "features": [\n{"type": "Feature", "properties": {"OUTAGE_ID": 1}, '
            b'"geometry": {"type": "Point", "coordinates": [1, 2]}}\n]}\n')


def test_areas_kept_after_a_failed_fetch_do_not_undo_newer_ones_in_a_push_race(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": render_records(records(1)), "outage-areas.geojson": AREAS_V1})
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    (a / "outage-areas.geojson").write_bytes(AREAS_V2)
    sa = Snapshot(pge.ARCGIS, a / "outages.json", records(2), Stamp(T), a / "outage-areas.geojson", AREAS_V2)
    (a / "outages.json").write_bytes(render_records(records(2)))
    push_snapshot(sa, BOT, "origin", 3, record_snapshot(sa, BOT))
    # B's layer 8 failed: its areas file is the one it had, which it does not hand over to write again.
    sb = snapshot(b, records(3), T + 5)
    sb = Snapshot(pge.ARCGIS, sb.output, sb.records, sb.stamp, b / "outage-areas.geojson", None,
                  "Areas: layer 8 failed: timed out; kept the last good version.")
    recorded = push_snapshot(sb, BOT, "origin", 3, record_snapshot(sb, BOT))
    assert recorded.sha == git(remote, "rev-parse", "main").strip()
    assert git(remote, "show", "main:outage-areas.geojson").encode() == AREAS_V2
    assert json.loads(git(remote, "show", "main:outages.json"))[0]["EST_CUSTOMERS"] == 3


def test_a_snapshot_a_failed_push_left_behind_never_wedges_the_next_rounds(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": render_records(records(1))})
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    # B's round at T commits, and its push fails (the network): the commit stays local.
    record_snapshot(snapshot(b, records(2), T), BOT)
    # A pushes its round at T + 5, which changes the same file.
    sa = snapshot(a, records(3), T + 5)
    push_snapshot(sa, BOT, "origin", 3, record_snapshot(sa, BOT))
    # B's next rounds all go out, on top of A's, and B's stale snapshot is not replayed over A's.
    for k in (1, 2, 3):
        sb = snapshot(b, records(4, k), T + 600 * k)
        recorded = push_snapshot(sb, BOT, "origin", 3, record_snapshot(sb, BOT))
        assert recorded.sha == git(remote, "rev-parse", "main").strip()
    fetched = [parse_time(t) for t in git(remote, "log", "--format=%(trailers:key=Fetched-At,valueonly)",
                                          "main").split()]
    assert fetched == [T + 1800, T + 1200, T + 600, T + 5]
    assert git(b, "status", "--porcelain") == ""


def test_a_persons_local_commit_is_rebased_not_dropped(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": render_records(records(1))})
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    (b / "NOTES.md").write_text("a person's note\n")
    git(b, "add", "NOTES.md")
    git(b, "commit", "--quiet", "-m", "Notes")
    sa = snapshot(a, records(3), T)
    push_snapshot(sa, BOT, "origin", 3, record_snapshot(sa, BOT))
    sb = snapshot(b, records(4), T + 600)
    push_snapshot(sb, BOT, "origin", 3, record_snapshot(sb, BOT))
    assert git(remote, "log", "--format=%s", "main").splitlines()[1] == "Notes"
    assert git(remote, "show", "main:NOTES.md") == "a person's note\n"
