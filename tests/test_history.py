"""Walking the git history of the outage file and the areas file beside it: opening the
repository, resolving the branch and the files, and reading every commit that changed
either, oldest first, from real repositories built in tmp_path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

from pge_outages.history import (
    CommitVersion,
    HistoryError,
    commit_exists,
    count_versions,
    find_areas_file,
    find_file,
    is_ancestor,
    is_shallow,
    iter_commit_versions,
    iter_contents,
    open_repo,
    resolve_branch,
)
from support.helpers import FIRST_COMMIT_TIME, areas_file, commit_files, commit_versions, git, make_repo

OUTAGES, AREAS = "outages.json", "outage-areas.geojson"
BOTH = (OUTAGES, AREAS)
ZEROS = "0" * 40

V1 = [{"outageNumber": "697196", "estCustAffected": "9", "regionName": "Fresno"}]
V2 = [{"outageNumber": "697196", "estCustAffected": "9"}, {"outageNumber": "697201", "estCustAffected": "1200"}]
V3 = [{"F_OUTAGE_ID": 2419248, "EST_CUSTOMERS": 1, "CITY": "San Jose"}]
A1 = areas_file({697201: {"type": "Point", "coordinates": [-122.71444, 38.44047]}})
A2 = areas_file({})


def written(version) -> bytes:
    """The bytes commit_versions writes for a version."""
    return (json.dumps(version, indent=2) + "\n").encode()


def blob(repo: Path, commit: str, path: str) -> str:
    return git(repo, "rev-parse", f"{commit}:{path}")


def title(index: int) -> str:
    """The ISO committer time of the index-th commit commit_files makes in a new repository (UTC-7)."""
    minutes = 30 + 10 * index
    return f"2019-10-26T{18 + minutes // 60}:{minutes % 60:02d}:00-07:00"


def child_processes() -> set[str]:
    """The pids of this process's children, read from /proc (Linux)."""
    children: set[str] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            children.update((task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended while we looked
            pass
    return children


def close_within(generator, seconds: float = 10) -> None:
    closer = threading.Thread(target=generator.close, daemon=True)
    closer.start()
    closer.join(seconds)
    assert not closer.is_alive(), "closing the generator hung"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Six commits: the outage file added, both files changed, only the areas file, neither file,
    the outage file deleted, then added again. A tag on the second, an unrelated branch."""
    repo = make_repo(tmp_path_factory.mktemp("history") / "repo", [])
    hashes = commit_files(repo, [
        {OUTAGES: V1},
        {OUTAGES: V2, AREAS: A1},
        {AREAS: A2},
        {"README.md": b"notes\n"},
        {OUTAGES: None},
        {OUTAGES: V3},
    ])
    git(repo, "tag", "-a", "v2", "-m", "the second version", hashes[1])
    orphan = git(repo, "commit-tree", f"{hashes[0]}^{{tree}}", "-m", "unrelated")
    git(repo, "branch", "orphan", orphan)
    return repo, hashes


@pytest.fixture(scope="module")
def long_history(tmp_path_factory):
    """600 commits of a 5 kB outage file, more than git's pipes hold: git blocks until it is read."""
    repo = make_repo(tmp_path_factory.mktemp("long") / "repo", [])
    stream = []
    for i in range(600):
        data = written([{"outageNumber": str(i), "cause": f"{i:06d}" * 800}])
        stream.append(b"commit refs/heads/main\ncommitter Test <t@example.com> %d -0700\ndata 0\n"
                      b"M 100644 inline outages.json\ndata %d\n%s\n" % (FIRST_COMMIT_TIME + 600 * i, len(data), data))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(stream), check=True)
    return repo, git(repo, "rev-parse", "main")


# open_repo and resolve_branch


def test_open_repo_reads_a_working_copy_and_a_bare_clone(history, tmp_path):
    repo, hashes = history
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    assert open_repo(repo).bare is False
    assert open_repo(str(bare)).bare is True
    assert resolve_branch(open_repo(bare), None) == resolve_branch(open_repo(repo), None) == hashes[-1]


@pytest.mark.parametrize("kind, reason", [
    ("missing", "no such directory"),
    ("directory", "not a git repository"),
    ("file", "a file, not a directory; give the repository the file is in"),
    ("inside-a-working-copy", "not a git repository"),
])
def test_open_repo_names_the_path_it_cannot_read(tmp_path, kind, reason):
    path = {
        "missing": tmp_path / "nowhere",
        "directory": tmp_path / "plain",
        "file": tmp_path / "outages.json",
        "inside-a-working-copy": tmp_path / "repo" / "data",
    }[kind]
    if kind == "directory":
        path.mkdir()
    elif kind == "file":
        path.write_text("[]")
    elif kind == "inside-a-working-copy":
        make_repo(tmp_path / "repo", [[]], "data/outages.json")
    with pytest.raises(HistoryError, match=f"^{re.escape(str(path))}: {reason}$") as raised:
        open_repo(path)
    assert isinstance(raised.value, RuntimeError)


@pytest.mark.parametrize("ref, index", [
    (None, 5), ("", 5), ("HEAD", 5), ("main", 5), ("refs/heads/main", 5), ("main~2", 3), ("v2", 1),
], ids=["default", "empty", "head", "branch", "full-ref", "ancestry", "annotated-tag"])
def test_resolve_branch_gives_the_commit_a_name_points_at(history, ref, index):
    repo, hashes = history
    assert resolve_branch(open_repo(repo), ref) == hashes[index]


def test_resolve_branch_takes_a_commit_hash_or_its_prefix(history):
    repo, hashes = history
    assert resolve_branch(open_repo(repo), hashes[2]) == hashes[2]
    assert resolve_branch(open_repo(repo), hashes[2][:10]) == hashes[2]


@pytest.mark.parametrize("ref", ["nope", "v9", "main~6", "--all", "blob", "tree", ZEROS])
def test_resolve_branch_rejects_a_name_of_no_commit(history, ref):
    repo, hashes = history
    if ref == "blob":
        ref = blob(repo, hashes[0], OUTAGES)
    elif ref == "tree":
        ref = git(repo, "rev-parse", f"{hashes[0]}^{{tree}}")
    with pytest.raises(HistoryError, match=f"^branch or commit {re.escape(repr(ref))} not found in the repository$"):
        resolve_branch(open_repo(repo), ref)


def test_resolve_branch_of_an_empty_repository(tmp_path):
    repo = open_repo(make_repo(tmp_path / "empty", []))
    with pytest.raises(HistoryError, match=f"^{re.escape(repo.git_dir)}: the repository has no commits$"):
        resolve_branch(repo, None)
    with pytest.raises(HistoryError, match="^branch or commit 'main' not found in the repository$"):
        resolve_branch(repo, "main")


# find_file and find_areas_file


@pytest.mark.parametrize("files, found", [
    ([OUTAGES], OUTAGES),
    (["pge-outages.json"], "pge-outages.json"),
    (["pge-outages.json", OUTAGES], OUTAGES),
])
def test_find_file_takes_outages_json_before_pge_outages_json(tmp_path, files, found):
    repo = make_repo(tmp_path / "repo", [])
    tip = commit_files(repo, [{file: V1 for file in files}])[-1]
    assert find_file(open_repo(repo), tip, None) == found


def test_find_file_finds_a_file_the_tip_has_deleted(history):
    repo, hashes = history
    assert find_file(open_repo(repo), hashes[4], None) == OUTAGES
    assert find_file(open_repo(repo), hashes[4], OUTAGES) == OUTAGES


def test_find_file_takes_the_file_the_tip_holds_before_one_it_deleted(tmp_path):
    repo = make_repo(tmp_path / "repo", [])
    tip = commit_files(repo, [{OUTAGES: V1}, {OUTAGES: None, "pge-outages.json": V2}])[-1]
    assert find_file(open_repo(repo), tip, None) == "pge-outages.json"


def test_find_file_falls_back_on_the_second_default_the_history_held(tmp_path):
    repo = make_repo(tmp_path / "repo", [])
    tip = commit_files(repo, [{"pge-outages.json": V1}, {"pge-outages.json": None, "feed.json": V2}])[-1]
    assert find_file(open_repo(repo), tip, None) == "pge-outages.json"


def test_find_file_takes_the_file_it_is_given(tmp_path):
    repo = make_repo(tmp_path / "repo", [V1, V2], "data/feed.json")
    tip = commit_files(repo, [{OUTAGES: V3}, {"data/feed.json": None}])[-1]
    assert find_file(open_repo(repo), tip, "data/feed.json") == "data/feed.json"


def test_find_file_names_the_file_the_history_lacks(history, tmp_path):
    repo, hashes = history
    with pytest.raises(HistoryError, match=f"^feed.json is not in the history of {hashes[-1][:12]}$"):
        find_file(open_repo(repo), hashes[-1], "feed.json")
    # The areas file is in the repository, but not yet in the history of the first commit.
    with pytest.raises(HistoryError, match=f"^{AREAS} is not in the history of {hashes[0][:12]}$"):
        find_file(open_repo(repo), hashes[0], AREAS)


def test_find_file_without_either_default_says_to_name_the_file(tmp_path):
    repo = make_repo(tmp_path / "repo", [V1], "feed.json")
    tip = git(repo, "rev-parse", "HEAD")
    with pytest.raises(HistoryError) as raised:
        find_file(open_repo(repo), tip, None)
    assert str(raised.value) == (
        f"neither outages.json or pge-outages.json is in the history of {tip[:12]}; name the file with --file"
    )


def test_find_file_does_not_look_at_other_branches(tmp_path):
    repo = make_repo(tmp_path / "repo", [V1], "feed.json")
    git(repo, "checkout", "-q", "-b", "side")
    commit_versions(repo, [V2])
    tip = git(repo, "rev-parse", "main")
    with pytest.raises(HistoryError, match=f"^{OUTAGES} is not in the history of {tip[:12]}$"):
        find_file(open_repo(repo), tip, OUTAGES)


@pytest.mark.parametrize("outages, areas", [
    (OUTAGES, AREAS),
    ("pge-outages.json", AREAS),
    ("data/outages.json", f"data/{AREAS}"),
    ("a/b/feed.json", f"a/b/{AREAS}"),
])
def test_areas_file_defaults_to_the_one_beside_the_outage_file(tmp_path, outages, areas):
    repo = make_repo(tmp_path / "repo", [V1], outages)
    tip = git(repo, "rev-parse", "HEAD")
    assert find_areas_file(open_repo(repo), tip, None, outages) == areas
    assert find_areas_file(open_repo(repo), tip, "", outages) == areas


def test_named_areas_file_must_be_in_the_history(history):
    repo, hashes = history
    assert find_areas_file(open_repo(repo), hashes[-1], AREAS, OUTAGES) == AREAS
    assert find_areas_file(open_repo(repo), hashes[-1], "README.md", OUTAGES) == "README.md"
    with pytest.raises(HistoryError, match=f"^{AREAS} is not in the history of {hashes[0][:12]}$"):
        find_areas_file(open_repo(repo), hashes[0], AREAS, OUTAGES)
    with pytest.raises(HistoryError, match=f"^areas.geojson is not in the history of {hashes[-1][:12]}$"):
        find_areas_file(open_repo(repo), hashes[-1], "areas.geojson", OUTAGES)


def test_areas_file_deleted_by_the_tip_is_still_in_its_history(tmp_path):
    repo = make_repo(tmp_path / "repo", [])
    tip = commit_files(repo, [{OUTAGES: V1, AREAS: A1}, {AREAS: None}])[-1]
    assert find_areas_file(open_repo(repo), tip, AREAS, OUTAGES) == AREAS


def test_areas_file_cannot_be_the_outage_file(history):
    repo, hashes = history
    with pytest.raises(HistoryError) as raised:
        find_areas_file(open_repo(repo), hashes[-1], OUTAGES, OUTAGES)
    assert str(raised.value) == (
        "outages.json is the outage file; the areas file is another one, such as outage-areas.geojson"
    )


# commit_exists, is_ancestor, is_shallow


@pytest.mark.parametrize("name, exists", [
    ("first", True), ("tip", True), ("HEAD", True), ("v2", True), ("blob", False), ("tree", False),
    (ZEROS, False), ("nope", False),
])
def test_commit_exists_only_for_commits(history, name, exists):
    repo, hashes = history
    sha = {
        "first": hashes[0], "tip": hashes[-1], "blob": blob(repo, hashes[0], OUTAGES),
        "tree": git(repo, "rev-parse", f"{hashes[0]}^{{tree}}"),
    }.get(name, name)
    assert commit_exists(open_repo(repo), sha) is exists


@pytest.mark.parametrize("ancestor, tip, expected", [
    (0, 5, True), (2, 4, True), (3, 3, True), (5, 0, False), (4, 2, False), ("orphan", 5, False), (5, "orphan", False),
    (ZEROS, 5, False), (0, ZEROS, False),
])
def test_is_ancestor_only_along_the_history_of_the_tip(history, ancestor, tip, expected):
    repo, hashes = history

    def commit(ref):
        return hashes[ref] if isinstance(ref, int) else ref

    assert is_ancestor(open_repo(repo), commit(ancestor), commit(tip)) is expected


def test_shallow_clone_is_cut_off_below_its_tip(history, tmp_path):
    repo, hashes = history
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(clone)], check=True)
    shallow = open_repo(clone)
    assert is_shallow(shallow) is True
    assert is_shallow(open_repo(repo)) is False
    assert commit_exists(shallow, hashes[-1]) is True
    assert commit_exists(shallow, hashes[0]) is False
    assert count_versions(shallow, BOTH, hashes[-1]) == 1
    # The commit at the cut has no parent: every file it holds is new there.
    assert list(iter_commit_versions(shallow, BOTH, hashes[-1])) == [
        CommitVersion(hashes[-1], FIRST_COMMIT_TIME + 3000, title(5),
                      {AREAS: blob(repo, hashes[-1], AREAS), OUTAGES: blob(repo, hashes[-1], OUTAGES)}),
    ]


# count_versions and iter_commit_versions


@pytest.mark.parametrize("paths, since, count", [
    (BOTH, None, 5),
    ((OUTAGES,), None, 4),
    ((AREAS,), None, 2),
    (("README.md",), None, 1),
    (("nothing.json",), None, 0),
    (BOTH, 0, 4),
    (BOTH, 1, 3),
    (BOTH, 2, 2),
    (BOTH, 3, 2),
    ((AREAS,), 2, 0),
    (BOTH, 5, 0),
])
def test_count_versions_counts_the_commits_after_since_that_changed_any_file(history, paths, since, count):
    repo, hashes = history
    after = None if since is None else hashes[since]
    assert count_versions(open_repo(repo), paths, hashes[-1], after) == count


def test_commit_versions_are_oldest_first_with_the_new_blob_of_each_file_changed(history):
    repo, hashes = history
    assert list(iter_commit_versions(open_repo(repo), BOTH, hashes[-1])) == [
        CommitVersion(hashes[0], FIRST_COMMIT_TIME, title(0), {OUTAGES: blob(repo, hashes[0], OUTAGES)}),
        CommitVersion(hashes[1], FIRST_COMMIT_TIME + 600, title(1),
                      {OUTAGES: blob(repo, hashes[1], OUTAGES), AREAS: blob(repo, hashes[1], AREAS)}),
        CommitVersion(hashes[2], FIRST_COMMIT_TIME + 1200, title(2), {AREAS: blob(repo, hashes[2], AREAS)}),
        CommitVersion(hashes[4], FIRST_COMMIT_TIME + 2400, title(4), {OUTAGES: None}),
        CommitVersion(hashes[5], FIRST_COMMIT_TIME + 3000, title(5), {OUTAGES: blob(repo, hashes[5], OUTAGES)}),
    ]


@pytest.mark.parametrize("since, listed", [(0, [1, 2, 4, 5]), (1, [2, 4, 5]), (3, [4, 5]), (4, [5]), (5, [])])
def test_commit_versions_since_a_commit_start_after_it(history, since, listed):
    repo, hashes = history
    versions = iter_commit_versions(open_repo(repo), BOTH, hashes[-1], hashes[since])
    assert [version.hash for version in versions] == [hashes[i] for i in listed]


def test_commit_versions_up_to_an_older_tip(history):
    repo, hashes = history
    versions = list(iter_commit_versions(open_repo(repo), (OUTAGES,), hashes[2]))
    assert [(v.hash, v.blobs) for v in versions] == [
        (hashes[0], {OUTAGES: blob(repo, hashes[0], OUTAGES)}),
        (hashes[1], {OUTAGES: blob(repo, hashes[1], OUTAGES)}),
    ]


def test_commit_time_and_title_come_from_the_committer(tmp_path):
    repo = make_repo(tmp_path / "repo", [V1, V2], times=[1711886400, 1711886401])
    versions = list(iter_commit_versions(open_repo(repo), (OUTAGES,), "main"))
    assert [(v.when, v.title) for v in versions] == [
        (1711886400, "2024-03-31T05:00:00-07:00"), (1711886401, "2024-03-31T05:00:01-07:00"),
    ]


def test_renamed_file_is_deleted_under_its_old_name_and_added_under_its_new(tmp_path):
    repo = make_repo(tmp_path / "repo", [V1])
    renamed = commit_files(repo, [{OUTAGES: None, "feed.json": V1}])[-1]
    assert git(repo, "show", "--format=", "--name-status", "-M", renamed) == f"R100\t{OUTAGES}\tfeed.json"
    [first, rename] = iter_commit_versions(open_repo(repo), (OUTAGES, "feed.json"), renamed)
    assert rename.blobs == {OUTAGES: None, "feed.json": first.blobs[OUTAGES]}
    old_name_only = iter_commit_versions(open_repo(repo), (OUTAGES,), renamed)
    assert [v.blobs for v in old_name_only] == [first.blobs, {OUTAGES: None}]


def test_merge_is_a_version_of_what_it_brings_to_the_first_parent(tmp_path):
    repo = make_repo(tmp_path / "repo", [V1])
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "side")
    side = commit_versions(repo, [V2, V3])
    git(repo, "checkout", "-q", "main")
    before = commit_files(repo, [{"README.md": b"notes\n"}])[-1]
    when = FIRST_COMMIT_TIME + 6000
    dates = {"GIT_COMMITTER_DATE": f"{when} -0700", "GIT_AUTHOR_DATE": f"{when} -0700"}
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side", env=dates)
    merge = git(repo, "rev-parse", "HEAD")
    # A second merge whose side branch changed neither file is no version.
    git(repo, "checkout", "-q", "-b", "docs", before)
    commit_files(repo, [{"docs.md": b"more notes\n"}])
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge docs", "docs", env=dates)
    tip = git(repo, "rev-parse", "HEAD")

    versions = list(iter_commit_versions(open_repo(repo), BOTH, tip))
    assert [v.hash for v in versions] == [first, merge]
    assert versions[1] == CommitVersion(merge, when, "2019-10-26T20:10:00-07:00",
                                        {OUTAGES: blob(repo, side[-1], OUTAGES)})
    assert count_versions(open_repo(repo), BOTH, tip) == 2
    assert [contents for _, contents, _ in iter_contents(open_repo(repo), BOTH, tip)] == [
        (written(V1), None), (written(V3), None),
    ]


UNUSUAL = ["café.json", "停電.json", 'we"ird.json', "tab\tname.json", "back\\slash.json", "data dir/out ages.json"]


@pytest.mark.parametrize("quote_path", ["true", "false"])
@pytest.mark.parametrize("path", UNUSUAL, ids=["accent", "cjk", "quote", "tab", "backslash", "spaces"])
def test_unusual_paths_are_read_by_their_names(tmp_path, path, quote_path):
    repo = make_repo(tmp_path / "repo", [])
    git(repo, "config", "core.quotePath", quote_path)
    hashes = commit_files(repo, [{path: V1, AREAS: A1}, {AREAS: A2}, {path: V2}])
    history = open_repo(repo)
    assert find_file(history, hashes[-1], path) == path
    assert [v.blobs for v in iter_commit_versions(history, (path, AREAS), hashes[-1])] == [
        {path: blob(repo, hashes[0], path), AREAS: blob(repo, hashes[0], AREAS)},
        {AREAS: blob(repo, hashes[1], AREAS)},
        {path: blob(repo, hashes[2], path)},
    ]
    # Since the first commit, the file is first read as that commit has it: by path, not by blob.
    assert [contents for _, contents, _ in iter_contents(history, (path, AREAS), hashes[-1], hashes[0])] == [
        (written(V1), A2), (written(V2), A2),
    ]


def test_path_with_glob_characters_is_taken_literally(tmp_path):
    repo = make_repo(tmp_path / "repo", [V1], "outages[1].json")
    tip = commit_files(repo, [{"outages1.json": V2}])[-1]
    assert count_versions(open_repo(repo), ("outages[1].json",), tip) == 1
    assert len(list(iter_commit_versions(open_repo(repo), ("outages[1].json",), tip))) == 1


def test_first_commit_is_read_whatever_log_showroot_says(tmp_path):
    repo = make_repo(tmp_path / "repo", [V1, V2])
    git(repo, "config", "log.showRoot", "false")
    first = next(iter_contents(open_repo(repo), (OUTAGES,), "main"))
    assert first[1:] == ((written(V1),), (True,))


@pytest.mark.parametrize("tip, since, reason", [
    (ZEROS, None, f"bad object {ZEROS}"),
    ("nope", None, "bad revision 'nope'"),
    ("main", ZEROS, f"Invalid revision range {ZEROS}..main"),
])
def test_git_log_that_fails_is_a_history_error(history, tip, since, reason):
    repo, _ = history
    with pytest.raises(HistoryError, match=f"^git log failed: fatal: {reason}$"):
        list(iter_commit_versions(open_repo(repo), BOTH, tip, since))
    # iter_contents walks the log in another thread, and raises its error in the caller's.
    with pytest.raises(HistoryError, match=f"^git log failed: fatal: {reason}$"):
        list(iter_contents(open_repo(repo), BOTH, tip, since))


def test_long_history_is_read_whole(long_history):
    repo, tip = long_history
    assert count_versions(open_repo(repo), (OUTAGES,), tip) == 600
    walk = iter_contents(open_repo(repo), (OUTAGES,), tip)
    numbers = [json.loads(contents[0])[0]["outageNumber"] for _, contents, _ in walk]
    assert numbers == [str(i) for i in range(600)]


def test_commit_versions_closed_early_end_git_log(long_history):
    repo, tip = long_history
    history = open_repo(repo)
    before = child_processes()
    versions = iter_commit_versions(history, (OUTAGES,), tip)
    assert next(versions).when == FIRST_COMMIT_TIME
    assert child_processes() - before, "git log should still be running, blocked on its full pipe"
    close_within(versions)
    assert child_processes() == before


# iter_contents


def test_contents_of_each_commit_with_what_it_changed(history):
    repo, hashes = history
    walked = [(version.hash, contents, changed) for version, contents, changed in
              iter_contents(open_repo(repo), BOTH, hashes[-1])]
    assert walked == [
        (hashes[0], (written(V1), None), (True, False)),
        (hashes[1], (written(V2), A1), (True, True)),
        (hashes[2], (written(V2), A2), (False, True)),  # the outage file as it stood
        (hashes[4], (None, A2), (True, False)),  # deleted
        (hashes[5], (written(V3), A2), (True, False)),  # added again
    ]


def test_contents_come_in_the_order_of_the_paths(history):
    repo, hashes = history
    walk = iter_contents(open_repo(repo), (AREAS, OUTAGES), hashes[2])
    assert [(contents, changed) for _, contents, changed in walk] == [
        ((None, written(V1)), (False, True)),
        ((A1, written(V2)), (True, True)),
        ((A2, written(V2)), (True, False)),
    ]


@pytest.mark.parametrize("since, first", [
    (0, (1, (written(V2), A1), (True, True))),
    (1, (2, (written(V2), A2), (False, True))),
    (2, (4, (None, A2), (True, False))),
    (3, (4, (None, A2), (True, False))),
    (4, (5, (written(V3), A2), (True, False))),
])
def test_contents_since_a_commit_start_from_the_files_as_it_has_them(history, since, first):
    repo, hashes = history
    walked = [(version.hash, contents, changed) for version, contents, changed in
              iter_contents(open_repo(repo), BOTH, hashes[-1], hashes[since])]
    index, contents, changed = first
    assert walked[0] == (hashes[index], contents, changed)
    assert walked[-1] == (hashes[5], (written(V3), A2), (True, False))
    assert len(walked) == count_versions(open_repo(repo), BOTH, hashes[-1], hashes[since])


def test_file_absent_from_the_commit_the_walk_starts_after_is_none(tmp_path):
    repo = make_repo(tmp_path / "repo", [])
    hashes = commit_files(repo, [{OUTAGES: V1}, {OUTAGES: V2}, {AREAS: A1}])
    walk = iter_contents(open_repo(repo), BOTH, hashes[-1], hashes[0])
    assert [(contents, changed) for _, contents, changed in walk] == [
        ((written(V2), None), (True, False)),  # the areas file is in no commit yet
        ((written(V2), A1), (False, True)),
    ]


def test_contents_of_a_walk_with_nothing_after_since_are_none(history):
    repo, hashes = history
    assert list(iter_contents(open_repo(repo), BOTH, hashes[-1], hashes[-1])) == []
    assert list(iter_contents(open_repo(repo), ("nothing.json",), hashes[-1])) == []


def test_blob_missing_from_the_repository_is_a_history_error(tmp_path):
    repo = make_repo(tmp_path / "repo", [V1, V2, V3])
    hashes = git(repo, "rev-list", "--reverse", "main").split()
    missing = blob(repo, hashes[1], OUTAGES)
    (repo / ".git" / "objects" / missing[:2] / missing[2:]).unlink()
    walked = []
    with pytest.raises(HistoryError, match=f"^blob {missing} of commit {hashes[1]} is missing from the repository$"):
        for version, contents, _ in iter_contents(open_repo(repo), (OUTAGES,), hashes[-1]):
            walked.append((version.hash, contents))
    assert walked == [(hashes[0], (written(V1),))]


def test_contents_stopped_early_end_cat_file_and_the_request_thread(long_history):
    repo, tip = long_history
    history = open_repo(repo)
    before = child_processes()
    walk = iter_contents(history, (OUTAGES, AREAS), tip)
    version, contents, changed = next(walk)
    assert (version.when, changed) == (FIRST_COMMIT_TIME, (True, False))
    assert json.loads(contents[0])[0]["outageNumber"] == "0" and contents[1] is None
    assert child_processes() - before, "git cat-file should still be running, blocked on its full pipe"
    close_within(walk)
    assert child_processes() == before
    assert "request-history" not in {thread.name for thread in threading.enumerate()}


def test_a_fetched_at_trailer_is_the_versions_time_whatever_the_commit_time(tmp_path):
    repo = make_repo(tmp_path / "repo", [V1])
    (repo / OUTAGES).write_text(json.dumps(V2))
    git(repo, "add", OUTAGES)
    # Rebased and pushed an hour after the scrape read the feed.
    late = f"{FIRST_COMMIT_TIME + 3600} +0000"
    git(repo, "commit", "-q", "-m", "1 outage added\n\nFetched-At: 2019-10-27T01:40:00Z\nFeed-Updated: x",
        env={"GIT_COMMITTER_DATE": late, "GIT_AUTHOR_DATE": late})
    (repo / OUTAGES).write_text(json.dumps(V3))
    git(repo, "add", OUTAGES)
    git(repo, "commit", "-q", "-m", "Not a time\n\nFetched-At: soon", env={"GIT_COMMITTER_DATE": late})
    versions = list(iter_commit_versions(open_repo(repo), (OUTAGES,), "main"))
    assert [(v.when, v.title) for v in versions[1:]] == [
        (1572140400, "2019-10-27T01:40:00+00:00"),
        (FIRST_COMMIT_TIME + 3600, "2019-10-27T02:30:00+00:00"),
    ]

