"""What a round leaves in git: trailers, liveness marks, a snapshot older than the branch's, the same
state from two scrapers, and a round undone: each on real repositories and a bare remote."""

from __future__ import annotations

import json

import pytest

from pge_outages.trailers import format_time, parse_time
from scraper_server import clone, fixture_bytes, git, make_remote, make_repo
from scrapers import gitops, pge
from scrapers.base import normalise_records, render_records
from scrapers.commits import Snapshot, Stamp, last_fetched_at, liveness_due, push_snapshot, record_snapshot
from scrapers.loop import DurationError, last_mark, next_mark, parse_duration

BOT = gitops.Identity("pge-outages bot", "bot@example.com")
T = 1771529224  # 2026-02-19T19:27:04Z


def records(*customers: int) -> list[dict]:
    raw = [{"F_OUTAGE_ID": n, "EST_CUSTOMERS": c, "CITY": "Oakland", "layers": [5]} for n, c in enumerate(customers, 1)]
    return normalise_records(pge.ARCGIS, "test", raw)


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
