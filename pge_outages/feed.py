"""Read one version of the outage feed file into normalised outage records.

Both eras of PG&E's feed (the legacy feed of 2019-2022, every value a string,
and the ArcGIS feed of 2024 on) map onto one set of column names, with
numbers as numbers and every time in Unix seconds (UTC).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import orjson

from . import wire
from .times import PACIFIC, read_seconds

# The columns of one outage version, in the order the builder stores them.
COLUMNS = (
    "estCustAffected",
    "latitude",
    "longitude",
    "cause",
    "crewCurrentStatus",
    "regionName",
    "outageStartTime",
    "lastUpdateTime",
    "currentEtor",
    "autoEtor",
    "crewEta",
    "hazardFlag",
    "outageExtent",
    "outageDeviceId",
    "outageCircuitId",
    "county",
    "zip",
    "deviceCount",
    "spid",
    "ftsFlag",
    "outageDevices",
    "extra",
    "layers",
)

# Keys that change on every scrape without meaning, or that restate another key
# (the *_TEXT fields spell out the millisecond times; geometry_x/y is the same
# point as OUTAGE_LATITUDE/LONGITUDE, in Web Mercator).
_IGNORED = {*wire.VOLATILE_KEYS, *wire.ROW_NUMBER_KEYS, *wire.TEXT_TWINS.values()}



class InvalidVersion(ValueError):
    """A version of the file that is not a JSON list of outages."""


def _to_int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if type(value) is str:  # the legacy feed's numbers, "1572139440"
        try:
            return int(value)
        except ValueError:
            pass
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        number = float(text)  # raises ValueError for text that is no number
        if not math.isfinite(number):
            raise
        return int(number)


def _to_float(value: Any) -> float | None:
    if type(value) is float:
        return value if math.isfinite(value) else None
    if value is None or value == "":
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _to_text(value: Any) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _milliseconds(value: Any) -> int | None:
    if type(value) is int:
        return value // 1000
    if isinstance(value, str) and value and not value.strip().lstrip("-").isdigit():
        return _text_time(value.strip())
    ms = _to_int(value)
    return None if ms is None else ms // 1000


def _text_time(text: str) -> int:
    """Seconds from a time written out: ISO 8601 (times.read_time: PG&E's local time without an
    offset), or the feed's US-style local time; ValueError when it is neither."""
    seconds = read_seconds(text, naive=PACIFIC)
    if seconds is not None:
        return seconds
    # "2/4/2024 3:32:00 PM": PG&E's local time, as CREW_ETA is sometimes given
    return int(datetime.strptime(text, "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=PACIFIC).timestamp())


def _hazard(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return int(value.strip().lower() == "true")
    return _to_int(value)


# column -> converter; the keys that hold each column are wire's.
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "estCustAffected": _to_int,
    "latitude": _to_float,
    "longitude": _to_float,
    "cause": _to_text,
    "crewCurrentStatus": _to_text,
    "regionName": _to_text,
    "outageStartTime": _to_int,
    "lastUpdateTime": _to_int,
    "currentEtor": _to_int,
    "autoEtor": _to_int,
    "crewEta": _to_int,
    "hazardFlag": _hazard,
    "outageExtent": _to_text,
    "outageDeviceId": _to_text,
    "outageCircuitId": _to_text,
    "county": _to_text,
    "zip": _to_text,
    "deviceCount": _to_int,
    "spid": _to_text,
    "ftsFlag": _to_text,
}


def parse_version(blob: bytes) -> list[Any]:
    """Parse one version of the file into its records; raise InvalidVersion saying why it has none.

    Besides a list of outages (the legacy feed, the 2024 history, our scraper),
    a raw ArcGIS response as people commit it with `curl ... f=json` or
    `f=geojson` is read: an ArcGIS FeatureSet or a GeoJSON FeatureCollection,
    each feature flattened into its attributes plus geometry_x/geometry_y.
    """
    if not blob.strip():
        raise InvalidVersion("empty file")
    try:
        data = orjson.loads(blob)
    except orjson.JSONDecodeError as error:
        head = blob.lstrip()[:15].lower()
        if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
            raise InvalidVersion("HTML or XML instead of JSON") from None
        raise InvalidVersion(f"invalid JSON: {error}") from None
    if isinstance(data, dict):
        if "error" in data:
            message = data["error"]
            if isinstance(message, dict):
                message = message.get("message") or message.get("code")
            raise InvalidVersion(f"error object: {message}")
        if isinstance(data.get("features"), list):
            return flatten_features(data)
        raise InvalidVersion("a JSON object instead of a list of outages")
    if not isinstance(data, list):
        raise InvalidVersion(f"a JSON {type(data).__name__} instead of a list of outages")
    return data


# Spatial references of the points in a FeatureSet (wkid or latestWkid).
_WEB_MERCATOR = frozenset(wire.WEB_MERCATOR_WKIDS)
_WGS84 = frozenset(wire.WGS84_WKIDS)


def flatten_features(collection: dict[str, Any]) -> list[Any]:
    """The features of an ArcGIS FeatureSet or GeoJSON FeatureCollection as flat records.

    A FeatureSet's point is kept in Web Mercator, or projected there from the
    WGS84 its `spatialReference` may name; GeoJSON points are WGS84. A feature
    that is not an object stays one, for the writer to count as ignored.
    """
    features = collection["features"]
    if collection.get("type") == "FeatureCollection" or any(
        isinstance(f, dict) and "properties" in f for f in features[:1]
    ):
        return [_flatten_geojson(feature) for feature in features]
    reference = collection.get("spatialReference")
    wkids: set[Any] = set()
    if isinstance(reference, dict):
        wkids = {reference.get("wkid"), reference.get("latestWkid")} - {None}
    if wkids and not wkids & _WEB_MERCATOR and not wkids & _WGS84:
        raise InvalidVersion(f"points in spatial reference {min(wkids)}, neither Web Mercator nor WGS84")
    wgs84 = bool(wkids & _WGS84) and not wkids & _WEB_MERCATOR
    records: list[Any] = []
    for feature in features:
        attributes = feature.get("attributes") if isinstance(feature, dict) else None
        if not isinstance(attributes, dict):
            records.append(feature)
            continue
        geometry = feature.get("geometry")
        x = y = None
        if isinstance(geometry, dict):
            x, y = geometry.get("x"), geometry.get("y")
            if wgs84:
                x, y = _to_web_mercator(x, y)
        records.append({**attributes, wire.POINT_X: x, wire.POINT_Y: y})
    return records


def _flatten_geojson(feature: Any) -> Any:
    properties = feature.get("properties") if isinstance(feature, dict) else None
    if not isinstance(properties, dict):
        return feature
    x = y = None
    geometry = feature.get("geometry")
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        coordinates = geometry.get("coordinates")
        if isinstance(coordinates, list) and len(coordinates) >= 2:
            x, y = _to_web_mercator(coordinates[0], coordinates[1])
    return {**properties, wire.POINT_X: x, wire.POINT_Y: y}


def _to_web_mercator(longitude: Any, latitude: Any) -> tuple[float | None, float | None]:
    try:
        lon = _to_float(longitude)
        lat = _to_float(latitude)
    except (TypeError, ValueError):
        return None, None
    if lon is None or lat is None or not -90 < lat < 90:
        return None, None
    return wire.to_web_mercator(lon, lat)


def outage_id(record: Any) -> int | None:
    """The outage number of one record of either era and either layer, or None if it has none."""
    if not isinstance(record, dict):
        return None
    raw = record.get(wire.LEGACY_ID)
    if raw is None:
        raw = record.get(wire.LAYER4_ID)
        if raw is None:
            raw = record.get(wire.LAYER5_ID)
    try:
        return _to_int(raw)
    except (TypeError, ValueError):
        return None


_LEGACY_UPDATED, _ARCGIS_UPDATED = wire.LEGACY_FIELDS["lastUpdateTime"], wire.ARCGIS_FIELDS["lastUpdateTime"]


def count_stale(records: Iterable[Any], before: int) -> int:
    """How many records of either era were last updated before `before` (Unix seconds)."""
    stale = 0
    for record in records:
        if not isinstance(record, dict):
            continue
        raw = record.get(_LEGACY_UPDATED)
        try:
            updated = _to_int(raw) if raw is not None else _milliseconds(record.get(_ARCGIS_UPDATED))
        except (TypeError, ValueError):
            continue
        if updated is not None and updated < before:
            stale += 1
    return stale


def _plan(fields: dict[str, str], arcgis: bool):
    converters = dict(_CONVERTERS)
    if arcgis:  # milliseconds, or a time spelled out
        converters.update((column, _milliseconds) for column in wire.ARCGIS_TIMES)
    return [
        (COLUMNS.index(column), key, converters[column], wire.TEXT_TWINS.get(key) if arcgis else None)
        for column, key in fields.items()
    ]


# (index in COLUMNS, key, converter, the *_TEXT key to fall back on) per era
_PLANS = {False: _plan(wire.LEGACY_FIELDS, False), True: _plan(wire.ARCGIS_FIELDS, True)}
# Keys the columns account for: everything else goes into `extra`.
_KNOWN = {
    False: frozenset({wire.LEGACY_ID, wire.LEGACY_DEVICES, *wire.LEGACY_FIELDS.values()}),
    True: frozenset({*wire.ARCGIS_IDS, wire.LAYERS_KEY, *wire.POINT_KEYS, *_IGNORED, *wire.ARCGIS_FIELDS.values()}),
}
_LATITUDE, _LONGITUDE, _DEVICES, _EXTRA, _LAYERS = (
    COLUMNS.index(c) for c in ("latitude", "longitude", "outageDevices", "extra", "layers")
)


def record_columns(record: dict[str, Any]) -> tuple[Any, ...]:
    """Map one record of either era onto COLUMNS, as a tuple in that order.

    A value that cannot be converted is kept, as it was, in `extra` with every
    key the mapping does not know, so no data is lost.
    """
    arcgis = wire.LEGACY_ID not in record and (wire.LAYER4_ID in record or wire.LAYER5_ID in record)
    values: list[Any] = [None] * len(COLUMNS)
    extra: dict[str, Any] = {}
    get = record.get
    for index, key, convert, twin in _PLANS[arcgis]:
        raw = get(key)
        if raw is None:
            if twin is None:
                continue
            raw = get(twin)
            if raw is None:
                continue
        try:
            values[index] = convert(raw)
        except (TypeError, ValueError):
            extra[key] = raw
    if arcgis:
        if values[_LATITUDE] is None or values[_LONGITUDE] is None:
            values[_LATITUDE], values[_LONGITUDE] = _from_web_mercator(record)
        values[_LAYERS] = _layers(record, extra)
    devices = get(wire.LEGACY_DEVICES)
    if devices:
        values[_DEVICES] = orjson.dumps(devices).decode()
    unknown = record.keys() - _KNOWN[arcgis]
    for key in unknown:
        extra[key] = record[key]
    if extra:
        values[_EXTRA] = orjson.dumps(extra, option=orjson.OPT_SORT_KEYS).decode()
    return tuple(values)


def _layers(record: dict[str, Any], extra: dict[str, Any]) -> str | None:
    """Which ArcGIS layers a record came from, as "4", "5" or "4,5".

    Our scraper says so under `layers`; a record without that key is from the
    one layer its id key belongs to (a raw layer-4 scrape, or the 2024 history
    of layer 5).
    """
    layers = record.get(wire.LAYERS_KEY)
    if layers is None:
        return "4" if wire.LAYER4_ID in record else "5"
    if isinstance(layers, list) and layers and all(type(layer) is int for layer in layers):
        return ",".join(str(layer) for layer in sorted(set(layers)))
    extra[wire.LAYERS_KEY] = layers
    return None


def _from_web_mercator(record: dict[str, Any]) -> tuple[float | None, float | None]:
    try:
        x = _to_float(record.get(wire.POINT_X))
        y = _to_float(record.get(wire.POINT_Y))
    except (TypeError, ValueError):
        return None, None
    if x is None or y is None:
        return None, None
    try:
        longitude, latitude = wire.to_wgs84(x, y)
    except OverflowError:  # a corrupt point billions of metres north of the map
        return None, None
    return round(latitude, 6), round(longitude, 6)


_WHITESPACE = b" \t\r\n"


def split_records(blob: bytes) -> list[bytes]:
    """The body of each record of one version of the file: its JSON text without the braces.

    Found without parsing, so that an unchanged outage costs one bytes
    comparison instead of a parse. A file laid out another way is parsed
    whole. Raise InvalidVersion when the file is not a JSON list.
    """
    parts = blob.split(wire.RECORD_SEPARATOR)
    head = parts[0].lstrip(_WHITESPACE)
    tail = parts[-1].rstrip(_WHITESPACE)
    if head[:1] == b"[" and tail[-1:] == b"]":
        if len(parts) == 1:
            head = tail = head[1:-1].strip(_WHITESPACE)
            if not head:
                return []
        else:
            head = head[1:].lstrip(_WHITESPACE)
            tail = tail[:-1].rstrip(_WHITESPACE)
        if head[:1] == b"{" and tail[-1:] == b"}":
            if len(parts) == 1:
                return [head[1:-1]]
            parts[0] = head[1:]
            parts[-1] = tail[:-1]
            return parts
    return record_bodies(parse_version(blob))


def record_bodies(data: list[Any]) -> list[bytes]:
    """Records parsed already, written back out as bodies (anything but an object: empty)."""
    return [orjson.dumps(record)[1:-1] if isinstance(record, dict) else b"" for record in data]


def parse_record(body: bytes) -> Any:
    """Parse one record's body; raise InvalidVersion if it is not a JSON object's."""
    try:
        return orjson.loads(b"{" + body + b"}")
    except orjson.JSONDecodeError as error:
        raise InvalidVersion(f"invalid JSON: {error}") from None
