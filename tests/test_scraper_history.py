"""Real snapshots from the public histories in ../shared/data, served back and scraped:
the history continues seamlessly."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from support.scraper_server import FeedServer, run_scraper, serve_feed

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = pytest.mark.shared

# Recent snapshots plus the largest of each history (a storm, and the 2019 shutoffs).
MODERN = ("cd1c90cd83b6d392aa677d351f98f1935f4092ad", "9534e9a818dcd6a27b3e233b17205f063ef9661c")
LEGACY = ("b375f1a18c977e2983b659dbab334750cffb3447", "d826490cb1f67db9d09e3362687c1de31f4a65a6")


def snapshots(tmp_path_factory, bundle: str, path: str, extra: tuple[str, ...]) -> dict[str, bytes]:
    """The file's blob at the bundle's five newest commits and at the commits in extra."""
    if not (SHARED / bundle).exists():
        pytest.skip(f"{SHARED / bundle} is not here")
    repo = tmp_path_factory.mktemp("history") / "repo.git"
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", "-b", "main", str(SHARED / bundle), str(repo)], check=True
    )
    newest = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--max-count=5", "main"], check=True, capture_output=True, text=True
    ).stdout.split()
    return {
        commit: subprocess.run(
            ["git", "-C", str(repo), "show", f"{commit}:{path}"], check=True, capture_output=True
        ).stdout
        for commit in [*newest, *extra]
    }


@pytest.fixture(scope="module")
def modern(tmp_path_factory):
    return snapshots(tmp_path_factory, "modern-2024-q1.bundle", "outages.json", MODERN)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    return snapshots(tmp_path_factory, "legacy-2019-10.bundle", "pge-outages.json", LEGACY)


def as_layer(records: list[dict]) -> list[dict]:
    """ArcGIS features that a scrape of the snapshot's day would have received, in OBJECTID order."""
    features = []
    for objectid, record in enumerate(reversed(records), 1):
        attributes = {"OBJECTID": objectid}
        attributes.update({k: v for k, v in record.items() if not k.startswith("geometry_")})
        attributes["blueSkyNotificationSubscription"] = None
        features.append({"attributes": attributes, "geometry": {"x": record["geometry_x"], "y": record["geometry_y"]}})
    return features


def as_regions(records: list[dict]) -> dict:
    regions = defaultdict(list)
    for record in records:
        outage = dict(record)
        regions[outage.pop("regionName")].append(outage)
    return {"outagesRegions": [{"regionName": name, "outages": outages} for name, outages in regions.items()]}


def as_scraped_today(records: list[dict]) -> list[dict]:
    """The 2024 records as today's scraper writes them: the point to the millimetre, the layer named."""
    return [
        {**record, "geometry_x": round(record["geometry_x"], 3), "geometry_y": round(record["geometry_y"], 3),
         "layers": [5]}
        for record in records
    ]


def test_modern_snapshots_scrape_back_as_the_same_records(tmp_path, modern):
    output = tmp_path / "outages.json"
    with serve_feed(FeedServer(max_record_count=1000)) as feed:
        for commit, blob in modern.items():
            records = json.loads(blob)
            feed.features = as_layer(records)
            result = run_scraper("--output", str(output), "--url", feed.url)
            assert result.exit_code == 0, (commit, result.output)
            assert json.loads(output.read_bytes()) == as_scraped_today(records), commit


def test_legacy_snapshots_scrape_back_sorted(tmp_path, legacy):
    output = tmp_path / "pge-outages.json"
    with serve_feed(FeedServer(legacy={})) as feed:
        for commit, blob in legacy.items():
            records = json.loads(blob)
            feed.legacy = as_regions(records)
            result = run_scraper("--feed", "legacy", "--output", str(output), "--url", feed.url)
            assert result.exit_code == 0, (commit, result.output)
            assert json.loads(output.read_bytes()) == sorted(records, key=lambda r: int(r["outageNumber"]))
