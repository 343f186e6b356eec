"""Commit a scraped file as a bot and push it, with plain git commands.

Nothing here knows about feeds: the caller hands over a path, a message, and a
way to make its commit again when another run pushed first.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class GitError(RuntimeError):
    """A git command failed: not a repository, commit refused, push or pull failed."""


class PushRejected(GitError):
    """The remote kept rejecting the push because other runs kept pushing first."""


@dataclass(frozen=True)
class Identity:
    """The name and email the scraper commits as.

    Example: Identity("pge-outages bot", "actions@users.noreply.github.com")
    """

    name: str
    email: str


def run_git(
    repo: Path, *args: str, identity: Identity | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one git command in repo, as identity if given; raise GitError naming the command if it fails.

    Example: run_git(Path("."), "status", "--porcelain")
    """
    command = ["git"]
    if identity is not None:
        command += ["-c", f"user.name={identity.name}", "-c", f"user.email={identity.email}"]
        command += ["-c", "commit.gpgsign=false"]  # a bot has no signing key
    command += list(args)
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True)
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

    Example: find_repo(Path("history/outages.json")) == Path("/abs/history")
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

    Example: relative_path(Path("/abs/history"), Path("/abs/history/outages.json")) == "outages.json"
    """
    return path.resolve().relative_to(repo.resolve()).as_posix()


def read_committed(repo: Path, relative: str) -> bytes | None:
    """The file's content at HEAD, or None when there is no HEAD or the file is not in it.

    Example: read_committed(Path("."), "outages.json")
    """
    result = subprocess.run(
        ["git", "show", f"HEAD:{relative}"], cwd=repo, capture_output=True, check=False
    )
    return result.stdout if result.returncode == 0 else None


def has_changes(repo: Path, *relatives: str) -> bool:
    """Whether the working copy of any of the files differs from HEAD (new files count as changed).

    Example: has_changes(Path("."), "outages.json", "outage-areas.geojson")
    """
    return bool(run_git(repo, "status", "--porcelain", "--", *relatives).stdout.strip())


def commit_files(repo: Path, relatives: list[str], message: str, identity: Identity) -> str:
    """Commit just these files, in one commit, with message as identity, leaving anything else staged alone.

    Example: commit_files(Path("."), ["outages.json"], "1 outage added, ...", Identity("bot", "bot@example.com"))
    Returns the new commit's hash.
    """
    run_git(repo, "add", "--", *relatives)
    run_git(
        repo, "commit", "--quiet", "--no-verify", "--message", message, "--", *relatives,
        identity=identity,
    )
    return run_git(repo, "rev-parse", "HEAD").stdout.strip()


def current_branch(repo: Path) -> str:
    """The checked-out branch's name; a detached HEAD cannot be pushed back.

    Example: current_branch(Path(".")) == "main"
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


def push_with_rebase(
    repo: Path,
    remote: str,
    identity: Identity,
    attempts: int,
    committed: bool,
    recommit: Callable[[], bool],
) -> None:
    """Push the current branch; when rejected because the remote moved on, pull --rebase and try again.

    Example: push_with_rebase(Path("."), "origin", identity, 3, committed=True, recommit=lambda: True)
    Our own commit (when `committed`) is taken off before the pull and made again
    by recommit() on top of what the other run pushed, so its file holds our snapshot
    and its message compares with theirs; recommit() returns whether it committed.
    """
    branch = current_branch(repo)
    for attempt in range(1, attempts + 1):
        pushed = run_git(repo, "push", "--quiet", remote, f"HEAD:refs/heads/{branch}", check=False)
        if pushed.returncode == 0:
            return
        if "[rejected]" not in pushed.stderr:
            raise GitError(f"git push to {remote} failed: {_reason(pushed.stderr)}")
        if attempt == attempts:
            break
        if committed:
            run_git(repo, "reset", "--quiet", "--keep", "HEAD~1")
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
