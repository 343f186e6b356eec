"""Generate a realistic, reproducible outage history into a new git repository.

Outages start, change customers and crew status, and end; a few storms bring
many at once; every outage lies in PG&E's territory. Three eras of the feed:
`legacy` (2019-2022), `arcgis` (2024, layer 5 only) and `today` (from December
2025: layers 4 and 5, most outages in layer 4 with only a Web Mercator point,
and outage-areas.geojson beside outages.json with each layer-4 outage's area).
The same seed always gives the same history, byte for byte. Commits are
streamed through `git fast-import`, so 60,000 of them take about a minute.

    python -m pge_outages.synthetic demo/history --era today --commits 1000 --seed 1
"""

from __future__ import annotations

import math
import posixpath
import random
import subprocess
import time
from pathlib import Path

import click

from . import wire
from .wire import ARCGIS_FIELDS as KEY
from .wire import TEXT_TWINS as TEXT

ERAS: tuple[str, ...] = ("legacy", "arcgis", "today")
FILES = {"legacy": "pge-outages.json", "arcgis": "outages.json", "today": "outages.json"}
# Each era starts where its real history does:
# 2019-10-01 00:00 -07:00, 2024-02-01 00:00 -08:00, 2025-12-01 00:00 -08:00.
STARTS = {"legacy": 1569913200, "arcgis": 1706774400, "today": 1764576000}
INTERVAL = 600
# Calibrated on the real legacy history: an outage lasts about 11 hours (66
# scrapes) and its data changes in about one scrape of every 13.
CALM_HOURS = 10
STORM_HOURS = 20
CHANGE_CHANCE = 0.07

# Towns of PG&E's territory, Northern and Central California: (name, county, lat, lon).
PLACES = [
    ("San Francisco", "San Francisco", 37.7749, -122.4194),
    ("Oakland", "Alameda", 37.8044, -122.2712),
    ("Berkeley", "Alameda", 37.8716, -122.2727),
    ("San Jose", "Santa Clara", 37.3382, -121.8863),
    ("Santa Cruz", "Santa Cruz", 36.9741, -122.0308),
    ("Ben Lomond", "Santa Cruz", 37.0891, -122.0863),
    ("Salinas", "Monterey", 36.6777, -121.6555),
    ("San Luis Obispo", "San Luis Obispo", 35.2828, -120.6596),
    ("Fresno", "Fresno", 36.7378, -119.7871),
    ("Bakersfield", "Kern", 35.3733, -119.0187),
    ("Modesto", "Stanislaus", 37.6391, -120.9969),
    ("Stockton", "San Joaquin", 37.9577, -121.2908),
    ("Sacramento", "Sacramento", 38.5816, -121.4944),
    ("Auburn", "Placer", 38.8966, -121.0769),
    ("Grass Valley", "Nevada", 39.2191, -121.0611),
    ("Placerville", "El Dorado", 38.7296, -120.7985),
    ("Santa Rosa", "Sonoma", 38.4404, -122.7141),
    ("Napa", "Napa", 38.2975, -122.2869),
    ("Chico", "Butte", 39.7285, -121.8375),
    ("Paradise", "Butte", 39.7596, -121.6219),
    ("Redding", "Shasta", 40.5865, -122.3917),
    ("Eureka", "Humboldt", 40.8021, -124.1637),
    ("Ukiah", "Mendocino", 39.1502, -123.2078),
    ("Merced", "Merced", 37.3022, -120.4830),
]
CAUSES = [
    "PG&E is investigating the cause of your outage.",
    "Our preliminary determination is that your outage was caused by weather.",
    "Our preliminary determination is that your outage was caused by an equipment issue.",
    "Our preliminary determination is that your outage was caused by a vehicle accident.",
    "Our preliminary determination is that your outage was caused by an animal.",
    "Our preliminary determination is that your outage was caused by trees or branches.",
]
# A storm's outages are caused by weather: CAUSES[1], and "STORM" in ARCGIS_CAUSES.
STORM_CAUSE = 1
STATUSES = [
    "PG&E is sending a repair crew to the outage location.",
    "A repair crew is on the way to the outage location.",
    "The repair crew is onsite working to restore power.",
]
ARCGIS_CAUSES = ["EMERG REPAIRS", "STORM", "EQUIPMENT", "VEHICLE", "ANIMAL", "TREE"]
ARCGIS_STATUSES = ["Awaiting Crew", "Crew Dispatched", "Crew Onsite", "T-Man Enroute"]
# Today's feed names fewer causes than 2024's (index by CAUSES, as above), and
# a few outages are planned shutdowns rather than faults.
TODAY_CAUSES = ["EMERG REPAIRS", "STORM", "POLE FIRE", "EMERG REPAIRS", "EMERG REPAIRS", "EMERG REPAIRS"]
TODAY_STATUSES = ["Awaiting Crew", "Crew Dispatched", "Crew On Site"]
PLANNED_CAUSE = "PLNND SHUTDOWN"
PLANNED_CHANCE = 0.03
# Today, layer 4 (outages with a polygon) holds almost every outage; layer 5
# holds a few, and now and then an outage is in both.
LAYER_5_CHANCE = 1 / 50
BOTH_LAYERS_CHANCE = 1 / 250
BROKEN_KINDS = ("html", "truncated", "empty", "error", "object", "deleted")
# Today the scraper also commits each layer-4 outage's area, in the same commits.
AREAS_FILE = "outage-areas.geojson"
RESHAPE_CHANCE = 0.02  # per outage and scrape: PG&E draws its area again
MISSING_CHANCE = 0.004  # per outage and scrape: its area drops out of the feed...
MISSING_SCRAPES = (1, 4)  # ...for this many scrapes


class _Outage:
    def __init__(self, rng: random.Random, number: int, now: int, place, storm: bool):
        name, county, lat, lon = place
        self.number = number
        self.start = now - rng.randrange(0, INTERVAL)
        self.region = name
        self.county = county
        self.latitude = round(lat + rng.uniform(-0.12, 0.12), 5)
        self.longitude = round(lon + rng.uniform(-0.12, 0.12), 5)
        big = rng.random() < (0.3 if storm else 0.05)
        self.customers = rng.randint(50, 4000) if big else rng.randint(1, 40)
        self.cause = STORM_CAUSE if storm else rng.randrange(len(CAUSES))
        self.status = 0
        self.updated = self.start
        self.etor = self.start + rng.choice((2, 3, 4, 6, 8)) * 3600
        self.lifetime = int(rng.expovariate(1 / (STORM_HOURS if storm else CALM_HOURS)) * 3600) + INTERVAL
        self.devices = rng.randint(1, 4) if rng.random() < 0.3 else 0
        self.circuit = rng.randint(10_000_000, 99_999_999)
        self.layers: tuple[int, ...] = (5,)
        self.planned = False
        self.text: str | None = None

    def place_in_today_feed(self, rng: random.Random, storm: bool) -> None:
        """Choose the layers and whether it is planned, from an rng of its own so older eras keep their bytes."""
        roll = rng.random()
        self.layers = (4, 5) if roll < BOTH_LAYERS_CHANCE else (5,) if roll < LAYER_5_CHANCE else (4,)
        self.planned = not storm and rng.random() < PLANNED_CHANCE

    def step(self, rng: random.Random, now: int) -> bool:
        """Advance one scrape; return whether anything the feed shows changed."""
        if rng.random() > CHANGE_CHANCE:
            return False
        roll = rng.random()
        if roll < 0.4:
            self.customers = max(1, int(self.customers * rng.uniform(0.3, 1.3)))
        elif roll < 0.7 and self.status < len(STATUSES) - 1:
            self.status += 1
        else:
            self.etor += rng.choice((1, 2)) * 3600  # the restoration estimate slips
        self.updated = now
        self.text = None
        return True

    def record(self, era: str) -> dict:
        if era == "legacy":
            record: dict = {
                wire.LEGACY_ID: str(self.number),
                "outageStartTime": str(self.start),
                "crewCurrentStatus": STATUSES[self.status],
                "currentEtor": str(self.etor),
                "cause": CAUSES[self.cause],
                "estCustAffected": str(self.customers),
                "lastUpdateTime": str(self.updated),
                "hazardFlag": "0",
                "latitude": str(self.latitude),
                "longitude": str(self.longitude),
            }
            if self.devices:
                record[wire.LEGACY_DEVICES] = [
                    {"latitude": str(round(self.latitude + i * 0.003, 5)),
                     "longitude": str(round(self.longitude - i * 0.003, 5))}
                    for i in range(self.devices)
                ]
            record[wire.LEGACY_FIELDS["regionName"]] = self.region
            return record
        x, y = wire.to_web_mercator(self.longitude, self.latitude)
        geometry = {wire.POINT_X: round(x, 3), wire.POINT_Y: round(y, 3)}
        if era == "arcgis":
            return {**self._layer_5(ARCGIS_CAUSES[self.cause], ARCGIS_STATUSES[self.status], _no_text), **geometry}
        cause = PLANNED_CAUSE if self.planned else TODAY_CAUSES[self.cause]
        status = TODAY_STATUSES[self.status]
        if self.layers == (5,):
            record = self._layer_5(cause, status, _iso_text)
        else:
            record = self._layer_4(cause, status)
            if 5 in self.layers:
                # One record for both, as the scraper writes it: layer 4's
                # attributes first, then what only layer 5 has.
                extra = self._layer_5(cause, status, _iso_text)
                record.update((key, value) for key, value in extra.items() if key not in record)
        return {**record, **geometry, wire.LAYERS_KEY: list(self.layers)}

    def _layer_4(self, cause: str, status: str) -> dict:
        return {
            wire.LAYER4_ID: self.number,
            "InPoly_FID": None,
            KEY["outageStartTime"]: self.start * 1000,
            KEY["currentEtor"]: self.etor * 1000,
            KEY["estCustAffected"]: self.customers,
            KEY["cause"]: cause,
            KEY["crewCurrentStatus"]: status,
            KEY["lastUpdateTime"]: self.updated * 1000,
            TEXT[KEY["outageStartTime"]]: _iso_text(self.start),
            TEXT[KEY["lastUpdateTime"]]: _iso_text(self.updated),
            TEXT[KEY["currentEtor"]]: _iso_text(self.etor),
            "ORIG_FID": None,
            KEY["spid"]: None,
            KEY["ftsFlag"]: "N",
        }

    def _layer_5(self, cause: str, status: str, text) -> dict:
        return {
            wire.LAYER5_ID: self.number,
            KEY["outageExtent"]: "DEVICE" if self.customers > 1 else "CUSTOMER",
            KEY["outageDeviceId"]: str(300_000_000_000 + self.number),
            KEY["outageCircuitId"]: self.circuit,
            KEY["crewEta"]: None,
            KEY["crewCurrentStatus"]: status,
            KEY["cause"]: cause,
            KEY["estCustAffected"]: self.customers,
            KEY["latitude"]: self.latitude,
            KEY["longitude"]: self.longitude,
            KEY["regionName"]: self.region,
            KEY["county"]: self.county,
            KEY["zip"]: None,
            KEY["deviceCount"]: self.devices,
            KEY["outageStartTime"]: self.start * 1000,
            TEXT[KEY["outageStartTime"]]: text(self.start),
            KEY["lastUpdateTime"]: self.updated * 1000,
            TEXT[KEY["lastUpdateTime"]]: text(self.updated),
            KEY["currentEtor"]: self.etor * 1000,
            TEXT[KEY["currentEtor"]]: text(self.etor),
            KEY["autoEtor"]: None,
            KEY["spid"]: None,
            KEY["ftsFlag"]: "N",
        }

    def dumped(self, era: str) -> str:
        # Serialised once per change, already indented as an item of the list.
        if self.text is None:
            self.text = wire.record_item(self.record(era))
        return self.text


class _AreaMaker:
    """Draws the areas of today's feed, from an rng of its own so outages.json keeps its bytes."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lines: dict[int, str] = {}
        self.missing_until: dict[int, int] = {}

    def version(self, tick: int, active: dict[int, _Outage]) -> bytes:
        """The areas file at this scrape: one feature per line, sorted by outage number."""
        rng = self.rng
        lines, missing_until = {}, {}
        for number, outage in active.items():
            if 4 not in outage.layers:
                continue  # layer 5 holds the outages without an area
            line = self.lines.get(number)
            if line is None or rng.random() < RESHAPE_CHANCE:
                line = self._feature(outage)
            lines[number] = line
            until = self.missing_until.get(number, 0)
            if until <= tick and rng.random() < MISSING_CHANCE:
                until = tick + rng.randint(*MISSING_SCRAPES)
            if until > tick:
                missing_until[number] = until
        self.lines, self.missing_until = lines, missing_until
        return wire.join_areas(line for number, line in lines.items() if number not in missing_until)

    def _feature(self, outage: _Outage) -> str:
        """A small polygon around the outage's point: a handful of vertices, counterclockwise."""
        rng = self.rng
        corners = rng.randint(4, 7)
        size = rng.uniform(0.002, 0.006) * (1 + math.log10(outage.customers))
        stretch = 1 / math.cos(math.radians(outage.latitude))
        ring = []
        for corner in range(corners):
            angle = 2 * math.pi * (corner + rng.uniform(-0.3, 0.3)) / corners
            radius = size * rng.uniform(0.6, 1.2)
            ring.append([round(outage.longitude + radius * stretch * math.cos(angle), 5),
                         round(outage.latitude + radius * math.sin(angle), 5)])
        ring.append(ring[0])
        return wire.area_line(outage.number, {"type": "Polygon", "coordinates": [ring]})


def _iso_text(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _no_text(seconds: int) -> None:
    # The 2024 feed left its *_TEXT fields empty.
    return None


def _broken_blob(kind: str, good: str) -> bytes | None:
    return {
        "html": b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>\n",
        "truncated": good.encode()[: max(1, len(good) // 2)],
        "empty": b"",
        "error": b'{"error": {"code": 400, "message": "Unable to complete operation."}}\n',
        "object": b'{"outages": []}\n',
        "deleted": None,
    }[kind]


def iter_versions(commits: int, era: str = "today", seed: int = 1, outages: int = 40,
                  storms: int = 3, broken: int = 0, start: int | None = None):
    """Yield (time, message, file bytes or None for a deletion) for each commit, oldest first.

    `outages` is the typical number of outages in a snapshot; `broken` is how
    many versions are replaced by a broken one (HTML, truncated JSON, ...).
    """
    for when, message, blob, _ in iter_scrapes(commits, era, seed, outages, storms, broken, start):
        yield when, message, blob


def iter_scrapes(commits: int, era: str = "today", seed: int = 1, outages: int = 40,
                 storms: int = 3, broken: int = 0, start: int | None = None):
    """Like iter_versions, with the areas file's bytes after the outage file's (None before today's era)."""
    if era not in ERAS:
        raise ValueError(f"unknown era {era!r}: choose one of {', '.join(ERAS)}")
    start = STARTS[era] if start is None else start
    rng = random.Random(seed)
    storm_rng = random.Random(seed + 1)
    storm_starts = sorted(storm_rng.randrange(0, max(1, commits)) for _ in range(storms))
    storm_places = [storm_rng.randrange(len(PLACES)) for _ in range(storms)]
    broken_ticks = random.Random(seed + 2).sample(range(1, commits), min(broken, commits - 1))
    broken_at = {tick: BROKEN_KINDS[i % len(BROKEN_KINDS)] for i, tick in enumerate(broken_ticks)}
    today_rng = random.Random(seed + 3)
    areas = _AreaMaker(random.Random(seed + 4)) if era == "today" else None
    # Arrivals balance departures at `outages` open outages on a calm day.
    arrival_rate = outages / (CALM_HOURS * 3600 / INTERVAL + 1)
    active: dict[int, _Outage] = {}
    number = 1_000_000 + rng.randrange(100_000)
    text = "[]\n"
    for tick in range(commits):
        now = start + tick * INTERVAL
        storm = next((p for s, p in zip(storm_starts, storm_places, strict=True) if s <= tick < s + 36), None)
        added = changed = removed = 0
        for key in list(active):
            outage = active[key]
            if now - outage.start > outage.lifetime:
                del active[key]
                removed += 1
            elif outage.step(rng, now):
                changed += 1
        arrivals = _poisson(rng, arrival_rate * (6 if storm is not None else 1))
        for _ in range(arrivals):
            number += rng.randint(1, 30)
            place = PLACES[storm] if storm is not None and rng.random() < 0.8 else rng.choice(PLACES)
            outage = active[number] = _Outage(rng, number, now, place, storm is not None)
            if era == "today":
                outage.place_in_today_feed(today_rng, storm is not None)
            added += 1
        text = wire.join_records(outage.dumped(era) for outage in active.values()).decode()
        message = f"{added} outages added, {removed} removed, {changed} changed"
        areas_blob = areas.version(tick, active) if areas is not None else None
        kind = broken_at.get(tick)
        if kind is not None:
            yield now, f"broken version: {kind}", _broken_blob(kind, text), areas_blob
        else:
            yield now, message, text.encode(), areas_blob


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def generate_history(path: str | Path, commits: int = 500, era: str = "today", seed: int = 1,
                     outages: int = 40, storms: int = 3, broken: int = 0,
                     start: int | None = None, file: str | None = None) -> Path:
    """Write a synthetic history of `commits` commits into a new git repository at `path`.

    Today's era also writes the areas file, AREAS_FILE beside the outage file.
    """
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} already exists and is not empty")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    file = file or FILES[era]
    areas_file = posixpath.join(posixpath.dirname(file), AREAS_FILE).encode()
    importer = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"], cwd=path, stdin=subprocess.PIPE
    )
    assert importer.stdin is not None  # stdin=PIPE
    write = importer.stdin.write
    try:
        for when, message, blob, areas in iter_scrapes(commits, era, seed, outages, storms, broken, start):
            encoded = message.encode()
            write(b"commit refs/heads/main\n")
            write(b"committer pge-outages bot <bot@example.com> %d -0700\n" % when)
            write(b"data %d\n%s\n" % (len(encoded), encoded))
            if areas is not None:
                write(b"M 100644 inline %s\ndata %d\n%s\n" % (areas_file, len(areas), areas))
            if blob is None:
                write(b"D %s\n\n" % file.encode())
            else:
                write(b"M 100644 inline %s\ndata %d\n%s\n" % (file.encode(), len(blob), blob))
        write(b"done\n")
    finally:
        importer.stdin.close()
        if importer.wait() != 0:
            raise RuntimeError(f"git fast-import failed with status {importer.returncode}")
    # A working copy that shows the newest file, like a real scraper's clone.
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=path, check=True)
    return path


@click.command()
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--era", type=click.Choice(ERAS), default="today", show_default=True,
              help="Which feed format to write: legacy (2019-2022), arcgis (2024, layer 5) or today (layers 4 and 5).")
@click.option("--commits", type=click.IntRange(1), default=500, show_default=True,
              help="How many scrapes (commits), ten minutes apart.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Random seed: the same seed gives the same history.")
@click.option("--outages", type=click.IntRange(1), default=40, show_default=True,
              help="Typical number of outages in a calm snapshot.")
@click.option("--storms", type=click.IntRange(0), default=3, show_default=True,
              help="How many six-hour storms bring many outages at once.")
@click.option("--broken", type=click.IntRange(0), default=0, show_default=True,
              help="How many versions to replace by broken ones (HTML, truncated JSON, ...).")
def generate(path, era, commits, seed, outages, storms, broken):
    """Generate a synthetic outage history into a new git repository at PATH.

    Example:

        pge-outages generate demo/history --era today --commits 1000
    """
    try:
        generate_history(path, commits, era, seed, outages, storms, broken)
    except FileExistsError as error:
        raise click.ClickException(str(error)) from error
    files = FILES[era] + (f" and {AREAS_FILE}" if era == "today" else "")
    click.echo(f"{commits:,} commits of {files} written to {path}")


if __name__ == "__main__":
    generate(prog_name="python -m pge_outages.synthetic")
