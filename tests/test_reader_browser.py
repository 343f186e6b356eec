"""Every page a reader can reach, in a real browser: each loads with no JavaScript error, with
rows or without (a history without areas, a time before the history); each canned query's tab
carries its title; each parameter a query cannot read gets a message that names it."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import yaml

from support.browser import METADATA, chromium_page, running_datasette, watch_errors
from support.helpers import build_synthetic

pytestmark = pytest.mark.browser

DESCRIBED = yaml.safe_load(METADATA.read_text())["databases"]["outages"]
QUERIES = DESCRIBED["queries"]
SHOWN_TABLES = sorted(name for name, table in DESCRIBED["tables"].items() if not table.get("hidden"))
# A time before every history here: every query that takes one comes back empty.
BEFORE = "1990-01-01T00:00-08:00"


def serve(tmp_path_factory, era: str):
    db = build_synthetic(tmp_path_factory.mktemp(f"reader-{era}"), commits=80, era=era, outages=30, seed=4)
    return running_datasette(db)


@pytest.fixture(scope="module")
def today(chromium, tmp_path_factory):
    """A history of today's feed, with areas."""
    with serve(tmp_path_factory, "today") as url:
        yield url


@pytest.fixture(scope="module")
def legacy(chromium, tmp_path_factory):
    """A history of the legacy feed: no areas, so the pages of areas are empty."""
    with serve(tmp_path_factory, "legacy") as url:
        yield url


def pages() -> list[str]:
    paths = ["/", "/outages", "/-/replay", "/-/counties"]
    paths += [f"/outages/{name}" for name in SHOWN_TABLES]
    paths += [f"/outages/{name}" for name in QUERIES]
    return paths


def empty_pages() -> list[str]:
    """Pages with no rows: tables filtered to nothing, a period after the history, and each canned
    query that takes a time asked about a time before the history."""
    paths = ["/outages/most_recent_areas?outage=1", "/outages/most_recent_snapshot?outage=1",
             "/outages/outages?id=1", "/outages/customers_over_time?from=2100-01-01"]
    for name, query in QUERIES.items():
        names = [p for p in ("at", "from", "to") if f":{p}" in query["sql"]]
        if names:
            paths.append(f"/outages/{name}?" + "&".join(f"{p}={quote(BEFORE)}" for p in names))
    return paths


def failures(chromium, url: str, paths: list[str]) -> dict:
    """The paths whose page answered other than 200, or logged a JavaScript error."""
    found = {}
    with chromium_page(chromium) as page:
        errors = watch_errors(page)
        for path in paths:
            before = len(errors)
            response = page.goto(url + path, wait_until="networkidle")
            if response.status != 200 or len(errors) > before:
                found[path] = (response.status, errors[before:])
    return found


def test_every_page_loads_without_a_javascript_error(chromium, today):
    assert failures(chromium, today, pages() + empty_pages()) == {}


def test_pages_without_areas_or_rows_load_without_a_javascript_error(chromium, legacy):
    """What differs without areas: the pages of areas, empty, and the pages that lead to them."""
    paths = ["/", "/outages", "/outages/most_recent_snapshot", "/-/replay", "/-/counties",
             "/outages/most_recent_areas", "/outages/area_snapshots", "/outages/areas_at"]
    assert failures(chromium, legacy, paths + empty_pages()[:3]) == {}


def test_each_canned_query_tab_carries_its_title(chromium, today):
    url = today
    with chromium_page(chromium) as page:
        titles = {}
        for name in QUERIES:
            page.goto(f"{url}/outages/{name}")
            titles[name] = page.title()
    assert titles == {name: f"{query.get('title') or name} · outages" for name, query in QUERIES.items()}


@pytest.mark.parametrize(("path", "said"), [
    ("/outages/outages_at?at=yesterday", "at: 'yesterday' is not a time the query can read"),
    ("/outages/outage_history?outage=abc", "outage: 'abc' is not an outage number"),
    ("/outages/customers_over_time?from=2019-10-28&to=2019-10-27",
     "from (2019-10-28) is after to (2019-10-27): nothing lies between them"),
])
def test_a_parameter_the_query_cannot_read_is_named(chromium, today, path, said):
    url = today
    with chromium_page(chromium) as page:
        errors = watch_errors(page)
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        message = page.locator(".parameter-problems")
        assert message.is_visible()
        text = message.inner_text()
    assert said in text and errors == []
