"""Real HTTP servers on 127.0.0.1 for the scraper tests: an ArcGIS layer or legacy feed that misbehaves on demand.

Also the helpers those tests share: recorded fixtures, real git repositories in
tmp_path, and running the CLI.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from click.testing import CliRunner, Result

from scrapers.cli import cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
MAPSERVER_PATH = "/arcgis/rest/services/43/outages/MapServer"
QUERY_PATH = f"{MAPSERVER_PATH}/5/query"
STATUS_PATH = "/arcgis/rest/services/43/outages/status.json"
LEGACY_PATH = "/cocoutage/outages/getOutagesRegions"
TEST_NAME = "Scraper Tests"
TEST_EMAIL = "scraper-tests@example.com"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def arcgis_features() -> list[dict[str, Any]]:
    """A fresh copy of the recorded ArcGIS features, in the order the server sent them."""
    return copy.deepcopy(fixture_json("arcgis-query.json")["features"])


@dataclass
class Reply:
    """One canned HTTP response; content_length longer than body makes the server hang up mid-transfer."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    content_length: int | None = None

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(payload).encode())


@dataclass
class FeedServer:
    """What the server plays: an ArcGIS MapServer's layers (paged like ArcGIS does) or a legacy payload, plus faults.

    `features` is layer 5, the one `url` names; `layers` holds other layers (or
    layer 5 too), served at `root_url`/N/query. Replies come from, in order:
    `once` (one reply per request, consumed), `fault` (every request),
    `layer_faults` (every request to that layer), `page_fault` (every non-count
    ArcGIS query), then the feed. `blips[N]` fetches of layer N (a count query
    and its pages) answer as if the layer were empty, as PG&E's layer 4 does
    now and then.
    """

    features: list[dict[str, Any]] = field(default_factory=arcgis_features)
    layers: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    layer_faults: dict[int, Reply] = field(default_factory=dict)
    blips: dict[int, int] = field(default_factory=dict)
    spatial_reference: dict[str, int] = field(default_factory=lambda: {"wkid": 102100, "latestWkid": 3857})
    layer_references: dict[int, dict[str, int]] = field(default_factory=dict)
    max_record_count: int = 1000
    count_offset: int = 0
    legacy: Any = None
    once: deque[Reply] = field(default_factory=deque)
    fault: Reply | None = None
    page_fault: Reply | None = None
    requests: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    wall_times: list[float] = field(default_factory=list)
    delay: float = 0.0  # seconds each layer query waits before its answer
    # MapServer/../status.json, answered apart from the layers (not in `requests`):
    # a JSON payload, a Reply (a fault), or None for a 404.
    status: Any = field(default_factory=lambda: {"lastUpdated": "20260709-1114", "lastVersion": "2026-07-09 04:11:06"})
    status_requests: int = 0
    port: int = 0
    _blipping: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        path = LEGACY_PATH if self.legacy is not None else QUERY_PATH
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{MAPSERVER_PATH}"

    @property
    def page_requests(self) -> list[dict[str, str]]:
        return [r for r in self.requests if r.get("returnCountOnly") != "true"]

    def layer_features(self, layer: int) -> list[dict[str, Any]]:
        if layer in self._blipping:
            return []
        if layer in self.layers:
            return self.layers[layer]
        return self.features if layer == 5 else []

    def reply_to(self, path: str, params: dict[str, str]) -> Reply:
        if path == STATUS_PATH:
            self.status_requests += 1
            if isinstance(self.status, Reply):
                return self.status
            return Reply.json(self.status) if self.status is not None else Reply(404, b"Not Found", "text/plain")
        self.requests.append(params)
        self.paths.append(path)
        self.times.append(time.monotonic())
        self.wall_times.append(time.time())
        if self.delay:
            time.sleep(self.delay)
        if self.once:
            return self.once.popleft()
        if self.fault is not None:
            return self.fault
        if self.legacy is not None:
            return Reply.json(self.legacy)
        match = re.fullmatch(re.escape(MAPSERVER_PATH) + r"/(\d+)/query", path)
        if match is None:
            return Reply.json({"error": {"code": 400, "message": "Invalid URL", "details": []}})
        layer = int(match.group(1))
        if layer in self.layer_faults:
            return self.layer_faults[layer]
        if params.get("returnCountOnly") == "true":
            self._blipping.discard(layer)
            if self.blips.get(layer, 0) > 0:
                self.blips[layer] -= 1
                self._blipping.add(layer)
            return Reply.json({"count": len(self.layer_features(layer)) + self.count_offset})
        if self.page_fault is not None:
            return self.page_fault
        features = self.layer_features(layer)
        offset = int(params.get("resultOffset", 0))
        wanted = int(params.get("resultRecordCount", self.max_record_count))
        size = min(wanted, self.max_record_count)
        page = {
            "displayFieldName": "OUTAGE_DEVICE_ID",
            "geometryType": "esriGeometryPoint",
            "spatialReference": self.layer_references.get(layer, self.spatial_reference),
            "features": features[offset : offset + size],
        }
        if offset + size < len(features):
            page["exceededTransferLimit"] = True
        return Reply.json(page)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        reply = self.server.feed.reply_to(parts.path, dict(parse_qsl(parts.query)))
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        length = reply.content_length if reply.content_length is not None else len(reply.body)
        self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_feed(feed: FeedServer | None = None) -> Iterator[FeedServer]:
    """Serve feed on an ephemeral port of 127.0.0.1 for the duration of the block."""
    feed = feed or FeedServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.feed = feed
    feed.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield feed
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def silent_server() -> Iterator[str]:
    """A URL whose server accepts TCP connections (the kernel does, from the backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}{QUERY_PATH}"


@contextmanager
def refusing_port() -> Iterator[str]:
    """A URL on a port that is bound but not listening, so every connection is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}{QUERY_PATH}"


def git(repo: Path, *args: str) -> str:
    """Run git in repo as the test identity, failing the test if git fails; return stdout."""
    result = subprocess.run(
        ["git", "-c", f"user.name={TEST_NAME}", "-c", f"user.email={TEST_EMAIL}", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    )
    return result.stdout


def make_repo(path: Path, files: dict[str, bytes] | None = None) -> Path:
    """A git repository at path on branch main, with one commit of files if given."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "-b", "main")
    if files:
        for name, data in files.items():
            (path / name).write_bytes(data)
        git(path, "add", *files)
        git(path, "commit", "--quiet", "-m", "Seed")
    return path


def make_remote(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A bare repository holding one seed commit of files on main."""
    seed = make_repo(tmp_path / "seed", files)
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(seed), str(bare))
    return bare


def clone(remote: Path, path: Path) -> Path:
    git(remote.parent, "clone", "--quiet", str(remote), str(path))
    return path


def commit_count(repo: Path, ref: str = "HEAD") -> int:
    return int(git(repo, "rev-list", "--count", ref).strip())


FAST = ["--attempts", "2", "--backoff", "0.01", "--timeout", "2", "--deadline", "10", "--recheck-delay", "0.05"]


def run_scraper(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run `python -m scrapers pge ...` in-process with short timeouts unless args override them."""
    runner = CliRunner()
    return runner.invoke(cli, ["pge", *FAST, *args], env=env, catch_exceptions=False)
