"""Time the questions people ask of outage_snapshots, as they write them, against the limits we keep.

    python bench/queries.py bench/work/synthetic-60k.db bench/work/legacy-2019-10.db

Each query runs warm, best of --runs, on a database built by build_database.py;
the parameters (a snapshot in the middle, its busiest region, the outage seen
in most snapshots, one day, and the day around the snapshot with the most
outages) are picked from the database itself.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import click

# (name, SQL, limit in ms); parameters by name, picked in pick_parameters().
QUERIES = [
    ("seed sum at one snapshot",
     "select sum(estCustAffected) from outage_snapshots where snapshot = :snapshot", 20),
    ("chart join, last 150 snapshots",
     "select snapshots.id, snapshots.title, count(*), sum(outage_snapshots.estCustAffected) "
     "from snapshots join outage_snapshots on outage_snapshots.snapshot = snapshots.id "
     "group by snapshots.id order by snapshots.id desc limit 150", 200),
    ("LEFT JOIN at one snapshot",
     "select s.id, count(o.outage), sum(o.estCustAffected) from snapshots s "
     "left join outage_snapshots o on o.snapshot = s.id where s.id = :snapshot group by s.id", 200),
    ("one outage",
     "select * from outage_snapshots where outage = :outage", 50),
    ("one city at one snapshot",
     "select * from outage_snapshots where snapshot = :snapshot and regionName = :region", 50),
    ("one day, per snapshot",
     "select snapshot, count(*), sum(estCustAffected) from outage_snapshots "
     "where snapshot between :day_start and :day_end group by snapshot", 500),
    ("busiest day, per snapshot",
     "select snapshot, count(*), sum(estCustAffected) from outage_snapshots "
     "where snapshot between :busy_start and :busy_end group by snapshot", 500),
    ("one city, all time",
     "select count(*), sum(estCustAffected) from outage_snapshots where regionName = :region", 1000),
]


def pick_parameters(conn: sqlite3.Connection) -> dict[str, object]:
    last = conn.execute("select max(id) from snapshots").fetchone()[0]
    snapshot = last // 2
    region = conn.execute(
        "select regionName from outage_snapshots where snapshot = :s and regionName is not null "
        "group by regionName order by count(*) desc limit 1", {"s": snapshot}).fetchone()
    outage = conn.execute("select id from outages order by snapshot_count desc limit 1").fetchone()[0]
    when = conn.execute("select [when] from snapshots where id = ?", (snapshot,)).fetchone()[0]
    day_end = conn.execute("select max(id) from snapshots where [when] < ?", (when + 86400,)).fetchone()[0]
    # The day around the snapshot with the most outages: the storm a reader asks about.
    busiest = conn.execute("select id, [when] from snapshots order by outage_count desc, id limit 1").fetchone()
    busy_start, busy_end = conn.execute(
        "select min(id), max(id) from snapshots where [when] between ? and ?",
        (busiest[1] - 43200, busiest[1] + 43200)).fetchone()
    return {"snapshot": snapshot, "region": region[0] if region else None, "outage": outage,
            "day_start": snapshot, "day_end": day_end, "busy_start": busy_start, "busy_end": busy_end}


def time_query(conn: sqlite3.Connection, sql: str, parameters: dict, runs: int, budget: float) -> float:
    """Best of `runs` in ms; a run that passes `budget` seconds is stopped and counted as that."""
    best = float("inf")
    for _ in range(runs):
        deadline = time.perf_counter() + budget
        conn.set_progress_handler(lambda deadline=deadline: time.perf_counter() > deadline, 10_000)
        started = time.perf_counter()
        try:
            conn.execute(sql, parameters).fetchall()
        except sqlite3.OperationalError as error:
            if "interrupted" not in str(error):
                raise
        finally:
            conn.set_progress_handler(None, 0)
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


@click.command()
@click.argument("databases", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--runs", type=click.IntRange(1), default=2, show_default=True, help="Runs per query; the best counts.")
@click.option("--budget", type=float, default=120.0, show_default=True, help="Seconds after which a query is stopped.")
def main(databases, runs, budget):
    """Print, for each database, the time of each question beside its limit."""
    for path in databases:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = conn.execute("select count(*) from snapshots").fetchone()[0]
        parameters = pick_parameters(conn)
        click.echo(f"\n{path.name}: {rows:,} snapshots; parameters {parameters}")
        click.echo("| question | ms | limit ms | within |")
        click.echo("|---|---|---|---|")
        for name, sql, limit in QUERIES:
            ms = time_query(conn, sql, parameters, runs, budget)
            shown = f"{ms:,.1f}" if ms < budget * 1000 else f">{budget:,.0f} s (stopped)"
            click.echo(f"| {name} | {shown} | {limit:,} | {'yes' if ms <= limit else 'NO'} |")
        conn.close()


if __name__ == "__main__":
    main()
