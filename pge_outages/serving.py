"""How the databases this tool builds are served: Datasette's settings and the checks made
before it starts (the pages' metadata comes from the plugin, for any file name:
datasette_plugin/databases.py). The one place they live: `pge-outages serve` and
deploy/serve.sh (the systemd unit's and the Dockerfile's command) both start Datasette with these.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001
# A query gets 3 seconds and returns at most 1,000 rows, so no visitor can tie up the
# server; suggested facets cost seconds on tables of real size.
SETTINGS = {
    "sql_time_limit_ms": "3000",
    "max_returned_rows": "1000",
    "suggest_facets": "off",
}


class ServeError(RuntimeError):
    """Datasette cannot serve as asked: a database file or the address will not do."""


class PortInUse(ServeError):
    """Something else listens on the port already."""


def datasette_arguments(
    databases: Sequence[str | Path],
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    immutable: bool = False,
    allow_download: bool = False,
    inspect_file: str | Path | None = None,
) -> list[str]:
    """The arguments of `datasette serve` for these databases.

    An immutable file never changes (a container's copy): Datasette counts its tables once
    and offers it for download if asked. Otherwise it is served read-only as it grows.

    >>> datasette_arguments(["outages.db"], port=8080)[:3]
    ['outages.db', '--setting', 'sql_time_limit_ms']
    """
    arguments: list[str] = []
    for database in databases:
        arguments += ["--immutable", str(database)] if immutable else [str(database)]
    for name, value in {**SETTINGS, "allow_download": "on" if allow_download else "off"}.items():
        arguments += ["--setting", name, value]
    if inspect_file is not None:
        arguments += ["--inspect-file", str(inspect_file)]
    return [*arguments, "--host", host, "--port", str(port)]


def check_databases(databases: Sequence[str | Path]) -> None:
    """Raise ServeError naming the first path that is not a SQLite file."""
    for database in map(Path, databases):
        if database.is_dir():
            raise ServeError(f"{database} is a directory, not a database file")
        if not database.exists():
            raise ServeError(f"{database}: no such file; build it first: pge-outages build REPO {database}")
        with database.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise ServeError(f"{database} is not a SQLite database")


def check_port(host: str, port: int) -> None:
    """Raise PortInUse (or ServeError) if a server could not listen on host:port now.

    Binds and lets go, as Datasette's server (uvicorn) will, with SO_REUSEADDR: a port
    left in TIME_WAIT by a server just stopped is free, one with a listener is not.
    Port 0 (any free port) is always free.
    """
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise ServeError(f"cannot listen on {host}: {error.strerror}") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(f"port {port} on {host} is already in use; "
                                "stop what listens there, or choose another port") from None
            raise ServeError(f"cannot listen on {host} port {port}: {error.strerror}") from None
