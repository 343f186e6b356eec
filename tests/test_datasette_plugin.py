"""The project's Datasette plugin: expanded views are not counted whole."""

import pytest
from datasette.app import Datasette

from conftest import fixture_versions, make_repo
from pge_outages.build import build_database
from pge_outages.datasette_plugin import needs_nocount


@pytest.mark.parametrize(
    "path, query, expected",
    [
        ("/outages/outage_snapshots", "", True),
        ("/outages/outage_snapshots.json", "_size=5", True),
        ("/outages/outage_snapshots", "cause=STORM", True),
        ("/outages/outage_snapshots", "snapshot=3", False),
        ("/outages/outage_snapshots", "outage__exact=7&_size=5", False),
        ("/outages/outages", "", False),
        ("/outages/most_recent_snapshot", "", False),
        ("/outages/area_snapshots", "", True),
        ("/outages/area_snapshots.geojson", "", True),  # what datasette-geojson-map draws
        ("/outages/area_snapshots", "outage=7", False),
        ("/outages/most_recent_areas", "", False),
    ],
)
def test_needs_nocount(path, query, expected):
    assert needs_nocount(path, query) is expected


@pytest.mark.asyncio
async def test_plugin_is_installed_and_skips_the_count(tmp_path):
    repo = make_repo(tmp_path / "repo", fixture_versions("legacy"), "pge-outages.json")
    db = tmp_path / "outages.db"
    build_database(repo, db)
    ds = Datasette([str(db)])
    plugins = (await ds.client.get("/-/plugins.json")).json()
    assert {"pge-outages", "datasette-vega", "datasette-cluster-map"} <= {p["name"] for p in plugins}
    whole = (await ds.client.get("/outages/outage_snapshots.json")).json()
    assert whole["filtered_table_rows_count"] is None
    assert len(whole["rows"]) == 7
    one = (await ds.client.get("/outages/outage_snapshots.json?snapshot=2")).json()
    assert one["filtered_table_rows_count"] == 3
