"""PG&E's outage feed as it comes and as we keep it: the keys, the layers, the projection, the files.

One owner for the format. The scraper writes it (`scrapers/`), the builder
reads it (`feed.py`, `areas.py`) and the generator imitates it
(`synthetic.py`), all from here: a change of PG&E's field names is a change of
this file, and tests/test_wire.py shows that what the scraper writes, the
builder reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

# Outage ids. The legacy feed (2019-2022) numbers outages in `outageNumber`;
# the ArcGIS MapServer (2024 on) in OUTAGE_ID on layer 4 ("outage locations",
# almost every outage since April 2024) and F_OUTAGE_ID on layer 5 (the few
# without a polygon, the layer the 2024 history scraped).
LEGACY_ID = "outageNumber"
LAYER4_ID = "OUTAGE_ID"
LAYER5_ID = "F_OUTAGE_ID"
OUTAGE_LAYERS: dict[int | None, str] = {4: LAYER4_ID, 5: LAYER5_ID}
ARCGIS_IDS = (LAYER4_ID, LAYER5_ID)
# Layer 8 holds the outage polygons: one or more rows per OUTAGE_ID.
AREAS_LAYER = 8
AREA_ID = LAYER4_ID
# Our scraper's list of the layers a record came from, and its point in Web Mercator.
LAYERS_KEY = "layers"
POINT_X, POINT_Y = "geometry_x", "geometry_y"
POINT_KEYS = (POINT_X, POINT_Y)

# Each column the builder stores, and the key that holds it in each era. The
# legacy feed's keys gave the columns their names.
LEGACY_FIELDS = {
    column: column
    for column in (
        "estCustAffected", "latitude", "longitude", "cause", "crewCurrentStatus", "regionName",
        "outageStartTime", "lastUpdateTime", "currentEtor", "autoEtor", "crewEta", "hazardFlag",
    )
}
LEGACY_DEVICES = "outageDevices"  # the legacy feed's list of the devices out
ARCGIS_FIELDS = {
    "estCustAffected": "EST_CUSTOMERS",
    "latitude": "OUTAGE_LATITUDE",
    "longitude": "OUTAGE_LONGITUDE",
    "cause": "OUTAGE_CAUSE",
    "crewCurrentStatus": "CREW_CURRENT_STATUS",
    "regionName": "CITY",
    "outageStartTime": "OUTAGE_START",
    "lastUpdateTime": "LAST_UPDATE",
    "currentEtor": "CURRENT_ETOR",
    "autoEtor": "AUTO_ETOR",
    "crewEta": "CREW_ETA",
    "hazardFlag": "HAZARD_FLAG",
    "outageExtent": "OUTAGE_EXTENT",
    "outageDeviceId": "OUTAGE_DEVICE_ID",
    "outageCircuitId": "OUTAGE_CIRCUIT_ID",
    "county": "COUNTY",
    "zip": "ZIP",
    "deviceCount": "DEVICE_COUNT",
    "spid": "SPID",
    "ftsFlag": "fts_flag",
}
# The ArcGIS times are milliseconds; each has a twin that spells it out.
ARCGIS_TIMES = ("outageStartTime", "lastUpdateTime", "currentEtor", "autoEtor", "crewEta")
TEXT_TWINS = {ARCGIS_FIELDS[column]: ARCGIS_FIELDS[column] + "_TEXT" for column in ARCGIS_TIMES}
# Keys that change on every scrape without meaning anything: OBJECTID is
# renumbered on every refresh, the blob is an encrypted 3 KB per outage. The
# scraper leaves them out.
VOLATILE_KEYS = ("OBJECTID", "blueSkyNotificationSubscription")
# Row numbers of PG&E's geoprocessing, like OBJECTID but kept in the files.
ROW_NUMBER_KEYS = ("InPoly_FID", "ORIG_FID")

# Spatial references. The outage layers serve points in Web Mercator metres;
# the scraper asks for the polygons in WGS84 degrees.
EARTH_RADIUS = 6378137.0
WEB_MERCATOR = 102100
WEB_MERCATOR_WKIDS = (102100, 3857, 102113, 900913)
WGS84 = 4326
WGS84_WKIDS = (WGS84,)


def to_web_mercator(longitude: float, latitude: float) -> tuple[float, float]:
    """A WGS84 point in Web Mercator metres.

    >>> [round(v) for v in to_web_mercator(-122.4194, 37.7749)]  # San Francisco
    [-13627665, 4547675]
    """
    x = math.radians(longitude) * EARTH_RADIUS
    y = math.log(math.tan(math.pi / 4 + math.radians(latitude) / 2)) * EARTH_RADIUS
    return x, y


def to_wgs84(x: float, y: float) -> tuple[float, float]:
    """A Web Mercator point as (longitude, latitude) in degrees; OverflowError far off the map.

    >>> [round(v, 6) for v in to_wgs84(*to_web_mercator(-122.4194, 37.7749))]
    [-122.4194, 37.7749]
    """
    longitude = math.degrees(x / EARTH_RADIUS)
    latitude = math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS)) - math.pi / 2)
    return longitude, latitude


def is_arcgis(body: bytes) -> bool:
    """Whether a record's body (feed.split_records) is an ArcGIS layer's, from its bytes alone.

    >>> is_arcgis(b'"F_OUTAGE_ID": 7'), is_arcgis(b'"outageNumber": "7"')
    (True, False)
    """
    return any(b'"%s"' % key.encode() in body for key in ARCGIS_IDS)


# The outages file: a JSON list with indent=2 and a trailing newline, as both
# public histories were written. A JSON string holds no raw newline, so the
# separator can only be structure: the builder splits records on it unparsed.
RECORD_SEPARATOR = b"},\n  {"


def record_item(record: dict[str, Any]) -> str:
    """One record as it stands in the outages file's list, indented one level.

    >>> record_item({"OUTAGE_ID": 1})
    '  {\\n    "OUTAGE_ID": 1\\n  }'
    """
    return "  " + json.dumps(record, indent=2).replace("\n", "\n  ")


def join_records(items: Iterable[str]) -> bytes:
    """The outages file from its records' items (record_item), in order."""
    body = ",\n".join(items)
    return ("[\n" + body + "\n]\n" if body else "[]\n").encode("utf-8")


def render_records(records: Iterable[dict[str, Any]]) -> bytes:
    """The outages file of these records.

    >>> render_records([{"F_OUTAGE_ID": 1}])
    b'[\\n  {\\n    "F_OUTAGE_ID": 1\\n  }\\n]\\n'
    """
    return join_records(map(record_item, records))


# The areas file: a GeoJSON FeatureCollection, one feature per line, so an
# unchanged area is an unchanged line and the builder parses only new lines.
AREAS_HEADER = b'{"type": "FeatureCollection", "features": ['
AREAS_FOOTER = b"]}"
AREA_SEPARATOR = b"},\n{"


def area_line(outage: int, geometry: dict[str, Any]) -> str:
    """One outage's feature, as its line of the areas file.

    >>> area_line(7, {"type": "Polygon", "coordinates": []})
    '{"type": "Feature", "properties": {"OUTAGE_ID": 7}, "geometry": {"type": "Polygon", "coordinates": []}}'
    """
    return json.dumps({"type": "Feature", "properties": {AREA_ID: outage}, "geometry": geometry})


def join_areas(lines: Iterable[str]) -> bytes:
    """The areas file from its features' lines (area_line), in order.

    >>> join_areas([])
    b'{"type": "FeatureCollection", "features": [\\n]}\\n'
    """
    body = ",\n".join(lines)
    return AREAS_HEADER + b"\n" + (body + "\n" if body else "").encode("utf-8") + AREAS_FOOTER + b"\n"
