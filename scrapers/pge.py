"""PG&E's outage feeds: the ArcGIS MapServer layer (2024-) and the legacy regions feed (2019-2022).

Each adapter turns one feed's responses into flat outage records in the format
of the public history of that era; the base does the rest.
"""

from __future__ import annotations

from typing import Any

from .base import (
    Feed,
    FeedCountMismatch,
    FeedInvalid,
    FeedServerError,
    GetJson,
    Record,
    Utility,
)

ARCGIS_URL = "https://ags.pge.esriemcs.com/arcgis/rest/services/43/outages/MapServer/5/query"
# Retired in 2022; kept so the legacy adapter has a default, use --url for a mirror.
LEGACY_URL = "https://apim.pge.com/cocoutage/outages/getOutagesRegions?regionType=city&expand=true"
URL_ENVVAR = "PGE_OUTAGES_URL"
PAGE_SIZE = 1000
# A layer of a million outages would be a broken server, not a storm.
MAX_PAGES = 1000
# Keys that change on every scrape without meaning anything.
ARCGIS_VOLATILE_KEYS = ("OBJECTID", "blueSkyNotificationSubscription")


def query_arcgis(get_json: GetJson, url: str, params: dict[str, str]) -> dict[str, Any]:
    """One ArcGIS REST query with where=1=1 and f=json, raising FeedError for ArcGIS error objects.

    Example: query_arcgis(get_json, ARCGIS_URL, {"returnCountOnly": "true"}) == {"count": 42}
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

    Example: count_arcgis(get_json, ARCGIS_URL) == 1682
    """
    count = query_arcgis(get_json, url, {"returnCountOnly": "true"}).get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise FeedInvalid(f"{url} returned no 'count' for returnCountOnly=true")
    return count


def fetch_arcgis(get_json: GetJson, url: str, page_size: int = PAGE_SIZE) -> list[Record]:
    """Every feature of the layer, paged with resultOffset while exceededTransferLimit, as flat records.

    Example: fetch_arcgis(get_json, ARCGIS_URL)[0]["geometry_x"] == -13603453.282
    The pages must add up to the count query's total, so a capped page never loses outages.
    """
    expected = count_arcgis(get_json, url)
    features: list[Any] = []
    for _ in range(MAX_PAGES):
        page = query_arcgis(
            get_json,
            url,
            {
                "outFields": "*",
                "returnGeometry": "true",
                "orderByFields": "F_OUTAGE_ID",
                "resultOffset": str(len(features)),
                "resultRecordCount": str(page_size),
            },
        )
        batch = page.get("features")
        if not isinstance(batch, list):
            raise FeedInvalid(f"{url} returned no 'features' list")
        features.extend(batch)
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
    return [flatten_feature(url, number, feature) for number, feature in enumerate(features, 1)]


def flatten_feature(url: str, number: int, feature: Any) -> Record:
    """A feature's attributes followed by its point geometry as geometry_x/geometry_y.

    Example: flatten_feature(url, 1, {"attributes": {"F_OUTAGE_ID": 1}, "geometry": {"x": 2, "y": 3}})
    == {"F_OUTAGE_ID": 1, "geometry_x": 2, "geometry_y": 3}
    """
    attributes = feature.get("attributes") if isinstance(feature, dict) else None
    if not isinstance(attributes, dict):
        raise FeedInvalid(f"{url}: feature {number} has no 'attributes'")
    geometry = feature.get("geometry")
    geometry = geometry if isinstance(geometry, dict) else {}
    return {**attributes, "geometry_x": geometry.get("x"), "geometry_y": geometry.get("y")}


def fetch_legacy(get_json: GetJson, url: str) -> list[Record]:
    """The legacy feed's outagesRegions -> regions -> outages, flattened with regionName added.

    Example: fetch_legacy(get_json, LEGACY_URL)[0]["regionName"] == "Fresno"
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
        records.extend({**outage, "regionName": region.get("regionName")} for outage in outages)
    return records


ARCGIS = Feed(
    name="arcgis",
    default_url=ARCGIS_URL,
    fetch=fetch_arcgis,
    id_key="F_OUTAGE_ID",
    customers_key="EST_CUSTOMERS",
    place_key="CITY",
    cause_key="OUTAGE_CAUSE",
    drop_keys=ARCGIS_VOLATILE_KEYS,
)

LEGACY = Feed(
    name="legacy",
    default_url=LEGACY_URL,
    fetch=fetch_legacy,
    id_key="outageNumber",
    customers_key="estCustAffected",
    place_key="regionName",
    cause_key="cause",
)

PGE = Utility(
    name="pge",
    title="PG&E",
    feeds={"arcgis": ARCGIS, "legacy": LEGACY},
    default_feed="arcgis",
    url_envvar=URL_ENVVAR,
)
