"""The scraper's --commit and --push against real git repositories and a bare remote in tmp_path."""

from __future__ import annotations

import json

import pytest

from scrapers import pge
from scrapers.base import clean_records, render_records
from scrapers.commits import commit_message
from support.scraper_server import (
    FeedServer,
    Reply,
    arcgis_features,
    clone,
    commit_count,
    fixture_bytes,
    git,
    make_remote,
    make_repo,
    run_scraper,
    serve_feed,
)

BOT = "pge-outages bot <actions@users.noreply.github.com>"


@pytest.fixture(autouse=True)
def no_host_git_config(monkeypatch):
    """The scraper must bring its own identity: hide the host's git configuration."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)


def feature(outage_id, city, customers, cause, status="Awaiting T-Man"):
    """A recorded feature given a new id, place, size, cause and crew status."""
    base = arcgis_features()[5]
    base["attributes"].update(
        F_OUTAGE_ID=outage_id, CITY=city, EST_CUSTOMERS=customers, OUTAGE_CAUSE=cause,
        CREW_CURRENT_STATUS=status,
    )
    return base


def storm_update():
    """The recorded layer two removed (998502, 2419530), two added, and one changed (2419575)."""
    features = [f for f in arcgis_features() if f["attributes"]["F_OUTAGE_ID"] not in (998502, 2419530)]
    features[0]["attributes"]["CREW_CURRENT_STATUS"] = "T-Man On Site"
    assert features[0]["attributes"]["F_OUTAGE_ID"] == 2419575
    return features + [
        feature(2419601, "Fresno", 3, "EMERG REPAIRS"),
        feature(2419600, "Oakland", 12, None),
    ]


def last_message(repo, ref="HEAD"):
    """The commit message without its closing trailers (Fetched-At: ...), which test_scraper_loop checks."""
    message = git(repo, "log", "-1", "--format=%B", ref).rstrip("\n")
    body, _, trailers = message.rpartition("\n\n")
    assert trailers.startswith("Fetched-At: "), message
    return body


def head(repo, ref="HEAD"):
    return git(repo, "rev-parse", ref).strip()


# --commit ---------------------------------------------------------------------


def test_commits_only_when_content_changed(tmp_path):
    repo = make_repo(tmp_path / "history", {"README.md": b"outages\n"})
    output = repo / "outages.json"
    server = FeedServer()
    with serve_feed(server) as feed:
        first = run_scraper("--output", str(output), "--url", feed.url, "--commit")
        first_commit = head(repo)
        second = run_scraper("--output", str(output), "--url", feed.url, "--commit")
        server.features = storm_update()
        third = run_scraper("--output", str(output), "--url", feed.url, "--commit")
    assert first.exit_code == 0, first.output
    assert first.stdout == (
        f"{output}: 6 outages, 60 customers affected; written; committed {first_commit[:12]}\n"
    )
    assert second.exit_code == 0
    assert second.stdout == f"{output}: 6 outages, 60 customers affected; unchanged; nothing to commit\n"
    assert third.exit_code == 0
    assert third.stdout == (
        f"{output}: 6 outages, 73 customers affected; written; committed {head(repo)[:12]}\n"
    )
    assert commit_count(repo) == 3
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "show", "HEAD~1:outages.json").encode() == fixture_bytes("arcgis-expected.json")


def test_first_commit_lists_every_outage_as_added(tmp_path):
    repo = make_repo(tmp_path / "history")
    output = repo / "outages.json"
    with serve_feed() as feed:
        result = run_scraper("--output", str(output), "--url", feed.url, "--commit")
    assert result.exit_code == 0, result.output
    assert last_message(repo) == """\
6 outages added, 0 removed, 0 changed; 6 outages, 60 customers affected

Layer 5: 6 outages, 60 customers.

Added:
  998502 Ben Lomond: 1 customer, STORM
  2419248 San Jose: 1 customer, EMERG REPAIRS
  2419530 Vacaville: 1 customer, cause unknown
  2419563 Salinas: 1 customer, PATROLLING
  2419575 Santa Rosa: 55 customers, cause unknown
  2419589 Bay Point: 1 customer, cause unknown"""
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == f"{BOT}|{BOT}\n"


def test_commit_message_summarises_and_lists_added_and_removed(tmp_path):
    repo = make_repo(tmp_path / "history", {"outages.json": fixture_bytes("arcgis-expected.json")})
    output = repo / "outages.json"
    with serve_feed(FeedServer(features=storm_update())) as feed:
        result = run_scraper("--output", str(output), "--url", feed.url, "--commit")
    assert result.exit_code == 0, result.output
    assert last_message(repo) == """\
2 outages added, 2 removed, 1 changed; 6 outages, 73 customers affected

Layer 5: 6 outages, 73 customers.

Added:
  2419600 Oakland: 12 customers, cause unknown
  2419601 Fresno: 3 customers, EMERG REPAIRS

Removed:
  998502 Ben Lomond: 1 customer, STORM
  2419530 Vacaville: 1 customer, cause unknown"""


def test_legacy_commit_message_uses_region_and_cause(tmp_path):
    repo = make_repo(tmp_path / "history")
    payload = json.loads(fixture_bytes("legacy-regions.json"))
    with serve_feed(FeedServer(legacy=payload)) as feed:
        first = run_scraper(
            "--feed", "legacy", "--output", str(repo / "pge-outages.json"), "--url", feed.url, "--commit"
        )
        payload["outagesRegions"][0]["outages"].pop(0)
        feed.legacy = payload
        result = run_scraper(
            "--feed", "legacy", "--output", str(repo / "pge-outages.json"), "--url", feed.url, "--commit"
        )
    assert first.exit_code == 0, first.output
    assert result.exit_code == 0, result.output
    assert commit_count(repo) == 2
    assert last_message(repo) == """\
0 outages added, 1 removed, 0 changed; 4 outages, 173 customers affected

Removed:
  697196 Fresno: 9 customers, Our preliminary determination is that your outage was caused by \
scheduled maintenance work."""


def test_author_identity_from_option_and_environment(tmp_path):
    repo = make_repo(tmp_path / "history")
    with serve_feed() as feed:
        result = run_scraper(
            "--output", str(repo / "outages.json"), "--url", feed.url, "--commit",
            "--author-email", "outages@example.org",
            env={"SCRAPER_AUTHOR_NAME": "Outage Watcher"},
        )
    assert result.exit_code == 0, result.output
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Outage Watcher <outages@example.org>|Outage Watcher <outages@example.org>\n"
    )


def test_commit_picks_up_an_earlier_uncommitted_write(tmp_path):
    repo = make_repo(tmp_path / "history", {"README.md": b"outages\n"})
    output = repo / "outages.json"
    with serve_feed() as feed:
        written = run_scraper("--output", str(output), "--url", feed.url)
        committed = run_scraper("--output", str(output), "--url", feed.url, "--commit")
    assert written.exit_code == 0 and committed.exit_code == 0
    assert committed.stdout == (
        f"{output}: 6 outages, 60 customers affected; unchanged; committed {head(repo)[:12]}\n"
    )
    assert last_message(repo).startswith("6 outages added, 0 removed, 0 changed; 6 outages, 60 customers affected\n")


def test_commit_leaves_other_staged_files_alone(tmp_path):
    repo = make_repo(tmp_path / "history", {"README.md": b"outages\n"})
    (repo / "notes.txt").write_text("work in progress\n")
    git(repo, "add", "notes.txt")
    with serve_feed() as feed:
        result = run_scraper("--output", str(repo / "outages.json"), "--url", feed.url, "--commit")
    assert result.exit_code == 0, result.output
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == "outages.json\n"
    assert git(repo, "diff", "--cached", "--name-only") == "notes.txt\n"


def test_commit_in_a_subdirectory(tmp_path):
    repo = make_repo(tmp_path / "history", {"README.md": b"outages\n"})
    (repo / "data").mkdir()
    with serve_feed() as feed:
        result = run_scraper("--output", str(repo / "data" / "outages.json"), "--url", feed.url, "--commit")
    assert result.exit_code == 0, result.output
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == "data/outages.json\n"


def test_commit_outside_a_repository_exits_3_before_fetching(tmp_path):
    output = tmp_path / "outages.json"
    with serve_feed() as feed:
        result = run_scraper("--output", str(output), "--url", feed.url, "--commit")
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: {output} is not inside a git repository; run git init there or drop --commit\n"
    )
    assert feed.requests == []
    assert not output.exists()


@pytest.mark.parametrize(
    "fault",
    [Reply(500, b"oops", "text/plain"), Reply.json({"error": {"code": 400, "message": "Bad"}})],
    ids=["http-500", "arcgis-error"],
)
def test_feed_failure_commits_and_pushes_nothing(tmp_path, fault):
    remote = make_remote(tmp_path, {"outages.json": fixture_bytes("arcgis-expected.json")})
    repo = clone(remote, tmp_path / "clone")
    before = head(remote, "main")
    with serve_feed(FeedServer(fault=fault)) as feed:
        result = run_scraper("--output", str(repo / "outages.json"), "--url", feed.url, "--push")
    assert result.exit_code == 1
    assert result.stderr.endswith(f"; {repo / 'outages.json'} left unchanged\n")
    assert head(repo) == before
    assert head(remote, "main") == before
    assert git(repo, "status", "--porcelain") == ""


# --push -----------------------------------------------------------------------


def test_push_sends_the_commit(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": fixture_bytes("arcgis-expected.json")})
    repo = clone(remote, tmp_path / "clone")
    with serve_feed(FeedServer(features=storm_update())) as feed:
        result = run_scraper("--output", str(repo / "outages.json"), "--url", feed.url, "--push")
    assert result.exit_code == 0, result.output
    sha = head(repo)[:12]
    assert result.stdout.endswith(f"; committed {sha}; pushed {sha} to origin\n")
    assert head(remote, "main") == head(repo)


def test_push_race_between_two_clones(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": fixture_bytes("arcgis-expected.json")})
    first = clone(remote, tmp_path / "first")
    second = clone(remote, tmp_path / "second")
    seen_by_first = [f for f in arcgis_features() if f["attributes"]["F_OUTAGE_ID"] != 998502]
    seen_by_second = storm_update()
    with serve_feed(FeedServer(features=seen_by_first)) as feed:
        won = run_scraper("--output", str(first / "outages.json"), "--url", feed.url, "--push")
    with serve_feed(FeedServer(features=seen_by_second)) as feed:
        raced = run_scraper("--output", str(second / "outages.json"), "--url", feed.url, "--push")
    assert won.exit_code == 0, won.output
    assert raced.exit_code == 0, raced.output
    assert raced.stdout.endswith(
        f"; pushed {head(second)[:12]} to origin; made again on top of another scraper's push\n"
    )

    subjects = git(remote, "log", "--format=%s", "main").splitlines()
    assert subjects == [
        "2 outages added, 1 removed, 1 changed; 6 outages, 73 customers affected",
        "0 outages added, 1 removed, 0 changed; 5 outages, 59 customers affected",
        "Seed",
    ]
    # The second run's commit sits on the first's and compares with it, not with the seed.
    assert last_message(remote, "main") == """\
2 outages added, 1 removed, 1 changed; 6 outages, 73 customers affected

Layer 5: 6 outages, 73 customers.

Added:
  2419600 Oakland: 12 customers, cause unknown
  2419601 Fresno: 3 customers, EMERG REPAIRS

Removed:
  2419530 Vacaville: 1 customer, cause unknown"""
    flat = [{**pge.flatten_feature("layer", n, f), "layers": [5]} for n, f in enumerate(seen_by_second, 1)]
    expected = render_records(clean_records(pge.ARCGIS, "layer", flat))
    assert git(remote, "show", "main:outages.json").encode() == expected
    assert head(second) == head(remote, "main")
    assert git(second, "status", "--porcelain") == ""
    assert git(remote, "log", "--format=%an <%ae>", "main").splitlines()[:2] == [BOT, BOT]


def test_push_after_unrelated_upstream_change_rebases(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": b"[]\n", "README.md": b"outages\n"})
    other = clone(remote, tmp_path / "other")
    scraper = clone(remote, tmp_path / "scraper")
    (other / "README.md").write_text("outages, now documented\n")
    git(other, "commit", "--quiet", "-am", "Document")
    git(other, "push", "--quiet", "origin", "main")
    with serve_feed() as feed:
        result = run_scraper("--output", str(scraper / "outages.json"), "--url", feed.url, "--push")
    assert result.exit_code == 0, result.output
    assert git(remote, "log", "--format=%s", "main").splitlines() == [
        "6 outages added, 0 removed, 0 changed; 6 outages, 60 customers affected",
        "Document",
        "Seed",
    ]
    assert git(remote, "show", "main:README.md") == "outages, now documented\n"


def test_push_rejected_every_time_exits_3_and_keeps_commit(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": b"[]\n"})
    other = clone(remote, tmp_path / "other")
    scraper = clone(remote, tmp_path / "scraper")
    (other / "outages.json").write_text("[\n]\n")
    git(other, "commit", "--quiet", "-am", "Someone else")
    git(other, "push", "--quiet", "origin", "main")
    with serve_feed() as feed:
        result = run_scraper(
            "--output", str(scraper / "outages.json"), "--url", feed.url, "--push", "--push-attempts", "1"
        )
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: git push to origin was rejected once because other pushes kept arriving first; "
        "the snapshot stays committed locally and goes out with the next --push\n"
    )
    assert git(scraper, "log", "-1", "--format=%s").startswith("6 outages added")
    assert head(remote, "main") == head(other)


def test_push_refused_by_remote_exits_3(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": b"[]\n"})
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    repo = clone(remote, tmp_path / "clone")
    with serve_feed() as feed:
        result = run_scraper("--output", str(repo / "outages.json"), "--url", feed.url, "--push")
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: git push to origin failed: ! [remote rejected] HEAD -> main (pre-receive hook declined)\n"
    )
    assert commit_count(repo) == 2
    assert commit_count(remote, "main") == 1


def test_push_to_missing_remote_exits_3(tmp_path):
    repo = make_repo(tmp_path / "history")
    with serve_feed() as feed:
        result = run_scraper("--output", str(repo / "outages.json"), "--url", feed.url, "--push")
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: git push to origin failed: fatal: 'origin' does not appear to be a git repository\n"
    )


def test_pull_conflict_on_another_file_exits_3_and_keeps_snapshot_committed(tmp_path):
    remote = make_remote(tmp_path, {"outages.json": b"[]\n", "README.md": b"outages\n"})
    other = clone(remote, tmp_path / "other")
    scraper = clone(remote, tmp_path / "scraper")
    (other / "README.md").write_text("theirs\n")
    git(other, "commit", "--quiet", "-am", "Their README")
    git(other, "push", "--quiet", "origin", "main")
    (scraper / "README.md").write_text("ours\n")
    git(scraper, "commit", "--quiet", "-am", "Our README, never pushed")
    with serve_feed() as feed:
        result = run_scraper("--output", str(scraper / "outages.json"), "--url", feed.url, "--push")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: git pull --rebase from origin failed: error: could not apply ")
    assert result.stderr.count("\n") == 1
    assert git(scraper, "log", "--format=%s").splitlines() == [
        "6 outages added, 0 removed, 0 changed; 6 outages, 60 customers affected",
        "Our README, never pushed",
        "Seed",
    ]
    assert git(scraper, "status", "--porcelain") == ""
    assert (scraper / "outages.json").read_bytes() == fixture_bytes("arcgis-expected.json")
    assert head(remote, "main") == head(other)


@pytest.mark.parametrize(
    "before, after, first_line",
    [
        ([], [(1, 1)], "1 outage added, 0 removed, 0 changed; 1 outage, 1 customer affected"),
        ([(1, 5)], [], "0 outages added, 1 removed, 0 changed; 0 outages, 0 customers affected"),
        (
            [(n, 1) for n in range(1, 1_201)],
            [(n, 2) for n in range(2, 1_202)] + [(n, 1_000) for n in range(5_000, 5_003)],
            "4 outages added, 1 removed, 1,199 changed; 1,203 outages, 5,400 customers affected",
        ),
    ],
    ids=["singular", "all-cleared", "thousands"],
)
def test_commit_message_first_line(before, after, first_line):
    def records(pairs):
        return [{"F_OUTAGE_ID": i, "CITY": "Chico", "EST_CUSTOMERS": c, "OUTAGE_CAUSE": None} for i, c in pairs]

    message = commit_message(pge.ARCGIS, records(before), records(after))
    assert message.splitlines()[0] == first_line


@pytest.mark.parametrize("skip_ci", [True, False])
def test_skip_ci_puts_the_marker_right_after_the_summary(tmp_path, skip_ci):
    repo = make_repo(tmp_path / "history")
    with serve_feed() as feed:
        result = run_scraper(
            "--output", str(repo / "outages.json"), "--url", feed.url, "--commit", *(["--skip-ci"] if skip_ci else [])
        )
    assert result.exit_code == 0, result.output
    message = last_message(repo)
    lines = message.splitlines()
    assert lines[0] == "6 outages added, 0 removed, 0 changed; 6 outages, 60 customers affected"
    if skip_ci:
        assert lines[1:4] == ["", "[skip ci]", ""]
        assert message.index("[skip ci]") < 250  # all CircleCI reads of a message
    else:
        assert "[skip ci]" not in message


def test_an_unchanged_round_with_nothing_to_push_asks_no_remote(tmp_path):
    remote = make_remote(tmp_path, {"README.md": b"x\n"})
    checkout = clone(remote, tmp_path / "checkout")
    output = checkout / "outages.json"
    with serve_feed() as feed:
        first = run_scraper("--output", str(output), "--url", feed.url, "--push")
        assert first.exit_code == 0, first.output
        # The remote is gone: a round that has nothing new must not need it.
        remote.rename(tmp_path / "gone.git")
        again = run_scraper("--output", str(output), "--url", feed.url, "--push")
    assert again.exit_code == 0, again.output
    assert again.stdout.endswith("; unchanged; nothing to commit; nothing to push\n")
