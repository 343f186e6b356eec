"""Browsing today's feed: layer-4 outages (no city, a Web Mercator point) are on the map, in the
time-travel query and in the charts, as much as layer-5 ones.

Expected rows come straight from the blobs of a synthetic history in today's
format, read with the json module.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess

import pytest
import yaml
from datasette.app import Datasette

from pge_outages.build import build_database
from pge_outages.schema import SCHEMA_VERSION
from support.browser import METADATA, SERVE_SETTINGS
from support.helpers import build_synthetic

METADATA_DICT = yaml.safe_load(METADATA.read_text())


def _lat_lon(record: dict) -> tuple[float, float]:
    x, y = record["geometry_x"], record["geometry_y"]
    longitude = math.degrees(x / 6378137.0)
    latitude = math.degrees(2 * math.atan(math.exp(y / 6378137.0)) - math.pi / 2)
    return latitude, longitude


@pytest.fixture(scope="module")
def today(tmp_path_factory):
    base = tmp_path_factory.mktemp("today")
    db = build_synthetic(base, commits=200, era="today", seed=5, outages=80)
    repo = base / "history"
    blobs = subprocess.run(
        ["git", "log", "--reverse", "--format=%H %cI", "--", "outages.json"],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    scrapes = []
    for line in blobs:
        sha, title = line.split()
        blob = subprocess.run(["git", "show", f"{sha}:outages.json"], cwd=repo, check=True,
                              capture_output=True).stdout
        records = {r.get("OUTAGE_ID", r.get("F_OUTAGE_ID")): r for r in json.loads(blob)}
        scrapes.append((title, records))
    return db, scrapes


@pytest.fixture
def ds(today):
    db, _ = today
    return Datasette([str(db)], metadata=METADATA_DICT, settings=SERVE_SETTINGS)


async def rows_of(ds: Datasette, path: str) -> list[dict]:
    response = await ds.client.get(path)
    assert response.status_code == 200, response.text[:500]
    data = response.json()
    return [dict(zip(data["columns"], row, strict=True)) for row in data["rows"]]


@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_map_of_the_latest_snapshot_shows_both_layers(ds, today):
    _, scrapes = today
    _, latest = scrapes[-1]
    assert {4, 5} <= {layer for r in latest.values() for layer in r["layers"]}
    rows = await rows_of(ds, "/outages/most_recent_snapshot.json?_shape=arrays&_size=max")
    assert {r["outage"] for r in rows} == set(latest)
    for row in rows:
        record = latest[row["outage"]]
        assert row["layers"] == ",".join(str(layer) for layer in record["layers"])
        expected = (record["OUTAGE_LATITUDE"], record["OUTAGE_LONGITUDE"]) if "OUTAGE_LATITUDE" in record \
            else _lat_lon(record)
        assert row["latitude"] == pytest.approx(expected[0], abs=1e-5)
        assert row["longitude"] == pytest.approx(expected[1], abs=1e-5)
        if record["layers"] == [4]:
            assert row["regionName"] is None
    page = (await ds.client.get("/outages/most_recent_snapshot")).text
    assert "datasette-cluster-map.js" in page
    # The layers facet says how many outages each layer holds now.
    facet = (await ds.client.get("/outages/most_recent_snapshot.json?_facet=layers")).json()
    counts = {item["value"]: item["count"] for item in facet["facet_results"]["layers"]["results"]}
    expected_counts: dict[str, int] = {}
    for record in latest.values():
        key = ",".join(str(layer) for layer in record["layers"])
        expected_counts[key] = expected_counts.get(key, 0) + 1
    assert counts == expected_counts


@pytest.mark.asyncio
async def test_time_travel_and_the_chart_count_layer_4(ds, today):
    _, scrapes = today
    title, records = scrapes[120]
    rows = await rows_of(ds, f"/outages/outages_at.json?_shape=arrays&at={title}")
    assert {r["outage"] for r in rows} == set(records)
    assert any(records[r["outage"]]["layers"] == [4] and r["latitude"] is not None for r in rows)
    chart = await rows_of(ds, "/outages/customers_over_time.json?_shape=arrays")
    by_time = {r["time"]: (r["customers_affected"], r["outage_count"]) for r in chart}
    assert by_time[title] == (sum(r["EST_CUSTOMERS"] for r in records.values()), len(records))


def _downgrade_to_schema_2(db) -> None:
    """Make db look as the builder before the layers column left it."""
    conn = sqlite3.connect(db)
    for (view,) in conn.execute("select name from sqlite_master where type = 'view'").fetchall():
        conn.execute(f"drop view [{view}]")
    conn.execute("alter table outage_versions drop column layers")
    conn.execute("update _meta set value = '2' where key = 'schema_version'")
    conn.execute("delete from _upgrades where name = 'outage_versions.layers'")  # the step it lacks
    conn.execute("delete from _meta where key = 'views_sql'")
    conn.commit()
    conn.close()


def test_schema_2_database_is_upgraded_in_place_and_goes_on(tmp_path, today):
    db, scrapes = today
    repo = db.parent / "history"
    middle = subprocess.run(["git", "rev-list", "--skip=50", "-1", "HEAD"], cwd=repo, check=True,
                            capture_output=True, text=True).stdout.strip()
    old = tmp_path / "old.db"
    build_database(repo, old, branch=middle)
    _downgrade_to_schema_2(old)
    result = build_database(repo, old)
    assert result.snapshots_added > 0
    conn = sqlite3.connect(old)
    assert conn.execute("select value from _meta where key = 'schema_version'").fetchone() == (SCHEMA_VERSION,)
    # Versions stored before the upgrade keep NULL; the rest say their layers.
    fresh = sqlite3.connect(db)
    query = "select outage, snapshot, estCustAffected, latitude, longitude from outage_snapshots order by 2, 1"
    assert conn.execute(query).fetchall() == fresh.execute(query).fetchall()
    latest = conn.execute("select layers from most_recent_snapshot").fetchall()
    assert latest and all(layers is not None for (layers,) in latest)
    assert conn.execute("select count(*) from outage_versions where layers is null").fetchone()[0] > 0


def test_schema_2_database_with_nothing_new_is_upgraded_too(tmp_path, today):
    db, _ = today
    old = tmp_path / "old.db"
    build_database(db.parent / "history", old)
    _downgrade_to_schema_2(old)
    result = build_database(db.parent / "history", old)
    assert result.snapshots_added == 0
    conn = sqlite3.connect(old)
    assert conn.execute("select value from _meta where key = 'schema_version'").fetchone() == (SCHEMA_VERSION,)
    assert conn.execute("select count(*) from most_recent_snapshot where layers is null").fetchone()[0] > 0
