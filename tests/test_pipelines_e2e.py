"""Run the scrape and build jobs' own `run:` steps, read from the CI files, against a local feed and a bare remote.

Steps that install the project are skipped (the test's virtualenv already has
it) and so are the actions (`uses:`): the test does their part itself, cloning
the remote as checkout does and handing one build's database to the next as
the cache does. The scrape jobs loop for hours, a round every 10 minutes; here
the same command loops for seconds, a round every second (`scrape_steps`). The
CircleCI `test` job's first step, which halts the job on a scrape's commit,
runs with a fake `circleci-agent`.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from support.helpers import commit_versions, dump_database, fixture_versions
from support.helpers import make_repo as make_history
from support.scraper_server import Reply, arcgis_features, clone, git, make_remote, serve_feed
from support.workflows import (
    DATA_FILES,
    LOOPS,
    SCRAPE_COMMAND,
    circleci_data_only_step,
    circleci_steps,
    github_steps,
    with_loop,
)

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
REBUILD = "inputs.rebuild && 'yes' || ''"
GCP_KEY = "secrets.GCP_SERVICE_ACCOUNT_KEY"
README = {"README.md": b"PG&E outages, scraped every 10 minutes\n"}


@dataclass
class JobRun:
    """What running a job's steps did: the exit status of the last step run, its output, the steps' outputs.

    `ran` holds the commands run, `skipped` the ids of the steps left out for their `if:`.
    """

    returncode: int = 0
    output: str = ""
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)


def ci_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a CI runner: this virtualenv's python first, no git config of the host's."""
    env = {key: value for key, value in os.environ.items() if key not in ("GITHUB_TOKEN", "PGE_OUTAGES_URL")}
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        RUNNER_TEMP=str(runner_temp),
    )
    env.update(extra)
    return env


def run_job(steps: list[dict], cwd: Path, env: dict[str, str], values: dict[str, str] | None = None) -> JobRun:
    """Run each `run:` step with bash as GitHub and CircleCI do (-eo pipefail), stopping at the first failure.

    `${{ expr }}` in a step's env: takes values[expr], or "" as GitHub does for an
    unset secret or input. Steps with an `if:` are skipped and listed, for the
    caller to assert their condition was false.
    """
    values = values or {}
    job = JobRun()
    for number, step in enumerate(steps):
        if "run" not in step or step["name"].startswith("Install "):
            continue
        name = step.get("id", step["name"])
        if "if" in step:
            job.skipped.append(name)
            continue
        output_file = Path(env["RUNNER_TEMP"]) / f"github-output-{number}"
        output_file.write_text("")
        step_env = {
            key: EXPRESSION.sub(lambda m: values.get(m.group(1), ""), str(value))
            for key, value in step.get("env", {}).items()
        }
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=cwd, env={**env, **step_env, "GITHUB_OUTPUT": str(output_file)},
            capture_output=True, text=True, check=False, timeout=60,
        )
        job.ran.append(step["run"])
        job.output += result.stdout + result.stderr
        job.outputs[name] = dict(line.split("=", 1) for line in output_file.read_text().splitlines() if line)
        job.returncode = result.returncode
        if result.returncode != 0:
            break
    return job


def shallow_clone(remote: Path, path: Path) -> Path:
    """A checkout of main's last commit only, as actions/checkout makes by default (fetch-depth: 1)."""
    git(remote.parent, "clone", "--quiet", "--depth", "1", "--branch", "main", remote.as_uri(), str(path))
    return path


# The jobs' `--every 10m --for ...` become a few rounds a second apart.
QUICK_LOOP = "--every 1s --for 3s"
SUMMARY = re.compile(r"^done[^:\n]*: (\d+) rounds?, (\d+) succeeded, (\d+) failed, (\d+) commits?", re.MULTILINE)


def scrape_steps(ci: str, loop: str = QUICK_LOOP) -> list[dict]:
    """The scrape job's steps, its loop of hours shortened to `loop`; fails unless the job loops as LOOPS says."""
    steps = github_steps("scrape.yml", "scrape") if ci == "github" else circleci_steps("scrape")
    looped = [s for s in steps if "scrapers pge" in s.get("run", "")]
    assert len(looped) == 1, looped
    return [{**s, "run": with_loop(s["run"], LOOPS[ci], loop)} if s in looped else s for s in steps]


def rounds(job: JobRun) -> tuple[int, int, int, int]:
    """(rounds, succeeded, failed, commits) from the loop's closing line."""
    ((looped, succeeded, failed, commits),) = SUMMARY.findall(job.output)
    return int(looped), int(succeeded), int(failed), int(commits)


def scrape_history(remote: Path) -> tuple[int, int]:
    """(commits that change the data files, empty liveness commits) on main since its first commit.

    Any other commit fails the test: a scrape commit changes only the data files,
    and a liveness commit changes none and says when the feed was read.
    """
    data = liveness = 0
    for sha in git(remote, "rev-list", "main").split()[:-1]:
        changed = git(remote, "show", "--name-only", "--format=", sha).split()
        if changed:
            assert set(changed) <= set(DATA_FILES), (sha, changed)
            data += 1
        else:
            trailer = git(remote, "log", "-1", "--format=%(trailers:key=Fetched-At,valueonly)", sha).strip()
            assert trailer, f"{sha} changes nothing and has no Fetched-At trailer"
            liveness += 1
    return data, liveness


def liveness_times(remote: Path) -> list[datetime]:
    """When each liveness commit on main says the feed was read, newest first."""
    times = []
    for sha in git(remote, "rev-list", "main").split()[:-1]:
        if not git(remote, "show", "--name-only", "--format=", sha).strip():
            fetched = git(remote, "log", "-1", "--format=%(trailers:key=Fetched-At,valueonly)", sha).strip()
            times.append(datetime.fromisoformat(fetched))
    return times


def run_in_background(steps: list[dict], cwd: Path, env: dict[str, str]) -> tuple[threading.Thread, list[JobRun]]:
    """Start run_job in a thread; the list holds its JobRun once the thread is joined."""
    result: list[JobRun] = []
    thread = threading.Thread(target=lambda: result.append(run_job(steps, cwd, env)))
    thread.start()
    return thread, result


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def build_steps() -> list[dict]:
    return github_steps("build.yml", "build")


def changed(features: list[dict], drop: int = 0, customers: int | None = None) -> list[dict]:
    """The features without the first `drop`, and with the first one left affecting `customers`."""
    kept = features[drop:]
    if customers is not None:
        kept[0]["attributes"]["EST_CUSTOMERS"] = customers
    return kept


def remote_file(remote: Path, name: str = "outages.json") -> str:
    return git(remote, "show", f"main:{name}")


def snapshot_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("select count(*) from snapshots").fetchone()[0]


@pytest.mark.parametrize("ci", ["github", "circleci"])
def test_scrape_job_pushes_one_commit_per_change_and_none_when_unchanged(tmp_path, ci):
    remote = make_remote(tmp_path, README)
    checkout = (shallow_clone if ci == "github" else clone)(remote, tmp_path / "checkout")
    with serve_feed() as feed:
        env = ci_env(tmp_path, PGE_OUTAGES_URL=feed.url)

        first = run_job(scrape_steps(ci), checkout, env)
        assert first.returncode == 0, first.output
        assert f"{SCRAPE_COMMAND} {QUICK_LOOP}" in first.ran
        # Several rounds of the same feed: one commit.
        looped, succeeded, failed, commits = rounds(first)
        assert looped >= 2 and succeeded == looped and failed == 0 and commits >= 1, first.output
        assert scrape_history(remote)[0] == 1
        assert remote_file(remote) == (checkout / "outages.json").read_text()
        (subject,) = [line for line in git(remote, "log", "--format=%an <%ae>|%s", "main").splitlines()
                      if "outages added" in line]
        assert subject == (
            "pge-outages bot <actions@users.noreply.github.com>|"
            "6 outages added, 0 removed, 0 changed; 6 outages, 60 customers affected"
        )
        # No --skip-ci: CircleCI's test job halts on a data-only commit instead.
        assert "[skip ci]" not in git(remote, "log", "--format=%B", "main")
        # The areas file comes in the same commit (this server has no polygons).
        (data_commit,) = git(remote, "rev-list", "main", "--", "outages.json").split()
        assert git(remote, "show", "--name-only", "--format=", data_commit).split() == [
            "outage-areas.geojson", "outages.json"]

        same = run_job(scrape_steps(ci), checkout, env)
        assert same.returncode == 0, same.output
        assert "unchanged" in same.output and "nothing to commit" in same.output
        looped, succeeded, failed, _ = rounds(same)
        assert succeeded == looped >= 2 and failed == 0, same.output
        # No new snapshot; at most a liveness commit, should a 30-minute window
        # of the clock have begun since the first commit.
        data, liveness = scrape_history(remote)
        assert (data, liveness) in ((1, 0), (1, 1))

        feed.features = changed(arcgis_features(), drop=1, customers=40)
        second = run_job(scrape_steps(ci), checkout, env)
        assert second.returncode == 0, second.output
        assert scrape_history(remote)[0] == 2
        assert git(remote, "log", "-1", "--format=%s", "main", "--", "outages.json").strip() == (
            "0 outages added, 1 removed, 1 changed; 5 outages, 44 customers affected"
        )
        assert remote_file(remote) == (checkout / "outages.json").read_text()


@pytest.mark.timing
def test_one_scrape_job_commits_each_change_the_feed_makes_while_it_loops(tmp_path):
    remote = make_remote(tmp_path, README)
    checkout = shallow_clone(remote, tmp_path / "checkout")
    with serve_feed() as feed:
        env = ci_env(tmp_path, PGE_OUTAGES_URL=feed.url)
        thread, result = run_in_background(scrape_steps("github", "--every 1s --for 6s"), checkout, env)
        wait_for(lambda: scrape_history(remote)[0] == 1)
        feed.features = changed(arcgis_features(), drop=2)
        thread.join(timeout=60)
    (job,) = result
    assert job.returncode == 0, job.output
    assert scrape_history(remote)[0] == 2
    looped, succeeded, failed, commits = rounds(job)
    assert looped >= 4 and succeeded == looped and failed == 0 and commits >= 2, job.output
    assert git(remote, "log", "-1", "--format=%s", "main", "--", "outages.json").strip() == (
        "0 outages added, 2 removed, 0 changed; 4 outages, 4 customers affected"
    )


@pytest.mark.timing
def test_two_scrapers_on_one_branch_make_one_commit_per_feed_state(tmp_path):
    # GitHub's job and CircleCI's, or two hosts: their rounds fall on the same
    # marks, race to push, and the loser rebases and finds nothing to add. With
    # two-second heartbeat windows, the liveness commits are not doubled either.
    remote = make_remote(tmp_path, README)
    github = shallow_clone(remote, tmp_path / "github")
    circleci = clone(remote, tmp_path / "circleci")
    loop = "--every 1s --for 4s --heartbeat 2s"
    with serve_feed() as feed:
        env = ci_env(tmp_path, PGE_OUTAGES_URL=feed.url)
        for features, expected in ((arcgis_features(), 1), (changed(arcgis_features(), drop=1), 2)):
            feed.features = features
            runs = [run_in_background(scrape_steps(ci, loop), checkout, env)
                    for ci, checkout in (("github", github), ("circleci", circleci))]
            for thread, _ in runs:
                thread.join(timeout=60)
            for _, (job,) in runs:
                assert job.returncode == 0, job.output
                assert rounds(job)[2] == 0, job.output
            data, liveness = scrape_history(remote)
            assert data == expected
            assert liveness >= 1
            for checkout in (github, circleci):
                assert (checkout / "outages.json").read_text() == remote_file(remote)
                assert git(checkout, "status", "--porcelain").strip() == ""
    # At most one liveness commit in each two-second window of the clock.
    windows = [int(fetched_at.timestamp()) // 2 for fetched_at in liveness_times(remote)]
    assert len(set(windows)) == len(windows), windows


def test_overlapping_scrapes_from_shallow_checkouts_both_land(tmp_path):
    remote = make_remote(tmp_path, README)
    early = shallow_clone(remote, tmp_path / "early")
    late = shallow_clone(remote, tmp_path / "late")
    with serve_feed() as feed:
        env = ci_env(tmp_path, PGE_OUTAGES_URL=feed.url)
        assert run_job(scrape_steps("github"), early, env).returncode == 0
        feed.features = changed(arcgis_features(), drop=1)
        # The late run checked out before the early one pushed: its push is
        # rejected, and the scraper pulls --rebase and pushes again.
        job = run_job(scrape_steps("github"), late, env)
    assert job.returncode == 0, job.output
    assert scrape_history(remote)[0] == 2
    assert remote_file(remote) == (late / "outages.json").read_text()
    assert git(remote, "log", "-1", "--format=%s", "main", "--", "outages.json").strip() == (
        "0 outages added, 1 removed, 0 changed; 5 outages, 5 customers affected"
    )


BROKEN_FEEDS = {
    # kind: (reply to every request, what the job says)
    "http-404": (Reply(404, b"nope", "text/plain"), "HTTP 404 Not Found from"),
    "arcgis-error": (
        Reply.json({"error": {"code": 400, "message": "Invalid or missing input parameters."}}),
        "returned ArcGIS error 400: Invalid or missing input parameters.",
    ),
    "not-an-object": (Reply.json([]), "returned JSON that is not an object"),
}


@pytest.mark.parametrize("kind", list(BROKEN_FEEDS))
def test_scrape_job_fails_on_a_broken_feed_and_pushes_nothing(tmp_path, kind):
    fault, message = BROKEN_FEEDS[kind]
    remote = make_remote(tmp_path, README)
    checkout = clone(remote, tmp_path / "checkout")
    with serve_feed() as feed:
        env = ci_env(tmp_path, PGE_OUTAGES_URL=feed.url)
        good = run_job(scrape_steps("github"), checkout, env)
        assert good.returncode == 0, good.output
        pushed = git(remote, "rev-parse", "main").strip()
        before = (checkout / "outages.json").read_bytes()

        feed.fault = fault
        broken = run_job(scrape_steps("github"), checkout, env)

    # Every round of the job failed: the job fails, with the feed's exit status.
    assert broken.returncode == 1, broken.output
    looped, succeeded, failed, commits = rounds(broken)
    assert looped >= 2 and failed == looped and succeeded == 0 and commits == 0, broken.output
    assert "every round failed" in broken.output
    assert message in broken.output
    assert git(remote, "rev-parse", "main").strip() == pushed
    assert git(checkout, "rev-parse", "HEAD").strip() == pushed
    assert (checkout / "outages.json").read_bytes() == before
    assert git(checkout, "status", "--porcelain").strip() == ""


@pytest.mark.parametrize("ci", ["github", "circleci"])
def test_scrape_job_with_the_feed_broken_all_along_fails_and_pushes_nothing(tmp_path, ci):
    remote = make_remote(tmp_path, README)
    checkout = clone(remote, tmp_path / "checkout")
    first = git(remote, "rev-parse", "main").strip()
    with serve_feed() as feed:
        feed.fault = BROKEN_FEEDS["http-404"][0]
        job = run_job(scrape_steps(ci), checkout, ci_env(tmp_path, PGE_OUTAGES_URL=feed.url))
    assert job.returncode == 1, job.output
    looped, succeeded, failed, commits = rounds(job)
    assert (succeeded, failed, commits) == (0, looped, 0) and looped >= 2, job.output
    assert git(remote, "rev-parse", "main").strip() == first
    assert not (checkout / "outages.json").exists()
    assert git(checkout, "status", "--porcelain", "--ignored").strip() == ""


def test_scrape_job_stays_green_through_a_passing_failure(tmp_path):
    remote = make_remote(tmp_path, README)
    checkout = shallow_clone(remote, tmp_path / "checkout")
    with serve_feed() as feed:
        # The first round's first request fails; the rounds after it find the feed back.
        feed.once.append(Reply(404, b"nope", "text/plain"))
        job = run_job(scrape_steps("github"), checkout, ci_env(tmp_path, PGE_OUTAGES_URL=feed.url))
    assert job.returncode == 0, job.output
    looped, succeeded, failed, commits = rounds(job)
    assert failed == 1 and succeeded == looped - 1 >= 1 and commits >= 1, job.output
    assert "round failed: " in job.output
    assert scrape_history(remote)[0] == 1


def test_build_job_builds_every_snapshot_then_adds_new_ones_to_the_restored_database(tmp_path):
    remote = make_remote(tmp_path, README)
    checkout = clone(remote, tmp_path / "checkout")
    with serve_feed() as feed:
        env = ci_env(tmp_path, PGE_OUTAGES_URL=feed.url)
        for features in (arcgis_features(), changed(arcgis_features(), drop=2)):
            feed.features = features
            assert run_job(scrape_steps("github"), checkout, env).returncode == 0

        first = clone(remote, tmp_path / "build-1")
        built = run_job(build_steps(), first, env)
        assert built.returncode == 0, built.output
        assert built.outputs["head"] == {"commit": git(remote, "rev-parse", "main").strip()}
        assert "2 commits read, 2 snapshots added" in built.output
        assert snapshot_count(first / "outages.db") == 2
        assert built.outputs["publishing"] == {"enabled": ""}
        assert built.skipped == ["publish"]

        feed.features = changed(arcgis_features(), drop=3, customers=9)
        assert run_job(scrape_steps("github"), checkout, env).returncode == 0

    # The next run starts from a fresh checkout and the database the cache kept.
    second = clone(remote, tmp_path / "build-2")
    shutil.copy(first / "outages.db", second / "outages.db")
    added = run_job(build_steps(), second, env)
    assert added.returncode == 0, added.output
    assert "1 commits read, 1 snapshots added" in added.output
    assert snapshot_count(second / "outages.db") == 3

    rebuilt = run_job(build_steps(), second, env, {REBUILD: "yes"})
    assert rebuilt.returncode == 0, rebuilt.output
    assert "3 snapshots added" in rebuilt.output
    assert snapshot_count(second / "outages.db") == 3


def is_shallow(checkout: Path) -> bool:
    return git(checkout, "rev-parse", "--is-shallow-repository").strip() == "true"


def has_commit(checkout: Path, sha: str) -> bool:
    found = subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=checkout, check=False)
    return found.returncode == 0


def bare_history(tmp_path: Path, versions: list) -> tuple[Path, Path]:
    """A history of outages.json, one commit per version, and a bare remote holding it."""
    history = make_history(tmp_path / "history", versions)
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(history), str(remote))
    return history, remote


def test_build_job_fetches_only_the_commits_the_cached_database_lacks(tmp_path):
    versions = fixture_versions("arcgis")
    history, remote = bare_history(tmp_path, versions * 10)
    env = ci_env(tmp_path)

    # No database: the whole history is fetched and built.
    first = shallow_clone(remote, tmp_path / "build-1")
    built = run_job(build_steps(), first, env)
    assert built.returncode == 0, built.output
    assert "30 commits read, 30 snapshots added" in built.output
    assert not is_shallow(first)
    first_commit = git(first, "rev-list", "--max-parents=0", "HEAD").strip()

    # 40 scrapes later, with a code change among them, the next build starts
    # from a checkout of the last commit and the database the cache kept.
    commit_versions(history, versions[:2] * 10)
    (history / "README.md").write_text("code, not data\n")
    git(history, "add", "README.md")
    git(history, "commit", "--quiet", "-m", "A code change")
    commit_versions(history, [versions[2], versions[0]] * 10)
    git(history, "push", "--quiet", str(remote), "main")
    total = int(git(remote, "rev-list", "--count", "main"))
    assert total == 71

    second = shallow_clone(remote, tmp_path / "build-2")
    shutil.copy(first / "outages.db", second / "outages.db")
    added = run_job(build_steps(), second, env)
    assert added.returncode == 0, added.output
    assert "40 commits read, 40 snapshots added" in added.output
    assert is_shallow(second) and not has_commit(second, first_commit)
    fetched = int(git(second, "rev-list", "--count", "HEAD"))
    assert 41 < fetched < total, fetched  # back to the database's last commit, in a few rounds
    assert f"History fetched: {fetched} commits, shallow=true" in added.output

    # The same rows as the same build in a full clone, and as a build from scratch.
    full = clone(remote, tmp_path / "build-full")
    shutil.copy(first / "outages.db", full / "outages.db")
    assert run_job(build_steps(), full, env).returncode == 0
    scratch = clone(remote, tmp_path / "build-scratch")
    assert run_job(build_steps(), scratch, env).returncode == 0
    assert snapshot_count(second / "outages.db") == 70
    assert dump_database(second / "outages.db") == dump_database(full / "outages.db")
    assert dump_database(second / "outages.db") == dump_database(scratch / "outages.db")

    # Nothing new: no fetch, nothing read.
    again = run_job(build_steps(), second, env)
    assert again.returncode == 0, again.output
    assert "0 commits read, 0 snapshots added" in again.output
    assert int(git(second, "rev-list", "--count", "HEAD")) == fetched

    # A rebuild needs every commit: the whole history is fetched.
    rebuilt = run_job(build_steps(), second, env, {REBUILD: "yes"})
    assert rebuilt.returncode == 0, rebuilt.output
    assert "70 commits read, 70 snapshots added" in rebuilt.output
    assert not is_shallow(second)
    assert dump_database(second / "outages.db") == dump_database(scratch / "outages.db")


def test_build_job_on_a_rewritten_history_fetches_it_all_and_refuses(tmp_path):
    versions = fixture_versions("arcgis")
    history, remote = bare_history(tmp_path, versions * 2)
    first = shallow_clone(remote, tmp_path / "build-1")
    assert run_job(build_steps(), first, ci_env(tmp_path)).returncode == 0
    built_up_to = git(first, "rev-parse", "HEAD").strip()

    git(history, "reset", "--quiet", "--hard", "HEAD~2")
    commit_versions(history, [versions[0]] * 1 + versions[1:])
    git(history, "push", "--quiet", "--force", str(remote), "main")

    second = shallow_clone(remote, tmp_path / "build-2")
    shutil.copy(first / "outages.db", second / "outages.db")
    refused = run_job(build_steps(), second, ci_env(tmp_path))
    assert refused.returncode == 1
    assert not is_shallow(second)  # the database's last commit was looked for down to the first
    assert (
        f"the history was rewritten: outages.db was built up to commit {built_up_to[:12]}, "
        f"which is no longer in the history of"
    ) in refused.output


def test_build_job_publishes_only_when_the_key_is_set(tmp_path):
    (check,) = [step for step in build_steps() if step.get("id") == "publishing"]
    env = ci_env(tmp_path)
    assert run_job([check], tmp_path, env).outputs["publishing"] == {"enabled": ""}
    assert run_job([check], tmp_path, env, {GCP_KEY: '{"project_id": "p"}'}).outputs["publishing"] == {
        "enabled": "yes"
    }


def test_circleci_pushes_with_github_token_when_it_is_set(tmp_path):
    (step,) = [step for step in circleci_steps("scrape") if "GITHUB_TOKEN" in step.get("run", "")]
    remote = make_remote(tmp_path, README)

    without = clone(remote, tmp_path / "without-token")
    assert run_job([step], without, ci_env(tmp_path)).returncode == 0
    assert git(without, "remote", "get-url", "--push", "origin").strip() == str(remote)

    checkout = clone(remote, tmp_path / "with-token")
    env = ci_env(
        tmp_path, GITHUB_TOKEN="t0ken", CIRCLE_PROJECT_USERNAME="someone", CIRCLE_PROJECT_REPONAME="pge-outages"
    )
    job = run_job([step], checkout, env)
    assert job.returncode == 0, job.output
    assert git(checkout, "remote", "get-url", "--push", "origin").strip() == (
        "https://github.com/someone/pge-outages.git"
    )
    assert git(checkout, "remote", "get-url", "origin").strip() == str(remote)  # pulls as before
    filled = subprocess.run(
        ["git", "credential", "fill"], cwd=checkout, input="protocol=https\nhost=github.com\n\n",
        env=env, capture_output=True, text=True, check=True,
    )
    assert "username=x-access-token\npassword=t0ken\n" in filled.stdout
    assert "t0ken" not in (checkout / ".git" / "config").read_text()


def test_backfill_puts_an_existing_history_under_the_scrapes(tmp_path):
    history = make_history(tmp_path / "history", fixture_versions("arcgis"))
    fork = make_remote(tmp_path, README)
    # The README's recipe: merge the fork into the history, so that the history is
    # the first parent, the line the builder follows, and push: a fast-forward.
    git(history, "fetch", "--quiet", str(fork), "main")
    git(history, "merge", "--quiet", "--allow-unrelated-histories", "-m", "Backfill", "FETCH_HEAD")
    git(history, "push", "--quiet", str(fork), "HEAD:main")

    checkout = clone(fork, tmp_path / "checkout")
    with serve_feed() as feed:
        scraped = run_job(scrape_steps("github"), checkout, ci_env(tmp_path, PGE_OUTAGES_URL=feed.url))
    assert scraped.returncode == 0, scraped.output

    workspace = clone(fork, tmp_path / "build")
    built = run_job(build_steps(), workspace, ci_env(tmp_path))
    assert built.returncode == 0, built.output
    assert "4 commits read, 4 snapshots added" in built.output
    history_commits = git(history, "rev-list", "--reverse", "--first-parent", "HEAD", "--", "outages.json").split()
    with sqlite3.connect(workspace / "outages.db") as conn:
        hashes = [row[0] for row in conn.execute("select hash from snapshots order by id")]
    # The scrape's commit (a liveness commit after it changes no file, and is no snapshot).
    assert hashes == history_commits + [git(fork, "rev-list", "-1", "main", "--", "outages.json").strip()]


def fake_circleci_agent(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A CI environment whose `circleci-agent` only records its arguments, one call a line, in the returned file."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    calls = tmp_path / "circleci-agent-calls"
    agent = bin_dir / "circleci-agent"
    agent.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{calls}'\n")
    agent.chmod(0o755)
    env = ci_env(tmp_path)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env, calls


def halts(checkout: Path, tmp_path: Path) -> bool:
    """Run the CircleCI test job's data-only step in checkout; whether it called `circleci-agent step halt`."""
    env, calls = fake_circleci_agent(tmp_path)
    job = run_job([circleci_data_only_step()], checkout, env)
    assert job.returncode == 0, job.output
    recorded = calls.read_text().splitlines() if calls.exists() else []
    assert recorded in ([], ["step halt"]), recorded
    return recorded == ["step halt"]


def commit_files(checkout: Path, changes: dict[str, bytes | None], message: str = "A commit") -> None:
    """One commit in checkout writing each file, or deleting it for None."""
    for name, data in changes.items():
        path = checkout / name
        if data is None:
            git(checkout, "rm", "--quiet", name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            git(checkout, "add", name)
    git(checkout, "commit", "--quiet", "--allow-empty", "-m", message)


SEED = {**README, **{name: b"[]\n" for name in DATA_FILES}, "Makefile": b"test:\n"}

COMMITS = {
    # kind: (files the commit writes, or deletes for None; whether the test job halts)
    "outages.json": ({"outages.json": b"[1]\n"}, True),
    "every-data-file": ({name: b"[2]\n" for name in DATA_FILES}, True),
    "legacy-data-deleted": ({"pge-outages.json": None}, True),
    "code": ({"Makefile": b"test:\n\tpytest\n"}, False),
    "readme": ({"README.md": b"changed\n"}, False),
    "code-and-data": ({"outages.json": b"[3]\n", "Makefile": b"demo:\n"}, False),
    "data-file-name-elsewhere": ({"docs/outages.json": b"[]\n"}, False),
    "no-change": ({}, False),
}


LIVENESS = {
    # kind: (the message of an empty commit, whether the test job halts)
    "liveness": ("Feed unchanged\n\nFetched-At: 2026-02-17T10:30:00Z\n", True),
    "trailer-among-others": ("Feed unchanged\n\nFeed-Updated: 2026-02-17T10:21:00Z\nFetched-At: 1771324200\n", True),
    "no-trailer": ("Run the tests again\n", False),
    "other-trailer": ("Run the tests again\n\nSigned-off-by: Someone <someone@example.com>\n", False),
    "fetched-at-in-the-text": ("Document the Fetched-At: trailer\n\nIt says when the feed was read.\n", False),
}


@pytest.mark.parametrize("kind", list(LIVENESS))
def test_circleci_test_job_halts_on_an_empty_commit_only_with_a_fetched_at_trailer(tmp_path, kind):
    message, halted = LIVENESS[kind]
    checkout = clone(make_remote(tmp_path, SEED), tmp_path / "checkout")
    commit_files(checkout, {}, message)
    assert halts(checkout, tmp_path) is halted


@pytest.mark.parametrize("kind", list(COMMITS))
def test_circleci_test_job_halts_only_on_a_commit_changing_only_data_files(tmp_path, kind):
    changes, halted = COMMITS[kind]
    checkout = clone(make_remote(tmp_path, SEED), tmp_path / "checkout")
    commit_files(checkout, changes)
    assert halts(checkout, tmp_path) is halted


def test_circleci_test_job_runs_on_a_first_commit(tmp_path):
    # The root commit has no parent to compare with, even one holding only outages.json.
    checkout = clone(make_remote(tmp_path, {"outages.json": b"[]\n"}), tmp_path / "checkout")
    assert git(checkout, "rev-list", "--count", "HEAD").strip() == "1"
    assert not halts(checkout, tmp_path)


def test_circleci_test_job_runs_on_a_merge(tmp_path):
    # The merge differs from its first parent in outages.json only, but brings in a line of its own.
    checkout = clone(make_remote(tmp_path, SEED), tmp_path / "checkout")
    git(checkout, "switch", "--quiet", "-c", "side")
    commit_files(checkout, {"outages.json": b"[4]\n"}, "Scrape on a side branch")
    git(checkout, "switch", "--quiet", "main")
    git(checkout, "merge", "--quiet", "--no-ff", "-m", "Merge side", "side")
    assert git(checkout, "diff", "--name-only", "HEAD~1", "HEAD").split() == ["outages.json"]
    assert not halts(checkout, tmp_path)


def test_circleci_test_job_halts_on_the_scrape_jobs_commit(tmp_path):
    remote = make_remote(tmp_path, README)
    scrape = clone(remote, tmp_path / "scrape")
    with serve_feed() as feed:
        scraped = run_job(scrape_steps("circleci"), scrape, ci_env(tmp_path, PGE_OUTAGES_URL=feed.url))
    assert scraped.returncode == 0, scraped.output
    assert scrape_history(remote)[0] == 1
    # The test job's own checkout of the pushed commit, a full clone as CircleCI's.
    assert halts(clone(remote, tmp_path / "test"), tmp_path)


def test_circleci_test_job_halts_on_the_scrape_jobs_liveness_commit(tmp_path):
    # A feed that stays the same makes no commit, but once per --heartbeat window
    # an empty one that says the scraper looked: two-second windows here.
    remote = make_remote(tmp_path, README)
    scrape = clone(remote, tmp_path / "scrape")
    with serve_feed() as feed:
        env = ci_env(tmp_path, PGE_OUTAGES_URL=feed.url)
        scraped = run_job(scrape_steps("circleci", "--every 1s --for 5s --heartbeat 2s"), scrape, env)
    assert scraped.returncode == 0, scraped.output
    data, liveness = scrape_history(remote)
    assert data == 1 and liveness >= 1, scraped.output
    # The loop's last round falls on a heartbeat mark, so the last commit is a liveness one.
    assert git(remote, "show", "--name-only", "--format=", "main").strip() == ""
    assert halts(clone(remote, tmp_path / "test"), tmp_path)
