"""A build killed with SIGKILL at any moment resumes to the same database as a clean build."""

import sqlite3
import subprocess
import sys

import pytest

from pge_outages.synthetic import generate_history
from support.helpers import ROOT, dump_database, kill_after, snapshot_count, start_build

pytestmark = pytest.mark.timing


def test_kill_and_resume_equals_clean_build(tmp_path):
    repo = generate_history(tmp_path / "history", commits=3000, era="legacy", outages=150,
                            storms=2, broken=3, seed=7)
    db = tmp_path / "killed.db"
    kill_after(start_build(repo, db), db, at_least=500)
    first_kill = snapshot_count(db)
    assert 500 <= first_kill < 3000
    kill_after(start_build(repo, db), db, at_least=first_kill + 500)
    assert snapshot_count(db) < 3000

    finish = subprocess.run([sys.executable, str(ROOT / "build_database.py"), str(repo), str(db)],
                            capture_output=True, text=True, check=True)
    assert " commits read, " in finish.stdout
    clean = tmp_path / "clean.db"
    subprocess.run([sys.executable, str(ROOT / "build_database.py"), str(repo), str(clean)],
                   capture_output=True, check=True)
    assert dump_database(db, tables_only=True) == dump_database(clean, tables_only=True)
    conn = sqlite3.connect(db)
    assert conn.execute("select count(*) from snapshots").fetchone()[0] + conn.execute(
        "select count(*) from skipped_versions").fetchone()[0] == 3000
