"""Shared fixtures: the fixture histories, the real bundles built once a session, Chromium."""

from __future__ import annotations

import subprocess

import pytest

from support.helpers import build_synthetic, fixture_versions, make_repo, require_shared

# Left out of the quick run (`pytest -m "not slow"`) along with the tests marked slow.
SLOW_KINDS = ("browser", "timing", "shared")


def pytest_collection_modifyitems(items):
    for item in items:
        if any(item.get_closest_marker(kind) for kind in SLOW_KINDS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def legacy_repo(tmp_path):
    return make_repo(tmp_path / "legacy", fixture_versions("legacy"), "pge-outages.json")


@pytest.fixture
def arcgis_repo(tmp_path):
    return make_repo(tmp_path / "arcgis", fixture_versions("arcgis"), "outages.json")


def _built_bundle(tmp_path_factory, name: str, file: str | None = None):
    """(clone, database, the build's result) of ../shared/data/`name`."""
    bundle = require_shared(name)
    base = tmp_path_factory.mktemp(name.split(".")[0])
    repo = base / "repo"
    subprocess.run(["git", "clone", "-q", "-b", "main", str(bundle), str(repo)], check=True)
    db = base / "outages.db"
    from pge_outages.build import build_database

    return repo, db, build_database(repo, db, file=file)


@pytest.fixture(scope="session")
def legacy_bundle(tmp_path_factory):
    """(clone, database) of ../shared/data/legacy-2019-10.bundle, built once per session."""
    return _built_bundle(tmp_path_factory, "legacy-2019-10.bundle")[:2]


@pytest.fixture(scope="session")
def modern_bundle(tmp_path_factory):
    """(clone, database) of ../shared/data/modern-2024-q1.bundle, built once per session."""
    return _built_bundle(tmp_path_factory, "modern-2024-q1.bundle")[:2]


@pytest.fixture(scope="session")
def layer4_bundle(tmp_path_factory):
    """(clone, database, the build's result) of ../shared/data/layer4-2025-12.bundle, a month of raw
    layer-4 FeatureSets, built once per session."""
    return _built_bundle(tmp_path_factory, "layer4-2025-12.bundle", file="pge-events.json")


@pytest.fixture(scope="session")
def stormy_history(tmp_path_factory):
    """(repository, clean build) of a synthetic legacy history of 1,500 commits with two storms,
    generated and built once per session; tests read both and write neither."""
    from pge_outages.build import build_database
    from pge_outages.synthetic import generate_history

    base = tmp_path_factory.mktemp("stormy")
    repo = generate_history(base / "history", commits=1500, era="legacy", outages=60, storms=2, seed=3)
    build_database(repo, base / "outages.db")
    return repo, base / "outages.db"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium for the browser tests, which skip (saying how to install it) where it is missing."""
    from support.browser import INSTALL_CHROMIUM, find_chromium

    executable = find_chromium()
    if executable is None:
        pytest.skip(f"Chromium is not installed: {INSTALL_CHROMIUM}")
    pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install -e '.[test]'")
    return executable


@pytest.fixture(scope="session")
def areas_database(tmp_path_factory):
    """A history in today's feed format, outage-areas.geojson beside outages.json, built once."""
    return build_synthetic(tmp_path_factory.mktemp("browser-areas"), commits=300, era="today", outages=60, seed=3)


@pytest.fixture(scope="session")
def areas_server(chromium, areas_database):
    """Datasette serving areas_database, for the browser tests."""
    from support.browser import running_datasette

    with running_datasette(areas_database) as url:
        yield url
