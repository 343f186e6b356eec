"""The database's schema: its tables and indexes, the views of views.sql, and upgrades in place.

Each distinct version of an outage is stored once, in `outage_versions`;
`version_runs` says which consecutive snapshots each version was seen in, and
the `outage_snapshots` view (views.sql) expands runs back into one row per
outage per snapshot. Runs never cross a bucket of BUCKET snapshots, so finding
the outages of one snapshot reads one bucket of one index. Outage areas are
stored the same way: each distinct area once in `areas`, its runs in `area_runs`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from . import where
from .feed import COLUMNS

# views.sql joins runs to snapshots on `bucket = snapshot / 64`, and metadata.yml
# says 64: tests/test_constants.py fails when a copy differs from this.
BUCKET = 64
# The views, defined in one place: views.sql at the top of the repository, where the card puts
# it and anyone can run it with sqlite3; the package's views.sql is a link to it, so the wheel
# carries its content.
VIEWS_SQL = resources.files(__package__) / "views.sql"

# Long, repetitive texts are stored once in a lookup table of their own.
LOOKUPS = {
    "cause": "causes",
    "crewCurrentStatus": "crew_statuses",
    "regionName": "regions",
    "outageDevices": "device_lists",
}

_COLUMN_TYPES = {
    "latitude": "REAL",
    "longitude": "REAL",
    "outageExtent": "TEXT",
    "outageDeviceId": "TEXT",
    "outageCircuitId": "TEXT",
    "county": "TEXT",
    "zip": "TEXT",
    "spid": "TEXT",
    "ftsFlag": "TEXT",
    "outageDevices": "TEXT",
    "extra": "TEXT",
    "layers": "TEXT",
}


def _version_columns() -> str:
    lines = []
    for column in COLUMNS:
        if column in LOOKUPS:
            lines.append(f"[{column}] INTEGER REFERENCES {LOOKUPS[column]}(id)")
        else:
            lines.append(f"[{column}] {_COLUMN_TYPES.get(column, 'INTEGER')}")
    return ",\n    ".join(lines)


# Added to snapshots by schema 5: the gap's class and what decides it.
GAP_COLUMNS = {"gap_class": "TEXT", "earliest_change": "INTEGER", "watched_since": "INTEGER",
               "scrape_interval": "INTEGER", "gap_seconds": "INTEGER"}
# The snapshots table, column by column (bucket, computed, follows); glitches.Snapshot
# holds one row in this order while its flag, class or weight may still change.
SNAPSHOT_COLUMNS = {
    "id": "INTEGER PRIMARY KEY",
    "hash": "TEXT NOT NULL UNIQUE",
    "when": "INTEGER NOT NULL",
    "title": "TEXT NOT NULL",
    "outage_count": "INTEGER NOT NULL",
    "customers_affected": "INTEGER NOT NULL",
    "ignored_records": "INTEGER NOT NULL DEFAULT 0",
    "suspect": "TEXT",
    "seconds_since_previous": "INTEGER",
    "trusted_minutes": "REAL NOT NULL DEFAULT 0",
    "trusted_minutes_cum": "REAL NOT NULL DEFAULT 0",
    **GAP_COLUMNS,
}

# `when` is an SQL keyword: it is written [when].
_SNAPSHOT_LINES = ",\n    ".join(
    f"{'[when]' if column == 'when' else column} {kind}" for column, kind in SNAPSHOT_COLUMNS.items()
)

# Events and reliability figures (events.py), written anew from the snapshots after each build.
EVENT_TABLES = """
CREATE TABLE IF NOT EXISTS reliability_days (
    day TEXT PRIMARY KEY,
    seen_hours REAL NOT NULL,
    customer_minutes REAL NOT NULL,
    outages_started INTEGER NOT NULL,
    customers_interrupted INTEGER NOT NULL,
    major_event INTEGER NOT NULL,
    unusual INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reliability_basis (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    customers_served INTEGER NOT NULL,
    source TEXT NOT NULL,
    days INTEGER,
    years REAL,
    provisional INTEGER,
    med_threshold_customer_minutes REAL,
    unusual_threshold_customer_minutes REAL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    start TEXT NOT NULL,
    [end] TEXT NOT NULL,
    hours REAL NOT NULL,
    first_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    last_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    peak_at TEXT NOT NULL,
    peak_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    peak_customers INTEGER NOT NULL,
    customer_hours REAL NOT NULL,
    restore_50_hours REAL,
    restore_90_hours REAL,
    restore_99_hours REAL,
    outages INTEGER NOT NULL,
    sum_of_outage_peaks INTEGER NOT NULL,
    customers_affected INTEGER NOT NULL,
    causes TEXT NOT NULL,
    worst_counties TEXT NOT NULL,
    worst_places TEXT NOT NULL,
    ongoing INTEGER NOT NULL
);
"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS _upgrades (
    name TEXT PRIMARY KEY,
    schema_version TEXT NOT NULL,
    how TEXT NOT NULL,
    [when] INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    {_SNAPSHOT_LINES},
    bucket INTEGER GENERATED ALWAYS AS (id / {BUCKET}) VIRTUAL
);
CREATE TABLE IF NOT EXISTS liveness_marks (
    hash TEXT PRIMARY KEY,
    [when] INTEGER NOT NULL,
    watched_since INTEGER,
    scrape_interval INTEGER
);
CREATE INDEX IF NOT EXISTS snapshots_suspect ON snapshots(suspect) WHERE suspect IS NOT NULL;
CREATE TABLE IF NOT EXISTS skipped_versions (
    hash TEXT PRIMARY KEY,
    [when] INTEGER NOT NULL,
    title TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS causes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS crew_statuses (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS regions (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS device_lists (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS outages (
    id INTEGER PRIMARY KEY,
    outageStartTime INTEGER,
    latitude REAL,
    longitude REAL,
    regionName TEXT,
    first_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    last_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    snapshot_count INTEGER NOT NULL,
    min_estCustAffected INTEGER,
    max_estCustAffected INTEGER,
    customer_minutes REAL NOT NULL DEFAULT 0,
    customer_minutes_settled REAL NOT NULL DEFAULT 0,
    first_currentEtor INTEGER,
    county_fips INTEGER REFERENCES counties(fips),
    place TEXT,
    place_inferred INTEGER
);
CREATE TABLE IF NOT EXISTS counties (
    fips INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    geometry TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outage_versions (
    id INTEGER PRIMARY KEY,
    outage INTEGER NOT NULL REFERENCES outages(id),
    {_version_columns()},
    county_fips INTEGER REFERENCES counties(fips)
);
CREATE INDEX IF NOT EXISTS outage_versions_outage ON outage_versions(outage);
CREATE TABLE IF NOT EXISTS version_runs (
    bucket INTEGER NOT NULL,
    first_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    version INTEGER NOT NULL REFERENCES outage_versions(id),
    last_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    PRIMARY KEY (bucket, first_snapshot, version)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS version_runs_version ON version_runs(version);
CREATE INDEX IF NOT EXISTS outages_last_snapshot ON outages(last_snapshot);
CREATE TABLE IF NOT EXISTS areas (
    id INTEGER PRIMARY KEY,
    outage INTEGER NOT NULL REFERENCES outages(id),
    geometry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS areas_outage ON areas(outage);
CREATE TABLE IF NOT EXISTS area_runs (
    bucket INTEGER NOT NULL,
    first_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    area INTEGER NOT NULL REFERENCES areas(id),
    last_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    PRIMARY KEY (bucket, first_snapshot, area)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS area_runs_area ON area_runs(area);
CREATE TABLE IF NOT EXISTS skipped_areas (
    hash TEXT PRIMARY KEY,
    [when] INTEGER NOT NULL,
    title TEXT NOT NULL,
    reason TEXT NOT NULL
);
{EVENT_TABLES}"""

# The WAL is emptied after every build (checkpoint); between builds it holds one build's writes.
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# A served database answers each query within 3 s (sql_time_limit_ms): wait a little longer.
CHECKPOINT_WAIT_MS = 5000

OUR_TABLES = (
    "events",
    "reliability_days",
    "reliability_basis",
    "area_runs",
    "areas",
    "skipped_areas",
    "liveness_marks",
    "version_runs",
    "outage_versions",
    "outages",
    "causes",
    "crew_statuses",
    "regions",
    "device_lists",
    "skipped_versions",
    "snapshots",
    "counties",
    "_upgrades",
    "_meta",
)


class DatabaseError(ValueError):
    """The database file cannot be used for this build."""


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) a database file, refusing one that is not SQLite."""
    path = Path(path)
    if path.is_dir():
        raise DatabaseError(f"{path} is a directory, not a database file")
    if not path.parent.is_dir():
        # sqlite3 would say only "unable to open database file".
        raise DatabaseError(f"{path.parent}: no such directory, for the database {path}; create it first")
    if path.exists() and path.stat().st_size:
        with path.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise DatabaseError(f"{path} is not a SQLite database")
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.OperationalError as error:
        # A directory we may not write in, or a file we may not read.
        reason = "permission denied" if not os.access(path.parent, os.W_OK | os.X_OK) else str(error)
        raise DatabaseError(f"{path}: cannot open or create the database ({reason})") from None
    # WAL with synchronous=NORMAL is durable at each checkpoint and never
    # corrupt; a larger cache keeps the indexes of a batch in memory.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -65536")
    # A WAL file larger than this is cut back to it whenever a checkpoint resets the log.
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
    return conn


def checkpoint(conn: sqlite3.Connection, wait_ms: int = CHECKPOINT_WAIT_MS) -> bool:
    """Copy the WAL into the database and empty it; return whether that was done.

    A server's readers never stop, so SQLite's own checkpoints, which never
    wait, can copy pages but seldom reset the log: it would grow without bound.
    This one waits up to wait_ms for the readers that began before it (readers
    that begin after it read the database file, not the log) and truncates the
    log. If a reader outlasts the wait, the next build tries again.
    """
    conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return busy == 0


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    if "_meta" not in table_names(conn):
        return {}
    return dict(conn.execute("select key, value from _meta"))


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    """One value of `_meta`, the build's own notes (schema_version, last_commit, ...); None when unset."""
    row = conn.execute("select value from _meta where key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    """Set one value of `_meta`, or with None remove it; the caller holds the transaction."""
    if value is None:
        conn.execute("delete from _meta where key = ?", (key,))
    else:
        conn.execute("insert or replace into _meta values (?, ?)", (key, value))


def schema_is_current(conn: sqlite3.Connection) -> bool:
    """Whether a database's tables and views are those this version creates, every upgrade recorded."""
    meta = read_meta(conn)
    if meta.get("schema_version") != SCHEMA_VERSION or meta.get("views_sql") != VIEWS_SQL.read_text():
        return False
    recorded = conn.execute("select count(*) from _upgrades").fetchone()[0] if "_upgrades" in table_names(conn) else 0
    return recorded == len(UPGRADES)


def create_schema(conn: sqlite3.Connection, rebuild: bool = False) -> None:
    """Create tables, indexes and views idempotently; with rebuild, drop ours first."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if rebuild:
            for (view,) in conn.execute("select name from sqlite_master where type = 'view'").fetchall():
                conn.execute(f"DROP VIEW [{view}]")
            for table in OUR_TABLES:
                conn.execute(f"DROP TABLE IF EXISTS [{table}]")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        _upgrade(conn)
        if conn.execute("select count(*) from counties").fetchone()[0] == 0:
            conn.executemany("insert into counties values (?, ?, ?)", where.county_rows())
        views = VIEWS_SQL.read_text()
        if get_meta(conn, "views_sql") != views:
            for (view,) in conn.execute("select name from sqlite_master where type = 'view'").fetchall():
                conn.execute(f"DROP VIEW [{view}]")
            for statement in views.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            set_meta(conn, "views_sql", views)
        set_meta(conn, "schema_version", SCHEMA_VERSION)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _upgrade(conn: sqlite3.Connection) -> None:
    """Apply, in order, each step of UPGRADES the database has not had, and record it in `_upgrades`.

    A database made now has every step already and records it as `created`. One
    built before steps were recorded has had those of its schema version and
    before; they are recorded as `built in N` (its schema version), the rest are
    applied and recorded as `upgraded`.
    """
    stored = get_meta(conn, "schema_version")
    if stored is not None and stored not in (SCHEMA_VERSION, *UPGRADABLE):
        raise DatabaseError(f"cannot upgrade a database of schema {stored} to {SCHEMA_VERSION}")
    done = {name for (name,) in conn.execute("select name from _upgrades")}
    now = int(time.time())
    for step in UPGRADES:
        if step.name in done:
            continue
        if stored is None:
            how = "created"
        elif int(step.schema_version) <= int(stored):
            how = f"built in {stored}"
        else:
            step.apply(conn)
            how = "upgraded"
        conn.execute("insert into _upgrades values (?, ?, ?, ?)", (step.name, step.schema_version, how, now))
    for statement in INDEXES.split(";"):
        if statement.strip():
            conn.execute(statement)


def applied_upgrades(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """The steps of UPGRADES a database has had, in order, each with how: created, built in N, upgraded."""
    return list(conn.execute("select name, how from _upgrades order by schema_version, rowid"))


def live_version(alias: str) -> str:
    """SQL true when the version `alias` was seen in some snapshot that is not a replay: a
    replay's runs stand alone, one snapshot each, so a run starting elsewhere was seen live."""
    return f"""exists (
    select 1 from version_runs lr join snapshots ls on ls.id = lr.first_snapshot
    where lr.version = {alias}.id and ls.suspect is not 'replay'
)"""

# An outage's first restoration estimate: that of its first version (by id) that has
# one and was seen live (no replayed snapshot's estimate is a fact).
_FIRST_ETOR = f"""
select currentEtor from outage_versions v
where outage = outages.id and currentEtor is not null and {live_version('v')}
order by id limit 1
"""


def _add_layers(conn: sqlite3.Connection) -> None:
    """outage_versions.layers: which ArcGIS layers a version was in. Versions stored before keep
    NULL: which layer they came from was not recorded."""
    # Imported here: sqlite-utils pulls in numpy when it is installed, a
    # tenth of a second every build would pay for an upgrade made once.
    import sqlite_utils

    sqlite_utils.Database(conn).table("outage_versions").add_column("layers", str)


def _add_bucket(conn: sqlite3.Connection) -> None:
    """snapshots.bucket, a virtual column: computed when read, so it costs the rows nothing."""
    conn.execute(f"ALTER TABLE snapshots ADD COLUMN bucket INTEGER GENERATED ALWAYS AS (id / {BUCKET}) VIRTUAL")


def _add_first_etor(conn: sqlite3.Connection) -> None:
    """outages.first_currentEtor, PG&E's first restoration estimate for the outage. The builder
    writes it as versions arrive; the outages stored before take it from their versions."""
    conn.execute("ALTER TABLE outages ADD COLUMN first_currentEtor INTEGER")
    conn.execute(f"UPDATE outages SET first_currentEtor = ({_FIRST_ETOR})")


def _add_gap_classes(conn: sqlite3.Connection) -> None:
    """The gap classes: snapshots.gap_class and what decides it (liveness_marks is a new table).
    The build that upgrades classes the stored snapshots anew from their versions
    (build._classify_stored_gaps), told so by `gaps_to_classify`."""
    for column, kind in GAP_COLUMNS.items():
        conn.execute(f"ALTER TABLE snapshots ADD COLUMN {column} {kind}")
    conn.execute("DROP INDEX IF EXISTS snapshots_gaps")
    set_meta(conn, "gaps_to_classify", "1")


def _add_where(conn: sqlite3.Connection) -> None:
    """Where each outage was: outage_versions.county_fips (the Census county whose boundary holds
    the version's point: where the outage was then), and outages.county_fips, place (PG&E's name
    for it, else the one inferred) and place_inferred, from its latest point. What was stored
    before takes them from its stored points and regions, as the builder would."""
    conn.execute("ALTER TABLE outage_versions ADD COLUMN county_fips INTEGER REFERENCES counties(fips)")
    for column, kind in (("county_fips", "INTEGER REFERENCES counties(fips)"), ("place", "TEXT"),
                         ("place_inferred", "INTEGER")):
        conn.execute(f"ALTER TABLE outages ADD COLUMN {column} {kind}")
    locate = where.Locator()
    versions = conn.execute("SELECT id, latitude, longitude FROM outage_versions").fetchall()
    conn.executemany(
        "UPDATE outage_versions SET county_fips = ? WHERE id = ?",
        [(fips, row[0]) for row, fips in zip(versions, locate.counties_all([row[1:] for row in versions]),
                                             strict=True)],
    )
    stored = conn.execute("SELECT id, latitude, longitude, regionName FROM outages").fetchall()
    conn.executemany(
        "UPDATE outages SET county_fips = ?, place = ?, place_inferred = ? WHERE id = ?",
        [(*answer, row[0]) for row, answer in zip(stored, locate.locate_all([row[1:] for row in stored]),
                                                  strict=True)],
    )


def _add_events(conn: sqlite3.Connection) -> None:
    """Nothing to do: the tables events, reliability_days and reliability_basis are new tables, which
    SCHEMA (run just before the upgrades) has made empty, and the build fills them from the
    snapshots the database holds, as after every build. The step records when they came."""


@dataclass(frozen=True)
class Upgrade:
    """One step of the schema's history: what it adds (its name), the schema version it made, and how
    a database built before it gets it in place."""

    name: str
    schema_version: str
    apply: Callable[[sqlite3.Connection], None]


# The schema's history, oldest first: each step is applied once to a database built before
# it, and recorded in `_upgrades`. A new step goes at the end, with the schema version it makes.
UPGRADES = (
    Upgrade("outage_versions.layers", "3", _add_layers),
    Upgrade("snapshots.bucket", "3", _add_bucket),
    Upgrade("outages.first_currentEtor", "4", _add_first_etor),
    Upgrade("snapshots.gap_class", "5", _add_gap_classes),
    Upgrade("outages.county_fips", "6", _add_where),
    Upgrade("events", "7", _add_events),
)
SCHEMA_VERSION = UPGRADES[-1].schema_version
# Schema 2 is the oldest a database can be upgraded from: the schemas before it stored other tables.
UPGRADABLE = tuple(str(version) for version in range(2, int(SCHEMA_VERSION)))

# Made after _upgrade, as they need its columns. The planner goes from a run to
# its snapshots by (bucket, id), and from a region or cause to its versions.
INDEXES = """
CREATE INDEX IF NOT EXISTS snapshots_bucket ON snapshots(bucket, id);
CREATE INDEX IF NOT EXISTS snapshots_not_seen ON snapshots(id) WHERE gap_class IN ('blind', 'unknown');
CREATE INDEX IF NOT EXISTS outage_versions_region ON outage_versions(regionName);
CREATE INDEX IF NOT EXISTS outage_versions_cause ON outage_versions(cause);
CREATE INDEX IF NOT EXISTS outages_county ON outages(county_fips);
CREATE INDEX IF NOT EXISTS outages_place ON outages(place)
"""
