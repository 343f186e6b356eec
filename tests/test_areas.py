"""Outage areas: outage-areas.geojson, committed beside outages.json in the same
commits, read into `areas` and `area_runs` and shown by most_recent_areas,
area_snapshots and the areas_at query.

Expected areas are read straight from the blobs with the json module.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from click.testing import CliRunner
from datasette.app import Datasette

import pge_outages.areas
from pge_outages.areas import AreaReader, InvalidAreas, parse_areas
from pge_outages.build import build_database
from pge_outages.cli import build as build_command
from pge_outages.datasette_plugin import prepare_connection
from pge_outages.schema import SCHEMA_VERSION
from pge_outages.synthetic import AREAS_FILE, generate_history
from pge_outages.times import PACIFIC
from pge_outages.writer import REUSE_BASE
from support.browser import METADATA, SERVE_SETTINGS
from support.helpers import (
    FIRST_COMMIT_TIME,
    ROOT,
    areas_file,
    commit_files,
    dump_database,
    git,
    kill_after,
    require_shared,
    rows,
    snapshot_count,
    start_build,
)

T0 = FIRST_COMMIT_TIME
DAY = 24 * 3600
OUTAGES = "outages.json"
AREAS = AREAS_FILE
METADATA_DICT = yaml.safe_load(METADATA.read_text())
QUERIES = METADATA_DICT["databases"]["outages"]["queries"]
MAP_SCRIPT = "/-/static-plugins/datasette-geojson-map/map.js"


def square(lon: float, lat: float, size: float = 0.01) -> dict:
    east, north = round(lon + size, 5), round(lat + size, 5)
    return {"type": "Polygon", "coordinates": [[[lon, lat], [east, lat], [east, north], [lon, north], [lon, lat]]]}


A, B, C = square(-122.27, 37.8), square(-122.27, 37.8, 0.02), square(-121.89, 37.34)


def text(geometry: dict) -> str:
    """A geometry as the database stores it: compact GeoJSON."""
    return json.dumps(geometry, separators=(",", ":"))


def outage(number: int, customers: int = 5, **extra) -> dict:
    return {"OUTAGE_ID": number, "EST_CUSTOMERS": customers, "OUTAGE_CAUSE": "EMERG REPAIRS",
            "CREW_CURRENT_STATUS": "Crew Dispatched", "geometry_x": -13611000.0, "geometry_y": 4551000.0,
            "layers": [4], **extra}


def scrape(outages: dict[int, int] | None = None, areas: dict[int, dict] | bytes | None = None, **files) -> dict:
    """One commit: {number: customers} as outages.json, {number: geometry} (or bytes) as the areas file."""
    commit = dict(files)
    if outages is not None:
        commit[OUTAGES] = [outage(number, customers) for number, customers in outages.items()]
    if areas is not None:
        commit[AREAS] = areas if isinstance(areas, bytes) else areas_file(areas)
    return commit


def make_files_repo(path: Path, commits: list[dict], times: list[int] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    commit_files(path, commits, times=times)
    return path


def build(tmp_path: Path, commits: list[dict], name: str = "repo", times=None, **options):
    repo = make_files_repo(tmp_path / name, commits, times)
    db = tmp_path / f"{name}.db"
    return repo, db, build_database(repo, db, **options)


def areas_in(db: Path, snapshot: int) -> dict[int, str]:
    return dict(rows(db, "select outage, geometry from area_snapshots where snapshot = ?", snapshot))


def areas_by_snapshot(db: Path) -> list[dict[int, str]]:
    last = rows(db, "select max(id) from snapshots")[0][0]
    return [areas_in(db, snapshot) for snapshot in range(1, last + 1)]


# The builder


def test_each_distinct_area_is_stored_once(tmp_path):
    _, db, result = build(tmp_path, [
        scrape({1: 5, 2: 7}, {1: A, 2: C}),
        scrape({1: 5, 2: 8}, {1: A, 2: C}),
        scrape({1: 6, 2: 8}, {1: B, 2: C}),  # outage 1 is drawn anew...
        scrape({1: 6, 2: 9}, {1: A, 2: C}),  # ...and back to its first shape
        scrape({1: 7, 2: 9}, {1: A, 2: C}),
    ])
    assert result.snapshots_added == 5
    assert rows(db, "select id, outage, geometry from areas order by id") == [
        (1, 1, text(A)), (2, 2, text(C)), (3, 1, text(B))]
    assert rows(db, "select area, first_snapshot, last_snapshot from area_runs order by area, first_snapshot") == [
        (1, 1, 2), (1, 4, 5), (2, 1, 5), (3, 3, 3)]
    assert areas_by_snapshot(db) == [{1: text(A), 2: text(C)}] * 2 + [{1: text(B), 2: text(C)}] + [
        {1: text(A), 2: text(C)}] * 2


def test_runs_of_areas_never_cross_a_bucket(tmp_path):
    # 70 snapshots of one unchanging area: two runs, split where snapshot 64 begins a bucket.
    _, db, _ = build(tmp_path, [scrape({1: customers}, {1: A}) for customers in range(1, 71)])
    assert rows(db, "select bucket, first_snapshot, last_snapshot from area_runs order by first_snapshot") == [
        (0, 1, 63), (1, 64, 70)]
    assert rows(db, "select count(*) from area_snapshots") == [(70,)]


def test_an_area_may_vanish_and_an_outage_may_have_none(tmp_path):
    _, db, _ = build(tmp_path, [
        scrape({1: 5, 2: 7, 3: 1}, {1: A, 2: C}),  # outage 3 never has an area
        scrape({1: 5, 2: 8, 3: 1}, {2: C}),  # outage 1 goes on without its area for a scrape
        scrape({1: 5, 2: 9, 3: 1}, {1: A, 2: C}),
    ])
    assert areas_by_snapshot(db) == [{1: text(A), 2: text(C)}, {2: text(C)}, {1: text(A), 2: text(C)}]
    assert rows(db, "select count(*) from areas") == [(2,)]
    assert rows(db, "select outage, estCustAffected, geometry from most_recent_areas order by outage") == [
        (1, 5, text(A)), (2, 9, text(C))]
    assert {outage for (outage,) in rows(db, "select outage from most_recent_snapshot")} == {1, 2, 3}


def test_an_area_whose_outage_is_not_in_the_snapshot_is_kept_but_not_shown(tmp_path):
    _, db, _ = build(tmp_path, [scrape({1: 5}, {1: A, 9: C})])
    assert areas_in(db, 1) == {1: text(A), 9: text(C)}
    assert rows(db, "select outage from most_recent_areas") == [(1,)]


def test_a_commit_that_changes_only_the_areas_is_a_snapshot(tmp_path):
    repo, db, result = build(tmp_path, [
        scrape({1: 5, 2: 7}, {1: A}),
        scrape(areas={1: B, 2: C}),  # the outages are as they were: only the areas moved
        {"README.md": b"notes\n"},  # neither file: no snapshot
        scrape({1: 6, 2: 7}),  # the areas are as they were
    ])
    hashes = git(repo, "log", "--reverse", "--format=%H").split()
    assert (result.commits_read, result.snapshots_added, result.versions_skipped) == (3, 3, 0)
    assert rows(db, "select hash from snapshots order by id") == [(hashes[0],), (hashes[1],), (hashes[3],)]
    by_snapshot = "select outage, estCustAffected from outage_snapshots where snapshot = ? order by outage"
    assert rows(db, by_snapshot, 2) == rows(db, by_snapshot, 1) == [(1, 5), (2, 7)]
    assert rows(db, by_snapshot, 3) == [(1, 6), (2, 7)]
    assert areas_by_snapshot(db) == [{1: text(A)}, {1: text(B), 2: text(C)}, {1: text(B), 2: text(C)}]
    # An unchanged outage is one version, seen in all three snapshots.
    assert rows(db, "select snapshot_count from outages where id = 2") == [(3,)]


def test_a_history_without_an_areas_file(tmp_path):
    versions = [scrape({1: 5}), scrape({1: 6, 2: 1}), {"README.md": b"notes\n"}, scrape({2: 1})]
    _, db, result = build(tmp_path, versions)
    # As before areas: one snapshot per commit that changed outages.json, nothing else.
    assert (result.commits_read, result.snapshots_added) == (3, 3)
    for table in ("areas", "area_runs", "skipped_areas", "area_snapshots", "most_recent_areas"):
        assert rows(db, f"select count(*) from {table}") == [(0,)], table
    assert rows(db, "select value from _meta where key = 'areas_file'") == [(AREAS,)]


def test_the_areas_file_is_looked_for_beside_the_outage_file(tmp_path):
    commits = [{"data/outages.json": [outage(1)], "data/" + AREAS: areas_file({1: A}), AREAS: areas_file({1: C})}]
    _, db, _ = build(tmp_path, commits, file="data/outages.json")
    assert areas_in(db, 1) == {1: text(A)}


BROKEN = {
    "html": (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>\n", "HTML or XML instead of JSON"),
    "truncated": (areas_file({1: A, 2: C})[:70], "invalid JSON: "),
    "empty": (b"", "empty file"),
    "list": (b"[]\n", "a JSON list instead of a FeatureCollection"),
    "error": (b'{"error": {"code": 500, "message": "Internal error"}}\n', "error object: Internal error"),
    "feature": (b'{"type": "Feature", "properties": {}, "geometry": null}\n',
                "a JSON object that is not a FeatureCollection"),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_areas_version_keeps_the_areas_of_the_snapshot_before(tmp_path, kind):
    blob, reason = BROKEN[kind]
    repo, db, result = build(tmp_path, [
        scrape({1: 5, 2: 7}, {1: A}),
        scrape({1: 5, 2: 7, 3: 1}, blob),
        scrape({1: 6, 2: 7, 3: 1}),  # still the broken file
        scrape({1: 6, 2: 7, 3: 2}, {1: B, 3: C}),
    ])
    hashes = git(repo, "log", "--reverse", "--format=%H").split()
    assert (result.snapshots_added, result.versions_skipped) == (4, 0)
    skipped = rows(db, "select hash, reason from skipped_areas")
    assert len(skipped) == 1 and skipped[0][0] == hashes[1] and skipped[0][1].startswith(reason)
    assert areas_by_snapshot(db) == [{1: text(A)}] * 3 + [{1: text(B), 3: text(C)}]


def test_a_deleted_areas_file_means_no_areas(tmp_path):
    _, db, _ = build(tmp_path, [
        scrape({1: 5}, {1: A}),
        {AREAS: None, OUTAGES: [outage(1, 6)]},
        scrape({1: 7}, {1: A}),
    ])
    assert areas_by_snapshot(db) == [{1: text(A)}, {}, {1: text(A)}]
    assert rows(db, "select count(*) from areas") == [(1,)]
    assert rows(db, "select count(*) from skipped_areas") == [(0,)]


def test_an_area_belongs_to_the_outage_its_number_means_then(tmp_path):
    # PG&E numbers a new outage 512 a month after the first one ended, in the same place.
    later = T0 + 30 * DAY

    def scrapes(first, start, count):
        return [{OUTAGES: [outage(512, n + 1, OUTAGE_START=start * 1000, LAST_UPDATE=start * 1000)],
                 AREAS: areas_file({512: A})} for n in range(count)], [first + 600 * n for n in range(count)]

    old, old_times = scrapes(T0, T0, 3)
    new, new_times = scrapes(later, later - 300, 2)
    repo, db, _ = build(tmp_path, old + new, times=old_times + new_times)
    successor = REUSE_BASE + 512
    assert rows(db, "select id from outages order by id") == [(512,), (successor,)]
    assert rows(db, "select id, outage, geometry from areas order by id") == [
        (1, 512, text(A)), (2, successor, text(A))]
    assert [areas_in(db, snapshot) for snapshot in (3, 4)] == [{512: text(A)}, {successor: text(A)}]
    assert rows(db, "select outage, geometry from most_recent_areas") == [(successor, text(A))]
    # Added one commit at a time, the same.
    step_repo = make_files_repo(tmp_path / "step", [], [])
    step_db = tmp_path / "step.db"
    for commit, when in zip(old + new, old_times + new_times, strict=True):
        commit_files(step_repo, [commit], times=[when])
        build_database(step_repo, step_db)
    assert dump_database(step_db, tables_only=True) == dump_database(db, tables_only=True)


# Reruns and resumed builds

MIXED = [
    scrape({1: 5, 2: 3}, {1: A}),
    scrape(areas={1: A, 2: C}),  # only the areas
    scrape(areas={1: B, 2: C}, **{OUTAGES: b"<html>503</html>"}),  # a skipped version, new areas
    scrape({1: 5, 2: 4}),  # the areas of the skipped commit
    scrape(areas=areas_file({1: A})[:50]),  # only the areas, broken
    scrape({1: 6, 2: 4}),  # still broken: the areas before
    {"README.md": b"notes\n"},
    {AREAS: None},  # the areas file deleted
    scrape({1: 6, 2: 4, 3: 1}, {1: A, 3: C}),
    {OUTAGES: None, AREAS: areas_file({3: C})},  # the outage file deleted
    scrape(areas={1: A, 3: B}),  # only the areas, while the outage file is missing
    scrape({1: 6, 3: 2}),
]
MIXED_AREAS = [
    {1: A}, {1: A, 2: C}, {1: B, 2: C}, {1: B, 2: C}, {1: B, 2: C}, {}, {1: A, 3: C}, {1: A, 3: B},
]


def test_a_mixed_history(tmp_path):
    repo, db, result = build(tmp_path, MIXED)
    assert (result.commits_read, result.snapshots_added, result.versions_skipped) == (11, 8, 3)
    assert areas_by_snapshot(db) == [{k: text(v) for k, v in areas.items()} for areas in MIXED_AREAS]
    hashes = git(repo, "log", "--reverse", "--format=%H").split()
    assert [h for (h,) in rows(db, "select hash from skipped_areas")] == [hashes[4]]
    assert rows(db, "select reason from skipped_versions order by [when]") == [
        ("HTML or XML instead of JSON",), ("file deleted",), ("file deleted",)]


def test_rerun_after_every_commit_equals_a_clean_build(tmp_path):
    repo = make_files_repo(tmp_path / "step", MIXED[:1])
    db = tmp_path / "step.db"
    build_database(repo, db)
    for commit in MIXED[1:]:
        commit_files(repo, [commit])
        build_database(repo, db)
    _, clean, _ = build(tmp_path, MIXED, name="clean")
    assert dump_database(db, tables_only=True) == dump_database(clean, tables_only=True)
    assert rows(db, "select count(*) from area_runs") == rows(clean, "select count(*) from area_runs")


@pytest.mark.timing
def test_kill_and_resume_equals_clean_build(tmp_path):
    repo = generate_history(tmp_path / "history", commits=3000, era="today", outages=150, storms=2, broken=3, seed=7)
    db = tmp_path / "killed.db"
    kill_after(start_build(repo, db), db, at_least=500)
    first_kill = snapshot_count(db)
    assert first_kill >= 500
    kill_after(start_build(repo, db), db, at_least=first_kill + 500)
    subprocess.run([sys.executable, str(ROOT / "build_database.py"), str(repo), str(db)],
                   capture_output=True, check=True)
    clean = tmp_path / "clean.db"
    subprocess.run([sys.executable, str(ROOT / "build_database.py"), str(repo), str(clean)],
                   capture_output=True, check=True)
    assert rows(clean, "select count(*) from areas")[0][0] > 1000
    assert dump_database(db, tables_only=True) == dump_database(clean, tables_only=True)


# The command line and older databases


def run_cli(*args):
    return CliRunner().invoke(build_command, [str(a) for a in args], catch_exceptions=False)


def test_areas_file_option(tmp_path):
    repo = make_files_repo(tmp_path / "repo", [
        {OUTAGES: [outage(1)], "shapes/areas.geojson": areas_file({1: A})},
        {OUTAGES: [outage(1, 2)], "shapes/areas.geojson": areas_file({1: B})},
    ])
    tip = git(repo, "rev-parse", "HEAD")
    db = tmp_path / "outages.db"
    result = run_cli(repo, db, "--areas-file", "shapes/areas.geojson")
    assert result.exit_code == 0, result.output
    assert areas_by_snapshot(db) == [{1: text(A)}, {1: text(B)}]
    # Another areas file for the same database is refused, as another outage file is.
    result = run_cli(repo, db)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {db} was built with the areas of 'shapes/areas.geojson', not '{AREAS}'; "
        "pass --areas-file shapes/areas.geojson, or use --rebuild to start over\n")
    # Without the option, the default file is not in this history: no areas.
    other = tmp_path / "other.db"
    assert run_cli(repo, other).exit_code == 0
    assert rows(other, "select count(*) from areas") == [(0,)]
    result = run_cli(repo, tmp_path / "nope.db", "--areas-file", "nope.geojson")
    assert (result.exit_code, result.output) == (1, f"Error: nope.geojson is not in the history of {tip[:12]}\n")
    assert not (tmp_path / "nope.db").exists()
    result = run_cli(repo, tmp_path / "same.db", "--areas-file", OUTAGES)
    assert (result.exit_code, result.output) == (
        1, f"Error: {OUTAGES} is the outage file; the areas file is another one, such as {AREAS}\n")


def _drop_areas(db: Path) -> None:
    """Make db look as a schema-3 build from before areas left it."""
    conn = sqlite3.connect(db)
    for (view,) in conn.execute("select name from sqlite_master where type = 'view'").fetchall():
        conn.execute(f"drop view [{view}]")
    for table in ("area_runs", "areas", "skipped_areas"):
        conn.execute(f"drop table {table}")
    conn.execute("delete from _meta where key in ('views_sql', 'areas_file')")
    conn.commit()
    conn.close()


def test_a_schema_3_database_without_areas_gains_them(tmp_path):
    repo = make_files_repo(tmp_path / "repo", [scrape({1: 5}), scrape({1: 6})])
    db = tmp_path / "outages.db"
    build_database(repo, db)
    _drop_areas(db)
    # Nothing new to read: the tables and views come all the same.
    assert build_database(repo, db).snapshots_added == 0
    assert rows(db, "select count(*) from most_recent_areas") == [(0,)]
    assert rows(db, "select value from _meta where key = 'schema_version'") == [(SCHEMA_VERSION,)]
    _drop_areas(db)
    # The scraper starts writing areas: the snapshots from then on have them.
    commit_files(repo, [scrape({1: 6, 2: 1}, {1: A, 2: C}), scrape({1: 7, 2: 1})])
    assert build_database(repo, db).snapshots_added == 2
    assert areas_by_snapshot(db) == [{}, {}, {1: text(A), 2: text(C)}, {1: text(A), 2: text(C)}]
    assert rows(db, "select outage, geometry from most_recent_areas order by outage") == [
        (1, text(A)), (2, text(C))]


# Reading the file


def test_only_the_lines_that_changed_are_parsed(monkeypatch):
    parsed = []
    original = pge_outages.areas.area_of
    monkeypatch.setattr(pge_outages.areas, "area_of", lambda feature: parsed.append(feature) or original(feature))
    reader = AreaReader()
    assert reader.read(areas_file({1: A, 2: B, 3: C})) == [(1, text(A)), (2, text(B)), (3, text(C))]
    assert len(parsed) == 3
    assert reader.read(areas_file({1: A, 2: C, 3: C})) == [(1, text(A)), (2, text(C)), (3, text(C))]
    assert len(parsed) == 4
    assert reader.read(None) == []


def test_another_layout_reads_the_same():
    collection = json.loads(areas_file({1: A, 2: B}))
    for blob in (json.dumps(collection, indent=2).encode(), json.dumps(collection).encode()):
        assert AreaReader().read(blob) == [(1, text(A)), (2, text(B))]


def test_features_without_an_outage_or_an_area_are_left_out():
    multi = {"type": "MultiPolygon", "coordinates": [A["coordinates"], C["coordinates"]]}
    features = [
        {"type": "Feature", "properties": {"OUTAGE_ID": "7"}, "geometry": {**multi, "bbox": [0, 0, 1, 1]}},
        {"type": "Feature", "properties": {"OUTAGE_ID": 8}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
        {"type": "Feature", "properties": {}, "geometry": A},
        {"type": "Feature", "properties": {"OUTAGE_ID": 9}, "geometry": None},
        "not a feature",
    ]
    blob = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    assert parse_areas(blob) == [(7, text(multi))]
    with pytest.raises(InvalidAreas, match="empty file"):
        parse_areas(b"  \n")


@pytest.mark.shared
def test_the_scraper_s_file_of_a_real_capture_is_read_line_by_line(tmp_path):
    """Layer 8 of 9 July 2026 through the scraper's own code, then the builder."""
    from shapely.geometry import shape

    from scrapers.areas import merge_areas, render_areas, simplify_area

    capture = require_shared("arcgis-2026-07-09")
    layer_8 = json.loads((capture / "outages_l8.geojson").read_text())["features"]
    merged = merge_areas((int(f["properties"]["OUTAGE_ID"]), shape(f["geometry"])) for f in layer_8)
    blob = render_areas({outage: simplify_area(area) for outage, area in merged.items()})
    reader = AreaReader()
    areas = reader.read(blob)
    assert len(reader.lines) == len(areas) == 25  # the scraper's layout: no whole-file parse
    assert areas == parse_areas(blob)
    # With layer 4 of the same capture as the outage file (an f=geojson answer, which the builder reads).
    layer_4 = (capture / "outages_l4.geojson").read_bytes()
    _, db, _ = build(tmp_path, [{OUTAGES: layer_4, AREAS: blob}])
    shown = rows(db, "select outage, geometry from most_recent_areas")
    assert {outage: json.loads(geometry) for outage, geometry in shown} == {
        f["properties"]["OUTAGE_ID"]: f["geometry"] for f in json.loads(blob)["features"]}


# Views, the canned query and Datasette


def read_scrapes(repo: Path) -> list[tuple[str, int, dict[int, dict], dict[int, dict]]]:
    """(title, time, outages by number, areas by number) of each commit that changed either
    file and holds a list of outages, read with the json module."""
    log = git(repo, "log", "--reverse", "--first-parent", "--format=%H %ct %cI", "--", OUTAGES, AREAS)
    commits = [line.split() for line in log.splitlines()]
    shown = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=repo, check=True, capture_output=True,
        input="".join(f"{sha}:{path}\n" for sha, _, _ in commits for path in (OUTAGES, AREAS)).encode(),
    ).stdout
    scrapes = []
    for _sha, when, title in commits:
        files = []
        for _ in (OUTAGES, AREAS):
            header, _, shown = shown.partition(b"\n")
            if header.endswith(b"missing"):
                files.append(None)
                continue
            size = int(header.split()[2])
            blob, shown = shown[:size], shown[size + 1:]
            try:
                files.append(json.loads(blob))
            except ValueError:
                files.append(None)
        outages, areas = files
        if not isinstance(outages, list):
            continue
        records = {}
        for record in outages:
            records.setdefault(record.get("OUTAGE_ID", record.get("F_OUTAGE_ID")), record)
        shapes = {f["properties"]["OUTAGE_ID"]: f["geometry"] for f in (areas or {"features": []})["features"]}
        scrapes.append((title, int(when), records, shapes))
    return scrapes


def expected_areas(scrape) -> list[tuple]:
    """(outage, customers, cause, crew status, geometry) of the outages with an area, largest first."""
    _, _, records, shapes = scrape
    found = [(number, records[number]["EST_CUSTOMERS"], records[number]["OUTAGE_CAUSE"],
              records[number]["CREW_CURRENT_STATUS"], shapes[number]) for number in shapes if number in records]
    return sorted(found, key=lambda row: (-row[1], row[0]))


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    base = tmp_path_factory.mktemp("areas")
    repo = generate_history(base / "history", commits=200, era="today", outages=60, seed=11)
    # The feed glitches once at the end (no outages at all), then comes back.
    last = json.loads((repo / OUTAGES).read_text())
    commits = int(git(repo, "rev-list", "--count", "HEAD"))
    commit_files(repo, [{OUTAGES: last[1:]}, {OUTAGES: []}, {OUTAGES: last[2:]}],
                 start=int(git(repo, "log", "-1", "--format=%ct")) + 600 - commits * 600)
    db = base / "outages.db"
    build_database(repo, db)
    scrapes = read_scrapes(repo)
    assert rows(db, "select id from snapshots where suspect is not null") == [(len(scrapes) - 1,)]
    return repo, db, scrapes


@pytest.fixture
def ds(history) -> Datasette:
    return Datasette([str(history[1])], metadata=METADATA_DICT, settings=SERVE_SETTINGS)


def as_rows(answer: list[dict]) -> list[tuple]:
    return [(r["outage"], r["estCustAffected"], r["cause"], r["crewCurrentStatus"], json.loads(r["geometry"]))
            for r in answer]


@pytest.mark.slow
def test_the_synthetic_history_has_areas_that_change_and_vanish(history):
    _, db, scrapes = history
    assert rows(db, "select count(*) from skipped_areas") == [(0,)]
    assert len(scrapes) == rows(db, "select count(*) from snapshots")[0][0]
    for snapshot, scrape in enumerate(scrapes, 1):
        assert {o: json.loads(g) for o, g in areas_in(db, snapshot).items()} == scrape[3]
    # Some outage was drawn anew while it lasted, and some lost its area for a while.
    assert rows(db, "select count(*) from (select outage from areas group by outage having count(*) > 1)")[0][0] > 0
    assert rows(db, "select count(*) from (select area from area_runs group by area having count(*) > 1 "
                    "and max(first_snapshot) - min(last_snapshot) > 1)")[0][0] > 0


@pytest.mark.asyncio
async def test_most_recent_areas(ds, history):
    _, db, scrapes = history
    expected = expected_areas(scrapes[-1])
    assert expected and len(expected) < len(scrapes[-1][2])  # some outages have no area
    response = await ds.client.get("/outages/most_recent_areas.json?_shape=objects&_size=max")
    assert response.status_code == 200
    answer = as_rows(response.json()["rows"])
    # Largest first (outages of equal size in any order).
    assert [row[1] for row in answer] == [row[1] for row in expected]
    assert sorted(answer, key=lambda row: (-row[1], row[0])) == expected
    page = await ds.client.get("/outages/most_recent_areas")
    assert page.status_code == 200 and MAP_SCRIPT in page.text
    # What the map draws: the same rows as GeoJSON features, every one of them.
    drawn = (await ds.client.get("/outages/most_recent_areas.geojson")).json()
    assert sorted((f["properties"]["outage"], json.dumps(f["geometry"])) for f in drawn["features"]) == sorted(
        (row[0], json.dumps(row[4])) for row in expected)


@pytest.mark.asyncio
async def test_areas_at_picks_the_latest_trustworthy_snapshot_at_or_before(ds, history):
    _, _, scrapes = history

    async def areas_at(at: str | None) -> list[dict]:
        response = await ds.client.get("/outages/areas_at.json?" + urlencode(
            {"_shape": "objects", **({"at": at} if at is not None else {})}))
        assert response.status_code == 200, response.text
        return response.json()["rows"]

    assert as_rows(await areas_at(None)) == expected_areas(scrapes[-1])
    scrape = scrapes[150]
    title, when = scrape[0], scrape[1]
    # At the snapshot's own time with its offset, and five minutes later on the Pacific clock without one.
    clock = datetime.fromtimestamp(when + 300, PACIFIC).strftime("%Y-%m-%dT%H:%M:%S")
    for at in (title, clock):
        answer = await areas_at(at)
        assert as_rows(answer) == expected_areas(scrape), at
        assert {r["snapshot_time"] for r in answer} == {title}
    assert await areas_at("2000-01-01T00:00Z") == []
    # At the glitch, the snapshot before it.
    glitch, before = scrapes[-2], scrapes[-3]
    assert as_rows(await areas_at(glitch[0])) == expected_areas(before)
    page = await ds.client.get("/outages/areas_at?" + urlencode({"at": title}))
    assert page.status_code == 200 and MAP_SCRIPT in page.text
    drawn = (await ds.client.get("/outages/areas_at.geojson?" + urlencode({"at": title}))).json()
    assert [f["geometry"] for f in drawn["features"]] == [row[4] for row in expected_areas(scrape)]


@pytest.mark.asyncio
async def test_area_snapshots_of_one_outage(ds, history):
    _, db, scrapes = history
    outage = rows(db, "select outage from areas group by outage order by count(*) desc, outage limit 1")[0][0]
    response = await ds.client.get(f"/outages/area_snapshots.json?outage={outage}&_shape=objects&_size=max")
    data = response.json()
    assert data["filtered_table_rows_count"] == len(data["rows"])
    assert [(r["snapshot"], json.loads(r["geometry"])) for r in data["rows"]] == [
        (n, scrape[3][outage]) for n, scrape in enumerate(scrapes, 1) if outage in scrape[3]]
    unfiltered = (await ds.client.get("/outages/area_snapshots.json")).json()
    assert unfiltered["filtered_table_rows_count"] is None  # not counted whole


@pytest.mark.asyncio
async def test_a_storm_of_areas_is_quick_and_mapped_a_thousand_at_a_time(tmp_path):
    # 1,500 outages with an area in one snapshot: the views go from outages to areas by index.
    repo = make_files_repo(tmp_path / "repo", [
        scrape(dict.fromkeys(range(1, 1501), 3), {n: square(-122.0 + n / 1e4, 38.0) for n in range(1, 1501)}),
    ])
    db = tmp_path / "outages.db"
    build_database(repo, db)
    conn = sqlite3.connect(db)
    prepare_connection(conn)  # the plugin's SQL functions, as Datasette's connections have them
    for sql in ("select * from most_recent_areas", QUERIES["areas_at"]["sql"]):
        plan = " ".join(row[3] for row in conn.execute(f"explain query plan {sql}", {"at": ""}))
        assert "SEARCH a USING INDEX areas_outage" in plan and "USING INDEX area_runs_area" in plan, plan
        assert len(conn.execute(sql, {"at": ""}).fetchall()) == 1500
    conn.close()
    # The map draws one page: as many rows as Datasette returns at most.
    ds = Datasette([str(db)], metadata=METADATA_DICT, settings=SERVE_SETTINGS)
    for path in ("/outages/most_recent_areas.geojson", "/outages/areas_at.geojson"):
        assert len((await ds.client.get(path)).json()["features"]) == 1000, path
