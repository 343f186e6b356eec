"""The questions people ask of outage_snapshots start from an index, never from a scan of its runs.

Plans, not times: bench/queries.py times the same questions on big histories.
The builder does not ANALYZE, so the planner's choices here, on a small
history, are the ones it makes on a year of scrapes.
"""

from __future__ import annotations

import re
import sqlite3

import pytest
import yaml

from pge_outages.datasette_plugin import prepare_connection
from support.helpers import ROOT, build_synthetic

# The shapes of bench/queries.py that a view of runs can answer from an index.
SHAPES = {
    "seed sum at one snapshot": "select sum(estCustAffected) from outage_snapshots where snapshot = :snapshot",
    "chart join": "select snapshots.id, snapshots.title, count(*), sum(outage_snapshots.estCustAffected) "
                  "from snapshots join outage_snapshots on outage_snapshots.snapshot = snapshots.id "
                  "group by snapshots.id order by snapshots.id desc limit 150",
    "one outage": "select * from outage_snapshots where outage = :outage",
    "one city at one snapshot": "select * from outage_snapshots where snapshot = :snapshot and regionName = :region",
    "one day": "select snapshot, count(*), sum(estCustAffected) from outage_snapshots "
               "where snapshot between :snapshot and :snapshot + 144 group by snapshot",
    "one city, all time": "select count(*), sum(estCustAffected) from outage_snapshots where regionName = :region",
    "one cause, all time": "select count(*) from outage_snapshots where cause = :cause",
    # The LEFT JOIN of bench/queries.py materializes every row of the view (a
    # join cannot be flattened into the right side of a LEFT JOIN): docs/performance.md
    # gives this form of the same question instead.
    "per snapshot, empty ones too": "select s.id, (select count(*) from outage_snapshots o where o.snapshot = s.id), "
                                    "(select sum(estCustAffected) from outage_snapshots o where o.snapshot = s.id) "
                                    "from snapshots s where s.id = :snapshot",
}
# A step that reads a run or version table, or the view, whole.
FULL_READS = re.compile(r"MATERIALIZE|AUTOMATIC|\bSCAN (s|r|v|version_runs|outage_versions|outage_snapshots|o)\b")


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    db = build_synthetic(tmp_path_factory.mktemp("plans"), commits=200, era="legacy", seed=9, outages=60)
    conn = sqlite3.connect(db)
    prepare_connection(conn)  # as the plugin does: the queries read times with unix_time()
    snapshot = conn.execute("select max(id) / 2 from snapshots").fetchone()[0]
    region, cause = conn.execute(
        "select regionName, cause from outage_snapshots where snapshot = ? limit 1", (snapshot,)).fetchone()
    outage = conn.execute("select id from outages order by snapshot_count desc limit 1").fetchone()[0]
    yield conn, {"snapshot": snapshot, "region": region, "cause": cause, "outage": outage}
    conn.close()


@pytest.mark.parametrize("shape", list(SHAPES))
def test_no_full_read_of_the_runs(database, shape):
    conn, parameters = database
    plan = [row[3] for row in conn.execute(f"explain query plan {SHAPES[shape]}", parameters)]
    assert not [step for step in plan if FULL_READS.search(step)], plan
    # And it answers: the plan is of a query that runs.
    conn.execute(SHAPES[shape], parameters).fetchall()


def test_region_and_cause_questions_start_from_their_names(database):
    conn, parameters = database
    for shape, first in (("one city, all time", "regions"), ("one cause, all time", "causes")):
        plan = [row[3] for row in conn.execute(f"explain query plan {SHAPES[shape]}", parameters)]
        assert plan[0].startswith(f"SEARCH {first} USING COVERING INDEX"), plan


def test_the_left_join_form_gives_what_the_subquery_form_does(database):
    conn, parameters = database
    left_join = conn.execute(
        "select s.id, count(o.outage), sum(o.estCustAffected) from snapshots s "
        "left join outage_snapshots o on o.snapshot = s.id where s.id = :snapshot group by s.id", parameters).fetchall()
    assert conn.execute(SHAPES["per snapshot, empty ones too"], parameters).fetchall() == left_join


def test_restoration_slips_reads_outages_not_their_snapshots(database):
    """The first estimate is kept in outages; the last is one index search per outage shown."""
    conn, _ = database
    metadata = yaml.safe_load((ROOT / "metadata.yml").read_text())
    sql = metadata["databases"]["outages"]["queries"]["restoration_slips"]["sql"]
    parameters = {"from": "", "to": ""}
    plan = [row[3] for row in conn.execute(f"explain query plan {sql}", parameters)]
    assert not [step for step in plan if re.search(
        r"outage_snapshots|version_runs|AUTOMATIC|\bSCAN (v|r|s|outage_versions|snapshots)\b", step)], plan
    assert "SEARCH v USING INDEX outage_versions_outage (outage=?)" in plan, plan
    assert conn.execute(sql, parameters).fetchall(), "the history should hold restoration estimates"


def test_alerts_reads_the_last_30_days_of_outages_by_index(database):
    """The feed's outages are found from outages_last_snapshot and looked up one by one: never a scan
    of outages, its versions or its runs, however long the history."""
    conn, _ = database
    prepare_connection(conn)  # the plugin's SQL functions, as Datasette's connections have them
    metadata = yaml.safe_load((ROOT / "metadata.yml").read_text())
    sql = metadata["databases"]["outages"]["queries"]["alerts"]["sql"]
    parameters = {"min_customers": "", "_database_name": "outages", "_database_url": "http://localhost/outages"}
    plan = [row[3] for row in conn.execute(f"explain query plan {sql}", parameters)]
    assert "SEARCH o USING INDEX outages_last_snapshot (last_snapshot>?)" in plan, plan
    assert not [step for step in plan if re.search(
        r"AUTOMATIC|\bSCAN (outages|outage_versions|version_runs|v|r|first|last|gone|changed)\b", step)], plan
    assert conn.execute(sql, parameters).fetchall(), "the history should hold large outages"
