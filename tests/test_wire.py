"""One owner for the feed's format (pge_outages/wire.py): what the scraper writes, the builder reads,
and the generator writes nothing the builder does not know."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import Polygon

from pge_outages import feed, synthetic, wire
from pge_outages.areas import AreaReader, parse_areas
from scrapers import pge
from scrapers.areas import render_areas
from support.helpers import FIXTURES

# What the scraper wrote for the recorded responses of each feed (tests/test_scraper_feeds.py checks that).
EXPECTED = {era: json.loads((FIXTURES / "feeds" / f"{era}-expected.json").read_text()) for era in ("arcgis", "legacy")}
SAN_FRANCISCO = (-122.4194, 37.7749)


def columns(record: dict) -> dict:
    return dict(zip(feed.COLUMNS, feed.record_columns(record), strict=True))


@pytest.mark.parametrize("era", sorted(EXPECTED))
def test_the_outages_file_keeps_the_public_histories_layout(era):
    records = EXPECTED[era]
    assert wire.render_records(records) == (json.dumps(records, indent=2) + "\n").encode()
    assert wire.render_records([]) == (json.dumps([], indent=2) + "\n").encode()


@pytest.mark.parametrize("era", sorted(EXPECTED))
def test_the_builder_splits_what_the_scraper_writes_without_parsing_it(era):
    records = EXPECTED[era]
    blob = wire.render_records(records)
    assert blob.count(wire.RECORD_SEPARATOR) == len(records) - 1
    bodies = feed.split_records(blob)
    assert [feed.parse_record(body) for body in bodies] == records
    assert all(feed.outage_id(record) is not None for record in records)
    assert all(wire.is_arcgis(body) == (era == "arcgis") for body in bodies)


@pytest.mark.parametrize("name", sorted(pge.PGE.feeds))
def test_the_keys_the_scraper_reports_on_are_the_columns_the_builder_fills(name):
    scraper_feed = pge.PGE.feeds[name]
    record = {scraper_feed.id_keys[0]: 7, scraper_feed.customers_key: 12,
              scraper_feed.place_key: "Oakland", scraper_feed.cause_key: "Storm"}
    assert feed.outage_id(record) == 7
    values = columns(record)
    assert (values["estCustAffected"], values["regionName"], values["cause"]) == (12, "Oakland", "Storm")
    assert values["extra"] is None  # every key was one the builder knows


def test_a_point_the_scraper_projects_is_read_back_where_it_was():
    x, y = wire.to_web_mercator(*SAN_FRANCISCO)
    feature = {"attributes": {wire.LAYER4_ID: 5}, "geometry": {"x": x, "y": y}}
    record = pge.flatten_feature("http://127.0.0.1/4/query", 1, feature)
    values = columns(record)
    assert (values["longitude"], values["latitude"]) == SAN_FRANCISCO


def test_the_areas_file_the_scraper_writes_is_read_line_by_line():
    square = Polygon([(-122.0, 37.0), (-121.99, 37.0), (-121.99, 37.01), (-122.0, 37.01)])
    blob = render_areas({12: square, 3: square.buffer(0.001)})
    reader = AreaReader()
    assert reader.read(blob) == parse_areas(blob)
    assert [number for number, _ in parse_areas(blob)] == [3, 12]
    assert len(reader.lines) == 2  # the one-feature-per-line reading, not the whole-file fallback
    assert render_areas({}) == wire.join_areas([]) and parse_areas(render_areas({})) == []


@pytest.mark.parametrize("era", synthetic.ERAS)
def test_the_generator_writes_only_what_the_builder_knows(era):
    for _, _, blob, areas_blob in synthetic.iter_scrapes(40, era, seed=3):
        records = [feed.parse_record(body) for body in feed.split_records(blob)]
        assert wire.render_records(records) == blob  # the scraper's layout, byte for byte
        assert all(columns(record)["extra"] is None for record in records)
        if areas_blob is not None:
            reader = AreaReader()
            assert reader.read(areas_blob) == parse_areas(areas_blob)
            assert len(reader.lines) == len(parse_areas(areas_blob))
