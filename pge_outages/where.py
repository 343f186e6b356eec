"""Where an outage is: the California county whose boundary holds its point, and the place PG&E would name.

Both answers come from files shipped in pge_outages/data/ and loaded once, on
first use: counties.geojson, the Census Bureau's 2016 county boundaries
generalised by scripts/make_counties.py, and places.csv, PG&E's own names for
its outage points of Oct 2019 and Feb-Mar 2024, made by scripts/make_places.py.
The builder takes them through a Locator, one look-up per distinct point, and
fills the counties table from county_rows().

>>> county_of(37.8044, -122.2712)
('06001', 'Alameda')
>>> place_of(37.8044, -122.2712)
'Oakland'
>>> county_of(37.75, -122.6), place_of(39.5296, -119.8138)  # the Pacific off San Francisco; Reno
(None, None)
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any

DATA = resources.files(__package__) / "data"
COUNTIES_FILE = "counties.geojson"
PLACES_FILE = "places.csv"
KM_PER_DEGREE = 111.2  # of latitude

# A point outside every county but this close to one belongs to the nearest:
# the generalised coastline runs up to 350 m off the Census Bureau's, which
# itself cuts piers and beaches short. Every outage point of the histories that
# fell outside lay within 120 m. (Distances east-west count 20% short, being in
# degrees; a point in Nevada or Oregon this close to the state line gets the
# county across it, but PG&E serves neither.)
SHORE_KM = 0.3
# No place is named beyond this distance of every labelled point. Held out of
# the gazetteer, 98% of PG&E's labels were named right within 0.5 km, 68% at
# 5-10 km and 4 of 13 beyond 10 km; every outage point of Dec 2025 lies within 16 km.
PLACE_KM = 10.0
# Longitudes are shrunk by the cosine of California's middle latitude, so that
# "nearest" means nearest on the ground (a degree of longitude there is 88 km).
LONGITUDE_SCALE = math.cos(math.radians(37.5))

# (latitude, longitude, place)
LabelledPoint = tuple[float, float, str]


def _shapely() -> Any:
    """shapely, imported on first use: it would cost every command that imports the builder 50 ms."""
    import shapely

    return shapely


def _coordinates(latitude: Any, longitude: Any) -> tuple[float, float] | None:
    """The point as two finite floats on the globe, or None for anything else."""
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):  # also False for NaN
        return None
    return lat, lon


def _coordinates_of(point: tuple[Any, Any]) -> tuple[float, float] | None:
    return _coordinates(*point)


class Counties:
    """Counties to look points up in: (fips, name, geometry in longitude/latitude) each.

    A point on the line between counties, which several polygons hold, goes to
    the lowest FIPS code among them.
    """

    def __init__(self, counties: Iterable[tuple[str, str, Any]]):
        shapely = _shapely()
        ordered = sorted(counties, key=lambda county: county[0])
        self.names = [(fips, name) for fips, name, _ in ordered]
        self._shapes = [geometry for _, _, geometry in ordered]
        shapely.prepare(self._shapes)
        self._tree = shapely.STRtree(self._shapes)

    def county_of(self, latitude: Any, longitude: Any) -> tuple[str, str] | None:
        return self.counties_of([(latitude, longitude)])[0]

    def counties_of(self, points: Sequence[tuple[Any, Any]]) -> list[tuple[str, str] | None]:
        """county_of of each (latitude, longitude), in one query of the tree for them all."""
        shapely = _shapely()
        found: list[tuple[str, str] | None] = [None] * len(points)
        valid = [(i, point) for i, point in enumerate(map(_coordinates_of, points)) if point is not None]
        if not valid:
            return found
        where = shapely.points([lon for _, (_, lon) in valid], [lat for _, (lat, _) in valid])
        best: dict[int, int] = {}
        # The tree finds the counties whose box holds each point; their prepared shapes say which hold it.
        hits, boxes = self._tree.query(where)
        for county in set(boxes.tolist()):
            candidates = hits[boxes == county]
            for hit in candidates[shapely.intersects(self._shapes[county], where[candidates])].tolist():
                best[hit] = min(county, best.get(hit, len(self.names)))
        missed = [hit for hit in range(len(valid)) if hit not in best]
        if missed:
            near = self._tree.query_nearest(where[missed], max_distance=SHORE_KM / KM_PER_DEGREE)
            for hit, county in zip(*near, strict=True):
                best[missed[int(hit)]] = min(int(county), best.get(missed[int(hit)], len(self.names)))
        for hit, county in best.items():
            found[valid[hit][0]] = self.names[county]
        return found


class Gazetteer:
    """Labelled points to name places by: a point's place is its nearest labelled point's.

    Of labelled points at the same distance, the first given wins.
    """

    def __init__(self, points: Sequence[LabelledPoint]):
        shapely = _shapely()
        self.places = [place for _, _, place in points]
        self._tree = shapely.STRtree(
            shapely.points([lon * LONGITUDE_SCALE for _, lon, _ in points], [lat for lat, _, _ in points]))

    def place_of(self, latitude: Any, longitude: Any) -> str | None:
        return self.places_of([(latitude, longitude)])[0]

    def places_of(self, points: Sequence[tuple[Any, Any]]) -> list[str | None]:
        """place_of of each (latitude, longitude), in one query of the tree for them all."""
        shapely = _shapely()
        found: list[str | None] = [None] * len(points)
        valid = [(i, point) for i, point in enumerate(map(_coordinates_of, points)) if point is not None]
        if not valid:
            return found
        where = shapely.points([lon * LONGITUDE_SCALE for _, (_, lon) in valid], [lat for _, (lat, _) in valid])
        best: dict[int, int] = {}
        for hit, labelled in zip(*self._tree.query_nearest(where, max_distance=PLACE_KM / KM_PER_DEGREE),
                                 strict=True):
            best[int(hit)] = min(int(labelled), best.get(int(hit), len(self.places)))
        for hit, labelled in best.items():
            found[valid[hit][0]] = self.places[labelled]
        return found


@cache
def shipped_counties() -> Counties:
    """The 58 counties of counties.geojson, read on first use."""
    collection = json.loads((DATA / COUNTIES_FILE).read_bytes())
    shape = _shapely().geometry.shape
    return Counties(
        (feature["properties"]["fips"], feature["properties"]["name"], shape(feature["geometry"]))
        for feature in collection["features"]
    )


@cache
def shipped_gazetteer() -> Gazetteer:
    """PG&E's labelled points of places.csv, read on first use."""
    rows = csv.DictReader(io.StringIO((DATA / PLACES_FILE).read_text(encoding="utf-8")))
    return Gazetteer([(float(row["latitude"]), float(row["longitude"]), row["place"]) for row in rows])


def county_rows() -> list[tuple[int, str, str]]:
    """(FIPS code as a number, name, geometry as compact GeoJSON text) of each shipped county.

    >>> rows = county_rows()
    >>> len(rows), rows[0][:2], rows[-1][:2], rows[0][2][:20]
    (58, (6001, 'Alameda'), (6115, 'Yuba'), '{"type":"Polygon","c')
    """
    collection = json.loads((DATA / COUNTIES_FILE).read_bytes())
    return [
        (int(feature["properties"]["fips"]), feature["properties"]["name"],
         json.dumps(feature["geometry"], separators=(",", ":")))
        for feature in collection["features"]
    ]


class Locator:
    """Where each outage is, for the builder: (county FIPS as a number, place, whether the place was inferred).

    The place is PG&E's own name where the record has one (the legacy feed's
    regionName, layer 5's CITY), with place_inferred 0; else place_of's, with
    1; else None, with None. Each distinct point is looked up once (the last
    `remember` of them are kept).

    >>> locate = Locator()
    >>> locate(37.8044, -122.2712, "Oakland"), locate(37.8044, -122.2712, None)
    ((6001, 'Oakland', 0), (6001, 'Oakland', 1))
    >>> locate(None, None, "Oakland"), locate(39.5296, -119.8138, None)  # no point; Reno
    ((None, 'Oakland', 0), (None, None, None))
    """

    def __init__(self, counties: Counties | None = None, gazetteer: Gazetteer | None = None,
                 remember: int = 1 << 16):
        # Loaded on first use: a build with nothing new pays for neither.
        self._counties = counties
        self._gazetteer = gazetteer
        self.remember = remember
        self._fips: dict[tuple[Any, Any], int | None] = {}
        self._places: dict[tuple[Any, Any], str | None] = {}  # looked up only when the record has no name

    def __call__(self, latitude: Any, longitude: Any, region: Any) -> tuple[int | None, str | None, int | None]:
        return self.locate_all([(latitude, longitude, region)])[0]

    def counties_all(self, points: Sequence[tuple[Any, Any]]) -> list[int | None]:
        """The county FIPS code (a number) of each (latitude, longitude), or None."""
        return [fips for fips, _, _ in self.locate_all([(lat, lon, "-") for lat, lon in points])]

    def locate_all(self, outages: Sequence[tuple[Any, Any, Any]]) -> list[tuple[int | None, str | None, int | None]]:
        """The answer for each (latitude, longitude, region), the points not yet known looked up together."""
        if len(self._fips) + len(outages) > self.remember:
            self._fips.clear()
            self._places.clear()
        new = list({(lat, lon): None for lat, lon, _ in outages if (lat, lon) not in self._fips})
        if new:
            if self._counties is None:
                self._counties = shipped_counties()
            for key, county in zip(new, self._counties.counties_of(new), strict=True):
                self._fips[key] = None if county is None else int(county[0])
        unnamed = list({(lat, lon): None for lat, lon, region in outages
                        if not (isinstance(region, str) and region) and (lat, lon) not in self._places})
        if unnamed:
            if self._gazetteer is None:
                self._gazetteer = shipped_gazetteer()
            self._places.update(zip(unnamed, self._gazetteer.places_of(unnamed), strict=True))
        answers: list[tuple[int | None, str | None, int | None]] = []
        for lat, lon, region in outages:
            fips = self._fips[(lat, lon)]
            if isinstance(region, str) and region:
                answers.append((fips, region, 0))
            else:
                place = self._places[(lat, lon)]
                answers.append((fips, place, None if place is None else 1))
        return answers


def county_of(latitude: Any, longitude: Any) -> tuple[str, str] | None:
    """(FIPS code, name) of the California county that holds the point, or None.

    None at sea, outside California, and for a point that is no pair of
    numbers on the globe (None, NaN, "n/a"). A point on a county line goes to
    the lower FIPS code; one within SHORE_KM off the coast, to the nearest county.

    >>> county_of(40.8021, -124.1637), county_of("36.7378", "-119.7871")
    (('06023', 'Humboldt'), ('06019', 'Fresno'))
    >>> county_of(0, 0), county_of(None, -122.0), county_of(float("nan"), -122.0)
    (None, None, None)
    """
    return shipped_counties().county_of(latitude, longitude)


def place_of(latitude: Any, longitude: Any) -> str | None:
    """The place PG&E names for the point: that of its nearest labelled point, or None.

    None beyond PLACE_KM of every labelled point (out of PG&E's territory) and
    for a point that is no pair of numbers on the globe.

    >>> place_of(36.7378, -119.7871), place_of(40.8021, -124.1637)
    ('Fresno', 'Eureka')
    >>> place_of(34.0522, -118.2437), place_of(None, None)  # Los Angeles
    (None, None)
    """
    return shipped_gazetteer().place_of(latitude, longitude)
