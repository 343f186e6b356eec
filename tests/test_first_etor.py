"""Each outage keeps PG&E's first estimated restoration time (outages.first_currentEtor),
which the restoration_slips query compares with the last one: the currentEtor of its
first version that has one, however the database was built (at once, a commit at a
time, or upgraded from schema 3). A replayed snapshot's estimate is no fact: it counts for nothing.
"""

from __future__ import annotations

import shutil
import sqlite3

from pge_outages.build import build_database
from pge_outages.schema import SCHEMA_VERSION
from support.helpers import dump_database, git, make_repo

FEBRUARY = 1706774400  # 2024-02-01 00:00 UTC
AUGUST = 1755648000  # 2025-08-20 00:00 UTC, 18 months on: February's outages are stale


def record(number: int, etor: int | None, updated: int) -> dict:
    """A layer-5 record; outages 1 to 3 began in February, 4 and 5 in August."""
    return {
        "F_OUTAGE_ID": number,
        "EST_CUSTOMERS": 10 * number,
        "OUTAGE_START": ((AUGUST if number > 3 else FEBRUARY) - 3600) * 1000,
        "LAST_UPDATE": updated * 1000,
        "CURRENT_ETOR": None if etor is None else etor * 1000,
        "OUTAGE_LATITUDE": 37.8,
        "OUTAGE_LONGITUDE": -122.27,
        "CITY": "Oakland",
    }


F, A = FEBRUARY, AUGUST
# Outage 1 never has an estimate while live: gone, it comes back with one only in a replay
# of February's outages; 2 gets one in its second version, and it slips; 3 has one from the
# start and loses it; 4 and 5 come later.
VERSIONS = [
    [record(1, None, F), record(2, None, F), record(3, F + 7200, F)],
    [record(1, None, F), record(2, F + 3600, F + 600), record(3, F + 7200, F)],
    [record(1, None, F), record(2, F + 10800, F + 1200), record(3, F + 9000, F + 1200)],
    [record(3, None, F + 1800)],
    [record(1, F + 5400, F + 2400), record(2, F + 10800, F + 1200), record(3, F + 9000, F + 1200)],
    [record(4, A + 3600, A), record(5, None, A)],
    [record(4, A + 7200, A + 600), record(5, A + 600, A + 600)],
]
TIMES = [F + 600 * n for n in range(4)] + [A + 600 * n for n in range(3)]
REPLAY = 4  # the index of the replayed version


def first_etors(versions: list[list[dict]]) -> dict[int, int | None]:
    """Each outage's first CURRENT_ETOR in seconds, read from the versions as committed."""
    first: dict[int, int | None] = {}
    for index, version in enumerate(versions):
        if index == REPLAY:
            continue
        for r in version:
            if first.get(r["F_OUTAGE_ID"]) is None:
                first[r["F_OUTAGE_ID"]] = None if r["CURRENT_ETOR"] is None else r["CURRENT_ETOR"] // 1000
    return first


def stored_etors(db) -> dict[int, int | None]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("select id, first_currentEtor from outages"))
    finally:
        conn.close()


def commits(repo) -> list[str]:
    return git(repo, "rev-list", "--reverse", "HEAD").split()


def downgrade_to_schema_3(db) -> None:
    """Make db look as the builder before first_currentEtor left it."""
    conn = sqlite3.connect(db)
    # Schema 3 had neither the first estimate nor what schema 6 added after it.
    for (view,) in conn.execute("select name from sqlite_master where type = 'view'").fetchall():
        conn.execute(f"drop view [{view}]")
    conn.execute("delete from _meta where key = 'views_sql'")
    conn.execute("alter table outage_versions drop column county_fips")
    conn.execute("drop index outages_county")
    conn.execute("drop index outages_place")
    for column in ("first_currentEtor", "county_fips", "place", "place_inferred"):
        conn.execute(f"alter table outages drop column {column}")
    conn.execute("update _meta set value = '3' where key = 'schema_version'")
    conn.execute("delete from _upgrades where name in ('outages.first_currentEtor', 'outages.county_fips')")
    conn.commit()
    conn.close()


def test_the_first_estimate_is_the_first_versions_however_the_database_was_built(tmp_path):
    repo = make_repo(tmp_path / "repo", VERSIONS, times=TIMES)
    expected = first_etors(VERSIONS)
    assert expected == {1: None, 2: F + 3600, 3: F + 7200, 4: A + 3600, 5: A + 600}

    clean = tmp_path / "clean.db"
    build_database(repo, clean)
    conn = sqlite3.connect(clean)
    assert conn.execute("select id from snapshots where suspect = 'replay'").fetchall() == [(5,)]
    conn.close()
    assert stored_etors(clean) == expected

    # A commit a time: each its own run and batch, so the replay is a batch of its own in
    # which outage 1 is seen nowhere else.
    stepped = tmp_path / "stepped.db"
    for commit in commits(repo):
        build_database(repo, stepped, branch=commit)
        # After each step, what the versions up to it say.
        conn = sqlite3.connect(stepped)
        seen = conn.execute("select count(*) from snapshots").fetchone()[0]
        conn.close()
        assert stored_etors(stepped) == first_etors(VERSIONS[:seen])
    assert dump_database(stepped, tables_only=True) == dump_database(clean, tables_only=True)


def test_a_schema_3_database_gains_the_column_filled_in(tmp_path):
    repo = make_repo(tmp_path / "repo", VERSIONS, times=TIMES)
    clean = tmp_path / "clean.db"
    build_database(repo, clean)

    # Nothing new to read: the column comes all the same, from the versions.
    old = tmp_path / "old.db"
    shutil.copy(clean, old)
    downgrade_to_schema_3(old)
    assert build_database(repo, old).snapshots_added == 0
    assert stored_etors(old) == first_etors(VERSIONS)
    conn = sqlite3.connect(old)
    assert conn.execute("select value from _meta where key = 'schema_version'").fetchone() == (SCHEMA_VERSION,)
    conn.close()

    # Built before the replay, upgraded, then carried on: the same database as a clean build.
    middle = tmp_path / "middle.db"
    build_database(repo, middle, branch=commits(repo)[3])
    downgrade_to_schema_3(middle)
    assert build_database(repo, middle).snapshots_added == 3
    assert dump_database(middle, tables_only=True) == dump_database(clean, tables_only=True)
