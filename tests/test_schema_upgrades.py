"""Databases that old versions of the builder built themselves (tests/fixtures/schemas, made by
make_samples.py there) are upgraded in place to the newest schema, and then hold what a clean build
of the same history holds: the same rows, but for the one difference the schema-2 upgrade documents.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from pge_outages import schema as schema_module
from pge_outages.build import build_database
from pge_outages.schema import SCHEMA_VERSION, UPGRADES, Upgrade, applied_upgrades
from support.helpers import FIXTURES

SAMPLES = FIXTURES / "schemas"
BUNDLE = SAMPLES / "history.bundle"
# The column each old schema's upgrade adds (schema._upgrade), and the one the upgrade before it added.
ADDS = {"2": ("outage_versions", "layers"), "3": ("outages", "first_currentEtor"), "4": ("snapshots", "gap_class")}
ADDED_BEFORE = {"3": ADDS["2"], "4": ADDS["3"]}
# The tables and views that name outage versions by id.
VERSIONED = ("outage_versions", "version_runs", "outage_snapshots", "most_recent_snapshot")


def meta(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("select key, value from _meta"))
    finally:
        conn.close()


def last_snapshot(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select max(id) from snapshots").fetchone()[0]
    finally:
        conn.close()


def columns(conn: sqlite3.Connection, name: str) -> list[str]:
    return [row[1] for row in conn.execute(f"pragma table_xinfo([{name}])")]


def contents(db: Path, versions_by_content: bool = False) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table and view but _meta and _upgrades as (its columns, by name: an upgrade adds its
    columns last; its rows, sorted).

    With versions_by_content, a version is named by what it holds rather than by its id: outage_versions
    loses its id, version_runs gives the version's columns, and the views lose their version column.
    """
    conn = sqlite3.connect(db)
    try:
        names = [row[0] for row in conn.execute(
            "select name from sqlite_master where type in ('table', 'view') and name not in ('_meta', '_upgrades')")]
        found = {}
        for name in names:
            if versions_by_content and name in VERSIONED:
                continue
            found[name] = _rows(conn, name, sorted(columns(conn, name)))
        if versions_by_content:
            held = [c for c in sorted(columns(conn, "outage_versions")) if c != "id"]
            found["outage_versions"] = _rows(conn, "outage_versions", held)
            found["version_runs"] = _rows(
                conn, "version_runs r left join outage_versions v on v.id = r.version",
                [f"v.{c}" for c in held] + ["r.first_snapshot", "r.last_snapshot"])
            for view in ("outage_snapshots", "most_recent_snapshot"):
                found[view] = _rows(conn, view, [c for c in sorted(columns(conn, view)) if c != "version"])
        return found
    finally:
        conn.close()


def upgrades(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return applied_upgrades(conn)
    finally:
        conn.close()


def _rows(conn: sqlite3.Connection, source: str, names: list[str]) -> tuple[list[str], list[tuple]]:
    selected = ", ".join(n if "." in n else f"[{n}]" for n in names)
    rows = conn.execute(f"select {selected} from {source}").fetchall()
    return [n.split(".")[-1] for n in names], sorted(rows, key=repr)


def as_upgraded_from_schema_2(clean: dict, stored_through: int) -> dict:
    """What a clean build's versions (by content) become when snapshots up to `stored_through` were stored
    by schema 2: a version stored then keeps `layers` NULL (schema._upgrade), so an outage seen unchanged on
    both sides of the upgrade takes a new version there, the same record with its layers."""
    expected = dict(clean)
    names, runs = clean["version_runs"]
    layers, first, last = names.index("layers"), names.index("first_snapshot"), names.index("last_snapshot")
    split = []
    for run in runs:
        if run[first] > stored_through:
            split.append(run)
        elif run[last] <= stored_through:
            split.append(_null(run, layers))
        else:
            split += [_null(run, layers)[:last] + (stored_through,), run[:first] + (stored_through + 1, run[last])]
    expected["version_runs"] = names, sorted(split, key=repr)
    seen_before = {run[:first] for run in runs if run[first] <= stored_through}
    seen_after = {run[:first] for run in runs if run[last] > stored_through}
    names, versions = clean["outage_versions"]
    stored = [_null(version, layers) for version in versions if version in seen_before]
    kept = [version for version in versions if version in seen_after or version not in seen_before]
    expected["outage_versions"] = names, sorted(stored + kept, key=repr)
    for view in ("outage_snapshots", "most_recent_snapshot"):
        names, rows = clean[view]
        snapshot, layers = names.index("snapshot"), names.index("layers")
        expected[view] = names, sorted(
            (_null(row, layers) if row[snapshot] <= stored_through else row for row in rows), key=repr)
    return expected


def _null(row: tuple, index: int) -> tuple:
    return row[:index] + (None,) + row[index + 1:]


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("schemas") / "history"
    subprocess.run(["git", "clone", "-q", "-b", "main", str(BUNDLE), str(repo)], check=True)
    return repo


@pytest.fixture(scope="module")
def clean_builds(history, tmp_path_factory):
    """A clean build of the history up to a commit (None: the tip), made once each."""
    built: dict[str | None, Path] = {}

    def clean_build(branch: str | None) -> Path:
        if branch not in built:
            db = tmp_path_factory.mktemp("clean") / "outages.db"
            build_database(history, db, branch=branch)
            built[branch] = db
        return built[branch]

    return clean_build


@pytest.mark.parametrize("schema", sorted(ADDS))
def test_each_sample_is_of_the_schema_it_names(schema):
    sample = SAMPLES / f"schema-{schema}.db"
    for suffix in ("-wal", "-shm"):
        assert not Path(f"{sample}{suffix}").exists()
    conn = sqlite3.connect(f"file:{sample}?mode=ro", uri=True)
    try:
        assert conn.execute("pragma journal_mode").fetchone() == ("delete",)
        assert conn.execute("select value from _meta where key = 'schema_version'").fetchone() == (schema,)
        table, column = ADDS[schema]
        assert column not in columns(conn, table)
        if schema in ADDED_BEFORE:
            table, column = ADDED_BEFORE[schema]
            assert column in columns(conn, table)
    finally:
        conn.close()


@pytest.mark.parametrize("goes_on", [True, False], ids=["then-the-rest", "nothing-new"])
@pytest.mark.parametrize("schema", sorted(ADDS))
def test_a_sample_upgraded_in_place_holds_what_a_clean_build_does(tmp_path, history, clean_builds, schema, goes_on):
    sample = SAMPLES / f"schema-{schema}.db"
    db = tmp_path / "outages.db"
    shutil.copyfile(sample, db)
    before = meta(db)
    stored_through = last_snapshot(db)
    branch = None if goes_on else before["last_commit"]

    result = build_database(history, db, branch=branch)
    clean = clean_builds(branch)
    assert result.snapshots_added == last_snapshot(clean) - stored_through
    upgraded = meta(db)
    assert upgraded["schema_version"] == SCHEMA_VERSION
    # The one row that differs: the clone each database was first built from.
    assert upgraded.pop("repository") == before["repository"]
    assert upgraded == {key: value for key, value in meta(clean).items() if key != "repository"}
    # Each step recorded once, in order: those of the sample's schema as built in it, the rest as applied.
    assert upgrades(db) == [
        (step.name, f"built in {schema}" if int(step.schema_version) <= int(schema) else "upgraded")
        for step in UPGRADES
    ]
    assert upgrades(clean) == [(step.name, "created") for step in UPGRADES]
    if schema == "2":
        clean_versions = contents(clean, versions_by_content=True)
        expected = as_upgraded_from_schema_2(clean_versions, stored_through)
        assert expected != clean_versions
        assert contents(db, versions_by_content=True) == expected
    else:
        assert contents(db) == contents(clean)

    # Again with nothing new: nothing changes.
    again = meta(db), contents(db), upgrades(db)
    assert build_database(history, db, branch=branch).commits_read == 0
    assert (meta(db), contents(db), upgrades(db)) == again


def test_a_database_built_before_steps_were_recorded_records_them_as_built_and_changes_nothing(
        tmp_path, history, clean_builds):
    db = tmp_path / "outages.db"
    shutil.copyfile(clean_builds(None), db)
    conn = sqlite3.connect(db)
    conn.execute("drop table _upgrades")  # as every database of schema 5 was before this record
    conn.commit()
    conn.close()
    before = meta(db), contents(db)
    assert build_database(history, db).commits_read == 0
    assert upgrades(db) == [(step.name, f"built in {SCHEMA_VERSION}") for step in UPGRADES]
    assert (meta(db), contents(db)) == before


def test_a_step_that_fails_leaves_the_database_as_it_was(tmp_path, history, monkeypatch):
    db = tmp_path / "outages.db"
    shutil.copyfile(SAMPLES / "schema-4.db", db)
    before = meta(db), contents(db)
    last = UPGRADES[-1]

    def half_done(conn):
        last.apply(conn)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(schema_module, "UPGRADES", (*UPGRADES[:-1], Upgrade(last.name, last.schema_version, half_done)))
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        build_database(history, db)
    assert (meta(db), contents(db)) == before
    conn = sqlite3.connect(db)
    assert "_upgrades" not in {name for (name,) in conn.execute("select name from sqlite_master")}
    conn.close()

    monkeypatch.undo()
    build_database(history, db)
    assert upgrades(db)[-1] == (last.name, "upgraded")
