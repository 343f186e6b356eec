"""Two builds of one database at once: cron, a systemd timer and a person at a shell.

The second build waits for the first (for at most --wait seconds) and then adds
what is left, or exits 1 with one line; either way nothing is lost.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

import pytest

from pge_outages.build import build_database
from pge_outages.lock import lock_path
from pge_outages.synthetic import generate_history
from support.helpers import ROOT, dump_database

pytestmark = pytest.mark.timing


def start_build(repo, db, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "build_database.py"), str(repo), str(db), "--silent", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_two_concurrent_builds_give_the_database_a_clean_build_gives(tmp_path):
    repo = generate_history(tmp_path / "history", commits=3_000, era="today", seed=3, outages=120)
    db = tmp_path / "outages.db"
    first, second = start_build(repo, db), start_build(repo, db)
    outputs = [process.communicate(timeout=300) for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], outputs
    assert all(err == "" for _, err in outputs)
    # One build read the 3,000 commits; the other waited, then found nothing new
    # (or, had it won the race to the lock, the other way round).
    read = sorted(int(out.split(" commits read")[0].replace(",", "")) for out, _ in outputs)
    assert read == [0, 3_000], outputs
    clean = tmp_path / "clean.db"
    build_database(repo, clean)
    assert dump_database(db) == dump_database(clean)


def hold_lock(db):
    fd = os.open(lock_path(db), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_build_that_cannot_wait_exits_1_with_one_line_and_changes_nothing(tmp_path):
    repo = generate_history(tmp_path / "history", commits=50, era="today", seed=4)
    db = tmp_path / "outages.db"
    build_database(repo, db, branch="HEAD~10")
    before = dump_database(db)
    fd = hold_lock(db)
    try:
        started = time.monotonic()
        process = start_build(repo, db, "--wait", "0.5")
        out, err = process.communicate(timeout=60)
        waited = time.monotonic() - started
    finally:
        os.close(fd)
    assert process.returncode == 1
    assert out == ""
    assert err == (f"Error: another build is writing {db} (waited 0.5 s); {db} left as it is, "
                   "run again when that build is done\n")
    assert waited >= 0.5
    assert dump_database(db) == before
    # Once the other build is done, the same command adds the rest.
    process = start_build(repo, db, "--wait", "0")
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (0, "")
    assert out.startswith("10 commits read, 10 snapshots added")


def test_a_waiting_build_goes_on_when_the_other_one_ends(tmp_path):
    repo = generate_history(tmp_path / "history", commits=50, era="today", seed=4)
    db = tmp_path / "outages.db"
    fd = hold_lock(db)
    try:
        process = start_build(repo, db, "--wait", "30")
        time.sleep(1.0)
        assert process.poll() is None, "the build should be waiting for the lock"
    finally:
        os.close(fd)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (0, "")
    versions = int(subprocess.run(["git", "rev-list", "--count", "HEAD", "--", "outages.json"], cwd=repo,
                                  check=True, capture_output=True, text=True).stdout)
    assert out.startswith(f"{versions} commits read, {versions} snapshots added")
