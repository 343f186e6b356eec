"""How long where.county_of and where.place_of take: loading the shipped files once, then each call.

    python bench/where.py [--points 20000]

The points are the gazetteer's own, moved a little (as outage points are:
mostly in towns), and as many drawn evenly over California's bounding box
(much of it sea, Nevada or empty hills, where both take their slower paths).
"""

from __future__ import annotations

import csv
import random
import sys
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pge_outages import where  # noqa: E402


def per_call(function, points: list[tuple[float, float]]) -> float:
    """Microseconds per call, the best of three passes over the points."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for lat, lon in points:
            function(lat, lon)
        best = min(best, time.perf_counter() - start)
    return best / len(points) * 1e6


@click.command()
@click.option("--points", default=20_000, show_default=True, help="Points of each kind.")
@click.option("--seed", default=1, show_default=True, help="Seed of the random points.")
def main(points: int, seed: int):
    """Time the county and place look-ups.

    Example:

        python bench/where.py --points 5000
    """
    start = time.perf_counter()
    counties = where.shipped_counties()
    loaded_counties = time.perf_counter() - start
    start = time.perf_counter()
    gazetteer = where.shipped_gazetteer()
    loaded_places = time.perf_counter() - start
    click.echo(f"load: counties {loaded_counties * 1000:.0f} ms ({len(counties.names)} counties), "
               f"places {loaded_places * 1000:.0f} ms ({len(gazetteer.places):,} points)")

    rng = random.Random(seed)
    with (where.DATA / where.PLACES_FILE).open(encoding="utf-8") as file:
        labelled = [(float(row["latitude"]), float(row["longitude"])) for row in csv.DictReader(file)]
    towns = [(lat + rng.uniform(-0.01, 0.01), lon + rng.uniform(-0.01, 0.01))
             for lat, lon in rng.choices(labelled, k=points)]
    anywhere = [(rng.uniform(32.5, 42.0), rng.uniform(-124.5, -114.1)) for _ in range(points)]
    for name, sample in (("near labelled points", towns), ("anywhere in the bounding box", anywhere)):
        named = sum(where.county_of(lat, lon) is not None for lat, lon in sample)
        click.echo(f"{name} ({len(sample):,}, {named / len(sample):.0%} in a county): "
                   f"county_of {per_call(where.county_of, sample):.1f} us, "
                   f"place_of {per_call(where.place_of, sample):.1f} us per call")


if __name__ == "__main__":
    main()
