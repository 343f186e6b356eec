"""Make pge_outages/data/places.csv, the gazetteer of where.place_of: PG&E's own names for its outage points.

    python scripts/make_places.py                  # reads ../shared/data, writes the file, prints figures
    python scripts/make_places.py --data DIR --output places.csv

The labelled histories are the legacy feed's `regionName` (Oct 2019) and layer
5's `CITY` (Feb-Mar 2024), read from clones in a temporary directory. Points
are rounded to 4 decimals (11 m); each keeps the name most of its outages had
(a tie goes to the newer era, then to the first name alphabetically). A point
whose Delaunay neighbours all share its name, none far, is then left out
(Voronoi editing): the nearest labelled point names the same place everywhere,
from a third of the points. The figures printed are agreements with PG&E's own
labels on records the gazetteer did not learn from.
"""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys
import tempfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import click
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pge_outages import wire  # noqa: E402
from pge_outages.feed import COLUMNS, InvalidVersion, outage_id, parse_record, record_columns, split_records  # noqa: E402
from pge_outages.history import iter_contents, open_repo  # noqa: E402
from pge_outages.where import (  # noqa: E402
    KM_PER_DEGREE,
    LONGITUDE_SCALE,
    PLACE_KM,
    PLACES_FILE,
    Gazetteer,
    LabelledPoint,
)

# The labelled histories, oldest first: (bundle, file in it); and one of today's layer 4, points only.
LABELLED = (("legacy-2019-10.bundle", "pge-outages.json"), ("modern-2024-q1.bundle", "outages.json"))
UNLABELLED = ("layer4-2025-12.bundle", "pge-events.json")
DECIMALS = 4
FOLDS = 5
# Points farther apart than this stay, whatever their names (voronoi_edit).
SPARSE_KM = 5.0

# (outage number, latitude, longitude, place) -> how many snapshots showed it so
Sightings = Counter[tuple[int | None, float, float, str]]

_LATITUDE, _LONGITUDE = COLUMNS.index("latitude"), COLUMNS.index("longitude")
_KEYS = {
    legacy: tuple(fields[column] for column in ("latitude", "longitude", "regionName"))
    for legacy, fields in ((True, wire.LEGACY_FIELDS), (False, wire.ARCGIS_FIELDS))
}


def iter_versions(bundle: Path, file: str) -> Iterator[bytes]:
    """Each version of `file` in a git bundle, oldest first, read from a clone in a temporary directory."""
    with tempfile.TemporaryDirectory() as scratch:
        clone = Path(scratch) / "history"
        subprocess.run(["git", "clone", "-q", "-b", "main", str(bundle), str(clone)], check=True)
        for _, (blob,), _ in iter_contents(open_repo(clone), (file,), "main"):
            if blob is not None:
                yield blob


def labelled_point(record: object) -> tuple[int | None, float, float, str] | None:
    """(outage, latitude, longitude, place) of a record of either era, or None if it lacks a point or a name."""
    if not isinstance(record, dict):
        return None
    lat_key, lon_key, place_key = _KEYS[wire.LEGACY_ID in record]
    place = record.get(place_key)
    if not isinstance(place, str) or not place.strip():
        return None
    try:
        lat, lon = float(record[lat_key]), float(record[lon_key])
    except (KeyError, TypeError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat, lon) == (0, 0):
        return None
    return outage_id(record), lat, lon, place.strip()


def read_sightings(bundle: Path, file: str) -> Sightings:
    """How many snapshots showed each (outage, point, place) of a history.

    Only the records that changed since the version before are parsed, as the builder does.
    """
    seen: Sightings = Counter()
    before: dict[bytes, tuple | None] = {}
    for blob in iter_versions(bundle, file):
        try:
            bodies = split_records(blob)
        except InvalidVersion:
            continue
        now: dict[bytes, tuple | None] = {}
        for body in bodies:
            if body in before:
                now[body] = before[body]
                continue
            try:
                now[body] = labelled_point(parse_record(body))
            except InvalidVersion:
                now[body] = None
        for body in bodies:
            point = now[body]
            if point is not None:
                seen[point] += 1
        before = now
    return seen


def read_points(bundle: Path, file: str) -> set[tuple[float, float]]:
    """Every outage point (latitude, longitude) of a history of any era or layer, as the builder reads it."""
    points: set[tuple[float, float]] = set()
    before: set[bytes] = set()
    for blob in iter_versions(bundle, file):
        try:
            bodies = split_records(blob)
        except InvalidVersion:
            continue
        for body in set(bodies) - before:
            try:
                record = parse_record(body)
            except InvalidVersion:
                continue
            if isinstance(record, dict):
                columns = record_columns(record)
                if columns[_LATITUDE] is not None and columns[_LONGITUDE] is not None:
                    points.add((columns[_LATITUDE], columns[_LONGITUDE]))
        before = set(bodies)
    return points


def outage_labels(sightings: Sightings) -> dict[int | None, LabelledPoint]:
    """One labelled point per outage: the version of it most snapshots showed."""
    best: dict[int | None, tuple[int, LabelledPoint]] = {}
    for (outage, lat, lon, place), count in sorted(sightings.items(), key=lambda item: (-item[1], item[0][1:])):
        best.setdefault(outage, (count, (lat, lon, place)))
    return {outage: point for outage, (_, point) in best.items()}


def make_gazetteer(eras: Iterable[Iterable[LabelledPoint]], edit: bool = True) -> list[LabelledPoint]:
    """One name per rounded point of the labelled points of each era (oldest first), sorted by name.

    Each labelled point is one outage's vote. With `edit`, the points whose
    neighbours all carry their name are left out (voronoi_edit).
    """
    votes: dict[tuple[float, float], Counter[str]] = defaultdict(Counter)
    newest: dict[tuple[tuple[float, float], str], int] = {}
    for era, points in enumerate(eras):
        for lat, lon, place in points:
            key = (round(lat, DECIMALS), round(lon, DECIMALS))
            votes[key][place] += 1
            newest[key, place] = era
    points = [
        (key[0], key[1], min(counts, key=lambda place: (-counts[place], -newest[key, place], place)))
        for key, counts in votes.items()
    ]
    if edit:
        points = voronoi_edit(points)
    return sorted(points, key=lambda point: (point[2], point[0], point[1]))


def voronoi_edit(points: list[LabelledPoint]) -> list[LabelledPoint]:
    """The points with a Delaunay neighbour of another name, or one over SPARSE_KM away.

    The first are all the nearest-neighbour map needs (Voronoi editing); the
    second keep where.PLACE_KM's limit where it was in sparse country. Distances
    are measured as where.Gazetteer measures them (longitude scaled).
    """
    if len(points) < 3:
        return points
    xy = [(lon * LONGITUDE_SCALE, lat) for lat, lon, _ in points]
    index = {coordinates: i for i, coordinates in enumerate(xy)}
    edges = shapely.get_coordinates(shapely.delaunay_triangles(shapely.multipoints(xy), only_edges=True))
    sparse = SPARSE_KM / KM_PER_DEGREE
    keep = [False] * len(points)
    for (x1, y1), (x2, y2) in zip(edges[0::2], edges[1::2], strict=True):
        i, j = index[x1, y1], index[x2, y2]
        if points[i][2] != points[j][2] or math.hypot(x1 - x2, y1 - y2) > sparse:
            keep[i] = keep[j] = True
    return [point for point, kept in zip(points, keep, strict=True) if kept]


def same_place(a: str | None, b: str | None) -> bool:
    """Names compared as PG&E's label text, case-insensitively and without surrounding spaces."""
    return a is not None and b is not None and a.strip().casefold() == b.strip().casefold()


def agreement(gazetteer: Gazetteer, tests: Iterable[LabelledPoint]) -> Counter[str]:
    """How many labelled points the gazetteer names as PG&E did ("right"), names not at all ("unnamed"), in all."""
    counts: Counter[str] = Counter()
    for lat, lon, place in tests:
        named = gazetteer.place_of(lat, lon)
        counts["right"] += same_place(named, place)
        counts["unnamed"] += named is None
        counts["all"] += 1
    return counts


def _shares(counts: Counter[str]) -> str:
    return (f"{counts['right'] / counts['all']:.2%} of {counts['all']:,} named as PG&E did, "
            f"{counts['unnamed'] / counts['all']:.2%} unnamed")


def fold_of(era: int, outage: int | None) -> int:
    """A fixed held-out fold for each outage."""
    return zlib.crc32(f"{era}:{outage}".encode()) % FOLDS


def held_out(outages: list[dict[int | None, LabelledPoint]], tested: int, edit: bool = True,
             folds: Iterable[int] = range(FOLDS)) -> Counter[str]:
    """agreement() on the outages of era `tested`, each named by a gazetteer of every era without its fold."""
    counts: Counter[str] = Counter()
    for fold in folds:
        learnt = make_gazetteer([[point for outage, point in era.items() if fold_of(e, outage) != fold]
                                 for e, era in enumerate(outages)], edit=edit)
        tests = [point for outage, point in outages[tested].items() if fold_of(tested, outage) == fold]
        counts += agreement(Gazetteer(learnt), tests)
    return counts


def render_csv(points: Iterable[LabelledPoint]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["latitude", "longitude", "place"])
    for lat, lon, place in points:
        writer.writerow([f"{lat:.{DECIMALS}f}", f"{lon:.{DECIMALS}f}", place])
    return buffer.getvalue().encode()


@click.command()
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=ROOT.parent / "shared" / "data", show_default=True, help="Folder of the history bundles.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=ROOT / "pge_outages" / "data" / PLACES_FILE, show_default=True, help="The CSV to write.")
def main(data: Path, output: Path):
    """Make the gazetteer of PG&E's place names from the labelled histories, and measure it.

    Example:

        python scripts/make_places.py --data ../shared/data
    """
    sightings = []
    for bundle, file in LABELLED:
        click.echo(f"reading {bundle} ...", err=True)
        sightings.append(read_sightings(data / bundle, file))
    outages = [outage_labels(era) for era in sightings]
    for (bundle, _), era, labels in zip(LABELLED, sightings, outages, strict=True):
        names = {place for *_, place in era}
        click.echo(f"{bundle}: {len(labels):,} labelled outages, {len(era):,} (outage, point, name), "
                   f"{len(names):,} names")
    older, newer = ({place for *_, place in era} for era in sightings)
    folded = {place.casefold() for place in older} & {place.casefold() for place in newer}
    click.echo(f"names in both eras: {len(older & newer):,} as written, {len(folded):,} ignoring case")

    # The measure: learn from one era, name the other's outages.
    for learn, test in ((0, 1), (1, 0)):
        counts = agreement(Gazetteer(make_gazetteer([outages[learn].values()])), outages[test].values())
        click.echo(f"learnt from {LABELLED[learn][0]}, tested on {LABELLED[test][0]}: {_shares(counts)}")
    # Both eras, each outage held out in turn.
    for edit in (False, True):
        per_era = [held_out(outages, era, edit) for era in range(len(outages))]
        for (bundle, _), counts in zip(LABELLED, per_era, strict=True):
            click.echo(f"both eras, {FOLDS}-fold held out by outage{', Voronoi-edited' if edit else ''}, "
                       f"tested on {bundle}: {_shares(counts)}")
        click.echo(f"  together: {_shares(sum(per_era, Counter()))}")

    full = make_gazetteer([era.values() for era in outages], edit=False)
    edited = make_gazetteer([era.values() for era in outages])
    whole, kept = Gazetteer(full), Gazetteer(edited)
    probes = [(lat, lon) for era in outages for lat, lon, _ in era.values()]
    probes += [(34.5 + i * 0.05, -124.4 + j * 0.05) for i in range(141) for j in range(115)]
    if (data / UNLABELLED[0]).exists():
        click.echo(f"reading {UNLABELLED[0]} ...", err=True)
        today = read_points(data / UNLABELLED[0], UNLABELLED[1])
        unnamed = sum(kept.place_of(lat, lon) is None for lat, lon in today)
        click.echo(f"{UNLABELLED[0]}: {len(today):,} distinct points, {unnamed:,} unnamed (over {PLACE_KM:g} km "
                   "from every labelled point)")
        probes += sorted(today)
    same = sum(whole.place_of(lat, lon) == kept.place_of(lat, lon) for lat, lon in probes)
    click.echo(f"Voronoi editing kept {len(edited):,} of {len(full):,} points; the same answer for "
               f"{same:,} of {len(probes):,} probes (labelled points, a 0.05-degree grid, today's points)")
    body = render_csv(edited)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(body)
    click.echo(f"wrote {output}: {len(body):,} bytes, {len(edited):,} points, "
               f"{len({place for *_, place in edited}):,} names")


if __name__ == "__main__":
    main()
