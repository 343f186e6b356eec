"""Outage areas: ArcGIS polygons turned into small, stable GeoJSON, one feature per outage.

Raw, PG&E's polygons are 1-34 KB of geometry each. Here each outage's rows are
merged into one (Multi)Polygon in WGS84, simplified as far as its area stays
within AREA_TOLERANCE of the true one and its symmetric difference within
DIFFERENCE_TOLERANCE, rounded to 5 decimals (about a metre) and written one
feature per line, in a canonical form, so an unchanged area never changes a byte.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import shapely
from shapely.geometry import LinearRing, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

AREA_TOLERANCE = 0.05  # the simplified area within 5% of the true one
DIFFERENCE_TOLERANCE = 0.10  # the symmetric difference within 10% of the true area
DECIMALS = 5  # about 1.1 m of latitude
GRID = 10.0**-DECIMALS
ID_KEY = "OUTAGE_ID"
_EARTH_RADIUS = 6378137.0

Area = tuple[int, BaseGeometry]


class AreaError(ValueError):
    """A feature's geometry cannot be read as a polygon."""


def shape_from_rings(rings: Any, to_wgs84: bool) -> BaseGeometry:
    """An ArcGIS polygon's rings (outer rings clockwise, holes counter-clockwise) as a valid shape.

    Example: shape_from_rings([[[0, 0], [0, 1], [1, 1], [0, 0]]], to_wgs84=False).area == 0.5
    """
    if not isinstance(rings, list) or not rings:
        raise AreaError("no rings")
    outers: list[list] = []
    holes: list[LinearRing] = []
    for ring in rings:
        try:
            points = [(float(x), float(y)) for x, y, *_ in ring]
        except (TypeError, ValueError):
            raise AreaError("a ring that is not a list of points") from None
        if to_wgs84:
            points = [web_mercator_to_wgs84(x, y) for x, y in points]
        if len(points) < 4:
            continue
        linear = LinearRing(points)
        if linear.is_ccw:
            holes.append(linear)
        else:
            outers.append([linear, []])
    if not outers:
        raise AreaError("no outer ring")
    for hole in holes:
        inside = Polygon(hole).representative_point()
        for outer in outers:
            if Polygon(outer[0]).contains(inside):
                outer[1].append(hole)
                break
    polygons = [Polygon(shell, interiors) for shell, interiors in outers]
    shape: BaseGeometry = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
    return shapely.make_valid(shape) if not shape.is_valid else shape


def web_mercator_to_wgs84(x: float, y: float) -> tuple[float, float]:
    longitude = math.degrees(x / _EARTH_RADIUS)
    latitude = math.degrees(2 * math.atan(math.exp(y / _EARTH_RADIUS)) - math.pi / 2)
    return longitude, latitude


def merge_areas(rows: Iterable[Area]) -> dict[int, BaseGeometry]:
    """One shape per outage id: the union of every row's polygons, in a canonical form.

    Rows are merged in a fixed order, so the server's order of rows never
    changes the result.
    """
    grouped: dict[int, list[BaseGeometry]] = {}
    for outage, shape in rows:
        grouped.setdefault(outage, []).append(shape)
    merged = {}
    for outage, shapes in grouped.items():
        shapes.sort(key=lambda s: s.wkb)
        union = shapely.union_all(shapes)
        merged[outage] = _polygonal(union)
    return merged


def _polygonal(shape: BaseGeometry) -> BaseGeometry:
    """Only the polygons of a shape (make_valid and union may leave lines or points)."""
    if isinstance(shape, (Polygon, MultiPolygon)):
        return shape
    parts = [g for g in getattr(shape, "geoms", []) if isinstance(g, (Polygon, MultiPolygon))]
    polygons = [p for part in parts for p in getattr(part, "geoms", [part])]
    return MultiPolygon(polygons) if len(polygons) != 1 else polygons[0]


def simplify_area(shape: BaseGeometry) -> BaseGeometry:
    """The simplest rounded shape found whose area and symmetric difference stay within the tolerances.

    Example: simplify_area(polygon).area == pytest.approx(polygon.area, rel=0.05)
    Tolerances are tried from a twentieth of the shape's size down, halving,
    each result snapped to the 5-decimal grid and checked against the true shape.
    """
    true_area = shape.area
    rounded = _snapped(shape)
    if true_area <= 0:
        return rounded
    minx, miny, maxx, maxy = shape.bounds
    tolerance = max(maxx - minx, maxy - miny) / 20
    while tolerance > GRID / 2:
        candidate = _snapped(shape.simplify(tolerance, preserve_topology=True))
        if within_bounds(candidate, shape):
            return candidate
        tolerance /= 2
    return rounded


def within_bounds(candidate: BaseGeometry, true_shape: BaseGeometry) -> bool:
    """Whether candidate's area is within AREA_TOLERANCE of the true one,
    and their difference within DIFFERENCE_TOLERANCE."""
    true_area = true_shape.area
    if candidate.is_empty or not candidate.is_valid or true_area <= 0:
        return False
    if abs(candidate.area - true_area) > AREA_TOLERANCE * true_area:
        return False
    return candidate.symmetric_difference(true_shape).area <= DIFFERENCE_TOLERANCE * true_area


def _snapped(shape: BaseGeometry) -> BaseGeometry:
    snapped = _polygonal(shapely.set_precision(shape, GRID))
    return shapely.normalize(snapped)


def geometry_json(shape: BaseGeometry) -> dict[str, Any]:
    """GeoJSON of a (Multi)Polygon, outer rings counter-clockwise as RFC 7946 asks, 5 decimals."""
    polygons = list(shape.geoms) if isinstance(shape, MultiPolygon) else [shape]
    coordinates = [_rings(orient(polygon, 1.0)) for polygon in polygons]
    if len(coordinates) == 1:
        return {"type": "Polygon", "coordinates": coordinates[0]}
    return {"type": "MultiPolygon", "coordinates": coordinates}


def _rings(polygon: Polygon) -> list[list[list[float]]]:
    return [
        [[round(x, DECIMALS), round(y, DECIMALS)] for x, y in ring.coords]
        for ring in (polygon.exterior, *polygon.interiors)
    ]


def render_areas(areas: Mapping[int, BaseGeometry]) -> bytes:
    """The areas file: a FeatureCollection, one feature per line, sorted by outage id.

    Example: render_areas({}) == b'{"type": "FeatureCollection", "features": [\\n]}\\n'
    """
    lines = [
        json.dumps({"type": "Feature", "properties": {ID_KEY: outage}, "geometry": geometry_json(areas[outage])})
        for outage in sorted(areas)
    ]
    body = ",\n".join(lines)
    return ('{"type": "FeatureCollection", "features": [\n' + body + ("\n" if body else "") + "]}\n").encode()


def read_areas(data: bytes | None) -> dict[int, str]:
    """An areas file's geometries by outage id, as JSON text (for telling what changed); {} if unreadable."""
    if not data:
        return {}
    try:
        collection = json.loads(data)
        return {
            int(feature["properties"][ID_KEY]): json.dumps(feature["geometry"], sort_keys=True)
            for feature in collection["features"]
        }
    except (ValueError, KeyError, TypeError):
        return {}
