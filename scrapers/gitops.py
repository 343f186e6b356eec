"""Commit a scraped file as a bot and push it, with plain git commands.

Nothing here knows about feeds: the caller hands over a path, a message, and a
way to make its commit again when another run pushed first.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RACE_PAUSE = 0.5  # seconds, times the attempt: the most a push waits before its retry


class GitError(RuntimeError):
    """A git command failed: not a repository, commit refused, push or pull failed."""


class PushRejected(GitError):
    """The remote kept rejecting the push because other runs kept pushing first."""


@dataclass(frozen=True)
class Identity:
    """The name and email the scraper commits as.

    >>> Identity("pge-outages bot", "actions@users.noreply.github.com").name
    'pge-outages bot'
    """

    name: str
    email: str


def run_git(
    repo: Path, *args: str, identity: Identity | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one git command in repo, as identity if given; raise GitError naming the command if it fails.

    >>> run_git(Path("."), "status", "--porcelain")  # doctest: +SKIP
    """
    command = ["git"]
    if identity is not None:
        command += ["-c", f"user.name={identity.name}", "-c", f"user.email={identity.email}"]
        command += ["-c", "commit.gpgsign=false"]  # a bot has no signing key
    command += list(args)
    # Its own session: a Ctrl-C in a terminal, or a SIGTERM to the process group, goes to the
    # scraper alone, which lets the command finish or undoes the round, rather than killing git mid-way.
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, start_new_session=True)
    if check and result.returncode != 0:
        raise GitError(f"git {args[0]} failed in {repo}: {_reason(result.stderr or result.stdout)}")
    return result


def _reason(stderr: str) -> str:
    # git explains itself over several lines; the rejection or the first fatal one says why.
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for wanted in ("rejected]", "fatal:", "error:"):
        for line in lines:
            if wanted in line:
                return line
    return lines[-1] if lines else "no output"


def find_repo(path: Path) -> Path:
    """The top directory of the git repository that holds path (a file that may not exist yet).

    >>> find_repo(Path("history/outages.json"))  # doctest: +SKIP
    """
    directory = path.resolve().parent
    if not directory.is_dir():
        raise GitError(f"{path.parent} does not exist, so {path} cannot be committed")
    result = run_git(directory, "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        raise GitError(f"{path} is not inside a git repository; run git init there or drop --commit")
    return Path(result.stdout.strip())


def relative_path(repo: Path, path: Path) -> str:
    """path relative to the repository's top, in the slash form git uses.

    >>> relative_path(Path("/abs/history"), Path("/abs/history/outages.json"))
    'outages.json'
    """
    return path.resolve().relative_to(repo.resolve()).as_posix()


def read_committed(repo: Path, relative: str) -> bytes | None:
    """The file's content at HEAD, or None when there is no HEAD or the file is not in it.

    >>> read_committed(Path("."), "outages.json")  # doctest: +SKIP
    """
    result = subprocess.run(
        ["git", "show", f"HEAD:{relative}"], cwd=repo, capture_output=True, check=False, start_new_session=True
    )
    return result.stdout if result.returncode == 0 else None


def has_changes(repo: Path, *relatives: str) -> bool:
    """Whether the working copy of any of the files differs from HEAD (new files count as changed).

    >>> has_changes(Path("."), "outages.json", "outage-areas.geojson")  # doctest: +SKIP
    """
    return bool(run_git(repo, "status", "--porcelain", "--", *relatives).stdout.strip())


def commit_files(repo: Path, relatives: list[str], message: str, identity: Identity) -> str:
    """Commit just these files, in one commit, with message as identity, leaving anything else staged alone.

    >>> commit_files(Path("."), ["outages.json"], "1 outage added, ...",  # doctest: +SKIP
    ...              Identity("bot", "bot@example.com"))

    Returns the new commit's hash.
    """
    run_git(repo, "add", "--", *relatives)
    run_git(
        repo, "commit", "--quiet", "--no-verify", "--message", message, "--", *relatives,
        identity=identity,
    )
    return run_git(repo, "rev-parse", "HEAD").stdout.strip()


def commit_empty(repo: Path, message: str, identity: Identity) -> str:
    """An empty commit with message as identity (a liveness mark), leaving anything staged alone.

    >>> commit_empty(Path("."), "No change; ...", Identity("bot", "bot@example.com"))  # doctest: +SKIP

    Returns the new commit's hash.
    """
    # An empty pathspec list with --only commits nothing that is staged.
    run_git(
        repo, "commit", "--quiet", "--no-verify", "--allow-empty", "--only", "--message", message,
        identity=identity,
    )
    return run_git(repo, "rev-parse", "HEAD").stdout.strip()


def current_branch(repo: Path) -> str:
    """The checked-out branch's name; a detached HEAD cannot be pushed back.

    >>> current_branch(Path("."))  # doctest: +SKIP
    """
    result = run_git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if result.returncode != 0:
        raise GitError(f"{repo} has a detached HEAD; check out the branch to push to")
    return result.stdout.strip()


def _rebase_in_progress(repo: Path) -> bool:
    for name in ("rebase-merge", "rebase-apply"):
        git_path = run_git(repo, "rev-parse", "--git-path", name).stdout.strip()
        if (repo / git_path).exists():
            return True
    return False


def has_unpushed(repo: Path, remote: str) -> bool:
    """Whether the branch holds commits the remote's branch (as last fetched) lacks; True when unknown.

    >>> has_unpushed(Path("."), "origin")  # right after a push  # doctest: +SKIP
    """
    branch = current_branch(repo)
    counted = run_git(repo, "rev-list", "--count", f"refs/remotes/{remote}/{branch}..HEAD", check=False)
    return counted.returncode != 0 or counted.stdout.strip() != "0"


def _only_marked_commits(repo: Path, base: str, marker: str) -> bool:
    """Whether every commit on the branch that `base` lacks carries the trailer `marker` (none counts)."""
    listed = run_git(repo, "log", f"--format=%(trailers:key={marker},valueonly)%x00", f"{base}..HEAD", check=False)
    if listed.returncode != 0:
        return False
    return all(entry.strip() for entry in listed.stdout.split("\x00")[:-1])


def _lost_a_race(stderr: str) -> bool:
    """Whether a push failed because another push got there first: rejected as not a fast-forward,
    or refused by the remote while the other push held the branch's lock."""
    if "[rejected]" in stderr:
        return True
    return "[remote rejected]" in stderr and any(
        text in stderr for text in ("failed to update ref", "cannot lock ref", "incorrect old value")
    )


def push_with_rebase(
    repo: Path,
    remote: str,
    identity: Identity,
    attempts: int,
    committed: bool,
    recommit: Callable[[], bool],
    marker: str,
) -> None:
    """Push the current branch; when rejected because the remote moved on, catch up with it and try again.

    >>> push_with_rebase(Path("."), "origin", identity, 3, True, lambda: True, "Fetched-At")  # doctest: +SKIP

    Our own commit (when `committed`) is taken off and made again by recommit() on
    top of what the other run pushed, so its file holds our snapshot and its message
    compares with theirs; recommit() returns whether it committed. Snapshots an
    earlier push failed to deliver (commits carrying `marker`, the scraper's trailer)
    are older than ours and than what the remote now holds: they are dropped rather
    than replayed on top, where they would conflict, or say the feed went back in time.
    Any other local commit is rebased, as git pull --rebase does.
    """
    branch = current_branch(repo)
    for attempt in range(1, attempts + 1):
        pushed = run_git(repo, "push", "--quiet", remote, f"HEAD:refs/heads/{branch}", check=False)
        if pushed.returncode == 0:
            return
        if not _lost_a_race(pushed.stderr):
            raise GitError(f"git push to {remote} failed: {_reason(pushed.stderr)}")
        if attempt == attempts:
            break
        # Two scrapers on the same clock push in step; a random pause breaks the step.
        time.sleep(random.uniform(0, RACE_PAUSE * attempt))
        if committed:
            run_git(repo, "reset", "--quiet", "--keep", "HEAD~1")
        fetched = run_git(repo, "fetch", "--quiet", remote, branch, check=False)
        if fetched.returncode == 0 and _only_marked_commits(repo, "FETCH_HEAD", marker):
            run_git(repo, "reset", "--quiet", "--keep", "FETCH_HEAD")
            committed = recommit()
            continue
        pulled = run_git(
            repo, "pull", "--rebase", "--quiet", remote, branch, identity=identity, check=False
        )
        if pulled.returncode != 0:
            if _rebase_in_progress(repo):
                run_git(repo, "rebase", "--abort", check=False)
            recommit()
            raise GitError(
                f"git pull --rebase from {remote} failed: {_reason(pulled.stderr)}; "
                f"the snapshot is committed locally, reconcile {branch} with {remote} by hand"
            )
        committed = recommit()
    times = "once" if attempts == 1 else f"{attempts} times"
    raise PushRejected(
        f"git push to {remote} was rejected {times} because other pushes kept arriving first; "
        "the snapshot stays committed locally and goes out with the next --push"
    )


@dataclass(frozen=True)
class WorkState:
    """The branch, HEAD, index entries and bytes of some files, taken before a round that may be cut short.

    >>> state = capture_state(Path("."), [Path("outages.json")])  # doctest: +SKIP
    >>> restore_state(state)  # after a round cut short  # doctest: +SKIP
    """

    repo: Path | None
    branch: str | None
    head: str | None
    files: dict[Path, bytes | None]
    index: dict[str, str | None]
    taken: float


def capture_state(repo: Path | None, paths: list[Path]) -> WorkState:
    """What restore_state needs to put repo (None: files only) back exactly as it is now."""
    files: dict[Path, bytes | None] = {}
    for path in paths:
        try:
            files[path] = path.read_bytes()
        except FileNotFoundError:
            files[path] = None
    if repo is None:
        return WorkState(None, None, None, files, {}, time.time())
    branch = run_git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip() or None
    head = run_git(repo, "rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip() or None
    index: dict[str, str | None] = {}
    for path in paths:
        relative = relative_path(repo, path)
        entry = run_git(repo, "ls-files", "--stage", "--", relative).stdout.strip()
        # "100644 <blob> 0\tpath": kept as "mode,blob" for update-index --cacheinfo
        index[relative] = ",".join(entry.split("\t")[0].split(" ")[:2]) if entry else None
    return WorkState(repo, branch, head, files, index, time.time())


def restore_state(state: WorkState) -> None:
    """Put the branch, HEAD, index entries and files back as capture_state found them.

    Used when a round is cut short (a signal outlived the grace period): a git
    command killed mid-way may leave a rebase or a lock behind, and a write its
    temporary file; none of that stays.
    """
    repo = state.repo
    if repo is not None:
        if _rebase_in_progress(repo):
            run_git(repo, "rebase", "--abort", check=False)
        lock = repo / run_git(repo, "rev-parse", "--git-path", "index.lock").stdout.strip()
        if lock.exists() and lock.stat().st_mtime >= state.taken - 1:
            lock.unlink()  # left by our own git, killed mid-way
        if state.branch is not None:
            run_git(repo, "symbolic-ref", "HEAD", f"refs/heads/{state.branch}")
            if state.head is not None:
                run_git(repo, "update-ref", f"refs/heads/{state.branch}", state.head)
            else:
                run_git(repo, "update-ref", "-d", f"refs/heads/{state.branch}", check=False)
        elif state.head is not None:
            run_git(repo, "update-ref", "--no-deref", "HEAD", state.head)
        for relative, entry in state.index.items():
            if entry is None:
                run_git(repo, "update-index", "--force-remove", "--", relative)
            else:
                run_git(repo, "update-index", "--add", "--cacheinfo", f"{entry},{relative}")
    for path, data in state.files.items():
        for stray in path.parent.glob(f".{path.name}.*.tmp"):
            if stray.stat().st_mtime >= state.taken - 1:
                stray.unlink(missing_ok=True)
        if data is None:
            path.unlink(missing_ok=True)
        elif not path.exists() or path.read_bytes() != data:
            temporary = path.with_name(f".{path.name}.restore")
            temporary.write_bytes(data)
            temporary.replace(path)
