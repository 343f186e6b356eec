"""The synthetic history generator, and the builder checked against it blob by blob."""

import json
import math
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from pge_outages.build import build_database
from pge_outages.synthetic import AREAS_FILE, FILES, PLACES, generate_history, iter_scrapes, iter_versions
from support.helpers import git
from support.independent import history_figures

# Today's feed, as the format spec lists its keys.
LAYER_4_KEYS = [
    "OUTAGE_ID", "InPoly_FID", "OUTAGE_START", "CURRENT_ETOR", "EST_CUSTOMERS", "OUTAGE_CAUSE",
    "CREW_CURRENT_STATUS", "LAST_UPDATE", "OUTAGE_START_TEXT", "LAST_UPDATE_TEXT", "CURRENT_ETOR_TEXT",
    "ORIG_FID", "SPID", "fts_flag",
]
LAYER_5_KEYS = [
    "F_OUTAGE_ID", "OUTAGE_EXTENT", "OUTAGE_DEVICE_ID", "OUTAGE_CIRCUIT_ID", "CREW_ETA",
    "CREW_CURRENT_STATUS", "OUTAGE_CAUSE", "EST_CUSTOMERS", "OUTAGE_LATITUDE", "OUTAGE_LONGITUDE",
    "CITY", "COUNTY", "ZIP", "DEVICE_COUNT", "OUTAGE_START", "OUTAGE_START_TEXT", "LAST_UPDATE",
    "LAST_UPDATE_TEXT", "CURRENT_ETOR", "CURRENT_ETOR_TEXT", "AUTO_ETOR", "SPID", "fts_flag",
]
TAIL_KEYS = ["geometry_x", "geometry_y", "layers"]
TEXTS = {"OUTAGE_START_TEXT": "OUTAGE_START", "LAST_UPDATE_TEXT": "LAST_UPDATE", "CURRENT_ETOR_TEXT": "CURRENT_ETOR"}
# California, generously: every outage must land inside it.
LAT_RANGE, LON_RANGE = (32.5, 42.1), (-124.5, -114.1)


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


@pytest.mark.slow
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
    snapshots = conn.execute("select hash, [when], outage_count, customers_affected from snapshots order by id")
    assert snapshots.fetchall() == [tuple(s) for s in expected["snapshots"]]
    per_snapshot = conn.execute(
        "select snapshot, count(*), sum(estCustAffected) from outage_snapshots group by snapshot order by snapshot"
    ).fetchall()
    assert per_snapshot == [(i + 1, s[2], s[3]) for i, s in enumerate(expected["snapshots"]) if s[2]]
    outages = conn.execute("select id, first_snapshot, last_snapshot from outages").fetchall()
    assert len(outages) == expected["distinct_outages"]
    assert {o: (first, last) for o, first, last in outages} == {
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


def test_command_line_writes_today_by_default(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pge_outages.synthetic", str(tmp_path / "h"), "--commits", "20"],
        capture_output=True, text=True, check=True,
    )
    assert result.stdout == f"20 commits of outages.json and outage-areas.geojson written to {tmp_path / 'h'}\n"
    records = json.loads((tmp_path / "h" / "outages.json").read_text())
    assert records and all("layers" in r for r in records)


def _today_versions(commits=300, seed=11):
    """Each good version of a `today` history, parsed."""
    return [json.loads(blob) for _, _, blob in iter_versions(commits, era="today", seed=seed, outages=60)]


def _from_web_mercator(x, y):
    radius = 6378137.0
    return math.degrees(2 * math.atan(math.exp(y / radius)) - math.pi / 2), math.degrees(x / radius)


def test_today_same_seed_same_bytes(tmp_path):
    first = list(iter_versions(120, era="today", seed=3))
    assert first == list(iter_versions(120, era="today", seed=3))
    assert first != list(iter_versions(120, era="today", seed=4))
    a = generate_history(tmp_path / "a", commits=60, era="today", seed=3)
    b = generate_history(tmp_path / "b", commits=60, seed=3)  # today is the default era
    assert git(a, "rev-parse", "HEAD") == git(b, "rev-parse", "HEAD")
    assert (a / "outages.json").read_bytes() == list(iter_versions(60, era="today", seed=3))[-1][2]


def test_today_starts_in_december_2025():
    when, _, _ = next(iter_versions(1, era="today"))
    assert datetime.fromtimestamp(when, UTC).isoformat() == "2025-12-01T08:00:00+00:00"


@pytest.mark.slow
def test_today_records_follow_the_format():
    seen = set()
    for version in _today_versions():
        ids = []
        for record in version:
            id_keys = [key for key in ("OUTAGE_ID", "F_OUTAGE_ID") if key in record]
            # An outage in both layers keeps both layers' id keys, as the scraper writes it.
            assert len(id_keys) == (2 if record["layers"] == [4, 5] else 1), record
            outage_id = record[id_keys[0]]
            assert all(type(record[key]) is int and record[key] == outage_id for key in id_keys)
            ids.append(outage_id)
            layers = record["layers"]
            assert layers in ([4], [5], [4, 5]), record
            seen.add(tuple(layers))
            keys = list(record)
            assert keys[-3:] == TAIL_KEYS
            if layers == [4]:
                assert keys == LAYER_4_KEYS + TAIL_KEYS
            elif layers == [5]:
                assert keys == LAYER_5_KEYS + TAIL_KEYS
            else:
                assert keys == LAYER_4_KEYS + [k for k in LAYER_5_KEYS if k not in LAYER_4_KEYS] + TAIL_KEYS
            if 4 in layers:
                assert record["OUTAGE_CAUSE"] in {"STORM", "POLE FIRE", "EMERG REPAIRS", "PLNND SHUTDOWN"}
                assert record["CREW_CURRENT_STATUS"] in {
                    "Awaiting Crew", "Crew On Site", "Awaiting T-Man", "Crew Dispatched"}
            for text, millis in TEXTS.items():
                assert record[text] == datetime.fromtimestamp(record[millis] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            x, y = record["geometry_x"], record["geometry_y"]
            assert isinstance(x, float) and isinstance(y, float)
            assert round(x, 3) == x and round(y, 3) == y
            latitude, longitude = _from_web_mercator(x, y)
            assert LAT_RANGE[0] < latitude < LAT_RANGE[1] and LON_RANGE[0] < longitude < LON_RANGE[1]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # Layer 4 holds almost every outage, layer 5 a few, both now and then.
    assert seen == {(4,), (5,), (4, 5)}


@pytest.mark.slow
def test_today_layer_5_is_a_small_share():
    layers = {}
    for version in _today_versions(commits=600, seed=2):
        for record in version:
            layers[record.get("OUTAGE_ID", record.get("F_OUTAGE_ID"))] = tuple(record["layers"])
    in_layer_5 = sum(5 in value for value in layers.values())
    in_both = sum(value == (4, 5) for value in layers.values())
    assert 0 < in_both < in_layer_5 < 0.06 * len(layers)


def test_today_layer_4_has_no_place_names():
    layer_4 = [r for version in _today_versions() for r in version if r["layers"] == [4]]
    assert layer_4
    for record in layer_4:
        assert not {"CITY", "COUNTY", "ZIP", "OUTAGE_LATITUDE", "OUTAGE_LONGITUDE", "F_OUTAGE_ID"} & set(record)
        assert record["InPoly_FID"] is None and record["fts_flag"] == "N"


@pytest.mark.slow
def test_today_database(tmp_path):
    """Needs the builder to read today's format: layer 4's Web Mercator points become latitude/longitude."""
    repo = generate_history(tmp_path / "history", commits=300, era="today", outages=60, seed=11)
    db = tmp_path / "out.db"
    result = build_database(repo, db)
    # Scrapes that left both files as they were are no snapshot; one that changed only the areas is.
    assert result.snapshots_added == int(git(repo, "rev-list", "--count", "HEAD", "--", "outages.json", AREAS_FILE))
    conn = sqlite3.connect(db)
    assert {"4", "5"} <= {str(r[0]) for r in conn.execute("select distinct layers from outage_snapshots")}
    rows = conn.execute("select latitude, longitude from outage_snapshots where layers = '4'").fetchall()
    assert rows
    for latitude, longitude in rows:
        assert LAT_RANGE[0] < latitude < LAT_RANGE[1] and LON_RANGE[0] < longitude < LON_RANGE[1]
    distinct = {r.get("OUTAGE_ID", r.get("F_OUTAGE_ID")) for version in _today_versions() for r in version}
    assert conn.execute("select count(*) from outages").fetchone()[0] == len(distinct)


@pytest.mark.slow
def test_today_areas_follow_the_scraper_s_format():
    """Each good version's outage-areas.geojson: one feature per line, sorted, a small
    closed polygon around each layer-4 outage's point, none for layer-5-only outages."""
    reshaped = missing = 0
    shapes, seen_without = {}, set()
    for _, _, blob, areas in iter_scrapes(300, era="today", seed=11, outages=60):
        records = {r.get("OUTAGE_ID", r.get("F_OUTAGE_ID")): r for r in json.loads(blob)}
        text = areas.decode()
        lines = text.split("\n")
        assert lines[0] == '{"type": "FeatureCollection", "features": [' and lines[-2:] == ["]}", ""]
        features = [json.loads(line.rstrip(",")) for line in lines[1:-2]]
        assert json.loads(text)["features"] == features
        ids = [f["properties"]["OUTAGE_ID"] for f in features]
        assert ids == sorted(set(ids))
        assert all(4 in records[i]["layers"] for i in ids)
        for feature in features:
            number = feature["properties"]["OUTAGE_ID"]
            assert feature["type"] == "Feature" and feature["properties"] == {"OUTAGE_ID": number}
            assert feature["geometry"]["type"] == "Polygon"
            [ring] = feature["geometry"]["coordinates"]
            assert ring[0] == ring[-1] and 5 <= len(ring) <= 8
            assert all(round(value, 5) == value for point in ring for value in point)
            latitude, longitude = _from_web_mercator(records[number]["geometry_x"], records[number]["geometry_y"])
            lons, lats = [p[0] for p in ring], [p[1] for p in ring]
            assert min(lons) < longitude < max(lons) and min(lats) < latitude < max(lats)
            assert max(lons) - min(lons) < 0.2 and max(lats) - min(lats) < 0.2
            reshaped += number in shapes and shapes[number] != ring
            missing += number in seen_without
            shapes[number] = ring
        # A layer-4 outage without an area now: its area is missing for a few scrapes.
        seen_without = {n for n, r in records.items() if 4 in r["layers"] and n not in ids and n in shapes}
    assert reshaped > 10 and missing > 0
