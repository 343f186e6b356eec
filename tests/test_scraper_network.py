"""`pge-outages scrape` when the network fails it: the message names the host and why (the
name lookup, a refused or timed-out connection), an error no retry can fix within the run
is not retried, and a file that never existed is not called "left unchanged".

Every server is on 127.0.0.1; the one name looked up is under .invalid, which no DNS
resolves (RFC 6761), so no test reaches the internet.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support.scraper_server import FeedServer, Reply, fixture_bytes, refusing_port, serve_feed

pytestmark = pytest.mark.slow

PGE_OUTAGES = Path(sys.executable).parent / "pge-outages"
INVALID_HOST = "pge-outages-test.invalid"
INVALID_URL = f"http://{INVALID_HOST}/arcgis/rest/services/outages/MapServer/4/query"


def scrape(output: Path, url: str, *options: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the installed command, as cron and CI do; return its result and how long it took."""
    started = time.monotonic()
    result = subprocess.run([str(PGE_OUTAGES), "scrape", "--output", str(output), "--url", url, *options],
                            capture_output=True, text=True, timeout=120)
    return result, time.monotonic() - started


def lookup_failure(host: str) -> socket.gaierror:
    """What this machine's resolver says about `host`."""
    try:
        socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        return error
    pytest.fail(f"{host} resolved: this resolver answers for .invalid names")


@contextmanager
def backlog_full() -> Iterator[str]:
    """A URL whose server's queue of connections is full: the kernel drops new ones, so connecting times out."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        waiting = []
        try:
            for _ in range(3):
                client = socket.socket()
                client.setblocking(False)
                client.connect_ex(("127.0.0.1", port))
                waiting.append(client)
            yield f"http://127.0.0.1:{port}/arcgis/rest/services/outages/MapServer/4/query"
        finally:
            for client in waiting:
                client.close()


@pytest.fixture(params=["new", "existing"])
def output(request, tmp_path) -> Path:
    path = tmp_path / "outages.json"
    if request.param == "existing":
        path.write_bytes(fixture_bytes("arcgis-expected.json"))
    return path


def outcome(output: Path, existed: bytes | None) -> str:
    """The end of the error line, and a check that the file is as it was."""
    if existed is None:
        assert not output.exists()
        return f"{output} not created"
    assert output.read_bytes() == existed
    return f"{output} left unchanged"


def test_a_name_that_does_not_resolve_is_named_and_not_retried(output):
    failure = lookup_failure(INVALID_HOST)
    before = output.read_bytes() if output.exists() else None
    # The default retries (4 attempts, 5 s doubling) would take 35 s.
    result, seconds = scrape(output, INVALID_URL)
    assert (result.returncode, result.stdout) == (1, "")
    if failure.errno == socket.EAI_AGAIN:
        pytest.skip(f"this resolver fails for now, not for good ({failure.strerror}): that is retried")
    assert result.stderr == (f"Error: could not look up the host {INVALID_HOST} ({failure.strerror}) for "
                             f"{INVALID_URL}; {outcome(output, before)}\n")
    assert seconds < 5


def test_a_refused_connection_is_named_and_retried(output):
    before = output.read_bytes() if output.exists() else None
    with refusing_port() as url:
        result, seconds = scrape(output, url, "--attempts", "3", "--backoff", "0.2")
    assert (result.returncode, result.stdout) == (1, "")
    # A server that restarts refuses for a moment: worth the retries.
    assert result.stderr == f"Error: connection refused by {url} (after 3 attempts); {outcome(output, before)}\n"
    assert 0.6 <= seconds < 10


@pytest.mark.timing
def test_a_connection_that_times_out_is_named(output):
    before = output.read_bytes() if output.exists() else None
    with backlog_full() as url:
        result, seconds = scrape(output, url, "--attempts", "2", "--backoff", "0.1", "--timeout", "0.5")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"Error: could not connect to 127.0.0.1 within 0.5 s (timed out) for {url} "
                             f"(after 2 attempts); {outcome(output, before)}\n")
    assert 1.0 <= seconds < 10


def test_a_server_error_is_still_retried_and_a_recovery_succeeds(tmp_path):
    # Transient errors keep their retries: two 503s, then the feed answers.
    server = FeedServer()
    server.once.extend([Reply(503, b"busy", "text/plain")] * 2)
    output = tmp_path / "outages.json"
    with serve_feed(server) as feed:
        result, _ = scrape(output, feed.url, "--attempts", "3", "--backoff", "0.05")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"{output}: 6 outages, 60 customers affected; written\n"
    assert output.read_bytes() == fixture_bytes("arcgis-expected.json")
