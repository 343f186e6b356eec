"""Walk the git history of the outage file (and the areas file beside it): every
commit that changed either, oldest first.

Commits come from one `git log --raw`, blobs from one pipelined
`git cat-file --batch`, both started through GitPython; nothing is ever
checked out.
"""

from __future__ import annotations

import codecs
import fcntl
import posixpath
import queue
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git

from .trailers import FETCHED_AT, SCRAPE_INTERVAL, WATCHED_SINCE, read_trailers

DEFAULT_FILES = ("outages.json", "pge-outages.json")
# The scraper's trailers (trailers.py), as git writes them for read_trailers.
_TRAILERS = (
    f"%(trailers:key={FETCHED_AT},key={WATCHED_SINCE},key={SCRAPE_INTERVAL},separator=%x1f)"
)
# The scraper commits each outage's area beside the outage file, in the same commits.
DEFAULT_AREAS_FILE = "outage-areas.geojson"
_NULL_SHA = "0" * 40


class HistoryError(RuntimeError):
    """The repository, branch or file cannot be read as a history."""


@dataclass(frozen=True)
class CommitVersion:
    """One commit that changed some of the files: the new blob of each it changed (None where deleted).

    `when` is the scraper's Fetched-At where the commit has one, else the commit's time;
    `watched_since` and `interval` are its Watched-Since and Scrape-Interval (a loop's).
    """

    hash: str
    when: int
    title: str
    blobs: dict[str, str | None]
    watched_since: int | None = None
    interval: int | None = None


@dataclass(frozen=True)
class LivenessMark:
    """An empty commit of the scraper's: it read the feed at `when` and found nothing changed."""

    hash: str
    when: int
    watched_since: int | None = None
    interval: int | None = None


def open_repo(path: str | Path) -> git.Repo:
    """Open a working copy or bare repository, or raise HistoryError naming the path."""
    if Path(path).is_file():
        raise HistoryError(f"{path}: a file, not a directory; give the repository the file is in")
    try:
        repo = git.Repo(path)
    except git.NoSuchPathError:
        raise HistoryError(f"{path}: no such directory") from None
    except git.InvalidGitRepositoryError:
        raise HistoryError(f"{path}: not a git repository") from None
    # File names are names, not patterns: "outages[1].json" must not match outages1.json.
    repo.git.update_environment(GIT_LITERAL_PATHSPECS="1")
    return repo


def resolve_branch(repo: git.Repo, branch: str | None) -> str:
    """The commit hash the branch (default: HEAD) points at."""
    ref = branch or "HEAD"
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")
    except git.GitCommandError:
        if branch is None:
            raise HistoryError(f"{repo.git_dir}: the repository has no commits") from None
        raise HistoryError(f"branch or commit {ref!r} not found in the repository") from None


def find_file(repo: git.Repo, tip: str, file: str | None) -> str:
    """The path of the outage file: `file` if given, else the default the history holds."""
    candidates = (file,) if file else DEFAULT_FILES
    # Cheap first: the file as the tip has it. Only a file the tip deleted
    # needs a walk back through the history.
    for path in candidates:
        if _exists(repo, f"{tip}:{path}"):
            return path
    for path in candidates:
        if repo.git.log("-1", "--format=%H", tip, "--", path):
            return path
    if file:
        raise HistoryError(f"{file} is not in the history of {tip[:12]}")
    names = " or ".join(DEFAULT_FILES)
    raise HistoryError(f"neither {names} is in the history of {tip[:12]}; name the file with --file")


def find_areas_file(repo: git.Repo, tip: str, file: str | None, outages: str) -> str:
    """The path of the areas file: `file` if given (it must be in the history), else
    DEFAULT_AREAS_FILE beside the outage file, which the history need not hold."""
    if not file:
        return posixpath.join(posixpath.dirname(outages), DEFAULT_AREAS_FILE)
    if file == outages:
        raise HistoryError(f"{file} is the outage file; the areas file is another one, such as {DEFAULT_AREAS_FILE}")
    if not _exists(repo, f"{tip}:{file}") and not repo.git.log("-1", "--format=%H", tip, "--", file):
        raise HistoryError(f"{file} is not in the history of {tip[:12]}")
    return file


def _exists(repo: git.Repo, spec: str) -> bool:
    try:
        repo.git.cat_file("-e", spec)
    except git.GitCommandError:
        return False
    return True


def commit_exists(repo: git.Repo, sha: str) -> bool:
    return _exists(repo, f"{sha}^{{commit}}")


def is_shallow(repo: git.Repo) -> bool:
    """Whether the repository is a shallow clone, its history cut off below some commits."""
    return repo.git.rev_parse("--is-shallow-repository") == "true"


def is_ancestor(repo: git.Repo, ancestor: str, tip: str) -> bool:
    try:
        repo.git.merge_base("--is-ancestor", ancestor, tip)
    except git.GitCommandError:
        return False
    return True


def _log_args(paths: tuple[str, ...], tip: str, since: str | None) -> list[str]:
    revisions = f"{since}..{tip}" if since else tip
    return [revisions, "--first-parent", "--", *paths]


def count_versions(repo: git.Repo, paths: tuple[str, ...], tip: str, since: str | None = None) -> int:
    """How many commits after `since` up to `tip` changed any of the files."""
    return int(repo.git.rev_list("--count", *_log_args(paths, tip, since)))


def _unquote(path: str) -> str:
    # git writes a path with unusual characters C-quoted: "caf\303\251.json"
    if path.startswith('"') and path.endswith('"'):
        return codecs.escape_decode(path[1:-1].encode())[0].decode("utf-8", "replace")
    return path


def iter_commit_versions(
    repo: git.Repo, paths: tuple[str, ...], tip: str, since: str | None = None
) -> Iterator[CommitVersion]:
    """Yield each commit after `since` up to `tip` that changed any of `paths`, oldest first."""
    process = repo.git.log(
        "--reverse",
        # The first commit's files too, whatever the user's log.showRoot says.
        "--root",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        # The scraper's Fetched-At trailer, when the commit has one, is the
        # snapshot's time: a rebase or a late push changes the commit's time, not it.
        f"--format=%x00%H %ct %cI {_TRAILERS}",
        *_log_args(paths, tip, since),
        as_process=True,
    )
    header: list[str] | None = None
    blobs: dict[str, str | None] = {}
    try:
        for raw_line in process.stdout:
            line = raw_line.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("\x00"):
                if header is not None:
                    yield _version(header, blobs)
                header = line[1:].split(" ", 3)
                blobs = {}
            elif line.startswith(":"):
                # ":100644 100644 <old> <new> M\tpath": the new blob, all zeros when deleted
                modes, path = line.split("\t", 1)
                new_sha = modes.split(" ")[3]
                blobs[_unquote(path)] = None if new_sha == _NULL_SHA else new_sha
        if header is not None:
            yield _version(header, blobs)
        if process.proc.wait() != 0:
            error = process.stderr.read().decode("utf-8", "replace").strip()
            raise HistoryError(f"git log failed: {error}")
    finally:
        # Closed early, git log ends on the closed pipe: that is no error.
        process.stdout.close()
        process.proc.wait()


def _version(header: list[str], blobs: dict[str, str | None]) -> CommitVersion:
    """A commit's version, timed by its first Fetched-At trailer when that reads as a time."""
    trailers = read_trailers(header[3] if len(header) > 3 else "")
    fetched = trailers.get(FETCHED_AT)
    if fetched is None:
        return CommitVersion(header[0], int(header[1]), header[2], blobs)
    return CommitVersion(
        header[0], fetched, datetime.fromtimestamp(fetched, UTC).isoformat(), blobs,
        trailers.get(WATCHED_SINCE), trailers.get(SCRAPE_INTERVAL),
    )


def read_all_trailers(repo: git.Repo, tip: str) -> dict[str, tuple[int, int | None, int | None]]:
    """Each first-parent commit up to `tip` that has a Fetched-At trailer: hash -> (Fetched-At,
    Watched-Since, Scrape-Interval)."""
    found = {}
    # split("\n"), not splitlines(): that splits at the 0x1e and 0x1f separators too.
    for line in repo.git.log("--first-parent", f"--format=%H\x1e{_TRAILERS}", tip).split("\n"):
        hash, _, text = line.partition("\x1e")
        trailers = read_trailers(text) if FETCHED_AT in text else {}
        if FETCHED_AT in trailers:
            found[hash] = (trailers[FETCHED_AT], trailers.get(WATCHED_SINCE), trailers.get(SCRAPE_INTERVAL))
    return found


def iter_liveness_marks(repo: git.Repo, tip: str, since: str | None = None) -> Iterator[LivenessMark]:
    """Yield the scraper's liveness marks after `since` up to `tip` on the first-parent line, oldest first:
    the commits with a Fetched-At trailer that change no file (their tree is their parent's)."""
    revisions = f"{since}..{tip}" if since else tip
    output = repo.git.log("--reverse", "--first-parent", f"--format=%H %T %P\x1e{_TRAILERS}", revisions)
    trees: dict[str, str] = {}
    for line in output.split("\n"):  # not splitlines(), which splits at 0x1e and 0x1f too
        head, _, trailer_text = line.partition("\x1e")
        if not head.strip():
            continue
        hash, tree, *parents = head.split()
        trees[hash] = tree
        if FETCHED_AT not in trailer_text:
            continue
        trailers = read_trailers(trailer_text)
        fetched = trailers.get(FETCHED_AT)
        if fetched is None or not parents:
            continue
        parent_tree = trees.get(parents[0]) or repo.git.rev_parse(f"{parents[0]}^{{tree}}")
        if parent_tree == tree:
            yield LivenessMark(hash, fetched, trailers.get(WATCHED_SINCE), trailers.get(SCRAPE_INTERVAL))


_DONE = object()
_KEEP = object()  # a file the commit did not change: the bytes stay those of the commit before
_F_SETPIPE_SZ = 1031  # Linux: let git inflate a few versions ahead of the reader


def _widen_pipe(pipe) -> None:
    try:
        fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass  # another system, or a lower limit: the default pipe works, a little slower


def iter_contents(
    repo: git.Repo, paths: tuple[str, ...], tip: str, since: str | None = None
) -> Iterator[tuple[CommitVersion, tuple[bytes | None, ...], tuple[bool, ...]]]:
    """Yield each commit that changed any of `paths`, oldest first, with every path's bytes
    at that commit (None where absent) and whether the commit changed it.

    One `git cat-file --batch` process serves every blob. A thread walks the
    log and queues the requests, so git inflates the next versions on one core
    while the caller works through this one on the other.
    """
    cat = repo.git.cat_file("--batch", as_process=True, istream=subprocess.PIPE)
    _widen_pipe(cat.stdout)
    requested: queue.Queue = queue.Queue()

    def request_all() -> None:
        try:
            before = since  # only the first commit reads unchanged files, at `since`
            for count, version in enumerate(iter_commit_versions(repo, paths, tip, since), 1):
                specs: list[str | None | object] = []  # object: _KEEP
                for path in paths:
                    if path in version.blobs:
                        specs.append(version.blobs[path])
                    elif before is not None:
                        specs.append(f"{before}:{path}")
                    else:
                        specs.append(_KEEP)
                before = None
                requested.put((version, specs))
                for spec in specs:
                    if isinstance(spec, str):  # neither None nor _KEEP
                        cat.stdin.write(spec.encode() + b"\n")
                if count % 32 == 0:
                    cat.stdin.flush()
            requested.put(_DONE)
        except BrokenPipeError:  # the caller stopped early and ended cat-file
            requested.put(_DONE)
        except BaseException as error:  # handed over to the caller's thread
            requested.put(error)
        finally:
            try:
                cat.stdin.close()
            except BrokenPipeError:
                pass

    requester = threading.Thread(target=request_all, name="request-history", daemon=True)
    requester.start()
    read, readline = cat.stdout.read, cat.stdout.readline
    contents: list[bytes | None] = [None] * len(paths)
    finished = False
    try:
        while True:
            item = requested.get()
            if item is _DONE:
                finished = True
                return
            if isinstance(item, BaseException):
                raise item
            version, specs = item
            changed = []
            for index, spec in enumerate(specs):
                changed.append(paths[index] in version.blobs)
                if spec is _KEEP:
                    continue
                if spec is None:
                    contents[index] = None
                    continue
                header = readline()
                if header.endswith(b" missing\n"):
                    if ":" not in spec:  # a blob of the commit itself must be there
                        raise HistoryError(f"blob {spec} of commit {version.hash} is missing from the repository")
                    contents[index] = None  # the file is not in the commit the walk starts after
                    continue
                fields = header.split()
                if len(fields) != 3:
                    raise HistoryError(f"blob {spec} of commit {version.hash} is missing from the repository")
                contents[index] = read(int(fields[2]))
                read(1)  # the newline after each object
            yield version, tuple(contents), tuple(changed)
    finally:
        if not finished:  # the caller stopped early: end cat-file, which ends the requester
            cat.proc.kill()
        cat.proc.wait()
        cat.stdout.close()
        requester.join()
