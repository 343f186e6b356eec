"""What `pip install .` gives: a wheel that carries views.sql and the templates, and
works from outside the checkout; a scrape-and-build install without Datasette; and
no declared dependency that the code does not use."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from pge_outages.synthetic import generate_history
from support.helpers import ROOT

# What the Dockerfile copies to build the package.
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "pge_outages", "scrapers"]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# The import name of each declared dependency, where it differs from its own.
IMPORT_NAMES = {"GitPython": "git", "sqlite-utils": "sqlite_utils", "tzdata": None}


def requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement)[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built offline from a copy of what the Dockerfile copies."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                           if (ROOT / name).is_dir() else {}))
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [path] = out.glob("pge_outages-*.whl")
    return path


def test_the_wheel_carries_the_views_templates_and_scripts(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("pge_outages/views.sql", "pge_outages/datasette_plugin/static/customers-chart.js",
                 "pge_outages/datasette_plugin/templates/row.html", "pge_outages/schema.py",
                 "pge_outages/writer.py", "scrapers/pge.py"):
        assert name in names, name
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # The views have one source, views.sql at the top, which the package's file links to.
    assert (ROOT / "pge_outages" / "views.sql").resolve() == (ROOT / "views.sql").resolve()
    assert zipfile.ZipFile(wheel).read("pge_outages/views.sql") == (ROOT / "views.sql").read_bytes()
    # So has the pages' metadata, which an installed `pge-outages serve` reads.
    assert zipfile.ZipFile(wheel).read("pge_outages/metadata.yml") == (ROOT / "metadata.yml").read_bytes()
    # No stray top-level module, no data files outside the packages.
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"pge_outages", "scrapers"}
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "pge-outages = pge_outages.cli:cli" in entry_points


def test_without_extras_the_wheel_needs_no_datasette(wheel):
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = Parser().parsestr(metadata).get_all("Requires-Dist")
    base = [r for r in requires if "extra ==" not in r]
    serve = [r for r in requires if 'extra == "serve"' in r]
    assert base and not [r for r in base if requirement_name(r).startswith("datasette")]
    plugins = {requirement_name(r) for r in serve}
    assert {"datasette", "datasette-vega", "datasette-cluster-map", "datasette-geojson-map"} <= plugins
    assert set(Parser().parsestr(metadata).get_all("Provides-Extra")) == {"serve", "test"}


def test_a_plain_install_builds_a_database_from_outside_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target),
         str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    history = generate_history(tmp_path / "history", commits=20, era="today", seed=2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import sys, pge_outages; from pge_outages.cli import cli; print(pge_outages.__file__); "
            f"cli(['build', {str(history)!r}, 'outages.db', '--silent'])")
    built = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, capture_output=True, text=True,
                           env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert built.returncode == 0, built.stderr
    assert built.stdout.splitlines()[0] == str(target / "pge_outages" / "__init__.py")
    conn = sqlite3.connect(elsewhere / "outages.db")
    views = {name for (name,) in conn.execute("select name from sqlite_master where type = 'view'")}
    assert {"most_recent_snapshot", "outage_snapshots", "most_recent_areas"} <= views
    assert conn.execute("select count(*) from most_recent_snapshot").fetchone()[0] > 0


@pytest.mark.parametrize("requirement", PROJECT["dependencies"])
def test_every_dependency_is_used(requirement):
    name = requirement_name(requirement)
    module = IMPORT_NAMES.get(name, name.replace("-", "_").lower())
    sources = "\n".join(p.read_text() for package in ("pge_outages", "scrapers") for p in (ROOT / package).glob("*.py"))
    if module is None:
        # tzdata has no import: it is the time zone database ZoneInfo reads where the system has none.
        assert 'ZoneInfo("America/Los_Angeles")' in sources
    else:
        assert re.search(rf"^\s*(import|from) {module}\b", sources, re.MULTILINE), f"{name} is never imported"
