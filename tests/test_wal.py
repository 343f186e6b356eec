"""A served database under constant readers: the WAL is emptied after every build, so it stays bounded.

SQLite's automatic checkpoints never wait for readers, and a server always has
some, so on their own they copy pages but seldom reset the log, which then
grows with every build. build_database ends with a truncating checkpoint.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from itertools import pairwise

import pytest

from pge_outages.build import build_database
from pge_outages.synthetic import generate_history

pytestmark = pytest.mark.timing


def test_the_wal_is_empty_after_every_build_despite_constant_readers(tmp_path):
    repo = generate_history(tmp_path / "history", commits=260, era="today", seed=12, outages=80)
    db = tmp_path / "outages.db"
    build_database(repo, db, branch="HEAD~200")
    stop = threading.Event()
    reads = [0, 0, 0]
    errors: list[Exception] = []

    def read(number: int) -> None:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            while not stop.is_set():
                conn.execute("select count(*), sum(estCustAffected) from outage_snapshots"
                             " where snapshot = (select max(id) from snapshots)").fetchone()
                reads[number] += 1
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            conn.close()

    readers = [threading.Thread(target=read, args=(n,)) for n in range(3)]
    for reader in readers:
        reader.start()
    sizes = []
    try:
        for back in range(180, -1, -20):
            result = build_database(repo, db, branch=f"HEAD~{back}")
            assert result.snapshots_added > 0
            sizes.append(os.path.getsize(f"{db}-wal"))
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert not errors
    assert all(count > 10 for count in reads), reads
    print(f"WAL after each of {len(sizes)} builds under 3 readers ({sum(reads):,} reads): {sizes}")
    # Emptied after nearly every build. When a reader outlasts the checkpoint's
    # wait (a machine under load), the next build empties it: the log never
    # holds more than one build's writes, where without the checkpoint it holds
    # all of them (4 MB after these ten builds, and growing).
    assert sizes.count(0) >= len(sizes) // 2
    assert all(after == 0 for before, after in pairwise(sizes) if before), sizes
    assert max(sizes) < 1_000_000
