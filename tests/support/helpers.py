"""Test helpers: real git repositories built from lists of versions, database dumps,
builds run as processes, and the paths of the project and the shared data."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pge_outages import wire

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"
GIT_IDENTITY = ["-c", "user.name=Test Scraper", "-c", "user.email=scraper@example.com"]
FIRST_COMMIT_TIME = 1572139800


def git(repo: Path, *args: str, env: dict | None = None) -> str:
    result = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=repo, check=True, capture_output=True, text=True,
        env={**os.environ, **(env or {})},
    )
    return result.stdout.strip()


def commit_versions(repo: Path, versions: list, file: str = "outages.json", start: int | None = None,
                    times: list[int] | None = None) -> list[str]:
    """Commit each version of `file` in turn: a list or dict is written as indented
    JSON, bytes as they are, None deletes the file. Commits are ten minutes apart
    unless `times` gives each one's Unix time. Returns the commit hashes."""
    return commit_files(repo, [{file: version} for version in versions], start, times)


def commit_files(repo: Path, commits: list[dict], start: int | None = None,
                 times: list[int] | None = None) -> list[str]:
    """Commit several files at once, one commit per {path: version} (a version as
    commit_versions takes it); a path a commit leaves out stays as it was."""
    hashes = []
    count = int(git(repo, "rev-list", "--count", "--all") or 0)
    start = FIRST_COMMIT_TIME if start is None else start
    for i, files in enumerate(commits):
        for file, version in files.items():
            path = repo / file
            if version is None:
                git(repo, "rm", "-q", file)
            else:
                data = version if isinstance(version, bytes) else (json.dumps(version, indent=2) + "\n").encode()
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                git(repo, "add", file)
        when = f"{times[i] if times else start + (count + i) * 600} -0700"
        git(repo, "commit", "-q", "--allow-empty", "-m", f"version {count + i + 1}",
            env={"GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when})
        hashes.append(git(repo, "rev-parse", "HEAD"))
    return hashes


def areas_file(areas: dict[int, dict]) -> bytes:
    """The scraper's outage-areas.geojson: {outage number: GeoJSON geometry}, one feature per line."""
    return wire.join_areas(wire.area_line(number, geometry) for number, geometry in sorted(areas.items()))


def make_repo(path: Path, versions: list, file: str = "outages.json", times: list[int] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    commit_versions(path, versions, file, times=times)
    return path


def fixture_versions(era: str) -> list:
    return [json.loads(p.read_text()) for p in sorted((FIXTURES / era).glob("*.json"))]


def dump_database(path: Path, tables_only: bool = False) -> dict[str, list]:
    """Every row of every table (and view), for comparing two databases, but the build's own notes
    (_meta and _upgrades, which say when and how each database was built)."""
    conn = sqlite3.connect(path)
    kinds = "('table')" if tables_only else "('table', 'view')"
    names = [r[0] for r in conn.execute(
        f"select name from sqlite_master where type in {kinds} and name not in ('_meta', '_upgrades') order by name")]
    dump = {name: sorted(conn.execute(f"select * from [{name}]").fetchall(), key=repr) for name in names}
    conn.close()
    return dump


def rows(db: Path, sql: str, *params) -> list[tuple]:
    """Every row a query gives on the database file db."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def require_shared(name: str) -> Path:
    bundle = SHARED_DATA / name
    if not bundle.exists():
        pytest.skip(f"{bundle} is absent: the real histories live in ../shared/data beside the clone")
    return bundle


# Builds run as processes, for the tests that kill them or run two at once.


def snapshot_count(db):
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("select count(*) from snapshots").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def start_build(repo, db):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "build_database.py"), str(repo), str(db), "--silent"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def kill_after(process, db, at_least, timeout=60):
    deadline = time.monotonic() + timeout
    while snapshot_count(db) < at_least:
        assert process.poll() is None, "the build finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


def build_synthetic(base: Path, **options) -> Path:
    """A synthetic history (generate_history's options) in base/history, built into base/outages.db."""
    from pge_outages.build import build_database
    from pge_outages.synthetic import generate_history

    build_database(generate_history(base / "history", **options), base / "outages.db")
    return base / "outages.db"
