"""The synthetic history generator, and the builder checked against it blob by blob."""

import sqlite3
import subprocess
import sys

import pytest

from conftest import git
from independent import history_figures
from pge_outages.build import build_database
from pge_outages.synthetic import FILES, PLACES, generate_history


def test_same_seed_same_history(tmp_path):
    a = generate_history(tmp_path / "a", commits=50, era="arcgis", seed=3)
    b = generate_history(tmp_path / "b", commits=50, era="arcgis", seed=3)
    c = generate_history(tmp_path / "c", commits=50, era="arcgis", seed=4)
    assert git(a, "rev-parse", "HEAD") == git(b, "rev-parse", "HEAD")
    assert git(a, "rev-parse", "HEAD") != git(c, "rev-parse", "HEAD")
    assert git(a, "rev-list", "--count", "HEAD") == "50"


def test_refuses_a_directory_that_is_not_empty(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("mine")
    with pytest.raises(FileExistsError):
        generate_history(tmp_path / "taken", commits=5)


@pytest.mark.parametrize("era", ["legacy", "arcgis"])
def test_database_matches_the_blobs(tmp_path, era):
    repo = generate_history(tmp_path / "history", commits=400, era=era, outages=60,
                            storms=1, broken=6, seed=11)
    db = tmp_path / "out.db"
    result = build_database(repo, db)
    expected = history_figures(repo, FILES[era])
    assert result.snapshots_added == len(expected["snapshots"])
    assert result.versions_skipped == 6
    conn = sqlite3.connect(db)
    assert conn.execute("select hash, [when], outage_count, customers_affected from snapshots order by id").fetchall() == [
        tuple(s) for s in expected["snapshots"]
    ]
    per_snapshot = conn.execute(
        "select snapshot, count(*), sum(estCustAffected) from outage_snapshots group by snapshot order by snapshot"
    ).fetchall()
    assert per_snapshot == [(i + 1, s[2], s[3]) for i, s in enumerate(expected["snapshots"]) if s[2]]
    outages = conn.execute("select id, first_snapshot, last_snapshot from outages").fetchall()
    assert len(outages) == expected["distinct_outages"]
    assert {o: (f, l) for o, f, l in outages} == {
        o: (expected["first_seen"][o], expected["last_seen"][o]) for o in expected["first_seen"]
    }
    assert conn.execute("select sum(snapshot_count) from outages").fetchone()[0] == expected["rows"]
    assert conn.execute("select count(*) from outage_snapshots").fetchone()[0] == expected["rows"]


@pytest.mark.parametrize("era", ["legacy", "arcgis"])
def test_outages_lie_in_pge_territory(tmp_path, era):
    repo = generate_history(tmp_path / "history", commits=100, era=era, seed=5)
    db = tmp_path / "out.db"
    build_database(repo, db)
    conn = sqlite3.connect(db)
    lat_min, lat_max, lon_min, lon_max = conn.execute(
        "select min(latitude), max(latitude), min(longitude), max(longitude) from outage_versions"
    ).fetchone()
    assert 35.0 < lat_min and lat_max < 41.5
    assert -124.5 < lon_min and lon_max < -118.5
    regions = {r[0] for r in conn.execute("select name from regions")}
    assert regions <= {p[0] for p in PLACES} and len(regions) > 5


def test_command_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pge_outages.synthetic", str(tmp_path / "h"), "--commits", "20", "--era", "legacy"],
        capture_output=True, text=True, check=True,
    )
    assert result.stdout == f"20 commits of pge-outages.json written to {tmp_path / 'h'}\n"
    assert (tmp_path / "h" / "pge-outages.json").exists()
