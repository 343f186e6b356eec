"""One writer per database: a lock file beside it, held by builds and refreshes alike.

A file of its own, because SQLite's own locks on the database would be dropped
whenever this process opened and closed the database file again.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

POLL_SECONDS = 0.1


class DatabaseBusy(RuntimeError):
    """Another build or refresh is writing the database."""


def lock_path(db: str | Path) -> Path:
    """The lock file of a database: `outages.db.lock` beside `outages.db`."""
    return Path(f"{db}.lock")


@contextmanager
def writing(
    db: str | Path,
    wait: float = 0.0,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Hold the database's lock for the block, waiting up to `wait` seconds for another writer.

    Raises DatabaseBusy when the other writer is still at it. Each writer takes
    it once: a refresh holds it across its pull and build.

    >>> with writing("outages.db", wait=60):  # doctest: +SKIP
    ...     pass
    """
    fd = os.open(lock_path(db), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = clock() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - clock()
                if left <= 0:
                    waited = f" (waited {wait:g} s)" if wait > 0 else ""
                    raise DatabaseBusy(f"another build is writing {db}{waited}") from None
                sleep(min(POLL_SECONDS, left))
        yield
    finally:
        os.close(fd)
