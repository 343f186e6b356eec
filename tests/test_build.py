"""The history builder on small hand-written histories of both feed eras."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

from pge_outages.build import build_database
from pge_outages.cli import build as build_command
from support.helpers import commit_versions, dump_database, fixture_versions, git, make_repo


def run_cli(*args):
    result = CliRunner().invoke(build_command, [str(a) for a in args], catch_exceptions=False)
    return result


def rows(db, sql, params=()):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    found = [dict(r) for r in conn.execute(sql, params)]
    conn.close()
    return found


def test_legacy_history(legacy_repo, tmp_path):
    db = tmp_path / "out.db"
    result = run_cli(legacy_repo, db)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("3 commits read, 3 snapshots added, 0 versions skipped in ")

    snapshots = rows(db, "select * from snapshots order by id")
    assert [s["id"] for s in snapshots] == [1, 2, 3]
    assert [s["outage_count"] for s in snapshots] == [2, 3, 2]
    # 697250 has no estCustAffected in version 2 and appears twice there: counted once
    assert [s["customers_affected"] for s in snapshots] == [1209, 809, 803]
    assert snapshots[1]["ignored_records"] == 1
    assert snapshots[0]["title"] == "2019-10-26T18:30:00-07:00"
    assert snapshots[0]["when"] == 1572139800

    seen = rows(db, "select * from outage_snapshots where outage = 697201 order by snapshot")
    assert [r["snapshot"] for r in seen] == [1, 2, 3]
    assert [r["estCustAffected"] for r in seen] == [1200, 800, 800]
    assert seen[0]["latitude"] == 38.44047 and isinstance(seen[0]["latitude"], float)
    assert seen[0]["currentEtor"] == 1572156000
    assert seen[0]["hazardFlag"] == 1
    assert seen[0]["regionName"] == "Sonoma"
    assert json.loads(seen[0]["outageDevices"]) == [{"latitude": "38.44", "longitude": "-122.71"}]
    assert seen[1]["outageDevices"] is None
    assert seen[1]["autoEtor"] == 1572159600
    # "800" in version 3 and 800 in version 2 are the same version
    assert seen[1]["version"] == seen[2]["version"]
    assert rows(db, "select count(*) as n from outage_versions where outage = 697201")[0]["n"] == 2

    outages = {o["id"]: o for o in rows(db, "select * from outages")}
    assert set(outages) == {697196, 697201, 697250}
    assert outages[697196]["first_snapshot"] == 1 and outages[697196]["last_snapshot"] == 2
    assert outages[697201]["snapshot_count"] == 3
    assert (outages[697201]["min_estCustAffected"], outages[697201]["max_estCustAffected"]) == (800, 1200)
    assert (outages[697250]["min_estCustAffected"], outages[697250]["max_estCustAffected"]) == (3, 3)


def test_arcgis_history(arcgis_repo, tmp_path):
    db = tmp_path / "out.db"
    assert run_cli(arcgis_repo, db).exit_code == 0
    assert [s["outage_count"] for s in rows(db, "select * from snapshots order by id")] == [2, 3, 1]
    first = rows(db, "select * from outage_snapshots where snapshot = 1 order by outage")
    assert first[0] == {
        **first[0],
        "outage": 2419248,
        "estCustAffected": 1,
        "latitude": 37.24818,
        "longitude": -121.89196,
        "cause": "EMERG REPAIRS",
        "crewCurrentStatus": "T-Man Enroute",
        "regionName": "San Jose",
        "outageStartTime": 1711827447,
        "lastUpdateTime": 1711899287,
        "currentEtor": 1711904400,
        "autoEtor": None,
        "outageExtent": "CUSTOMER",
        "outageDeviceId": "315951727541",
        "outageCircuitId": "83431108",
        "spid": "8537867905",
        "ftsFlag": "N",
        "extra": None,
    }
    assert first[1]["county"] == "Santa Cruz" and first[1]["zip"] == "95005"
    assert first[1]["deviceCount"] == 2
    # Snapshot 2 changes only types and a redundant *_TEXT field of 2419248: same version
    assert rows(db, "select count(*) as n from outage_versions where outage = 2419248")[0]["n"] == 1
    later = rows(db, "select * from outage_snapshots where outage = 2419502 order by snapshot")
    assert later[1]["crewEta"] == 1712010600  # "4/1/2024 3:30:00 PM" Pacific
    assert later[1]["autoEtor"] == 1711920000
    # No OUTAGE_LATITUDE/LONGITUDE: converted from Web Mercator; unknown keys kept
    oakland = rows(db, "select * from outage_snapshots where outage = 2420001")[0]
    assert oakland["latitude"] == pytest.approx(37.78762, abs=1e-5)
    assert oakland["longitude"] == pytest.approx(-122.2019, abs=1e-5)
    assert json.loads(oakland["extra"]) == {"NEW_FIELD": "kept"}
    assert oakland["estCustAffected"] == 0


@pytest.mark.parametrize(
    "broken, reason",
    [
        (b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", "HTML or XML instead of JSON"),
        (b'[\n  {\n    "F_OUTAGE_ID": 1,\n    "EST_CUSTOMERS": 4\n  },\n  {\n    "F_OUT', "invalid JSON: "),
        (b"", "empty file"),
        (b'{"error": {"code": 400, "message": "Unable to complete operation."}}',
         "error object: Unable to complete operation."),
        (b'{"outagesRegions": []}', "a JSON object instead of a list of outages"),
        (b'"outages"', "a JSON str instead of a list of outages"),
        (None, "file deleted"),
    ],
    ids=["html", "truncated", "empty", "error", "object", "string", "deleted"],
)
def test_broken_versions_are_skipped(tmp_path, broken, reason):
    good = fixture_versions("arcgis")
    repo = make_repo(tmp_path / "repo", [good[0], broken, good[1]])
    db = tmp_path / "out.db"
    result = run_cli(repo, db)
    assert result.exit_code == 0
    assert result.output.startswith("3 commits read, 2 snapshots added, 1 versions skipped")
    skipped = rows(db, "select * from skipped_versions")
    assert len(skipped) == 1
    assert skipped[0]["reason"].startswith(reason)
    assert skipped[0]["hash"] == git(repo, "rev-parse", "HEAD~1")
    assert [s["outage_count"] for s in rows(db, "select * from snapshots order by id")] == [2, 3]
    # the outage present on both sides of the broken version is one outage seen twice
    assert rows(db, "select snapshot_count from outages where id = 2419248")[0]["snapshot_count"] == 2


def test_records_laid_out_another_way(tmp_path):
    compact = [json.dumps(v).encode() for v in fixture_versions("legacy")]
    pretty = fixture_versions("legacy")
    repo_a = make_repo(tmp_path / "a", compact, "pge-outages.json")
    repo_b = make_repo(tmp_path / "b", pretty, "pge-outages.json")
    assert run_cli(repo_a, tmp_path / "a.db").exit_code == 0
    assert run_cli(repo_b, tmp_path / "b.db").exit_code == 0
    a, b = dump_database(tmp_path / "a.db"), dump_database(tmp_path / "b.db")
    for table in ("snapshots", "skipped_versions"):
        a.pop(table), b.pop(table)  # commit hashes differ
    assert a == b


def test_rerun_adds_only_new_commits_and_equals_a_clean_build(tmp_path):
    versions = fixture_versions("legacy")
    repo = make_repo(tmp_path / "repo", versions[:2], "pge-outages.json")
    db = tmp_path / "out.db"
    assert run_cli(repo, db).output.startswith("2 commits read, 2 snapshots added")
    again = run_cli(repo, db)
    assert again.exit_code == 0
    assert again.output.startswith("0 commits read, 0 snapshots added, 0 versions skipped")
    commit_versions(repo, [versions[2], versions[0]], "pge-outages.json")
    assert run_cli(repo, db).output.startswith("2 commits read, 2 snapshots added")
    clean = tmp_path / "clean.db"
    run_cli(repo, clean)
    assert dump_database(db) == dump_database(clean)
    assert [s["id"] for s in rows(db, "select id from snapshots order by id")] == [1, 2, 3, 4]


@pytest.mark.parametrize("depth", [7, 10], ids=["back-to-the-last-commit", "deeper"])
def test_shallow_clone_adds_the_new_commits_as_a_full_one_does(tmp_path, depth):
    versions = fixture_versions("arcgis")
    repo = make_repo(tmp_path / "repo", versions * 2)
    db = tmp_path / "out.db"
    assert run_cli(repo, db).exit_code == 0
    commit_versions(repo, versions * 2)
    # As the build workflow leaves it: no first commit, the last one built at or above the cut.
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", str(depth), repo.as_uri(), str(shallow))
    assert git(shallow, "rev-parse", "--is-shallow-repository") == "true"
    result = run_cli(shallow, db)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("6 commits read, 6 snapshots added")
    clean = tmp_path / "clean.db"
    run_cli(repo, clean)
    assert dump_database(db) == dump_database(clean)
    assert rows(db, "select value from _meta where key = 'first_commit'") == [
        {"value": git(repo, "rev-list", "--max-parents=0", "HEAD")}
    ]


def test_database_is_in_wal_mode(legacy_repo, tmp_path):
    db = tmp_path / "out.db"
    run_cli(legacy_repo, db)
    assert rows(db, "pragma journal_mode")[0]["journal_mode"] == "wal"


def test_most_recent_snapshot_and_outages_expanded(legacy_repo, tmp_path):
    db = tmp_path / "out.db"
    run_cli(legacy_repo, db)
    recent = rows(db, "select * from most_recent_snapshot order by outage")
    assert [(r["outage"], r["snapshot"], r["estCustAffected"]) for r in recent] == [(697201, 3, 800), (697250, 3, 3)]
    expanded = {r["outage"]: r for r in rows(db, "select * from outages_expanded")}
    assert expanded[697196]["probably_ended"] == 1
    assert expanded[697201]["probably_ended"] == 0
    assert expanded[697201]["num_snapshots"] == 3
    assert expanded[697201]["possible_duration_hours"] == pytest.approx(1200 / 3600, abs=0.01)
    assert expanded[697201]["earliest"] == "2019-10-26T18:30:00-07:00"
    assert expanded[697201]["latest"] == "2019-10-26T18:50:00-07:00"
    assert expanded[697201]["regionName"] == "Sonoma"


def test_outage_back_after_absence_keeps_its_version(tmp_path):
    versions = fixture_versions("arcgis")
    repo = make_repo(tmp_path / "repo", [versions[0], versions[2], versions[0]])
    db = tmp_path / "out.db"
    run_cli(repo, db)
    assert rows(db, "select count(*) as n from outage_versions where outage = 2419248")[0]["n"] == 1
    runs = rows(db, """select r.first_snapshot, r.last_snapshot from version_runs r
        join outage_versions v on v.id = r.version where v.outage = 2419248 order by 1""")
    assert runs == [{"first_snapshot": 1, "last_snapshot": 1}, {"first_snapshot": 3, "last_snapshot": 3}]
    assert rows(db, "select snapshot_count from outages where id = 2419248")[0]["snapshot_count"] == 2


def test_build_database_function_with_callbacks(legacy_repo, tmp_path):
    seen = []
    result = build_database(legacy_repo, tmp_path / "out.db", on_start=seen.append,
                            on_commit=lambda: seen.append("commit"))
    assert seen == [3, "commit", "commit", "commit"]
    assert (result.commits_read, result.snapshots_added, result.versions_skipped) == (3, 3, 0)


def test_file_and_branch_options(tmp_path):
    repo = make_repo(tmp_path / "repo", fixture_versions("arcgis"), "data/feed.json")
    git(repo, "branch", "older", "HEAD~1")
    db = tmp_path / "out.db"
    result = run_cli(repo, db, "--file", "data/feed.json", "--branch", "older")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("2 commits read, 2 snapshots added")


def test_bare_repository(tmp_path, legacy_repo):
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(legacy_repo), str(bare))
    assert run_cli(bare, tmp_path / "out.db").output.startswith("3 commits read, 3 snapshots added")


def test_rebuild_starts_over(legacy_repo, tmp_path):
    db = tmp_path / "out.db"
    run_cli(legacy_repo, db)
    result = run_cli(legacy_repo, db, "--rebuild")
    assert result.output.startswith("3 commits read, 3 snapshots added")
    assert rows(db, "select count(*) as n from snapshots")[0]["n"] == 3


def test_no_progress_bar_when_not_a_terminal(legacy_repo, tmp_path):
    result = run_cli(legacy_repo, tmp_path / "out.db")
    assert "Reading commits" not in result.output


def test_the_end_line_gives_the_coverage_of_the_snapshots_added(tmp_path):
    """Ten-minute scrapes, then a two-hour hole after which outages only ended: watched, then unknown."""
    versions = [[{"F_OUTAGE_ID": n, "EST_CUSTOMERS": 1} for n in range(1, 6 - i)] for i in range(4)]
    times = [1_700_000_000, 1_700_000_600, 1_700_001_200, 1_700_001_200 + 7200]
    repo = make_repo(tmp_path / "repo", versions[:3], times=times[:3])
    db = tmp_path / "outages.db"
    first = build_database(repo, db)
    assert first.coverage == {"watched": 1200 / 3600, "quiet": 0.0, "blind": 0.0, "unknown": 0.0}
    assert first.summary().endswith("; their coverage: 0.3 h watched, 0.0 h quiet, 0.0 h blind, 0.0 h unknown")
    commit_versions(repo, versions[3:], times=times[3:])
    second = build_database(repo, db)
    # Only the snapshot this build added: its gap, two hours with no dated change.
    assert second.summary().endswith("; their coverage: 0.0 h watched, 0.0 h quiet, 0.0 h blind, 2.0 h unknown")
