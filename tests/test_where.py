"""where.county_of and where.place_of: the county that holds a point and PG&E's name for its place, from the
shipped files; and, on the real histories, how often the name is PG&E's own and that today's points all get a county."""

from __future__ import annotations

import csv
import importlib.util
import json
import math

import pytest
import shapely

from pge_outages import where
from pge_outages.where import PLACE_KM, Counties, Gazetteer, county_of, place_of
from support.helpers import ROOT, require_shared

BAD_POINTS = [(0, 0), (None, -122.27), (37.8, None), (None, None), (math.nan, -122.27), (37.8, math.inf),
              ("n/a", -122.27), (137.8, -122.27), (37.8, -222.27)]


def load_script(name: str):
    """A script of scripts/ as a module (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shipped_features() -> dict[str, dict]:
    collection = json.loads((where.DATA / where.COUNTIES_FILE).read_bytes())
    return {feature["properties"]["fips"]: feature for feature in collection["features"]}


def shipped_places() -> list[dict[str, str]]:
    with (where.DATA / where.PLACES_FILE).open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


# Counties


@pytest.mark.parametrize("latitude, longitude, county", [
    (37.8044, -122.2712, ("06001", "Alameda")),  # Oakland
    (37.7749, -122.4194, ("06075", "San Francisco")),
    (36.7378, -119.7871, ("06019", "Fresno")),
    (38.5816, -121.4944, ("06067", "Sacramento")),
    (40.8021, -124.1637, ("06023", "Humboldt")),  # Eureka
    (35.3733, -119.0187, ("06029", "Kern")),  # Bakersfield
    (37.3382, -121.8863, ("06085", "Santa Clara")),  # San Jose
    (38.4404, -122.7141, ("06097", "Sonoma")),  # Santa Rosa
    ("37.8044", "-122.2712", ("06001", "Alameda")),  # the legacy feed's strings
])
def test_a_point_is_in_its_county(latitude, longitude, county):
    assert county_of(latitude, longitude) == county


@pytest.mark.parametrize("latitude, longitude", [
    (37.75, -122.60),  # the Pacific, 8 km west of Ocean Beach
    (36.50, -122.50),  # 40 km off Big Sur
    (39.5296, -119.8138),  # Reno, Nevada
    (42.3265, -122.8756),  # Medford, Oregon
    (36.1699, -115.1398),  # Las Vegas
    (32.5149, -117.0382),  # Tijuana
])
def test_at_sea_and_out_of_state_no_county(latitude, longitude):
    assert county_of(latitude, longitude) is None


@pytest.mark.parametrize("latitude, longitude", BAD_POINTS)
def test_no_county_for_no_point(latitude, longitude):
    assert county_of(latitude, longitude) is None


def test_the_shipped_counties_are_californias_58():
    features = shipped_features()
    assert len(features) == 58
    assert list(features) == sorted(features) and all(fips.startswith("06") for fips in features)
    assert features["06001"]["properties"]["name"] == "Alameda"
    assert features["06115"]["properties"]["name"] == "Yuba"
    shapes = [shapely.geometry.shape(feature["geometry"]) for feature in features.values()]
    assert shapely.is_valid(shapes).all() and shapely.coverage_is_valid(shapes)


def test_a_point_on_a_county_line_goes_to_the_lower_fips():
    # A vertex both Alameda's and Contra Costa's outlines pass through.
    features = shipped_features()
    alameda, contra_costa = (shapely.geometry.shape(features[fips]["geometry"]) for fips in ("06001", "06013"))
    shared = set(map(tuple, shapely.get_coordinates(alameda))) & set(map(tuple, shapely.get_coordinates(contra_costa)))
    longitude, latitude = min(shared)
    point = shapely.Point(longitude, latitude)
    assert alameda.intersects(point) and contra_costa.intersects(point)
    assert county_of(latitude, longitude) == ("06001", "Alameda")


def test_the_lower_fips_wins_whatever_the_order():
    west, east = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    for counties in ([("06002", "East", east), ("06001", "West", west)],
                     [("06001", "West", west), ("06002", "East", east)]):
        assert Counties(counties).county_of(0.5, 1.0) == ("06001", "West")
        assert Counties(counties).county_of(0.5, 1.5) == ("06002", "East")


def test_a_point_just_off_the_coast_is_in_the_nearest_county():
    # An outage point of Dec 2025 on the Mendocino coast, 110 m outside the generalised coastline
    assert county_of(39.038837, -123.695018) == ("06045", "Mendocino")
    # Past where.SHORE_KM: at sea
    assert county_of(39.038837, -123.71) is None


# Places


@pytest.mark.parametrize("latitude, longitude, place", [
    (37.8044, -122.2712, "Oakland"),
    (37.7749, -122.4194, "San Francisco"),
    (36.7378, -119.7871, "Fresno"),
    (40.8021, -124.1637, "Eureka"),
    (35.3733, -119.0187, "Bakersfield"),
    (38.4404, -122.7141, "Santa Rosa"),
])
def test_a_town_is_named_as_pge_names_it(latitude, longitude, place):
    assert place_of(latitude, longitude) == place


def test_every_labelled_point_names_its_own_place():
    rows = shipped_places()
    assert len(rows) > 10_000
    wrong = [row for row in rows if place_of(float(row["latitude"]), float(row["longitude"])) != row["place"]]
    assert wrong == []


@pytest.mark.parametrize("latitude, longitude", [
    (34.0522, -118.2437),  # Los Angeles
    (39.5296, -119.8138),  # Reno
    (42.3265, -122.8756),  # Medford
    (37.0, -125.5),  # the Pacific
    *BAD_POINTS,
])
def test_far_from_every_labelled_point_no_place(latitude, longitude):
    assert place_of(latitude, longitude) is None


def test_a_place_is_named_within_place_km_and_the_first_of_equals_wins():
    gazetteer = Gazetteer([(38.0, -121.0, "North"), (37.9375, -121.0, "South")])  # 7 km apart
    assert gazetteer.place_of(37.96875, -121.0) == "North"  # as far from each, in binary too
    assert Gazetteer([(37.9375, -121.0, "South"), (38.0, -121.0, "North")]).place_of(37.96875, -121.0) == "South"
    degrees = PLACE_KM / where.KM_PER_DEGREE
    assert gazetteer.place_of(38.0 + degrees * 0.99, -121.0) == "North"
    assert gazetteer.place_of(38.0 + degrees * 1.01, -121.0) is None


# For the builder


def test_the_county_rows_are_the_shipped_counties():
    rows = where.county_rows()
    features = shipped_features()
    assert [(f"{fips:05d}", name) for fips, name, _ in rows] == [
        (fips, feature["properties"]["name"]) for fips, feature in features.items()]
    assert all(json.loads(geometry) == features[f"{fips:05d}"]["geometry"] for fips, _, geometry in rows)


def test_the_locator_prefers_pges_own_name_and_asks_once_per_point():
    asked = []

    class Counting(Gazetteer):
        def places_of(self, points):
            asked.extend(points)
            return super().places_of(points)

    locate = where.Locator(gazetteer=Counting([(37.8, -122.27, "Oakland")]), remember=2)
    assert locate(37.8044, -122.2712, "Piedmont") == (6001, "Piedmont", 0)
    assert asked == []
    assert locate(37.8044, -122.2712, None) == (6001, "Oakland", 1)
    assert locate(37.8044, -122.2712, "") == (6001, "Oakland", 1)
    assert asked == [(37.8044, -122.2712)]
    assert locate(39.5296, -119.8138, None) == (None, None, None)  # Reno
    assert locate(None, None, "Oakland") == (None, "Oakland", 0)
    assert locate(37.8044, -122.2712, None) == (6001, "Oakland", 1)  # forgotten past `remember`: asked again
    assert len(asked) == 3


def test_the_files_are_read_once():
    assert where.shipped_counties() is where.shipped_counties()
    assert where.shipped_gazetteer() is where.shipped_gazetteer()


# The real histories


@pytest.fixture(scope="module")
def labelled_outages():
    """make_places and one labelled point per outage of each labelled history, oldest first."""
    make_places = load_script("make_places")
    outages = [make_places.outage_labels(make_places.read_sightings(require_shared(bundle), file))
               for bundle, file in make_places.LABELLED]
    return make_places, outages


@pytest.mark.shared
def test_places_agree_with_pge_on_outages_held_out(labelled_outages):
    make_places, (legacy, modern) = labelled_outages
    # The measure: learnt from Oct 2019, Feb-Mar 2024 named as PG&E did: 93.4% measured.
    learnt = Gazetteer(make_places.make_gazetteer([legacy.values()]))
    counts = make_places.agreement(learnt, modern.values())
    assert counts["all"] == 32_277
    assert counts["right"] / counts["all"] >= 0.92
    # What ships learns from both eras: each 2024 outage named by the other four fifths
    # of 2024 and all of 2019, 96.8% measured.
    counts = make_places.held_out([legacy, modern], tested=1)
    assert counts["all"] == 32_277
    assert counts["right"] / counts["all"] >= 0.95
    assert counts["unnamed"] / counts["all"] < 0.001


@pytest.mark.shared
def test_every_point_of_todays_layer_4_gets_a_county():
    make_places = load_script("make_places")
    bundle, file = make_places.UNLABELLED
    points = make_places.read_points(require_shared(bundle), file)
    assert len(points) == 24_788  # distinct, of 26,810 outages
    assert [point for point in points if county_of(*point) is None] == []
    # 14 measured are over PLACE_KM from every labelled point: the edges of the territory
    unnamed = [point for point in points if place_of(*point) is None]
    assert len(unnamed) / len(points) < 0.001
