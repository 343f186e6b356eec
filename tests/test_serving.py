"""Serving the database while it grows: never down, always consistent, and safe.

Datasette runs as deployed, through deploy/serve.sh, on 127.0.0.1, serving the
very file the refresh writes to (WAL mode, not --immutable).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from pge_outages import build
from pge_outages.refresh import refresh_once
from pge_outages.synthetic import generate_history
from support.helpers import ROOT, git
from support.servers import free_port, running

pytestmark = pytest.mark.slow

SERVE = ROOT / "deploy" / "serve.sh"
METADATA = yaml.safe_load((ROOT / "metadata.yml").read_text())
# The plugins the project installs, none of which writes (its own, pge-outages, only
# adds _nocount to some GET requests, renders times and adds a chart; datasette-geojson
# only adds a .geojson output of the rows, for datasette-geojson-map; datasette-dashboards,
# whose Vega files draw that chart, runs only the read-only SQL of dashboards metadata.yml
# would configure, and brings datasette-render-markdown, which renders cells; datasette-atom
# only adds an .atom output of the rows, for the alerts feed); any other could add a way to write.
READ_ONLY_PLUGINS = {"datasette-vega", "datasette-cluster-map", "datasette-leaflet", "datasette-geojson-map",
                     "datasette-geojson", "datasette-dashboards", "datasette-render-markdown", "datasette-atom",
                     "pge-outages"}

# Each snapshot's totals next to what its outages add up to, read in one query,
# so a snapshot written without its outages (or half of them) cannot hide.
CONSISTENCY_SQL = """
select s.id, s.hash, s.outage_count, s.customers_affected,
    (select count(*) from outage_snapshots o where o.snapshot = s.id) as listed,
    (select coalesce(sum(o.estCustAffected), 0) from outage_snapshots o where o.snapshot = s.id)
        as listed_customers,
    (select count(*) from snapshots) as snapshots
from snapshots s
order by s.id desc
limit 3
"""


def serve_environment(port: int, **env: str) -> dict[str, str]:
    """The environment deploy/serve.sh reads, with this test run's Datasette."""
    return {**os.environ, "DATASETTE": f"{sys.executable} -m datasette", "HOST": "127.0.0.1",
            "PORT": str(port), **env}


@contextmanager
def serving(db: Path, **env: str) -> Iterator[str]:
    """Serve `db` the way deploy/serve.sh does, on a free port of 127.0.0.1."""
    port = free_port()
    with running([str(SERVE), str(db)], f"http://127.0.0.1:{port}", serve_environment(port, **env)) as url:
        yield url


def check_consistent(rows: list[dict]) -> str | None:
    """What is wrong with a CONSISTENCY_SQL answer, or None."""
    if not rows:
        return "no snapshot"
    if rows[0]["id"] != rows[0]["snapshots"]:
        return f"newest snapshot {rows[0]['id']} but {rows[0]['snapshots']} snapshots"
    for row in rows:
        if (row["listed"], row["listed_customers"]) != (row["outage_count"], row["customers_affected"]):
            return (f"snapshot {row['id']} says {row['outage_count']} outages and "
                    f"{row['customers_affected']} customers; its outages are {row['listed']} "
                    f"with {row['listed_customers']}")
    return None


def consistency_url() -> str:
    return "/outages.json?" + httpx.QueryParams({"sql": CONSISTENCY_SQL, "_shape": "array"}).__str__()


# ----------------------------------------------------------------------------
# Never down: 2,000 requests while the refresh appends five batches of commits.

TOTAL_REQUESTS = 2000
WORKERS = 4
REFRESHES = 5
COMMITS_PER_REFRESH = 40
FIRST_COMMITS = 400
# A refresh starts each time this many more requests have been answered.
REFRESH_EVERY = 300
PAGES = [
    "/",
    "/outages",
    "/outages/snapshots",
    "/outages/most_recent_snapshot",
    "/outages/customers_over_time",
    "/outages/outages_at.json?_shape=array",
]


@dataclass
class Traffic:
    """Requests made by the workers, and what was wrong with any of them."""

    latencies: list[float] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, started: float, ended: float, failure: str | None, inconsistency: str | None):
        with self.lock:
            self.latencies.append(ended - started)
            self.spans.append((started, ended))
            if failure:
                self.failed.append(failure)
            if inconsistency:
                self.inconsistent.append(inconsistency)
            self.answered += 1


def _worker(url: str, numbers: Iterator[int], traffic: Traffic) -> None:
    consistency = consistency_url()
    seen_snapshots = 0
    with httpx.Client(base_url=url, timeout=15) as client:
        for number in numbers:
            if number >= TOTAL_REQUESTS:
                return
            # Every other request is the consistency query; the rest go round the pages.
            path = consistency if number % 2 == 0 else PAGES[(number // 2) % len(PAGES)]
            failure = inconsistency = None
            started = time.perf_counter()
            try:
                response = client.get(path)
            except httpx.HTTPError as error:
                failure = f"{path}: {error!r}"
            ended = time.perf_counter()
            if failure is None and response.status_code != 200:
                failure = f"{path}: HTTP {response.status_code} {response.text[:200]}"
            elif failure is None and path == consistency:
                rows = response.json()
                inconsistency = check_consistent(rows)
                if rows and rows[0]["snapshots"] < seen_snapshots:
                    inconsistency = f"went back from {seen_snapshots} to {rows[0]['snapshots']} snapshots"
                seen_snapshots = max(seen_snapshots, rows[0]["snapshots"] if rows else 0)
            elif failure is None and path.endswith("_shape=array"):
                rows = response.json()
                if not rows or len({row["snapshot"] for row in rows}) != 1:
                    inconsistency = f"{path}: {len(rows)} rows from more than one snapshot"
            traffic.record(started, ended, failure, inconsistency)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@pytest.fixture
def growing(tmp_path):
    """A server's clone of an upstream that has the first FIRST_COMMITS of a longer history."""
    full = generate_history(tmp_path / "scraper", commits=FIRST_COMMITS + REFRESHES * COMMITS_PER_REFRESH,
                            era="arcgis", seed=11, outages=80)
    upstream = tmp_path / "upstream.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(upstream)], check=True)
    git(full, "push", "-q", str(upstream), f"main~{REFRESHES * COMMITS_PER_REFRESH}:refs/heads/main")
    history = tmp_path / "history"
    subprocess.run(["git", "clone", "-q", str(upstream), str(history)], check=True)
    db = tmp_path / "outages.db"
    assert " refresh: pulled 0 commits; " in refresh_once(history, db)
    return full, upstream, history, db


def test_never_down_while_the_database_grows(growing, monkeypatch, capsys):
    full, upstream, history, db = growing
    # Small batches: each refresh commits several transactions while pages are read,
    # and every state between them must be whole.
    monkeypatch.setattr(build, "BATCH_COMMITS", 8)
    traffic = Traffic()
    refresh_spans = []
    lines = []
    started = time.perf_counter()
    with serving(db) as url, httpx.Client(base_url=url, timeout=15) as checker:
        numbers = itertools.count()
        workers = [threading.Thread(target=_worker, args=(url, numbers, traffic)) for _ in range(WORKERS)]
        for worker in workers:
            worker.start()
        try:
            for run in range(1, REFRESHES + 1):
                while traffic.answered < run * REFRESH_EVERY and any(w.is_alive() for w in workers):
                    time.sleep(0.005)
                assert traffic.answered < TOTAL_REQUESTS, "the requests ended before the refreshes did"
                behind = REFRESHES * COMMITS_PER_REFRESH - run * COMMITS_PER_REFRESH
                git(full, "push", "-q", str(upstream), f"main~{behind}:refs/heads/main")
                refresh_started = time.perf_counter()
                line = refresh_once(history, db)
                refresh_spans.append((refresh_started, time.perf_counter()))
                lines.append(line)
                assert f" refresh: pulled {COMMITS_PER_REFRESH} commits; " in line, line
                # The newest snapshot is served as soon as the refresh returns.
                newest = git(history, "log", "-1", "--format=%H", "--", "outages.json")
                rows = checker.get(consistency_url()).json()
                assert rows[0]["hash"] == newest
                assert check_consistent(rows) is None
        finally:
            for worker in workers:
                worker.join(timeout=120)
    seconds = time.perf_counter() - started

    overlapping = sum(1 for a, b in traffic.spans if any(a < end and b > start for start, end in refresh_spans))
    p50, p99 = percentile(traffic.latencies, 0.50), percentile(traffic.latencies, 0.99)
    with capsys.disabled():
        print(f"\nnever down: {len(traffic.latencies):,} requests by {WORKERS} workers during {REFRESHES} "
              f"refreshes of {COMMITS_PER_REFRESH} commits ({overlapping:,} in flight during a refresh): "
              f"{len(traffic.failed)} failed, {len(traffic.inconsistent)} inconsistent; "
              f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(traffic.latencies) * 1000:.0f} ms; "
              f"{seconds:.1f}s")
    assert len(traffic.latencies) == TOTAL_REQUESTS
    assert traffic.failed == []
    assert traffic.inconsistent == []
    assert overlapping > 0
    conn = sqlite3.connect(db)
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert conn.execute("select count(*) from snapshots").fetchone()[0] > FIRST_COMMITS * 0.9
    conn.close()


# ----------------------------------------------------------------------------
# Serving safely: read-only, bounded queries, no download unless opted in.

HOSTILE = {
    "endless recursive CTE": "with recursive r(i) as (select 1 union all select i + 1 from r) select count(*) from r",
    "huge cross join":
        "select count(*) from outage_versions a, outage_versions b, outage_versions c, outage_versions d",
}


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("serving")
    repo = generate_history(base / "history", commits=300, era="arcgis", seed=3, outages=60)
    db = base / "outages.db"
    build.build_database(repo, db)
    return db


@pytest.fixture(scope="module")
def server(database) -> Iterator[str]:
    with serving(database) as url:
        yield url


def test_serving_settings(server):
    settings = httpx.get(f"{server}/-/settings.json").json()
    assert settings["sql_time_limit_ms"] == 3000
    assert settings["max_returned_rows"] == 1000
    assert settings["allow_download"] is False
    assert settings["suggest_facets"] is False
    [database] = httpx.get(f"{server}/-/databases.json").json()
    assert (database["name"], database["is_mutable"]) == ("outages", True)  # not --immutable: it grows


def test_the_database_file_is_not_offered(server):
    response = httpx.get(f"{server}/outages.db")
    assert response.status_code == 403
    assert "Database download is forbidden" in response.text
    assert "download-sqlite" not in httpx.get(f"{server}/outages").text


@pytest.mark.parametrize("allow, immutable, status", [
    ("1", "1", 200),  # a container's fixed copy, opted in
    ("0", "1", 403),  # a container's fixed copy, by default
    ("1", "0", 403),  # a growing file: Datasette never offers it
])
def test_download_only_when_opted_in(database, allow, immutable, status):
    with serving(database, ALLOW_DOWNLOAD=allow, IMMUTABLE=immutable) as url:
        response = httpx.get(f"{url}/outages.db")
        assert response.status_code == status
        offered = "download-sqlite" in httpx.get(f"{url}/outages").text
        assert offered == (status == 200)
        if status == 200:
            assert response.content == database.read_bytes()


def test_nothing_can_write(server, database):
    plugins = {plugin["name"] for plugin in httpx.get(f"{server}/-/plugins.json").json()}
    assert plugins <= READ_ONLY_PLUGINS
    queries = METADATA["databases"]["outages"]["queries"]
    assert queries and not [name for name, query in queries.items() if query.get("write")]
    before = database.read_bytes()
    for sql in ("delete from snapshots", "update snapshots set outage_count = 0",
                "pragma journal_mode = delete", f"attach database '{database}.x' as x"):
        response = httpx.get(f"{server}/outages.json", params={"sql": sql})
        assert (response.status_code, response.json()["error"]) == (400, "Statement must be a SELECT")
    # A POST to a canned query that is not `write: true` runs nothing. (Datasette 0.65
    # answers it with a 500, "'tuple' object has no attribute 'asgi_send'": a bug in
    # its error path, not a write.)
    response = httpx.post(f"{server}/outages/customers_over_time", data={"from": "", "to": ""})
    assert response.status_code >= 400
    assert database.read_bytes() == before


def test_at_most_max_returned_rows(server):
    sql = "with recursive r(i) as (select 1 union all select i + 1 from r limit 5000) select i from r"
    answer = httpx.get(f"{server}/outages.json", params={"sql": sql}).json()
    assert (len(answer["rows"]), answer["truncated"]) == (1000, True)


@pytest.mark.parametrize("names, params", [
    (["endless recursive CTE"], {}),
    (["huge cross join"], {}),
    (["endless recursive CTE"], {"_timelimit": "600000"}),  # asking for more time gets none
    (["endless recursive CTE", "huge cross join"], {}),
], ids=["cte", "cross-join", "cte-asking-more-time", "both-at-once"])
def test_hostile_queries_are_cut_off_and_others_still_answer(server, names, params):
    results: dict[str, tuple[float, httpx.Response]] = {}

    def attack(name):
        started = time.perf_counter()
        response = httpx.get(f"{server}/outages.json", params={"sql": HOSTILE[name], **params}, timeout=30)
        results[name] = (time.perf_counter() - started, response)

    attackers = [threading.Thread(target=attack, args=(name,)) for name in names]
    for thread in attackers:
        thread.start()
    others = []
    with httpx.Client(base_url=server, timeout=30) as client:
        while any(thread.is_alive() for thread in attackers):
            started = time.perf_counter()
            response = client.get("/outages/snapshots.json?_size=5&_sort_desc=id")
            others.append((response.status_code, time.perf_counter() - started))
    for thread in attackers:
        thread.join()

    for name in names:
        seconds, response = results[name]
        assert response.status_code == 400, name
        assert response.json()["title"] == "SQL Interrupted"
        assert "SQL query took too long" in response.json()["error"]
        assert 2.5 < seconds < 6, f"{name} was cut off after {seconds:.1f}s"
    assert len(others) >= 10
    assert {status for status, _ in others} == {200}
    assert max(seconds for _, seconds in others) < 1.5
