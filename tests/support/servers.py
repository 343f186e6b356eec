"""Start a real server process for a test and stop it after: shared by the browsing and serving tests."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


class ServerError(RuntimeError):
    """The server did not start, or stopped, before it answered."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(command: list[str], url: str, env: dict[str, str] | None = None,
            timeout: float = 30) -> Iterator[str]:
    """Run a server command until it answers on `url`; yield the url; stop it."""
    # Its log goes to a file: a pipe nobody reads fills up and blocks the server.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env or dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise ServerError(f"{command[0]} exited with {process.returncode}: "
                                      f"{log.read().decode(errors='replace')}")
                try:
                    with urllib.request.urlopen(f"{url}/-/versions.json", timeout=2):
                        break
                except OSError as error:
                    if time.monotonic() > deadline:
                        raise ServerError(f"{command[0]} did not answer on {url} within {timeout}s") from error
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
