"""Outage areas: layer 8's polygons, from the real 2026-07-09 capture served on 127.0.0.1, archived small.

The scraper merges each outage's rows, simplifies within 5% of the true area
and 10% symmetric difference, rounds to 5 decimals, and writes one feature a
line; these tests hold it to that with shapely, against the capture itself.
A layer 8 that fails keeps the last good areas and costs the outages nothing
(test_scraper_areas_faults.py tries every way it can fail or look odd).
"""

from __future__ import annotations

import json
import random

import pytest
from shapely.geometry import shape

from scrapers.areas import AREA_TOLERANCE, DIFFERENCE_TOLERANCE
from support.captures import area_features, full_field_layers, raw_geometry_bytes, true_areas
from support.scraper_server import FeedServer, Reply, commit_count, git, make_repo, run_scraper, serve_feed

pytestmark = pytest.mark.shared

WGS84 = {"wkid": 4326, "latestWkid": 4326}


def server(rows=None, in_web_mercator: bool = False, **options) -> FeedServer:
    layers = {**full_field_layers(), 8: rows if rows is not None else area_features(in_web_mercator)}
    references = {} if in_web_mercator else {8: WGS84}
    return FeedServer(layers=layers, layer_references=references, max_record_count=10, **options)


def scrape(feed: FeedServer, repo, *args: str):
    return run_scraper("--output", str(repo / "outages.json"), "--areas", str(repo / "outage-areas.geojson"),
                       "--url", feed.root_url, *args)


def read_features(path) -> list[dict]:
    return json.loads(path.read_bytes())["features"]


def test_one_feature_per_outage_within_the_error_bounds(tmp_path):
    with serve_feed(server()) as feed:
        result = scrape(feed, tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"{tmp_path / 'outages.json'}: 26 outages, 746 customers affected; written; "
                             f"{tmp_path / 'outage-areas.geojson'}: 25 areas, written\n")
    features = read_features(tmp_path / "outage-areas.geojson")
    true = true_areas()
    assert len(features) == 25 == len(true)
    ids = [f["properties"]["OUTAGE_ID"] for f in features]
    assert ids == sorted(true) and all(type(i) is int for i in ids)
    # Every area belongs to an outage of layer 4 in the same scrape.
    outages = {r.get("OUTAGE_ID") for r in json.loads((tmp_path / "outages.json").read_bytes())}
    assert set(ids) <= outages
    worst_area = worst_difference = 0.0
    for feature in features:
        assert set(feature["properties"]) == {"OUTAGE_ID"}
        simplified, real = shape(feature["geometry"]), true[feature["properties"]["OUTAGE_ID"]]
        assert simplified.is_valid and feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        area_error = abs(simplified.area - real.area) / real.area
        difference = simplified.symmetric_difference(real).area / real.area
        assert area_error <= AREA_TOLERANCE and difference <= DIFFERENCE_TOLERANCE, feature["properties"]
        worst_area, worst_difference = max(worst_area, area_error), max(worst_difference, difference)
        for x, y in _points(feature["geometry"]):
            assert round(x, 5) == x and round(y, 5) == y
    size = (tmp_path / "outage-areas.geojson").stat().st_size
    print(f"areas: {size:,} bytes for 25 areas ({size / 25:.0f} per area), {size / raw_geometry_bytes():.1%} "
          f"of the raw {raw_geometry_bytes():,}; worst area error {worst_area:.1%}, "
          f"worst symmetric difference {worst_difference:.1%}")
    assert size <= 0.10 * raw_geometry_bytes()


def _points(geometry: dict):
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    return [point for polygon in polygons for ring in polygon for point in ring]


def test_several_rows_of_one_outage_are_one_multipolygon(tmp_path):
    rows = area_features()
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["attributes"]["OUTAGE_ID"]] = counts.get(row["attributes"]["OUTAGE_ID"], 0) + 1
    repeated = {int(outage) for outage, n in counts.items() if n > 1}
    assert repeated, "the capture has outages of several rows"
    with serve_feed(server(rows)) as feed:
        assert scrape(feed, tmp_path).exit_code == 0
    by_id = {f["properties"]["OUTAGE_ID"]: f for f in read_features(tmp_path / "outage-areas.geojson")}
    true = true_areas()
    for outage in repeated:
        assert shape(by_id[outage]["geometry"]).intersection(true[outage]).area > 0.9 * true[outage].area


def test_an_answer_in_web_mercator_is_projected_on_the_client(tmp_path):
    in_wgs84, in_mercator = tmp_path / "wgs84", tmp_path / "mercator"
    in_wgs84.mkdir(), in_mercator.mkdir()
    with serve_feed(server()) as feed:
        assert scrape(feed, in_wgs84).exit_code == 0
    with serve_feed(server(in_web_mercator=True)) as feed:
        assert scrape(feed, in_mercator).exit_code == 0
    true = true_areas()
    for feature in read_features(in_mercator / "outage-areas.geojson"):
        real = true[feature["properties"]["OUTAGE_ID"]]
        assert shape(feature["geometry"]).symmetric_difference(real).area <= DIFFERENCE_TOLERANCE * real.area


def test_unchanged_polygons_in_another_order_commit_nothing(tmp_path):
    repo = make_repo(tmp_path / "history")
    rows = area_features()
    with serve_feed(server(rows)) as feed:
        first = scrape(feed, repo, "--commit")
        before = (repo / "outage-areas.geojson").read_bytes()
        shuffled = list(rows)
        random.Random(3).shuffle(shuffled)
        feed.layers[8] = shuffled  # the server renumbers and reorders rows on every refresh
        again = scrape(feed, repo, "--commit")
    assert first.exit_code == 0 and again.exit_code == 0, again.output
    assert again.stdout.endswith("25 areas, unchanged; nothing to commit\n")
    assert (repo / "outage-areas.geojson").read_bytes() == before
    assert commit_count(repo) == 1
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["outage-areas.geojson", "outages.json"]


def test_a_changed_area_is_one_line_of_the_diff_and_said_in_the_message(tmp_path):
    repo = make_repo(tmp_path / "history")
    rows = area_features()
    with serve_feed(server(rows)) as feed:
        assert scrape(feed, repo, "--commit").exit_code == 0
        grown = [dict(row) for row in rows]
        dropped = grown.pop()  # one outage's last row goes: its area changes or vanishes
        feed.layers[8] = grown
        result = scrape(feed, repo, "--commit")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{repo / 'outages.json'}: 26 outages, 746 customers affected; unchanged; "
                                    f"{repo / 'outage-areas.geojson'}: ")
    assert ", written; committed " in result.stdout
    assert commit_count(repo) == 2
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["outage-areas.geojson"]
    diff = git(repo, "diff", "--numstat", "HEAD~1", "HEAD", "--", "outage-areas.geojson").split()
    assert diff[:2] in (["0", "1"], ["1", "1"])  # one area gone, or one area's line changed
    message = git(repo, "log", "-1", "--format=%B")
    gone = int(dropped["attributes"]["OUTAGE_ID"]) not in {
        f["properties"]["OUTAGE_ID"] for f in read_features(repo / "outage-areas.geojson")}
    assert ("Areas: 0 added, 1 removed, 0 changed; 24 in all." if gone
            else "Areas: 0 added, 0 removed, 1 changed; 25 in all.") in message


@pytest.mark.parametrize(
    "reply", [Reply(200, b"<html><body>502</body></html>", "text/html"),
              Reply.json({"error": {"code": 400, "message": "Failed to execute query.", "details": []}})],
    ids=["html", "error-object"])
def test_a_failing_areas_layer_keeps_the_areas_and_commits_the_outages(tmp_path, reply):
    repo = make_repo(tmp_path / "history")
    with serve_feed(server()) as feed:
        assert scrape(feed, repo, "--commit").exit_code == 0
        before = (repo / "outage-areas.geojson").read_bytes()
        feed.layers[4] = feed.layers[4][:10]
        feed.layer_faults[8] = reply
        result = scrape(feed, repo, "--commit")
    assert result.exit_code == 0, result.output
    assert (repo / "outage-areas.geojson").read_bytes() == before
    assert commit_count(repo) == 2
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["outages.json"]
    committed = json.loads(git(repo, "show", "HEAD:outages.json"))
    assert len(committed) == 11 and committed == json.loads((repo / "outages.json").read_bytes())


def test_areas_that_suddenly_vanish_are_fetched_again(tmp_path):
    repo = make_repo(tmp_path / "history")
    with serve_feed(server()) as feed:
        assert scrape(feed, repo, "--commit").exit_code == 0
        feed.blips[8] = 1
        result = scrape(feed, repo, "--commit", "--recheck-delay", "0.1")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("25 areas, unchanged; refetched after an empty answer; nothing to commit\n")
    assert commit_count(repo) == 1


def test_areas_need_a_feed_that_has_them(tmp_path):
    result = run_scraper("--feed", "legacy", "--output", str(tmp_path / "o.json"),
                         "--areas", str(tmp_path / "a.geojson"), "--url", "http://127.0.0.1:9/x")
    assert result.exit_code == 2
    assert "Invalid value for '--areas': the legacy feed has no outage areas" in result.stderr


def test_scraped_areas_reach_the_database(tmp_path):
    import sqlite3

    from pge_outages.build import build_database

    repo = make_repo(tmp_path / "history")
    with serve_feed(server()) as feed:
        assert scrape(feed, repo, "--commit").exit_code == 0
    db = tmp_path / "outages.db"
    build_database(repo, db)
    conn = sqlite3.connect(db)
    rows = conn.execute("select outage, estCustAffected, geometry from most_recent_areas order by outage").fetchall()
    features = read_features(repo / "outage-areas.geojson")
    assert [r[0] for r in rows] == [f["properties"]["OUTAGE_ID"] for f in features]
    assert [json.loads(r[2]) for r in rows] == [f["geometry"] for f in features]
    assert all(r[1] is not None for r in rows)
