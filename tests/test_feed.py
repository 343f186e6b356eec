"""Reading one version of the feed file: parse_version's verdicts, raw ArcGIS responses
flattened, records split without parsing, and records of both eras (legacy 2019-2022,
ArcGIS 2024 on) mapped onto the columns the database stores."""

from __future__ import annotations

import json
import math

import pytest

from pge_outages import feed
from pge_outages.feed import (
    COLUMNS,
    InvalidVersion,
    count_stale,
    flatten_features,
    outage_id,
    parse_record,
    parse_version,
    record_bodies,
    record_columns,
    split_records,
)
from support.helpers import FIXTURES

# (-122, 37) near San Jose in Web Mercator, and the same point back in degrees.
LON, LAT = -122.0, 37.0
MERCATOR_X, MERCATOR_Y = -13580977.876779376, 4439106.787250583
HALF_EQUATOR = math.pi * 6378137.0  # x of longitude 180

LEGACY_RECORD = {  # tests/fixtures/legacy/1.json: every value a string
    "outageNumber": "697201",
    "outageStartTime": "1572140000",
    "crewCurrentStatus": "A repair crew is on the way to the outage location.",
    "currentEtor": "1572156000",
    "cause": "Our preliminary determination is that your outage was caused by weather.",
    "estCustAffected": "1200",
    "lastUpdateTime": "1572141100",
    "hazardFlag": "1",
    "latitude": "38.44047",
    "longitude": "-122.71444",
    "outageDevices": [{"latitude": "38.44", "longitude": "-122.71"}],
    "regionName": "Sonoma",
}

ARCGIS_RECORD = {  # tests/fixtures/arcgis/1.json: layer 5, times in milliseconds
    "F_OUTAGE_ID": 2419502,
    "OUTAGE_EXTENT": "DEVICE",
    "OUTAGE_DEVICE_ID": "315396621095",
    "OUTAGE_CIRCUIT_ID": 83622105,
    "CREW_ETA": None,
    "CREW_CURRENT_STATUS": "Awaiting T-Man",
    "OUTAGE_CAUSE": "STORM",
    "EST_CUSTOMERS": 57,
    "OUTAGE_LATITUDE": 37.06862,
    "OUTAGE_LONGITUDE": -122.07888,
    "CITY": "Ben Lomond",
    "COUNTY": "Santa Cruz",
    "ZIP": "95005",
    "DEVICE_COUNT": 2,
    "OUTAGE_START": 1711883321000,
    "OUTAGE_START_TEXT": None,
    "LAST_UPDATE": 1711896219000,
    "LAST_UPDATE_TEXT": None,
    "CURRENT_ETOR": None,
    "CURRENT_ETOR_TEXT": None,
    "AUTO_ETOR": None,
    "SPID": None,
    "fts_flag": "N",
    "geometry_x": -13589758.7582,
    "geometry_y": 4448675.8,
}


def columns(values: tuple) -> dict:
    """The columns record_columns filled in, by name."""
    assert len(values) == len(COLUMNS)
    return {name: value for name, value in zip(COLUMNS, values, strict=True) if value is not None}


def featureset(features: list, reference: dict | None = None) -> dict:
    collection = {"displayFieldName": "", "geometryType": "esriGeometryPoint", "fields": [], "features": features}
    if reference is not None:
        collection["spatialReference"] = reference
    return collection


def point_feature(x, y, **attributes) -> dict:
    return {"attributes": {"F_OUTAGE_ID": 1, **attributes}, "geometry": {"x": x, "y": y}}


def geojson_point(coordinates, **properties) -> dict:
    return {"type": "Feature", "properties": {"OUTAGE_ID": 1, **properties},
            "geometry": {"type": "Point", "coordinates": coordinates}}


# parse_version


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*/[0-9].json")), ids=lambda p: f"{p.parent.name}-{p.name}")
def test_list_of_outages_is_returned_as_parsed(path):
    blob = path.read_bytes()
    assert parse_version(blob) == json.loads(blob)


@pytest.mark.parametrize("blob, reason", [
    (b"", "empty file"),
    (b" \n\t\n", "empty file"),
    (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "HTML or XML instead of JSON"),
    (b"\n  <!DOCTYPE html>\n<html>", "HTML or XML instead of JSON"),
    (b'<?xml version="1.0"?><error/>', "HTML or XML instead of JSON"),
    (b'{"error": {"code": 400, "message": "Invalid query", "details": []}}', "error object: Invalid query"),
    (b'{"error": {"code": 498, "message": ""}}', "error object: 498"),
    (b'{"error": "Token Required"}', "error object: Token Required"),
    (b'{"error": "Service unavailable", "features": []}', "error object: Service unavailable"),
    (b'{"outages": []}', "a JSON object instead of a list of outages"),
    (b'{"features": null}', "a JSON object instead of a list of outages"),
    (b"42", "a JSON int instead of a list of outages"),
    (b"1.5", "a JSON float instead of a list of outages"),
    (b'"[]"', "a JSON str instead of a list of outages"),
    (b"true", "a JSON bool instead of a list of outages"),
], ids=[
    "empty", "blank", "html", "doctype", "xml", "error-message", "error-code", "error-text",
    "error-beside-features", "object", "features-null", "int", "float", "str", "bool",
])
def test_version_that_is_no_list_raises_invalid_version_saying_why(blob, reason):
    with pytest.raises(InvalidVersion, match=f"^{reason}$") as raised:
        parse_version(blob)
    assert isinstance(raised.value, ValueError)


def test_json_null_is_no_list_of_outages():
    with pytest.raises(InvalidVersion, match="^a JSON .+ instead of a list of outages$"):
        parse_version(b"null\n")


@pytest.mark.parametrize("blob, detail", [
    (b'[{"outageNumber": "697196",', "unexpected end of data"),
    (b"Not Found", "expected a JSON value"),
    (b"[1] [2]", "unexpected content after document"),
    (b"\xef\xbb\xbf[]", "byte order mark"),
], ids=["truncated", "text", "two-documents", "bom"])
def test_broken_json_is_invalid_json_with_the_parsers_reason(blob, detail):
    with pytest.raises(InvalidVersion, match=f"^invalid JSON: .*{detail}.*: line 1 column "):
        parse_version(blob)


def test_raw_featureset_is_read_as_flat_records():
    blob = json.dumps(featureset([point_feature(MERCATOR_X, MERCATOR_Y, EST_CUSTOMERS=3)], {"wkid": 102100}))
    assert parse_version(blob.encode()) == [
        {"F_OUTAGE_ID": 1, "EST_CUSTOMERS": 3, "geometry_x": MERCATOR_X, "geometry_y": MERCATOR_Y},
    ]


def test_raw_geojson_is_read_as_flat_records_in_web_mercator():
    blob = json.dumps({"type": "FeatureCollection", "features": [geojson_point([LON, LAT], EST_CUSTOMERS=3)]})
    [record] = parse_version(blob.encode())
    assert record == {"OUTAGE_ID": 1, "EST_CUSTOMERS": 3, "geometry_x": pytest.approx(MERCATOR_X, abs=1e-6),
                      "geometry_y": pytest.approx(MERCATOR_Y, abs=1e-6)}


def test_featureset_in_another_spatial_reference_is_an_invalid_version():
    blob = json.dumps(featureset([point_feature(6_000_000, 2_000_000)], {"wkid": 2227, "latestWkid": 2227}))
    with pytest.raises(InvalidVersion, match="^points in spatial reference 2227, neither Web Mercator nor WGS84$"):
        parse_version(blob.encode())


# flatten_features


@pytest.mark.parametrize("reference", [
    {"wkid": 102100, "latestWkid": 3857},
    {"wkid": 3857},
    {"wkid": 102113},
    {"wkid": 900913},
    {"latestWkid": 3857},
    {"wkid": 4326, "latestWkid": 3857},
    {},
    None,
], ids=["102100", "3857", "102113", "900913", "latest-only", "mercator-wins-over-4326", "no-wkid", "none"])
def test_featureset_in_web_mercator_keeps_its_points(reference):
    records = flatten_features(featureset([point_feature(MERCATOR_X, MERCATOR_Y, CITY="San Jose")], reference))
    assert records == [{"F_OUTAGE_ID": 1, "CITY": "San Jose", "geometry_x": MERCATOR_X, "geometry_y": MERCATOR_Y}]


@pytest.mark.parametrize("reference", [{"wkid": 4326}, {"latestWkid": 4326}, {"wkid": 2227, "latestWkid": 4326}])
def test_featureset_in_wgs84_is_projected_to_web_mercator(reference):
    [record] = flatten_features(featureset([point_feature(LON, LAT)], reference))
    assert record["geometry_x"] == pytest.approx(MERCATOR_X, abs=1e-6)
    assert record["geometry_y"] == pytest.approx(MERCATOR_Y, abs=1e-6)
    assert columns(record_columns(record)) == {"latitude": LAT, "longitude": LON, "layers": "5"}


@pytest.mark.parametrize("reference, named", [
    ({"wkid": 2227}, 2227),
    ({"wkid": 26910, "latestWkid": 2227}, 2227),
    ({"latestWkid": 32610}, 32610),
])
def test_featureset_in_another_spatial_reference_is_rejected_naming_it(reference, named):
    with pytest.raises(InvalidVersion, match=f"^points in spatial reference {named}, neither Web Mercator nor WGS84$"):
        flatten_features(featureset([point_feature(1.0, 2.0)], reference))


def test_features_without_attributes_stay_as_they_are():
    odd = [5, None, "feature", {"attributes": None}, {"attributes": [1]}, {"geometry": {"x": 1, "y": 2}}]
    assert flatten_features(featureset(odd, {"wkid": 102100})) == odd


@pytest.mark.parametrize("feature", [
    {"attributes": {"F_OUTAGE_ID": 1}},
    {"attributes": {"F_OUTAGE_ID": 1}, "geometry": None},
    {"attributes": {"F_OUTAGE_ID": 1}, "geometry": [LON, LAT]},
    point_feature("west", LAT),
    point_feature(LON, None),
    point_feature(LON, 90),
    point_feature(LON, -90.0),
    point_feature(LON, 123.4),
], ids=["no-geometry", "null-geometry", "list-geometry", "text-x", "no-y", "north-pole", "south-pole", "beyond"])
def test_wgs84_feature_without_a_projectable_point_has_an_empty_one(feature):
    assert flatten_features(featureset([feature], {"wkid": 4326})) == [
        {"F_OUTAGE_ID": 1, "geometry_x": None, "geometry_y": None},
    ]


def test_web_mercator_point_that_is_no_number_is_passed_on_for_the_record_to_drop():
    [record] = flatten_features(featureset([point_feature("west", 4e6)], {"wkid": 102100}))
    assert record == {"F_OUTAGE_ID": 1, "geometry_x": "west", "geometry_y": 4e6}
    assert columns(record_columns(record)) == {"layers": "5"}


@pytest.mark.parametrize("coordinates", [[LON, LAT], [LON, LAT, 12.5], ["-122.0", "37.0"]],
                         ids=["2d", "with-altitude", "as-text"])
def test_geojson_points_are_projected_to_web_mercator(coordinates):
    [record] = flatten_features({"type": "FeatureCollection", "features": [geojson_point(coordinates)]})
    assert record == {"OUTAGE_ID": 1, "geometry_x": pytest.approx(MERCATOR_X, abs=1e-6),
                      "geometry_y": pytest.approx(MERCATOR_Y, abs=1e-6)}


@pytest.mark.parametrize("geometry", [
    None,
    {"type": "Polygon", "coordinates": [[[LON, LAT], [LON + 1, LAT], [LON, LAT + 1], [LON, LAT]]]},
    {"type": "Point", "coordinates": [LON]},
    {"type": "Point", "coordinates": {"x": LON, "y": LAT}},
    {"type": "Point", "coordinates": [LON, 95.0]},
], ids=["null", "polygon", "one-coordinate", "object-coordinates", "latitude-95"])
def test_geojson_feature_without_a_usable_point_has_an_empty_one(geometry):
    feature = {"type": "Feature", "properties": {"OUTAGE_ID": 1}, "geometry": geometry}
    assert flatten_features({"type": "FeatureCollection", "features": [feature]}) == [
        {"OUTAGE_ID": 1, "geometry_x": None, "geometry_y": None},
    ]


def test_geojson_features_without_properties_stay_as_they_are():
    odd = [7, {"type": "Feature", "properties": None}, {"type": "Feature", "geometry": None}]
    assert flatten_features({"type": "FeatureCollection", "features": odd}) == odd


def test_collection_whose_first_feature_has_properties_is_geojson_whatever_its_spatial_reference():
    # No "type" and a spatialReference no FeatureSet may have: the properties decide.
    collection = {"spatialReference": {"wkid": 2227}, "features": [geojson_point([0, 0])]}
    assert flatten_features(collection) == [
        {"OUTAGE_ID": 1, "geometry_x": 0.0, "geometry_y": pytest.approx(0, abs=1e-6)},
    ]


def test_feature_collection_of_arcgis_features_keeps_them_unflattened():
    features = [point_feature(MERCATOR_X, MERCATOR_Y)]
    assert flatten_features({"type": "FeatureCollection", "features": features}) == features


def test_empty_collection_has_no_records():
    assert flatten_features(featureset([], {"wkid": 102100})) == []
    assert flatten_features({"type": "FeatureCollection", "features": []}) == []


# Web Mercator both ways


@pytest.mark.parametrize("longitude, latitude", [(0.0, 0.0), (LON, LAT), (-124.409591, 41.998), (-114.131211, 32.5343)])
def test_web_mercator_conversion_round_trips_to_six_decimals(longitude, latitude):
    x, y = feed._to_web_mercator(longitude, latitude)
    assert feed._from_web_mercator({"geometry_x": x, "geometry_y": y}) == (latitude, longitude)


def test_web_mercator_x_is_metres_along_the_equator():
    assert feed._to_web_mercator(180, 0)[0] == pytest.approx(HALF_EQUATOR, abs=1e-6)
    assert feed._to_web_mercator(LON, LAT) == (pytest.approx(MERCATOR_X, abs=1e-6), pytest.approx(MERCATOR_Y, abs=1e-6))
    assert feed._from_web_mercator({"geometry_x": -HALF_EQUATOR, "geometry_y": 0}) == (0.0, -180.0)


@pytest.mark.parametrize("longitude, latitude", [
    (None, LAT), (LON, None), ("", LAT), ("west", LAT), ([LON], LAT), (LON, 90), (LON, -90), (LON, 90.5),
])
def test_point_that_cannot_be_projected_to_web_mercator_is_none(longitude, latitude):
    assert feed._to_web_mercator(longitude, latitude) == (None, None)


@pytest.mark.parametrize("record", [
    {}, {"geometry_x": MERCATOR_X}, {"geometry_x": "x", "geometry_y": MERCATOR_Y},
    {"geometry_x": [1], "geometry_y": MERCATOR_Y}, {"geometry_x": MERCATOR_X, "geometry_y": "nan"},
])
def test_web_mercator_point_that_is_not_two_numbers_is_none(record):
    assert feed._from_web_mercator(record) == (None, None)


def test_web_mercator_point_far_beyond_the_map_gives_no_latitude():
    latitude, _ = feed._from_web_mercator({"geometry_x": 0, "geometry_y": 1e10})
    assert latitude is None or -90 <= latitude <= 90


# outage_id


@pytest.mark.parametrize("record, number", [
    ({"outageNumber": "697196"}, 697196),
    ({"outageNumber": 697196}, 697196),
    ({"F_OUTAGE_ID": 2419248}, 2419248),
    ({"F_OUTAGE_ID": "2419248"}, 2419248),
    ({"OUTAGE_ID": 7}, 7),
    ({"OUTAGE_ID": 7, "F_OUTAGE_ID": 8}, 7),
    ({"outageNumber": "1", "OUTAGE_ID": 2, "F_OUTAGE_ID": 3}, 1),
    ({"outageNumber": None, "OUTAGE_ID": 2}, 2),
    ({"OUTAGE_ID": None, "F_OUTAGE_ID": 3}, 3),
    ({"outageNumber": " 42 "}, 42),
    ({"F_OUTAGE_ID": 2419248.0}, 2419248),
    ({"F_OUTAGE_ID": "2419248.0"}, 2419248),
], ids=[
    "legacy-text", "legacy-number", "layer5", "layer5-text", "layer4", "layer4-before-layer5",
    "legacy-before-arcgis", "null-legacy-falls-back", "null-layer4-falls-back", "padded", "float", "float-text",
])
def test_outage_id_reads_either_era_and_either_layer(record, number):
    assert outage_id(record) == number
    assert type(outage_id(record)) is int


@pytest.mark.parametrize("record", [
    {}, {"outageNumber": "abc"}, {"outageNumber": ""}, {"outageNumber": "", "OUTAGE_ID": 2},
    {"F_OUTAGE_ID": "nan"}, {"F_OUTAGE_ID": "inf"}, {"OUTAGE_ID": [1]}, {"OUTAGE_ID": {"id": 1}},
    [1], 697196, "697196", None,
], ids=[
    "no-id", "text", "empty", "empty-legacy-hides-layer4", "nan", "inf", "list", "object",
    "list-record", "number-record", "text-record", "null-record",
])
def test_outage_id_is_none_without_a_readable_number(record):
    assert outage_id(record) is None


# count_stale


BEFORE = 1_000_000


@pytest.mark.parametrize("record, stale", [
    ({"lastUpdateTime": "999999"}, 1),
    ({"lastUpdateTime": 999999}, 1),
    ({"lastUpdateTime": "1000000"}, 0),
    ({"lastUpdateTime": "1572141000"}, 0),
    ({"LAST_UPDATE": 999_999_000}, 1),
    ({"LAST_UPDATE": 999_999_999}, 1),
    ({"LAST_UPDATE": 1_000_000_000}, 0),
    ({"LAST_UPDATE": "999999000"}, 1),
    ({"LAST_UPDATE": "1970-01-12T13:46:39Z"}, 1),
    ({"LAST_UPDATE": "1970-01-12T13:46:40Z"}, 0),
    ({"lastUpdateTime": None, "LAST_UPDATE": 5000}, 1),
    ({"lastUpdateTime": "1000000", "LAST_UPDATE": 5000}, 0),
    ({"lastUpdateTime": "soon"}, 0),
    ({"LAST_UPDATE": "not a time"}, 0),
    ({"lastUpdateTime": [1]}, 0),
    ({"outageNumber": "1"}, 0),
    ({}, 0),
    (5, 0),
    (None, 0),
], ids=[
    "legacy-text", "legacy-number", "legacy-at-the-limit", "legacy-recent", "arcgis-ms", "arcgis-last-ms",
    "arcgis-at-the-limit", "arcgis-text-ms", "arcgis-iso", "arcgis-iso-at-the-limit", "legacy-null-falls-back",
    "legacy-key-wins", "legacy-unreadable", "arcgis-unreadable", "list", "no-time", "empty", "number", "null",
])
def test_count_stale_judges_each_record_by_its_last_update(record, stale):
    assert count_stale([record], BEFORE) == stale


def test_count_stale_counts_over_any_iterable_of_both_eras():
    records = [
        {"outageNumber": "1", "lastUpdateTime": "100"},
        {"outageNumber": "2", "lastUpdateTime": "2000000"},
        {"F_OUTAGE_ID": 3, "LAST_UPDATE": 100_000},
        {"OUTAGE_ID": 4, "LAST_UPDATE": 2_000_000_000},
        "not a record",
    ]
    assert count_stale(iter(records), BEFORE) == 2
    assert count_stale([], BEFORE) == 0


# the value converters


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("value, number", [
    ("1572139440", 1572139440), (" 42 ", 42), ("-7", -7), ("12.0", 12), ("1e3", 1000), (7, 7), (3.9, 3), (-3.9, -3),
    (True, 1), (False, 0), ("", None), (None, None), (NAN, None), (INF, None),
])
def test_to_int_reads_numbers_and_numeric_text_as_integers(value, number):
    assert feed._to_int(value) == number


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "   ", [1], {"a": 1}])
def test_to_int_raises_value_error_for_what_is_no_number(value):
    with pytest.raises(ValueError):
        feed._to_int(value)


@pytest.mark.parametrize("value, number", [
    ("36.79573", 36.79573), ("-119.75448", -119.75448), (5, 5.0), (1.5, 1.5), ("", None), (None, None), (NAN, None),
])
def test_to_float_reads_finite_numbers_as_floats(value, number):
    converted = feed._to_float(value)
    assert converted == number
    assert number is None or type(converted) is float


@pytest.mark.parametrize("value, error", [
    ("nan", ValueError), ("inf", ValueError), ("-inf", ValueError), ("north", ValueError), ("  ", ValueError),
    ([1], TypeError), ({"x": 1}, TypeError),
])
def test_to_float_raises_for_what_is_no_finite_number(value, error):
    with pytest.raises(error):
        feed._to_float(value)


@pytest.mark.parametrize("value, text", [
    (" Fresno ", "Fresno"), ("   ", None), ("", None), (None, None), (83431108, "83431108"), (95005.0, "95005"),
    (1.5, "1.5"), (0, "0"),
])
def test_to_text_strips_text_and_writes_whole_floats_without_a_point(value, text):
    assert feed._to_text(value) == text


@pytest.mark.parametrize("value, seconds", [
    (1711827447000, 1711827447),
    (1711827447999, 1711827447),
    ("1711827447000", 1711827447),
    (" 1711827447000 ", 1711827447),
    (1711827447000.0, 1711827447),
    (-1500, -2),
    ("2024-03-31T12:00:00Z", 1711886400),
    ("2024-03-31T19:00:00+00:00", 1711911600),
    ("2024-03-31T12:00:00", 1711911600),  # PG&E's local time, daylight saving
    ("2/4/2024 3:32:00 PM", 1707089520),  # PG&E's local time, standard
    ("", None),
    (None, None),
], ids=[
    "ms", "ms-rounded-down", "ms-text", "ms-padded", "ms-float", "before-1970", "iso-utc", "iso-offset",
    "iso-local-pdt", "us-local-pst", "empty", "null",
])
def test_milliseconds_gives_unix_seconds(value, seconds):
    assert feed._milliseconds(value) == seconds


@pytest.mark.parametrize("value", ["soon", "   ", "31/3/2024 12:00:00", "2024-03-31 noon"])
def test_milliseconds_raises_value_error_for_what_is_no_time(value):
    with pytest.raises(ValueError):
        feed._milliseconds(value)


@pytest.mark.parametrize("value, flag", [
    ("true", 1), ("FALSE", 0), (" True ", 1), ("1", 1), ("0", 0), (True, 1), (False, 0), (1, 1), (None, None),
    ("", None),
])
def test_hazard_flag_reads_booleans_as_text_and_numbers(value, flag):
    assert feed._hazard(value) == flag


def test_hazard_flag_that_is_neither_boolean_nor_number_raises_value_error():
    with pytest.raises(ValueError):
        feed._hazard("yes")


# record_columns


def test_legacy_record_maps_onto_the_columns_with_numbers_as_numbers():
    values = columns(record_columns(LEGACY_RECORD))
    assert values == {
        "estCustAffected": 1200,
        "latitude": 38.44047,
        "longitude": -122.71444,
        "cause": "Our preliminary determination is that your outage was caused by weather.",
        "crewCurrentStatus": "A repair crew is on the way to the outage location.",
        "regionName": "Sonoma",
        "outageStartTime": 1572140000,
        "lastUpdateTime": 1572141100,
        "currentEtor": 1572156000,
        "hazardFlag": 1,
        "outageDevices": '[{"latitude":"38.44","longitude":"-122.71"}]',
    }
    assert type(values["estCustAffected"]) is int and type(values["latitude"]) is float


def test_arcgis_record_maps_onto_the_columns_with_times_in_seconds():
    assert columns(record_columns(ARCGIS_RECORD)) == {
        "estCustAffected": 57,
        "latitude": 37.06862,
        "longitude": -122.07888,
        "cause": "STORM",
        "crewCurrentStatus": "Awaiting T-Man",
        "regionName": "Ben Lomond",
        "outageStartTime": 1711883321,
        "lastUpdateTime": 1711896219,
        "outageExtent": "DEVICE",
        "outageDeviceId": "315396621095",
        "outageCircuitId": "83622105",
        "county": "Santa Cruz",
        "zip": "95005",
        "deviceCount": 2,
        "ftsFlag": "N",
        "layers": "5",
    }


def test_legacy_record_as_numbers_or_as_strings_normalises_the_same():
    as_numbers = {
        **LEGACY_RECORD, "outageNumber": 697201, "outageStartTime": 1572140000, "currentEtor": 1572156000,
        "estCustAffected": 1200, "lastUpdateTime": 1572141100, "hazardFlag": 1, "latitude": 38.44047,
        "longitude": -122.71444,
    }
    assert record_columns(as_numbers) == record_columns(LEGACY_RECORD)
    assert outage_id(as_numbers) == outage_id(LEGACY_RECORD) == 697201


@pytest.mark.parametrize("key, value", [
    ("OUTAGE_ID", 1),
    ("F_OUTAGE_ID", 1),
])
def test_arcgis_record_of_either_layer_maps_the_same_but_for_its_layer(key, value):
    record = {key: value, **{k: v for k, v in ARCGIS_RECORD.items() if k != "F_OUTAGE_ID"}}
    expected = {**columns(record_columns(ARCGIS_RECORD)), "layers": "4" if key == "OUTAGE_ID" else "5"}
    assert columns(record_columns(record)) == expected


@pytest.mark.parametrize("layers, column", [([4], "4"), ([5], "5"), ([5, 4], "4,5"), ([4, 5, 4], "4,5")])
def test_layers_the_scraper_lists_are_stored_sorted(layers, column):
    assert columns(record_columns({"OUTAGE_ID": 1, "layers": layers})) == {"layers": column}


@pytest.mark.parametrize("layers", [[], ["4"], [True], "4,5", 4, [4, None]])
def test_layers_that_are_no_list_of_numbers_are_kept_in_extra(layers):
    assert columns(record_columns({"OUTAGE_ID": 1, "layers": layers})) == {
        "extra": json.dumps({"layers": layers}, separators=(",", ":")),
    }


@pytest.mark.parametrize("key, column", [
    ("OUTAGE_START", "outageStartTime"),
    ("LAST_UPDATE", "lastUpdateTime"),
    ("CURRENT_ETOR", "currentEtor"),
    ("AUTO_ETOR", "autoEtor"),
    ("CREW_ETA", "crewEta"),
])
def test_text_time_is_read_where_the_millisecond_time_is_null(key, column):
    record = {"F_OUTAGE_ID": 1, key: None, f"{key}_TEXT": "2024-03-31T12:00:00Z"}
    assert columns(record_columns(record)) == {column: 1711886400, "layers": "5"}
    missing = {"F_OUTAGE_ID": 1, f"{key}_TEXT": "2/4/2024 3:32:00 PM"}
    assert columns(record_columns(missing)) == {column: 1707089520, "layers": "5"}


def test_text_time_is_ignored_beside_a_millisecond_time():
    record = {"F_OUTAGE_ID": 1, "OUTAGE_START": 1711886400000, "OUTAGE_START_TEXT": "3/31/2024 5:00:00 AM"}
    assert columns(record_columns(record)) == {"outageStartTime": 1711886400, "layers": "5"}


def test_arcgis_bookkeeping_keys_are_dropped():
    record = {"F_OUTAGE_ID": 1, "OBJECTID": 9, "InPoly_FID": 3, "ORIG_FID": 4, "blueSkyNotificationSubscription": "x",
              "LAST_UPDATE": 1711886400000, "LAST_UPDATE_TEXT": "Sun Mar 31 2024"}
    assert columns(record_columns(record)) == {"lastUpdateTime": 1711886400, "layers": "5"}


@pytest.mark.parametrize("record, kept", [
    ({"outageNumber": "1", "estCustAffected": "many"}, {"estCustAffected": "many"}),
    ({"outageNumber": "1", "latitude": "north"}, {"latitude": "north"}),
    ({"outageNumber": "1", "hazardFlag": "maybe"}, {"hazardFlag": "maybe"}),
    ({"F_OUTAGE_ID": 1, "EST_CUSTOMERS": [3]}, {"EST_CUSTOMERS": [3]}),
    ({"F_OUTAGE_ID": 1, "OUTAGE_START": "soon"}, {"OUTAGE_START": "soon"}),
    ({"F_OUTAGE_ID": 1, "DEVICE_COUNT": "two"}, {"DEVICE_COUNT": "two"}),
])
def test_value_that_cannot_be_converted_is_kept_as_it_was_in_extra(record, kept):
    values = columns(record_columns(record))
    assert json.loads(values.pop("extra")) == kept
    assert values == ({"layers": "5"} if "F_OUTAGE_ID" in record else {})


def test_unknown_keys_are_kept_in_extra_as_sorted_json():
    record = {"outageNumber": "1", "zeta": 1, "alpha": [1, "two"], "estCustAffected": "9"}
    assert columns(record_columns(record)) == {"estCustAffected": 9, "extra": '{"alpha":[1,"two"],"zeta":1}'}


def test_arcgis_point_comes_from_the_web_mercator_geometry_when_latitude_or_longitude_is_missing():
    record = {"F_OUTAGE_ID": 1, "geometry_x": -13568950.919, "geometry_y": 4473756.567500003}
    assert columns(record_columns(record)) == {"latitude": 37.24818, "longitude": -121.89196, "layers": "5"}
    unreadable = {**record, "OUTAGE_LATITUDE": "north", "OUTAGE_LONGITUDE": -121.0}
    assert columns(record_columns(unreadable)) == {
        "latitude": 37.24818, "longitude": -121.89196, "extra": '{"OUTAGE_LATITUDE":"north"}', "layers": "5",
    }


def test_arcgis_point_given_in_degrees_wins_over_the_geometry():
    record = {"F_OUTAGE_ID": 1, "OUTAGE_LATITUDE": 37.5, "OUTAGE_LONGITUDE": -121.5, "geometry_x": 0, "geometry_y": 0}
    assert columns(record_columns(record)) == {"latitude": 37.5, "longitude": -121.5, "layers": "5"}


def test_legacy_record_keeps_geometry_keys_in_extra():
    record = {"outageNumber": "1", "geometry_x": MERCATOR_X, "geometry_y": MERCATOR_Y}
    assert columns(record_columns(record)) == {
        "extra": json.dumps({"geometry_x": MERCATOR_X, "geometry_y": MERCATOR_Y}, separators=(",", ":")),
    }


def test_record_with_a_legacy_id_is_read_as_legacy_whatever_else_it_holds():
    record = {"outageNumber": "1", "F_OUTAGE_ID": 2, "EST_CUSTOMERS": 5, "estCustAffected": "3", "OBJECTID": 4}
    assert columns(record_columns(record)) == {
        "estCustAffected": 3, "extra": '{"EST_CUSTOMERS":5,"F_OUTAGE_ID":2,"OBJECTID":4}',
    }


def test_empty_outage_devices_are_no_devices():
    assert columns(record_columns({"outageNumber": "1", "outageDevices": []})) == {}


def test_record_of_nothing_but_its_id_has_every_column_empty():
    assert record_columns({"outageNumber": "1"}) == (None,) * len(COLUMNS)
    assert columns(record_columns({"OUTAGE_ID": 1})) == {"layers": "4"}


# split_records, record_bodies, parse_record


def test_indented_list_is_split_into_record_bodies_as_they_are_written():
    records = [{"outageNumber": "1", "a": {"b": 1}}, {"outageNumber": "2", "c": [{"d": 1}, {"e": 2}]}]
    assert split_records((json.dumps(records, indent=2) + "\n").encode()) == [
        b'\n    "outageNumber": "1",\n    "a": {\n      "b": 1\n    }\n  ',
        # the nested "},\n      {" is no record boundary
        b'\n    "outageNumber": "2",\n    "c": [\n      {\n        "d": 1\n      },\n      {\n        "e": 2\n      }\n'
        b'    ]\n  ',
    ]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*/[0-9].json")), ids=lambda p: f"{p.parent.name}-{p.name}")
def test_split_bodies_parse_back_to_the_records(path):
    blob = path.read_bytes()
    bodies = split_records(blob)
    assert len(bodies) == blob.count(b"\n  {")
    assert [parse_record(body) for body in bodies] == json.loads(blob)


RECORDS = [{"outageNumber": "1", "a": {"b": [1, 2]}}, {"outageNumber": "2"}, {"outageNumber": "3", "c": "},\n  {"}]


@pytest.mark.parametrize("blob", [
    json.dumps(RECORDS, indent=2),
    json.dumps(RECORDS, indent=2) + "\n",
    json.dumps(RECORDS),
    json.dumps(RECORDS) + "\n",
    json.dumps(RECORDS, separators=(",", ":")),
    json.dumps(RECORDS, indent=4),
    json.dumps(RECORDS, indent=4) + "\n",
    json.dumps(RECORDS, indent=2).replace("\n", "\r\n") + "\r\n",
    "[\n" + ",\n".join(json.dumps(r) for r in RECORDS) + "\n]\n",
    json.dumps(RECORDS[:1], indent=2),
    json.dumps(RECORDS[:1], indent=2) + "\n",
    json.dumps(RECORDS[:1]),
], ids=[
    "indent-2", "indent-2-newline", "spaced", "spaced-newline", "compact", "indent-4", "indent-4-newline", "crlf",
    "one-per-line", "one-record", "one-record-newline", "one-record-spaced",
])
def test_split_in_any_layout_gives_the_records_or_a_body_that_fails_to_parse(blob):
    # The builder relies on this: a fooled split surfaces as InvalidVersion, and it then parses the file whole.
    bodies = split_records(blob.encode())
    try:
        parsed = [parse_record(body) for body in bodies]
    except InvalidVersion:
        parsed = None
    expected = json.loads(blob)
    assert parsed is None or parsed == expected
    assert [parse_record(body) for body in record_bodies(parse_version(blob.encode()))] == expected


def test_compact_list_is_fooled_into_one_body_that_fails_to_parse():
    bodies = split_records(b'[{"outageNumber":"1"},{"outageNumber":"2"}]')
    assert bodies == [b'"outageNumber":"1"},{"outageNumber":"2"']
    with pytest.raises(InvalidVersion, match="^invalid JSON: unexpected content after document"):
        parse_record(bodies[0])


@pytest.mark.parametrize("blob", [b"[]", b"[]\n", b"  [\n]  \n", b"[\r\n]"])
def test_empty_list_has_no_record_bodies(blob):
    assert split_records(blob) == []


def test_one_record_list_without_a_final_newline_is_its_body():
    assert split_records(b'[\n  {\n    "outageNumber": "1"\n  }\n]') == [b'\n    "outageNumber": "1"\n  ']


def test_records_that_are_no_objects_have_empty_bodies():
    # the last record is no object, so the list is parsed whole and the object written back compactly
    assert split_records(b'[\n  {"outageNumber": "1"},\n  5\n]') == [b'"outageNumber":"1"', b""]
    assert split_records(b'[1, "two", null]') == [b"", b"", b""]
    assert parse_record(b"") == {}


def test_raw_featureset_is_split_into_its_flattened_records():
    blob = json.dumps(featureset([point_feature(MERCATOR_X, MERCATOR_Y), "odd"], {"wkid": 102100}), indent=2)
    assert split_records(blob.encode()) == [
        b'"F_OUTAGE_ID":1,"geometry_x":-13580977.876779376,"geometry_y":4439106.787250583', b"",
    ]


@pytest.mark.parametrize("blob, reason", [
    (b"", "empty file"),
    (b"<html><title>Service Unavailable</title></html>", "HTML or XML instead of JSON"),
    (b'{"error": {"code": 499, "message": "Token Required"}}', "error object: Token Required"),
    (b'{\n  "outages": [\n  {"a": 1},\n  {"b": 2}\n  ]\n}', "a JSON object instead of a list of outages"),
    (b'[\n  {"a": 1},\n  {"b": 2\n]', "invalid JSON: unexpected character"),
])
def test_split_records_of_what_is_no_list_raises_the_reason_parse_version_gives(blob, reason):
    with pytest.raises(InvalidVersion, match=f"^{reason}"):
        split_records(blob)


def test_record_bodies_write_objects_compactly_and_anything_else_empty():
    records = [{"outageNumber": "1", "estCustAffected": 9}, 5, "x", None, [1], {}, {"s": "é"}]
    assert record_bodies(records) == [
        b'"outageNumber":"1","estCustAffected":9', b"", b"", b"", b"", b"", '"s":"é"'.encode(),
    ]


@pytest.mark.parametrize("body, record", [
    (b'"outageNumber":"1"', {"outageNumber": "1"}),
    (b'\n    "outageNumber": "1",\n    "a": {"b": 1}\n  ', {"outageNumber": "1", "a": {"b": 1}}),
    (b"", {}),
])
def test_parse_record_reads_one_body(body, record):
    assert parse_record(body) == record


@pytest.mark.parametrize("body", [b'"a":', b"1", b'"a":1}, {"b":2', b'"a": 1,', b"'a': 1"])
def test_parse_record_rejects_what_is_no_object_body(body):
    with pytest.raises(InvalidVersion, match="^invalid JSON: "):
        parse_record(body)
