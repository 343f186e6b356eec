"""Print the events and reliability figures of built databases as Markdown tables, with what writing them costs.

    python bench/events.py /tmp/r/legacy-2019-10.db /tmp/r/layer4-2025-12.db

Each database is copied first: the events are written into the copy, from nothing and then again.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pge_outages.events import update_events  # noqa: E402
from pge_outages.schema import create_schema  # noqa: E402
from pge_outages.times import PACIFIC, read_time  # noqa: E402


def pacific(iso: str) -> str:
    return read_time(iso).astimezone(PACIFIC).strftime("%Y-%m-%d %H:%M")


@click.command()
@click.argument("databases", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def main(databases):
    """Print each database's events, yearly indices and the cost of writing them."""
    events = ["| history | start (Pacific) | hours | peak | customer-hours | restored 50/90/99% (h) | outages | "
              "sum of outage peaks | customers affected (estimate) | worst counties |", "|---" * 10 + "|"]
    years = ["| history | year | days | MEDs | SAIDI | SAIFI | CAIDI | SAIDI w/o MED | provisional |",
             "|---" * 9 + "|"]
    costs = ["| history | events from nothing | again, nothing new |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as work:
        for database in databases:
            copy = Path(work) / database.name
            shutil.copy(database, copy)
            conn = sqlite3.connect(copy, isolation_level=None)
            create_schema(conn)
            conn.execute("delete from events")
            started = time.perf_counter()
            update_events(conn)
            first = time.perf_counter() - started
            started = time.perf_counter()
            update_events(conn)
            again = time.perf_counter() - started
            costs.append(f"| {database.stem} | {first:.2f} s | {again:.3f} s |")
            for row in conn.execute(
                """select start, hours, peak_customers, customer_hours, restore_50_hours, restore_90_hours,
                restore_99_hours, outages, sum_of_outage_peaks, customers_affected, worst_counties from events"""
            ):
                start, hours, peak, hours_out, r50, r90, r99, outages, peaks, estimate, counties = row
                restored = "/".join("-" if r is None else f"{r:.0f}" for r in (r50, r90, r99))
                worst = ", ".join(counties.strip("{}").replace('"', "").split(",")[:3])
                events.append(f"| {database.stem} | {pacific(start)} | {hours:.0f} | {peak:,} | {hours_out:,.0f} | "
                              f"{restored} | {outages:,} | {peaks:,} | {estimate:,} | {worst} |")
            for row in conn.execute(
                """select year, days, major_event_days, saidi_minutes, saifi, caidi_minutes,
                saidi_minutes_without_med, provisional from reliability_years"""
            ):
                year, days, meds, saidi, saifi, caidi, saidi_normal, provisional = row
                years.append(f"| {database.stem} | {year} | {days} | {meds:.0f} | {saidi:.1f} | {saifi:.3f} | "
                             f"{caidi or 0:.0f} | {saidi_normal:.1f} | {'yes' if provisional else 'no'} |")
            conn.close()
    click.echo("\n".join(events) + "\n\n" + "\n".join(years) + "\n\n" + "\n".join(costs))


if __name__ == "__main__":
    main()
