"""The figures behind the gap classes: how late the feed publishes a change, and the hours of each class.

    python bench/coverage.py DB [DB ...]     # databases built by build_database.py

For each database: among the records updated in gaps of 15 minutes or less,
the share whose own time (lastUpdateTime, read as Pacific time where the feed
wrote it so) falls before the previous snapshot, and by how much; then the
hours of each gap class, the gaps over 30 minutes, customer-minutes and
uncertain durations, each beside the rule before classes (every gap over 30
minutes blind, each snapshot counted for at most 30 minutes).
"""

from __future__ import annotations

import sqlite3
import sys
from itertools import pairwise
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pge_outages.glitches import GAP_SECONDS, WATCHED_SECONDS, clock_shift, coverage_hours  # noqa: E402


def feed_lag(conn: sqlite3.Connection) -> tuple[int, list[int]]:
    """(updated records in watched gaps, how late each one published before the previous look was)."""
    when = dict(conn.execute("select id, [when] from snapshots"))
    rows = conn.execute(
        """select v.outage, r.first_snapshot, r.last_snapshot, v.lastUpdateTime, v.id
        from version_runs r join outage_versions v on v.id = r.version
        where v.lastUpdateTime is not null order by v.outage, r.first_snapshot""").fetchall()
    ends = {(version, last) for _, _, last, _, version in rows}
    newest = dict(conn.execute(
        """select r.first_snapshot, max(v.lastUpdateTime) from version_runs r join outage_versions v
        on v.id = r.version group by r.first_snapshot"""))
    previous: dict[int, int] = {}
    updated, late = 0, []
    for outage, first, _, updated_at, version in rows:
        if (version, first - 1) in ends:
            continue
        gap = when[first] - when[first - 1] if first > 1 else None
        moment = updated_at + (clock_shift(newest[first], when[first], gap) if gap is not None else 0)
        before = previous.get(outage)
        previous[outage] = moment
        if gap is None or gap > WATCHED_SECONDS or before is None or moment <= before:
            continue
        updated += 1
        if moment <= when[first - 1]:
            late.append(when[first - 1] - moment)
    return updated, sorted(late)


def classes(conn: sqlite3.Connection) -> dict:
    hours = coverage_hours(conn)
    over = dict(conn.execute(
        f"select gap_class, count(*) from snapshots where gap_seconds > {GAP_SECONDS} group by gap_class"))
    # The rule before classes: each trustworthy snapshot counted for at most 30 minutes.
    rows = conn.execute("select [when], customers_affected from snapshots where suspect is null order by id").fetchall()
    old_minutes = sum(customers * min(after - before, GAP_SECONDS) / 60
                      for (before, customers), (after, _) in pairwise(rows))
    minutes = conn.execute("select total(customer_minutes) from outages").fetchone()[0]
    uncertain = conn.execute("select total(duration_uncertain) from outages_expanded").fetchone()[0]
    old_uncertain = conn.execute(
        f"""select count(*) from outages o where exists (select 1 from snapshots g
        where g.id > o.first_snapshot and g.id <= o.last_snapshot and g.seconds_since_previous > {GAP_SECONDS})"""
    ).fetchone()[0]
    return dict(hours=hours, over=over, old_minutes=old_minutes, minutes=minutes,
                uncertain=int(uncertain), old_uncertain=old_uncertain)


@click.command()
@click.argument("databases", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def main(databases):
    """Print the feed's lag and the gap classes of each database.

    Example: python bench/coverage.py bench/work/legacy-2019-10.db
    """
    click.echo("| history | updated records | published after the next look | late by, p50 | p90 | p99 | most |")
    click.echo("|---|---|---|---|---|---|---|")
    figures = {}
    for path in databases:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        updated, late = feed_lag(conn)
        figures[path] = classes(conn)
        conn.close()
        if not late:
            click.echo(f"| {path.stem} | {updated:,} | none | | | | |")
            continue

        def at(share: float, late=late) -> str:
            return f"{late[int(share * (len(late) - 1))] / 60:.1f} min"

        click.echo(f"| {path.stem} | {updated:,} | {len(late) / updated:.0%} | {at(0.5)} | {at(0.9)} | {at(0.99)} | "
                   f"{late[-1] / 60:.1f} min |")
    click.echo("\n| history | hours | watched | quiet | blind | unknown | gaps over 30 min called blind before, now "
               "| customer-minutes before, now | uncertain durations before, now |")
    click.echo("|---|---|---|---|---|---|---|---|---|")
    for path, f in figures.items():
        hours = f["hours"]
        click.echo(
            f"| {path.stem} | {sum(hours.values()):,.0f} | "
            + " | ".join(f"{hours.get(name, 0):,.0f} h" for name in ("watched", "quiet", "blind", "unknown"))
            + f" | {sum(f['over'].values()):,}, {f['over'].get('blind', 0):,} | {f['old_minutes'] / 1e6:,.2f} M, "
            f"{f['minutes'] / 1e6:,.2f} M | {f['old_uncertain']:,}, {f['uncertain']:,} |"
        )


if __name__ == "__main__":
    main()
