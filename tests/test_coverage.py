"""Quiet or blind: synthetic histories whose truth is known, built and checked class by class.

The truth is a synthetic feed (pge_outages.synthetic) every ten minutes for a
few days. A scraper looks at some of those moments and commits as this
project's scraper does: the file when it changed, with its trailers, and a
liveness mark in each half hour with no commit. Three scrapers: one that looked
every time (a quiet feed must come out quiet, never blind), one that was down
for hours (blind exactly there, from its own trailers), and one throttled, with
no trailers (classed by the feed's own times, as the builder reads them). The
customer-minutes the builder counts must equal the truth within one interval's.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pge_outages.build import build_database
from pge_outages.glitches import BLIND_AFTER, GAP_SECONDS, WATCHED_SECONDS
from pge_outages.schema import SNAPSHOT_COLUMNS
from pge_outages.synthetic import INTERVAL
from support.scraped_history import HEARTBEAT, TICKS, Truth, scrape, truth

pytestmark = pytest.mark.slow  # a few thousand commits in all

PACIFIC = ZoneInfo("America/Los_Angeles")


def classes(db: Path) -> list[tuple[int, str | None]]:
    conn = sqlite3.connect(db)
    rows = conn.execute("select [when], gap_class from snapshots order by id").fetchall()
    conn.close()
    return rows


def stored_customer_minutes(db: Path) -> float:
    conn = sqlite3.connect(db)
    total = conn.execute("select total(customer_minutes) from outages").fetchone()[0]
    conn.close()
    return total


def true_customer_minutes(feed: Truth, ticks) -> float:
    """Customers times minutes over the given ticks: each moment's state holds for one interval."""
    return sum(feed.customers(tick) * INTERVAL / 60 for tick in ticks)


def evidence(feed: Truth, before: int, after: int) -> str:
    """The class the feed's own times give the gap between two snapshot ticks, read from the raw records:
    the earliest LAST_UPDATE after the snapshot before, among the records that changed."""
    seen_before = {r["F_OUTAGE_ID"]: r for r in feed.states[before]}
    updates = [
        r["LAST_UPDATE"] // 1000 for r in feed.states[after]
        if r != seen_before.get(r["F_OUTAGE_ID"]) and r.get("LAST_UPDATE") is not None
        and (r["F_OUTAGE_ID"] not in seen_before
             or r["LAST_UPDATE"] > (seen_before[r["F_OUTAGE_ID"]].get("LAST_UPDATE") or 0))
    ]
    dated = [t for t in updates if t > feed.times[before]]
    if not dated:
        return "unknown"
    return "blind" if min(dated) < feed.times[after] - BLIND_AFTER else "quiet"


@pytest.fixture(scope="module")
def feed() -> Truth:
    return truth()


def test_a_scraper_that_looked_every_time_sees_a_quiet_feed_never_blind(tmp_path, feed):
    scraped = scrape(tmp_path / "always", feed, list(range(TICKS)))
    db = tmp_path / "always.db"
    result = build_database(scraped.repo, db)
    assert result.snapshots_added == len(scraped.snapshots)
    assert scraped.marks, "a quiet stretch should have left liveness marks"
    found = [c for _, c in classes(db)[1:]]
    assert set(found) <= {"watched", "quiet"}
    # Every gap over the watched bound was a stretch of looks with no change: quiet, from the marks.
    gaps = [b - a for a, b in pairwise(feed.times[t] for t in scraped.snapshots)]
    assert [c for gap, c in zip(gaps, found, strict=True) if gap > WATCHED_SECONDS] == ["quiet"] * sum(
        gap > WATCHED_SECONDS for gap in gaps)
    assert "quiet" in found
    # The builder counts every minute: the truth, up to the last snapshot.
    expected = true_customer_minutes(feed, range(scraped.snapshots[0], scraped.snapshots[-1]))
    assert stored_customer_minutes(db) == pytest.approx(expected, rel=1e-9)
    # The build's end line says so.
    assert result.coverage["blind"] == result.coverage["unknown"] == 0


def test_a_scraper_that_was_down_is_blind_exactly_there_by_its_own_trailers(tmp_path, feed):
    down = range(150, 170)  # 200 minutes without a look
    scraped = scrape(tmp_path / "down", feed, [t for t in range(TICKS) if t not in down])
    db = tmp_path / "down.db"
    build_database(scraped.repo, db)
    rows = classes(db)
    blind = [(a, b) for (a, _), (b, c) in pairwise(rows) if c == "blind"]
    assert blind == [(feed.times[max(t for t in scraped.snapshots if t < down.start)],
                      feed.times[min(t for t in scraped.snapshots if t >= down.stop)])]
    assert {c for _, c in rows[1:]} == {"watched", "quiet", "blind"}
    # Counted: the truth while it looked, and one interval after its last look before going down.
    covered = [t for t in range(scraped.snapshots[0], scraped.snapshots[-1]) if t not in down]
    expected = true_customer_minutes(feed, covered)
    max_customers = max(feed.customers(t) for t in range(TICKS))
    assert abs(stored_customer_minutes(db) - expected) <= max_customers * INTERVAL / 60


def test_a_loop_restarted_in_a_quiet_stretch_is_quiet_by_the_last_mark_of_the_loop_before(tmp_path, feed):
    # The feed stands still for three hours; the loop ends on a half-hour mark and the next starts
    # one round later, as the scheduled jobs do: only that loop's last liveness mark joins the two.
    still = range(200, 218)
    quiet = Truth(feed.times, [feed.states[t if t not in still else still.start] for t in range(TICKS)],
                  [feed.blobs[t if t not in still else still.start] for t in range(TICKS)])
    end = next(t for t in still[3:] if feed.times[t] % HEARTBEAT == 0)
    scraped = scrape(tmp_path / "restarted", quiet, list(range(240)), restarts=(end + 1,))
    assert end in scraped.marks
    db = tmp_path / "restarted.db"
    build_database(scraped.repo, db)
    conn = sqlite3.connect(db)
    assert conn.execute("select count(*) from liveness_marks").fetchone()[0] == len(scraped.marks)
    conn.close()
    rows = classes(db)
    across = [c for (a, _), (b, c) in pairwise(rows) if a < feed.times[end] < b]
    assert across == ["quiet"]
    assert {c for _, c in rows[1:]} <= {"watched", "quiet"}


def test_a_throttled_scraper_without_trailers_is_classed_by_the_feeds_own_times(tmp_path, feed):
    # Looks about hourly, at uneven moments, as GitHub's busy cron did; no trailers, no marks.
    looked = sorted({0, *range(0, TICKS, 6), *range(3, TICKS, 11), TICKS - 1})
    scraped = scrape(tmp_path / "throttled", feed, looked, loop=False, trailers=False)
    assert not scraped.marks
    db = tmp_path / "throttled.db"
    build_database(scraped.repo, db)
    found = [c for _, c in classes(db)[1:]]
    expected = []
    for before, after in pairwise(scraped.snapshots):
        gap = feed.times[after] - feed.times[before]
        expected.append("watched" if gap <= WATCHED_SECONDS else evidence(feed, before, after))
    assert found == expected
    # Changes first seen over 40 minutes after their time: the gaps of under 40 minutes cannot show one.
    assert found.count("blind") >= 20
    gaps = [feed.times[b] - feed.times[a] for a, b in pairwise(scraped.snapshots)]
    assert all(gap > BLIND_AFTER for gap, c in zip(gaps, found, strict=True) if c == "blind")
    # Blind gaps count one interval, unknown ones up to 30 minutes, the rest in full: each snapshot's
    # customers for that long, and the truth within 1% (the state can move inside a quiet gap too).
    counted = {"watched": None, "quiet": None, "blind": INTERVAL, "unknown": GAP_SECONDS}
    as_seen = truth_minutes = 0.0
    for (before, after), gap_class in zip(pairwise(scraped.snapshots), found, strict=True):
        limit = counted[gap_class]
        ticks = range(before, after) if limit is None else range(before, min(after, before + limit // INTERVAL))
        as_seen += feed.customers(before) * len(ticks) * INTERVAL / 60
        truth_minutes += true_customer_minutes(feed, ticks)
    assert stored_customer_minutes(db) == pytest.approx(as_seen, rel=1e-9)
    assert stored_customer_minutes(db) == pytest.approx(truth_minutes, rel=0.01)


def test_times_written_in_pacific_time_as_if_utc_are_read_right(tmp_path, feed):
    """PG&E's layer 5 in 2024: the same history, every LAST_UPDATE 7 or 8 hours early, gets the same classes."""
    looked = sorted({0, *range(0, TICKS, 6), *range(3, TICKS, 11), TICKS - 1})
    shifted = Truth(feed.times, [], [])
    for state in feed.states:
        records = [dict(r) for r in state]
        for r in records:
            if r.get("LAST_UPDATE") is not None:
                moment = datetime.fromtimestamp(r["LAST_UPDATE"] // 1000, PACIFIC)
                r["LAST_UPDATE"] += int(moment.utcoffset().total_seconds()) * 1000
        shifted.states.append(records)
        shifted.blobs.append((json.dumps(records, indent=2) + "\n").encode())
    plain = scrape(tmp_path / "plain", feed, looked, loop=False, trailers=False)
    local = scrape(tmp_path / "local", shifted, looked, loop=False, trailers=False)
    build_database(plain.repo, tmp_path / "plain.db")
    build_database(local.repo, tmp_path / "local.db")
    assert classes(tmp_path / "local.db") == classes(tmp_path / "plain.db")
    assert "blind" in {c for _, c in classes(tmp_path / "plain.db")}


def test_a_build_a_commit_at_a_time_gives_the_same_classes(tmp_path, feed):
    looked = [t for t in range(120) if t not in range(40, 55)]
    scraped = scrape(tmp_path / "steps", feed, looked)
    clean = tmp_path / "clean.db"
    build_database(scraped.repo, clean)
    stepped = tmp_path / "stepped.db"
    commits = subprocess.run(["git", "rev-list", "--reverse", "HEAD"], cwd=scraped.repo, check=True,
                             capture_output=True, text=True).stdout.split()
    for commit in commits[::7] + [commits[-1]]:
        build_database(scraped.repo, stepped, branch=commit)
    query = "select id, gap_class, trusted_minutes, earliest_change from snapshots order by id"
    a, b = sqlite3.connect(clean), sqlite3.connect(stepped)
    assert a.execute(query).fetchall() == b.execute(query).fetchall()
    assert a.execute("select * from liveness_marks order by 1").fetchall() == b.execute(
        "select * from liveness_marks order by 1").fetchall()
    assert a.execute("select id, customer_minutes from outages order by id").fetchall() == b.execute(
        "select id, customer_minutes from outages order by id").fetchall()


def downgrade_to_schema_4(db: Path) -> None:
    """Make db look as the builder before gap classes left it: no classes, no marks, the old gap index."""
    conn = sqlite3.connect(db)
    for (view,) in conn.execute("select name from sqlite_master where type = 'view'").fetchall():
        conn.execute(f"drop view [{view}]")
    conn.execute("delete from _meta where key = 'views_sql'")
    conn.execute("drop index snapshots_not_seen")
    for column in ("gap_class", "earliest_change", "watched_since", "scrape_interval", "gap_seconds"):
        conn.execute(f"alter table snapshots drop column {column}")
    conn.execute("drop table liveness_marks")
    conn.execute("create index snapshots_gaps on snapshots(id) where seconds_since_previous > 1800")
    # Weighed as that builder did: every gap counted, at most 30 minutes.
    conn.execute("update snapshots set trusted_minutes = 0, trusted_minutes_cum = 0")
    conn.execute("update skipped_versions set [when] = [when] + 7200, title = 'the commit time'")
    conn.execute("update outages set customer_minutes = 0, customer_minutes_settled = 0")
    conn.execute("update _meta set value = '4' where key = 'schema_version'")
    conn.execute("delete from _upgrades where name = 'snapshots.gap_class'")  # the step it lacks
    conn.commit()
    conn.close()


def dump(db: Path) -> dict[str, list]:
    conn = sqlite3.connect(db)
    columns = ", ".join(f"[{c}]" for c in SNAPSHOT_COLUMNS)  # an upgrade adds its columns last
    tables = {
        "snapshots": f"select {columns} from snapshots order by id",
        "outages": "select * from outages order by id",
        "liveness_marks": "select * from liveness_marks order by hash",
        "skipped_versions": "select * from skipped_versions order by hash",
        "settled": "select value from _meta where key = 'minutes_settled_before'",
    }
    found = {name: conn.execute(sql).fetchall() for name, sql in tables.items()}
    conn.close()
    return found


@pytest.mark.parametrize("trailers", [True, False], ids=["scraper-trailers", "no-trailers"])
def test_a_schema_4_database_gains_the_classes_in_place(tmp_path, feed, trailers):
    looked = [t for t in range(160) if t not in range(60, 80) and (trailers or t % 4 == 0)]
    scraped = scrape(tmp_path / "history", feed, looked, loop=trailers, trailers=trailers)
    # A broken version, pushed late: a skipped version is timed by its trailer too.
    broken = feed.times[159] + 600
    (scraped.repo / "outages.json").write_text("<html>502</html>\n")
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-am",
                    f"A broken answer\n\nFetched-At: {datetime.fromtimestamp(broken, UTC):%Y-%m-%dT%H:%M:%SZ}"],
                   cwd=scraped.repo, check=True, env={**os.environ, "GIT_COMMITTER_DATE": f"{broken + 7200} +0000"})
    clean = tmp_path / "clean.db"
    build_database(scraped.repo, clean)
    assert sqlite3.connect(clean).execute("select [when] from skipped_versions").fetchall() == [(broken,)]
    # Upgraded with nothing new to read: the same as a clean build.
    old = tmp_path / "old.db"
    old.write_bytes(clean.read_bytes())
    downgrade_to_schema_4(old)
    assert build_database(scraped.repo, old).snapshots_added == 0
    assert dump(old) == dump(clean)
    # Built half-way, upgraded, then carried on: the same again.
    commits = subprocess.run(["git", "rev-list", "--reverse", "HEAD"], cwd=scraped.repo, check=True,
                             capture_output=True, text=True).stdout.split()
    middle = tmp_path / "middle.db"
    build_database(scraped.repo, middle, branch=commits[len(commits) // 2])
    downgrade_to_schema_4(middle)
    build_database(scraped.repo, middle)
    assert dump(middle) == dump(clean)


def legacy_outages(changed_at: int | None = None, base: int = 1_700_000_000) -> list[dict]:
    """25 legacy-feed outages last updated before `base`; with changed_at, the first one changed then."""
    records = [{"outageNumber": str(700000 + n), "outageStartTime": str(base - 5000), "estCustAffected": "10",
                "lastUpdateTime": str(base - 100), "regionName": "Fresno", "latitude": "36.8",
                "longitude": "-119.7"} for n in range(25)]
    if changed_at:
        records[0].update(estCustAffected="500", lastUpdateTime=str(changed_at))
    return records


def build_versions(tmp_path, name, versions, times) -> sqlite3.Connection:
    from support.helpers import make_repo

    repo = make_repo(tmp_path / name, versions, times=times)
    build_database(repo, tmp_path / f"{name}.db")
    return sqlite3.connect(tmp_path / f"{name}.db")


def test_a_glitch_inside_a_gap_hides_no_evidence(tmp_path):
    """A change made an hour into a three-hour gap is seen late, glitch of the feed or not."""
    t = 1_700_000_000
    plain = build_versions(tmp_path, "plain", [legacy_outages(), legacy_outages(t + 3600)], [t, t + 3 * 3600])
    glitch = build_versions(tmp_path, "glitch", [legacy_outages(), [], legacy_outages(t + 3600)],
                            [t, t + 3 * 3600 - 600, t + 3 * 3600])
    query = "select gap_class, gap_seconds, earliest_change from snapshots where suspect is null order by id"
    assert plain.execute(query).fetchall() == glitch.execute(query).fetchall() == [
        (None, None, None), ("blind", 3 * 3600, t + 3600)]
    assert glitch.execute("select suspect, gap_class from snapshots where id = 2").fetchone() == ("empty", None)


def test_an_unknown_gap_with_a_glitch_inside_still_makes_a_life_uncertain(tmp_path):
    t = 1_700_000_000
    new = {"outageNumber": "800000", "outageStartTime": str(t + 5000), "estCustAffected": "7",
           "regionName": "Fresno", "latitude": "36.8", "longitude": "-119.7"}  # no lastUpdateTime: no evidence
    conn = build_versions(tmp_path, "g", [legacy_outages(), [], legacy_outages() + [new]],
                          [t, t + 3 * 3600 - 600, t + 3 * 3600])
    assert conn.execute("select gap_class, gap_hours from coverage_gaps").fetchall() == [("unknown", 3.0)]
    assert conn.execute("select possible_duration_hours, duration_uncertain from outages_expanded "
                        "where outage = 800000").fetchone() == (None, 1)
