"""Histories in the formats people commit: raw ArcGIS FeatureSets (`f=json`) and GeoJSON (`f=geojson`).

Detection is automatic: the same outages give the same database whichever of
the three formats the history holds.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess

import pytest

from pge_outages.build import build_database
from support.helpers import fixture_versions, make_repo

REFERENCE = {  # ../shared/data/README.md, layer4-2025-12.bundle
    "snapshots": 1_716,
    "outages": 26_810,
    "rows": 354_458,
    "last": ("527186b108d4accf95a28d5cb4315e1f4a031e89", 97, 4_669),
    "largest": ("6cd14bf3550138429a2d0c19f86738905aefcad7", 1766670997, 1_562, 166_245),
}


def to_wgs84(x: float, y: float) -> list[float]:
    return [math.degrees(x / 6378137.0), math.degrees(2 * math.atan(math.exp(y / 6378137.0)) - math.pi / 2)]


def as_featureset(records: list[dict], wkid: int = 102100) -> dict:
    features = []
    for record in records:
        attributes = {k: v for k, v in record.items() if not k.startswith("geometry_")}
        x, y = record["geometry_x"], record["geometry_y"]
        if wkid == 4326:
            x, y = to_wgs84(x, y)
        features.append({"attributes": attributes, "geometry": {"x": x, "y": y}})
    return {"displayFieldName": "", "geometryType": "esriGeometryPoint",
            "spatialReference": {"wkid": wkid}, "fields": [], "features": features}


def featureset_as_geojson(featureset: dict) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": n,
             "geometry": {"type": "Point", "coordinates": to_wgs84(f["geometry"]["x"], f["geometry"]["y"])},
             "properties": f["attributes"]}
            for n, f in enumerate(featureset["features"], 1)
        ],
    }


def figures(db) -> dict:
    conn = sqlite3.connect(db)
    try:
        return {
            "snapshots": conn.execute("select count(*) from snapshots").fetchone()[0],
            "skipped": conn.execute("select count(*) from skipped_versions").fetchone()[0],
            "outages": conn.execute("select count(*) from outages").fetchone()[0],
            "rows": conn.execute("select count(*) from outage_snapshots").fetchone()[0],
            "customers": conn.execute("select id, outage_count, customers_affected from snapshots order by id"
                                      ).fetchall(),
            "places": conn.execute("select outage, snapshot, round(latitude, 5), round(longitude, 5), layers"
                                   " from outage_snapshots order by snapshot, outage").fetchall(),
        }
    finally:
        conn.close()


@pytest.mark.parametrize("shape", ["featureset", "featureset-wgs84", "geojson"])
def test_raw_responses_give_the_same_database_as_lists(tmp_path, shape):
    versions = fixture_versions("arcgis")
    converted = {
        "featureset": lambda v: as_featureset(v),
        "featureset-wgs84": lambda v: as_featureset(v, wkid=4326),
        "geojson": lambda v: featureset_as_geojson(as_featureset(v)),
    }[shape]
    lists = make_repo(tmp_path / "lists", versions)
    raw = make_repo(tmp_path / "raw", [converted(v) for v in versions])
    build_database(lists, tmp_path / "lists.db")
    build_database(raw, tmp_path / "raw.db")
    expected, got = figures(tmp_path / "lists.db"), figures(tmp_path / "raw.db")
    assert got["snapshots"] == len(versions) and got["skipped"] == 0
    assert got == expected


def test_an_empty_featureset_is_an_empty_snapshot(tmp_path):
    records = [{"OUTAGE_ID": str(n), "EST_CUSTOMERS": 2, "geometry_x": -13580000.0, "geometry_y": 4500000.0}
               for n in range(1, 31)]
    repo = make_repo(tmp_path / "repo", [as_featureset(records), {"features": []}, as_featureset(records)])
    result = build_database(repo, tmp_path / "out.db")
    assert (result.snapshots_added, result.versions_skipped) == (3, 0)
    conn = sqlite3.connect(tmp_path / "out.db")
    assert conn.execute("select outage_count, suspect from snapshots order by id").fetchall() == [
        (30, None), (0, "empty"), (30, None)]
    # Judged like any empty snapshot: a glitch, so each outage is one outage throughout.
    assert conn.execute("select count(*) from outages").fetchone() == (30,)


def test_ids_as_numbers_then_strings_are_the_same_outage(tmp_path):
    as_numbers = [{"OUTAGE_ID": 115258, "EST_CUSTOMERS": 3, "geometry_x": -13570879.96, "geometry_y": 4357191.5}]
    as_strings = [{**as_numbers[0], "OUTAGE_ID": "115258"}]
    repo = make_repo(tmp_path / "repo", [as_featureset(as_numbers), as_featureset(as_strings)])
    build_database(repo, tmp_path / "out.db")
    conn = sqlite3.connect(tmp_path / "out.db")
    assert conn.execute("select id, snapshot_count from outages").fetchall() == [(115258, 2)]
    # The records are equal once read: one version, seen twice.
    assert conn.execute("select count(*) from outage_versions").fetchone() == (1,)
    assert conn.execute("select layers from outage_versions").fetchone() == ("4",)


@pytest.mark.parametrize(
    "blob, reason",
    [
        (b'{"error": {"code": 400, "message": "Failed to execute query."}}', "error object: Failed to execute query."),
        (b"<html><body><h1>504 Gateway Time-out</h1></body></html>", "HTML or XML instead of JSON"),
        (b'{"features": [], "spatialReference": {"wkid": 2227}}', "points in spatial reference 2227"),
    ],
    ids=["error-object", "html", "unknown-projection"],
)
def test_broken_raw_responses_are_skipped(tmp_path, blob, reason):
    records = [{"OUTAGE_ID": "1", "EST_CUSTOMERS": 2, "geometry_x": -13580000.0, "geometry_y": 4500000.0}]
    repo = make_repo(tmp_path / "repo", [as_featureset(records), blob, as_featureset(records)])
    result = build_database(repo, tmp_path / "out.db")
    assert (result.snapshots_added, result.versions_skipped) == (2, 1)
    conn = sqlite3.connect(tmp_path / "out.db")
    [(stored,)] = conn.execute("select reason from skipped_versions").fetchall()
    assert stored.startswith(reason)


@pytest.fixture
def layer4_month(layer4_bundle):
    return layer4_bundle


@pytest.mark.shared
def test_layer4_month_matches_the_reference_figures(layer4_month):
    repo, db, result = layer4_month
    assert (result.snapshots_added, result.versions_skipped) == (REFERENCE["snapshots"], 0)
    conn = sqlite3.connect(db)
    assert conn.execute("select count(*) from outages").fetchone()[0] == REFERENCE["outages"]
    assert conn.execute("select count(*) from outage_snapshots").fetchone()[0] == REFERENCE["rows"]
    assert conn.execute("select hash, outage_count, customers_affected from snapshots order by id desc limit 1"
                        ).fetchone() == REFERENCE["last"]
    assert conn.execute("select hash, [when], outage_count, customers_affected from snapshots"
                        " order by customers_affected desc limit 1").fetchone() == REFERENCE["largest"]
    # Every outage of the month is layer 4's, at a point inside California.
    assert conn.execute("select distinct layers from outage_versions").fetchall() == [("4",)]
    low_lat, high_lat, low_lon, high_lon = conn.execute(
        "select min(latitude), max(latitude), min(longitude), max(longitude) from outages").fetchone()
    assert 32.5 < low_lat < high_lat < 42.1 and -124.5 < low_lon < high_lon < -114.1
    assert conn.execute("select count(*) from outages where latitude is null").fetchone() == (0,)
    # Layer 4 names no place and no county: every outage gets both, from its point.
    assert result.outside_counties == 0
    assert conn.execute("select count(*) from outages where county_fips is null").fetchone() == (0,)
    named, inferred, counties = conn.execute(
        "select count(place), total(place_inferred), count(distinct county_fips) from outages").fetchone()
    assert named >= REFERENCE["outages"] * 0.999 and inferred == named and counties >= 40


def _blobs(repo, count: int) -> list[tuple[int, bytes]]:
    log = subprocess.run(["git", "log", "--reverse", f"-{count}", "--format=%H %ct", "--", "pge-events.json"],
                         cwd=repo, check=True, capture_output=True, text=True).stdout.split("\n")
    blobs = []
    for line in filter(None, log):
        sha, when = line.split()
        data = subprocess.run(["git", "show", f"{sha}:pge-events.json"], cwd=repo, check=True,
                              capture_output=True).stdout
        blobs.append((int(when), data))
    return blobs


@pytest.mark.shared
def test_a_geojson_slice_of_the_month_gives_the_same_figures(tmp_path, layer4_month):
    repo, _, _ = layer4_month
    blobs = _blobs(repo, 60)
    times = [when for when, _ in blobs]
    as_json = make_repo(tmp_path / "featuresets", [data for _, data in blobs], "pge-events.json", times=times)
    as_geojson = make_repo(
        tmp_path / "geojson", [featureset_as_geojson(json.loads(data)) for _, data in blobs],
        "pge-events.geojson", times=times,
    )
    build_database(as_json, tmp_path / "featuresets.db", file="pge-events.json")
    build_database(as_geojson, tmp_path / "geojson.db", file="pge-events.geojson")
    expected, got = figures(tmp_path / "featuresets.db"), figures(tmp_path / "geojson.db")
    assert expected["snapshots"] == 60 and expected["rows"] > 1_000
    assert got == expected
