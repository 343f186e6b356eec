"""Outage areas: ArcGIS polygons turned into small, stable GeoJSON, one feature per outage.

Raw, PG&E's polygons are 1-34 KB of geometry each. Here each outage's rows are
merged into one (Multi)Polygon in WGS84, simplified as far as its area stays
within AREA_TOLERANCE of the true one and its symmetric difference within
DIFFERENCE_TOLERANCE, rounded to 5 decimals (about a metre) and written one
feature per line, in a canonical form, so an unchanged area never changes a byte.
Polygons are repaired with make_valid, or skipped when they hold no area, and
counted, so the commit message can say what reading them took.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any

import shapely
from shapely.geometry import LinearRing, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from pge_outages import wire

AREA_TOLERANCE = 0.05  # the simplified area within 5% of the true one
DIFFERENCE_TOLERANCE = 0.10  # the symmetric difference within 10% of the true area
DECIMALS = 5  # about 1.1 m of latitude
GRID = 10.0**-DECIMALS
SKIPS_SHOWN = 3  # polygons skipped that a note names; the rest it counts

Area = tuple[int, BaseGeometry]


class AreaError(ValueError):
    """A feature's geometry cannot be read as a polygon."""


class AreaShapes(dict[int, BaseGeometry]):
    """Each outage's shape, and what reading them took: polygons repaired with make_valid, polygons skipped.

    >>> from shapely.geometry import Point
    >>> shapes = AreaShapes({299896: Point(0, 0).buffer(1)}, repaired=1, skipped=["outage 123: no rings"])
    >>> shapes.repaired, shapes.skipped, list(shapes)
    (1, ['outage 123: no rings'], [299896])

    `skipped` says, for each polygon left out, whose it was and why.
    """

    def __init__(
        self, shapes: Mapping[int, BaseGeometry] | None = None, repaired: int = 0, skipped: Iterable[str] = ()
    ) -> None:
        super().__init__(shapes or {})
        self.repaired = repaired
        self.skipped = list(skipped)


def shape_from_rings(rings: Any, to_wgs84: bool) -> tuple[BaseGeometry, bool]:
    """An ArcGIS polygon's rings as a valid (Multi)Polygon, and whether make_valid had to repair it.

    >>> shape_from_rings([[[0, 0], [0, 1], [1, 1], [0, 0]]], to_wgs84=False)[0].area
    0.5

    Rings are read as ArcGIS clients read them (Esri's arcgis-to-geojson-utils,
    terraformer): a clockwise ring is an outer ring, a counter-clockwise one a
    hole of the outer ring it lies in, and one that lies in none is an outer
    ring too, so rings that all run counter-clockwise are a shape, not an
    error. Open rings are closed; rings of fewer than three points are dropped.
    Raises AreaError when no area is left.
    """
    if not isinstance(rings, list) or not rings:
        raise AreaError("no rings")
    outers: list[LinearRing] = []
    holes: list[LinearRing] = []
    for ring in rings:
        points = _ring_points(ring, to_wgs84)
        if len(points) < 4:
            continue
        (outers if _is_clockwise(points) else holes).append(LinearRing(points))
    if not outers and not holes:
        raise AreaError("no ring of three points or more")
    try:
        return _assemble(outers, holes)
    except shapely.errors.GEOSException:
        raise AreaError("rings the geometry library cannot repair") from None


def _assemble(outers: list[LinearRing], holes: list[LinearRing]) -> tuple[BaseGeometry, bool]:
    """Outer rings with the holes that lie in them, repaired (each polygon, then their union) if need be."""
    shells: list[tuple[LinearRing, list[LinearRing]]] = [(outer, []) for outer in outers]
    for hole in holes:
        inside = Polygon(hole).representative_point()
        shell = next((shell for shell in shells if Polygon(shell[0]).contains(inside)), None)
        if shell is None:
            shells.append((hole, []))
        else:
            shell[1].append(hole)
    polygons = [Polygon(outer, interiors) for outer, interiors in shells]
    shape: BaseGeometry = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
    if shape.is_valid:
        return shape, False
    # make_valid on the whole would keep where outer rings overlap as a hole;
    # an outage's area is all its rings cover.
    parts = [_polygonal(shapely.make_valid(polygon)) for polygon in polygons]
    repaired = _polygonal(shapely.union_all([part for part in parts if not part.is_empty]))
    if repaired.is_empty:
        raise AreaError("rings that enclose no area")
    return repaired, True


def _ring_points(ring: Any, to_wgs84: bool) -> list[tuple[float, float]]:
    """A ring's points as floats (WGS84 when to_wgs84), closed; AreaError if they are not points."""
    try:
        points = [(float(x), float(y)) for x, y, *_ in ring]
    except (TypeError, ValueError):
        raise AreaError("a ring that is not a list of points") from None
    try:
        if to_wgs84:
            points = [wire.to_wgs84(x, y) for x, y in points]
    except OverflowError:
        raise AreaError("a point too far out to be on Earth") from None
    if not all(math.isfinite(x) and math.isfinite(y) for x, y in points):
        raise AreaError("a point that is not a finite number")
    if points and points[0] != points[-1]:
        points.append(points[0])
    return points


def _is_clockwise(points: list[tuple[float, float]]) -> bool:
    # Esri's test, the sign of the shoelace sum: a ring of no area counts as clockwise.
    return sum((x2 - x1) * (y2 + y1) for (x1, y1), (x2, y2) in pairwise(points)) >= 0


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

    >>> from shapely.geometry import Point
    >>> circle = Point(-122.27, 37.80).buffer(0.01)  # 65 points
    >>> simple = simplify_area(circle)
    >>> len(simple.exterior.coords) < 20, abs(simple.area / circle.area - 1) < AREA_TOLERANCE
    (True, True)

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
        try:
            candidate = _snapped(shape.simplify(tolerance, preserve_topology=True))
        except shapely.errors.GEOSException:
            # Simplifying can leave rings that cross, which snapping to the grid refuses.
            candidate = None
        if candidate is not None and within_bounds(candidate, shape):
            return candidate
        tolerance /= 2
    return rounded


def simplify_areas(shapes: Mapping[int, BaseGeometry]) -> AreaShapes:
    """simplify_area of every outage's shape, keeping the tally of what reading them took.

    >>> from shapely.geometry import Point
    >>> simplify_areas(AreaShapes({1: Point(0, 0).buffer(1)}, repaired=2)).repaired
    2
    """
    simplified = {outage: simplify_area(shape) for outage, shape in shapes.items()}
    if isinstance(shapes, AreaShapes):
        return AreaShapes(simplified, shapes.repaired, shapes.skipped)
    return AreaShapes(simplified)


def describe_read(shapes: AreaShapes) -> str | None:
    """One sentence for a commit message on what reading the areas took; None for a clean read.

    >>> describe_read(AreaShapes({}, repaired=2, skipped=["outage 123: no rings"]))
    'Areas: 2 polygons repaired with make_valid; 1 skipped (outage 123: no rings).'
    """
    repaired, skipped = shapes.repaired, shapes.skipped
    if not repaired and not skipped:
        return None
    parts = [f"{_polygons(repaired)} repaired with make_valid"] if repaired else []
    if skipped:
        shown = "; ".join(skipped[:SKIPS_SHOWN])
        more = f"; {len(skipped) - SKIPS_SHOWN:,} more" if len(skipped) > SKIPS_SHOWN else ""
        count = f"{len(skipped):,}" if repaired else _polygons(len(skipped))
        parts.append(f"{count} skipped ({shown}{more})")
    return "Areas: " + "; ".join(parts) + "."


def _polygons(n: int) -> str:
    return f"{n:,} polygon" if n == 1 else f"{n:,} polygons"


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

    >>> render_areas({})
    b'{"type": "FeatureCollection", "features": [\\n]}\\n'
    """
    return wire.join_areas(wire.area_line(outage, geometry_json(areas[outage])) for outage in sorted(areas))


def read_areas(data: bytes | None) -> dict[int, str]:
    """An areas file's geometries by outage id, as JSON text (for telling what changed); {} if unreadable."""
    if not data:
        return {}
    try:
        collection = json.loads(data)
        return {
            int(feature["properties"][wire.AREA_ID]): json.dumps(feature["geometry"], sort_keys=True)
            for feature in collection["features"]
        }
    except (ValueError, KeyError, TypeError):
        return {}
