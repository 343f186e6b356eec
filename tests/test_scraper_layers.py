"""Today's feed: the scraper reads layers 4 and 5 of PG&E's MapServer, served from real captures on 127.0.0.1.

Pages are capped below each layer's size, as ArcGIS caps them, so every scrape
pages. ../shared/data holds the captures; without it these tests skip.
"""

from __future__ import annotations

import copy
import json
import sqlite3

import pytest

from pge_outages.build import build_database
from support.captures import CALIFORNIA, customers, full_field_layers, layer_ids, storm_peak_layers
from support.scraper_server import FeedServer, Reply, commit_count, git, make_repo, run_scraper, serve_feed

pytestmark = pytest.mark.shared

HTML_PAGE = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
ARCGIS_ERROR = {"error": {"code": 400, "message": "Failed to execute query.", "details": []}}


def scrape(feed: FeedServer, output, *args: str):
    return run_scraper("--output", str(output), "--url", feed.root_url, *args)


def test_storm_peak_union_of_both_layers(tmp_path):
    layers = storm_peak_layers()
    output = tmp_path / "outages.json"
    with serve_feed(FeedServer(layers=layers, max_record_count=500)) as feed:
        result = scrape(feed, output)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{output}: 1,702 outages, 88,537 customers affected; written\n"
    records = json.loads(output.read_bytes())
    ids = [r.get("OUTAGE_ID", r.get("F_OUTAGE_ID")) for r in records]
    assert all(type(i) is int for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert set(ids) == layer_ids(layers[4]) | layer_ids(layers[5])
    assert sum(r["layers"] == [4] for r in records) == 1_694
    assert sum(r["layers"] == [5] for r in records) == 8
    assert sum(r["EST_CUSTOMERS"] for r in records) == customers(layers[4]) + customers(layers[5]) == 88_537
    # Layer 4 (1,694) pages four times under a cap of 500; layer 5 (8) once.
    pages = [path.split("/")[-2] for path, params in zip(feed.paths, feed.requests, strict=True)
             if params.get("returnCountOnly") != "true"]
    assert pages == ["4"] * 4 + ["5"]


def test_storm_peak_file_is_at_most_700_bytes_per_outage(tmp_path):
    output = tmp_path / "outages.json"
    with serve_feed(FeedServer(layers=storm_peak_layers(), max_record_count=1000)) as feed:
        assert scrape(feed, output).exit_code == 0
    size = len(output.read_bytes())
    per_outage = size / 1_702
    print(f"storm peak: {size:,} bytes for 1,702 outages, {per_outage:.0f} bytes per outage")
    assert per_outage <= 700


def test_full_fields_hold_no_blob_and_stay_small(tmp_path):
    layers = full_field_layers()
    assert all("blueSkyNotificationSubscription" in f["attributes"] for f in layers[4])
    output = tmp_path / "outages.json"
    with serve_feed(FeedServer(layers=layers, max_record_count=10)) as feed:
        result = scrape(feed, output)
    assert result.exit_code == 0, result.output
    data = output.read_bytes()
    assert b"blueSkyNotificationSubscription" not in data
    assert b"OBJECTID" not in data
    records = json.loads(data)
    assert len(records) == 26
    layer4 = next(r for r in records if r["layers"] == [4])
    assert list(layer4)[:2] == ["OUTAGE_ID", "InPoly_FID"]
    assert list(layer4)[-3:] == ["geometry_x", "geometry_y", "layers"]
    per_outage = len(data) / len(records)
    print(f"2026-07-09, every field: {len(data):,} bytes for 26 outages, {per_outage:.0f} bytes per outage")
    assert per_outage <= 700


def test_an_id_in_both_layers_is_one_record(tmp_path):
    layers = full_field_layers()
    [in_layer_5] = layers[5]
    both = in_layer_5["attributes"]["F_OUTAGE_ID"]
    twin = copy.deepcopy(layers[4][0])
    twin["attributes"]["OUTAGE_ID"] = both
    twin["attributes"]["EST_CUSTOMERS"] = 12
    layers[4].append(twin)
    output = tmp_path / "outages.json"
    with serve_feed(FeedServer(layers=layers, max_record_count=10)) as feed:
        result = scrape(feed, output)
    assert result.exit_code == 0, result.output
    records = json.loads(output.read_bytes())
    assert len(records) == 26
    [record] = [r for r in records if r["layers"] == [4, 5]]
    assert record["OUTAGE_ID"] == record["F_OUTAGE_ID"] == int(both)
    # Layer 4's attributes first and winning, then what only layer 5 has.
    assert record["EST_CUSTOMERS"] == 12
    assert record["CITY"] == in_layer_5["attributes"]["CITY"]
    assert list(record)[0] == "OUTAGE_ID"
    assert list(record)[-1] == "layers"
    # The layer-5 copy (0 customers) is not counted again.
    assert result.stdout == f"{output}: 26 outages, {customers(layers[4]):,} customers affected; written\n"


def _with_ids(features: list[dict], kind: type) -> list[dict]:
    features = copy.deepcopy(features)
    for feature in features:
        feature["attributes"]["OUTAGE_ID"] = kind(feature["attributes"]["OUTAGE_ID"])
    return features


def test_id_type_flip_commits_nothing(tmp_path):
    layers = storm_peak_layers()
    repo = make_repo(tmp_path / "history")
    output = repo / "outages.json"
    with serve_feed(FeedServer(layers={**layers, 4: _with_ids(layers[4], int)})) as feed:
        first = scrape(feed, output, "--commit")
        feed.layers[4] = _with_ids(layers[4], str)  # as the feed switched on 4 Dec 2025
        flipped = scrape(feed, output, "--commit")
    assert first.exit_code == 0, first.output
    assert flipped.exit_code == 0, flipped.output
    assert flipped.stdout.endswith("; unchanged; nothing to commit\n")
    assert commit_count(repo) == 1
    assert git(repo, "status", "--porcelain") == ""


def test_empty_layer_blip_is_refetched_and_commits_nothing(tmp_path):
    repo = make_repo(tmp_path / "history")
    output = repo / "outages.json"
    with serve_feed(FeedServer(layers=full_field_layers(), max_record_count=10)) as feed:
        assert scrape(feed, output, "--commit").exit_code == 0
        before = output.read_bytes()
        feed.blips[4] = 1  # one fetch of layer 4 answers "features": []
        result = scrape(feed, output, "--commit", "--recheck-delay", "0.2")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("; unchanged; refetched after an empty answer; nothing to commit\n")
    assert output.read_bytes() == before
    assert commit_count(repo) == 1


def test_empty_layer_confirmed_by_the_recheck_is_committed(tmp_path):
    repo = make_repo(tmp_path / "history")
    output = repo / "outages.json"
    with serve_feed(FeedServer(layers=full_field_layers(), max_record_count=10)) as feed:
        assert scrape(feed, output, "--commit").exit_code == 0
        feed.blips[4] = 2
        result = scrape(feed, output, "--commit")
    assert result.exit_code == 0, result.output
    assert "; written; refetched after an empty answer; committed " in result.stdout
    assert [r["layers"] for r in json.loads(output.read_bytes())] == [[5]]
    assert commit_count(repo) == 2
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith("0 outages added, 25 removed, 0 changed; 1 outage, 0 customers affected\n\n"
                              "Layer 5: 1 outage, 0 customers.\n")


@pytest.mark.parametrize("layer", [4, 5])
@pytest.mark.parametrize(
    "reply, message",
    [
        (Reply(200, HTML_PAGE, "text/html"), "{url} returned an HTML page, not JSON (after 2 attempts)"),
        (Reply(502, HTML_PAGE, "text/html"), "HTTP 502 Bad Gateway from {url} (after 2 attempts)"),
        (Reply.json(ARCGIS_ERROR), "{url} returned ArcGIS error 400: Failed to execute query."),
    ],
    ids=["html", "http-502", "error-object"],
)
def test_one_failing_layer_fails_the_whole_scrape(tmp_path, layer, reply, message):
    repo = make_repo(tmp_path / "history")
    output = repo / "outages.json"
    with serve_feed(FeedServer(layers=full_field_layers(), max_record_count=10)) as feed:
        assert scrape(feed, output, "--commit").exit_code == 0
        before = output.read_bytes()
        feed.layers[4] = feed.layers[4][:20]  # a real change, which must not land either
        feed.layer_faults[layer] = reply
        result = scrape(feed, output, "--commit", "--push")
    url = f"{feed.root_url}/{layer}/query"
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message.format(url=url)}; {output} left unchanged\n"
    assert output.read_bytes() == before
    assert commit_count(repo) == 1
    assert git(repo, "status", "--porcelain") == ""


def test_a_server_answering_in_wgs84_gives_the_same_file(tmp_path):
    layers = full_field_layers()
    in_mercator, in_wgs84 = tmp_path / "mercator.json", tmp_path / "wgs84.json"
    with serve_feed(FeedServer(layers=layers)) as feed:
        assert scrape(feed, in_mercator).exit_code == 0
    from support.captures import load

    points = {f["properties"]["OUTAGE_ID"]: f["geometry"]["coordinates"]
              for f in load("arcgis-2026-07-09", "outages_l4.geojson")["features"]}
    wgs84 = copy.deepcopy(layers)
    for feature in wgs84[4]:
        x, y = points[feature["attributes"]["OUTAGE_ID"]]
        feature["geometry"] = {"x": x, "y": y}
    wgs84[5] = []
    with serve_feed(FeedServer(layers=wgs84, spatial_reference={"wkid": 4326})) as feed:
        assert scrape(feed, in_wgs84).exit_code == 0
    expected = [r for r in json.loads(in_mercator.read_bytes()) if r["layers"] == [4]]
    got = json.loads(in_wgs84.read_bytes())
    assert [r["OUTAGE_ID"] for r in got] == [r["OUTAGE_ID"] for r in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert abs(mine["geometry_x"] - theirs["geometry_x"]) < 0.01
        assert abs(mine["geometry_y"] - theirs["geometry_y"]) < 0.01


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/arcgis/rest/services/43/outages", "http://127.0.0.1:9/MapServer/4"]
)
def test_url_that_is_no_mapserver_nor_layer_query_is_a_usage_error(tmp_path, url):
    result = run_scraper("--output", str(tmp_path / "outages.json"), "--url", url)
    assert result.exit_code == 2
    assert result.stderr.endswith(
        f"Error: Invalid value for '--url': {url} is neither an ArcGIS MapServer (ending in /MapServer) "
        "nor a layer's query URL (ending in /N/query)\n"
    )
    assert not (tmp_path / "outages.json").exists()


def test_round_trip_through_the_builder_puts_every_outage_in_california(tmp_path):
    repo = make_repo(tmp_path / "history")
    output = repo / "outages.json"
    with serve_feed(FeedServer(layers=storm_peak_layers(), max_record_count=1000)) as feed:
        assert scrape(feed, output, "--commit").exit_code == 0
        feed.layers = full_field_layers()
        assert scrape(feed, output, "--commit").exit_code == 0
    db = tmp_path / "outages.db"
    result = build_database(repo, db)
    assert result.snapshots_added == 2
    conn = sqlite3.connect(db)
    rows = conn.execute("select snapshot, outage, latitude, longitude, layers from outage_snapshots").fetchall()
    assert len(rows) == 1_702 + 26
    (low_lat, high_lat), (low_lon, high_lon) = CALIFORNIA["latitude"], CALIFORNIA["longitude"]
    for snapshot, outage, latitude, longitude, _layers in rows:
        assert low_lat < latitude < high_lat and low_lon < longitude < high_lon, (snapshot, outage)
    assert dict(conn.execute("select layers, count(*) from outage_snapshots group by layers")) == {
        "4": 1_694 + 25, "5": 8 + 1,
    }
    assert conn.execute("select outage_count, customers_affected from snapshots order by id").fetchall() == [
        (1_702, 88_537), (26, customers(full_field_layers()[4]) + customers(full_field_layers()[5])),
    ]
    # Layer 4 has no city: the column stays NULL rather than made up.
    assert conn.execute("select count(*) from outage_snapshots where layers = '4' and regionName is not null"
                        ).fetchone() == (0,)
