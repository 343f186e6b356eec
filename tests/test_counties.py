"""The "where" questions on a small history whose answers are known: customers out by county and
by place at a moment and over a period (the canned queries of metadata.yml, run as they are), the
outages' county and place, and what a point outside every county gets."""

from __future__ import annotations

import math
import sqlite3

import pytest
import yaml

from pge_outages import wire
from pge_outages.build import build_database
from pge_outages.datasette_plugin import prepare_connection
from support.helpers import ROOT, make_repo

QUERIES = yaml.safe_load((ROOT / "metadata.yml").read_text())["databases"]["outages"]["queries"]
T0 = 1706745600  # 2024-02-01 00:00 UTC
OAKLAND = (-122.2712, 37.8044)  # Alameda 06001; PG&E names it Oakland
BERKELEY = (-122.2727, 37.8716)  # Alameda
FRESNO = (-119.7871, 36.7378)  # Fresno 06019
OFFSHORE = (-123.5, 37.5)  # the Pacific


def layer4(number: int, customers: int, point: tuple[float, float]) -> dict:
    x, y = wire.to_web_mercator(*point)
    return {wire.LAYER4_ID: number, "EST_CUSTOMERS": customers, wire.POINT_X: round(x, 3), wire.POINT_Y: round(y, 3)}


def layer5(number: int, customers: int, point: tuple[float, float], city: str) -> dict:
    return {wire.LAYER5_ID: number, "EST_CUSTOMERS": customers, "OUTAGE_LATITUDE": point[1],
            "OUTAGE_LONGITUDE": point[0], "CITY": city}


# Each snapshot: outage -> (county fips then, place, customers). Ten minutes apart. Outage 6
# moves from Fresno to Oakland: it counts in Fresno's county at first, then in Alameda; its
# place is that of its latest point.
TRUTH = [
    {1: (6001, "Oakland", 10), 2: (6001, "Berkeley", 5), 3: (6019, "Fresno", 7), 6: (6019, "Oakland", 20),
     9: (None, None, 3)},
    {1: (6001, "Oakland", 12), 3: (6019, "Fresno", 7), 4: (6001, "Alameda Town", 40), 6: (6001, "Oakland", 20)},
    {3: (6019, "Fresno", 9), 4: (6001, "Alameda Town", 40)},
]
POINTS = {1: OAKLAND, 2: BERKELEY, 3: FRESNO, 4: OAKLAND, 9: OFFSHORE}


def record(outage: int, customers: int, snapshot: int) -> dict:
    if outage == 4:  # layer 5 names it: PG&E's name is kept, even where another would be inferred
        return layer5(outage, customers, POINTS[outage], "Alameda Town")
    if outage == 6:
        return layer4(outage, customers, FRESNO if snapshot == 0 else OAKLAND)
    return layer4(outage, customers, POINTS[outage])


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    base = tmp_path_factory.mktemp("counties")
    versions = [[record(o, c, i) for o, (_, _, c) in sorted(snapshot.items())] for i, snapshot in enumerate(TRUTH)]
    repo = make_repo(base / "repo", versions, times=[T0 + 600 * i for i in range(len(TRUTH))])
    path = base / "outages.db"
    result = build_database(repo, path)
    assert result.outside_counties == 1 and "1 outage outside every California county" in result.summary()
    return path


def run(db, name: str, **params) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    prepare_connection(conn)  # the plugin's SQL functions, as Datasette's connections have them
    try:
        return [dict(row) for row in conn.execute(QUERIES[name]["sql"], params)]
    finally:
        conn.close()


def test_each_outage_gets_its_county_and_pges_name_or_an_inferred_one(db):
    conn = sqlite3.connect(db)
    rows = {r[0]: r[1:] for r in conn.execute("select id, county_fips, place, place_inferred from outages")}
    expanded = dict(conn.execute("select outage, county from outages_expanded where outage = 3"))
    conn.close()
    assert rows == {1: (6001, "Oakland", 1), 2: (6001, "Berkeley", 1), 3: (6019, "Fresno", 1),
                    4: (6001, "Alameda Town", 0), 6: (6001, "Oakland", 1), 9: (None, None, None)}
    assert expanded == {3: "Fresno"}


@pytest.mark.parametrize("at", [0, 1, 2])
def test_counties_at_and_places_at_sum_the_snapshot(db, at):
    moment = f"2024-02-01T00:{at * 10:02d}:00Z"
    by_county: dict = {}
    by_place: dict = {}
    for fips, place, customers in TRUTH[at].values():
        name = {6001: "Alameda", 6019: "Fresno", None: "(outside every county)"}[fips]
        outages, total = by_county.get(name, (0, 0))
        by_county[name] = (outages + 1, total + customers)
        outages, total = by_place.get(place or "(no place known)", (0, 0))
        by_place[place or "(no place known)"] = (outages + 1, total + customers)
    rows = run(db, "counties_at", at=moment)
    assert {r["county"]: (r["outages"], r["customers_out"]) for r in rows} == by_county
    assert {r["county_fips"] for r in rows} <= {"06001", "06019", None}
    rows = run(db, "places_at", at=moment)
    assert {r["place"]: (r["outages"], r["customers_out"]) for r in rows} == by_place


def test_counties_between_gives_outages_peak_and_customer_hours(db):
    conn = sqlite3.connect(db)
    minutes = [m for (m,) in conn.execute("select trusted_minutes from snapshots order by id")]
    conn.close()
    expected = {}
    for fips, name in ((6001, "Alameda"), (6019, "Fresno")):
        per_snapshot = [sum(c for f, _, c in snapshot.values() if f == fips) for snapshot in TRUTH]
        latest = {o: f for snapshot in TRUTH for o, (f, _, _) in snapshot.items()}  # outages count where they ended
        outages = {o for o, f in latest.items() if f == fips}
        # Rounded half up, as SQLite rounds.
        hours = math.floor(sum(c * m for c, m in zip(per_snapshot, minutes, strict=True)) / 60 + 0.5)
        expected[name] = (len(outages), max(per_snapshot), hours)
    rows = run(db, "counties_between", **{"from": "2024-02-01T00:00Z", "to": "2024-02-01T01:00Z"})
    found = {r["county"]: (r["outages"], r["peak_customers"], r["customer_hours"]) for r in rows}
    assert found.pop("(outside every county)")[:2] == (1, 3)
    assert found == expected
    assert expected["Alameda"][1] == 72  # 12 + 40 + 20, the second snapshot
    assert expected["Fresno"][1] == 27  # 7 + 20, the first: outage 6 was in Fresno's county then
    # Empty: the day up to the newest snapshot, which holds the whole history.
    assert run(db, "counties_between", **{"from": "", "to": ""}) == rows
    rows = run(db, "places_between", **{"from": "", "to": ""})
    assert {r["place"]: r["peak_customers"] for r in rows} == {
        "Oakland": 32, "Berkeley": 5, "Fresno": 9, "Alameda Town": 40, "(no place known)": 3}


def test_outages_by_place_counts_the_inferred_names(db):
    rows = run(db, "outages_by_region", **{"from": "", "to": ""})
    assert {r["place"]: (r["outages"], r["inferred"]) for r in rows} == {
        "Oakland": (2, 2), "Berkeley": (1, 1), "Fresno": (1, 1), "Alameda Town": (1, 0), "(no place known)": (1, 0)}
