"""An outage's duration has one definition (views.sql, outages_expanded.duration_hours): from its
start, PG&E's outageStartTime or its first sighting when PG&E gives none or a later one, to the
last snapshot it was in. Every place that shows a duration agrees with it, for every outage."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import yaml
from datasette.app import Datasette

from pge_outages.times import register_sql_functions
from support.browser import METADATA, SERVE_SETTINGS
from support.helpers import build_synthetic

QUERIES = yaml.safe_load(METADATA.read_text())["databases"]["outages"]["queries"]


def defined_durations(db: Path) -> dict[int, float]:
    """Each outage's hours by the definition, from the stored outages and snapshots (their
    hours between first and last sighting under the key -outage)."""
    conn = sqlite3.connect(db)
    try:
        found = {}
        for outage, start, first, last in conn.execute(
                "select o.id, o.outageStartTime, first.[when], last.[when] from outages o "
                "join snapshots first on first.id = o.first_snapshot join snapshots last on last.id = o.last_snapshot"):
            began = first if start is None else min(start, first)
            found[outage] = (last - began) / 3600
            found[-outage] = (last - first) / 3600
        return found
    finally:
        conn.close()


def expanded_durations(db: Path) -> dict[int, tuple[float, float | None, int, float]]:
    conn = sqlite3.connect(db)
    try:
        return {row[0]: row[1:] for row in conn.execute(
            "select outage, duration_hours, possible_duration_hours, duration_uncertain, duration_hours_max "
            "from outages_expanded")}
    finally:
        conn.close()


def largest_outages(db: Path, **params: str) -> dict[int, float]:
    conn = sqlite3.connect(db)
    register_sql_functions(conn)
    try:
        cursor = conn.execute(QUERIES["largest_outages"]["sql"], {"from": "", "to": "", **params})
        names = [d[0] for d in cursor.description]
        return {row[names.index("outage")]: row[names.index("duration_hours")] for row in cursor}
    finally:
        conn.close()


@pytest.fixture(scope="module", params=["legacy", "today"])
def history(request, tmp_path_factory) -> Path:
    # Fewer than 100 outages, so that largest_outages lists every one of them.
    return build_synthetic(tmp_path_factory.mktemp(request.param), commits=200, era=request.param, seed=3, outages=8)


def test_outages_expanded_follows_the_definition_for_every_outage(history):
    defined, expanded = defined_durations(history), expanded_durations(history)
    assert {abs(outage) for outage in defined} == expanded.keys() and len(expanded) > 50
    # PG&E's start before the first sighting, by over a minute: where the two definitions parted.
    assert len([o for o in expanded if defined[o] > defined[-o] + 1 / 60]) > len(expanded) / 2
    for outage, (hours, possible, uncertain, most) in expanded.items():
        assert hours == pytest.approx(defined[outage], abs=0.0051), outage
        assert possible == (None if uncertain else hours), outage
        assert most >= hours, outage


@pytest.mark.asyncio
async def test_every_place_that_shows_a_duration_agrees_for_every_outage(history):
    expanded = {outage: row[0] for outage, row in expanded_durations(history).items()}
    # largest_outages: every outage of this history, as the SQL and as the page's JSON give it.
    assert largest_outages(history) == expanded
    ds = Datasette([str(history)], metadata=yaml.safe_load(METADATA.read_text()), settings=SERVE_SETTINGS)
    response = await ds.client.get("/outages/largest_outages.json?_shape=array")
    assert response.status_code == 200, response.text
    assert {row["outage"]: row["duration_hours"] for row in response.json()} == expanded
    # The outage's own page.
    for outage, hours in expanded.items():
        page = (await ds.client.get(f"/outages/outages/{outage}")).text
        shown = re.search(r'<p class="outage-duration">It lasted <strong>([\d,.]+) hours</strong>', page)
        assert shown is not None and float(shown.group(1).replace(",", "")) == hours, outage


def test_no_other_definition_of_a_duration():
    # The expression lives once in views.sql's cog header; the queries read outages_expanded.
    views = (METADATA.parent / "views.sql").read_text()
    assert views.count("min(coalesce(o.outageStartTime, first.[when]), first.[when])") == 3  # header and 2 outputs
    assert "outageStartTime" not in QUERIES["largest_outages"]["sql"].replace("e.outageStartTime, 'unixepoch'", "")
    assert "cross join outages_expanded e" in QUERIES["largest_outages"]["sql"]


@pytest.mark.shared
def test_the_public_2024_history_agrees(modern_bundle):
    _, db = modern_bundle
    expanded = expanded_durations(db)
    defined = defined_durations(db)
    assert all(row[0] == pytest.approx(defined[outage], abs=0.0051) for outage, row in expanded.items())
    assert len([o for o in expanded if defined[o] > defined[-o] + 1 / 60]) > 1000
    largest = largest_outages(db)
    assert len(largest) == 100 and all(largest[outage] == expanded[outage][0] for outage in largest)
    # 2344345, seen in one snapshot 12.2 hours after PG&E's start: it was 0.0 h in outages_expanded.
    assert expanded[2344345][0] == largest[2344345] == pytest.approx(12.24, abs=0.0051)
