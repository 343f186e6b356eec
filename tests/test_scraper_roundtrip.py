"""Scrape three changing snapshots from a local server into a repository, then build the database from it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pge_outages.trailers import parse_time
from support.scraper_server import FeedServer, arcgis_features, fixture_json, git, make_repo, run_scraper, serve_feed

BUILD_DATABASE = Path(__file__).resolve().parents[1] / "build_database.py"


def with_changes(features, drop=(), customers=None):
    """The features without the ids in drop, with EST_CUSTOMERS overridden per id."""
    kept = [f for f in features if f["attributes"]["F_OUTAGE_ID"] not in drop]
    for feature in kept:
        outage_id = feature["attributes"]["F_OUTAGE_ID"]
        if customers and outage_id in customers:
            feature["attributes"]["EST_CUSTOMERS"] = customers[outage_id]
    return kept


def new_feature(outage_id, city, customers):
    feature = arcgis_features()[0]
    feature["attributes"].update(F_OUTAGE_ID=outage_id, CITY=city, EST_CUSTOMERS=customers, OBJECTID=99)
    return feature


def arcgis_scrapes():
    first = arcgis_features()
    second = with_changes(arcgis_features(), drop={998502}, customers={2419575: 40}) + [
        new_feature(2419700, "Oakland", 7)
    ]
    third = with_changes(second, drop={2419248, 2419530}) + [new_feature(2419701, "Fresno", 2)]
    return [first, second, third]


def legacy_scrapes():
    first = fixture_json("legacy-regions.json")
    second = fixture_json("legacy-regions.json")
    fresno = second["outagesRegions"][0]["outages"]
    fresno.pop(0)  # 697196 restored
    fresno[0]["estCustAffected"] = "20"  # 697197 grows
    third = fixture_json("legacy-regions.json")
    third["outagesRegions"] = third["outagesRegions"][1:]  # Fresno all restored
    third["outagesRegions"][0]["outages"].append(
        dict(third["outagesRegions"][0]["outages"][0], outageNumber="697300", estCustAffected="5")
    )
    return [first, second, third]


EXPECTED = {
    # feed: (file, [(outage id, customers) per snapshot])
    "arcgis": (
        "outages.json",
        [
            [(998502, 1), (2419248, 1), (2419530, 1), (2419563, 1), (2419575, 55), (2419589, 1)],
            [(2419248, 1), (2419530, 1), (2419563, 1), (2419575, 40), (2419589, 1), (2419700, 7)],
            [(2419563, 1), (2419575, 40), (2419589, 1), (2419700, 7), (2419701, 2)],
        ],
    ),
    "legacy": (
        "pge-outages.json",
        [
            [(98404, 164), (686677, None), (697196, 9), (697197, 8), (697198, 1)],
            [(98404, 164), (686677, None), (697197, 20), (697198, 1)],
            [(98404, 164), (686677, None), (697198, 1), (697300, 5)],
        ],
    ),
}


@pytest.mark.parametrize("feed_name", ["arcgis", "legacy"])
def test_three_scrapes_build_three_snapshots(tmp_path, feed_name):
    filename, expected = EXPECTED[feed_name]
    repo = make_repo(tmp_path / "history", {"README.md": b"PG&E outages, scraped\n"})
    output = repo / filename
    scrapes = arcgis_scrapes() if feed_name == "arcgis" else legacy_scrapes()
    with serve_feed(FeedServer(legacy=scrapes[0] if feed_name == "legacy" else None)) as feed:
        for scrape in scrapes:
            if feed_name == "legacy":
                feed.legacy = scrape
            else:
                feed.features = scrape
            result = run_scraper(
                "--feed", feed_name, "--output", str(output), "--url", feed.url, "--commit",
                "--author-name", "Round Trip", "--author-email", "round-trip@example.com",
            )
            assert result.exit_code == 0, result.output
    hashes = git(repo, "log", "--reverse", "--format=%H", "--", filename).split()
    # A snapshot's time is when its scrape read the feed (the Fetched-At trailer), not when it committed.
    times = [
        parse_time(t)
        for t in git(repo, "log", "--reverse", "--format=%(trailers:key=Fetched-At,valueonly)", "--",
                     filename).split()
    ]
    assert len(hashes) == 3

    database = tmp_path / "outages.db"
    built = subprocess.run(
        [sys.executable, str(BUILD_DATABASE), str(repo), str(database), "--silent"],
        capture_output=True, text=True, check=False,
    )
    assert built.returncode == 0, built.stderr

    with sqlite3.connect(database) as db:
        snapshots = db.execute(
            "select id, hash, [when], outage_count, customers_affected from snapshots order by id"
        ).fetchall()
        rows = db.execute(
            "select snapshot, outage, estCustAffected from outage_snapshots order by snapshot, outage"
        ).fetchall()
    assert snapshots == [
        (number, hashes[number - 1], times[number - 1], len(outages), sum(c or 0 for _, c in outages))
        for number, outages in enumerate(expected, 1)
    ]
    assert rows == [
        (number, outage, customers)
        for number, outages in enumerate(expected, 1)
        for outage, customers in outages
    ]


def test_the_scrapers_own_commits_are_built_at_their_fetch_times(tmp_path):
    """A snapshot's time is its Fetched-At trailer, not the commit's time, which a rebase may move."""
    repo = make_repo(tmp_path / "history")
    with serve_feed(FeedServer()) as feed:
        result = run_scraper("--output", str(repo / "outages.json"), "--url", feed.root_url, "--commit")
    assert result.exit_code == 0, result.output
    fetched = git(repo, "log", "-1", "--format=%(trailers:key=Fetched-At,valueonly)").strip()
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "--amend",
                    "--no-edit"], cwd=repo, check=True, env={**os.environ, "GIT_COMMITTER_DATE": "1893456000 +0000"})
    assert git(repo, "log", "-1", "--format=%ct").strip() == "1893456000"
    db = tmp_path / "out.db"
    subprocess.run([sys.executable, str(BUILD_DATABASE), str(repo), str(db)], check=True, capture_output=True)
    with sqlite3.connect(db) as conn:
        (when,) = conn.execute("select [when] from snapshots").fetchone()
    assert when == parse_time(fetched)
