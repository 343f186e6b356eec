"""A database this tool built works whatever its file name, alone or beside others: its canned
queries, descriptions, hidden tables, links, replay, county map and outage pages follow its name,
with or without metadata.yml on the command line. A database this tool did not build gets none of it."""

import shutil
import sqlite3

import pytest
import yaml
from datasette.app import Datasette

from support.browser import METADATA, chromium_page, serve_command, watch_errors
from support.helpers import build_synthetic
from support.servers import free_port, running

QUERIES = yaml.safe_load(METADATA.read_text())["databases"]["outages"]["queries"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_synthetic(tmp_path_factory.mktemp("any-name"), commits=120, era="today", outages=30, seed=5)


@pytest.fixture(scope="module")
def files(built, tmp_path_factory):
    """The same built database as real.db and as other.db, and a SQLite file this tool did not build."""
    base = tmp_path_factory.mktemp("files")
    shutil.copy(built, base / "real.db")
    shutil.copy(built, base / "other.db")
    conn = sqlite3.connect(base / "notes.db")
    conn.execute("create table notes (id integer primary key, body text)")
    conn.execute("insert into notes values (1, 'hello')")
    conn.commit()
    conn.close()
    return base


def an_outage(db) -> int:
    return sqlite3.connect(db).execute("select max(id) from outages").fetchone()[0]


@pytest.mark.asyncio
@pytest.mark.parametrize("with_metadata", [False, True], ids=["no-metadata", "metadata.yml"])
async def test_every_page_follows_the_database_name(files, with_metadata):
    metadata = yaml.safe_load(METADATA.read_text()) if with_metadata else None
    ds = Datasette([str(files / "real.db"), str(files / "other.db"), str(files / "notes.db")], metadata=metadata)
    outage = an_outage(files / "real.db")
    for name in ("real", "other"):
        database = (await ds.client.get(f"/{name}.json")).json()
        assert set(QUERIES) <= {query["name"] for query in database["queries"]}, name
        # The storage tables stay hidden, the tables people read do not.
        hidden = {table["name"] for table in database["tables"] if table["hidden"]}
        assert {"outage_versions", "version_runs", "_meta"} <= hidden and "outages" not in hidden
        for query in ("outages_at", "counties_at", "customers_over_time"):
            response = await ds.client.get(f"/{name}/{query}.json?_shape=objects")
            assert response.status_code == 200, (name, query)
            assert response.json()["rows"], (name, query)
        page = (await ds.client.get(f"/{name}/most_recent_snapshot")).text
        assert "Every outage in the latest snapshot, largest first" in page, name
        # The replay, its frames and the county map read that database, and link within it.
        replay = await ds.client.get(f"/{name}/-/replay")
        assert replay.status_code == 200 and f'"/{name}/-/replay.json"' in replay.text
        assert f'"/{name}/outages"' in replay.text
        frames = (await ds.client.get(f"/{name}/-/replay.json")).json()
        assert frames["snapshots"] and frames["outages"], name
        counties = await ds.client.get(f"/{name}/-/counties")
        assert counties.status_code == 200 and f'href="/{name}/counties_at' in counties.text
        outage_page = (await ds.client.get(f"/{name}/outages/{outage}")).text
        assert 'class="outage-history"' in outage_page
        assert f'href="/{name}/-/replay?from=' in outage_page and f'href="/{name}/outage_history?outage=' in outage_page
    # The home page: the description links to the first of them, and each one's coverage is named.
    home = (await ds.client.get("/")).text
    assert "PG&amp;E power outages" in home or "PG&E power outages" in home
    if with_metadata:
        # A metadata file given takes precedence, as Datasette's own does: its links name `outages`.
        assert 'href="/outages/most_recent_snapshot"' in home
    else:
        assert 'href="/real/most_recent_snapshot"' in home and 'href="/outages/' not in home
    assert home.count('class="coverage"') == 2 and "<b>real</b>" in home and "<b>other</b>" in home
    # A database's own page links within it.
    real = (await ds.client.get("/real")).text
    assert 'href="/real/scraper_gaps"' in real or 'href="/real/' in real
    # A database the tool did not build gets none of it, and an unknown one is a 404.
    notes = (await ds.client.get("/notes.json")).json()
    assert notes["queries"] == [] and not any(t["hidden"] for t in notes["tables"])
    assert 'class="outage-history"' not in (await ds.client.get("/notes/notes/1")).text
    assert (await ds.client.get("/nope/-/replay")).status_code == 404
    assert (await ds.client.get("/nope/-/counties")).status_code == 404


@pytest.mark.asyncio
async def test_the_database_descriptions_point_at_their_own_database(files):
    ds = Datasette([str(files / "real.db"), str(files / "other.db")])
    for name in ("real", "other"):
        # Every link of every description names the database it is shown for, none the name metadata.yml uses.
        metadata = ds.metadata(database=name)
        text = yaml.safe_dump(ds.metadata()["databases"][name])
        assert 'href="/outages/' not in text and 'href="/-/' not in text
        assert f'href="/{name}/' in text
        assert metadata["queries"].keys() == QUERIES.keys()
    # /-/replay without a name reads the first database this tool built.
    assert (await ds.client.get("/-/replay.json")).json()["snapshots"]


@pytest.mark.asyncio
async def test_a_file_becomes_ours_when_its_first_build_commits(tmp_path, built):
    target = tmp_path / "growing.db"
    sqlite3.connect(target).close()  # an empty file, as a first build starts
    ds = Datasette([str(target)])
    assert (await ds.client.get("/growing.json")).json()["queries"] == []
    shutil.copy(built, target)
    assert {q["name"] for q in (await ds.client.get("/growing.json")).json()["queries"]} >= set(QUERIES)


@pytest.mark.slow
@pytest.mark.browser
def test_a_database_served_under_another_name_in_a_browser(chromium, files):
    """Served as deploy/serve.sh serves it, but named real.db and other.db: the pages a reader opens
    first work, with no JavaScript error."""
    port = free_port()
    command = serve_command(files / "real.db", port)
    command.insert(command.index(str(files / "real.db")) + 1, str(files / "other.db"))
    outage = an_outage(files / "real.db")
    with running(command, f"http://127.0.0.1:{port}") as url, chromium_page(chromium) as page:
        errors = watch_errors(page)
        page.goto(f"{url}/")
        page.click("text=the outages out right now")
        assert page.url.startswith(f"{url}/real/most_recent_snapshot") or page.url.startswith(
            f"{url}/other/most_recent_snapshot")
        page.wait_for_selector("table.rows-and-columns tbody tr")
        for path in ("/other", "/other/outages_at", f"/real/outages/{outage}", "/real/-/counties"):
            response = page.goto(f"{url}{path}")
            assert response.status == 200, path
        page.goto(f"{url}/real/-/replay")
        # The replay read its frames from real.db: its clock shows the first snapshot.
        page.wait_for_function("document.getElementById('replay-clock').textContent !== ''", timeout=20_000)
        page.wait_for_load_state("networkidle")
        assert errors == []
