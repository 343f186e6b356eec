"""A replay: the feed serving, for one scrape, outages that ended long ago.

On 2025-08-19 22:44 UTC the real ArcGIS history holds one snapshot of six
February 2024 outages, their LAST_UPDATE 18 months old. Here a synthetic
history is shaped like it: a stretch of February 2024, a jump to August 2025
in today's format, and one snapshot that replays six February outages.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from pge_outages.build import build_database
from pge_outages.datasette_plugin import prepare_connection
from pge_outages.synthetic import generate_history, iter_versions
from support.helpers import commit_versions

AUGUST_2025 = 1755648000  # 2025-08-20 00:00 UTC


def history_with_replay(path):
    """(repo, the replayed records, the commit of the replay)."""
    repo = generate_history(path, commits=120, era="arcgis", seed=21, outages=50)
    february = json.loads(subprocess.run(["git", "show", "HEAD~60:outages.json"], cwd=repo, check=True,
                                         capture_output=True).stdout)
    replayed = february[:6]
    today = [json.loads(blob) for _, _, blob in iter_versions(60, era="today", seed=22, outages=50,
                                                               start=AUGUST_2025)]
    versions = today[:30] + [replayed] + today[30:]
    times = [AUGUST_2025 + 600 * n for n in range(len(versions))]
    hashes = commit_versions(repo, versions, times=times)
    return repo, replayed, hashes[30]


def snapshot_of(conn, commit: str) -> int:
    return conn.execute("select id from snapshots where hash = ?", (commit,)).fetchone()[0]


def integer_id(record):
    return record.get("F_OUTAGE_ID", record.get("OUTAGE_ID"))


def test_replayed_snapshot_is_suspect_and_stretches_no_outage(tmp_path):
    repo, replayed, replay = history_with_replay(tmp_path / "history")
    db = tmp_path / "outages.db"
    build_database(repo, db)
    conn = sqlite3.connect(db)
    replay_snapshot = snapshot_of(conn, replay)
    assert conn.execute("select id from snapshots where suspect = 'replay'").fetchall() == [(replay_snapshot,)]
    # The database stays literal: the replay's outages are in outage_snapshots at that snapshot.
    ids = sorted(integer_id(r) for r in replayed)
    assert sorted(r[0] for r in conn.execute(
        "select outage from outage_snapshots where snapshot = ?", (replay_snapshot,))) == ids
    # Their lives end in February 2024, as they did.
    rows = conn.execute(
        f"select outage, latest, possible_duration_hours, duration_hours, probably_ended"
        f" from outages_expanded where outage in ({','.join('?' * len(ids))})", ids).fetchall()
    assert len(rows) == 6
    for outage, latest, _hours, hours_min, ended in rows:
        assert latest.startswith("2024-02"), (outage, latest)
        assert hours_min < 48 and ended == 1
    last_snapshots = conn.execute(
        f"select max(last_snapshot) from outages where id in ({','.join('?' * len(ids))})", ids).fetchone()[0]
    august = conn.execute("select min(id) from snapshots where [when] >= ?", (AUGUST_2025,)).fetchone()[0]
    assert last_snapshots < august
    # The chart leaves it out, and customer-minutes give it no weight.
    assert conn.execute("select trusted_minutes from snapshots where id = ?", (replay_snapshot,)).fetchone() == (0,)


@pytest.mark.slow
def test_outages_live_around_a_replay_are_one_outage_each(tmp_path):
    repo, _, replay = history_with_replay(tmp_path / "history")
    db = tmp_path / "outages.db"
    build_database(repo, db)
    conn = sqlite3.connect(db)
    replay_snapshot = snapshot_of(conn, replay)
    around = conn.execute(
        """select b.outage from outage_snapshots b join outage_snapshots a on a.outage = b.outage
        where b.snapshot = ? and a.snapshot = ?""", (replay_snapshot - 1, replay_snapshot + 1)).fetchall()
    assert len(around) > 10
    for (outage,) in around:
        first, last, count = conn.execute(
            "select first_snapshot, last_snapshot, snapshot_count from outages where id = ?", (outage,)).fetchone()
        assert first < replay_snapshot < last
        # Seen in every snapshot of its life but the replay.
        assert count == last - first


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["before", "at", "after"])
def test_a_build_resumed_around_the_replay_equals_a_clean_one(tmp_path, stop):
    repo, _, replay = history_with_replay(tmp_path / "history")
    clean, resumed = tmp_path / "clean.db", tmp_path / "resumed.db"
    build_database(repo, clean)
    after = subprocess.run(["git", "rev-list", "--reverse", "--ancestry-path", f"{replay}..HEAD"], cwd=repo,
                           check=True, capture_output=True, text=True).stdout.split()[0]
    build_database(repo, resumed, branch={"before": f"{replay}~1", "at": replay, "after": after}[stop])
    build_database(repo, resumed)
    query = "select * from {} order by 1, 2"
    a, b = sqlite3.connect(clean), sqlite3.connect(resumed)
    for table in ("snapshots", "outages", "outage_versions", "version_runs"):
        assert a.execute(query.format(table)).fetchall() == b.execute(query.format(table)).fetchall(), table


def history_with_a_leaky_replay(path):
    """A replay of both shapes: six live outages shown again with other figures (a huge customer count,
    a far ETOR, another start), and four outages that the history never saw live. (repo, live ids,
    replay-only ids, the commit of the replay)."""
    repo = generate_history(path, commits=120, era="arcgis", seed=21, outages=50)
    february = json.loads(subprocess.run(["git", "show", "HEAD~60:outages.json"], cwd=repo, check=True,
                                         capture_output=True).stdout)
    shown_again = [dict(r, EST_CUSTOMERS=999_999, CURRENT_ETOR=1_900_000_000_000) for r in february[:6]]
    never_live = [dict(r, F_OUTAGE_ID=9_000_000 + n, EST_CUSTOMERS=888_888, CURRENT_ETOR=1_600_000_000_000)
                  for n, r in enumerate(february[6:10])]
    today = [json.loads(blob) for _, _, blob in iter_versions(60, era="today", seed=22, outages=50,
                                                               start=AUGUST_2025)]
    versions = today[:30] + [shown_again + never_live] + today[30:]
    times = [AUGUST_2025 + 600 * n for n in range(len(versions))]
    hashes = commit_versions(repo, versions, times=times)
    return repo, sorted(map(integer_id, shown_again)), sorted(map(integer_id, never_live)), hashes[30]


def test_what_a_replay_says_never_becomes_a_fact(tmp_path):
    repo, live, only_replayed, replay = history_with_a_leaky_replay(tmp_path / "history")
    db = tmp_path / "outages.db"
    build_database(repo, db)
    conn = sqlite3.connect(db)
    replay_snapshot = snapshot_of(conn, replay)
    marks = ",".join("?" * len(only_replayed))
    # Seen only in the replay: no outage of the history, in no view or count...
    assert conn.execute(f"select count(*) from outages where id in ({marks})", only_replayed).fetchone() == (0,)
    assert conn.execute(f"select count(*) from outages_expanded where outage in ({marks})",
                        only_replayed).fetchone() == (0,)
    # ...but still there in the replayed snapshot itself.
    seen = {r[0] for r in conn.execute("select outage from outage_snapshots where snapshot = ?", (replay_snapshot,))}
    assert set(only_replayed) <= seen and set(live) <= seen
    # Shown again, a live outage keeps its own figures: no count, ETOR or time from the replay.
    rows = conn.execute(
        f"select id, max_estCustAffected, first_currentEtor, last_snapshot from outages where id in "
        f"({','.join('?' * len(live))})", live).fetchall()
    assert len(rows) == 6
    for outage, peak, etor, last in rows:
        assert peak < 888_888 and (etor is None or etor < 1_800_000_000), outage
        assert last < replay_snapshot
    assert conn.execute("select max(max_estCustAffected) from outages").fetchone()[0] < 888_888


@pytest.mark.slow
def test_a_replay_leaks_into_no_canned_query(tmp_path):
    """Every canned query of metadata.yml, run with its parameters empty, names no replay-only outage
    and no figure the replay made up."""
    import yaml

    from support.helpers import ROOT

    repo, _, only_replayed, _ = history_with_a_leaky_replay(tmp_path / "history")
    db = tmp_path / "outages.db"
    build_database(repo, db)
    conn = sqlite3.connect(db)
    prepare_connection(conn)  # the plugin's SQL functions, as Datasette's connections have them
    queries = yaml.safe_load((ROOT / "metadata.yml").read_text())["databases"]["outages"]["queries"]
    checked = 0
    for name, query in queries.items():
        params = {p: "" for p in query.get("params", [])}
        # The magic parameters Datasette fills (the alerts feed's database name and address).
        params.update({"_database_name": "outages", "_database_url": "http://127.0.0.1/outages"})
        cursor = conn.execute(query["sql"], {k: v for k, v in params.items() if f":{k}" in query["sql"]})
        columns = [d[0] for d in cursor.description]
        for row in cursor.fetchall():
            values = dict(zip(columns, row, strict=True))
            for column in ("outage", "outage_id", "id"):
                assert values.get(column) not in only_replayed, (name, values)
            assert 888_888 not in values.values() and 999_999 not in values.values(), (name, values)
        checked += 1
    assert checked >= 8
