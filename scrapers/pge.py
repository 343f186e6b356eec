"""PG&E's outage feeds: the ArcGIS MapServer's outage layers (2024-) and the legacy regions feed (2019-2022).

Each adapter turns one feed's responses into flat outage records in the format
of the public history of that era; the base does the rest.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pge_outages import wire

from .areas import SKIPS_SHOWN, AreaError, AreaShapes, merge_areas, shape_from_rings
from .base import (
    Feed,
    FeedCountMismatch,
    FeedError,
    FeedInvalid,
    FeedServerError,
    GetJson,
    Record,
    Utility,
    integer_id,
)

MAPSERVER_URL = "https://ags.pge.esriemcs.com/arcgis/rest/services/43/outages/MapServer"
# When PG&E last refreshed the outage layers: {"lastUpdated": "20260709-1114", ...} (UTC).
STATUS_URL = "https://outages.pge.esriemcs.com/arcgis/rest/services/43/outages/status.json"
# Retired in 2022; kept so the legacy adapter has a default, use --url for a mirror.
LEGACY_URL = "https://apim.pge.com/cocoutage/outages/getOutagesRegions?regionType=city&expand=true"
URL_ENVVAR = "PGE_OUTAGES_URL"
# The MapServer's outage layers and their id keys (wire.py): read from the
# root, one scrape is the union of both.
OUTAGE_LAYERS = wire.OUTAGE_LAYERS
ID_KEYS = wire.ARCGIS_IDS
LAYERS_KEY = wire.LAYERS_KEY
AREAS_LAYER = wire.AREAS_LAYER
PAGE_SIZE = 1000
# A layer of a million outages would be a broken server, not a storm.
MAX_PAGES = 1000


class URLError(ValueError):
    """A --url that names neither a MapServer nor one of its layers' query endpoints."""


def layer_queries(url: str) -> list[tuple[int | None, str]]:
    """The (layer number, query URL) pairs one scrape of url reads.

    >>> layer_queries("https://example.com/arcgis/rest/services/43/outages/MapServer")
    [(4, 'https://example.com/arcgis/rest/services/43/outages/MapServer/4/query'), \
(5, 'https://example.com/arcgis/rest/services/43/outages/MapServer/5/query')]

    A MapServer root means every outage layer; `.../N/query` means that layer
    alone, and a bare `.../query` (a mirror of one layer) a layer of unknown number.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    match = re.search(r"/(\d+)/query$", path)
    if match:
        return [(int(match.group(1)), url)]
    if path.endswith("/query"):
        return [(None, url)]
    if path.lower().endswith("/mapserver"):
        return [
            (layer, urlunsplit(parts._replace(path=f"{path}/{layer}/query")))
            for layer in OUTAGE_LAYERS
        ]
    raise URLError(
        f"{url} is neither an ArcGIS MapServer (ending in /MapServer) nor a layer's query URL "
        "(ending in /N/query)"
    )


def query_arcgis(get_json: GetJson, url: str, params: dict[str, str]) -> dict[str, Any]:
    """One ArcGIS REST query with where=1=1 and f=json, raising FeedError for ArcGIS error objects.

    >>> def get_json(url, params):
    ...     return {"count": 42} if params["returnCountOnly"] == "true" else {}
    >>> query_arcgis(get_json, MAPSERVER_URL + "/4/query", {"returnCountOnly": "true"})
    {'count': 42}
    """
    response = get_json(url, {"where": "1=1", "f": "json", **params})
    if not isinstance(response, dict):
        raise FeedInvalid(f"{url} returned JSON that is not an object")
    error = response.get("error")
    if error is not None:
        error = error if isinstance(error, dict) else {"message": str(error)}
        code = error.get("code")
        details = " ".join(str(d) for d in error.get("details") or [] if d)
        message = " ".join(part for part in (str(error.get("message") or ""), details) if part)
        transient = isinstance(code, int) and code >= 500
        raise FeedServerError(
            f"{url} returned ArcGIS error {code}: {message or 'no message'}", transient=transient
        )
    return response


def count_arcgis(get_json: GetJson, url: str) -> int:
    """The number of features the layer says it holds (a returnCountOnly query).

    >>> count_arcgis(lambda url, params: {"count": 1694}, MAPSERVER_URL + "/4/query")
    1694
    """
    count = query_arcgis(get_json, url, {"returnCountOnly": "true"}).get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise FeedInvalid(f"{url} returned no 'count' for returnCountOnly=true")
    return count


def fetch_pages(
    get_json: GetJson, url: str, params: dict[str, str], page_size: int = PAGE_SIZE
) -> list[tuple[Any, Any]]:
    """Every feature of a layer with its page's spatialReference, paged while exceededTransferLimit.

    >>> fetch_pages(get_json, MAPSERVER_URL + "/8/query", {"outFields": "OUTAGE_ID"})  # doctest: +SKIP

    The pages must add up to the count query's total, so a capped page never
    loses a feature.
    """
    expected = count_arcgis(get_json, url)
    features: list[tuple[Any, Any]] = []
    for _ in range(MAX_PAGES):
        page = query_arcgis(
            get_json,
            url,
            {**params, "resultOffset": str(len(features)), "resultRecordCount": str(page_size)},
        )
        batch = page.get("features")
        if not isinstance(batch, list):
            raise FeedInvalid(f"{url} returned no 'features' list")
        reference = page.get("spatialReference")
        features.extend((feature, reference) for feature in batch)
        if not page.get("exceededTransferLimit"):
            break
        if not batch:
            raise FeedInvalid(f"{url} returned an empty page that says more features follow")
    else:
        raise FeedInvalid(f"{url} still had more features after {MAX_PAGES} pages")
    if len(features) != expected:
        raise FeedCountMismatch(
            f"{url}: pages held {len(features):,} outages but the count query says {expected:,}"
        )
    return features


def fetch_layer(get_json: GetJson, url: str, layer: int | None, page_size: int = PAGE_SIZE) -> list[Record]:
    """Every outage of one layer, as flat records with integer ids, each saying its layer.

    >>> def get_json(url, params):
    ...     if params.get("returnCountOnly"):
    ...         return {"count": 1}
    ...     return {"features": [{"attributes": {"OUTAGE_ID": "115258"}, "geometry": {"x": 1.5, "y": 2}}]}
    >>> fetch_layer(get_json, MAPSERVER_URL + "/4/query", 4)
    [{'OUTAGE_ID': 115258, 'geometry_x': 1.5, 'geometry_y': 2, 'layers': [4]}]
    """
    order = OUTAGE_LAYERS.get(layer, "OBJECTID") if layer is not None else "OBJECTID"
    params = {"outFields": "*", "returnGeometry": "true", "outSR": str(wire.WEB_MERCATOR), "orderByFields": order}
    features = fetch_pages(get_json, url, params, page_size)
    records = []
    for number, (feature, reference) in enumerate(features, 1):
        record = flatten_feature(url, number, feature, _projection(url, reference))
        id_key = next((key for key in ID_KEYS if record.get(key) is not None), None)
        if id_key is None:
            expected_key = OUTAGE_LAYERS.get(layer) if layer is not None else None
            missing = expected_key or " or ".join(ID_KEYS)
            raise FeedInvalid(f"{url}: outage {number} of {len(features)} has no {missing}")
        record[id_key] = integer_id(url, id_key, record[id_key], number, len(features))
        if layer is not None:
            record[LAYERS_KEY] = [layer]
        records.append(record)
    duplicates = sorted(key for key, n in Counter(map(_outage_id, records)).items() if n > 1)
    if duplicates:
        shown = ", ".join(str(key) for key in duplicates[:5])
        raise FeedInvalid(f"{url}: duplicate {OUTAGE_LAYERS.get(layer) or 'outage id'} {shown}")
    return records


def areas_url(url: str) -> str:
    """The query URL of the outage areas layer of the MapServer that url names.

    >>> areas_url("https://example.com/43/outages/MapServer/4/query")
    'https://example.com/43/outages/MapServer/8/query'
    """
    parts = urlsplit(url)
    path = re.sub(r"/\d+/query$", "", parts.path.rstrip("/"))
    if not path.lower().endswith("/mapserver"):
        raise URLError(f"{url} names no ArcGIS MapServer to read outage areas (layer {AREAS_LAYER}) from")
    return urlunsplit(parts._replace(path=f"{path}/{AREAS_LAYER}/query"))


def fetch_areas(get_json: GetJson, url: str, page_size: int = PAGE_SIZE) -> AreaShapes:
    """Each outage's area from layer 8: its rows merged into one shape (WGS84), not yet simplified.

    >>> fetch_areas(get_json, MAPSERVER_URL)[299896].area  # doctest: +SKIP

    The points are asked for in WGS84, and read by the spatialReference the
    server says it answered in. A row whose rings hold no area is skipped, one
    that needed make_valid is repaired, and both are counted in the result.
    Every FeedError says "layer 8 failed: ..."; a layer none of whose rows can
    be read is one too (FeedInvalid), so it never empties the areas file.
    """
    try:
        return _read_areas_layer(get_json, areas_url(url), page_size)
    except FeedError as error:
        raise type(error)(f"layer {AREAS_LAYER} failed: {error.message}", transient=error.transient) from None


def _read_areas_layer(get_json: GetJson, query: str, page_size: int) -> AreaShapes:
    params = {
        "outFields": wire.AREA_ID, "returnGeometry": "true", "outSR": str(wire.WGS84), "orderByFields": "OBJECTID",
    }
    features = fetch_pages(get_json, query, params, page_size)
    rows = []
    repaired = 0
    skipped: list[str] = []
    for number, (feature, reference) in enumerate(features, 1):
        attributes = feature.get("attributes") if isinstance(feature, dict) else None
        if not isinstance(attributes, dict):
            raise FeedInvalid(f"{query}: feature {number} has no 'attributes'")
        outage = integer_id(query, wire.AREA_ID, attributes.get(wire.AREA_ID), number, len(features))
        geometry = feature.get("geometry")
        try:
            shape, fixed = shape_from_rings(
                geometry.get("rings") if isinstance(geometry, dict) else None,
                to_wgs84=_wkid_kind(query, reference) == "mercator",
            )
        except AreaError as error:
            skipped.append(f"outage {outage}: {error}")
            continue
        repaired += int(fixed)
        rows.append((outage, shape))
    if features and not rows:
        # Nothing readable is no reason to empty the areas file.
        more = f"; {len(skipped) - SKIPS_SHOWN:,} more" if len(skipped) > SKIPS_SHOWN else ""
        raise FeedInvalid(
            f"{query}: none of its {len(features):,} polygons could be read ({'; '.join(skipped[:SKIPS_SHOWN])}{more})"
        )
    return AreaShapes(merge_areas(rows), repaired, skipped)


def _wkid_kind(url: str, reference: Any) -> str:
    wkids: tuple = ()
    if isinstance(reference, dict):
        wkids = tuple(reference.get(key) for key in ("latestWkid", "wkid") if reference.get(key) is not None)
    if any(wkid in wire.WGS84_WKIDS for wkid in wkids):
        return "wgs84"
    if not wkids or any(wkid in wire.WEB_MERCATOR_WKIDS for wkid in wkids):
        return "mercator"
    raise FeedInvalid(f"{url} answered in spatial reference {wkids[-1]}, neither Web Mercator nor WGS84")


def _projection(url: str, reference: Any) -> Callable[[Any], tuple[Any, Any]]:
    """A function from a feature's point to Web Mercator (x, y), by the page's spatialReference."""
    if _wkid_kind(url, reference) == "wgs84":
        return _wgs84_to_web_mercator
    return lambda geometry: (geometry.get("x"), geometry.get("y"))


def _wgs84_to_web_mercator(geometry: Any) -> tuple[Any, Any]:
    try:
        longitude, latitude = float(geometry["x"]), float(geometry["y"])
    except (KeyError, TypeError, ValueError):
        return None, None
    return wire.to_web_mercator(longitude, latitude)


def flatten_feature(
    url: str, number: int, feature: Any, project: Callable[[Any], tuple[Any, Any]] | None = None
) -> Record:
    """A feature's attributes followed by its point geometry as geometry_x/geometry_y (Web Mercator, mm).

    >>> flatten_feature(MAPSERVER_URL, 1, {"attributes": {"F_OUTAGE_ID": 1}, "geometry": {"x": 2, "y": 3}})
    {'F_OUTAGE_ID': 1, 'geometry_x': 2, 'geometry_y': 3}
    """
    attributes = feature.get("attributes") if isinstance(feature, dict) else None
    if not isinstance(attributes, dict):
        raise FeedInvalid(f"{url}: feature {number} has no 'attributes'")
    geometry = feature.get("geometry")
    x, y = (project or _projection(url, None))(geometry) if isinstance(geometry, dict) else (None, None)
    return {**attributes, wire.POINT_X: _millimetres(x), wire.POINT_Y: _millimetres(y)}


def _millimetres(value: Any) -> Any:
    # Rounding drops the float noise of the server's projection (4357191.497500002).
    if isinstance(value, float) and math.isfinite(value):
        rounded = round(value, 3)
        return int(rounded) if rounded.is_integer() else rounded
    return value


def _outage_id(record: Record) -> Any:
    return next(record[key] for key in ID_KEYS if record.get(key) is not None)


def fetch_mapserver(get_json: GetJson, url: str, page_size: int = PAGE_SIZE) -> list[Record]:
    """Every outage of every layer url names, one record per outage id.

    >>> fetch_mapserver(get_json, MAPSERVER_URL)  # layers 4 and 5  # doctest: +SKIP

    An id in several layers at once is one record: the first layer's
    attributes, then the keys only a later layer has, and every layer listed.
    """
    merged: dict[int, Record] = {}
    for layer, query_url in layer_queries(url):
        for record in fetch_layer(get_json, query_url, layer, page_size):
            key = _outage_id(record)
            earlier = merged.get(key)
            if earlier is None:
                merged[key] = record
                continue
            parts = earlier.pop(LAYERS_KEY, [])
            for name, value in record.items():
                if name not in earlier and name != LAYERS_KEY:
                    earlier[name] = value
            earlier[LAYERS_KEY] = sorted({*parts, *record.get(LAYERS_KEY, [])})
    return list(merged.values())


_REGION = wire.LEGACY_FIELDS["regionName"]


def fetch_legacy(get_json: GetJson, url: str) -> list[Record]:
    """The legacy feed's outagesRegions -> regions -> outages, flattened with regionName added.

    >>> regions = {"outagesRegions": [{"regionName": "Fresno", "outages": [{"outageNumber": "1"}]}]}
    >>> fetch_legacy(lambda url, params: regions, LEGACY_URL)
    [{'outageNumber': '1', 'regionName': 'Fresno'}]
    """
    response = get_json(url, {})
    regions = response.get("outagesRegions") if isinstance(response, dict) else None
    if not isinstance(regions, list):
        raise FeedInvalid(f"{url} returned no 'outagesRegions' list")
    records: list[Record] = []
    for number, region in enumerate(regions, 1):
        outages = region.get("outages") if isinstance(region, dict) else None
        if not isinstance(outages, list) or not all(isinstance(o, dict) for o in outages):
            raise FeedInvalid(f"{url}: region {number} has no 'outages' list")
        records.extend({**outage, _REGION: region.get("regionName")} for outage in outages)
    return records


def status_url(url: str) -> str:
    """Where the status of the MapServer url names is: PG&E's own for its MapServer, else beside the mirror's.

    >>> status_url("http://127.0.0.1:8000/x/43/outages/MapServer")
    'http://127.0.0.1:8000/x/43/outages/status.json'
    """
    parts = urlsplit(url)
    path = re.sub(r"/MapServer(/.*)?$", "", parts.path.rstrip("/"), flags=re.IGNORECASE)
    if urlunsplit(parts._replace(path=path)) == MAPSERVER_URL.removesuffix("/MapServer"):
        return STATUS_URL
    return urlunsplit(parts._replace(path=f"{path}/status.json", query=""))


def fetch_updated(get_json: GetJson, url: str) -> str | None:
    """When PG&E last refreshed the outage layers, from status.json's lastUpdated, as ISO 8601 UTC.

    >>> fetch_updated(lambda url, params: {"lastUpdated": "20260709-1114"}, MAPSERVER_URL)
    '2026-07-09T11:14:00Z'

    None when the answer has no such time; a failed request raises FeedError.
    """
    status = get_json(status_url(url), {})
    value = status.get("lastUpdated") if isinstance(status, dict) else None
    match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})", str(value or "").strip())
    if match is None:
        return None
    year, month, day, hour, minute = match.groups()
    return f"{year}-{month}-{day}T{hour}:{minute}:00Z"


ARCGIS = Feed(
    name="arcgis",
    default_url=MAPSERVER_URL,
    fetch=fetch_mapserver,
    id_keys=ID_KEYS,
    customers_key=wire.ARCGIS_FIELDS["estCustAffected"],
    place_key=wire.ARCGIS_FIELDS["regionName"],
    cause_key=wire.ARCGIS_FIELDS["cause"],
    drop_keys=wire.VOLATILE_KEYS,
    part_key=LAYERS_KEY,
    fetch_areas=fetch_areas,
    fetch_updated=fetch_updated,
)

LEGACY = Feed(
    name="legacy",
    default_url=LEGACY_URL,
    fetch=fetch_legacy,
    id_keys=(wire.LEGACY_ID,),
    customers_key=wire.LEGACY_FIELDS["estCustAffected"],
    place_key=wire.LEGACY_FIELDS["regionName"],
    cause_key=wire.LEGACY_FIELDS["cause"],
)

PGE = Utility(
    name="pge",
    title="PG&E",
    feeds={"arcgis": ARCGIS, "legacy": LEGACY},
    default_feed="arcgis",
    url_envvar=URL_ENVVAR,
)
