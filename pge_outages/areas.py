"""Read one version of the areas file (outage-areas.geojson) into each outage's area.

The scraper writes a GeoJSON FeatureCollection with one feature per line, so a
version is split into lines and only the lines that were not in the version
before are parsed; a file laid out another way is parsed whole.
"""

from __future__ import annotations

from typing import Any

import orjson

from . import wire
from .feed import outage_id

# (PG&E's outage number, the geometry as compact GeoJSON text)
Area = tuple[int, str]

AREA_TYPES = ("Polygon", "MultiPolygon")
_WHITESPACE = b" \t\r\n"


class InvalidAreas(ValueError):
    """A version of the areas file that is not a GeoJSON FeatureCollection."""


def area_of(feature: Any) -> Area | None:
    """The outage number and geometry text of one feature, or None if it has either wrong.

    The geometry is written back as `{"type":...,"coordinates":...}` without
    spaces, so one shape is one text however the file spaced it.
    """
    if not isinstance(feature, dict):
        return None
    number = outage_id(feature.get("properties"))
    geometry = feature.get("geometry")
    if number is None or not isinstance(geometry, dict):
        return None
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind not in AREA_TYPES or not isinstance(coordinates, list) or not coordinates:
        return None
    return number, orjson.dumps({"type": kind, "coordinates": coordinates}).decode()


def parse_areas(blob: bytes) -> list[Area]:
    """Every area of one version of the file; raise InvalidAreas saying why it has none."""
    if not blob.strip():
        raise InvalidAreas("empty file")
    try:
        data = orjson.loads(blob)
    except orjson.JSONDecodeError as error:
        if blob.lstrip()[:1] == b"<":
            raise InvalidAreas("HTML or XML instead of JSON") from None
        raise InvalidAreas(f"invalid JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidAreas(f"a JSON {type(data).__name__} instead of a FeatureCollection")
    if "error" in data:
        message = data["error"]
        if isinstance(message, dict):
            message = message.get("message") or message.get("code")
        raise InvalidAreas(f"error object: {message}")
    if data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise InvalidAreas("a JSON object that is not a FeatureCollection")
    return [area for area in map(area_of, data["features"]) if area is not None]


class AreaReader:
    """Reads versions of the areas file one after another, parsing only the lines that changed."""

    def __init__(self) -> None:
        self.lines: dict[bytes, Area | None] = {}

    def read(self, blob: bytes | None) -> list[Area]:
        """The areas of one version (none where the file is absent); raise InvalidAreas if broken."""
        if blob is None:
            self.lines = {}
            return []
        areas = self._read_lines(blob)
        if areas is None:
            self.lines = {}
            areas = parse_areas(blob)
        return areas

    def _read_lines(self, blob: bytes) -> list[Area] | None:
        """The areas of a file in the scraper's layout, or None if it is laid out another way."""
        text = blob.rstrip(_WHITESPACE)
        if not text.startswith(wire.AREAS_HEADER) or not text.endswith(wire.AREAS_FOOTER):
            return None
        middle = text[len(wire.AREAS_HEADER):-len(wire.AREAS_FOOTER)].strip(_WHITESPACE)
        if not middle:
            self.lines = {}
            return []
        if middle[:1] != b"{" or middle[-1:] != b"}":
            return None
        # A JSON string holds no raw newline, so "},\n{" can only end one feature and
        # begin the next; a split that was fooled leaves a part that does not parse.
        known = self.lines
        current: dict[bytes, Area | None] = {}
        areas = []
        for body in middle[1:-1].split(wire.AREA_SEPARATOR):
            if body in known:
                area = known[body]
            else:
                try:
                    area = area_of(orjson.loads(b"{" + body + b"}"))
                except orjson.JSONDecodeError:
                    return None  # not one feature per line after all: parse the whole file
            current[body] = area
            if area is not None:
                areas.append(area)
        self.lines = current
        return areas
