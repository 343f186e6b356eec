"""Real captures of today's ArcGIS layers (../shared/data), as the features a MapServer serves.

Each capture comes in the format its source saved (a FeatureSet, GeoJSON, or
the 2024 history's flat records); these helpers turn every one into the
`{"attributes", "geometry"}` features, in Web Mercator, that the layer's
query endpoint answers with, for tests/support/scraper_server.FeedServer to serve.
"""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
STORM_PEAK = "arcgis-2025-12-25"  # layers 4 and 5 at the 25 Dec 2025 storm peak
FULL_FIELDS = "arcgis-2026-07-09"  # layers 4, 5 and 8 with every field
# Where PG&E's territory lies, with a margin: California's bounding box.
CALIFORNIA = {"latitude": (32.5, 42.1), "longitude": (-124.5, -114.1)}


def capture_path(folder: str, name: str) -> Path:
    path = SHARED_DATA / folder / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the real captures live in ../shared/data beside the clone")
    return path


def load(folder: str, name: str) -> Any:
    return json.loads(capture_path(folder, name).read_bytes())


def to_web_mercator(longitude: float, latitude: float) -> tuple[float, float]:
    x = math.radians(longitude) * 6378137.0
    y = math.log(math.tan(math.pi / 4 + math.radians(latitude) / 2)) * 6378137.0
    return x, y


def from_geojson(collection: dict) -> list[dict]:
    """GeoJSON Point features (WGS84) as ArcGIS features with a Web Mercator point."""
    features = []
    for feature in collection["features"]:
        longitude, latitude = feature["geometry"]["coordinates"]
        x, y = to_web_mercator(longitude, latitude)
        features.append({"attributes": dict(feature["properties"]), "geometry": {"x": x, "y": y}})
    return features


def from_flat_records(records: list[dict]) -> list[dict]:
    """The 2024 history's flat records (geometry_x/geometry_y) as ArcGIS features."""
    return [
        {
            "attributes": {k: v for k, v in record.items() if not k.startswith("geometry_")},
            "geometry": {"x": record["geometry_x"], "y": record["geometry_y"]},
        }
        for record in records
    ]


def storm_peak_layers() -> dict[int, list[dict]]:
    """Layers 4 (1,694 outages) and 5 (8 outages) at 2025-12-25 20:56 UTC."""
    return {
        4: load(STORM_PEAK, "layer4.json")["features"],
        5: from_flat_records(load(STORM_PEAK, "layer5.json")),
    }


def full_field_layers() -> dict[int, list[dict]]:
    """Layers 4 (25 outages, every field, the blob too) and 5 (1 outage) at 2026-07-09."""
    return {
        4: from_geojson(load(FULL_FIELDS, "outages_l4.geojson")),
        5: load(FULL_FIELDS, "outages_l5.json")["features"],
    }


def layer_ids(features: list[dict]) -> set[int]:
    ids = set()
    for feature in features:
        attributes = feature["attributes"]
        ids.add(int(attributes.get("OUTAGE_ID") or attributes["F_OUTAGE_ID"]))
    return ids


def customers(features: list[dict]) -> int:
    return sum(int(feature["attributes"]["EST_CUSTOMERS"] or 0) for feature in features)


def _esri_rings(geometry: dict, project) -> list:
    """A GeoJSON (Multi)Polygon's rings the ArcGIS way: outer rings clockwise, holes counter-clockwise."""
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    rings = []
    for polygon in polygons:
        for number, ring in enumerate(polygon):
            points = [list(project(x, y)) for x, y, *_ in ring]
            signed = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in pairwise(points))
            clockwise = signed < 0
            if clockwise != (number == 0):
                points.reverse()
            rings.append(points)
    return rings


def area_features(in_web_mercator: bool = False) -> list[dict]:
    """Layer 8 at 2026-07-09 (28 rows for 25 outages) as an ArcGIS query answers with rings."""
    project = to_web_mercator if in_web_mercator else (lambda x, y: (x, y))
    return [
        {"attributes": dict(feature["properties"]), "geometry": {"rings": _esri_rings(feature["geometry"], project)}}
        for feature in load(FULL_FIELDS, "outages_l8.geojson")["features"]
    ]


def true_areas() -> dict[int, Any]:
    """Each outage's area in the capture, merged, with the geometry library: what the simplified ones are held to."""
    from shapely import union_all
    from shapely.geometry import shape

    shapes: dict[int, list] = {}
    for feature in load(FULL_FIELDS, "outages_l8.geojson")["features"]:
        shapes.setdefault(int(feature["properties"]["OUTAGE_ID"]), []).append(shape(feature["geometry"]))
    return {outage: union_all(parts) for outage, parts in shapes.items()}


def raw_geometry_bytes() -> int:
    """The bytes of layer 8's geometry in the capture, as the server wrote it."""
    return sum(len(json.dumps(f["geometry"])) for f in load(FULL_FIELDS, "outages_l8.geojson")["features"])
